//! HyperLogLog strings in Valkey's exact format (hyperloglog.c), so values
//! move between the two servers byte for byte.
//!
//! A 16-byte header ("HYLL", encoding 0 dense / 1 sparse, 3 unused bytes,
//! the cached cardinality as 8 little-endian bytes whose top bit marks it
//! stale) is followed by the registers: dense, 16384 six-bit registers
//! packed LSB-first; or sparse, run-length opcodes
//! - ZERO  `00xxxxxx`: 1..=64 zero registers,
//! - XZERO `01xxxxxx yyyyyyyy`: 1..=16384 zero registers,
//! - VAL   `1vvvvvxx`: 1..=4 registers of value 1..=32.
//!
//! Sparse updates follow Valkey's algorithm step for step (split the run
//! holding the register, then merge equal neighbours within five opcodes),
//! because the bytes it leaves depend on the order of updates, not only on
//! the registers. A byte read past the end reads as zero, as Valkey reads
//! the string's terminator (after an update that cuts a truncated last
//! XZERO, Valkey's terminator may hold a byte of it instead, depending on
//! its allocation; such client-corrupted values are not followed there).

use crate::simd::hll::{self as kernels, DENSE_BYTES, Histogram, REGISTERS};

pub const HEADER: usize = 16;
pub const DENSE_SIZE: usize = HEADER + DENSE_BYTES;
const P: u32 = 14;
const Q: usize = 64 - P as usize;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const CARD_STALE: u8 = 0x80;

/// The sparse opcodes do not describe exactly 16384 registers.
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Dense,
    Sparse,
}

/// The encoding of a string that passes Valkey's HLL checks (magic, known
/// encoding, exact dense length), or None.
pub fn encoding(s: &[u8]) -> Option<Encoding> {
    if s.len() < HEADER || &s[..4] != b"HYLL" {
        return None;
    }
    match s[4] {
        DENSE if s.len() == DENSE_SIZE => Some(Encoding::Dense),
        SPARSE => Some(Encoding::Sparse),
        _ => None,
    }
}

/// A new, empty HLL: sparse, one XZERO of 16384, cardinality 0.
pub fn empty() -> Vec<u8> {
    let mut s = vec![0; HEADER];
    s[..5].copy_from_slice(b"HYLL\x01");
    s.extend_from_slice(&xzero(REGISTERS));
    s
}

pub fn cached_card(s: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(s[8..HEADER].try_into().expect("8 bytes"));
    (s[15] & CARD_STALE == 0).then_some(card)
}

pub fn set_cached_card(s: &mut [u8], card: u64) {
    s[8..HEADER].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate_cache(s: &mut [u8]) {
    s[15] |= CARD_STALE;
}

/// MurmurHash2, 64-bit (MurmurHash64A), reading words little-endian.
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for w in words.by_ref() {
        let mut k = u64::from_le_bytes(w.try_into().expect("8 bytes")).wrapping_mul(M);
        k ^= k >> R;
        h = (h ^ k.wrapping_mul(M)).wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        h = (h ^ u64::from_le_bytes(last)).wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^ (h >> R)
}

/// The register an element lands in and its run length of hash zeros
/// plus one (1..=51).
#[inline]
pub fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | 1 << Q;
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Raises register `index` to `count`: Ok(true) if it changed. A sparse HLL
/// turns dense when `count` exceeds 32 or it would outgrow `sparse_max`
/// bytes.
pub fn add(s: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    match s[4] {
        DENSE => Ok(dense_raise(&mut s[HEADER..], index, count)),
        SPARSE => sparse_set(s, index, count, sparse_max),
        _ => Err(Corrupt),
    }
}

fn dense_raise(registers: &mut [u8], index: usize, count: u8) -> bool {
    let raise = count > kernels::get(registers, index);
    if raise {
        kernels::set(registers, index, count);
    }
    raise
}

fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}

fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}

fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}

fn val_len(op: u8) -> usize {
    usize::from(op & 3) + 1
}

fn val(value: u8, len: usize) -> u8 {
    0x80 | (value - 1) << 2 | (len - 1) as u8
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [0x40 | (l >> 8) as u8, l as u8]
}

/// Zero run of `len` as ZERO or XZERO into `out`; returns the bytes used.
fn zeros(out: &mut [u8], len: usize) -> usize {
    if len > ZERO_MAX_LEN {
        out[..2].copy_from_slice(&xzero(len));
        2
    } else {
        out[0] = (len - 1) as u8;
        1
    }
}

/// The opcode at `p`: (registers covered, bytes, value; 0 for zeros).
fn opcode(s: &[u8], p: usize) -> (usize, usize, u8) {
    let op = s[p];
    if is_val(op) {
        (val_len(op), 1, val_value(op))
    } else if is_xzero(op) {
        let low = s.get(p + 1).copied().unwrap_or(0);
        ((usize::from(op & 0x3f) << 8 | usize::from(low)) + 1, 2, 0)
    } else {
        (usize::from(op & 0x3f) + 1, 1, 0)
    }
}

