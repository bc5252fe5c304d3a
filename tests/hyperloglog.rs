//! HyperLogLog byte compatibility with valkey-server 9.1: both servers get
//! the same commands and must answer with the same bytes, including GET of
//! the HLL strings themselves (sparse opcodes, promotion to dense, cached
//! cardinality), values made by one server and used by the other, and
//! corrupted values.

mod common;

use common::{Pair, Rng, show};

/// GET of `key` on both, identical; returns the value.
fn same_value(p: &mut Pair, what: &str, key: &str) -> Vec<u8> {
    let reply = p.same(what, &["GET", key]);
    bulk(&reply)
}

/// The payload of a bulk reply.
fn bulk(reply: &[u8]) -> Vec<u8> {
    let header = reply
        .iter()
        .position(|&b| b == b'\n')
        .expect("a reply line")
        + 1;
    assert_eq!(reply[0], b'$', "not a bulk reply: {}", show(reply));
    reply[header..reply.len() - 2].to_vec()
}

/// PFADD of `n` elements named `prefix:i` from `start`, in batches of
/// varying size, comparing GET and PFCOUNT after every batch.
fn grow(pair: &mut Pair, key: &str, prefix: &str, start: usize, n: usize) {
    let sizes = [1, 3, 17, 64, 5, 200];
    let (mut i, mut b) = (start, 0);
    while i < start + n {
        let size = sizes[b % sizes.len()].min(start + n - i);
        let mut args = vec!["PFADD".to_string(), key.to_string()];
        args.extend((i..i + size).map(|j| format!("{prefix}:{j}")));
        let what = format!("{key} after {} elements", i + size - start);
        pair.same(&what, &args);
        same_value(pair, &what, key);
        if b % 3 == 0 {
            pair.same(&what, &["PFCOUNT", key]);
            same_value(pair, &what, key);
        }
        i += size;
        b += 1;
    }
}

#[test]
fn sparse_growth_and_promotion_match_byte_for_byte() {
    let mut p = Pair::new(&[]);
    grow(&mut p, "h", "e", 0, 4000);
    p.same("promoted", &["PFDEBUG", "ENCODING", "h"]);
    grow(&mut p, "h", "more", 0, 3000);
    p.same("dense", &["PFCOUNT", "h"]);
    // Adding elements already counted changes nothing (reply 0), and keeps
    // the cached cardinality valid.
    p.same("repeat", &["PFADD", "h", "e:1", "e:2", "e:3"]);
    same_value(&mut p, "repeat", "h");
    // A single element whose register already is at least as high.
    p.same("no-op", &["PFADD", "h"]);
}

#[test]
fn sparse_max_bytes_decides_promotion_identically() {
    for max in ["0", "40", "300", "5000", "20000"] {
        let mut p = Pair::new(&["--hll-sparse-max-bytes", max]);
        p.same("config", &["CONFIG", "GET", "hll-sparse-max-bytes"]);
        grow(&mut p, "h", max, 0, 2500);
        p.same("encoding", &["PFDEBUG", "ENCODING", "h"]);
    }
    let mut p = Pair::new(&[]);
    p.same("config", &["CONFIG", "SET", "hll-sparse-max-bytes", "100"]);
    grow(&mut p, "h", "x", 0, 200);
    p.same("encoding", &["PFDEBUG", "ENCODING", "h"]);
    p.same("bad", &["CONFIG", "SET", "hll-sparse-max-bytes", "-1"]);
}

#[test]
fn merge_and_union_count_match() {
    let mut p = Pair::new(&[]);
    grow(&mut p, "small", "a", 0, 100);
    grow(&mut p, "mid", "b", 0, 1500);
    grow(&mut p, "big", "c", 0, 20000);
    grow(&mut p, "big2", "a", 50, 30000);
    let merges: &[&[&str]] = &[
        &["PFMERGE", "m1", "small", "mid"],
        &["PFMERGE", "m2", "small", "big"],
        &["PFMERGE", "m3", "big", "big2", "small", "nokey"],
        &["PFMERGE", "small", "mid"],
        &["PFMERGE", "mid", "mid"],
        &["PFMERGE", "m4"],
        &["PFMERGE", "big", "small"],
        &["PFMERGE", "m5", "nokey"],
    ];
    for args in merges {
        let what = args.join(" ");
        p.same(&what, args);
        same_value(&mut p, &what, args[1]);
        p.same(&what, &["PFCOUNT", args[1]]);
        same_value(&mut p, &what, args[1]);
        p.same(&what, &["PFDEBUG", "ENCODING", args[1]]);
    }
    for keys in [
        &["small", "mid"][..],
        &["big", "big2", "small"],
        &["big", "big"],
        &["nokey", "nokey2"],
        &["m1", "m2", "m3", "m4", "m5", "mid"],
    ] {
        let mut args = vec!["PFCOUNT"];
        args.extend_from_slice(keys);
        p.same("union", &args);
    }
    // With the vector kernels off, the same answers.
    p.same("simd", &["PFDEBUG", "SIMD", "OFF"]);
    p.same("union", &["PFCOUNT", "big", "big2", "small"]);
    p.same("merge", &["PFMERGE", "m6", "big", "big2"]);
    same_value(&mut p, "merge", "m6");
    p.same("simd", &["PFDEBUG", "SIMD", "ON"]);
}

