//! WATCH: optimistic locks for MULTI/EXEC, as in Valkey's multi.c. A write
//! to a watched key (signalModifiedKey) makes its watchers' next EXEC fail;
//! so does a watched key reaching its expiry time before EXEC.

use std::collections::{HashMap, HashSet};

use crate::keyspace::Db;

/// One client watching one key.
struct Watcher {
    client: u64,
    /// The key was already logically expired when WATCH ran: its deletion
    /// by expiry is no change.
    expired: bool,
}

/// A key a session watches, and the expiry it had then.
#[derive(Debug, Clone)]
pub struct Watched {
    pub db: usize,
    pub key: Vec<u8>,
    pub expire_at: Option<i64>,
}

#[derive(Default)]
pub struct Watches {
    keys: HashMap<(usize, Vec<u8>), Vec<Watcher>>,
    /// Clients whose watched keys changed since they watched them.
    dirty: HashSet<u64>,
    /// Clients watching at least one key.
    clients: usize,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys watched, counted per (db, key) as INFO total_watched_keys.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    pub fn clients(&self) -> usize {
        self.clients
    }

    /// Starts watching `key` of `db` for `client`, unless it already does.
    /// Returns what the session keeps to check at EXEC.
    pub fn watch(
        &mut self,
        client: u64,
        watched: &[Watched],
        db: &Db,
        db_index: usize,
        key: &[u8],
        now_ms: i64,
    ) -> Option<Watched> {
        if watched.iter().any(|w| w.db == db_index && w.key == key) {
            return None;
        }
        if watched.is_empty() {
            self.clients += 1;
        }
        let (expired, expire_at) = match db.get_checked(key) {
            Some(e) => (e.expire_at().is_some_and(|t| t <= now_ms), e.expire_at()),
            None => (false, None),
        };
        self.keys
            .entry((db_index, key.to_vec()))
            .or_default()
            .push(Watcher { client, expired });
        Some(Watched {
            db: db_index,
            key: key.to_vec(),
            expire_at: expire_at.filter(|_| !expired),
        })
    }

    /// Forgets everything `client` watches (EXEC, DISCARD, UNWATCH, exit).
    pub fn unwatch_all(&mut self, client: u64, watched: &mut Vec<Watched>) {
        if watched.is_empty() {
            self.dirty.remove(&client);
            return;
        }
        for w in watched.drain(..) {
            let k = (w.db, w.key);
            if let Some(list) = self.keys.get_mut(&k) {
                list.retain(|x| x.client != client);
                if list.is_empty() {
                    self.keys.remove(&k);
                }
            }
        }
        self.clients -= 1;
        self.dirty.remove(&client);
    }

    /// A key was modified: its watchers' EXEC will fail. `exists` says
    /// whether the key is there now (deleting a key that had expired
    /// before WATCH is no change).
    pub fn touch(&mut self, db: usize, key: &[u8], exists: bool) {
        // Callers check `is_empty` first; the key is copied only if watched.
        let Some(list) = self.keys.get_mut(&(db, key.to_vec())) else {
            return;
        };
        for w in list.iter_mut() {
            if w.expired && !exists {
                w.expired = false;
                continue;
            }
            self.dirty.insert(w.client);
        }
    }

    /// FLUSHDB / FLUSHALL / SWAPDB: every watched key of `db` that exists
    /// in it (`exists`) is touched.
    pub fn touch_db(&mut self, db: usize, exists: impl Fn(&[u8]) -> bool) {
        for ((d, key), list) in self.keys.iter_mut() {
            if *d != db || !exists(key) {
                continue;
            }
            for w in list.iter_mut() {
                if w.expired {
                    w.expired = false;
                    continue;
                }
                self.dirty.insert(w.client);
            }
        }
    }

    /// Whether `client`'s EXEC must fail: a watched key was touched, or
    /// reached its expiry time since WATCH.
    pub fn is_dirty(&self, client: u64, watched: &[Watched], now_ms: i64) -> bool {
        self.dirty.contains(&client)
            || watched
                .iter()
                .any(|w| w.expire_at.is_some_and(|t| t <= now_ms))
    }
}