/// Calls `run(first register, length, value)` for each opcode of a sparse
/// HLL; Corrupt unless they cover exactly the 16384 registers.
fn for_each_run(s: &[u8], mut run: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let (mut p, mut index) = (HEADER, 0);
    while p < s.len() {
        let (len, bytes, value) = opcode(s, p);
        if index + len > REGISTERS {
            return Err(Corrupt);
        }
        run(index, len, value);
        index += len;
        p += bytes;
    }
    if index == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Valkey's hllSparseSet.
fn sparse_set(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: the opcode covering `index`, and the one before it.
    let (mut p, mut first, mut prev, mut span) = (HEADER, 0, None, 0);
    let mut bytes = 0;
    while p < s.len() {
        (span, bytes, _) = opcode(s, p);
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += bytes;
        first += span;
    }
    if span == 0 || p >= s.len() {
        return Err(Corrupt);
    }
    let op = s[p];
    let next = (p + bytes < s.len()).then_some(p + bytes);
    // Step 2: the trivial cases, then the split of the run.
    if is_val(op) {
        if val_value(op) >= count {
            return Ok(false);
        }
        if span == 1 {
            s[p] = val(count, 1);
            return Ok(updated(s, prev));
        }
    } else if !is_xzero(op) && span == 1 {
        s[p] = val(count, 1);
        return Ok(updated(s, prev));
    }
    let last = first + span - 1;
    let mut seq = [0u8; 5];
    let mut n = 0;
    if is_val(op) {
        let current = val_value(op);
        if index != first {
            seq[n] = val(current, index - first);
            n += 1;
        }
        seq[n] = val(count, 1);
        n += 1;
        if index != last {
            seq[n] = val(current, last - index);
            n += 1;
        }
    } else {
        if index != first {
            n += zeros(&mut seq[n..], index - first);
        }
        seq[n] = val(count, 1);
        n += 1;
        if index != last {
            n += zeros(&mut seq[n..], last - index);
        }
    }
    // Step 3: put the new sequence in place of the old opcode.
    let new_len = s.len() + n - bytes;
    if n > bytes && new_len > sparse_max {
        return promote(s, index, count);
    }
    match next {
        Some(next) => {
            s.splice(p..next, seq[..n].iter().copied());
        }
        None => {
            // A last XZERO cut short by the end still counts as 2 bytes.
            s.truncate(p);
            s.extend_from_slice(&seq[..n]);
            s.truncate(new_len);
        }
    }
    Ok(updated(s, prev))
}

/// The end of an in-place sparse update: merge neighbours from the opcode
/// before the changed one, and mark the cached cardinality stale (here,
/// as Valkey does, so a later failing element in the same PFADD leaves it
/// stale too).
fn updated(s: &mut Vec<u8>, prev: Option<usize>) -> bool {
    merge_neighbours(s, prev.unwrap_or(HEADER));
    invalidate_cache(s);
    true
}

/// Step 4 of hllSparseSet: from `p`, within five opcodes, merge adjacent
/// VALs of equal value whose lengths fit one VAL.
fn merge_neighbours(s: &mut Vec<u8>, mut p: usize) {
    let mut budget = 5;
    while p < s.len() && budget > 0 {
        budget -= 1;
        let op = s[p];
        if !is_val(op) {
            p += if is_xzero(op) { 2 } else { 1 };
            continue;
        }
        if let Some(&right) = s.get(p + 1)
            && is_val(right)
            && val_value(op) == val_value(right)
            && val_len(op) + val_len(right) <= VAL_MAX_LEN
        {
            s[p + 1] = val(val_value(op), val_len(op) + val_len(right));
            s.remove(p);
            continue;
        }
        p += 1;
    }
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    dense_raise(&mut s[HEADER..], index, count);
    Ok(true)
}

/// Rewrites a sparse HLL densely (header kept); Ok(false) if it already was.
pub fn to_dense(s: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if s[4] == DENSE {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HEADER].copy_from_slice(&s[..HEADER]);
    dense[4] = DENSE;
    let registers = &mut dense[HEADER..];
    for_each_run(s, |first, len, value| {
        if value > 0 {
            (first..first + len).for_each(|i| kernels::set(registers, i, value));
        }
    })?;
    *s = dense;
    Ok(true)
}

fn dense_registers(s: &[u8]) -> &[u8; DENSE_BYTES] {
    s[HEADER..]
        .try_into()
        .expect("a dense HLL's length was checked")
}

/// `max[i] = max(max[i], register i)` (PFMERGE, multi-key PFCOUNT).
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        kernels::merge_dense(max, dense_registers(s));
        return Ok(());
    }
    for_each_run(s, |first, len, value| {
        for m in &mut max[first..first + len] {
            *m = (*m).max(value);
        }
    })
}

