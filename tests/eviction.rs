//! maxmemory and its policies on the real server: writes over the limit
//! evict keys of the right class (or are refused under noeviction), used
//! memory stays near the limit, and the LRU / LFU approximations keep the
//! keys that are in use.

mod common;

use common::{Conn, Server};

const VALUE: usize = 4096;
/// Room above the memory in use when the limit is set.
const ROOM: i64 = 4 << 20;
const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

fn used_memory(c: &mut Conn) -> i64 {
    c.info_field("memory", "used_memory").parse().unwrap()
}

/// A server with `policy`, `extra` settings, and a limit ROOM above the
/// memory it uses once started; returns the limit too.
fn limited(policy: &str, extra: &[(&str, &str)]) -> (Server, Conn, i64) {
    let server = Server::start(&[]);
    let mut c = server.conn();
    for (name, value) in [("maxmemory-policy", policy)].iter().chain(extra) {
        assert_eq!(c.cmd(&["CONFIG", "SET", name, value]), b"+OK\r\n");
    }
    let limit = used_memory(&mut c) + ROOM;
    let limit_text = limit.to_string();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", &limit_text]),
        b"+OK\r\n"
    );
    (server, c, limit)
}

fn set(c: &mut Conn, key: &str, ttl_secs: Option<u64>) -> Vec<u8> {
    let value = "v".repeat(VALUE);
    match ttl_secs {
        Some(t) => c.cmd(&["SET", key, &value, "EX", &t.to_string()]),
        None => c.cmd(&["SET", key, &value]),
    }
}

fn exists(c: &mut Conn, key: &str) -> bool {
    c.int(&["EXISTS", key]) == 1
}

