//! Valkey's listpack: a sequence of strings and integers in one contiguous
//! allocation, byte for byte Valkey's format (so RDB can carry it as is).
//!
//! Layout: total bytes (u32 LE), element count (u16 LE; 65535 = unknown,
//! count by walking), entries, then 0xFF. Each entry is an encoding byte
//! with its data, then a "backlen": the entry's encoded size in 1..=5
//! bytes, 7 bits each, read right to left, so the list walks both ways.
//! Encodings: 7-bit uint `0xxxxxxx`; 6-bit-length string `10xxxxxx`;
//! 13-bit int `110xxxxx`; 12-bit-length string `1110xxxx`; 0xF0 32-bit
//! length string; 0xF1..0xF4 16/24/32/64-bit ints. Strings that are
//! canonical integers are stored as integers, as Valkey does.

use crate::util::parse_i64;

const HEADER: usize = 6;
const EOF: u8 = 0xff;
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One element: an integer, or bytes inside the listpack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl<'a> Item<'a> {
    /// The element's bytes (integers rendered into `buf`).
    pub fn bytes<'b>(&'b self, buf: &'b mut itoa::Buffer) -> &'b [u8] {
        match self {
            Item::Int(v) => buf.format(*v).as_bytes(),
            Item::Str(s) => s,
        }
    }

    /// The element's bytes, borrowed from the listpack when it holds them
    /// as a string.
    pub fn to_cow(self) -> std::borrow::Cow<'a, [u8]> {
        match self {
            Item::Int(v) => itoa::Buffer::new().format(v).as_bytes().to_vec().into(),
            Item::Str(s) => s.into(),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.bytes(&mut itoa::Buffer::new()).to_vec()
    }

    /// Whether the element equals `other` as a string.
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        match self {
            Item::Str(s) => *s == other,
            Item::Int(v) => itoa::Buffer::new().format(*v).as_bytes() == other,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listpack(Vec<u8>);

impl Default for Listpack {
    fn default() -> Self {
        Self::new()
    }
}

impl Listpack {
    /// Heap bytes held (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity()
    }

    pub fn new() -> Listpack {
        let mut lp = Listpack(vec![0, 0, 0, 0, 0, 0, EOF]);
        lp.set_total();
        lp
    }

    /// The listpack's bytes, as Valkey stores them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The size of the listpack whose bytes start with `header` (its
    /// first 4 bytes).
    pub fn total_len(header: &[u8]) -> usize {
        u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize
    }

    /// A listpack from bytes `as_bytes` gave (a decompressed quicklist
    /// node): trusted, not validated.
    pub fn from_own_bytes(bytes: Vec<u8>) -> Listpack {
        debug_assert_eq!(bytes.last(), Some(&EOF));
        Listpack(bytes)
    }

    /// Its size in bytes (Valkey's lpBytes).
    pub fn total_bytes(&self) -> usize {
        self.0.len()
    }

    pub fn len(&self) -> usize {
        match u16::from_le_bytes([self.0[4], self.0[5]]) {
            COUNT_UNKNOWN => self.iter().count(),
            n => usize::from(n),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0[HEADER] == EOF
    }

    fn set_total(&mut self) {
        let total = self.0.len() as u32;
        self.0[..4].copy_from_slice(&total.to_le_bytes());
    }

    /// Adjusts the header's element count, which stays "unknown" once it
    /// reached 65535 (then `len` walks), as in Valkey.
    fn add_count(&mut self, delta: isize) {
        let n = u16::from_le_bytes([self.0[4], self.0[5]]);
        if n == COUNT_UNKNOWN {
            return;
        }
        let n = usize::from(n)
            .checked_add_signed(delta)
            .expect("a listpack never holds fewer than zero elements");
        let stored = u16::try_from(n).unwrap_or(COUNT_UNKNOWN);
        self.0[4..6].copy_from_slice(&stored.to_le_bytes());
    }

    /// Offset of the first element.
    pub fn first(&self) -> Option<usize> {
        (self.0[HEADER] != EOF).then_some(HEADER)
    }

    /// Offset of the last element.
    pub fn last(&self) -> Option<usize> {
        self.prev(self.0.len() - 1)
    }

    /// Offset of the element after the one at `p`.
    pub fn next(&self, p: usize) -> Option<usize> {
        let n = p + self.entry_size(p);
        (self.0[n] != EOF).then_some(n)
    }

    /// Offset of the element before `p` (`p` may be the end marker's).
    pub fn prev(&self, p: usize) -> Option<usize> {
        if p <= HEADER {
            return None;
        }
        let (size, bytes) = decode_backlen(&self.0, p - 1);
        Some(p - bytes - size)
    }

    /// Offset of element `index` (negative: from the end).
    pub fn seek(&self, index: i64) -> Option<usize> {
        if index >= 0 {
            let mut p = self.first();
            for _ in 0..index {
                p = self.next(p?);
            }
            p
        } else {
            let mut p = self.last();
            for _ in 0..(-(index + 1)) {
                p = self.prev(p?);
            }
            p
        }
    }

    /// The element at offset `p`.
    pub fn get(&self, p: usize) -> Item<'_> {
        let b = &self.0[p..];
        let e = b[0];
        let int = |n: usize| {
            let mut le = [0u8; 8];
            le[..n].copy_from_slice(&b[1..1 + n]);
            // Sign-extend from n bytes.
            let shift = 64 - 8 * n as u32;
            Item::Int((i64::from_le_bytes(le) << shift) >> shift)
        };
        match e {
            0x00..=0x7f => Item::Int(i64::from(e)),
            0x80..=0xbf => Item::Str(&b[1..1 + usize::from(e & 0x3f)]),
            0xc0..=0xdf => {
                let v = (u16::from(e & 0x1f) << 8 | u16::from(b[1])) as i64;
                Item::Int(if v >= 1 << 12 { v - (1 << 13) } else { v })
            }
            0xe0..=0xef => {
                let len = usize::from(e & 0x0f) << 8 | usize::from(b[1]);
                Item::Str(&b[2..2 + len])
            }
            0xf0 => {
                let len = u32::from_le_bytes(b[1..5].try_into().expect("4 bytes")) as usize;
                Item::Str(&b[5..5 + len])
            }
            0xf1 => int(2),
            0xf2 => int(3),
            0xf3 => int(4),
            0xf4 => int(8),
            _ => unreachable!("listpack entries are written by this module"),
        }
    }

    /// Encoded size of the element at `p` without its backlen.
    fn encoded_size(&self, p: usize) -> usize {
        let b = &self.0[p..];
        match b[0] {
            0x00..=0x7f => 1,
            e @ 0x80..=0xbf => 1 + usize::from(e & 0x3f),
            0xc0..=0xdf => 2,
            e @ 0xe0..=0xef => 2 + (usize::from(e & 0x0f) << 8 | usize::from(b[1])),
            0xf0 => 5 + u32::from_le_bytes(b[1..5].try_into().expect("4 bytes")) as usize,
            0xf1 => 3,
            0xf2 => 4,
            0xf3 => 5,
            0xf4 => 9,
            _ => unreachable!("listpack entries are written by this module"),
        }
    }

    /// Full size of the element at `p`, backlen included.
    fn entry_size(&self, p: usize) -> usize {
        let size = self.encoded_size(p);
        size + backlen_size(size)
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter {
            lp: self,
            front: self.first(),
            back: self.last(),
        }
    }

    /// Inserts `ele` before the element at `p`, or at the end when `p` is
    /// the end marker's offset. Returns the new element's offset.
    pub fn insert(&mut self, p: usize, ele: &[u8]) -> usize {
        let mut entry = Vec::with_capacity(ele.len() + 10);
        encode(ele, &mut entry);
        // Exactly the room needed, as Valkey reallocates: a listpack is
        // for memory, not amortised growth.
        self.0.reserve_exact(entry.len());
        self.0.splice(p..p, entry);
        self.set_total();
        self.add_count(1);
        p
    }

    pub fn push_back(&mut self, ele: &[u8]) {
        self.insert(self.0.len() - 1, ele);
    }

    pub fn push_front(&mut self, ele: &[u8]) {
        self.insert(HEADER, ele);
    }

    /// End marker offset (insert here to append).
    pub fn end(&self) -> usize {
        self.0.len() - 1
    }

    /// Deletes `count` elements from `p` on (fewer if the list ends).
    pub fn delete_range(&mut self, p: usize, count: usize) {
        let mut end = p;
        let mut n = 0;
        while n < count && self.0[end] != EOF {
            end += self.entry_size(end);
            n += 1;
        }
        self.0.drain(p..end);
        self.set_total();
        self.add_count(-(n as isize));
        self.trim();
    }

    /// Replaces the element at `p` with `ele`.
    pub fn replace(&mut self, p: usize, ele: &[u8]) {
        let size = self.entry_size(p);
        let mut entry = Vec::with_capacity(ele.len() + 10);
        encode(ele, &mut entry);
        self.0.reserve_exact(entry.len().saturating_sub(size));
        self.0.splice(p..p + size, entry);
        self.set_total();
        self.trim();
    }

    /// Gives back room left by removals (Valkey shrinks its allocation).
    fn trim(&mut self) {
        if self.0.capacity() - self.0.len() > self.0.len() / 4 + 16 {
            self.0.shrink_to_fit();
        }
    }
}

pub struct Iter<'a> {
    lp: &'a Listpack,
    front: Option<usize>,
    back: Option<usize>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        let p = self.front?;
        if Some(p) == self.back {
            (self.front, self.back) = (None, None);
        } else {
            self.front = self.lp.next(p);
        }
        Some(self.lp.get(p))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let p = self.back?;
        if Some(p) == self.front {
            (self.front, self.back) = (None, None);
        } else {
            self.back = self.lp.prev(p);
        }
        Some(self.lp.get(p))
    }
}

