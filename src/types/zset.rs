//! The sorted set value and Valkey's two encodings of it (t_zset.c): a
//! `listpack` of member, score pairs kept in (score, member) order while
//! small, a `skiplist` (here sorted blocks with positions beside a member →
//! score table) past `zset-max-listpack-entries` members or
//! `zset-max-listpack-value` bytes. Scores are doubles, never NaN; ties
//! order by member bytes.

use super::listpack::{Item, Listpack};
use super::ranked::Ranked;
use crate::keyspace::Member;
use crate::keyspace::table::Table;
use std::borrow::Cow;
use std::cmp::Ordering;

/// (member, score) pairs, in (score, member) order.
pub type Entries = Vec<(Vec<u8>, f64)>;

/// An entry met on a walk: its member (borrowed where the encoding holds
/// the bytes) and score.
pub type Walked<'a> = (Cow<'a, [u8]>, f64);

/// `zset-max-listpack-entries` and `zset-max-listpack-value`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

/// A score with a total order (scores are never NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    order: Ranked<(Score, Box<[u8]>)>,
    /// Member → score (its eight bytes as the value), in the keyspace's
    /// hashtable: ZSCAN walks it with Valkey's cursor.
    pub scores: Table<Member>,
}

/// The score a `scores` entry holds.
pub fn score_of(m: &Member) -> f64 {
    f64::from_le_bytes(m.value().try_into().expect("eight bytes"))
}

#[derive(Clone, Debug, PartialEq)]
pub enum ZSet {
    Listpack(Listpack),
    Skiplist(Box<Tree>),
}

fn item_score(i: Item<'_>) -> f64 {
    match i {
        Item::Int(v) => v as f64,
        Item::Str(s) => std::str::from_utf8(s)
            .ok()
            .and_then(|t| match t {
                "inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                t => t.parse().ok(),
            })
            .unwrap_or(0.0),
    }
}

fn score_bytes(score: f64) -> Vec<u8> {
    ferrokv_transport::resp::num::format_double(score).into_bytes()
}

impl ZSet {
    /// Heap bytes held, a skiplist's estimated from up to `samples`
    /// members (0: all): each member in the score order and in the map.
    pub fn heap_bytes(&self, samples: usize) -> usize {
        match self {
            ZSet::Listpack(lp) => lp.heap_bytes(),
            ZSet::Skiplist(t) => {
                // Each member is in the table and, with its score, in
                // the order.
                let n = t.scores.len();
                let entry = |m: &Member| m.size() + m.key().len();
                size_of::<Tree>()
                    + t.scores.bucket_bytes()
                    + n * size_of::<(Score, Box<[u8]>)>()
                    + super::sampled(t.scores.iter().map(entry), n, samples)
            }
        }
    }

