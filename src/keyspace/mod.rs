//! The keyspace: numbered databases of keys with values and expiry.
//!
//! v0 keeps each database in an insertion-indexed hash map (O(1) random
//! sampling for RANDOMKEY and the active expire cycle, and a SCAN cursor that
//! stays correct under deletes); the cache-line hashtable replaces it later
//! behind this same interface.

mod db;
pub mod events;
pub mod expire;
mod key;

pub use db::{Db, Entry};
