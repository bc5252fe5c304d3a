//! The hash value and Valkey's two encodings of it: a `listpack` of
//! field, value pairs in insertion order while small, a `hashtable` once a
//! hash passes `hash-max-listpack-entries` fields or a field or value is
//! longer than `hash-max-listpack-value` bytes, or once a field gets an
//! expiry time (t_hash.c; never back).

use std::collections::{BTreeSet, HashMap};

use super::listpack::Listpack;
use crate::keyspace::Member;
use crate::keyspace::table::Table as KeyTable;
use foldhash::fast::RandomState;

/// `hash-max-listpack-entries` and `hash-max-listpack-value`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

/// Field → value, in the keyspace's hashtable.
pub type Fields = KeyTable<Member>;

/// A `hashtable` hash: its fields, and the expiry times (Unix ms) of the
/// fields that have one.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Table {
    /// HSCAN walks it with Valkey's cursor.
    pub fields: Fields,
    pub ttls: FieldTtls,
}

/// The expiry times of the fields that have one, by field and in time
/// order: the fields whose time is up are found without looking at the
/// others.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FieldTtls {
    by_field: HashMap<Box<[u8]>, i64, RandomState>,
    by_time: BTreeSet<(i64, Box<[u8]>)>,
}

impl FieldTtls {
    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty()
    }

    pub fn get(&self, field: &[u8]) -> Option<i64> {
        self.by_field.get(field).copied()
    }

    /// Sets a field's expiry; whether it had one.
    fn set(&mut self, field: &[u8], at: i64) -> bool {
        let had = self.clear(field);
        self.by_field.insert(field.into(), at);
        self.by_time.insert((at, field.into()));
        had
    }

    /// Drops a field's expiry; whether it had one.
    fn clear(&mut self, field: &[u8]) -> bool {
        match self.by_field.remove_entry(field) {
            Some((f, at)) => {
                self.by_time.remove(&(at, f));
                true
            }
            None => false,
        }
    }

    /// Takes out the fields whose time is up at `now_ms`.
    fn take_due(&mut self, now_ms: i64) -> Vec<Box<[u8]>> {
        let mut due = Vec::new();
        while self.by_time.first().is_some_and(|(at, _)| *at <= now_ms) {
            let (_, f) = self.by_time.pop_first().expect("checked above");
            self.by_field.remove(&f);
            due.push(f);
        }
        due
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Hash {
    Listpack(Listpack),
    Table(Box<Table>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Listpack::new())
    }
}

impl Hash {
    /// Heap bytes held, a table's estimated from up to `samples` fields
    /// (0: all): each field and value boxed, plus the map's slot, and a
    /// field with a TTL kept twice more in the TTL indexes.
    pub fn heap_bytes(&self, samples: usize) -> usize {
        match self {
            Hash::Listpack(lp) => lp.heap_bytes(),
            Hash::Table(t) => {
                let ttl_entry = 2 * super::MAP_SLOT;
                size_of::<Table>()
                    + t.fields.bucket_bytes()
                    + super::sampled(t.fields.iter().map(Member::size), t.fields.len(), samples)
                    + t.ttls.by_field.len() * ttl_entry
            }
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.len() / 2,
            Hash::Table(t) => t.fields.len(),
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
            let mut fields = Fields::default();
            let mut items = lp.iter();
            while let (Some(f), Some(v)) = (items.next(), items.next()) {
                fields.insert(Member::pair(&f.to_cow(), &v.to_cow()));
            }
            *self = Hash::Table(Box::new(Table {
                fields,
                ttls: FieldTtls::default(),
            }));
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
            Hash::Table(t) => t.fields.get(field).map(|m| m.value().to_vec()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => Self::find(lp, field).is_some(),
            Hash::Table(t) => t.fields.find(field).is_some(),
        }
    }

    /// Sets a field (call `prepare` first), dropping any expiry it had
    /// (HSET); true if it is new.
    pub fn set(&mut self, limits: Limits, field: &[u8], value: &[u8]) -> bool {
        if let Hash::Table(t) = self
            && !t.ttls.is_empty()
        {
            t.ttls.clear(field);
        }
        self.set_keep_ttl(limits, field, value)
    }

    /// Sets a field, keeping its expiry (HINCRBY, HSETEX KEEPTTL); true if
    /// it is new.
    pub fn set_keep_ttl(&mut self, limits: Limits, field: &[u8], value: &[u8]) -> bool {
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
            Hash::Table(t) => match t.fields.find(field) {
                Some(pos) => {
                    *t.fields.at_mut(pos) = Member::pair(field, value);
                    false
                }
                None => {
                    t.fields.insert(Member::pair(field, value));
                    true
                }
            },
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
            Hash::Table(t) => {
                if !t.ttls.is_empty() {
                    t.ttls.clear(field);
                }
                t.fields.remove(field).is_some()
            }
        }
    }

    /// Whether any field has an expiry time.
    pub fn has_ttls(&self) -> bool {
        matches!(self, Hash::Table(t) if !t.ttls.is_empty())
    }

    /// A field's expiry time (Unix ms), if it has one.
    pub fn ttl(&self, field: &[u8]) -> Option<i64> {
        match self {
            Hash::Table(t) => t.ttls.get(field),
            Hash::Listpack(_) => None,
        }
    }

