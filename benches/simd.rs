//! The kernels of `src/simd` (bitmaps and HyperLogLog registers): each
//! dispatched (AVX2 where the CPU has it) against its scalar twin, in bytes
//! or registers per second.

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

/// Registers as a dense HLL of about a million elements holds them: each
/// the longest of ~64 geometric runs (values ~4..20).
fn hll_registers() -> Box<[u8; simd::hll::REGISTERS]> {
    let mut raw = Box::new([0u8; simd::hll::REGISTERS]);
    let bits = data(simd::hll::REGISTERS * 64 * 8, 9);
    for (r, chunk) in raw.iter_mut().zip(bits.chunks_exact(64 * 8)) {
        *r = chunk
            .chunks_exact(8)
            .map(|w| {
                u64::from_le_bytes(w.try_into().unwrap())
                    .trailing_zeros()
                    .min(49) as u8
                    + 1
            })
            .max()
            .unwrap();
    }
    raw
}

fn hll(c: &mut Criterion) {
    use simd::hll::{self as h, DENSE_BYTES};
    let mut g = c.benchmark_group("hll");
    g.throughput(Throughput::Elements(h::REGISTERS as u64));
    let raw = hll_registers();
    let mut dense = Box::new([0u8; DENSE_BYTES]);
    h::compress_scalar(&mut dense, &raw);
    g.bench_function("histogram_dense/dispatched", |b| {
        b.iter(|| h::histogram_dense(black_box(&dense)))
    });
    g.bench_function("histogram_dense/scalar", |b| {
        b.iter(|| h::histogram_dense_scalar(black_box(&dense)))
    });
    g.bench_function("histogram_raw/dispatched", |b| {
        b.iter(|| h::histogram_raw(black_box(&raw)))
    });
    g.bench_function("histogram_raw/scalar", |b| {
        b.iter(|| h::histogram_raw_scalar(black_box(&raw)))
    });
    let mut max = Box::new([0u8; h::REGISTERS]);
    g.bench_function("merge_dense/dispatched", |b| {
        b.iter(|| h::merge_dense(black_box(&mut max), black_box(&dense)))
    });
    g.bench_function("merge_dense/scalar", |b| {
        b.iter(|| h::merge_dense_scalar(black_box(&mut max), black_box(&dense)))
    });
    let mut out = Box::new([0u8; DENSE_BYTES]);
    g.bench_function("compress/dispatched", |b| {
        b.iter(|| h::compress(black_box(&mut out), black_box(&raw)))
    });
    g.bench_function("compress/scalar", |b| {
        b.iter(|| h::compress_scalar(black_box(&mut out), black_box(&raw)))
    });
    g.finish();
}

criterion_group!(benches, popcount, first_not, bitop_and, hll);
criterion_main!(benches);
