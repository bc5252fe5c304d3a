//! Randomized differential test of the list commands: the same seeded
//! sequence of commands goes to ferrokv and to valkey-server 9.1; every
//! reply, the encoding OBJECT ENCODING reports and the whole list must be
//! identical after each command. Elements range from small integers to
//! values larger than a quicklist node, so lists cross between listpack
//! and quicklist (and plain nodes) in both directions.

mod common;

use common::{Pair, Rng, Server};

fn index(rng: &mut Rng) -> Vec<u8> {
    (rng.below(40) as i64 - 20).to_string().into_bytes()
}

/// Mostly small values that repeat (so LREM/LPOS/LINSERT find them),
/// some medium, a few larger than a node.
fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0..=7 => (rng.below(12) as i64 - 3).to_string().into_bytes(),
        8..=13 => format!("v{}", rng.below(10)).into_bytes(),
        14..=16 => vec![b'm'; 100 + rng.below(900) as usize],
        17..=18 => vec![b'b'; 2000 + rng.below(3000) as usize],
        _ => vec![b'h'; 8100 + rng.below(2000) as usize],
    }
}

fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// One random list command on one of three keys.
fn command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let keys: [&[u8]; 3] = [b"a", b"b", b"c"];
    let key = keys[rng.below(3) as usize];
    let other = keys[rng.below(3) as usize];
    let side = |r: &mut Rng| {
        if r.below(2) == 0 {
            b"LEFT".to_vec()
        } else {
            b"RIGHT".to_vec()
        }
    };
    match rng.below(16) {
        0..=3 => {
            let cmd: &[u8] = if rng.below(2) == 0 {
                b"LPUSH"
            } else {
                b"RPUSH"
            };
            let mut a = args(&[cmd, key]);
            for _ in 0..1 + rng.below(6) {
                a.push(element(rng));
            }
            a
        }
        4 => {
            let cmd: &[u8] = if rng.below(2) == 0 { b"LPOP" } else { b"RPOP" };
            args(&[cmd, key])
        }
        5 => {
            let cmd: &[u8] = if rng.below(2) == 0 { b"LPOP" } else { b"RPOP" };
            let n = rng.below(8).to_string().into_bytes();
            args(&[cmd, key, &n])
        }
        6 => {
            let (i, e) = (index(rng), element(rng));
            args(&[b"LSET", key, &i, &e])
        }
        7 => {
            let (pivot, e) = (element(rng), element(rng));
            let w: &[u8] = if rng.below(2) == 0 {
                b"BEFORE"
            } else {
                b"AFTER"
            };
            args(&[b"LINSERT", key, w, &pivot, &e])
        }
        8 => {
            let (n, e) = (index(rng), element(rng));
            args(&[b"LREM", key, &n, &e])
        }
        9 => {
            let (s, e) = (index(rng), index(rng));
            args(&[b"LTRIM", key, &s, &e])
        }
        10 => {
            let (from, to) = (side(rng), side(rng));
            args(&[b"LMOVE", key, other, &from, &to])
        }
        11 => {
            let n = (1 + rng.below(5)).to_string().into_bytes();
            let s = side(rng);
            args(&[b"LMPOP", b"2", key, other, &s, b"COUNT", &n])
        }
        12 => {
            let e = element(rng);
            let r = (rng.below(5) as i64 - 2).max(1).to_string().into_bytes();
            args(&[b"LPOS", key, &e, b"RANK", &r, b"COUNT", b"0"])
        }
        13 => {
            let i = index(rng);
            args(&[b"LINDEX", key, &i])
        }
        14 => {
            let (s, e) = (index(rng), index(rng));
            args(&[b"LRANGE", key, &s, &e])
        }
        _ => {
            let cmd: &[u8] = if rng.below(2) == 0 {
                b"LPUSHX"
            } else {
                b"RPUSHX"
            };
            let e = element(rng);
            args(&[cmd, key, &e])
        }
    }
}

fn run(seed: u64, steps: usize, server_args: &[&str]) {
    let mut p = Pair::new(server_args);
    let mut rng = Rng(seed);
    let (mut listpacks, mut quicklists) = (0, 0);
    for step in 0..steps {
        let what = format!("seed {seed:#x} {server_args:?} step {step}");
        let cmd = command(&mut rng);
        p.same(&what, &cmd);
        for key in ["a", "b", "c"] {
            match &p.same(&what, &args(&[b"OBJECT", b"ENCODING", key.as_bytes()]))[..] {
                b"$8\r\nlistpack\r\n" => listpacks += 1,
                b"$9\r\nquicklist\r\n" => quicklists += 1,
                _ => {}
            }
            p.same(&what, &args(&[b"LRANGE", key.as_bytes(), b"0", b"-1"]));
        }
    }
    // The sequence must have exercised both encodings.
    assert!(
        listpacks > 0 && quicklists > 0,
        "{server_args:?}: {listpacks} listpack and {quicklists} quicklist observations"
    );
}

#[test]
fn random_sequences_default_limits() {
    run(0x11, 1500, &[]);
}

#[test]
fn random_sequences_compressed() {
    run(0x66, 800, &["--list-compress-depth", "1"]);
    run(
        0x77,
        500,
        &[
            "--list-max-listpack-size",
            "3",
            "--list-compress-depth",
            "2",
        ],
    );
}

/// `list-compress-depth`, taken by lists when they become quicklists:
/// on both servers a long list of repetitive elements made under depth 1
/// takes a fraction of the memory of one made under depth 0, and reads
/// the same.
#[test]
fn compression_saves_memory() {
    for server in [Server::start(&[]), Server::reference(&[])] {
        let mut c = server.conn();
        let elements: Vec<String> = (0..20_000).map(|i| format!("{:0>40}", i % 97)).collect();
        let mut usage = Vec::new();
        for (key, depth) in [("raw", "0"), ("lzf", "1")] {
            assert_eq!(
                c.str(&["CONFIG", "SET", "list-compress-depth", depth]),
                "OK"
            );
            for chunk in elements.chunks(1000) {
                let mut cmd = vec!["RPUSH", key];
                cmd.extend(chunk.iter().map(String::as_str));
                c.int(&cmd[..]);
            }
            usage.push(c.int(&["MEMORY", "USAGE", key, "SAMPLES", "0"]));
        }
        assert!(usage[1] * 4 < usage[0], "{usage:?}");
        for args in [["LRANGE", "0", "-1"], ["LRANGE", "9000", "9100"]] {
            let (raw, lzf) = (
                c.cmd(&[&["LRANGE", "raw"][..], &args[1..]].concat()),
                c.cmd(&[&["LRANGE", "lzf"][..], &args[1..]].concat()),
            );
            assert_eq!(raw, lzf);
        }
        let (e96, e50) = (&elements[96], &elements[50]);
        assert_eq!(c.int(&["LINSERT", "lzf", "BEFORE", e96, "x"]), 20_001);
        assert_eq!(c.str(&["LINDEX", "lzf", "96"]), "x");
        assert_eq!(c.int(&["LREM", "lzf", "0", e50]), 206);
        assert_eq!(c.cmd(&["LPOS", "lzf", e50]), b"$-1\r\n");
    }
}

#[test]
fn random_sequences_other_limits() {
    run(0x22, 600, &["--list-max-listpack-size", "3"]);
    run(0x33, 600, &["--list-max-listpack-size", "-1"]);
    run(0x44, 400, &["--list-max-listpack-size", "0"]);
    run(0x55, 800, &["--list-max-listpack-size", "-3"]);
}