#[test]
fn noeviction_refuses_writes_but_serves_reads_and_deletes() {
    let (_server, mut c, _) = limited("noeviction", &[]);
    let mut written = 0;
    let refused = loop {
        let reply = set(&mut c, &format!("k{written}"), None);
        if reply != b"+OK\r\n" {
            break reply;
        }
        written += 1;
        assert!(written < 10_000, "never refused");
    };
    assert_eq!(refused, OOM);
    assert!(written > 100, "refused after {written} keys");
    assert_eq!(
        c.cmd(&["GET", "k0"]).len(),
        format!("${VALUE}\r\n\r\n").len() + VALUE
    );
    assert_eq!(c.cmd(&["INCR", "counter"]), OOM);
    assert_eq!(c.info_field("stats", "evicted_keys"), "0");
    // A transaction queueing while out of memory fails as a whole.
    assert_eq!(c.cmd(&["MULTI"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["SET", "x", "1"]), OOM);
    assert_eq!(
        c.cmd(&["EXEC"]),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    // Deleting frees memory, and writes go through again.
    for i in 0..written / 2 {
        c.cmd(&["DEL", &format!("k{i}")]);
    }
    assert_eq!(set(&mut c, "again", None), b"+OK\r\n");
}

#[test]
fn every_policy_keeps_used_memory_near_the_limit() {
    for policy in [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (_server, mut c, limit) = limited(policy, &[]);
        let total = 3000;
        for i in 0..total {
            let reply = set(&mut c, &format!("k{i}"), Some(100_000 + i));
            assert_eq!(reply, b"+OK\r\n", "{policy}: key {i}");
        }
        let used = used_memory(&mut c);
        assert!(
            used <= limit + (64 << 10),
            "{policy}: used {used} over limit {limit}"
        );
        let evicted: i64 = c.info_field("stats", "evicted_keys").parse().unwrap();
        let left = c.int(&["DBSIZE"]);
        assert!(evicted > 0, "{policy}: nothing evicted");
        assert_eq!(left + evicted, total as i64, "{policy}");
        assert_eq!(c.info_field("memory", "maxmemory_policy"), policy);
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (_server, mut c, _) = limited(policy, &[]);
        for i in 0..200 {
            assert_eq!(set(&mut c, &format!("keep{i}"), None), b"+OK\r\n");
        }
        for i in 0..2000 {
            assert_eq!(
                set(&mut c, &format!("tmp{i}"), Some(1000)),
                b"+OK\r\n",
                "{policy}"
            );
        }
        for i in 0..200 {
            assert!(
                exists(&mut c, &format!("keep{i}")),
                "{policy}: keep{i} evicted"
            );
        }
        // With no key left that may go, writes are refused.
        let refused = (0..2000).find_map(|i| {
            let reply = set(&mut c, &format!("more{i}"), None);
            (reply != b"+OK\r\n").then_some(reply)
        });
        assert_eq!(refused.as_deref(), Some(OOM), "{policy}");
        for i in 0..200 {
            assert!(
                exists(&mut c, &format!("keep{i}")),
                "{policy}: keep{i} evicted"
            );
        }
    }
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiries_first() {
    let (_server, mut c, _) = limited("volatile-ttl", &[("maxmemory-samples", "10")]);
    let total = 2000u64;
    for i in 0..total {
        assert_eq!(set(&mut c, &format!("k{i}"), Some(10_000 + i)), b"+OK\r\n");
    }
    let survivors: Vec<u64> = (0..total)
        .filter(|i| exists(&mut c, &format!("k{i}")))
        .collect();
    let mean = survivors.iter().sum::<u64>() as f64 / survivors.len() as f64;
    // Evicting the nearest expiries leaves the later half or so.
    assert!(
        mean > total as f64 * 0.6,
        "mean survivor {mean} of {}",
        survivors.len()
    );
}

#[test]
fn lru_keeps_the_keys_in_use() {
    let (_server, mut c, _) = limited("allkeys-lru", &[("maxmemory-samples", "10")]);
    let hot = 200;
    for i in 0..hot {
        set(&mut c, &format!("hot{i}"), None);
    }
    for round in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(2));
        for i in 0..hot {
            c.cmd(&["GET", &format!("hot{i}")]);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        for i in 0..50 {
            assert_eq!(set(&mut c, &format!("cold{round}:{i}"), None), b"+OK\r\n");
        }
    }
    let evicted: i64 = c.info_field("stats", "evicted_keys").parse().unwrap();
    assert!(evicted > 500, "only {evicted} evicted");
    let kept = (0..hot)
        .filter(|i| exists(&mut c, &format!("hot{i}")))
        .count();
    assert!(kept >= hot * 9 / 10, "only {kept} of {hot} hot keys kept");
}

#[test]
fn lfu_keeps_the_keys_used_often_and_reports_their_frequency() {
    // A log factor of 0 counts every access, so the test is exact.
    let (_server, mut c, _) = limited("allkeys-lfu", &[("lfu-log-factor", "0")]);
    let hot = 200;
    for i in 0..hot {
        set(&mut c, &format!("hot{i}"), None);
        for _ in 0..10 {
            c.cmd(&["GET", &format!("hot{i}")]);
        }
    }
    // New keys start at 5; each GET adds one.
    assert_eq!(c.int(&["OBJECT", "FREQ", "hot0"]), 15);
    assert_eq!(
        c.cmd(&["OBJECT", "IDLETIME", "hot0"]),
        b"-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
    );
    for i in 0..2000 {
        assert_eq!(set(&mut c, &format!("cold{i}"), None), b"+OK\r\n");
    }
    let kept = (0..hot)
        .filter(|i| exists(&mut c, &format!("hot{i}")))
        .count();
    assert!(kept >= hot * 9 / 10, "only {kept} of {hot} hot keys kept");
    // Under an LRU policy frequencies are not tracked.
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    assert_eq!(
        c.cmd(&["OBJECT", "FREQ", "hot0"]),
        b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
    );
}

#[test]
fn memory_settings_read_back_as_valkey_shows_them() {
    let server = Server::start(&["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.conn();
    assert_eq!(c.info_field("memory", "maxmemory"), "104857600");
    assert_eq!(c.info_field("memory", "maxmemory_human"), "100.00M");
    assert_eq!(c.info_field("memory", "maxmemory_policy"), "allkeys-lru");
    for (name, default) in [
        ("maxmemory-samples", "5"),
        ("maxmemory-eviction-tenacity", "10"),
        ("lfu-log-factor", "10"),
        ("lfu-decay-time", "1"),
    ] {
        assert_eq!(
            c.val(&["CONFIG", "GET", name]),
            common::Value::Array(vec![
                common::Value::Bulk(name.as_bytes().to_vec()),
                common::Value::Bulk(default.as_bytes().to_vec()),
            ])
        );
    }
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "most-recent"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory-samples", "65"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 64 inclusive\r\n"
    );
}