    /// The encoding ZADD creates for `hint` members, the longest `longest`
    /// bytes (zsetTypeCreate).
    pub fn new(limits: Limits, hint: usize, longest: usize) -> ZSet {
        if hint <= limits.entries && longest <= limits.value {
            ZSet::Listpack(Listpack::new())
        } else {
            ZSet::Skiplist(Box::default())
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            ZSet::Listpack(_) => "listpack",
            ZSet::Skiplist(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack(lp) => lp.len() / 2,
            ZSet::Skiplist(t) => t.order.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Before adding `hint` members, the longest `longest` bytes
    /// (zsetTypeMaybeConvert).
    pub fn expect(&mut self, limits: Limits, hint: usize, longest: usize) {
        if matches!(self, ZSet::Listpack(_)) && (hint > limits.entries || longest > limits.value) {
            self.convert_to_tree();
        }
    }

    fn convert_to_tree(&mut self) {
        let mut t = Tree::default();
        for (m, s) in self.entries() {
            t.insert(m, s);
        }
        *self = ZSet::Skiplist(Box::new(t));
    }

    /// All (member, score) pairs in order.
    pub fn entries(&self) -> Entries {
        match self {
            ZSet::Listpack(lp) => {
                let mut out = Vec::with_capacity(lp.len() / 2);
                let mut items = lp.iter();
                while let (Some(m), Some(s)) = (items.next(), items.next()) {
                    out.push((m.to_vec(), item_score(s)));
                }
                out
            }
            ZSet::Skiplist(t) => t.order.iter().map(|(s, m)| (m.to_vec(), s.0)).collect(),
        }
    }

    /// The entries from ascending position `from`: upward, or (`rev`)
    /// downward from there. Members are borrowed where the encoding holds
    /// their bytes.
    pub fn walk(&self, from: usize, rev: bool) -> Box<dyn Iterator<Item = Walked<'_>> + '_> {
        fn borrowed((s, m): &(Score, Box<[u8]>)) -> Walked<'_> {
            (Cow::Borrowed(&**m), s.0)
        }
        match self {
            ZSet::Skiplist(t) if rev => Box::new(t.order.iter_back_from(from + 1).map(borrowed)),
            ZSet::Skiplist(t) => Box::new(t.order.iter_from(from).map(borrowed)),
            ZSet::Listpack(lp) => {
                let at = i64::try_from(from).ok().and_then(|i| lp.seek(2 * i));
                Box::new(std::iter::from_fn({
                    let mut at = at;
                    move || {
                        let m = at?;
                        let s = lp.next(m).expect("members have scores");
                        at = if rev {
                            lp.prev(m).and_then(|p| lp.prev(p))
                        } else {
                            lp.next(s)
                        };
                        Some((lp.get(m).to_cow(), item_score(lp.get(s))))
                    }
                }))
            }
        }
    }

    /// The position of the first entry `hit` holds for (`len` if none).
    /// A listpack is scanned from its head; the tree is searched, so `hit`
    /// must hold for a suffix of the order (as Valkey's skiplist search
    /// also assumes).
    pub fn first_where(&self, hit: impl Fn(&[u8], f64) -> bool) -> usize {
        match self {
            ZSet::Skiplist(t) => t.order.partition_point(|(s, m)| !hit(m, s.0)),
            ZSet::Listpack(_) => self
                .walk(0, false)
                .position(|(m, s)| hit(&m, s))
                .unwrap_or(self.len()),
        }
    }

    /// The position of the last entry `hit` holds for. A listpack is
    /// scanned from its tail; the tree is searched, so `hit` must hold for
    /// a prefix of the order.
    pub fn last_where(&self, hit: impl Fn(&[u8], f64) -> bool) -> Option<usize> {
        match self {
            ZSet::Skiplist(t) => t.order.partition_point(|(s, m)| hit(m, s.0)).checked_sub(1),
            ZSet::Listpack(_) => {
                let last = self.len().checked_sub(1)?;
                let back = self.walk(last, true).position(|(m, s)| hit(&m, s))?;
                Some(last - back)
            }
        }
    }

    /// The entry of rank `i` (ZRANDMEMBER's positions).
    pub fn entry_at(&self, i: usize) -> Option<(Vec<u8>, f64)> {
        match self {
            ZSet::Skiplist(t) => t.order.iter_from(i).next().map(|(s, m)| (m.to_vec(), s.0)),
            ZSet::Listpack(_) => self.walk(i, false).next().map(|(m, s)| (m.into_owned(), s)),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(lp) => find_pair(lp, member).map(|p| p.score),
            ZSet::Skiplist(t) => t.scores.get(member).map(score_of),
        }
    }

    /// Sets `member`'s score (call `expect` first for new members);
    /// returns the previous score. A listpack is edited in place, as
    /// Valkey's zzlInsert / zzlDelete do.
    pub fn insert(&mut self, limits: Limits, member: &[u8], score: f64) -> Option<f64> {
        match self {
            ZSet::Skiplist(t) => t.insert(member.to_vec(), score),
            ZSet::Listpack(lp) => {
                let found = find_pair(lp, member);
                let old = found.map(|p| p.score);
                if old.is_none()
                    && (lp.len() / 2 + 1 > limits.entries || member.len() > limits.value)
                {
                    self.convert_to_tree();
                    return self.insert(limits, member, score);
                }
                if let Some(p) = found {
                    if Score(p.score) == Score(score) {
                        return old;
                    }
                    lp.delete_range(p.at, 2);
                }
                // Before the first pair that sorts after the new one.
                let mut buf = itoa::Buffer::new();
                let at = pairs(lp)
                    .find(|&(m, s)| {
                        let (s, m) = (item_score(lp.get(s)), lp.get(m));
                        cmp_entry(s, m.bytes(&mut buf), score, member).is_gt()
                    })
                    .map_or(lp.end(), |(m, _)| m);
                let at = lp.insert(at, member);
                let next = lp.next(at).unwrap_or(lp.end());
                lp.insert(next, &score_bytes(score));
                old
            }
        }
    }

    /// Removes `member`; its score if it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Skiplist(t) => t.remove(member),
            ZSet::Listpack(lp) => {
                let p = find_pair(lp, member)?;
                lp.delete_range(p.at, 2);
                Some(p.score)
            }
        }
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Skiplist(t) => {
                let s = Score(score_of(t.scores.get(member)?));
                Some(t.order.partition_point(|(o, m)| (*o, &**m) < (s, member)))
            }
            ZSet::Listpack(lp) => find_pair(lp, member).map(|p| p.rank),
        }
    }
}

