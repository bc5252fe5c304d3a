//! Randomized differential test of the hash commands: the same seeded
//! sequence goes to ferrokv and to valkey-server 9.1; replies, OBJECT
//! ENCODING and the whole hash must agree after every command (in order
//! while a listpack, as a map while a hashtable). Values sometimes pass
//! `hash-max-listpack-value` and hashes grow past small entry limits, so
//! both encodings and the conversion are exercised.

mod common;

use common::{Pair, Rng};

fn field(rng: &mut Rng) -> Vec<u8> {
    format!("f{}", rng.below(24)).into_bytes()
}

fn value(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0..=4 => (rng.below(2000) as i64 - 1000).to_string().into_bytes(),
        5..=8 => format!("v{}", rng.below(50)).into_bytes(),
        _ => vec![b'x'; 40 + rng.below(60) as usize],
    }
}

fn command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let key = if rng.below(2) == 0 {
        b"h1".to_vec()
    } else {
        b"h2".to_vec()
    };
    let mut a = vec![];
    match rng.below(12) {
        0..=3 => {
            a.push(b"HSET".to_vec());
            a.push(key);
            for _ in 0..1 + rng.below(4) {
                a.push(field(rng));
                a.push(value(rng));
            }
        }
        4 => a.extend([b"HSETNX".to_vec(), key, field(rng), value(rng)]),
        5 | 6 => {
            a.push(b"HDEL".to_vec());
            a.push(key);
            for _ in 0..1 + rng.below(5) {
                a.push(field(rng));
            }
        }
        7 => {
            let n = (rng.below(200) as i64 - 100).to_string().into_bytes();
            a.extend([b"HINCRBY".to_vec(), key, field(rng), n]);
        }
        8 => {
            let n = format!("{}.25", rng.below(100)).into_bytes();
            a.extend([b"HINCRBYFLOAT".to_vec(), key, field(rng), n]);
        }
        9 => a.extend([b"HMGET".to_vec(), key, field(rng), field(rng)]),
        10 => a.extend([b"HSTRLEN".to_vec(), key, field(rng)]),
        _ => a.extend([b"HEXISTS".to_vec(), key, field(rng)]),
    }
    a
}

fn run(seed: u64, steps: usize, server_args: &[&str]) {
    let mut p = Pair::new(server_args);
    // RESP3, so HGETALL is a map (compared as one when unordered). The
    // HELLO replies themselves differ (client ids, modules).
    p.ours.cmd(&["HELLO", "3"]);
    p.theirs.cmd(&["HELLO", "3"]);
    let mut rng = Rng(seed);
    let (mut listpacks, mut tables) = (0, 0);
    for step in 0..steps {
        let what = format!("seed {seed:#x} {server_args:?} step {step}");
        p.same(&what, &command(&mut rng));
        for key in ["h1", "h2"] {
            let encoding = p.same(&what, &["OBJECT", "ENCODING", key]);
            p.same(&what, &["HLEN", key]);
            if encoding.ends_with(b"hashtable\r\n") {
                tables += 1;
                p.same_unordered(&what, &["HGETALL", key]);
            } else {
                listpacks += 1;
                p.same(&what, &["HGETALL", key]);
                p.same(&what, &["HSCAN", key, "0"]);
            }
        }
        if step % 97 == 96 {
            // Start over now and then, so small hashes come back.
            p.same(&what, &["DEL", "h1", "h2"]);
        }
    }
    assert!(
        listpacks > 0 && tables > 0,
        "{listpacks} listpack and {tables} hashtable observations"
    );
}

#[test]
fn random_sequences() {
    run(0x77, 1500, &[]);
    run(0x88, 800, &["--hash-max-listpack-entries", "8"]);
    run(0x99, 400, &["--hash-max-listpack-entries", "0"]);
}

/// Field expiration where the reference cannot be used: valkey 9.1.2 drops
/// the connection on HGETALL, HKEYS, HVALS and HRANDFIELD of a hash with
/// expiring fields. Expired fields are absent from all of them; the active
/// expiry deletes them (and the hash) without any access.
#[test]
fn expired_fields_are_absent_from_whole_hash_replies() {
    let server = common::Server::start(&[]);
    let mut c = server.conn();
    c.cmd(&["HSET", "h", "a", "1", "b", "2", "keep", "3"]);
    assert_eq!(
        c.cmd(&["HPEXPIRE", "h", "20", "FIELDS", "2", "a", "b"]),
        b"*2\r\n:1\r\n:1\r\n"
    );
    assert_eq!(
        c.cmd(&["HEXPIRE", "h", "100", "FIELDS", "1", "keep"]),
        b"*1\r\n:1\r\n"
    );
    let before = c.cmd(&["HGETALL", "h"]);
    assert_eq!(common::parse(&before).items().len(), 6);
    std::thread::sleep(std::time::Duration::from_millis(40));
    assert_eq!(c.cmd(&["HGETALL", "h"]), b"*2\r\n$4\r\nkeep\r\n$1\r\n3\r\n");
    assert_eq!(c.cmd(&["HKEYS", "h"]), b"*1\r\n$4\r\nkeep\r\n");
    assert_eq!(c.cmd(&["HVALS", "h"]), b"*1\r\n$1\r\n3\r\n");
    assert_eq!(c.cmd(&["HRANDFIELD", "h"]), b"$4\r\nkeep\r\n");
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "-3"]),
        b"*3\r\n$4\r\nkeep\r\n$4\r\nkeep\r\n$4\r\nkeep\r\n"
    );
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "5", "WITHVALUES"]),
        b"*2\r\n$4\r\nkeep\r\n$1\r\n3\r\n"
    );
    assert_eq!(c.cmd(&["HLEN", "h"]), b":1\r\n");

    // Many hashes whose fields all expire go away by themselves.
    for i in 0..200 {
        let key = format!("v{i}");
        c.cmd(&["HSET", &key, "f", "v", "g", "w"]);
        c.cmd(&["HPEXPIRE", &key, "10", "FIELDS", "2", "f", "g"]);
    }
    c.cmd(&["HSET", "stays", "f", "v"]);
    c.cmd(&["HPEXPIRE", "stays", "10", "FIELDS", "1", "f"]);
    c.cmd(&["HPERSIST", "stays", "FIELDS", "1", "f"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.int(&["DBSIZE"]) > 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the active expiry left keys behind"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(c.int(&["EXISTS", "h", "stays"]), 2);
}
