//! SCAN iteration: completeness (every key present for the whole iteration
//! is returned at least once), MATCH/TYPE filtering, termination, and the
//! guarantee holding while the keyspace grows or shrinks (rehashing) during
//! the iteration. Every test runs against ferrokv and the reference server.

mod common;

use common::{Conn, Server, Value};
use std::collections::HashSet;

fn servers() -> Vec<(&'static str, Server)> {
    vec![
        ("ferrokv", Server::start(&[])),
        ("valkey", Server::reference(&[])),
    ]
}

fn fill(c: &mut Conn, prefix: &str, range: std::ops::Range<usize>) {
    let keys: Vec<usize> = range.collect();
    for chunk in keys.chunks(500) {
        let mut args = vec!["MSET".to_string()];
        for i in chunk {
            args.push(format!("{prefix}{i}"));
            args.push(i.to_string());
        }
        assert_eq!(c.cmd(&args), b"+OK\r\n");
    }
}

/// One SCAN call: (next cursor, keys).
fn scan_once(c: &mut Conn, cursor: &str, extra: &[&str]) -> (String, Vec<String>) {
    let mut args = vec!["SCAN", cursor];
    args.extend_from_slice(extra);
    let v = c.val(&args);
    let items = v.items();
    assert_eq!(items.len(), 2, "SCAN reply shape: {v:?}");
    let Value::Bulk(cur) = &items[0] else {
        panic!("SCAN cursor must be a bulk string: {v:?}")
    };
    let cur = String::from_utf8(cur.clone()).unwrap();
    assert!(
        cur.parse::<u64>().is_ok(),
        "cursor {cur:?} is not an unsigned integer"
    );
    let keys = items[1]
        .items()
        .iter()
        .map(|k| String::from_utf8(k.as_bytes().expect("key is a string").to_vec()).unwrap())
        .collect();
    (cur, keys)
}

/// Full iteration; `between` runs after every call. Returns every key seen
/// and the number of calls.
fn scan_all(
    c: &mut Conn,
    extra: &[&str],
    max_calls: usize,
    mut between: impl FnMut(&mut Conn, usize),
) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let (next, keys) = scan_once(c, &cursor, extra);
        calls += 1;
        seen.extend(keys);
        if next == "0" {
            return (seen, calls);
        }
        assert!(
            calls < max_calls,
            "SCAN did not finish in {max_calls} calls"
        );
        between(c, calls);
        cursor = next;
    }
}