/// Bytes a backlen of `size` takes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

/// Appends `size` as a backlen: its 7-bit groups, most significant first,
/// every byte after the first flagged (read right to left, the flag says
/// "more bytes to the left").
fn push_backlen(out: &mut Vec<u8>, size: usize) {
    let n = backlen_size(size);
    for i in (0..n).rev() {
        let group = ((size >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Reads the backlen whose last byte is at `end`: (size, bytes used).
fn decode_backlen(buf: &[u8], end: usize) -> (usize, usize) {
    let (mut size, mut i, mut shift) = (0, end, 0);
    loop {
        let b = buf[i];
        size |= usize::from(b & 127) << shift;
        if b & 128 == 0 {
            return (size, end - i + 1);
        }
        shift += 7;
        i -= 1;
    }
}

/// Appends `ele`'s entry (encoding, data, backlen) to `out`.
fn encode(ele: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    match (ele.len() <= 20).then(|| parse_i64(ele)).flatten() {
        Some(v) => encode_int(v, out),
        None => {
            let len = ele.len();
            if len < 64 {
                out.push(0x80 | len as u8);
            } else if len < 4096 {
                out.extend_from_slice(&[0xe0 | (len >> 8) as u8, len as u8]);
            } else {
                out.push(0xf0);
                out.extend_from_slice(&(len as u32).to_le_bytes());
            }
            out.extend_from_slice(ele);
        }
    }
    let size = out.len() - start;
    push_backlen(out, size);
}

fn encode_int(v: i64, out: &mut Vec<u8>) {
    let le = v.to_le_bytes();
    match v {
        0..=127 => out.push(v as u8),
        -4096..=4095 => {
            let u = (v as u16) & 0x1fff;
            out.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
        }
        -32768..=32767 => {
            out.push(0xf1);
            out.extend_from_slice(&le[..2]);
        }
        -8_388_608..=8_388_607 => {
            out.push(0xf2);
            out.extend_from_slice(&le[..3]);
        }
        -2_147_483_648..=2_147_483_647 => {
            out.push(0xf3);
            out.extend_from_slice(&le[..4]);
        }
        _ => {
            out.push(0xf4);
            out.extend_from_slice(&le);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodings_are_valkeys() {
        let mut lp = Listpack::new();
        assert_eq!(lp.as_bytes(), &[7, 0, 0, 0, 0, 0, 0xff]);
        lp.push_back(b"a");
        lp.push_back(b"5");
        lp.push_back(b"-1");
        lp.push_back(b"1000");
        lp.push_back(b"05");
        // "a": 6-bit string 0x81 'a', backlen 2; 5: 7-bit uint, backlen 1;
        // -1: 13-bit 0xdf 0xff, backlen 2; 1000: 13-bit 0xc3 0xe8;
        // "05" is not canonical, so a string.
        assert_eq!(
            lp.as_bytes(),
            &[
                22, 0, 0, 0, 5, 0, 0x81, b'a', 2, 5, 1, 0xdf, 0xff, 2, 0xc3, 0xe8, 2, 0x82, b'0',
                b'5', 3, 0xff
            ][..]
        );
        let long = vec![b'x'; 200];
        let mut lp = Listpack::new();
        lp.push_back(&long);
        // 12-bit string: 0xe0 | 0, 200; size 202 -> backlen 0x01, 0xca.
        assert_eq!(&lp.as_bytes()[6..8], &[0xe0, 200]);
        assert_eq!(&lp.as_bytes()[208..211], &[0x01, 0xca, 0xff]);
        assert_eq!(lp.last(), Some(6));
    }

    /// A listpack against a Vec of byte strings, through random edits.
    #[derive(Debug, Clone)]
    enum Op {
        PushBack(Vec<u8>),
        PushFront(Vec<u8>),
        Insert(usize, Vec<u8>),
        Delete(usize),
        Replace(usize, Vec<u8>),
        DeleteRange(usize, usize),
    }

    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..80),
            proptest::collection::vec(any::<u8>(), 60..5000),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            element().prop_map(Op::PushBack),
            element().prop_map(Op::PushFront),
            (any::<usize>(), element()).prop_map(|(i, e)| Op::Insert(i, e)),
            any::<usize>().prop_map(Op::Delete),
            (any::<usize>(), element()).prop_map(|(i, e)| Op::Replace(i, e)),
            (any::<usize>(), 0usize..5).prop_map(|(i, n)| Op::DeleteRange(i, n)),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_vec(ops in proptest::collection::vec(op(), 0..60)) {
            let mut lp = Listpack::new();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for op in ops {
                match op {
                    Op::PushBack(e) => { lp.push_back(&e); model.push(e); }
                    Op::PushFront(e) => { lp.push_front(&e); model.insert(0, e); }
                    Op::Insert(i, e) => {
                        let i = i % (model.len() + 1);
                        let p = lp.seek(i as i64).unwrap_or(lp.end());
                        lp.insert(p, &e);
                        model.insert(i, e);
                    }
                    Op::Delete(i) if !model.is_empty() => {
                        let i = i % model.len();
                        lp.delete_range(lp.seek(i as i64).unwrap(), 1);
                        model.remove(i);
                    }
                    Op::Replace(i, e) if !model.is_empty() => {
                        let i = i % model.len();
                        lp.replace(lp.seek(i as i64).unwrap(), &e);
                        model[i] = e;
                    }
                    Op::DeleteRange(i, n) if !model.is_empty() => {
                        let i = i % model.len();
                        lp.delete_range(lp.seek(i as i64).unwrap(), n);
                        model.drain(i..(i + n).min(model.len()));
                    }
                    _ => {}
                }
                prop_assert_eq!(lp.len(), model.len());
                prop_assert_eq!(lp.total_bytes(), u32::from_le_bytes(lp.as_bytes()[..4].try_into().unwrap()) as usize);
                let forward: Vec<Vec<u8>> = lp.iter().map(|i| i.to_vec()).collect();
                prop_assert_eq!(&forward, &model);
                let mut backward: Vec<Vec<u8>> = lp.iter().rev().map(|i| i.to_vec()).collect();
                backward.reverse();
                prop_assert_eq!(&backward, &model);
                for (k, m) in model.iter().enumerate() {
                    let from_end = k as i64 - model.len() as i64;
                    prop_assert!(lp.get(lp.seek(from_end).unwrap()).eq_bytes(m));
                }
            }
        }
    }
}
