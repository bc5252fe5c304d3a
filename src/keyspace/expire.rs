//! The active expire cycle: run from the server cron, it samples keys with a
//! TTL in every database and deletes the dead ones, repeating while a good
//! share of each sample had expired, within a time budget (Valkey's
//! `activeExpireCycle` in its slow mode, scaled by `active-expire-effort`).

use super::Db;

/// Keys sampled per database per loop at effort 1 (Valkey: 20).
const KEYS_PER_LOOP: usize = 20;
/// Keep looping while more than this percentage of a sample had expired.
const ACCEPTABLE_STALE_PERCENT: usize = 10;
/// Share of each cron period the cycle may use at effort 1 (Valkey: 25%).
const CYCLE_CPU_PERCENT: u64 = 25;

/// Runs one cycle over `dbs`; `hz` is the cron frequency. Returns the number
/// of keys deleted (hash fields deleted are not counted).
pub fn active_expire_cycle(
    dbs: &mut [Db],
    now_ms: i64,
    hz: u32,
    effort: u32,
    rng: &mut impl FnMut(usize) -> usize,
) -> usize {
    let effort = effort.clamp(1, 10) as usize - 1;
    let per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * effort;
    let stale_percent = ACCEPTABLE_STALE_PERCENT.saturating_sub(effort);
    let cpu_percent = CYCLE_CPU_PERCENT + 2 * effort as u64;
    let budget_us = 1_000_000 * cpu_percent / u64::from(hz.max(1)) / 100;
    let start = std::time::Instant::now();
    let mut total = 0;
    for db in dbs.iter_mut() {
        // Hash fields with an expiry: one sample per database per cycle.
        db.reap_hash_fields(per_loop, now_ms, rng);
        loop {
            if db.expires_len() == 0 {
                break;
            }
            let (sampled, expired) = db.expire_sample(per_loop, now_ms);
            total += expired;
            if start.elapsed().as_micros() as u64 > budget_us {
                return total;
            }
            if sampled == 0 || expired * 100 / sampled <= stale_percent {
                break;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{StrValue, Value};

    #[test]
    fn removes_expired_keys() {
        let mut dbs = vec![Db::default(), Db::default()];
        for i in 0..1000 {
            let v = Value::Str(StrValue::from_bytes(b"v"));
            dbs[i % 2].insert(
                format!("k{i}").as_bytes(),
                v,
                Some(if i < 900 { 10 } else { 1_000_000 }),
                0,
            );
        }
        let mut state = 12345u64;
        let mut rng = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % n
        };
        let mut removed = 0;
        for _ in 0..50 {
            removed += active_expire_cycle(&mut dbs, 100, 10, 1, &mut rng);
        }
        assert!(removed >= 800, "removed only {removed}");
        assert_eq!(dbs[0].len() + dbs[1].len(), 1000 - removed);
    }

    /// A few dead keys among many without a TTL are all found: the sweep
    /// reads only the buckets' flags, so it passes the others cheaply.
    #[test]
    fn finds_sparse_expired_keys() {
        let mut dbs = vec![Db::default()];
        for i in 0..200_000 {
            let expire = (i % 20_000 == 0).then_some(10);
            dbs[0].insert(
                format!("k{i}").as_bytes(),
                Value::Str(StrValue::from_bytes(b"v")),
                expire,
                0,
            );
        }
        assert_eq!(dbs[0].expires_len(), 10);
        let mut rng = |n: usize| n / 2;
        let mut removed = 0;
        for _ in 0..10 {
            removed += active_expire_cycle(&mut dbs, 100, 10, 1, &mut rng);
        }
        assert_eq!(removed, 10);
        assert_eq!((dbs[0].len(), dbs[0].expires_len()), (199_990, 0));
    }
}