    /// Sets or clears the expiry of an existing field; a hash with
    /// expiring fields is a `hashtable`. Returns whether it had one.
    pub fn set_ttl(&mut self, field: &[u8], at: Option<i64>) -> bool {
        if at.is_some() {
            self.convert();
        }
        let Hash::Table(t) = self else {
            return false;
        };
        match at {
            Some(at) => t.ttls.set(field, at),
            None => t.ttls.clear(field),
        }
    }

    /// Whether `field` is there and its time not up at `now_ms`.
    pub fn has_live(&self, field: &[u8], now_ms: i64) -> bool {
        self.contains(field) && self.ttl(field).is_none_or(|at| at > now_ms)
    }

    /// A field's value, unless its time is up at `now_ms`.
    pub fn get_live(&self, field: &[u8], now_ms: i64) -> Option<Vec<u8>> {
        if self.ttl(field).is_some_and(|at| at <= now_ms) {
            return None;
        }
        self.get(field)
    }

    /// The pairs whose time is not up at `now_ms`, in the encoding's order.
    pub fn live_pairs(&self, now_ms: i64) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut pairs = self.pairs();
        if self.has_ttls() {
            pairs.retain(|(f, _)| self.ttl(f).is_none_or(|at| at > now_ms));
        }
        pairs
    }

    /// Deletes the fields whose time is up (the earliest first, none
    /// looked at needlessly); returns how many.
    pub fn reap(&mut self, now_ms: i64) -> usize {
        let Hash::Table(t) = self else {
            return 0;
        };
        let due = t.ttls.take_due(now_ms);
        for f in &due {
            t.fields.remove(f);
        }
        due.len()
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
            Hash::Table(t) => t
                .fields
                .iter()
                .map(|m| (m.key().to_vec(), m.value().to_vec()))
                .collect(),
        }
    }
}

impl super::Sampled for Hash {
    type Element = (Vec<u8>, Vec<u8>);

    fn is_table(&self) -> bool {
        matches!(self, Hash::Table(_))
    }

    /// A table's order is its iteration's: one pass over it.
    fn at_positions(&self, positions: &[usize]) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self {
            Hash::Listpack(lp) => positions
                .iter()
                .filter_map(|&i| {
                    let f = lp.seek(2 * i as i64)?;
                    let v = lp.next(f)?;
                    Some((lp.get(f).to_vec(), lp.get(v).to_vec()))
                })
                .collect(),
            Hash::Table(t) => super::at_positions(t.fields.iter(), positions)
                .into_iter()
                .map(|m| (m.key().to_vec(), m.value().to_vec()))
                .collect(),
        }
    }

    fn draw(&self, rng: &mut impl FnMut(usize) -> usize) -> Option<(Vec<u8>, Vec<u8>)> {
        match self {
            Hash::Table(t) => t
                .fields
                .random(rng)
                .map(|m| (m.key().to_vec(), m.value().to_vec())),
            Hash::Listpack(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Sampled;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn field_expiry_hides_then_reaps() {
        let limits = Limits {
            entries: 128,
            value: 64,
        };
        let mut h = Hash::default();
        for f in [&b"a"[..], b"b", b"c"] {
            h.set(limits, f, b"v");
        }
        assert!(!h.has_ttls());
        assert!(!h.set_ttl(b"a", Some(100)));
        assert_eq!(h.encoding_name(), "hashtable");
        h.set_ttl(b"b", Some(200));
        assert_eq!(h.get_live(b"a", 99), Some(b"v".to_vec()));
        assert_eq!(h.get_live(b"a", 100), None);
        assert!(!h.has_live(b"a", 150) && h.has_live(b"b", 150));
        assert_eq!(h.live_pairs(150).len(), 2);
        // HSET drops the expiry, HINCRBY-style writes keep it.
        h.set(limits, b"a", b"w");
        assert_eq!(h.ttl(b"a"), None);
        h.set_keep_ttl(limits, b"b", b"w");
        assert_eq!(h.ttl(b"b"), Some(200));
        assert_eq!(h.reap(199), 0);
        assert_eq!(h.reap(200), 1);
        assert_eq!(h.len(), 2);
        assert!(!h.has_ttls());
        h.set_ttl(b"a", Some(5));
        h.set_ttl(b"c", Some(5));
        assert_eq!(h.reap(5), 2);
        assert!(h.is_empty());
    }

    #[test]
    fn a_table_picks_by_position_and_at_random() {
        let limits = Limits {
            entries: 4,
            value: 64,
        };
        let mut h = Hash::default();
        for i in 0..100 {
            let f = format!("f{i}");
            h.prepare(limits, &[f.as_bytes(), b"v"]);
            h.set(limits, f.as_bytes(), format!("v{i}").as_bytes());
        }
        assert_eq!(h.encoding_name(), "hashtable");
        let order = h.pairs();
        assert_eq!(
            h.at_positions(&[99, 0, 5, 5]),
            [99, 0, 5, 5].map(|i| order[i].clone())
        );
        let mut seed = 7u64;
        let mut rng = |n: usize| (crate::util::xorshift(&mut seed) % n as u64) as usize;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let (f, v) = h.draw(&mut rng).expect("a table");
            assert_eq!(h.get(&f), Some(v));
            seen.insert(f);
        }
        assert_eq!(seen.len(), 100, "every field can be drawn");
    }

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
