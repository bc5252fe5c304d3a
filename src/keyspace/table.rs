//! The keyspace hashtable: cache-line buckets of entry pointers.
//!
//! Each 64-byte bucket holds eight one-byte tags, eight six-byte pointers
//! to entries (which carry their own key; see `Ptr48`) and a pointer to a
//! child bucket when more entries hash there than fit. A tag is 7 bits of
//! the entry's hash (never zero: a zero tag is an empty slot) and the
//! entry's flag in the top bit. A lookup reads one cache line, compares
//! the eight tags at once (SSE2 on x86_64) and only then dereferences the
//! entries whose tag matched. Eight slots per line let the table fill
//! every slot on average before it grows (one million keys fit 2^17
//! buckets, with about one in nine entries in a child): 11 bytes of table
//! per key there, against 17 for six 8-byte slots.
//!
//! The table grows and shrinks by powers of two, incrementally: while it
//! rehashes, a second table takes new entries and each operation moves one
//! bucket (with its chain) across, so no call does more than a bounded
//! step. Keys are hashed with SipHash-1-3 under a random per-process key
//! (std's `RandomState`), so clients cannot choose colliding keys.
//!
//! SCAN uses Valkey's reverse-binary cursor over bucket indexes: every
//! entry present for a whole scan is returned at least once, across
//! resizes. Iteration prefetches the bucket after next and the entries of
//! the next one.
//!
//! Slots hold owning six-byte pointers to the entries (`Option<T>`, zero
//! when empty); `unsafe` here is confined to the child
//! buckets, owned through raw pointers that only the table creates and
//! frees.

use std::hash::{BuildHasher, RandomState};
use std::ptr;

/// What a slot holds: a six-byte owning pointer to an entry that knows its
/// key (`Option<Self>` must be six bytes: a bucket is checked to be 64).
pub trait Keyed {
    fn key(&self) -> &[u8];
    /// Where the entry lives, for prefetching.
    fn addr(&self) -> *const u8;
    /// A mark the bucket keeps beside the slot (the keyspace: the key has
    /// a TTL), so [`Table::sweep_flagged`] finds such entries without
    /// reading the others.
    fn flagged(&self) -> bool {
        false
    }
}

/// Entry slots per bucket (the rest of the cache line is the tags and the
/// child pointer).
const SLOTS: usize = 8;
const FULL: u8 = u8::MAX;
/// A tag's flag bit (`Keyed::flagged`); the other seven are the hash's.
const FLAG: u8 = 0x80;
/// Grow once the table holds more entries than slots (as Valkey does at
/// its soft fill limit), shrink below 1 in 8 of that.
const GROW_FILL: usize = SLOTS;
const SHRINK_DIVISOR: usize = 8;
const MIN_BUCKETS: usize = 4;
/// Keys one `prefetch` call handles.
pub const PREFETCH_BATCH: usize = 16;
/// Empty buckets a rehash step may pass before it returns.
const EMPTY_VISITS: usize = 10;

#[repr(C, align(64))]
struct Bucket<T> {
    /// Per slot: 0 when empty, else the entry's hash tag (`tag_of`), with
    /// `FLAG` set when the entry is flagged.
    tags: [u8; SLOTS],
    entries: [Option<T>; SLOTS],
    /// Entries that did not fit, or null.
    child: *mut Bucket<T>,
}

impl<T> Bucket<T> {
    fn empty() -> Self {
        const { assert!(size_of::<Bucket<T>>() == 64, "a bucket is one cache line") };
        Bucket {
            tags: [0; SLOTS],
            entries: [const { None }; SLOTS],
            child: ptr::null_mut(),
        }
    }

    /// Slots whose tag is `tag` and which hold an entry.
    #[inline]
    fn matches(&self, tag: u8) -> u8 {
        tag_matches(&self.tags, tag)
    }

    /// Slots that hold an entry.
    #[inline]
    fn presence(&self) -> u8 {
        occupied(&self.tags)
    }

    /// Slots whose entry is flagged.
    #[inline]
    fn flagged(&self) -> u8 {
        flag_bits(&self.tags)
    }

    /// Asks for the lines of the entries this bucket holds.
    #[inline]
    fn prefetch_entries(&self)
    where
        T: Keyed,
    {
        let mut m = self.presence();
        while m != 0 {
            if let Some(e) = &self.entries[m.trailing_zeros() as usize] {
                prefetch(e.addr());
            }
            m &= m - 1;
        }
    }

