//! Randomized differential test of the sorted set commands: the same seeded
//! sequence goes to ferrokv and to valkey-server 9.1; replies, OBJECT
//! ENCODING and the whole set with scores (fully ordered in both
//! encodings) must agree after every command. Small limits make sets cross
//! between listpack and skiplist.

mod common;

use common::{Pair, Rng};

const KEYS: [&str; 3] = ["z1", "z2", "lex"];

fn score(rng: &mut Rng) -> Vec<u8> {
    let s = match rng.below(8) {
        0 => "-inf".to_string(),
        1 => "+inf".to_string(),
        2 => format!("{}.5", rng.below(10) as i64 - 5),
        3 => format!("1e{}", rng.below(40) as i64 - 20),
        _ => (rng.below(20) as i64 - 10).to_string(),
    };
    s.into_bytes()
}

fn member(rng: &mut Rng) -> Vec<u8> {
    if rng.below(12) == 0 {
        vec![b'w'; 60 + rng.below(10) as usize]
    } else {
        format!("m{}", rng.below(25)).into_bytes()
    }
}

fn bound(rng: &mut Rng) -> Vec<u8> {
    let s = score(rng);
    if rng.below(3) == 0 {
        [b"(".as_slice(), &s].concat()
    } else {
        s
    }
}

fn lex(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => b"-".to_vec(),
        1 => b"+".to_vec(),
        2 => [b"(".as_slice(), &member(rng)].concat(),
        _ => [b"[".as_slice(), &member(rng)].concat(),
    }
}

fn command(rng: &mut Rng) -> Vec<Vec<u8>> {
    let key = KEYS[rng.below(2) as usize].as_bytes().to_vec();
    let other = KEYS[rng.below(2) as usize].as_bytes().to_vec();
    // (Only ZADD with score 0 and the lex commands touch "lex".)
    let idx = |r: &mut Rng| (r.below(12) as i64 - 6).to_string().into_bytes();
    let mut a: Vec<Vec<u8>> = vec![];
    match rng.below(14) {
        0..=4 => {
            a.extend([b"ZADD".to_vec(), key]);
            for flag in ["NX", "XX", "GT", "LT", "CH"] {
                if rng.below(8) == 0 {
                    a.push(flag.as_bytes().to_vec());
                }
            }
            for _ in 0..1 + rng.below(4) {
                a.push(score(rng));
                a.push(member(rng));
            }
        }
        5 => a.extend([b"ZINCRBY".to_vec(), key, score(rng), member(rng)]),
        6 => a.extend([b"ZREM".to_vec(), key, member(rng), member(rng)]),
        7 => a.extend([b"ZREMRANGEBYRANK".to_vec(), key, idx(rng), idx(rng)]),
        8 => a.extend([b"ZREMRANGEBYSCORE".to_vec(), key, bound(rng), bound(rng)]),
        // Lex ranges are only defined over equal scores: on their own key.
        9 => a.extend([
            b"ZADD".to_vec(),
            b"lex".to_vec(),
            b"0".to_vec(),
            member(rng),
        ]),
        10 => {
            let cmd: &[u8] = if rng.below(2) == 0 {
                b"ZPOPMIN"
            } else {
                b"ZPOPMAX"
            };
            a.extend([cmd.to_vec(), key, rng.below(4).to_string().into_bytes()]);
        }
        11 => a.extend([
            b"ZRANGESTORE".to_vec(),
            other,
            key,
            bound(rng),
            bound(rng),
            b"BYSCORE".to_vec(),
        ]),
        12 => {
            let cmd: &[u8] =
                [&b"ZRANGE"[..], b"ZREMRANGEBYLEX", b"ZLEXCOUNT"][rng.below(3) as usize];
            a.extend([cmd.to_vec(), b"lex".to_vec(), lex(rng), lex(rng)]);
            if cmd == b"ZRANGE" {
                a.push(b"BYLEX".to_vec());
                if rng.below(2) == 0 {
                    a.push(b"REV".to_vec());
                }
            }
        }
        _ => a.extend([b"ZRANK".to_vec(), key, member(rng), b"WITHSCORE".to_vec()]),
    }
    a
}

fn run(seed: u64, steps: usize, server_args: &[&str]) {
    let mut p = Pair::new(server_args);
    let mut rng = Rng(seed);
    let mut seen = [0usize; 2];
    for step in 0..steps {
        let what = format!("seed {seed:#x} {server_args:?} step {step}");
        p.same(&what, &command(&mut rng));
        for key in KEYS {
            let encoding = p.same(&what, &["OBJECT", "ENCODING", key]);
            if encoding.ends_with(b"skiplist\r\n") {
                seen[1] += 1;
            } else if encoding.ends_with(b"listpack\r\n") {
                seen[0] += 1;
            }
            p.same(&what, &["ZRANGE", key, "0", "-1", "WITHSCORES"]);
        }
    }
    assert!(
        seen.iter().all(|&n| n > 0),
        "listpack/skiplist observations: {seen:?}"
    );
}

#[test]
fn random_sequences() {
    run(0x2e7, 1500, &["--zset-max-listpack-entries", "10"]);
    run(0x2e8, 800, &[]);
}
