//! The keyspace: numbered databases of keys with values and expiry.
//!
//! Each database keeps its keys in `table`, a hashtable of cache-line
//! buckets with incremental rehashing and Valkey's SCAN cursor; keys with
//! a TTL are also listed for the active expire cycle's sampling.

mod db;
pub mod events;
pub mod evict;
pub mod expire;
mod key;
mod node;
pub mod table;

pub use db::{Db, Node};
pub use key::Key;
