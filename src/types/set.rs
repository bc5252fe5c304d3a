//! The set value and Valkey's three encodings of it (t_set.c): an `intset`
//! while every member is an integer, a `listpack` in insertion order while
//! small, a `hashtable` past `set-max-listpack-entries` members or
//! `set-max-listpack-value` bytes (or `set-max-intset-entries` integers).
//! Conversions go one way, except that SINTERSTORE makes an all-integer
//! result an intset.

use super::intset::Intset;
use super::listpack::Listpack;
use crate::keyspace::Member;
use crate::keyspace::table::Table;
use crate::util::parse_i64;

/// `set-max-intset-entries`, `set-max-listpack-entries`,
/// `set-max-listpack-value`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub intset_entries: usize,
    pub listpack_entries: usize,
    pub listpack_value: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Set {
    Intset(Intset),
    Listpack(Listpack),
    /// The keyspace's hashtable: SSCAN walks it with Valkey's cursor.
    Table(Box<Table<Member>>),
}

fn as_int(member: &[u8]) -> Option<i64> {
    (member.len() <= 20).then(|| parse_i64(member)).flatten()
}

/// Digits (and sign) of an integer, as sdigits10.
fn digits(v: i64) -> usize {
    itoa::Buffer::new().format(v).len()
}

impl Set {
    /// Heap bytes held, a table's estimated from up to `samples` members
    /// (0: all).
    pub fn heap_bytes(&self, samples: usize) -> usize {
        match self {
            Set::Intset(is) => is.heap_bytes(),
            Set::Listpack(lp) => lp.heap_bytes(),
            Set::Table(t) => {
                size_of::<Table<Member>>()
                    + t.bucket_bytes()
                    + super::sampled(t.iter().map(Member::size), t.len(), samples)
            }
        }
    }

    /// The set SADD creates for a first `member` and `hint` members in all
    /// (setTypeCreate).
    pub fn for_members(limits: Limits, member: &[u8], hint: usize) -> Set {
        if as_int(member).is_some() && hint <= limits.intset_entries {
            Set::Intset(Intset::default())
        } else if hint <= limits.listpack_entries {
            Set::Listpack(Listpack::new())
        } else {
            Set::Table(Box::default())
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Intset(_) => "intset",
            Set::Listpack(_) => "listpack",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Intset(s) => s.len(),
            Set::Listpack(lp) => lp.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Before adding `hint` members: too many for the encoding makes a
    /// hashtable at once (setTypeMaybeConvert).
    pub fn expect(&mut self, limits: Limits, hint: usize) {
        let over = match self {
            Set::Listpack(_) => hint > limits.listpack_entries,
            Set::Intset(_) => hint > limits.intset_entries,
            Set::Table(_) => false,
        };
        if over {
            self.convert_to_table();
        }
    }

    fn convert_to_table(&mut self) {
        let mut table = Box::new(Table::default());
        for m in self.members() {
            table.insert(Member::new(&m));
        }
        *self = Set::Table(table);
    }

    fn convert_to_listpack(&mut self) {
        let mut lp = Listpack::new();
        for m in self.members() {
            lp.push_back(&m);
        }
        *self = Set::Listpack(lp);
    }

    /// The listpack offset of `member`.
    fn find(lp: &Listpack, member: &[u8]) -> Option<usize> {
        let mut p = lp.first();
        while let Some(q) = p {
            if lp.get(q).eq_bytes(member) {
                return Some(q);
            }
            p = lp.next(q);
        }
        None
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Intset(s) => as_int(member).is_some_and(|v| s.contains(v)),
            Set::Listpack(lp) => Self::find(lp, member).is_some(),
            Set::Table(t) => t.find(member).is_some(),
        }
    }

    /// Adds a member; true if it is new (setTypeAddAux, conversions
    /// included).
    pub fn add(&mut self, limits: Limits, member: &[u8]) -> bool {
        match self {
            Set::Table(t) => {
                let new = t.find(member).is_none();
                if new {
                    t.insert(Member::new(member));
                }
                new
            }
            Set::Listpack(lp) => {
                if Self::find(lp, member).is_some() {
                    return false;
                }
                if lp.len() < limits.listpack_entries && member.len() <= limits.listpack_value {
                    lp.push_back(member);
                } else {
                    self.convert_to_table();
                    self.add(limits, member);
                }
                true
            }
            Set::Intset(s) => match as_int(member) {
                Some(v) => {
                    let added = s.insert(v);
                    if added && s.len() > limits.intset_entries.min(1 << 30) {
                        self.convert_to_table();
                    }
                    added
                }
                None => {
                    let widest = [s.min(), s.max()].into_iter().flatten().map(digits).max();
                    if s.len() < limits.listpack_entries
                        && member.len() <= limits.listpack_value
                        && widest.unwrap_or(0) <= limits.listpack_value
                    {
                        self.convert_to_listpack();
                    } else {
                        self.convert_to_table();
                    }
                    self.add(limits, member)
                }
            },
        }
    }

    /// Removes a member; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Intset(s) => as_int(member).is_some_and(|v| s.remove(v)),
            Set::Listpack(lp) => match Self::find(lp, member) {
                Some(p) => {
                    lp.delete_range(p, 1);
                    true
                }
                None => false,
            },
            Set::Table(t) => t.remove(member).is_some(),
        }
    }

    /// The members in the encoding's order.
    pub fn members(&self) -> Vec<Vec<u8>> {
        match self {
            Set::Intset(s) => s
                .iter()
                .map(|v| itoa::Buffer::new().format(v).as_bytes().to_vec())
                .collect(),
            Set::Listpack(lp) => lp.iter().map(|i| i.to_vec()).collect(),
            Set::Table(t) => t.iter().map(|m| m.key().to_vec()).collect(),
        }
    }
}