/// Writes raw registers into a dense HLL.
pub fn store_raw(s: &mut [u8], raw: &[u8; REGISTERS]) {
    let registers: &mut [u8; DENSE_BYTES] = (&mut s[HEADER..])
        .try_into()
        .expect("a dense HLL's length was checked");
    kernels::compress(registers, raw);
}

/// The cardinality estimate of an HLL string.
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let histogram = if s[4] == DENSE {
        kernels::histogram_dense(dense_registers(s))
    } else {
        let mut h = [0; 64];
        for_each_run(s, |_, len, value| h[usize::from(value)] += len as u32)?;
        h
    };
    Ok(estimate(&histogram))
}

/// The cardinality estimate of raw registers.
pub fn count_raw(raw: &[u8; REGISTERS]) -> u64 {
    estimate(&kernels::histogram_raw(raw))
}

/// Ertl's improved estimator ("New cardinality estimation algorithms for
/// HyperLogLog sketches", arXiv:1702.01284), in Valkey's order of
/// floating-point operations so results agree to the last unit.
pub fn estimate(h: &Histogram) -> u64 {
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7; // 0.5 / ln 2
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(h[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(h[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(h[0]) / m);
    let e = (ALPHA_INF * m * m / z).round();
    // Beyond i64 (registers a client set absurdly high, z = 0): llroundl's
    // out-of-range result, LLONG_MIN, which Valkey then stores and replies.
    if e < 9_223_372_036_854_775_808.0 {
        e as u64
    } else {
        1 << 63
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// PFDEBUG DECODE: the sparse opcodes as "z:N", "Z:N" and "v:VALUE,N".
pub fn decode(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HEADER;
    while p < s.len() {
        let (len, bytes, value) = opcode(s, p);
        out.push(match (value, bytes) {
            (0, 1) => format!("z:{len}"),
            (0, _) => format!("Z:{len}"),
            _ => format!("v:{value},{len}"),
        });
        p += bytes;
    }
    out.join(" ")
}

/// Register `i` of a dense HLL.
pub fn register(s: &[u8], i: usize) -> u8 {
    kernels::get(&s[HEADER..], i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (register, count) of single elements as valkey-server 9.1 placed
    /// them (PFADD into an empty key, then PFDEBUG DECODE): lengths 0, 1,
    /// 5, a whole word, and two words plus one byte.
    #[test]
    fn pattern_matches_valkey() {
        let cases: [(&[u8], (usize, u8)); 5] = [
            (b"", (5938, 2)),
            (b"a", (12711, 2)),
            (b"hello", (9216, 1)),
            (b"foobar12", (15489, 2)),
            (b"0123456789abcdef0", (16236, 1)),
        ];
        for (element, expected) in cases {
            assert_eq!(pattern(element), expected, "{element:?}");
        }
    }

    #[test]
    fn empty_is_one_xzero() {
        let e = empty();
        assert_eq!(e, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert_eq!(encoding(&e), Some(Encoding::Sparse));
        assert_eq!(decode(&e), "Z:16384");
        assert_eq!(count(&e), Ok(0));
    }

    /// Sparse and dense agree on every register, and the sparse bytes stay
    /// canonical enough to decode to 16384 registers, through many adds.
    #[test]
    fn sparse_updates_match_dense() {
        let mut sparse = empty();
        let mut dense = empty();
        to_dense(&mut dense).unwrap();
        for i in 0..3000u32 {
            let (index, c) = pattern(&i.to_le_bytes());
            let a = add(&mut sparse, index, c, usize::MAX).unwrap();
            let b = add(&mut dense, index, c, usize::MAX).unwrap();
            assert_eq!(a, b, "element {i}");
            if i % 250 == 0 {
                let mut copy = sparse.clone();
                to_dense(&mut copy).unwrap();
                assert_eq!(copy[HEADER..], dense[HEADER..]);
                assert_eq!(count(&sparse), count(&dense));
            }
        }
        assert_eq!(encoding(&sparse), Some(Encoding::Sparse));
    }

    #[test]
    fn estimate_is_close() {
        let mut s = empty();
        for i in 0..100_000u32 {
            let (index, c) = pattern(format!("e{i}").as_bytes());
            add(&mut s, index, c, 3000).unwrap();
        }
        let n = count(&s).unwrap() as f64;
        assert!((n - 100_000.0).abs() < 100_000.0 * 0.05, "{n}");
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        let mut s = empty();
        s.push(0x00); // one register too many
        assert_eq!(count(&s), Err(Corrupt));
        assert_eq!(to_dense(&mut s.clone()), Err(Corrupt));
        s.truncate(HEADER + 1); // XZERO cut short: 0x7f00 + 1 registers
        assert_eq!(count(&s), Err(Corrupt));
        let mut s = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec();
        assert_eq!(add(&mut s, 5, 3, 3000), Err(Corrupt));
    }
}
