//! How many bytes Valkey's RDB format takes for a value (rdbSavedObjectLen,
//! DEBUG OBJECT's `serializedlength`), type byte and key excluded:
//!
//! - lengths: 1 byte below 64, 2 below 16384, 5 up to u32::MAX, else 9;
//! - strings: integers that fit 32 bits as 2, 3 or 5 bytes; other strings
//!   longer than 20 bytes LZF-compressed when that saves at least 4 bytes
//!   (a marker, both lengths, the data); else the length and the bytes;
//! - compact encodings (listpack, intset) as one string of their bytes;
//!   a quicklist as its node count and, per node, its container (1 plain,
//!   2 packed) and its bytes (a compressed node as its LZF data);
//! - tables as their length and each member (a sorted set's score as an
//!   8-byte double, a hash with field TTLs an 8-byte time per field).
//!
//! The LZF coder is ours, not liblzf: for compressible strings over 20
//! bytes the length can differ from Valkey's by a few bytes.

use super::{Hash, List, Packed, Set, StrRef, Value, ValueRef, ZSet};
use crate::util::{lzf, parse_i64};

/// A length's own size.
fn len_len(n: usize) -> usize {
    match n {
        0..64 => 1,
        64..16384 => 2,
        _ if n <= u32::MAX as usize => 5,
        _ => 9,
    }
}

/// An integer in the special encodings: 8, 16 or 32 bits after a marker.
fn int_len(v: i64) -> Option<usize> {
    if i8::try_from(v).is_ok() {
        Some(2)
    } else if i16::try_from(v).is_ok() {
        Some(3)
    } else if i32::try_from(v).is_ok() {
        Some(5)
    } else {
        None
    }
}

/// rdbSaveRawString's length.
pub fn string_len(s: &[u8]) -> usize {
    if s.len() <= 11
        && let Some(n) = parse_i64(s).and_then(int_len)
    {
        return n;
    }
    if s.len() > 20
        && let Some(c) = lzf::compress(s, s.len() - 4)
    {
        return 1 + len_len(c.len()) + len_len(s.len()) + c.len();
    }
    len_len(s.len()) + s.len()
}

/// An `int`-encoded string's length (rdbSaveLongLongAsStringObject).
fn int_string_len(v: i64) -> usize {
    int_len(v).unwrap_or_else(|| {
        let digits = itoa::Buffer::new().format(v).len();
        len_len(digits) + digits
    })
}

/// The value's RDB length.
pub fn value_len(value: ValueRef<'_>) -> usize {
    let value = match value {
        ValueRef::Str(StrRef::Int(v)) => return int_string_len(v),
        ValueRef::Str(StrRef::Bytes { data, .. }) => return string_len(data),
        ValueRef::Packed(kind, bytes) => return packed_len(kind, bytes),
        ValueRef::Value(v) => v,
    };
    if let Some((kind, bytes)) = value.packed() {
        return packed_len(kind, &bytes);
    }
    match value {
        Value::Str(s) => value_len(ValueRef::Str(s.as_ref())),
        Value::List(List::Quicklist(q)) => q.rdb_len(),
        Value::Set(Set::Table(t)) => {
            len_len(t.len()) + t.iter().map(|m| string_len(m.key())).sum::<usize>()
        }
        Value::Hash(h @ Hash::Table(t)) => {
            let ttl = if h.has_ttls() { 8 } else { 0 };
            len_len(t.fields.len())
                + t.fields
                    .iter()
                    .map(|m| ttl + string_len(m.key()) + string_len(m.value()))
                    .sum::<usize>()
        }
        Value::ZSet(ZSet::Skiplist(t)) => {
            len_len(t.scores.len())
                + t.scores
                    .iter()
                    .map(|m| string_len(m.key()) + 8)
                    .sum::<usize>()
        }
        _ => unreachable!("compact encodings are packed above"),
    }
}

/// A compact collection: one string of its bytes (a listpack list as a
/// quicklist of one packed node).
fn packed_len(kind: Packed, bytes: &[u8]) -> usize {
    match kind {
        Packed::List => quicklist_len(1, std::iter::once(string_len(bytes))),
        _ => string_len(bytes),
    }
}

/// A compressed quicklist node's blob (rdbSaveLzfBlob).
pub fn lzf_blob_len(compressed: usize, raw: usize) -> usize {
    1 + len_len(compressed) + len_len(raw) + compressed
}

/// A quicklist's length from its nodes' blob lengths: node count, then
/// each node's container and blob (a listpack list is one packed node).
pub fn quicklist_len(nodes: usize, blobs: impl Iterator<Item = usize>) -> usize {
    len_len(nodes) + blobs.map(|b| len_len(2) + b).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths Valkey 9.1's DEBUG OBJECT reported for the same values.
    #[test]
    fn valkeys_lengths() {
        assert_eq!(string_len(b"hello"), 6);
        assert_eq!(string_len(b"12345"), 3);
        assert_eq!(string_len(b"-5"), 2);
        assert_eq!(string_len(b" 5"), 3);
        assert_eq!(string_len(b""), 1);
        assert_eq!(int_string_len(12_345_678_901), 12);
        assert_eq!(int_string_len(5), 2);
        // 200 members m1..m200: length 2 bytes, then each member.
        let members: usize = (1..=200)
            .map(|i| string_len(format!("m{i}").as_bytes()))
            .sum();
        assert_eq!(len_len(200) + members, 894);
        // Uncompressible long strings stay raw.
        let noise: Vec<u8> = (0..100u32).map(|i| (i * 7919 % 251) as u8).collect();
        assert_eq!(string_len(&noise), 2 + 100);
        assert!(string_len(&[b'a'; 100]) < 20);
    }
}