    /// Fills the free `slot`.
    fn put(&mut self, slot: usize, hash: u64, entry: T)
    where
        T: Keyed,
    {
        self.tags[slot] = tag_of(hash) | if entry.flagged() { FLAG } else { 0 };
        self.entries[slot] = Some(entry);
    }

    /// Empties `slot`, handing its entry back.
    fn take(&mut self, slot: usize) -> T {
        self.tags[slot] = 0;
        self.entries[slot].take().expect("a present slot")
    }

    #[inline]
    fn child(&self) -> Option<&Bucket<T>> {
        // SAFETY: a non-null child was made by `Box::into_raw` in `insert`
        // and is freed only by its parent (`unlink_empty`, `drain_chain`,
        // `free_chains`), which then nulls this pointer.
        unsafe { self.child.as_ref() }
    }

    #[inline]
    fn child_mut(&mut self) -> Option<&mut Bucket<T>> {
        // SAFETY: as in `child`; `&mut self` makes the access exclusive.
        unsafe { self.child.as_mut() }
    }
}

/// The tag of an entry with `hash`: its top seven bits, never zero.
#[inline]
fn tag_of(hash: u64) -> u8 {
    ((hash >> 57) as u8).max(1)
}

/// Bit i set where slot i's tag (flag bit aside) is `tag`: one SSE2
/// compare of all eight bytes. Empty slots never match (no tag is zero).
#[cfg(target_arch = "x86_64")]
#[inline]
fn tag_matches(tags: &[u8; SLOTS], tag: u8) -> u8 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; no memory is touched.
    let eq = unsafe {
        let v = _mm_set_epi64x(0, i64::from_le_bytes(*tags));
        let hashed = _mm_and_si128(v, _mm_set1_epi8(!FLAG as i8));
        _mm_movemask_epi8(_mm_cmpeq_epi8(hashed, _mm_set1_epi8(tag as i8)))
    };
    eq as u8
}

/// Bit i set where slot i holds an entry (its tag is not zero).
#[cfg(target_arch = "x86_64")]
#[inline]
fn occupied(tags: &[u8; SLOTS]) -> u8 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline; no memory is touched.
    let empty = unsafe {
        let v = _mm_set_epi64x(0, i64::from_le_bytes(*tags));
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()))
    };
    !(empty as u8)
}

/// Bit i set where slot i's flag is.
#[inline]
fn flag_bits(tags: &[u8; SLOTS]) -> u8 {
    bits_where(tags, |t| t & FLAG != 0)
}

/// Bit i set where `f(tags[i])`: the portable form of the compares.
#[inline]
fn bits_where(tags: &[u8; SLOTS], f: impl Fn(u8) -> bool) -> u8 {
    let mut bits = 0;
    for (i, &t) in tags.iter().enumerate() {
        bits |= u8::from(f(t)) << i;
    }
    bits
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn tag_matches(tags: &[u8; SLOTS], tag: u8) -> u8 {
    bits_where(tags, |t| t & !FLAG == tag)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn occupied(tags: &[u8; SLOTS]) -> u8 {
    bits_where(tags, |t| t != 0)
}

/// Asks the CPU to start loading the cache line at `p`.
#[inline]
fn prefetch<U>(p: *const U) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Where an entry sits: valid until the table is next modified. A stale
/// position finds either nothing (a panic) or another entry, never freed
/// memory: every access checks it against the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    table: u8,
    slot: u8,
    depth: u32,
    bucket: usize,
}

pub struct Table<T: Keyed> {
    /// `tables[0]` is the table; while rehashing, entries move from it to
    /// `tables[1]` bucket by bucket, from `rehash_from` up.
    tables: [Vec<Bucket<T>>; 2],
    rehash_from: Option<usize>,
    len: usize,
    hasher: RandomState,
}

// SAFETY: the table owns its child buckets exclusively (the raw pointers
// are never shared outside it), like a Vec<Box<Bucket<T>>>.
unsafe impl<T: Keyed + Send> Send for Table<T> {}

impl<T: Keyed> Default for Table<T> {
    fn default() -> Self {
        Table {
            tables: [Vec::new(), Vec::new()],
            rehash_from: None,
            len: 0,
            hasher: RandomState::new(),
        }
    }
}

impl<T: Keyed + Clone> Clone for Table<T> {
    fn clone(&self) -> Self {
        let mut t = Table::default();
        for e in self.iter() {
            t.insert(e.clone());
        }
        t
    }
}

/// Equal when both hold equal entries under the same keys.
impl<T: Keyed + PartialEq> PartialEq for Table<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|e| other.get(e.key()) == Some(e))
    }
}

