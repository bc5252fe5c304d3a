//! The keyspace: numbered databases of keys with values and expiry.
//!
//! Each database keeps its keys in `table`, a hashtable of cache-line
//! buckets with incremental rehashing and Valkey's SCAN cursor, pointing
//! at one `node` per key; keys with a TTL are flagged in their buckets for
//! the active expire cycle's sweep. Sets in the `hashtable` encoding use
//! the same table, of `member`s.

mod db;
pub mod events;
pub mod evict;
pub mod expire;
mod key;
mod member;
mod node;
pub mod table;

pub use db::{Db, Node};
pub use key::Key;
pub use member::Member;
pub use node::take_unpacked;
