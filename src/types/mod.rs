//! Value types stored in the keyspace: strings, lists, hashes, sets and
//! sorted sets so far; streams join as their issue lands.

pub mod hash;
pub mod hll;
pub mod intset;
pub mod list;
pub mod listpack;
pub mod ranked;
pub mod rdb;
pub mod set;
pub mod string;
pub mod zset;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use string::{Bytes, StrRef, StrValue};
pub use zset::ZSet;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
}

/// Bytes a map or set slot takes beside its boxed bytes: the entry (hash,
/// pointers, lengths) and its index, at the table's typical load.
pub const MAP_SLOT: usize = 48;

/// `len` items' heap bytes estimated from the sizes of up to `samples` of
/// them (0: all of them), as Valkey's MEMORY USAGE samples nested values.
pub fn sampled(sizes: impl Iterator<Item = usize>, len: usize, samples: usize) -> usize {
    let take = if samples == 0 { len } else { samples.min(len) };
    let (mut sum, mut n) = (0, 0);
    for size in sizes.take(take) {
        sum += size;
        n += 1;
    }
    (sum * len).checked_div(n).unwrap_or(0)
}

/// The items at `positions` of `items` (in the positions' order, repeats
/// allowed; positions past the end are left out), in one pass.
pub fn at_positions<T: Clone>(items: impl Iterator<Item = T>, positions: &[usize]) -> Vec<T> {
    let mut order: Vec<usize> = (0..positions.len()).collect();
    order.sort_unstable_by_key(|&k| positions[k]);
    let mut picked: Vec<Option<T>> = vec![None; positions.len()];
    let mut items = items.enumerate().peekable();
    for k in order {
        while items.next_if(|(i, _)| *i < positions[k]).is_some() {}
        if let Some((_, item)) = items.peek().filter(|(i, _)| *i == positions[k]) {
            picked[k] = Some(item.clone());
        }
    }
    picked.into_iter().flatten().collect()
}

impl Value {
    /// Heap bytes the value holds (MEMORY USAGE), nested values estimated
    /// from up to `samples` of them (0: all).
    pub fn heap_bytes(&self, samples: usize) -> usize {
        match self {
            Value::Str(s) => s.heap_bytes(),
            Value::List(l) => l.heap_bytes(samples),
            Value::Hash(h) => h.heap_bytes(samples),
            Value::Set(s) => s.heap_bytes(samples),
            Value::ZSet(z) => z.heap_bytes(samples),
        }
    }

    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The name OBJECT ENCODING replies with.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
            Value::List(l) => l.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
        }
    }
}

/// A value type commands look up by (WRONGTYPE for any other).
/// A value borrowed from the keyspace: strings as [`StrRef`] (a node may
/// store a short one in place), everything else as the `Value` it is.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Str(StrRef<'a>),
    /// Never a string.
    Value(&'a Value),
}

impl<'a> ValueRef<'a> {
    pub fn of(value: &'a Value) -> Self {
        match value {
            Value::Str(s) => ValueRef::Str(s.as_ref()),
            v => ValueRef::Value(v),
        }
    }

    pub fn type_name(self) -> &'static str {
        match self {
            ValueRef::Str(_) => "string",
            ValueRef::Value(v) => v.type_name(),
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            ValueRef::Str(s) => s.encoding_name(),
            ValueRef::Value(v) => v.encoding_name(),
        }
    }
}

pub trait Typed: Sized {
    fn of(value: ValueRef<'_>) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
}

/// A collection random elements are drawn from (SPOP, SRANDMEMBER,
/// HRANDFIELD): by position from a compact encoding, at random from a
/// hashtable.
pub trait Sampled: Typed {
    type Element: Clone + Eq + std::hash::Hash;
    fn is_table(&self) -> bool;
    /// The elements at `positions` of the encoding's order.
    fn at_positions(&self, positions: &[usize]) -> Vec<Self::Element>;
    /// A random element of a hashtable (None for a compact encoding).
    fn draw(&self, rng: &mut impl FnMut(usize) -> usize) -> Option<Self::Element>;
}

macro_rules! typed {
    ($variant:ident, $ty:ty) => {
        impl Typed for $ty {
            fn of(value: ValueRef<'_>) -> Option<&Self> {
                match value {
                    ValueRef::Value(Value::$variant(v)) => Some(v),
                    _ => None,
                }
            }

            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

typed!(List, List);
typed!(Hash, Hash);
typed!(Set, Set);
typed!(ZSet, ZSet);

#[cfg(test)]
mod tests {
    /// Every key pays for the largest variant: large encodings are boxed
    /// so a small value costs no more than a string.
    #[test]
    fn values_stay_small() {
        assert!(
            size_of::<super::Value>() <= 40,
            "{}",
            size_of::<super::Value>()
        );
    }
}