#[test]
fn values_move_between_servers() {
    let mut p = Pair::new(&[]);
    grow(&mut p, "sparse", "s", 0, 300);
    grow(&mut p, "dense", "d", 0, 10000);
    for key in ["sparse", "dense"] {
        // Made by valkey, used by both; made by ferrokv, used by both.
        let theirs = bulk(&p.theirs.cmd(&["GET", key]));
        let ours = bulk(&p.ours.cmd(&["GET", key]));
        for (from, bytes) in [("valkey", theirs), ("ferrokv", ours)] {
            let what = format!("{key} made by {from}");
            let copy = format!("{key}-{from}");
            p.same(&what, &[b"SET".as_slice(), copy.as_bytes(), &bytes]);
            p.same(&what, &["PFCOUNT", &copy]);
            p.same(&what, &["PFADD", &copy, "new1", "new2", "new3"]);
            same_value(&mut p, &what, &copy);
            p.same(&what, &["PFMERGE", "merged", &copy, "sparse"]);
            same_value(&mut p, &what, "merged");
            p.same(&what, &["PFCOUNT", &copy, "dense"]);
            p.same(&what, &["OBJECT", "ENCODING", &copy]);
        }
    }
}

#[test]
fn corrupted_values_are_detected_identically() {
    let mut p = Pair::new(&[]);
    grow(&mut p, "sparse", "s", 0, 150);
    grow(&mut p, "dense", "d", 0, 5000);
    let sparse = same_value(&mut p, "sparse", "sparse");
    let dense = same_value(&mut p, "dense", "dense");
    let seed = 0x5eed_0001;
    let mut rng = Rng(seed);
    for round in 0..400 {
        let mut v = if round % 4 == 3 {
            dense.clone()
        } else {
            sparse.clone()
        };
        match rng.below(4) {
            0 => v.truncate(16 + rng.below((v.len() - 15) as u64) as usize),
            1 => v.extend((0..1 + rng.below(3)).map(|_| rng.next() as u8)),
            _ => {
                for _ in 0..1 + rng.below(4) {
                    // Mostly the registers; now and then the header.
                    let at = if rng.below(8) == 0 {
                        rng.below(16) as usize
                    } else {
                        16 + rng.below((v.len() - 16) as u64) as usize
                    };
                    v[at] = rng.next() as u8;
                }
            }
        }
        let what = format!("seed {seed:#x} round {round}");
        p.same(&what, &[b"SET".as_slice(), b"x", &v]);
        p.same(&what, &["PFCOUNT", "x"]);
        p.same(&what, &["PFCOUNT", "x", "sparse"]);
        p.same(&what, &["PFADD", "x", "e1", "e2", &format!("r{round}")]);
        same_value(&mut p, &what, "x");
        p.same(&what, &["PFMERGE", "y", "x"]);
        p.same(&what, &["PFDEBUG", "DECODE", "x"]);
        p.same(&what, &["PFDEBUG", "TODENSE", "x"]);
        same_value(&mut p, &what, "x");
        p.same(&what, &["DEL", "y"]);
    }
}

/// Every register at one value, 0..=63, dense and with a stale cache:
/// estimates up to and past what fits a 64-bit integer (valkey stores and
/// replies llroundl's out-of-range result there).
#[test]
fn extreme_registers_count_identically() {
    let mut p = Pair::new(&[]);
    for v in 0..64u32 {
        let w = v | v << 6 | v << 12 | v << 18;
        let mut hll = b"HYLL\0\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
        for _ in 0..4096 {
            hll.extend_from_slice(&w.to_le_bytes()[..3]);
        }
        let what = format!("all registers {v}");
        p.same(&what, &[b"SET".as_slice(), b"d", &hll]);
        p.same(&what, &["PFCOUNT", "d"]);
        p.same(&what, &["GETRANGE", "d", "8", "15"]);
        p.same(&what, &["PFCOUNT", "d", "d"]);
        p.same(&what, &["PFMERGE", "m", "d"]);
        p.same(&what, &["PFCOUNT", "m"]);
        p.same(&what, &["DEL", "m"]);
    }
}

#[test]
fn pfdebug_getreg_and_selftest() {
    let mut p = Pair::new(&[]);
    grow(&mut p, "h", "g", 0, 40);
    p.same("getreg", &["PFDEBUG", "GETREG", "h"]);
    same_value(&mut p, "getreg turns dense", "h");
    // PFSELFTEST takes about 4 s in the unoptimised test build, more on a
    // loaded machine: past the connection's usual read timeout.
    p.ours.set_timeout(std::time::Duration::from_secs(60));
    let mut ours = p.ours.cmd(&["PFSELFTEST"]);
    assert_eq!(ours, b"+OK\r\n", "{}", show(&ours));
    ours = p.ours.cmd(&["PFDEBUG", "SIMD", "OFF"]);
    assert_eq!(ours, b"+disabled\r\n");
    ours = p.ours.cmd(&["PFSELFTEST"]);
    assert_eq!(ours, b"+OK\r\n", "{}", show(&ours));
}
