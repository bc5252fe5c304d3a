//! One database: keys mapped to entries, plus the set of keys with a TTL.

use foldhash::fast::RandomState;
use indexmap::IndexSet;
use std::borrow::Cow;

use super::events::{self, Classes};
use super::evict::{Access, LFU_INIT, Lfu};
use super::table::{Pos, Table};
use crate::types::{Typed, Value, ValueRef};

pub use super::key::Key;
pub use super::node::Node;

/// Where a live key sits: valid until the database is next modified.
#[derive(Clone, Copy, Debug)]
pub struct Slot(Pos);

/// An entry out of the keyspace (removed, or about to be stored): the
/// table keeps it in a [`Node`] with its key.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds, if any.
    pub expire_at: Option<i64>,
    /// Last access (OBJECT IDLETIME, LRU eviction) and LFU counter
    /// (OBJECT FREQ, LFU eviction).
    access: Access,
}

impl Entry {
    /// A new key's entry, accessed now, with Valkey's initial LFU count.
    pub fn new(value: Value, expire_at: Option<i64>, now_ms: i64) -> Entry {
        Entry {
            value,
            expire_at,
            access: Access::new(now_ms, LFU_INIT),
        }
    }

    /// This entry as a new key's (COPY): its access history starts now.
    pub fn renewed(self, now_ms: i64) -> Entry {
        Entry::new(self.value, self.expire_at, now_ms)
    }
}

impl Node {
    /// Milliseconds since the key was last accessed.
    pub fn idle_ms(&self, now_ms: i64) -> i64 {
        self.access().idle_ms(now_ms)
    }

    /// The stored LFU counter (before decay).
    pub fn lfu_counter(&self) -> u8 {
        self.access().counter
    }

    fn is_expired(&self, now_ms: i64) -> bool {
        self.expire_at().is_some_and(|t| t <= now_ms)
    }

    /// A copy out of the table (COPY).
    pub fn to_entry(&self) -> Entry {
        let value = self.value().to_value().into_owned();
        Entry {
            value,
            expire_at: self.expire_at(),
            access: self.access(),
        }
    }

    /// The value as a `T`, mutably (None if it is another type: a string
    /// stored in place stays so).
    pub fn typed_mut<T: Typed>(&mut self) -> Option<&mut T> {
        (self.value().type_name() == T::TYPE).then_some(())?;
        T::of_mut(self.value_mut())
    }
}

#[derive(Default, Debug)]
pub struct DbStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

/// Events a database raises by itself (a key created, expired, or missed
/// by a read; hash fields expired), kept only while keyspace notifications
/// want them: the server publishes them in order with the events of the
/// command that caused them.
#[derive(Default)]
pub struct EventLog {
    /// The classes to record.
    pub wanted: Classes,
    pub pending: Vec<(Classes, &'static str, Key)>,
}

impl EventLog {
    fn record(&mut self, class: Classes, event: &'static str, key: &[u8]) {
        if self.wanted & class != 0 {
            self.pending.push((class, event, key.into()));
        }
    }
}

/// Buckets one sweep for keys with a TTL may pass (reading only their
/// flags: ~1 MB of buckets, read in order).
const SWEEP_BUCKETS: usize = 16_384;

#[derive(Default)]
pub struct Db {
    dict: Table<Node>,
    /// How many keys have an expire time. The table's buckets flag them,
    /// so no second structure lists them: the active expire cycle sweeps
    /// the flags from `expire_cursor`, and volatile eviction samples a
    /// stretch of them from a random bucket.
    expires: usize,
    expire_cursor: usize,
    pub stats: DbStats,
    pub events: EventLog,
    /// Hashes with expiring fields, for the active field expiry (a key
    /// whose hash lost its last expiry stays until it is sampled).
    volatile_hashes: IndexSet<Key, RandomState>,
    /// Hashes the active expiry took fields from since the server last
    /// looked (for WATCH).
    pub reaped_hashes: Vec<Key>,
    /// LFU parameters while an LFU maxmemory policy is set: accesses then
    /// count as well as time.
    pub lfu: Option<Lfu>,
    lfu_rng: u64,
}

impl Db {
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.expires
    }