impl<T: Keyed + std::fmt::Debug> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<T: Keyed> Drop for Table<T> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<T: Keyed> Table<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_rehashing(&self) -> bool {
        self.rehash_from.is_some()
    }

    /// Buckets in the main table and in the one being rehashed into.
    pub fn buckets(&self) -> (usize, usize) {
        (self.tables[0].len(), self.tables[1].len())
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Prefetches, for a batch of keys about to be looked up, their buckets
    /// and then the entries whose tags match, so the lookups that follow
    /// find them in cache (Valkey's batch key prefetch). A hint: it changes
    /// nothing.
    pub fn prefetch<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        let mut hashes = [0u64; PREFETCH_BATCH];
        let mut n = 0;
        for key in keys.take(PREFETCH_BATCH) {
            hashes[n] = self.hash(key);
            for (t, b) in self.homes(hashes[n]) {
                prefetch(&self.tables[t][b]);
            }
            n += 1;
        }
        for &hash in &hashes[..n] {
            for (t, b) in self.homes(hash) {
                let bucket = &self.tables[t][b];
                let mut m = bucket.matches(tag_of(hash));
                while m != 0 {
                    if let Some(e) = &bucket.entries[m.trailing_zeros() as usize] {
                        prefetch(e.addr());
                    }
                    m &= m - 1;
                }
            }
        }
    }

    /// The tables a key with `hash` may be in, with its bucket in each.
    #[inline]
    fn homes(&self, hash: u64) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..2).filter_map(move |t| {
            let n = self.tables[t].len();
            if n == 0 {
                return None;
            }
            let b = hash as usize & (n - 1);
            // Buckets below the rehash point have moved to table 1.
            (t == 1 || self.rehash_from.is_none_or(|from| b >= from)).then_some((t, b))
        })
    }

    pub fn find(&self, key: &[u8]) -> Option<Pos> {
        self.find_hashed(key, self.hash(key))
    }

    fn find_hashed(&self, key: &[u8], hash: u64) -> Option<Pos> {
        let tag = tag_of(hash);
        for (t, b) in self.homes(hash) {
            let mut bucket = Some(&self.tables[t][b]);
            let mut depth = 0;
            while let Some(bk) = bucket {
                let mut m = bk.matches(tag);
                while m != 0 {
                    let slot = m.trailing_zeros() as usize;
                    m &= m - 1;
                    if bk.entries[slot].as_ref().is_some_and(|e| e.key() == key) {
                        return Some(Pos {
                            table: t as u8,
                            depth,
                            slot: slot as u8,
                            bucket: b,
                        });
                    }
                }
                bucket = bk.child();
                depth += 1;
            }
        }
        None
    }

    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.find(key).map(|p| self.at(p))
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut T> {
        self.find(key).map(|p| self.at_mut(p))
    }

    /// The bucket a position names (panics if the position is stale).
    fn bucket_at(&self, pos: Pos) -> &Bucket<T> {
        let mut b = &self.tables[usize::from(pos.table)][pos.bucket];
        for _ in 0..pos.depth {
            b = b.child().expect("a position from this table");
        }
        assert!(b.presence() & (1 << pos.slot) != 0, "a stale position");
        b
    }

    pub fn at(&self, pos: Pos) -> &T {
        self.bucket_at(pos).entries[usize::from(pos.slot)]
            .as_ref()
            .expect("a present slot")
    }

    fn bucket_at_mut(&mut self, pos: Pos) -> &mut Bucket<T> {
        let mut b = &mut self.tables[usize::from(pos.table)][pos.bucket];
        for _ in 0..pos.depth {
            b = b.child_mut().expect("a position from this table");
        }
        b
    }

    /// The entry at `pos`, which the caller may also replace with another
    /// of the same key (then [`Table::refresh_flag`] if its flag changed).
    pub fn at_mut(&mut self, pos: Pos) -> &mut T {
        self.bucket_at_mut(pos).entries[usize::from(pos.slot)]
            .as_mut()
            .expect("a present slot")
    }

    /// Re-reads the flag of the entry at `pos` after a change.
    pub fn refresh_flag(&mut self, pos: Pos) {
        let b = self.bucket_at_mut(pos);
        let slot = usize::from(pos.slot);
        let flagged = b.entries[slot].as_ref().expect("a present slot").flagged();
        b.tags[slot] = b.tags[slot] & !FLAG | if flagged { FLAG } else { 0 };
    }

    /// Visits the flagged entries of up to `max_buckets` buckets (with
    /// their chains) in index order from bucket `from` (counting the
    /// tables one after the other), while `visit` returns true. Returns
    /// where to continue (0 after the last bucket). Only the buckets are
    /// read to find the flagged entries, one cache line after the next.
    pub fn sweep_flagged<'a>(
        &'a self,
        from: usize,
        max_buckets: usize,
        mut visit: impl FnMut(&'a T) -> bool,
    ) -> usize {
        let [a, b] = &self.tables;
        let total = a.len() + b.len();
        let mut i = from;
        for _ in 0..max_buckets {
            if i >= total {
                return 0;
            }
            let home = if i < a.len() { &a[i] } else { &b[i - a.len()] };
            i += 1;
            for bk in std::iter::successors(Some(home), |b| b.child()) {
                let mut m = bk.flagged();
                while m != 0 {
                    let slot = m.trailing_zeros() as usize;
                    m &= m - 1;
                    if !visit(bk.entries[slot].as_ref().expect("a present slot")) {
                        return i;
                    }
                }
            }
        }
        if i >= total { 0 } else { i }
    }

    /// Adds an entry whose key is not in the table (the caller checked).
    pub fn insert(&mut self, entry: T) -> Pos {
        let hash = self.hash(entry.key());
        self.step();
        if self.len + 1 > self.tables[0].len() * GROW_FILL && !self.is_rehashing() {
            self.resize((self.len + 1).div_ceil(GROW_FILL).next_power_of_two());
            self.step();
        }
        self.len += 1;
        let t = usize::from(self.is_rehashing());
        let (b, depth, slot) = place(&mut self.tables[t], hash, entry);
        Pos {
            table: t as u8,
            depth,
            slot,
            bucket: b,
        }
    }

    /// Removes the entry at `pos` and hands it back.
    pub fn remove_at(&mut self, pos: Pos) -> T {
        let home = &mut self.tables[usize::from(pos.table)][pos.bucket];
        let mut b = &mut *home;
        for _ in 0..pos.depth {
            b = b.child_mut().expect("a position from this table");
        }
        assert!(b.presence() & (1 << pos.slot) != 0, "a stale position");
        let entry = b.take(usize::from(pos.slot));
        unlink_empty(home);
        self.len -= 1;
        self.step();
        let (main, _) = self.buckets();
        if !self.is_rehashing()
            && main > MIN_BUCKETS
            && self.len * SHRINK_DIVISOR < main * GROW_FILL
        {
            let target = self.len.div_ceil(GROW_FILL).next_power_of_two();
            self.resize(target.max(MIN_BUCKETS));
        }
        entry
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        let pos = self.find(key)?;
        Some(self.remove_at(pos))
    }

    /// Empties the table, freeing every entry and bucket.
    pub fn clear(&mut self) {
        for t in &mut self.tables {
            for b in t.iter_mut() {
                drain_chain(b, drop);
            }
            *t = Vec::new();
        }
        self.rehash_from = None;
        self.len = 0;
    }

    /// Starts moving the entries into a table of `buckets` buckets.
    fn resize(&mut self, buckets: usize) {
        let buckets = buckets.max(MIN_BUCKETS);
        if buckets == self.tables[0].len() {
            return;
        }
        if self.tables[0].is_empty() {
            self.tables[0] = (0..buckets).map(|_| Bucket::empty()).collect();
            return;
        }
        self.tables[1] = (0..buckets).map(|_| Bucket::empty()).collect();
        self.rehash_from = Some(0);
    }

    /// One bounded rehash step: moves one non-empty bucket (and its chain)
    /// to the new table, passing at most `EMPTY_VISITS` empty ones.
    fn step(&mut self) {
        let Some(mut from) = self.rehash_from else {
            return;
        };
        let mut empty = 0;
        while from < self.tables[0].len() {
            let b = &mut self.tables[0][from];
            from += 1;
            if b.presence() == 0 && b.child.is_null() {
                empty += 1;
                if empty >= EMPTY_VISITS {
                    break;
                }
                continue;
            }
            let [old, new] = &mut self.tables;
            let hasher = &self.hasher;
            drain_chain(&mut old[from - 1], |e| {
                let hash = hasher.hash_one(e.key());
                place(new, hash, e);
            });
            break;
        }
        if from >= self.tables[0].len() {
            self.tables[0] = std::mem::take(&mut self.tables[1]);
            self.rehash_from = None;
        } else {
            self.rehash_from = Some(from);
        }
    }

    /// Finishes any rehash at once.
    #[cfg(test)]
    pub fn finish_rehash(&mut self) {
        while self.is_rehashing() {
            self.step();
        }
    }

    /// One SCAN step from `cursor`: visits the entries of one bucket of
    /// the smaller table and of the buckets it expands to in the larger
    /// one; returns the next cursor (0 when the scan is complete).
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a T)) -> u64 {
        let mut visit_chain = |b: &'a Bucket<T>| {
            let mut bucket = Some(b);
            while let Some(bk) = bucket {
                let mut m = bk.presence();
                while m != 0 {
                    let slot = m.trailing_zeros() as usize;
                    m &= m - 1;
                    visit(bk.entries[slot].as_ref().expect("a present slot"));
                }
                bucket = bk.child();
            }
        };
        let live = |t: usize, b: usize| t == 1 || self.rehash_from.is_none_or(|from| b >= from);
        let mut cursor = cursor as usize;
        if !self.is_rehashing() {
            let t = &self.tables[0];
            if t.is_empty() {
                return 0;
            }
            let mask = t.len() - 1;
            visit_chain(&t[cursor & mask]);
            return next_cursor(cursor, mask) as u64;
        }
        let (small, large) = if self.tables[0].len() <= self.tables[1].len() {
            (0, 1)
        } else {
            (1, 0)
        };
        let (small_mask, large_mask) = (self.tables[small].len() - 1, self.tables[large].len() - 1);
        if live(small, cursor & small_mask) {
            visit_chain(&self.tables[small][cursor & small_mask]);
        }
        // Every bucket of the larger table that the small bucket expands
        // to: the cursor's bits above the small mask run through all values.
        loop {
            if live(large, cursor & large_mask) {
                visit_chain(&self.tables[large][cursor & large_mask]);
            }
            cursor = next_cursor(cursor, large_mask);
            if cursor & (small_mask ^ large_mask) == 0 {
                break;
            }
        }
        cursor as u64
    }

    /// SCAN's step from `cursor` (0 starts): whole buckets are visited
    /// until `count` entries were seen (or ten times as many buckets), as
    /// in Valkey. Returns the next cursor (0 when done).
    pub fn scan_count<'a>(
        &'a self,
        mut cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'a T),
    ) -> u64 {
        let (mut visited, mut buckets) = (0, 0);
        loop {
            cursor = self.scan(cursor, |e| {
                visit(e);
                visited += 1;
            });
            buckets += 1;
            if cursor == 0 || visited >= count || buckets >= count.saturating_mul(10) {
                return cursor;
            }
        }
    }

    /// Bytes the buckets take (top-level and child), the table's own
    /// overhead beside its entries (MEMORY STATS).
    pub fn bucket_bytes(&self) -> usize {
        let chain = |b: &Bucket<T>| std::iter::successors(Some(b), |b| b.child()).count();
        let buckets: usize = self.tables.iter().flatten().map(chain).sum();
        buckets * size_of::<Bucket<T>>()
    }

    /// DEBUG HTSTATS: Valkey's text for each table (the main one, and the
    /// one being rehashed into), with bucket chain lengths when `full`.
    pub fn stats(&self, full: bool, out: &mut String) {
        use std::fmt::Write as _;
        for (t, buckets) in self.tables.iter().enumerate() {
            if buckets.is_empty() {
                continue;
            }
            let mut chains = std::collections::BTreeMap::<usize, usize>::new();
            let mut entries = 0;
            for b in buckets {
                let chain = std::iter::successors(Some(b), |b| b.child());
                let (mut len, mut n) = (0, 0);
                for bk in chain {
                    n += bk.presence().count_ones() as usize;
                    len += 1;
                }
                entries += n;
                *chains.entry(len - 1).or_default() += 1;
            }
            let what = if t == 0 {
                "main hash table"
            } else {
                "rehashing target"
            };
            let rehashing = match self.rehash_from {
                Some(from) if t == 0 => from as i64,
                _ => -1,
            };
            let _ = write!(
                out,
                "Hash table {t} stats ({what}):\n table size: {}\n number of entries: {entries}\n rehashing index: {rehashing}\n",
                buckets.len() * SLOTS
            );
            if full {
                let children: usize = chains.iter().map(|(len, n)| len * n).sum();
                let max = chains.keys().next_back().copied().unwrap_or(0);
                let _ = write!(
                    out,
                    " top-level buckets: {}\n child buckets: {children}\n max chain length: {max}\n avg chain length: {:.6}\n chain length distribution:\n",
                    buckets.len(),
                    children as f64 / buckets.len() as f64
                );
                for (len, n) in chains {
                    let pct = n as f64 * 100.0 / buckets.len() as f64;
                    let _ = writeln!(out, "   {len}: {n} ({pct:.2}%)");
                }
            }
        }
    }

    /// A random entry: random buckets until one holds entries, then a
    /// random one of those (a bucket's chain counts as part of it).
    pub fn random(&self, rng: &mut impl FnMut(usize) -> usize) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        loop {
            let t = if self.is_rehashing() { rng(2) } else { 0 };
            let n = self.tables[t].len();
            if n == 0 {
                continue;
            }
            let home = &self.tables[t][rng(n)];
            let chain = || std::iter::successors(Some(home), |b| b.child());
            let count: u32 = chain().map(|b| b.presence().count_ones()).sum();
            if count == 0 {
                continue;
            }
            let mut k = rng(count as usize) as u32;
            for b in chain() {
                let mut m = b.presence();
                if k >= m.count_ones() {
                    k -= m.count_ones();
                    continue;
                }
                for _ in 0..k {
                    m &= m - 1;
                }
                return b.entries[m.trailing_zeros() as usize].as_ref();
            }
        }
    }

    /// Every entry, bucket by bucket, prefetching ahead.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            table: self,
            t: 0,
            b: 0,
            bucket: None,
            left: 0,
        }
    }
}

