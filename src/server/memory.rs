//! Keeping used memory under `maxmemory`: before a command runs, keys are
//! evicted by the configured policy (keyspace::evict) until the allocator
//! reports less than the limit. When nothing can be evicted (noeviction,
//! or no key qualifies), commands that may grow memory are refused.

use std::time::Instant;

use super::Server;
use crate::keyspace::evict::{self, Policy};
use crate::keyspace::{Key, events};
use crate::observability::alloc;

/// Keys evicted between checks of the time limit (Valkey: 16).
const KEYS_PER_CHECK: usize = 16;

impl Server {
    /// Whether used memory is (or is being brought) under `maxmemory`:
    /// false when it is over and nothing more can be evicted.
    pub fn free_memory(&mut self, now_ms: i64) -> bool {
        let limit = self.config.maxmemory as usize;
        if limit == 0 || alloc::used() <= limit {
            return true;
        }
        if self.policy == Policy::NoEviction {
            return false;
        }
        let started = Instant::now();
        let time_limit = evict::time_limit_us(self.config.maxmemory_eviction_tenacity);
        let mut evicted = 0;
        while alloc::used() > limit {
            let Some((db, key)) = self.eviction_victim(now_ms) else {
                return false;
            };
            self.dbs[db].remove(&key);
            self.stats.evicted_keys += 1;
            self.touch(db, &key);
            self.notify(None, db, events::EVICTED, "evicted", &key);
            evicted += 1;
            // Out of time: the next command carries on (Valkey continues
            // from a timer; commands are allowed meanwhile).
            if evicted % KEYS_PER_CHECK == 0
                && time_limit.is_some_and(|us| started.elapsed().as_micros() as u64 > us)
            {
                return true;
            }
        }
        true
    }

    /// The next key to evict: a random sampled one for the random
    /// policies, else the pool's best after sampling every database.
    fn eviction_victim(&mut self, now_ms: i64) -> Option<(usize, crate::keyspace::Key)> {
        let policy = self.policy;
        let samples = self.config.maxmemory_samples as usize;
        // A stream of its own: the pool and the databases are borrowed
        // apart while sampling.
        let mut state = self.random_u64() | 1;
        let mut rng = move |n: usize| (crate::util::xorshift(&mut state) % n as u64) as usize;
        if policy.random() {
            // Databases in turn from a random one, the first with a key.
            let n = self.dbs.len();
            let first = rng(n);
            for i in 0..n {
                let db = (first + i) % n;
                let mut victim = None;
                self.dbs[db].sample(1, policy.volatile(), &mut rng, |e| {
                    victim = Some(Key::from(e.key()));
                });
                if let Some(key) = victim {
                    return Some((db, key));
                }
            }
            return None;
        }
        let lfu = self.dbs.first().and_then(|d| d.lfu);
        loop {
            for (i, db) in self.dbs.iter().enumerate() {
                db.sample(samples, policy.volatile(), &mut rng, |e| {
                    let score = match policy {
                        Policy::VolatileTtl => u64::MAX - e.expire_at().unwrap_or(i64::MAX) as u64,
                        Policy::AllKeysLfu | Policy::VolatileLfu => {
                            let idle = e.idle_ms(now_ms);
                            let counter =
                                lfu.map_or(e.lfu_counter(), |l| l.decayed(e.lfu_counter(), idle));
                            255 - u64::from(counter)
                        }
                        _ => e.idle_ms(now_ms).max(0) as u64,
                    };
                    self.evict_pool.offer(score, i, e.key());
                });
            }
            // The best candidate still there (the pool outlives keys).
            loop {
                let (db, key) = self.evict_pool.best()?;
                let qualifies = self.dbs[db]
                    .get_checked(&key)
                    .is_some_and(|e| !policy.volatile() || e.expire_at().is_some());
                if qualifies {
                    return Some((db, key));
                }
                if self.evict_pool.is_empty() {
                    break;
                }
            }
        }
    }
}
