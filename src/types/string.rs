//! The string value and Valkey's three encodings of it.
//!
//! `int` holds a 64-bit integer; otherwise the bytes are kept and reported as
//! `embstr` while they would fit Valkey's single 128-byte allocation (object
//! header, embedded key and value), else `raw`. Once raw, always raw, as in
//! Valkey (APPEND and SETRANGE make a string raw at once).
//!
//! Independently of what OBJECT ENCODING reports, short byte strings are
//! stored in place (no heap allocation, no pointer to chase on GET).

use crate::util::parse_i64;

/// Longest byte string stored in place.
const INLINE_MAX: usize = 22;

/// A byte string stored in place when short, on the heap otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum Bytes {
    Inline { len: u8, buf: [u8; INLINE_MAX] },
    Heap(Vec<u8>),
}

impl Bytes {
    /// Takes ownership of `data` (short values still go inline).
    pub fn from_vec(data: Vec<u8>) -> Self {
        if data.len() <= INLINE_MAX {
            Bytes::new(&data)
        } else {
            Bytes::Heap(data)
        }
    }

    pub fn new(data: &[u8]) -> Self {
        if data.len() <= INLINE_MAX {
            let mut buf = [0; INLINE_MAX];
            buf[..data.len()].copy_from_slice(data);
            Bytes::Inline {
                len: data.len() as u8,
                buf,
            }
        } else {
            Bytes::Heap(data.to_vec())
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline { len, buf } => &buf[..*len as usize],
            Bytes::Heap(v) => v,
        }
    }

    /// The bytes as a growable vector (moved to the heap if needed).
    pub fn make_mut(&mut self) -> &mut Vec<u8> {
        if let Bytes::Inline { .. } = self {
            *self = Bytes::Heap(self.as_slice().to_vec());
        }
        match self {
            Bytes::Heap(v) => v,
            Bytes::Inline { .. } => unreachable!("moved to the heap above"),
        }
    }
}

/// A string value borrowed: from a `StrValue`, or from a keyspace node
/// that stores short strings in place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StrRef<'a> {
    Int(i64),
    Bytes { data: &'a [u8], raw: bool },
}

impl<'a> StrRef<'a> {
    pub fn len(self) -> usize {
        match self {
            StrRef::Int(v) => itoa::Buffer::new().format(v).len(),
            StrRef::Bytes { data, .. } => data.len(),
        }
    }

