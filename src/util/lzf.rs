//! LZF, the compression format Valkey uses for quicklist nodes (and RDB
//! strings): a stream of literal runs and back references.
//!
//! - control byte `000LLLLL`: a literal run of L + 1 bytes (1..=32) follows;
//! - control byte `LLLOOOOO` with L in 1..=6, then one byte: a back
//!   reference of L + 2 bytes, at distance ((OOOOO << 8) | byte) + 1;
//! - L = 7: one extra length byte is added to L first (up to 264 bytes).
//!
//! The compressor is greedy, finding earlier occurrences of each 3-byte
//! sequence through a small hash table. Any LZF decoder reads its output.

/// Longest literal run one control byte announces.
const MAX_LITERAL: usize = 32;
/// Longest back reference: 7 + 255 + 2.
const MAX_MATCH: usize = 264;
/// Farthest back a reference reaches.
const MAX_DISTANCE: usize = 1 << 13;
/// The hash table's size, in bits: 4096 entries of 4 bytes, on the stack.
const HASH_BITS: u32 = 12;

fn hash(b: &[u8]) -> usize {
    let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
}

/// `input` compressed, or None when that takes more than `max_out` bytes
/// (then the caller keeps the input as it is).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(max_out.min(input.len() + input.len() / 32 + 1));
    // Positions + 1 of the latest 3-byte sequence with each hash (0: none).
    let mut table = [0u32; 1 << HASH_BITS];
    let (mut i, mut literal_from, mut last_distance) = (0, 0, 0);
    while i + 3 <= input.len() {
        let h = hash(&input[i..]);
        let latest = (table[h] as usize).checked_sub(1);
        table[h] = (i + 1) as u32;
        // The latest occurrence, or the previous match's distance again
        // (which follows a repeating record, such as a listpack's
        // entries, where the latest occurrence breaks off early).
        let again = i.checked_sub(last_distance).filter(|_| last_distance > 0);
        let Some((c, len)) = [latest, again]
            .into_iter()
            .flatten()
            .filter(|&c| i - c <= MAX_DISTANCE)
            .map(|c| (c, match_len(input, c, i)))
            .filter(|&(_, len)| len >= 3)
            .max_by_key(|&(_, len)| len)
        else {
            i += 1;
            continue;
        };
        literals(&mut out, &input[literal_from..i]);
        last_distance = i - c;
        let (distance, code) = (i - c - 1, len - 2);
        if code < 7 {
            out.push(((code << 5) | (distance >> 8)) as u8);
        } else {
            out.push(((7 << 5) | (distance >> 8)) as u8);
            out.push((code - 7) as u8);
        }
        out.push(distance as u8);
        if out.len() > max_out {
            return None;
        }
        // Positions inside the match become candidates too.
        for p in i + 1..(i + len).min(input.len() - 2) {
            table[hash(&input[p..])] = (p + 1) as u32;
        }
        i += len;
        literal_from = i;
    }
    literals(&mut out, &input[literal_from..]);
    (out.len() <= max_out).then_some(out)
}

/// How many bytes from `i` repeat those from `c` (< `i`), up to a
/// reference's longest.
fn match_len(input: &[u8], c: usize, i: usize) -> usize {
    let limit = MAX_MATCH.min(input.len() - i);
    (0..limit)
        .position(|k| input[c + k] != input[i + k])
        .unwrap_or(limit)
}

fn literals(out: &mut Vec<u8>, bytes: &[u8]) {
    for run in bytes.chunks(MAX_LITERAL) {
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
    }
}

/// The `raw_len` bytes `input` decompresses to; None if `input` is not
/// LZF or does not decompress to exactly that many bytes.
pub fn decompress(input: &[u8], raw_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < MAX_LITERAL {
            let run = input.get(i..i + ctrl + 1)?;
            if out.len() + run.len() > raw_len {
                return None;
            }
            out.extend_from_slice(run);
            i += run.len();
            continue;
        }
        let mut len = ctrl >> 5;
        if len == 7 {
            len += usize::from(*input.get(i)?);
            i += 1;
        }
        len += 2;
        let distance = ((ctrl & 0x1f) << 8 | usize::from(*input.get(i)?)) + 1;
        i += 1;
        let from = out.len().checked_sub(distance)?;
        if out.len() + len > raw_len {
            return None;
        }
        // A reference may overlap the bytes it produces: copy what exists,
        // which doubles each round.
        let end = out.len() + len;
        while out.len() < end {
            let n = (end - out.len()).min(out.len() - from);
            out.extend_from_within(from..from + n);
        }
    }
    (out.len() == raw_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(data: &[u8]) {
        if let Some(c) = compress(data, data.len() + data.len() / 16 + 64) {
            assert_eq!(decompress(&c, data.len()).as_deref(), Some(data));
        }
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(0u8..4, 0..20000)) {
            let c = compress(&data, usize::MAX).expect("no limit");
            prop_assert_eq!(decompress(&c, data.len()), Some(data));
        }

        #[test]
        fn round_trips_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            round_trip(&data);
        }

        /// Garbage never panics and never yields more than asked for.
        #[test]
        fn garbage_is_refused_or_bounded(data in proptest::collection::vec(any::<u8>(), 0..200), raw_len in 0usize..500) {
            if let Some(out) = decompress(&data, raw_len) {
                prop_assert_eq!(out.len(), raw_len);
            }
        }
    }

    #[test]
    fn repetitive_input_shrinks_and_long_matches_use_the_extra_length_byte() {
        let data: Vec<u8> = b"element:12345;".repeat(1000);
        let c = compress(&data, data.len()).expect("compressible");
        assert!(c.len() < data.len() / 20, "{} bytes", c.len());
        assert!(c.iter().any(|&b| b >> 5 == 7), "a long match");
        assert_eq!(decompress(&c, data.len()), Some(data.clone()));
        // The wrong length is refused, not truncated or padded.
        assert_eq!(decompress(&c, data.len() - 1), None);
        assert_eq!(decompress(&c, data.len() + 1), None);
    }

    /// A node of repeated listpack entries compresses to a few bytes per
    /// 264 (the longest reference).
    #[test]
    fn repeating_records_compress_to_long_references() {
        let mut entry = vec![0x80 | 40];
        entry.extend([b'x'; 40]);
        entry.push(41);
        let node = entry.repeat(190);
        let c = compress(&node, node.len()).expect("compressible");
        assert!(c.len() < 200, "{} bytes", c.len());
        assert_eq!(decompress(&c, node.len()), Some(node));
    }

    #[test]
    fn a_limit_too_small_gives_none() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(compress(&data, 10), None);
        assert_eq!(compress(b"", 0), Some(Vec::new()));
    }

    /// A hand-made stream: the literal "abc", then a reference to it of
    /// length 7 at distance 3 (overlapping its own output).
    #[test]
    fn decodes_the_format() {
        let stream = [2, b'a', b'b', b'c', (5 << 5), 2];
        assert_eq!(decompress(&stream, 10).as_deref(), Some(&b"abcabcabca"[..]));
        // A reference before the start is refused.
        assert_eq!(decompress(&[(1 << 5), 0], 3), None);
    }
}