/// Puts entry `p` with `hash` into the first free slot of its bucket's
/// chain in `table`, adding a child bucket if the chain is full; returns
/// (bucket, depth, slot).
fn place<T: Keyed>(table: &mut [Bucket<T>], hash: u64, entry: T) -> (usize, u32, u8) {
    let b = hash as usize & (table.len() - 1);
    let mut bucket = &mut table[b];
    let mut depth = 0;
    loop {
        let presence = bucket.presence();
        if presence != FULL {
            let slot = (!presence).trailing_zeros() as usize;
            bucket.put(slot, hash, entry);
            return (b, depth, slot as u8);
        }
        if bucket.child.is_null() {
            bucket.child = Box::into_raw(Box::new(Bucket::empty()));
        }
        bucket = bucket.child_mut().expect("just made");
        depth += 1;
    }
}

/// Frees the empty child buckets of a chain (entries keep their places:
/// positions deeper in the chain may change, as any change allows).
fn unlink_empty<T>(home: &mut Bucket<T>) {
    let mut bucket = home;
    loop {
        let child = bucket.child;
        if child.is_null() {
            return;
        }
        // SAFETY: a non-null child is a live bucket owned by its parent.
        let c = unsafe { &mut *child };
        if c.presence() == 0 {
            bucket.child = c.child;
            // SAFETY: `child` came from `Box::into_raw` and is now unlinked.
            drop(unsafe { Box::from_raw(child) });
        } else {
            bucket = c;
        }
    }
}