    /// The string's bytes; integers are rendered into `scratch`.
    pub fn as_bytes<'s>(self, scratch: &'s mut itoa::Buffer) -> &'s [u8]
    where
        'a: 's,
    {
        match self {
            StrRef::Int(v) => scratch.format(v).as_bytes(),
            StrRef::Bytes { data, .. } => data,
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.as_bytes(&mut itoa::Buffer::new()).to_vec()
    }

    /// The integer value, if the string holds one (as INCR reads it).
    pub fn as_i64(self) -> Option<i64> {
        match self {
            StrRef::Int(v) => Some(v),
            StrRef::Bytes { data, .. } => parse_i64(data),
        }
    }

    pub fn to_owned(self) -> StrValue {
        match self {
            StrRef::Int(v) => StrValue::Int(v),
            StrRef::Bytes { data, raw } => StrValue::Bytes {
                data: Bytes::new(data),
                raw,
            },
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            StrRef::Int(_) => "int",
            StrRef::Bytes { raw: true, .. } => "raw",
            StrRef::Bytes { raw: false, .. } => "embstr",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrValue {
    Int(i64),
    Bytes { data: Bytes, raw: bool },
}

/// Largest allocation Valkey embeds a string value in.
const EMBED_LIMIT: usize = 128;

/// Whether Valkey would embed a value of `value_len` bytes together with a
/// key of `key_len` bytes (and an expire time when `has_expire`).
pub fn fits_embedded(key_len: usize, value_len: usize, has_expire: bool) -> bool {
    let key_header = match key_len {
        0..32 => 1,
        32..256 => 3,
        256..65536 => 5,
        _ => 9,
    };
    let value_header = match value_len {
        0..256 => 3,
        256..65536 => 5,
        _ => 9,
    };
    // object header (8) + key-header-size byte (1) + key sds + value sds.
    let total = 8
        + 1
        + key_header
        + key_len
        + 1
        + value_header
        + value_len
        + 1
        + if has_expire { 8 } else { 0 };
    total <= EMBED_LIMIT
}

impl StrValue {
    /// Heap bytes held: none for integers and short strings kept inline.
    pub fn heap_bytes(&self) -> usize {
        match self {
            StrValue::Bytes {
                data: Bytes::Heap(v),
                ..
            } => v.capacity(),
            _ => 0,
        }
    }

    /// A value as SET stores it: integers that round-trip become `int`.
    pub fn from_bytes(data: &[u8]) -> Self {
        if data.len() <= 20
            && let Some(v) = parse_i64(data)
        {
            return StrValue::Int(v);
        }
        StrValue::plain(data)
    }

    /// A value that keeps its bytes even if they look like an integer
    /// (results of APPEND, SETRANGE: raw from the start).
    pub fn raw(data: &[u8]) -> Self {
        StrValue::Bytes {
            data: Bytes::new(data),
            raw: true,
        }
    }

    /// [`StrValue::raw`] for a value built in a buffer of its own (BITOP).
    pub fn raw_owned(data: Vec<u8>) -> Self {
        StrValue::Bytes {
            data: Bytes::from_vec(data),
            raw: true,
        }
    }

    /// A freshly created non-integer string (INCRBYFLOAT results, copies).
    pub fn plain(data: &[u8]) -> Self {
        StrValue::Bytes {
            data: Bytes::new(data),
            raw: false,
        }
    }

    pub fn as_ref(&self) -> StrRef<'_> {
        match self {
            StrValue::Int(v) => StrRef::Int(*v),
            StrValue::Bytes { data, raw } => StrRef::Bytes {
                data: data.as_slice(),
                raw: *raw,
            },
        }
    }

    /// Makes the string's bytes mutable, turning it raw (APPEND, SETRANGE).
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if let StrValue::Int(v) = *self {
            *self = StrValue::raw(itoa::Buffer::new().format(v).as_bytes());
        }
        match self {
            StrValue::Bytes { data, raw } => {
                *raw = true;
                data.make_mut()
            }
            StrValue::Int(_) => unreachable!("converted above"),
        }
    }

    /// Re-checks embedding after the key or its expire changed: a string
    /// that no longer fits becomes raw for good.
    pub fn reembed(&mut self, key_len: usize, has_expire: bool) {
        if let StrValue::Bytes { data, raw } = self
            && !*raw
            && !fits_embedded(key_len, data.as_slice().len(), has_expire)
        {
            *raw = true;
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        self.as_ref().encoding_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_limits_observed_in_valkey() {
        // (key length, largest embedded value without / with an expire),
        // measured against valkey-server 9.1.
        for (key, plain, with_expire) in [
            (1, 112, 104),
            (10, 103, 95),
            (30, 83, 75),
            (40, 71, 63),
            (100, 11, 3),
        ] {
            assert!(fits_embedded(key, plain, false));
            assert!(!fits_embedded(key, plain + 1, false));
            assert!(fits_embedded(key, with_expire, true));
            assert!(!fits_embedded(key, with_expire + 1, true));
        }
        assert!(!fits_embedded(120, 0, false));
    }

    #[test]
    fn integers_are_int_encoded() {
        assert_eq!(StrValue::from_bytes(b"123"), StrValue::Int(123));
        assert_eq!(StrValue::from_bytes(b"-0").encoding_name(), "embstr");
        assert_eq!(StrValue::from_bytes(b" 1").encoding_name(), "embstr");
        assert_eq!(
            StrValue::from_bytes(b"12345678901234567890").encoding_name(),
            "embstr"
        );
    }

    #[test]
    fn inline_and_heap_bytes_behave_alike() {
        for len in [0, 1, 22, 23, 300] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut b = Bytes::new(&data);
            assert_eq!(b.as_slice(), &data[..]);
            assert_eq!(matches!(b, Bytes::Inline { .. }), len <= INLINE_MAX);
            b.make_mut().push(7);
            assert_eq!(b.as_slice().len(), len + 1);
            assert_eq!(b.as_slice()[len], 7);
        }
    }
}
