//! A key with its entry in one allocation, which the keyspace table's
//! slots own through a six-byte pointer (`Ptr48`).
//!
//! The node is sized to what it holds. An 8-byte header (access clock,
//! kind, lengths, LFU counter) is followed, for every value but a short
//! string, by the `Value` (aligned); then a long key's length, the expire
//! time when the key has one, the key's bytes, and an `embstr` string's
//! bytes or an `int` string's eight. A short key with a short string so
//! costs its bytes plus 8, in one allocation, where a fixed-size node
//! would pay for its largest case. A small collection in a compact
//! encoding (a listpack, an intset) is held the same way, as its bytes
//! after the key: an edit moves it into a `Value` (the node is rebuilt),
//! and the dispatcher packs it back after the command (`take_unpacked`).
//!
//! `unsafe` is confined to this file: the layout is computed from the
//! header, and every access goes through the offsets it gives.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::ptr::{self, NonNull};

use super::evict::Access;
use super::table::Keyed;
use crate::types::intset::Intset;
use crate::types::listpack::Listpack;
use crate::types::{Packed, StrRef, Value, ValueRef};
use crate::util::ptr48::Ptr48;

/// Header offsets: access clock (u32), kind and flags, embedded value
/// length, key length (LONG_KEY: a u32 after the header or Value), LFU
/// counter.
const CLOCK: usize = 0;
const KIND: usize = 4;
const EMB_LEN: usize = 5;
const KEY_LEN: usize = 6;
const LFU: usize = 7;
const LONG_KEY: u8 = u8::MAX;
/// Where an embedded or integer string's node continues.
const SHORT_TAIL: usize = 8;
/// Where a node holding a `Value` keeps it, and where its node continues.
const VALUE_AT: usize = 8;
const VALUE_TAIL: usize = VALUE_AT + size_of::<Value>();

/// Kinds (low bits of the kind byte).
const EMB: u8 = 0;
const INT: u8 = 1;
const VALUE: u8 = 2;
/// A compact collection's bytes after the key; EMB_LEN says which
/// (`Packed::ALL` index), the bytes their own length.
const PACKED: u8 = 3;
const KIND_MASK: u8 = 0x0f;
/// Flags: the key has an expire time (8 bytes before the key); the value
/// was moved out (dropping frees the bytes only).
const HAS_EXPIRE: u8 = 0x80;
const MOVED_OUT: u8 = 0x40;

/// Compact collections up to this many bytes are held packed: reads copy
/// them out, so larger ones (whose per-key overhead matters little) stay
/// a `Value`.
const PACK_LIMIT: usize = 512;