/// Takes every entry out of a bucket's chain (handing each to `f`) and
/// frees its child buckets.
fn drain_chain<T>(home: &mut Bucket<T>, mut f: impl FnMut(T)) {
    let mut take = |b: &mut Bucket<T>| {
        let mut m = b.presence();
        while m != 0 {
            let slot = m.trailing_zeros() as usize;
            m &= m - 1;
            f(b.take(slot));
        }
    };
    take(home);
    let mut child = std::mem::replace(&mut home.child, ptr::null_mut());
    while !child.is_null() {
        // SAFETY: a chain's child buckets come from `Box::into_raw` and
        // are owned by the chain alone; each is freed once, after use.
        let mut boxed = unsafe { Box::from_raw(child) };
        take(&mut boxed);
        child = boxed.child;
    }
}

/// Valkey's reverse-binary cursor increment: the bits of `cursor` within
/// `mask`, counted from the top, plus one.
fn next_cursor(cursor: usize, mask: usize) -> usize {
    let c = cursor | !mask;
    c.reverse_bits().wrapping_add(1).reverse_bits()
}

pub struct Iter<'a, T: Keyed> {
    table: &'a Table<T>,
    t: usize,
    b: usize,
    bucket: Option<&'a Bucket<T>>,
    left: u8,
}

