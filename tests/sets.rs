//! Randomized differential test of the set commands: the same seeded
//! sequence goes to ferrokv and to valkey-server 9.1; replies, OBJECT
//! ENCODING and the members must agree after every command (in order for
//! intsets and listpacks, as sets for hashtables). Members mix small and
//! large integers, short strings and strings past set-max-listpack-value,
//! and the limits are small, so every conversion happens.

mod common;

use common::{Pair, Rng};

const KEYS: [&str; 3] = ["s1", "s2", "s3"];

fn member(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0..=4 => (rng.below(40) as i64 - 10).to_string().into_bytes(),
        5 => (rng.next() as i64).to_string().into_bytes(),
        6..=8 => format!("m{}", rng.below(20)).into_bytes(),
        _ => vec![b'x'; 60 + rng.below(10) as usize],
    }
}

fn key(rng: &mut Rng) -> Vec<u8> {
    KEYS[rng.below(3) as usize].as_bytes().to_vec()
}

/// One command, and whether its reply's order is defined.
fn command(rng: &mut Rng) -> (Vec<Vec<u8>>, bool) {
    let mut a = vec![];
    let mut ordered = true;
    match rng.below(12) {
        0..=3 => {
            a.extend([b"SADD".to_vec(), key(rng)]);
            for _ in 0..1 + rng.below(5) {
                a.push(member(rng));
            }
        }
        4 | 5 => {
            a.extend([b"SREM".to_vec(), key(rng)]);
            for _ in 0..1 + rng.below(4) {
                a.push(member(rng));
            }
        }
        6 => a.extend([b"SMOVE".to_vec(), key(rng), key(rng), member(rng)]),
        7 => {
            let cmd: &[u8] =
                [&b"SINTERSTORE"[..], b"SUNIONSTORE", b"SDIFFSTORE"][rng.below(3) as usize];
            a.extend([cmd.to_vec(), key(rng), key(rng), key(rng)]);
        }
        8 => {
            let cmd: &[u8] = [&b"SINTER"[..], b"SUNION", b"SDIFF"][rng.below(3) as usize];
            a.extend([cmd.to_vec(), key(rng), key(rng)]);
            ordered = false;
        }
        9 => a.extend([b"SMISMEMBER".to_vec(), key(rng), member(rng), member(rng)]),
        10 => a.extend([b"SINTERCARD".to_vec(), b"2".to_vec(), key(rng), key(rng)]),
        _ => {
            // Pops the whole set (a defined result).
            a.extend([b"SPOP".to_vec(), key(rng), b"1000".to_vec()]);
            ordered = false;
        }
    }
    (a, ordered)
}

fn run(seed: u64, steps: usize, server_args: &[&str]) {
    let mut p = Pair::new(server_args);
    let mut rng = Rng(seed);
    let mut seen = [0usize; 3];
    // Keys last written by a *STORE from a hashtable: their member order
    // follows that table's iteration, which differs between the servers.
    let mut hashed = [false; 3];
    let mut is_table = [false; 3];
    for step in 0..steps {
        let (cmd, ordered) = command(&mut rng);
        let shown: Vec<String> = cmd
            .iter()
            .map(|a| String::from_utf8_lossy(&a[..a.len().min(12)]).into_owned())
            .collect();
        let what = format!(
            "seed {seed:#x} {server_args:?} step {step}: {}",
            shown.join(" ")
        );
        if cmd[0].ends_with(b"STORE") {
            let k = |a: &[u8]| {
                KEYS.iter()
                    .position(|k| k.as_bytes() == a)
                    .expect("a test key")
            };
            let from_table = cmd[2..].iter().any(|a| is_table[k(a)]);
            hashed[k(&cmd[1])] = from_table;
        }
        if ordered {
            p.same(&what, &cmd);
        } else {
            p.same_unordered(&what, &cmd);
        }
        for (i, key) in KEYS.iter().enumerate() {
            let encoding = p.same(&what, &["OBJECT", "ENCODING", key]);
            is_table[i] = encoding.ends_with(b"hashtable\r\n");
            if encoding.starts_with(b"$-1") {
                hashed[i] = false;
            }
            if is_table[i] {
                seen[2] += 1;
            } else {
                seen[usize::from(encoding.ends_with(b"listpack\r\n"))] += 1;
            }
            if is_table[i] || hashed[i] {
                p.same_unordered(&what, &["SMEMBERS", key]);
            } else {
                p.same(&what, &["SMEMBERS", key]);
            }
        }
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "intset/listpack/hashtable observations: {seen:?}"
    );
}

#[test]
fn random_sequences() {
    run(
        0x5e7,
        1200,
        &[
            "--set-max-intset-entries",
            "12",
            "--set-max-listpack-entries",
            "16",
        ],
    );
    run(0x5e8, 800, &[]);
}