thread_local! {
    /// Keys whose node this thread unpacked since the last
    /// `take_unpacked` (edits reach the Value through `value_mut`, which
    /// cannot reach the table): the dispatcher packs them again.
    static UNPACKED: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// The keys unpacked since the last call, to pack again.
pub fn take_unpacked() -> Vec<Vec<u8>> {
    UNPACKED.with_borrow_mut(std::mem::take)
}

/// Where a node's tail (a long key's length, the expire time, the key)
/// starts, by its kind byte.
fn tail_of(kind_byte: u8) -> usize {
    if kind_byte & KIND_MASK == VALUE {
        VALUE_TAIL
    } else {
        SHORT_TAIL
    }
}

/// Where the key starts: after the tail's long-key length and expire time
/// when the node has them.
fn key_offset(kind_byte: u8, key_len: usize) -> usize {
    let long = if key_len >= usize::from(LONG_KEY) {
        4
    } else {
        0
    };
    let expire = if kind_byte & HAS_EXPIRE != 0 { 8 } else { 0 };
    tail_of(kind_byte) + long + expire
}

/// An owned key and entry. Reads borrow from the node; a change of shape
/// (an expire time added or removed, a string made mutable) builds a new
/// node in its place.
pub struct Node(Ptr48);

// SAFETY: a Node owns its allocation exclusively (like a Box), and what it
// holds (bytes, a Value) is Send.
unsafe impl Send for Node {}

impl Node {
    /// A node for `key` holding `value`. A string that Valkey would embed
    /// with this key is stored in place (unless `embed` is false: the
    /// caller wants it as a mutable `Value`); one that no longer fits
    /// becomes `raw` for good, as in Valkey.
    pub fn new(key: &[u8], mut value: Value, expire_at: Option<i64>, access: Access) -> Node {
        Self::build(key, &mut value, expire_at, access, true)
            .or_else(|| Self::pack(key, &value, expire_at, access))
            .unwrap_or_else(|| Self::holding(key, value, expire_at, access))
    }

    /// The node holding `value` as its bytes, if it is a compact
    /// collection within PACK_LIMIT.
    fn pack(key: &[u8], value: &Value, expire_at: Option<i64>, access: Access) -> Option<Node> {
        let (kind, bytes) = value.packed().filter(|(_, b)| b.len() <= PACK_LIMIT)?;
        let node = Self::short(key, PACKED, &bytes, expire_at, access);
        // SAFETY: the header lies within the node; `node` is ours.
        unsafe { *node.0.as_ptr().add(EMB_LEN) = kind as u8 };
        Some(node)
    }

    /// The node as a short string (embedded or integer) if `value` is one
    /// and `embed` allows it; None leaves `value` to be held whole.
    fn build(
        key: &[u8],
        value: &mut Value,
        expire_at: Option<i64>,
        access: Access,
        embed: bool,
    ) -> Option<Node> {
        let Value::Str(s) = value else {
            return None;
        };
        s.reembed(key.len(), expire_at.is_some());
        if !embed {
            return None;
        }
        match s.as_ref() {
            StrRef::Int(v) => Some(Self::short(key, INT, &v.to_ne_bytes(), expire_at, access)),
            StrRef::Bytes { data, raw: false } if data.len() <= usize::from(u8::MAX) => {
                Some(Self::short(key, EMB, data, expire_at, access))
            }
            StrRef::Bytes { .. } => None,
        }
    }

    fn short(key: &[u8], kind: u8, bytes: &[u8], expire_at: Option<i64>, access: Access) -> Node {
        let node = Self::alloc(key, kind, bytes.len(), expire_at, access);
        let at = node.key_at() + key.len();
        // SAFETY: `alloc` sized the node for `bytes` right after the key.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), node.0.as_ptr().add(at), bytes.len()) };
        node
    }

    fn holding(key: &[u8], value: Value, expire_at: Option<i64>, access: Access) -> Node {
        let node = Self::alloc(key, VALUE, 0, expire_at, access);
        // SAFETY: `alloc` sized the node for a Value at VALUE_AT, which is
        // aligned for it (the allocation is aligned to 8, as is Value).
        unsafe { ptr::write(node.0.as_ptr().add(VALUE_AT).cast::<Value>(), value) };
        node
    }

    /// A node with its header, expire time and key written; the caller
    /// writes the value (`extra` bytes after the key, or the Value).
    fn alloc(key: &[u8], kind: u8, extra: usize, expire_at: Option<i64>, access: Access) -> Node {
        let key_len = u32::try_from(key.len()).expect("keys are at most 512 MB");
        let long = key.len() >= usize::from(LONG_KEY);
        let flags = if expire_at.is_some() { HAS_EXPIRE } else { 0 };
        let layout = Self::layout_of(kind | flags, key.len(), extra);
        // SAFETY: the layout's size is at least SHORT_TAIL, never zero.
        let p = unsafe { alloc::alloc(layout) };
        let Some(p) = NonNull::new(p) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: every write is inside the `layout.size()` bytes just
        // allocated (the layout counts the header, a long key's length,
        // the expire time when there is one, and the key); unaligned
        // writes need no alignment.
        unsafe {
            let base = p.as_ptr();
            ptr::write_unaligned(base.add(CLOCK).cast::<u32>(), access.clock);
            *base.add(KIND) = kind | flags;
            *base.add(EMB_LEN) = extra as u8;
            *base.add(KEY_LEN) = if long { LONG_KEY } else { key_len as u8 };
            *base.add(LFU) = access.counter;
            if long {
                ptr::write_unaligned(base.add(tail_of(kind)).cast::<u32>(), key_len);
            }
            let at = key_offset(kind | flags, key.len());
            if let Some(t) = expire_at {
                ptr::write_unaligned(base.add(at - 8).cast::<i64>(), t);
            }
            ptr::copy_nonoverlapping(key.as_ptr(), base.add(at), key.len());
        }
        Node(Ptr48::new(p))
    }

    fn layout_of(kind_byte: u8, key_len: usize, extra: usize) -> Layout {
        let size = key_offset(kind_byte, key_len) + key_len + extra;
        Layout::from_size_align(size, 8).expect("a node's size")
    }

    fn byte(&self, at: usize) -> u8 {
        // SAFETY: header bytes lie within every node.
        unsafe { *self.0.as_ptr().add(at) }
    }

    fn kind_byte(&self) -> u8 {
        self.byte(KIND)
    }

    fn kind(&self) -> u8 {
        self.kind_byte() & KIND_MASK
    }

    fn extra(&self) -> usize {
        match self.kind() {
            EMB => usize::from(self.byte(EMB_LEN)),
            INT => 8,
            PACKED => {
                // The bytes give their own length: a listpack in its first
                // 4 bytes, an intset in its 8-byte header.
                let intset = self.packed_kind() == Packed::SetIntset;
                let at = self.key_at() + self.key_len();
                // SAFETY: a packed node's bytes follow the key, and are at
                // least this long (a listpack 7 bytes, an intset 8).
                let head = unsafe {
                    std::slice::from_raw_parts(self.0.as_ptr().add(at), if intset { 8 } else { 4 })
                };
                if intset {
                    Intset::blob_len(head)
                } else {
                    Listpack::total_len(head)
                }
            }
            _ => 0,
        }
    }

    fn packed_kind(&self) -> Packed {
        Packed::ALL[usize::from(self.byte(EMB_LEN))]
    }

    fn layout(&self) -> Layout {
        Self::layout_of(self.kind_byte(), self.key_len(), self.extra())
    }

    /// Bytes of the node's own allocation.
    pub fn size(&self) -> usize {
        self.layout().size()
    }

    /// Heap bytes the key holds (MEMORY USAGE): its node, and the heap
    /// bytes of a value held whole (nested values estimated from up to
    /// `samples` of them, 0: all).
    pub fn memory_usage(&self, samples: usize) -> usize {
        let held = match self.kind() {
            // SAFETY: a VALUE node's initialised Value, borrowed with `&self`.
            VALUE => unsafe { &*self.value_ptr() }.heap_bytes(samples),
            _ => 0,
        };
        self.size() + held
    }

    fn key_len(&self) -> usize {
        match self.byte(KEY_LEN) {
            // SAFETY: a long key's length is the u32 at the tail (in
            // bounds; an unaligned read).
            LONG_KEY => unsafe {
                let at = tail_of(self.kind_byte());
                ptr::read_unaligned(self.0.as_ptr().add(at).cast::<u32>()) as usize
            },
            n => usize::from(n),
        }
    }

    fn key_at(&self) -> usize {
        key_offset(self.kind_byte(), self.key_len())
    }

    fn has_expire(&self) -> bool {
        self.kind_byte() & HAS_EXPIRE != 0
    }

    pub fn key(&self) -> &[u8] {
        // SAFETY: the key's bytes lie at `key_at` within the node, written
        // when it was made, and live as long as `&self`.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(self.key_at()), self.key_len()) }
    }

    /// Absolute expiry in Unix milliseconds, if any.
    pub fn expire_at(&self) -> Option<i64> {
        let at = self.key_at() - 8;
        // SAFETY: with HAS_EXPIRE the 8 bytes before the key are the time.
        self.has_expire()
            .then(|| unsafe { ptr::read_unaligned(self.0.as_ptr().add(at).cast::<i64>()) })
    }

    pub fn access(&self) -> Access {
        Access {
            // SAFETY: the header's clock lies within every node.
            clock: unsafe { ptr::read_unaligned(self.0.as_ptr().add(CLOCK).cast::<u32>()) },
            counter: self.byte(LFU),
        }
    }

    pub fn set_access(&mut self, access: Access) {
        // SAFETY: header bytes lie within every node; `&mut self` makes
        // the writes exclusive.
        unsafe {
            ptr::write_unaligned(self.0.as_ptr().add(CLOCK).cast::<u32>(), access.clock);
            *self.0.as_ptr().add(LFU) = access.counter;
        }
    }

    fn value_ptr(&self) -> *mut Value {
        debug_assert_eq!(self.kind(), VALUE);
        // SAFETY: a VALUE node holds its Value at VALUE_AT (in bounds).
        unsafe { self.0.as_ptr().add(VALUE_AT).cast::<Value>() }
    }

    pub fn value(&self) -> ValueRef<'_> {
        let at = self.key_at() + self.key_len();
        match self.kind() {
            EMB => {
                // SAFETY: an embedded string's bytes follow the key.
                let data =
                    unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(at), self.extra()) };
                ValueRef::Str(StrRef::Bytes { data, raw: false })
            }
            INT => {
                // SAFETY: an integer string's 8 bytes follow the key.
                let v = unsafe { ptr::read_unaligned(self.0.as_ptr().add(at).cast::<i64>()) };
                ValueRef::Str(StrRef::Int(v))
            }
            PACKED => {
                // SAFETY: a packed collection's bytes follow the key.
                let bytes =
                    unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(at), self.extra()) };
                ValueRef::Packed(self.packed_kind(), bytes)
            }
            // SAFETY: a VALUE node's Value is initialised (MOVED_OUT is set
            // only on nodes being consumed) and borrowed with `&self`.
            _ => ValueRef::of(unsafe { &*self.value_ptr() }),
        }
    }

    /// The value, mutably: a string stored in place is first moved into a
    /// `Value` of its own (the node is rebuilt, with the same key, expire
    /// time and access word).
    pub fn value_mut(&mut self) -> &mut Value {
        if self.kind() != VALUE {
            if self.kind() == PACKED {
                UNPACKED.with_borrow_mut(|keys| keys.push(self.key().to_vec()));
            }
            let (mut value, expire_at) = self.take();
            let (key, access) = (self.key(), self.access());
            let node = Self::build(key, &mut value, expire_at, access, false)
                .unwrap_or_else(|| Self::holding(key, value, expire_at, access));
            *self = node;
        }
        // SAFETY: now a VALUE node; `&mut self` makes the borrow exclusive.
        unsafe { &mut *self.value_ptr() }
    }

    /// Sets or clears the expire time: in place when the key already has
    /// one, else by rebuilding the node (which also re-checks embedding).
    pub(super) fn set_expire(&mut self, expire_at: Option<i64>) {
        if let (Some(t), true) = (expire_at, self.has_expire()) {
            let at = self.key_at() - 8;
            // SAFETY: with HAS_EXPIRE the 8 bytes before the key are the
            // time; `&mut self` makes the write exclusive.
            unsafe { ptr::write_unaligned(self.0.as_ptr().add(at).cast::<i64>(), t) };
            return;
        }
        if expire_at.is_none() && !self.has_expire() {
            return;
        }
        let (value, _) = self.take();
        let node = Node::new(self.key(), value, expire_at, self.access());
        *self = node;
    }

    /// The value and expire time, moved out: the node keeps its key and
    /// must be dropped or overwritten next.
    fn take(&mut self) -> (Value, Option<i64>) {
        let expire_at = self.expire_at();
        if self.kind() != VALUE {
            return (self.value().to_value().into_owned(), expire_at);
        }
        // SAFETY: a VALUE node's initialised Value, read out once: MOVED_OUT
        // keeps `drop` from dropping it again.
        let value = unsafe { ptr::read(self.value_ptr()) };
        // SAFETY: the kind byte lies within the node.
        unsafe { *self.0.as_ptr().add(KIND) |= MOVED_OUT };
        (value, expire_at)
    }

    /// The value and expire time, consuming the node.
    pub fn into_parts(mut self) -> (Value, Option<i64>) {
        self.take()
    }

    /// Holds a compact collection that an edit moved into a `Value` as
    /// its bytes again (if it is still compact and small enough).
    pub fn repack(&mut self) {
        if self.kind() != VALUE {
            return;
        }
        // SAFETY: a VALUE node's initialised Value, borrowed with `&self`.
        let value = unsafe { &*self.value_ptr() };
        if let Some(node) = Self::pack(self.key(), value, self.expire_at(), self.access()) {
            // The old node drops its Value with it.
            *self = node;
        }
    }
}