impl<'a, T: Keyed> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(bk) = self.bucket {
                if self.left != 0 {
                    let slot = self.left.trailing_zeros() as usize;
                    self.left &= self.left - 1;
                    return bk.entries[slot].as_ref();
                }
                self.bucket = bk.child();
                self.left = self.bucket.map_or(0, |c| c.presence());
                continue;
            }
            let tables = &self.table.tables;
            while self.t < 2 && self.b >= tables[self.t].len() {
                (self.t, self.b) = (self.t + 1, 0);
            }
            let t = tables.get(self.t)?;
            // The bucket after next; the entries and the child of the next
            // one; the entries of this one's child (its line was asked for
            // one step ago).
            if let Some(ahead) = t.get(self.b + 2) {
                prefetch(ahead);
            }
            if let Some(next) = t.get(self.b + 1) {
                next.prefetch_entries();
                if !next.child.is_null() {
                    prefetch(next.child);
                }
            }
            let bk = &t[self.b];
            if let Some(child) = bk.child() {
                child.prefetch_entries();
            }
            self.b += 1;
            (self.bucket, self.left) = (Some(bk), bk.presence());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::member::Member;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    /// A test entry: key "k<n>" and a number, flagged when it is odd.
    #[derive(Debug)]
    struct Item(Member);

    impl Item {
        fn value(&self) -> u32 {
            u32::from_le_bytes(self.0.value().try_into().expect("four bytes"))
        }
    }

    impl Keyed for Item {
        fn key(&self) -> &[u8] {
            self.0.key()
        }

        fn addr(&self) -> *const u8 {
            Keyed::addr(&self.0)
        }

        fn flagged(&self) -> bool {
            self.value() % 2 == 1
        }
    }

    fn item(k: u32, value: u32) -> Item {
        Item(Member::pair(
            format!("k{k}").as_bytes(),
            &value.to_le_bytes(),
        ))
    }

    #[test]
    fn bucket_is_one_cache_line() {
        assert_eq!(size_of::<Bucket<Item>>(), 64);
        assert_eq!(align_of::<Bucket<Item>>(), 64);
    }

    #[test]
    fn tag_compares_match_the_plain_loop() {
        let tags = [3, 7, 3 | FLAG, 0, 127, 3, 0, 127 | FLAG];
        for tag in [1u8, 3, 7, 127, 9] {
            assert_eq!(
                tag_matches(&tags, tag),
                bits_where(&tags, |t| t & !FLAG == tag)
            );
        }
        assert_eq!(occupied(&tags), bits_where(&tags, |t| t != 0));
        assert_eq!(occupied(&tags), 0b1011_0111);
        assert_eq!(flag_bits(&tags), 0b1000_0100);
        assert_eq!(occupied(&[0; SLOTS]), 0);
        assert!((0..128u64).all(|top| tag_of(top << 57) & !FLAG != 0));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32, u32),
        Remove(u32),
        Get(u32),
        Update(u32, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        let k = 0u32..400;
        prop_oneof![
            3 => (k.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => k.clone().prop_map(Op::Remove),
            1 => k.clone().prop_map(Op::Get),
            1 => (k, any::<u32>()).prop_map(|(k, v)| Op::Update(k, v)),
        ]
    }

    proptest! {
        /// The table against std's HashMap: random inserts, removes,
        /// lookups and in-place updates, through growth, shrinking and
        /// incremental rehashing.
        #[test]
        fn behaves_like_a_hashmap(ops in proptest::collection::vec(op(), 0..3000)) {
            let mut table: Table<Item> = Table::default();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let it = item(k, v);
                        if model.contains_key(it.key()) {
                            continue;
                        }
                        model.insert(it.key().to_vec(), v);
                        let pos = table.insert(it);
                        prop_assert_eq!(table.at(pos).value(), v);
                    }
                    Op::Remove(k) => {
                        let key = format!("k{k}").into_bytes();
                        let got = table.remove(&key).map(|b| b.value());
                        prop_assert_eq!(got, model.remove(&key));
                    }
                    Op::Get(k) => {
                        let key = format!("k{k}").into_bytes();
                        prop_assert_eq!(table.get(&key).map(|i| i.value()), model.get(&key).copied());
                    }
                    Op::Update(k, v) => {
                        let key = format!("k{k}").into_bytes();
                        if let Some(pos) = table.find(&key) {
                            *table.at_mut(pos) = item(k, v);
                            table.refresh_flag(pos);
                        }
                        if let Some(m) = model.get_mut(&key) {
                            *m = v;
                        }
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            let all: HashMap<Vec<u8>, u32> = table.iter().map(|i| (i.key().to_vec(), i.value())).collect();
            prop_assert_eq!(&all, &model);
            // The flags followed every insert, update, remove and move: a
            // sweep in small steps finds exactly the odd values.
            let mut flagged = HashSet::new();
            let mut at = 0;
            loop {
                at = table.sweep_flagged(at, 3, |i| {
                    flagged.insert(i.key().to_vec());
                    true
                });
                if at == 0 {
                    break;
                }
            }
            let odd: HashSet<Vec<u8>> =
                model.iter().filter(|(_, v)| *v % 2 == 1).map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(flagged, odd);
        }

        /// Every key present for a whole SCAN is returned, while keys are
        /// added and removed between the calls (so the table grows, shrinks
        /// and rehashes under the cursor).
        #[test]
        fn scan_returns_every_lasting_key(
            start in 0u32..3000,
            adds in 0u32..3000,
            removes in 0u32..3000,
        ) {
            let mut table: Table<Item> = Table::default();
            for k in 0..start {
                table.insert(item(k, k));
            }
            // Keys below `start - removes` stay; the rest may be removed.
            let lasting: HashSet<Vec<u8>> = (0..start.saturating_sub(removes))
                .map(|k| format!("k{k}").into_bytes())
                .collect();
            let mut seen = HashSet::new();
            let (mut cursor, mut next_add, mut next_remove) = (0u64, start, start);
            loop {
                cursor = table.scan(cursor, |i| {
                    seen.insert(i.key().to_vec());
                });
                for _ in 0..7 {
                    if next_add < start + adds {
                        table.insert(item(next_add, 0));
                        next_add += 1;
                    }
                    if next_remove > start.saturating_sub(removes) {
                        next_remove -= 1;
                        table.remove(format!("k{next_remove}").as_bytes());
                    }
                }
                if cursor == 0 {
                    break;
                }
            }
            for k in &lasting {
                prop_assert!(seen.contains(k), "{:?} missed", String::from_utf8_lossy(k));
            }
        }
    }

    #[test]
    fn grows_and_shrinks_in_bounded_steps() {
        let mut table: Table<Item> = Table::default();
        for k in 0..100_000 {
            table.insert(item(k, k));
        }
        let (main, _) = table.buckets();
        assert!(main >= 100_000 / GROW_FILL, "{main} buckets");
        for k in 0..99_990 {
            table.remove(format!("k{k}").as_bytes());
        }
        table.finish_rehash();
        assert!(table.buckets().0 <= 16, "{:?}", table.buckets());
        for k in 99_990..100_000 {
            assert_eq!(
                table.get(format!("k{k}").as_bytes()).map(|i| i.value()),
                Some(k)
            );
        }
    }

    #[test]
    fn random_reaches_every_entry() {
        let mut table: Table<Item> = Table::default();
        for k in 0..50 {
            table.insert(item(k, k));
        }
        let mut state = 7u64;
        let mut rng = |n: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((state >> 33) as usize) % n
        };
        let mut seen = HashSet::new();
        for _ in 0..5000 {
            seen.insert(table.random(&mut rng).expect("not empty").value());
        }
        assert_eq!(seen.len(), 50);
    }
}
