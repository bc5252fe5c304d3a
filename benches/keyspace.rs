//! The keyspace hashtable (`src/keyspace/table.rs`) over a million keys:
//! lookups that hit and miss, insert and delete, a full iteration, and
//! batches of random lookups with and without the batch prefetch.

#[allow(dead_code, unused_imports)]
#[path = "../src/keyspace/table.rs"]
mod table;

/// The hash and set element, as the entry the table holds.
#[allow(dead_code, unused_imports)]
#[path = "../src/keyspace/member.rs"]
pub mod member;

#[allow(unused_imports)]
#[path = "../src/util/ptr48.rs"]
pub mod ptr48;

/// Where the files above find each other in the server's tree.
mod util {
    pub use super::ptr48;
}
mod keyspace {
    pub use super::member;
}

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use member::Member;
use std::hint::black_box;
use table::{Keyed, PREFETCH_BATCH, Table};

const KEYS: usize = 1_000_000;

/// Key "key:<i>" with <i>'s eight bytes as the value.
struct Item(Member);

impl Item {
    fn value(&self) -> u64 {
        u64::from_le_bytes(self.0.value().try_into().expect("eight bytes"))
    }
}

impl Keyed for Item {
    fn key(&self) -> &[u8] {
        self.0.key()
    }

    fn addr(&self) -> *const u8 {
        Keyed::addr(&self.0)
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("key:{i}").into_bytes()
}

fn filled() -> Table<Item> {
    let mut t = Table::default();
    for i in 0..KEYS {
        t.insert(Item(Member::pair(&key(i), &(i as u64).to_le_bytes())));
    }
    t
}

/// A fixed pseudo-random order of key indexes (cache-unfriendly lookups).
fn shuffled(n: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            key(x as usize % KEYS)
        })
        .collect()
}

fn table(c: &mut Criterion) {
    let mut t = filled();
    let keys = shuffled(4096);
    let misses: Vec<Vec<u8>> = (0..4096)
        .map(|i| format!("miss:{i}").into_bytes())
        .collect();
    let mut g = c.benchmark_group("table");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("lookup_hit", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| t.get(k).map_or(0, |i| i.value()))
                .sum::<u64>()
        })
    });
    g.bench_function("lookup_miss", |b| {
        b.iter(|| misses.iter().filter(|k| t.get(k).is_some()).count())
    });
    // Lookups in batches, each batch prefetched first (as the server does
    // for pipelined commands) or not.
    for prefetched in [false, true] {
        let name = if prefetched {
            "batch_prefetch_on"
        } else {
            "batch_prefetch_off"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut sum = 0;
                for batch in keys.chunks(PREFETCH_BATCH) {
                    if prefetched {
                        t.prefetch(batch.iter().map(Vec::as_slice));
                    }
                    for k in batch {
                        sum += t.get(k).map_or(0, |i| i.value());
                    }
                }
                sum
            })
        });
    }
    g.bench_function("remove_insert", |b| {
        b.iter(|| {
            for k in &keys {
                if let Some(item) = t.remove(k) {
                    t.insert(item);
                }
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("table_iteration");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.sample_size(10);
    g.bench_function("iter_1M", |b| {
        b.iter(|| t.iter().map(|i| i.value()).sum::<u64>())
    });
    g.bench_function("scan_1M", |b| {
        b.iter(|| {
            let (mut cursor, mut n) = (0, 0u64);
            loop {
                cursor = t.scan(cursor, |i| n += i.value() & 1);
                if cursor == 0 {
                    return black_box(n);
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, table);
criterion_main!(benches);
