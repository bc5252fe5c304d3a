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
    c.cmd(&["DEBUG", "POPULATE", "100000"]);
    let stats = c.val(&["MEMORY", "STATS"]);
    assert_eq!(stat(&stats, "keys.count"), 500_000);
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