    /// The index of a live `key`: one hash lookup, deleting the key on the
    /// way if its time is up (lazy expiry).
    fn find(&mut self, key: &[u8], now_ms: i64) -> Option<Pos> {
        let i = self.dict.find(key)?;
        if self.dict.at(i).is_expired(now_ms) {
            self.remove(key);
            self.stats.expired += 1;
            self.events.record(events::EXPIRED, "expired", key);
            return None;
        }
        Some(i)
    }

    /// Prefetches the table memory of keys about to be looked up.
    pub fn prefetch<'k>(&self, keys: impl Iterator<Item = &'k [u8]>) {
        self.dict.prefetch(keys);
    }

    /// Records an access to the key at `slot`: its time, and under an LFU
    /// policy its counter, decayed for the time since the last access and
    /// then incremented with Valkey's logarithmic probability.
    pub fn touch(&mut self, slot: Slot, now_ms: i64) {
        let lfu = self.lfu;
        let r = lfu.map(|_| self.next_unit());
        let e = self.dict.at_mut(slot.0);
        let mut counter = e.lfu_counter();
        if let (Some(lfu), Some(r)) = (lfu, r) {
            counter = lfu.incremented(lfu.decayed(counter, e.idle_ms(now_ms)), r);
        }
        e.set_access(Access::new(now_ms, counter));
    }

    /// A uniform number in [0, 1) (LFU's increment probability).
    fn next_unit(&mut self) -> f64 {
        self.lfu_rng |= 1;
        (crate::util::xorshift(&mut self.lfu_rng) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Up to `n` random keys with their entries, all keys or only those
    /// with a TTL (eviction sampling).
    pub fn sample(
        &self,
        n: usize,
        volatile: bool,
        rng: &mut impl FnMut(usize) -> usize,
        mut visit: impl FnMut(&Node),
    ) {
        if volatile {
            if self.expires == 0 || n == 0 {
                return;
            }
            let (main, rehashing) = self.dict.buckets();
            let mut left = n;
            let mut at = rng(main + rehashing);
            // A second sweep from the start when the first reached the
            // end: keys with a TTL may all lie before the random bucket.
            for _ in 0..2 {
                at = self.dict.sweep_flagged(at, SWEEP_BUCKETS, |node| {
                    visit(node);
                    left -= 1;
                    left > 0
                });
                if left == 0 || at != 0 {
                    return;
                }
            }
            return;
        }
        for _ in 0..n {
            let Some(node) = self.dict.random(rng) else {
                return;
            };
            visit(node);
        }
    }

    /// Looks a key up for a read: lazy expiry, hit/miss counting and an
    /// access-time update (unless `touch` is false, as with CLIENT NO-TOUCH).
    pub fn lookup_read(&mut self, key: &[u8], now_ms: i64, touch: bool) -> Option<&mut Node> {
        let slot = self.locate_read(key, now_ms, touch)?;
        Some(self.dict.at_mut(slot.0))
    }

    /// [`Db::lookup_read`], returning where the key sits.
    pub fn locate_read(&mut self, key: &[u8], now_ms: i64, touch: bool) -> Option<Slot> {
        let Some(i) = self.find(key, now_ms) else {
            self.stats.misses += 1;
            self.events.record(events::KEY_MISS, "keymiss", key);
            return None;
        };
        self.stats.hits += 1;
        if touch {
            self.touch(Slot(i), now_ms);
        }
        Some(Slot(i))
    }

    /// Looks a key up for a write: lazy expiry and access-time update, no
    /// hit/miss accounting.
    pub fn lookup_write(&mut self, key: &[u8], now_ms: i64) -> Option<&mut Node> {
        let i = self.find(key, now_ms)?;
        self.touch(Slot(i), now_ms);
        Some(self.dict.at_mut(i))
    }

    /// Looks a key up for OBJECT: counted as a hit or miss, but neither
    /// touched nor raising keymiss (Valkey's LOOKUP_NOTOUCH|NONOTIFY).
    pub fn lookup_counted(&mut self, key: &[u8], now_ms: i64) -> Option<&mut Node> {
        let Some(i) = self.find(key, now_ms) else {
            self.stats.misses += 1;
            return None;
        };
        self.stats.hits += 1;
        Some(self.dict.at_mut(i))
    }

    /// Packs `key`'s small compact collection back into its node after an
    /// edit unpacked it (see `node::take_unpacked`).
    pub fn repack(&mut self, key: &[u8]) {
        if let Some(node) = self.dict.get_mut(key) {
            node.repack();
        }
    }

    /// Looks a key up without touching it or counting (internal
    /// probes).
    pub fn peek(&mut self, key: &[u8], now_ms: i64) -> Option<&mut Node> {
        let i = self.find(key, now_ms)?;
        Some(self.dict.at_mut(i))
    }

    /// A key's entry without lazy expiry or stats, for a key the command
    /// has already looked up at this instant.
    pub fn get_checked(&self, key: &[u8]) -> Option<&Node> {
        self.dict.get(key)
    }

    /// The value of type `T` under a key the command has already looked up
    /// at this instant (no lazy expiry, no stats).
    pub fn get_typed<T: Typed>(&self, key: &[u8]) -> Option<Cow<'_, T>> {
        self.dict.get(key).and_then(|n| T::of(n.value()))
    }

    /// Stores `value` under `key` with the given expiry, replacing any
    /// previous entry.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: Option<i64>, now_ms: i64) {
        let slot = self.dict.find(key).map(Slot);
        self.put(slot, key, value, expire_at, now_ms);
    }

    /// Stores a whole entry (also RENAME, MOVE, COPY), replacing any
    /// previous one.
    pub fn insert_entry(&mut self, key: &[u8], entry: Entry) {
        let slot = self.dict.find(key).map(Slot);
        self.put_entry(slot, key, entry);
    }

    /// Finds a live key for a read-modify-write: one hash lookup, whose
    /// result [`Db::at`] and [`Db::put`] reuse.
    pub fn locate(&mut self, key: &[u8], now_ms: i64) -> Option<Slot> {
        self.find(key, now_ms).map(Slot)
    }

    /// The entry at a slot [`Db::locate`] just returned.
    pub fn at(&mut self, slot: Slot) -> &mut Node {
        self.dict.at_mut(slot.0)
    }

    /// Stores `value` under `key`: in place at `slot` (from [`Db::locate`]
    /// for this key, with nothing changed since), or as a new key if None.
    pub fn put(
        &mut self,
        slot: Option<Slot>,
        key: &[u8],
        value: Value,
        expire_at: Option<i64>,
        now_ms: i64,
    ) {
        let mut entry = Entry::new(value, expire_at, now_ms);
        if let Some(Slot(i)) = slot {
            // A key given a new value keeps its access frequency (Valkey's
            // dbSetValue), so LFU does not forget it was hot.
            entry.access = Access::new(now_ms, self.dict.at(i).lfu_counter());
        }
        self.put_entry(slot, key, entry);
    }

    fn put_entry(&mut self, slot: Option<Slot>, key: &[u8], entry: Entry) {
        if matches!(&entry.value, Value::Hash(h) if h.has_ttls()) {
            self.track_volatile_hash(key);
        }
        let has_expire = entry.expire_at.is_some();
        let node = Node::new(key, entry.value, entry.expire_at, entry.access);
        let had_expire = match slot.map(|s| s.0) {
            Some(i) => {
                let old = std::mem::replace(self.dict.at_mut(i), node);
                self.dict.refresh_flag(i);
                old.expire_at().is_some()
            }
            None => {
                self.dict.insert(node);
                self.events.record(events::NEW, "new", key);
                false
            }
        };
        self.count_expire(had_expire, has_expire);
    }

    fn count_expire(&mut self, had: bool, has: bool) {
        match (had, has) {
            (false, true) => self.expires += 1,
            (true, false) => self.expires -= 1,
            _ => {}
        }
    }

    /// Sets or clears the expiry of an existing key; false if it is missing.
    pub fn set_expire(&mut self, key: &[u8], expire_at: Option<i64>) -> bool {
        let Some(pos) = self.dict.find(key) else {
            return false;
        };
        let node = self.dict.at_mut(pos);
        let had_expire = node.expire_at().is_some();
        node.set_expire(expire_at);
        self.dict.refresh_flag(pos);
        self.count_expire(had_expire, expire_at.is_some());
        true
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let node = self.dict.remove(key)?;
        let access = node.access();
        let (value, expire_at) = node.into_parts();
        let entry = Entry {
            value,
            expire_at,
            access,
        };
        self.count_expire(entry.expire_at.is_some(), false);
        if matches!(&entry.value, Value::Hash(h) if h.has_ttls()) {
            self.volatile_hashes.swap_remove(key);
        }
        Some(entry)
    }

    /// Empties the database and releases its tables (FLUSHDB/FLUSHALL).
    pub fn clear(&mut self) {
        self.dict.clear();
        self.expires = 0;
        self.volatile_hashes = IndexSet::default();
    }

    /// How many hashes have fields with an expiry time.
    pub fn volatile_hashes(&self) -> usize {
        let volatile = |k: &Key| {
            self.dict.get(k).is_some_and(
                |n| matches!(n.value(), ValueRef::Value(Value::Hash(h)) if h.has_ttls()),
            )
        };
        self.volatile_hashes.iter().filter(|k| volatile(k)).count()
    }

    /// Notes that the hash at `key` has fields with an expiry time.
    pub fn track_volatile_hash(&mut self, key: &[u8]) {
        if !self.volatile_hashes.contains(key) {
            self.volatile_hashes.insert(key.into());
        }
    }

    /// Samples up to `n` hashes with expiring fields and deletes the fields
    /// whose time is up (a hash left empty goes too). Returns the number of
    /// fields deleted.
    pub fn reap_hash_fields(
        &mut self,
        n: usize,
        now_ms: i64,
        rng: &mut impl FnMut(usize) -> usize,
    ) -> usize {
        let mut reaped = 0;
        for _ in 0..n {
            if self.volatile_hashes.is_empty() {
                break;
            }
            let i = rng(self.volatile_hashes.len());
            let key = self.volatile_hashes[i].clone();
            let node = self.dict.get_mut(&key);
            let hash = match node.filter(|n| matches!(n.value(), ValueRef::Value(Value::Hash(_)))) {
                Some(n) => match n.value_mut() {
                    Value::Hash(h) if h.has_ttls() => h,
                    _ => {
                        self.volatile_hashes.swap_remove_index(i);
                        continue;
                    }
                },
                _ => {
                    self.volatile_hashes.swap_remove_index(i);
                    continue;
                }
            };
            let n = hash.reap(now_ms);
            if n == 0 {
                continue;
            }
            reaped += n;
            self.events.record(events::HASH, "hexpired", &key);
            self.reaped_hashes.push(key.clone());
            let (empty, volatile) = (hash.is_empty(), hash.has_ttls());
            if empty {
                self.remove(&key);
                self.events.record(events::GENERIC, "del", &key);
            }
            if !volatile {
                self.volatile_hashes.swap_remove(&key);
            }
        }
        reaped
    }

    /// A random live key (RANDOMKEY), expiring dead ones it meets.
    pub fn random_key(&mut self, now_ms: i64, rng: &mut impl FnMut(usize) -> usize) -> Option<Key> {
        // Bounded retries, as Valkey: if everything sampled is expired, give
        // up on laziness and return what we found.
        for _ in 0..100 {
            let node = self.dict.random(rng)?;
            let key = Key::from(node.key());
            if !node.is_expired(now_ms) {
                return Some(key);
            }
            self.find(&key, now_ms);
        }
        self.dict.random(rng).map(|n| Key::from(n.key()))
    }

    /// One SCAN step from `cursor` (0 starts): whole buckets are visited
    /// until `count` keys were seen (or ten times as many buckets), as in
    /// Valkey. Every key present for the whole scan is returned at least
    /// once, whatever the table does between calls. Returns the next
    /// cursor (0 when done).
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, visit: impl FnMut(&'a Node)) -> u64 {
        self.dict.scan_count(cursor, count, visit)
    }

    /// MEMORY USAGE of a key the caller looked up (see
    /// [`Node::memory_usage`]).
    pub fn memory_usage(&self, key: &[u8], samples: usize) -> Option<usize> {
        Some(self.dict.get(key)?.memory_usage(samples))
    }

    /// What the database's tables take beside the keys and values: the
    /// key table's buckets, and for the keys with a TTL nothing more (the
    /// buckets flag them; MEMORY STATS).
    pub fn overhead(&self) -> (usize, usize) {
        (self.dict.bucket_bytes(), 0)
    }

    /// Whether the key table is rehashing.
    pub fn is_rehashing(&self) -> bool {
        self.dict.is_rehashing()
    }

    /// DEBUG HTSTATS for this database: its key table, then the keys with
    /// a TTL (no table of their own: their count only).
    pub fn htstats(&self, full: bool) -> String {
        let mut out = String::from("[Dictionary HT]\n");
        self.dict.stats(full, &mut out);
        out.push_str("[Expires HT]\n");
        if self.expires > 0 {
            out.push_str(&format!(
                " flagged in the main table's buckets\n number of entries: {}\n",
                self.expires
            ));
        }
        out
    }

    /// Every key, in table order (KEYS), prefetching ahead.
    pub fn iter(&self) -> impl Iterator<Item = &Node> {
        self.dict.iter()
    }

    /// Checks the next `n` keys that have an expiry (sweeping the table's
    /// flags from where the last call stopped) and deletes those whose
    /// time is up. Returns (checked, expired).
    pub fn expire_sample(&mut self, n: usize, now_ms: i64) -> (usize, usize) {
        if self.expires == 0 || n == 0 {
            return (0, 0);
        }
        let (mut sampled, mut dead) = (0, Vec::new());
        self.expire_cursor = self
            .dict
            .sweep_flagged(self.expire_cursor, SWEEP_BUCKETS, |node| {
                if node.is_expired(now_ms) {
                    dead.push(Key::from(node.key()));
                }
                sampled += 1;
                sampled < n
            });
        for key in &dead {
            self.find(key, now_ms);
        }
        (sampled, dead.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::StrValue;

    fn v(s: &str) -> Value {
        Value::Str(StrValue::from_bytes(s.as_bytes()))
    }

    #[test]
    fn scan_survives_deletes() {
        let mut db = Db::default();
        for i in 0..100 {
            db.insert(format!("k{i}").as_bytes(), v("x"), None, 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 7, |n| {
                seen.insert(n.key().to_vec());
            });
            // Delete keys as we go, including some already returned.
            round += 1;
            db.remove(format!("k{}", round * 3).as_bytes());
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            let k = format!("k{i}");
            if i % 3 != 0 || i / 3 > round {
                assert!(seen.contains(k.as_bytes()), "{k} missed");
            }
        }
    }

    #[test]
    fn volatile_samples_are_keys_with_a_ttl() {
        let mut db = Db::default();
        for i in 0..50_000 {
            let expire = (i % 1000 == 7).then_some(1_000_000);
            db.insert(format!("k{i}").as_bytes(), v("x"), expire, 0);
        }
        // A TTL given, changed and taken away keeps the flags right.
        db.set_expire(b"k1", Some(5));
        db.set_expire(b"k7", None);
        db.insert(b"k1007", v("y"), None, 0);
        let with_ttl: std::collections::HashSet<Vec<u8>> = db
            .iter()
            .filter(|n| n.expire_at().is_some())
            .map(|n| n.key().to_vec())
            .collect();
        assert_eq!(with_ttl.len(), 49);
        assert_eq!(db.expires_len(), 49);
        let mut seed = 1u64;
        let mut rng = |n: usize| (crate::util::xorshift(&mut seed) % n as u64) as usize;
        for _ in 0..20 {
            let mut seen = Vec::new();
            db.sample(5, true, &mut rng, |n| seen.push(n.key().to_vec()));
            assert_eq!(seen.len(), 5);
            assert!(seen.iter().all(|k| with_ttl.contains(k)), "{seen:?}");
        }
    }

    #[test]
    fn lazy_expiry() {
        let mut db = Db::default();
        db.insert(b"a", v("1"), Some(100), 0);
        assert!(db.lookup_read(b"a", 99, true).is_some());
        assert!(db.lookup_read(b"a", 100, true).is_none());
        assert_eq!(db.stats.expired, 1);
        assert_eq!(db.expires_len(), 0);
    }
}
