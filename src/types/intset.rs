//! Valkey's intset: a sorted array of integers, all stored at the width of
//! the widest (2, 4 or 8 bytes, little-endian), widened when a larger value
//! arrives and never narrowed. One allocation, no per-element overhead.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intset {
    width: usize,
    data: Vec<u8>,
}

impl Default for Intset {
    fn default() -> Self {
        Intset {
            width: 2,
            data: Vec::new(),
        }
    }
}

/// The u32 at `at` of an intset blob's header.
fn blob_word(blob: &[u8], at: usize) -> usize {
    u32::from_le_bytes(blob[at..at + 4].try_into().expect("4 bytes")) as usize
}

fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl Intset {
    /// Heap bytes held (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity()
    }

    /// Valkey's bytes for it: the width and the count (u32 little-endian
    /// each), then the elements (RDB stores intsets so, and a node holds a
    /// small set so).
    pub fn to_blob(&self) -> Vec<u8> {
        let mut blob = Vec::with_capacity(8 + self.data.len());
        blob.extend_from_slice(&(self.width as u32).to_le_bytes());
        blob.extend_from_slice(&(self.len() as u32).to_le_bytes());
        blob.extend_from_slice(&self.data);
        blob
    }

    /// The intset `to_blob` gave.
    pub fn from_blob(blob: &[u8]) -> Intset {
        Intset {
            width: blob_word(blob, 0),
            data: blob[8..Self::blob_len(blob)].to_vec(),
        }
    }

    /// The length of the blob whose bytes start with `header` (its first
    /// 8 bytes: width and count).
    pub fn blob_len(header: &[u8]) -> usize {
        8 + blob_word(header, 0) * blob_word(header, 4)
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Element `i`, in ascending order.
    pub fn get(&self, i: usize) -> i64 {
        let b = &self.data[i * self.width..(i + 1) * self.width];
        match self.width {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes(b.try_into().expect("4 bytes"))),
            _ => i64::from_le_bytes(b.try_into().expect("8 bytes")),
        }
    }

    /// Ok(position) if present, else Err(where it would go).
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        width_for(v) <= self.width && self.search(v).is_ok()
    }

    /// Inserts `v`; false if it was there.
    pub fn insert(&mut self, v: i64) -> bool {
        let w = width_for(v);
        if w > self.width {
            let values: Vec<i64> = self.iter().collect();
            self.width = w;
            self.data = Vec::with_capacity((values.len() + 1) * w);
            for x in values {
                self.data.extend_from_slice(&x.to_le_bytes()[..w]);
            }
        }
        match self.search(v) {
            Ok(_) => false,
            Err(at) => {
                let bytes = &v.to_le_bytes()[..self.width];
                let at = at * self.width;
                self.data.splice(at..at, bytes.iter().copied());
                true
            }
        }
    }

    /// Removes `v`; false if it was not there.
    pub fn remove(&mut self, v: i64) -> bool {
        if width_for(v) > self.width {
            return false;
        }
        match self.search(v) {
            Ok(i) => {
                self.data.drain(i * self.width..(i + 1) * self.width);
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    pub fn min(&self) -> Option<i64> {
        (!self.is_empty()).then(|| self.get(0))
    }

    pub fn max(&self) -> Option<i64> {
        (!self.is_empty()).then(|| self.get(self.len() - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn behaves_like_a_sorted_set(ops in proptest::collection::vec((any::<bool>(), prop_oneof![-300i64..300, any::<i32>().prop_map(i64::from), any::<i64>()]), 0..200)) {
            let mut s = Intset::default();
            let mut model = BTreeSet::new();
            for (add, v) in ops {
                if add {
                    prop_assert_eq!(s.insert(v), model.insert(v));
                } else {
                    prop_assert_eq!(s.remove(v), model.remove(&v));
                }
                prop_assert_eq!(s.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(s.min(), model.first().copied());
                prop_assert_eq!(s.max(), model.last().copied());
                prop_assert!(model.iter().all(|&x| s.contains(x)));
            }
        }
    }
}
