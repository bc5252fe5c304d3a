//! maxmemory eviction, as Valkey approximates it: each round samples
//! `maxmemory-samples` keys per database (all keys, or only those with a
//! TTL for the volatile policies), keeps the best candidates seen so far in
//! a small pool ordered by how evictable they are (idle time for LRU, low
//! access frequency for LFU, nearness of expiry for TTL), and evicts the
//! best. The random policies evict a random sampled key.
//!
//! LFU keeps Valkey's logarithmic 8-bit counter per key: an access
//! increments it with probability 1 / ((counter - 5) * lfu-log-factor + 1),
//! and it decays by one every `lfu-decay-time` minutes without access.

/// Candidates the pool keeps (Valkey's EVPOOL_SIZE).
pub const POOL_SIZE: usize = 16;
/// The counter of a new key, so it is not evicted before it had a chance
/// to be used (Valkey's LFU_INIT_VAL).
pub const LFU_INIT: u8 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

/// The names `maxmemory-policy` takes, in Valkey's order.
pub const POLICY_NAMES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

impl Policy {
    pub fn parse(name: &str) -> Policy {
        match name {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            _ => Policy::NoEviction,
        }
    }

    /// Whether only keys with a TTL are candidates.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    pub fn random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }
}

/// A key's last access and LFU counter, as its node stores them (five
/// bytes). The clock counts 10 ms ticks and wraps after 497 days; idle
/// times are taken modulo that (Valkey's 24-bit second clock wraps after
/// 194).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub clock: u32,
    /// The LFU counter (before decay), kept under every policy.
    pub counter: u8,
}

const TICK_MS: i64 = 10;

impl Access {
    pub fn new(now_ms: i64, counter: u8) -> Access {
        Access {
            clock: (now_ms / TICK_MS) as u32,
            counter,
        }
    }

    /// Milliseconds since the access (to the clock's 10 ms).
    pub fn idle_ms(self, now_ms: i64) -> i64 {
        i64::from(((now_ms / TICK_MS) as u32).wrapping_sub(self.clock)) * TICK_MS
    }
}

/// LFU parameters (`lfu-log-factor`, `lfu-decay-time` in minutes).
#[derive(Clone, Copy, Debug)]
pub struct Lfu {
    pub log_factor: u32,
    pub decay_minutes: u32,
}

impl Lfu {
    /// The counter after `idle_ms` without access: one less per decay
    /// period.
    pub fn decayed(self, counter: u8, idle_ms: i64) -> u8 {
        if self.decay_minutes == 0 {
            return counter;
        }
        let periods = idle_ms.max(0) / 60_000 / i64::from(self.decay_minutes);
        counter.saturating_sub(periods.min(255) as u8)
    }

    /// The counter after one more access; `r` is uniform in [0, 1).
    pub fn incremented(self, counter: u8, r: f64) -> u8 {
        if counter == 255 {
            return 255;
        }
        let base = f64::from(counter.saturating_sub(LFU_INIT));
        let p = 1.0 / (base * f64::from(self.log_factor) + 1.0);
        if r < p { counter + 1 } else { counter }
    }
}

/// The best eviction candidates seen so far, least evictable first.
#[derive(Default)]
pub struct Pool {
    entries: Vec<(u64, usize, crate::keyspace::Key)>,
}

impl Pool {
    /// Offers a key of database `db` with its evictability `score`
    /// (higher: evict sooner); a key already in the pool is not added
    /// twice.
    pub fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if self.entries.len() == POOL_SIZE && score <= self.entries[0].0 {
            return;
        }
        if self.entries.iter().any(|(_, d, k)| *d == db && **k == *key) {
            return;
        }
        let at = self.entries.partition_point(|(s, _, _)| *s < score);
        self.entries.insert(at, (score, db, key.into()));
        if self.entries.len() > POOL_SIZE {
            self.entries.remove(0);
        }
    }

    /// The most evictable candidate, taken out of the pool.
    pub fn best(&mut self) -> Option<(usize, crate::keyspace::Key)> {
        self.entries.pop().map(|(_, db, key)| (db, key))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How long one eviction pass may run (Valkey's
/// `maxmemory-eviction-tenacity`: 0..=10 linear up to 500 us, then 15%
/// more per step, 100 without limit).
pub fn time_limit_us(tenacity: i64) -> Option<u64> {
    match tenacity {
        ..=10 => Some(50 * tenacity.max(0) as u64),
        11..=99 => Some((500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_survives_the_clock_wrapping() {
        let now = 1_765_000_000_000;
        assert_eq!(Access::new(now - 1_234, 0).idle_ms(now), 1_240);
        // Ticks since the wrap, seen from just after it.
        let wrap_ms = (1i64 << 32) * 10;
        let before = Access::new(wrap_ms - 50, 0);
        assert_eq!(before.clock, u32::MAX - 4);
        assert_eq!(before.idle_ms(wrap_ms + 30), 80);
    }

    #[test]
    fn pool_keeps_the_most_evictable() {
        let mut pool = Pool::default();
        for i in 0..100u64 {
            pool.offer(i * 7 % 101, 0, format!("k{i}").as_bytes());
        }
        pool.offer(1000, 1, b"k3");
        pool.offer(1000, 1, b"k3");
        assert_eq!(
            pool.best().map(|(db, k)| (db, k.to_vec())),
            Some((1, b"k3".to_vec()))
        );
        let mut last = u64::MAX;
        let mut n = 0;
        while let Some((_, k)) = pool.best() {
            let i: u64 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
            let score = i * 7 % 101;
            assert!(score <= last);
            last = score;
            n += 1;
        }
        assert_eq!(n, POOL_SIZE - 1);
        assert!(last >= 100 - POOL_SIZE as u64);
    }

    #[test]
    fn lfu_counts_logarithmically_and_decays() {
        let lfu = Lfu {
            log_factor: 10,
            decay_minutes: 1,
        };
        assert_eq!(lfu.incremented(LFU_INIT, 0.99), LFU_INIT + 1);
        assert_eq!(lfu.incremented(LFU_INIT + 1, 0.5), LFU_INIT + 1);
        assert_eq!(lfu.incremented(LFU_INIT + 1, 0.05), LFU_INIT + 2);
        assert_eq!(lfu.incremented(255, 0.0), 255);
        assert_eq!(lfu.decayed(10, 59_999), 10);
        assert_eq!(lfu.decayed(10, 3 * 60_000), 7);
        assert_eq!(lfu.decayed(10, i64::MAX), 0);
        let never = Lfu {
            log_factor: 10,
            decay_minutes: 0,
        };
        assert_eq!(never.decayed(10, i64::MAX), 10);
    }

    #[test]
    fn tenacity_limits_follow_valkey() {
        assert_eq!(time_limit_us(0), Some(0));
        assert_eq!(time_limit_us(10), Some(500));
        assert_eq!(time_limit_us(11), Some(575));
        assert_eq!(time_limit_us(100), None);
    }
}
