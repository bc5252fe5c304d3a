//! MEMORY on the real server: USAGE follows what a key holds, STATS
//! accounts for the keys, DOCTOR diagnoses a past peak.

mod common;

use common::{Conn, Server, Value};

fn usage(c: &mut Conn, args: &[&str]) -> i64 {
    let mut cmd = vec!["MEMORY", "USAGE"];
    cmd.extend_from_slice(args);
    c.int(&cmd)
}

#[test]
fn usage_follows_what_a_key_holds() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    c.cmd(&["SET", "small", "v"]);
    c.cmd(&["SET", "big", &"x".repeat(10_000)]);
    let (small, big) = (usage(&mut c, &["small"]), usage(&mut c, &["big"]));
    assert!(small > 0 && small < 200, "{small}");
    assert!((big - small - 10_000).abs() < 1_000, "{small} {big}");
    // A hashtable hash of 1000 fields of 100 bytes: every sample count
    // estimates the same uniform fields alike.
    let field = "f".repeat(96);
    for i in 0..1000 {
        c.cmd(&["HSET", "h", &format!("{field}{i:04}"), "value"]);
    }
    let (sampled, all) = (usage(&mut c, &["h"]), usage(&mut c, &["h", "SAMPLES", "0"]));
    assert!(all > 100_000, "{all}");
    assert!((sampled - all).abs() < all / 10, "{sampled} {all}");
}

fn stat(stats: &Value, name: &str) -> i64 {
    let Value::Array(items) = stats else {
        panic!("{stats:?}")
    };
    let at = items
        .iter()
        .position(|v| matches!(v, Value::Simple(s) if s == name))
        .unwrap_or_else(|| panic!("{name} missing"));
    match &items[at + 1] {
        Value::Int(n) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn stats_account_for_the_keys_and_doctor_sees_a_peak() {
    let server = Server::start(&["--enable-debug-command", "yes"]);
    let mut c = server.conn();
    c.cmd(&["SELECT", "1"]);
    c.cmd(&["DEBUG", "POPULATE", "400000"]);
    c.cmd(&["SELECT", "0"]);
    // Enough to stay above the doctor's 5 MB "very little memory" floor.
    c.cmd(&["DEBUG", "POPULATE", "150000"]);
    let stats = c.val(&["MEMORY", "STATS"]);
    assert_eq!(stat(&stats, "keys.count"), 550_000);
    assert!(stat(&stats, "peak.allocated") >= stat(&stats, "total.allocated"));
    assert!(stat(&stats, "dataset.bytes") > 0);
    c.cmd(&["SELECT", "1"]);
    c.cmd(&["FLUSHDB"]);
    let report = c.str(&["MEMORY", "DOCTOR"]);
    assert!(
        report.starts_with("Sam, I detected a few issues")
            && report.contains(" * Peak memory: In the past this instance used more than 150%"),
        "{report}"
    );
}

/// DEBUG OBJECT's line without what differs by nature: the address and
/// the LRU clock (and, with `lzf`, serializedlength: our LZF coder is not
/// liblzf, so compressed lengths differ).
fn debug_object(c: &mut Conn, key: &str, lzf: bool) -> String {
    let line = c.str(&["DEBUG", "OBJECT", key]);
    line.split(' ')
        .filter(|f| {
            let masked = f.starts_with("at:")
                || f.starts_with("lru:")
                || (lzf && f.starts_with("serializedlength:"));
            !masked
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// DEBUG OBJECT on both servers for every type and encoding: the same
/// encoding, RDB length, idle time and quicklist figures.
#[test]
fn debug_object_matches_valkey() {
    let args = ["--enable-debug-command", "yes"];
    let mut lines: Vec<Vec<String>> = Vec::new();
    for server in [Server::start(&args), Server::reference(&args)] {
        let mut c = server.conn();
        let run = |c: &mut Conn, cmd: &str| {
            c.cmd(&cmd.split(' ').collect::<Vec<_>>()[..]);
        };
        for cmd in [
            "SET s hello",
            "SET i 12345",
            "SET neg -5",
            "SET big 12345678901",
            "APPEND raw abc",
            "RPUSH l a b c",
            "HSET h f v",
            "SADD si 1 2 3",
            "SADD sl a b",
            "ZADD z 1 a",
            "CONFIG SET list-max-listpack-size 4",
            "RPUSH ql a b c d e f g h i 123456789012",
            "CONFIG SET list-max-listpack-size -2",
            // Still filled 4 to a node: a quicklist keeps its fill.
            "RPUSH ql j k l m n",
            "CONFIG SET set-max-intset-entries 2",
            "SADD st x1 x2 x3",
            "CONFIG SET zset-max-listpack-entries 1",
            "ZADD zs 1 a 2.5 b",
            "CONFIG SET hash-max-listpack-entries 1",
            "HSET ht f1 v1 f2 v2",
            "HSET hx f1 v1 f2 v2",
            "HEXPIRE hx 1000 FIELDS 1 f1",
        ] {
            run(&mut c, cmd);
        }
        c.cmd(&["SET", "sp", " 5"]);
        let mut got: Vec<String> = [
            "s", "i", "neg", "big", "sp", "raw", "l", "h", "si", "sl", "z", "ql", "st", "zs", "ht",
            "hx",
        ]
        .iter()
        .map(|k| debug_object(&mut c, k, false))
        .collect();
        // A compressed quicklist: all but the LZF-dependent length.
        run(&mut c, "CONFIG SET list-compress-depth 1");
        for _ in 0..20 {
            let mut cmd = vec!["RPUSH", "lzf"];
            let e = "x".repeat(40);
            cmd.extend(std::iter::repeat_n(e.as_str(), 100));
            c.int(&cmd[..]);
        }
        got.push(debug_object(&mut c, "lzf", true));
        got.push(c.str(&["DEBUG", "OBJECT", "lzf"])[..6].to_string());
        assert_eq!(
            format!("{:?}", c.val(&["DEBUG", "OBJECT", "nokey"])),
            "Error(\"ERR no such key\")"
        );
        lines.push(got);
    }
    assert_eq!(lines[0], lines[1]);
}