impl Keyed for Node {
    #[inline]
    fn key(&self) -> &[u8] {
        Node::key(self)
    }

    fn addr(&self) -> *const u8 {
        self.0.as_ptr()
    }

    /// Keys with a TTL are flagged in their bucket.
    fn flagged(&self) -> bool {
        self.has_expire()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let layout = self.layout();
        if self.kind() == VALUE && self.kind_byte() & MOVED_OUT == 0 {
            // SAFETY: the node's initialised Value, dropped once.
            unsafe { ptr::drop_in_place(self.value_ptr()) };
        }
        // SAFETY: allocated in `alloc` with this same layout (the header
        // fields it is computed from never change after allocation).
        unsafe { alloc::dealloc(self.0.as_ptr(), layout) };
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("expire_at", &self.expire_at())
            .field("value", &self.value())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Hash, List, Set, StrValue, ZSet, hash, set, zset};

    fn s(v: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(v))
    }

    /// Every shape of node reads back what it was made with, and survives
    /// changes of shape; the safe twin is the `Value` it was made from.
    #[test]
    fn nodes_hold_what_they_were_given() {
        let values = [
            s(b""),
            s(b"hello"),
            s(b"12345"),
            s(b"-9223372036854775808"),
            s(&[7u8; 200]),
            Value::Str(StrValue::raw(b"raw")),
            Value::List(List::default()),
        ]
        .into_iter()
        .chain(collections())
        .collect::<Vec<_>>();
        for key in [&b""[..], b"k", &[b'x'; 254], &[b'y'; 255], &[b'z'; 70_000]] {
            for value in &values {
                for expire in [None, Some(1_700_000_000_000)] {
                    let access = Access {
                        clock: 42,
                        counter: 5,
                    };
                    let mut node = Node::new(key, value.clone(), expire, access);
                    assert_eq!(node.key(), key);
                    assert_eq!(node.expire_at(), expire);
                    assert_eq!(node.access(), access);
                    let want = value_of(&node);
                    match (&want, value) {
                        (Value::Str(a), Value::Str(b)) => {
                            assert_eq!(a.as_ref().to_vec(), b.as_ref().to_vec())
                        }
                        (a, b) => assert_eq!(a, b),
                    }
                    let later = Access {
                        clock: u32::MAX,
                        counter: 255,
                    };
                    node.set_access(later);
                    node.set_expire(Some(5));
                    assert_eq!((node.expire_at(), node.access()), (Some(5), later));
                    node.set_expire(Some(6));
                    assert_eq!(node.expire_at(), Some(6));
                    node.set_expire(None);
                    assert_eq!((node.expire_at(), node.key()), (None, key));
                    assert_eq!(value_of(&node), want);
                    if let Value::Str(sv) = node.value_mut() {
                        sv.make_raw().push(b'!');
                    }
                    assert_eq!(node.key(), key);
                    let (v, e) = node.into_parts();
                    assert_eq!(e, None);
                    if let (Value::Str(got), Value::Str(before)) = (&v, &want) {
                        let mut b = before.as_ref().to_vec();
                        b.push(b'!');
                        assert_eq!(got.as_ref().to_vec(), b);
                    }
                }
            }
        }
    }

    /// Collections in every compact encoding (packed into their node, one
    /// list too large to be), and in a table.
    fn collections() -> Vec<Value> {
        let mut list = List::default();
        let mut big = List::default();
        for i in 0..20 {
            list.push(format!("e{i}").as_bytes(), false);
            big.push(&[b'b'; 40], true);
        }
        let (sets, hashes, zsets) = (
            set::Limits {
                intset_entries: 512,
                listpack_entries: 128,
                listpack_value: 64,
            },
            hash::Limits {
                entries: 128,
                value: 64,
            },
            zset::Limits {
                entries: 128,
                value: 64,
            },
        );
        let (mut ints, mut members, mut table) = (
            Set::for_members(sets, b"1", 5),
            Set::for_members(sets, b"m", 5),
            Set::for_members(sets, b"t", 200),
        );
        let (mut h, mut z) = (Hash::default(), ZSet::new(zsets, 3, 2));
        for i in 0..5 {
            ints.add(sets, i.to_string().as_bytes());
            members.add(sets, format!("m{i}").as_bytes());
            h.set(hashes, format!("f{i}").as_bytes(), b"v");
            z.insert(zsets, format!("m{i}").as_bytes(), f64::from(i) / 2.0);
        }
        for i in 0..200 {
            table.add(sets, format!("t{i}").as_bytes());
        }
        vec![
            Value::List(list),
            Value::List(big),
            Value::Set(ints),
            Value::Set(members),
            Value::Set(table),
            Value::Hash(h),
            Value::ZSet(z),
        ]
    }

    /// Small compact collections are held as their bytes, edits unpack
    /// them (recording the key) and `repack` packs them again.
    #[test]
    fn small_collections_are_packed() {
        let now = Access::new(0, 0);
        for value in collections() {
            let packed = value.packed().is_some_and(|(_, b)| b.len() <= PACK_LIMIT);
            let mut node = Node::new(b"key", value.clone(), Some(9), now);
            assert_eq!(matches!(node.value(), ValueRef::Packed(..)), packed);
            assert_eq!(value_of(&node), value);
            take_unpacked();
            node.value_mut();
            assert_eq!(
                take_unpacked(),
                if packed {
                    vec![b"key".to_vec()]
                } else {
                    vec![]
                }
            );
            assert!(matches!(node.value(), ValueRef::Value(_)));
            node.repack();
            assert_eq!(matches!(node.value(), ValueRef::Packed(..)), packed);
            assert_eq!((value_of(&node), node.expire_at()), (value, Some(9)));
            if packed {
                assert!(node.memory_usage(0) < 8 + 3 + 8 + PACK_LIMIT);
            }
        }
    }

    fn value_of(node: &Node) -> Value {
        node.value().to_value().into_owned()
    }

    #[test]
    fn short_strings_are_stored_in_place() {
        let now = Access::new(0, 0);
        let node = Node::new(b"key:000001", s(b"value:000001"), None, now);
        assert_eq!(node.size(), 8 + 10 + 12);
        assert!(matches!(
            node.value(),
            ValueRef::Str(StrRef::Bytes { raw: false, .. })
        ));
        let node = Node::new(b"counter", s(b"42"), Some(1), now);
        assert_eq!(node.size(), 8 + 8 + 7 + 8);
        assert!(matches!(node.value(), ValueRef::Str(StrRef::Int(42))));
        // Too long to embed with this key: raw, held whole.
        let node = Node::new(&[b'k'; 100], s(&[b'v'; 20]), None, now);
        assert!(matches!(
            node.value(),
            ValueRef::Str(StrRef::Bytes { raw: true, .. })
        ));
    }
}
