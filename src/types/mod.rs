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

use listpack::Listpack;
use std::borrow::Cow;

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

/// A collection in a compact encoding, as the keyspace stores it in the
/// key's own node: which type and encoding its bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packed {
    List,
    Hash,
    SetIntset,
    SetListpack,
    ZSet,
}

impl Packed {
    pub const ALL: [Packed; 5] = [
        Packed::List,
        Packed::Hash,
        Packed::SetIntset,
        Packed::SetListpack,
        Packed::ZSet,
    ];

    /// The value these bytes (from `Value::packed`) encode.
    pub fn to_value(self, bytes: &[u8]) -> Value {
        let lp = || Listpack::from_own_bytes(bytes.to_vec());
        match self {
            Packed::List => Value::List(List::Listpack(lp())),
            Packed::Hash => Value::Hash(Hash::Listpack(lp())),
            Packed::SetIntset => Value::Set(Set::Intset(intset::Intset::from_blob(bytes))),
            Packed::SetListpack => Value::Set(Set::Listpack(lp())),
            Packed::ZSet => Value::ZSet(ZSet::Listpack(lp())),
        }
    }

    pub fn type_name(self) -> &'static str {
        match self {
            Packed::List => "list",
            Packed::Hash => "hash",
            Packed::SetIntset | Packed::SetListpack => "set",
            Packed::ZSet => "zset",
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            Packed::SetIntset => "intset",
            _ => "listpack",
        }
    }
}

impl Value {
    /// A compact collection's bytes (listpack, or intset in Valkey's
    /// layout), which a node can hold in place of the `Value`.
    pub fn packed(&self) -> Option<(Packed, Cow<'_, [u8]>)> {
        fn lp(kind: Packed, lp: &Listpack) -> Option<(Packed, Cow<'_, [u8]>)> {
            Some((kind, lp.as_bytes().into()))
        }
        match self {
            Value::List(List::Listpack(l)) => lp(Packed::List, l),
            Value::Hash(Hash::Listpack(l)) => lp(Packed::Hash, l),
            Value::Set(Set::Listpack(l)) => lp(Packed::SetListpack, l),
            Value::Set(Set::Intset(i)) => Some((Packed::SetIntset, i.to_blob().into())),
            Value::ZSet(ZSet::Listpack(l)) => lp(Packed::ZSet, l),
            _ => None,
        }
    }
}

/// A value borrowed from the keyspace: strings as [`StrRef`] (a node may
/// store a short one in place), compact collections as their bytes (held
/// in the node too), everything else as the `Value` it is.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Str(StrRef<'a>),
    Packed(Packed, &'a [u8]),
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
            ValueRef::Packed(kind, _) => kind.type_name(),
            ValueRef::Value(v) => v.type_name(),
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            ValueRef::Str(s) => s.encoding_name(),
            ValueRef::Packed(kind, _) => kind.encoding_name(),
            ValueRef::Value(v) => v.encoding_name(),
        }
    }

    /// The value borrowed, or rebuilt from the bytes a node holds.
    pub fn to_value(self) -> Cow<'a, Value> {
        match self {
            ValueRef::Str(s) => Cow::Owned(Value::Str(s.to_owned())),
            ValueRef::Packed(kind, bytes) => Cow::Owned(kind.to_value(bytes)),
            ValueRef::Value(v) => Cow::Borrowed(v),
        }
    }
}

/// A value type commands look up by (WRONGTYPE for any other). A compact
/// collection held in its node is read from a copy rebuilt from its bytes.
pub trait Typed: Sized + Clone {
    const TYPE: &'static str;
    fn of_value(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    fn from_value(value: Value) -> Option<Self>;

    fn of(value: ValueRef<'_>) -> Option<Cow<'_, Self>> {
        match value {
            ValueRef::Value(v) => Self::of_value(v).map(Cow::Borrowed),
            ValueRef::Packed(kind, bytes) if kind.type_name() == Self::TYPE => {
                Self::from_value(kind.to_value(bytes)).map(Cow::Owned)
            }
            _ => None,
        }
    }
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
    ($variant:ident, $ty:ty, $name:literal) => {
        impl Typed for $ty {
            const TYPE: &'static str = $name;

            fn of_value(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }

            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }

            fn from_value(value: Value) -> Option<Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

typed!(List, List, "list");
typed!(Hash, Hash, "hash");
typed!(Set, Set, "set");
typed!(ZSet, ZSet, "zset");

#[cfg(test)]
mod tests {
    /// A node stores a `Packed` as its discriminant and reads it back as
    /// an index into `ALL`.
    #[test]
    fn packed_kinds_round_trip_through_their_index() {
        for (i, kind) in super::Packed::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
        }
    }

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
