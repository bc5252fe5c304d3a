//! The hash value and Valkey's two encodings of it: a `listpack` of
//! field, value pairs in insertion order while small, a `hashtable` once a
//! hash passes `hash-max-listpack-entries` fields or a field or value is
//! longer than `hash-max-listpack-value` bytes (t_hash.c; never back).

use super::listpack::Listpack;
use indexmap::IndexMap;

/// `hash-max-listpack-entries` and `hash-max-listpack-value`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

/// Field → value, in insertion order.
pub type Fields = IndexMap<Box<[u8]>, Box<[u8]>>;

#[derive(Clone, Debug, PartialEq)]
pub enum Hash {
    Listpack(Listpack),
    /// Insertion-ordered, so HSCAN's cursor can walk it by position.
    Table(Box<Fields>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Listpack::new())
    }
}

impl Hash {
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.len() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Before setting fields from these arguments (field, value, ...):
    /// Valkey's hashTypeTryConversion.
    pub fn prepare(&mut self, limits: Limits, args: &[&[u8]]) {
        if let Hash::Listpack(_) = self
            && (args.len() / 2 > limits.entries || args.iter().any(|a| a.len() > limits.value))
        {
            self.convert();
        }
    }

    fn convert(&mut self) {
        if let Hash::Listpack(lp) = self {
            let mut table = IndexMap::with_capacity(lp.len() / 2);
            let mut items = lp.iter();
            while let (Some(f), Some(v)) = (items.next(), items.next()) {
                table.insert(f.to_vec().into(), v.to_vec().into());
            }
            *self = Hash::Table(Box::new(table));
        }
    }

    /// The listpack offset of `field`'s value.
    fn find(lp: &Listpack, field: &[u8]) -> Option<usize> {
        let mut p = lp.first();
        while let Some(f) = p {
            let v = lp.next(f).expect("fields have values");
            if lp.get(f).eq_bytes(field) {
                return Some(v);
            }
            p = lp.next(v);
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<Vec<u8>> {
        match self {
            Hash::Listpack(lp) => Self::find(lp, field).map(|v| lp.get(v).to_vec()),
            Hash::Table(t) => t.get(field).map(|v| v.to_vec()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => Self::find(lp, field).is_some(),
            Hash::Table(t) => t.contains_key(field),
        }
    }

    /// Sets a field (call `prepare` first); true if it is new.
    pub fn set(&mut self, limits: Limits, field: &[u8], value: &[u8]) -> bool {
        let new = match self {
            Hash::Listpack(lp) => match Self::find(lp, field) {
                Some(v) => {
                    lp.replace(v, value);
                    false
                }
                None => {
                    lp.push_back(field);
                    lp.push_back(value);
                    true
                }
            },
            Hash::Table(t) => t.insert(field.into(), value.into()).is_none(),
        };
        if self.len() > limits.entries {
            self.convert();
        }
        new
    }

    /// Deletes a field; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => match Self::find(lp, field) {
                Some(v) => {
                    let f = lp.prev(v).expect("values follow fields");
                    lp.delete_range(f, 2);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.shift_remove(field).is_some(),
        }
    }

    /// The pairs, in the encoding's order.
    pub fn pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self {
            Hash::Listpack(lp) => {
                let mut out = Vec::with_capacity(lp.len() / 2);
                let mut items = lp.iter();
                while let (Some(f), Some(v)) = (items.next(), items.next()) {
                    out.push((f.to_vec(), v.to_vec()));
                }
                out
            }
            Hash::Table(t) => t.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect(),
        }
    }

    /// The pair at position `i` of the encoding's order (HRANDFIELD).
    pub fn pair_at(&self, i: usize) -> Option<(Vec<u8>, Vec<u8>)> {
        match self {
            Hash::Listpack(lp) => {
                let f = lp.seek(2 * i as i64)?;
                let v = lp.next(f)?;
                Some((lp.get(f).to_vec(), lp.get(v).to_vec()))
            }
            Hash::Table(t) => t.get_index(i).map(|(f, v)| (f.to_vec(), v.to_vec())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// A hash against a BTreeMap through random sets and deletes, in
        /// both encodings (small limits force the conversion).
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u8..20, proptest::collection::vec(any::<u8>(), 0..12)), 0..200), entries in 1usize..30) {
            let limits = Limits { entries, value: 8 };
            let mut h = Hash::default();
            let mut model = BTreeMap::new();
            for (set, f, v) in ops {
                let field = vec![b'f', f];
                if set {
                    h.prepare(limits, &[&field, &v]);
                    prop_assert_eq!(h.set(limits, &field, &v), model.insert(field.clone(), v.clone()).is_none());
                } else {
                    prop_assert_eq!(h.remove(&field), model.remove(&field).is_some());
                }
                prop_assert_eq!(h.len(), model.len());
                let mut pairs = h.pairs();
                pairs.sort();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
                prop_assert_eq!(pairs, want);
                if let Hash::Listpack(_) = h {
                    prop_assert!(h.len() <= entries);
                }
            }
        }
    }
}
