//! Clients blocked on keys (BLPOP and friends), as in Valkey's blocked.c:
//! a blocked client runs no further commands; when a key it waits on
//! receives elements, its command runs again, first blocked first served;
//! at its deadline it gets a null array; CLIENT UNBLOCK ends it early.

use std::collections::{BTreeSet, HashMap, VecDeque};

/// What a blocking command leaves in its session when it has nothing to
/// serve: the keys to wait on and when to give up (None: never).
#[derive(Debug, Clone)]
pub struct BlockRequest {
    pub keys: Vec<Vec<u8>>,
    pub deadline_ms: Option<i64>,
    /// The type of value that serves it ("list", "zset").
    pub waits_for: &'static str,
}

/// A blocked client's state: its request, its database and the command to
/// run again.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    pub deadline_ms: Option<i64>,
    pub waits_for: &'static str,
    pub argv: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct Blocking {
    /// Client slots waiting on each (db, key), in the order they blocked.
    waiting: HashMap<(usize, Vec<u8>), VecDeque<usize>>,
    /// Keys that received elements since they were last served.
    ready: Vec<(usize, Vec<u8>)>,
    /// (deadline, slot) of the clients that block with a timeout.
    deadlines: BTreeSet<(i64, usize)>,
    /// Blocked clients.
    clients: usize,
    /// Slots of clients CLIENT UNBLOCK just released (their reply is
    /// written; the event loop flushes them and resumes their input).
    pub woken: Vec<usize>,
}

impl Blocking {
    pub fn block(&mut self, slot: usize, b: &Blocked) {
        for key in &b.keys {
            let queue = self.waiting.entry((b.db, key.clone())).or_default();
            if !queue.contains(&slot) {
                queue.push_back(slot);
            }
        }
        if let Some(at) = b.deadline_ms {
            self.deadlines.insert((at, slot));
        }
        self.clients += 1;
    }

    pub fn unblock(&mut self, slot: usize, b: &Blocked) {
        for key in &b.keys {
            let k = (b.db, key.clone());
            if let Some(queue) = self.waiting.get_mut(&k) {
                queue.retain(|&s| s != slot);
                if queue.is_empty() {
                    self.waiting.remove(&k);
                }
            }
        }
        if let Some(at) = b.deadline_ms {
            self.deadlines.remove(&(at, slot));
        }
        self.clients -= 1;
    }

    /// A key received elements: its waiters are served after this command.
    pub fn signal(&mut self, db: usize, key: &[u8]) {
        if self.waiting.is_empty() {
            return;
        }
        let k = (db, key.to_vec());
        if self.waiting.contains_key(&k) && !self.ready.contains(&k) {
            self.ready.push(k);
        }
    }

    pub fn take_ready(&mut self) -> Vec<(usize, Vec<u8>)> {
        std::mem::take(&mut self.ready)
    }

    /// The clients waiting on a key, first blocked first.
    pub fn waiters(&self, db: usize, key: &[u8]) -> Vec<usize> {
        self.waiting
            .get(&(db, key.to_vec()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The slots whose deadline has passed.
    pub fn expired(&self, now_ms: i64) -> Vec<usize> {
        self.deadlines
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .map(|&(_, slot)| slot)
            .collect()
    }

    /// The earliest deadline, to wake up for.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// INFO's blocked_clients.
    pub fn clients(&self) -> usize {
        self.clients
    }

    /// INFO's clients_in_timeout_table.
    pub fn timed(&self) -> usize {
        self.deadlines.len()
    }

    /// INFO's total_blocking_keys.
    pub fn keys(&self) -> usize {
        self.waiting.len()
    }
}