/// (score, member) order.
pub fn cmp_entry(a_score: f64, a: &[u8], b_score: f64, b: &[u8]) -> Ordering {
    Score(a_score).cmp(&Score(b_score)).then_with(|| a.cmp(b))
}

/// A member's pair in a listpack: where it starts, its rank, its score.
#[derive(Clone, Copy)]
struct Pair {
    at: usize,
    rank: usize,
    score: f64,
}

fn find_pair(lp: &Listpack, member: &[u8]) -> Option<Pair> {
    let (rank, (m, s)) = pairs(lp)
        .enumerate()
        .find(|(_, (m, _))| lp.get(*m).eq_bytes(member))?;
    let score = item_score(lp.get(s));
    Some(Pair { at: m, rank, score })
}

/// The offsets of a listpack sorted set's (member, score) pairs, in order.
fn pairs(lp: &Listpack) -> impl Iterator<Item = (usize, usize)> + '_ {
    let pair = |m: usize| (m, lp.next(m).expect("members come with scores"));
    std::iter::successors(lp.first().map(pair), move |&(_, s)| lp.next(s).map(pair))
}

impl Tree {
    fn insert(&mut self, member: Vec<u8>, score: f64) -> Option<f64> {
        let entry = Member::pair(&member, &score.to_le_bytes());
        let old = match self.scores.find(&member) {
            Some(pos) => Some(score_of(&std::mem::replace(self.scores.at_mut(pos), entry))),
            None => {
                self.scores.insert(entry);
                None
            }
        };
        let member: Box<[u8]> = member.into();
        if let Some(o) = old {
            if Score(o) == Score(score) {
                return old;
            }
            self.order.remove(&(Score(o), member.clone()));
        }
        self.order.insert((Score(score), member));
        old
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let s = score_of(&self.scores.remove(member)?);
        self.order.remove(&(Score(s), member.into()));
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// A sorted set against a map plus a sort, through random edits in
        /// both encodings (small limits force the conversion).
        #[test]
        fn behaves_like_a_sorted_map(ops in proptest::collection::vec((any::<bool>(), 0u8..30, -5i32..5), 0..150), entries in 1usize..20) {
            let limits = Limits { entries, value: 64 };
            let mut z = ZSet::new(limits, 1, 1);
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            for (add, m, s) in ops {
                let member = vec![b'm', m];
                let score = f64::from(s) / 2.0;
                if add {
                    z.expect(limits, 1, member.len());
                    prop_assert_eq!(z.insert(limits, &member, score), model.insert(member.clone(), score));
                } else {
                    prop_assert_eq!(z.remove(&member), model.remove(&member));
                }
                let mut want: Vec<(Vec<u8>, f64)> = model.clone().into_iter().collect();
                want.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
                prop_assert_eq!(z.entries(), want.clone());
                for (i, (m, _)) in want.iter().enumerate() {
                    prop_assert_eq!(z.rank(m), Some(i));
                }
            }
        }
    }
}