#[test]
fn scan_returns_every_key() {
    for (name, server) in servers() {
        let mut c = server.conn();
        let (seen, _) = scan_all(&mut c, &[], 10, |_, _| {});
        assert!(seen.is_empty(), "{name}: empty db");
        fill(&mut c, "key:", 0..5000);
        let all: HashSet<String> = (0..5000).map(|i| format!("key:{i}")).collect();
        for count in ["1", "7", "100", "10000"] {
            let n: usize = count.parse().unwrap();
            let max_calls = 5000 / n * 4 + 1000;
            let (seen, calls) = scan_all(&mut c, &["COUNT", count], max_calls, |_, _| {});
            let set: HashSet<String> = seen.iter().cloned().collect();
            assert_eq!(set, all, "{name}: COUNT {count}: every key, nothing else");
            // no key may come back more often than the table had to be walked
            assert!(
                seen.len() <= all.len() * 2,
                "{name}: COUNT {count}: {} keys returned for {} keys",
                seen.len(),
                all.len()
            );
            assert!(
                calls >= 5000 / n.max(1) / 10,
                "{name}: suspiciously few calls"
            );
        }
        // KEYS agrees with SCAN
        let keys: HashSet<String> = c
            .val(&["KEYS", "*"])
            .items()
            .iter()
            .map(|k| String::from_utf8(k.as_bytes().unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(keys, all, "{name}: KEYS *");
    }
}

#[test]
fn scan_match_and_type_filters() {
    for (name, server) in servers() {
        let mut c = server.conn();
        fill(&mut c, "user:", 0..2000);
        fill(&mut c, "other:", 0..500);
        let (seen, _) = scan_all(
            &mut c,
            &["MATCH", "user:1*", "COUNT", "50"],
            1000,
            |_, _| {},
        );
        let got: HashSet<String> = seen.into_iter().collect();
        let want: HashSet<String> = (0..2000)
            .map(|i| format!("user:{i}"))
            .filter(|k| k.starts_with("user:1"))
            .collect();
        assert_eq!(got, want, "{name}: MATCH user:1*");
        let (seen, _) = scan_all(&mut c, &["MATCH", "nomatch*"], 10_000, |_, _| {});
        assert!(seen.is_empty(), "{name}: MATCH with no match");
        let (seen, _) = scan_all(&mut c, &["TYPE", "string", "COUNT", "100"], 1000, |_, _| {});
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            2500,
            "{name}: TYPE string"
        );
        let (seen, _) = scan_all(&mut c, &["TYPE", "hash", "COUNT", "100"], 1000, |_, _| {});
        assert!(seen.is_empty(), "{name}: TYPE hash");
        let (seen, _) = scan_all(
            &mut c,
            &["count", "100", "type", "STRING", "match", "other:4?"],
            1000,
            |_, _| {},
        );
        let got: HashSet<String> = seen.into_iter().collect();
        let want: HashSet<String> = (40..50).map(|i| format!("other:{i}")).collect();
        assert_eq!(got, want, "{name}: options in any order and case");
        // other databases are separate
        assert_eq!(c.cmd(&["SELECT", "5"]), b"+OK\r\n");
        let (seen, _) = scan_all(&mut c, &[], 10, |_, _| {});
        assert!(seen.is_empty(), "{name}: db 5 is empty");
        fill(&mut c, "five:", 0..10);
        let (seen, _) = scan_all(&mut c, &["COUNT", "3"], 100, |_, _| {});
        assert_eq!(seen.into_iter().collect::<HashSet<_>>().len(), 10);
    }
}

#[test]
fn scan_guarantee_while_keyspace_grows() {
    for (name, server) in servers() {
        let mut c = server.conn();
        fill(&mut c, "stable:", 0..1000);
        fill(&mut c, "doomed:", 0..1000);
        let mut added = 0usize;
        let mut deleted = 0usize;
        let (seen, _) = scan_all(&mut c, &["COUNT", "10"], 100_000, |c, _| {
            // grow quickly (forcing rehashes) and delete some keys meanwhile
            fill(c, "new:", added..added + 60);
            added += 60;
            if deleted < 1000 {
                let dels: Vec<String> = std::iter::once("DEL".to_string())
                    .chain((deleted..deleted + 5).map(|i| format!("doomed:{i}")))
                    .collect();
                c.cmd(&dels);
                deleted += 5;
            }
        });
        let seen: HashSet<String> = seen.into_iter().collect();
        for i in 0..1000 {
            assert!(
                seen.contains(&format!("stable:{i}")),
                "{name}: stable:{i} missed while the table grew to {} keys",
                2000 + added
            );
        }
        assert!(
            added > 2000,
            "{name}: the table did grow ({added} keys added)"
        );
        // nothing that never existed
        assert!(seen.iter().all(|k| k.starts_with("stable:")
            || k.starts_with("doomed:")
            || k.starts_with("new:")));
    }
}

#[test]
fn scan_guarantee_while_keyspace_shrinks() {
    for (name, server) in servers() {
        let mut c = server.conn();
        fill(&mut c, "stable:", 0..500);
        fill(&mut c, "doomed:", 0..20_000);
        let mut deleted = 0usize;
        let (seen, _) = scan_all(&mut c, &["COUNT", "20"], 100_000, |c, _| {
            if deleted < 20_000 {
                let dels: Vec<String> = std::iter::once("DEL".to_string())
                    .chain((deleted..deleted + 400).map(|i| format!("doomed:{i}")))
                    .collect();
                c.cmd(&dels);
                deleted += 400;
            }
        });
        let seen: HashSet<String> = seen.into_iter().collect();
        for i in 0..500 {
            assert!(
                seen.contains(&format!("stable:{i}")),
                "{name}: stable:{i} missed while the table shrank"
            );
        }
        assert_eq!(
            c.cmd(&["DBSIZE"]),
            format!(":{}\r\n", 500 + 20_000 - deleted).into_bytes()
        );
    }
}

#[test]
fn scan_reply_shape_in_resp3() {
    for (name, server) in servers() {
        let mut c = server.conn();
        c.val(&["HELLO", "3"]);
        fill(&mut c, "k", 0..3);
        let raw = c.cmd(&["SCAN", "0", "COUNT", "100"]);
        assert!(
            raw.starts_with(b"*2\r\n$1\r\n0\r\n*3\r\n"),
            "{name}: {}",
            common::show(&raw)
        );
        assert_eq!(
            c.cmd(&["SCAN", "0", "MATCH", "zz*"]),
            b"*2\r\n$1\r\n0\r\n*0\r\n",
            "{name}"
        );
    }
}

/// HSCAN / SSCAN / ZSCAN over hashtable and skiplist encodings: every
/// member present throughout is returned, also while members are removed
/// and added between calls, and the iteration ends.
#[test]
fn element_scans_return_every_member_while_it_changes() {
    for (name, server) in servers() {
        let mut c = server.conn();
        for i in 0..1000 {
            c.cmd(&["HSET", "h", &format!("f{i}"), "v"]);
            c.cmd(&["SADD", "s", &format!("m{i}")]);
            c.cmd(&["ZADD", "z", &i.to_string(), &format!("m{i}")]);
        }
        for (cmd, key, encoding, step) in [
            ("HSCAN", "h", "hashtable", 2),
            ("SSCAN", "s", "hashtable", 1),
            ("ZSCAN", "z", "skiplist", 2),
        ] {
            assert_eq!(
                c.str(&["OBJECT", "ENCODING", key]),
                encoding,
                "{name} {key}"
            );
            let mut cursor = "0".to_string();
            let mut seen = HashSet::new();
            let mut calls = 0;
            loop {
                let Value::Array(reply) = c.val(&[cmd, key, &cursor, "COUNT", "7"]) else {
                    panic!("{name} {cmd}: not an array");
                };
                let [Value::Bulk(next), Value::Array(items)] = &reply[..] else {
                    panic!("{name} {cmd}: bad reply {reply:?}");
                };
                for item in items.iter().step_by(step) {
                    let Value::Bulk(m) = item else {
                        panic!("{name} {cmd}: {item:?}")
                    };
                    seen.insert(String::from_utf8(m.clone()).unwrap());
                }
                // Churn: members 900.. come and go; 0..900 stay throughout.
                let churn = 900 + calls % 100;
                match cmd {
                    "HSCAN" => c.cmd(&["HDEL", key, &format!("f{churn}")]),
                    "SSCAN" => c.cmd(&["SREM", key, &format!("m{churn}")]),
                    _ => c.cmd(&["ZREM", key, &format!("m{churn}")]),
                };
                calls += 1;
                cursor = String::from_utf8(next.clone()).unwrap();
                if cursor == "0" {
                    break;
                }
                assert!(calls < 10_000, "{name} {cmd}: does not end");
            }
            let prefix = if cmd == "HSCAN" { "f" } else { "m" };
            for i in 0..900 {
                assert!(
                    seen.contains(&format!("{prefix}{i}")),
                    "{name} {cmd}: missed {prefix}{i}"
                );
            }
        }
    }
}
