//! The bitmap kernels of `src/simd`: each dispatched (AVX2 where the CPU
//! has it) against its scalar twin, in bytes per second.

#[allow(dead_code, unused_imports)]
#[path = "../src/simd/mod.rs"]
mod simd;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const SIZES: [usize; 4] = [16, 4096, 64 * 1024, 1 << 20];

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn popcount(c: &mut Criterion) {
    let mut g = c.benchmark_group("popcount");
    for len in SIZES {
        let d = data(len, 1);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("dispatched", len), &d, |b, d| {
            b.iter(|| simd::popcount(black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("scalar", len), &d, |b, d| {
            b.iter(|| simd::popcount::scalar(black_box(d)))
        });
    }
    g.finish();
}

fn first_not(c: &mut Criterion) {
    let mut g = c.benchmark_group("first_not");
    let len = 1 << 20;
    let mut d = vec![0u8; len];
    d[len - 1] = 1;
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("dispatched/1MiB", |b| {
        b.iter(|| simd::first_not(black_box(&d), 0))
    });
    g.bench_function("scalar/1MiB", |b| {
        b.iter(|| simd::find::scalar(black_box(&d), 0))
    });
    g.finish();
}

fn bitop_and(c: &mut Criterion) {
    let mut g = c.benchmark_group("bitop_and");
    let len = 1 << 20;
    let (a, src) = (data(len, 2), data(len, 3));
    let mut acc = a.clone();
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("dispatched/1MiB", |b| {
        b.iter(|| simd::combine(simd::BitOp::And, black_box(&mut acc), black_box(&src)))
    });
    g.bench_function("scalar/1MiB", |b| {
        b.iter(|| {
            simd::bitop::combine_scalar(simd::BitOp::And, black_box(&mut acc), black_box(&src))
        })
    });
    let mut dst = vec![0; len];
    g.bench_function("into/dispatched/1MiB", |b| {
        b.iter(|| {
            simd::combine_into(
                simd::BitOp::And,
                black_box(&mut dst),
                black_box(&a),
                black_box(&src),
            )
        })
    });
    g.bench_function("into/scalar/1MiB", |b| {
        b.iter(|| {
            simd::bitop::combine_into_scalar(
                simd::BitOp::And,
                black_box(&mut dst),
                black_box(&a),
                black_box(&src),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, popcount, first_not, bitop_and);
criterion_main!(benches);