impl super::Sampled for Set {
    type Element = Vec<u8>;

    fn is_table(&self) -> bool {
        matches!(self, Set::Table(_))
    }

    /// A table's order is its iteration's: one pass over it.
    fn at_positions(&self, positions: &[usize]) -> Vec<Vec<u8>> {
        match self {
            Set::Intset(s) => positions
                .iter()
                .filter(|&&i| i < s.len())
                .map(|&i| itoa::Buffer::new().format(s.get(i)).as_bytes().to_vec())
                .collect(),
            Set::Listpack(lp) => positions
                .iter()
                .filter_map(|&i| lp.seek(i as i64).map(|p| lp.get(p).to_vec()))
                .collect(),
            Set::Table(t) => super::at_positions(t.iter().map(|m| m.key()), positions)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect(),
        }
    }

    fn draw(&self, rng: &mut impl FnMut(usize) -> usize) -> Option<Vec<u8>> {
        match self {
            Set::Table(t) => t.random(rng).map(|m| m.key().to_vec()),
            _ => None,
        }
    }
}

impl Set {
    /// An all-integer set small enough becomes an intset
    /// (maybeConvertToIntset, after SINTERSTORE).
    pub fn compact_integers(&mut self, limits: Limits) {
        if matches!(self, Set::Intset(_)) || self.len() > limits.intset_entries.min(1 << 30) {
            return;
        }
        let ints: Option<Vec<i64>> = self.members().iter().map(|m| as_int(m)).collect();
        if let Some(ints) = ints {
            let mut s = Intset::default();
            for v in ints {
                s.insert(v);
            }
            *self = Set::Intset(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Sampled;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (-50i64..50).prop_map(|v| v.to_string().into_bytes()),
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(b'a'..b'e', 0..4),
            proptest::collection::vec(any::<u8>(), 0..20),
        ]
    }

    #[test]
    fn a_table_picks_by_position_and_at_random() {
        let limits = Limits {
            intset_entries: 4,
            listpack_entries: 4,
            listpack_value: 4,
        };
        let mut s = Set::for_members(limits, b"m0", 100);
        for i in 0..100 {
            s.add(limits, format!("m{i}").as_bytes());
        }
        assert_eq!(s.encoding_name(), "hashtable");
        let order = s.members();
        let picked = s.at_positions(&[99, 0, 5, 5]);
        assert_eq!(
            picked,
            [&order[99], &order[0], &order[5], &order[5]].map(|m| m.clone())
        );
        let mut seed = 7u64;
        let mut rng = |n: usize| (crate::util::xorshift(&mut seed) % n as u64) as usize;
        let mut seen = BTreeSet::new();
        for _ in 0..2000 {
            let m = s.draw(&mut rng).expect("a table");
            assert!(s.contains(&m));
            seen.insert(m);
        }
        assert_eq!(seen.len(), 100, "every member can be drawn");
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), member()), 1..200), i in 1usize..10, l in 1usize..10, v in 1usize..12) {
            let limits = Limits { intset_entries: i, listpack_entries: l, listpack_value: v };
            let mut s = Set::for_members(limits, &ops[0].1, 1);
            let mut model = BTreeSet::new();
            for (add, m) in ops {
                if add {
                    prop_assert_eq!(s.add(limits, &m), model.insert(m.clone()));
                } else {
                    prop_assert_eq!(s.remove(&m), model.remove(&m));
                }
                let got: BTreeSet<Vec<u8>> = s.members().into_iter().collect();
                prop_assert_eq!(&got, &model);
                prop_assert_eq!(s.len(), model.len());
                match &s {
                    Set::Intset(x) => prop_assert!(x.len() <= i),
                    Set::Listpack(x) => prop_assert!(x.len() <= l),
                    Set::Table(_) => {}
                }
            }
        }
    }
}
