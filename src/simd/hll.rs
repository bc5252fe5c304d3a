//! HyperLogLog register kernels. A dense HLL packs 16384 six-bit registers
//! LSB-first into 12288 bytes (4 registers in 3 bytes); the "raw" form has
//! one register per byte. Kernels:
//! - `merge_dense`: raw[i] = max(raw[i], dense register i) (PFMERGE and
//!   multi-key PFCOUNT);
//! - `compress`: raw registers written back packed (PFMERGE's result);
//! - `histogram_raw` / `histogram_dense`: how many registers hold each
//!   value 0..=63, exactly (the cardinality estimator's input).
//!
//! The AVX2 variants work 32 registers (24 packed bytes) at a time; the
//! histogram finds the registers' value range with vector min/max, then
//! counts each value with compares (dense HLLs hold ~20 distinct values).
//! `PFDEBUG SIMD OFF` switches them off at run time, as in Valkey.

use super::Level;
use std::sync::atomic::{AtomicBool, Ordering};

pub const REGISTERS: usize = 16384;
pub const DENSE_BYTES: usize = REGISTERS * 6 / 8;
pub type Histogram = [u32; 64];

static ENABLED: AtomicBool = AtomicBool::new(true);

/// PFDEBUG SIMD ON|OFF.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the vector variants run (enabled, and the CPU has AVX2).
pub fn active() -> bool {
    ENABLED.load(Ordering::Relaxed) && super::level() >= Level::Avx2
}

/// Register `i` of a packed array (a byte past the end reads as zero, as
/// the string terminator does in Valkey; only register 16383 reaches it).
#[inline]
pub fn get(dense: &[u8], i: usize) -> u8 {
    let (byte, shift) = (i * 6 / 8, (i * 6) & 7);
    let pair = u16::from(dense[byte]) | u16::from(dense.get(byte + 1).copied().unwrap_or(0)) << 8;
    ((pair >> shift) & 63) as u8
}

/// Sets register `i` of a packed array to `v` (< 64).
#[inline]
pub fn set(dense: &mut [u8], i: usize, v: u8) {
    let (byte, shift) = (i * 6 / 8, (i * 6) & 7);
    let next = dense.get(byte + 1).copied().unwrap_or(0);
    let pair =
        (u16::from(dense[byte]) | u16::from(next) << 8) & !(63 << shift) | u16::from(v) << shift;
    dense[byte] = pair as u8;
    if let Some(b) = dense.get_mut(byte + 1) {
        *b = (pair >> 8) as u8;
    }
}

/// `raw[i] = max(raw[i], register i of dense)` for all 16384 registers.
pub fn merge_dense(raw: &mut [u8; REGISTERS], dense: &[u8; DENSE_BYTES]) {
    #[cfg(target_arch = "x86_64")]
    if active() {
        // SAFETY: active() saw AVX2 on this CPU.
        return unsafe { avx2::merge_dense(raw, dense) };
    }
    merge_dense_scalar(raw, dense)
}

/// Packs `raw` (values < 64) into `dense`.
pub fn compress(dense: &mut [u8; DENSE_BYTES], raw: &[u8; REGISTERS]) {
    #[cfg(target_arch = "x86_64")]
    if active() {
        // SAFETY: active() saw AVX2 on this CPU.
        return unsafe { avx2::compress(dense, raw) };
    }
    compress_scalar(dense, raw)
}

/// How many of the registers (values < 64) hold each value.
pub fn histogram_raw(raw: &[u8; REGISTERS]) -> Histogram {
    #[cfg(target_arch = "x86_64")]
    if active() {
        // SAFETY: active() saw AVX2 on this CPU.
        return unsafe { avx2::histogram_raw(raw) };
    }
    histogram_raw_scalar(raw)
}

/// How many of the packed registers hold each value.
pub fn histogram_dense(dense: &[u8; DENSE_BYTES]) -> Histogram {
    #[cfg(target_arch = "x86_64")]
    if active() {
        let mut raw = [0; REGISTERS];
        // SAFETY: active() saw AVX2 on this CPU.
        unsafe {
            avx2::merge_dense(&mut raw, dense);
            return avx2::histogram_raw(&raw);
        }
    }
    histogram_dense_scalar(dense)
}

pub fn merge_dense_scalar(raw: &mut [u8; REGISTERS], dense: &[u8; DENSE_BYTES]) {
    for (i, r) in raw.iter_mut().enumerate() {
        *r = (*r).max(get(dense, i));
    }
}

pub fn compress_scalar(dense: &mut [u8; DENSE_BYTES], raw: &[u8; REGISTERS]) {
    for (i, &r) in raw.iter().enumerate() {
        set(dense, i, r);
    }
}

pub fn histogram_raw_scalar(raw: &[u8; REGISTERS]) -> Histogram {
    let mut h = [0; 64];
    for &r in raw {
        h[usize::from(r & 63)] += 1;
    }
    h
}

pub fn histogram_dense_scalar(dense: &[u8; DENSE_BYTES]) -> Histogram {
    let mut h = [0; 64];
    // Four registers in every three bytes.
    for c in dense.chunks_exact(3) {
        let w = u32::from(c[0]) | u32::from(c[1]) << 8 | u32::from(c[2]) << 16;
        for shift in [0, 6, 12, 18] {
            h[((w >> shift) & 63) as usize] += 1;
        }
    }
    h
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{DENSE_BYTES, Histogram, REGISTERS};
    use std::arch::x86_64::*;

    /// 32 registers from 24 packed bytes: each 128-bit lane takes 12 bytes
    /// (16 registers), spreads every 3 bytes over a 32-bit word, and moves
    /// the word's four 6-bit fields to its four bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn unpack(lo: __m128i, hi: __m128i) -> __m256i {
        let x = _mm256_set_m128i(hi, lo);
        let spread = _mm256_setr_epi8(
            0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1, //
            0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1,
        );
        let w = _mm256_shuffle_epi8(x, spread);
        let mask = _mm256_set1_epi32;
        let r0 = _mm256_and_si256(w, mask(0x3f));
        let r1 = _mm256_and_si256(_mm256_slli_epi32::<2>(w), mask(0x3f00));
        let r2 = _mm256_and_si256(_mm256_slli_epi32::<4>(w), mask(0x3f_0000));
        let r3 = _mm256_and_si256(_mm256_slli_epi32::<6>(w), mask(0x3f00_0000));
        _mm256_or_si256(_mm256_or_si256(r0, r1), _mm256_or_si256(r2, r3))
    }

    /// The inverse of `unpack`: 32 registers (one per byte, < 64) to 24
    /// packed bytes, as two 16-byte lanes of which the first 12 count.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pack(x: __m256i) -> (__m128i, __m128i) {
        let mask = _mm256_set1_epi32;
        let f0 = _mm256_and_si256(x, mask(0x3f));
        let f1 = _mm256_and_si256(_mm256_srli_epi32::<2>(x), mask(0xfc0));
        let f2 = _mm256_and_si256(_mm256_srli_epi32::<4>(x), mask(0x3_f000));
        let f3 = _mm256_and_si256(_mm256_srli_epi32::<6>(x), mask(0xfc_0000));
        let w = _mm256_or_si256(_mm256_or_si256(f0, f1), _mm256_or_si256(f2, f3));
        let squeeze = _mm256_setr_epi8(
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, //
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
        );
        let y = _mm256_shuffle_epi8(w, squeeze);
        (_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1))
    }

    /// Each 24-byte block of `dense` with the 32 registers it holds; the
    /// last block is read through a padded copy, since a lane load reads
    /// 16 bytes for the 12 it uses.
    const BLOCKS: usize = DENSE_BYTES / 24;

    #[target_feature(enable = "avx2")]
    pub fn merge_dense(raw: &mut [u8; REGISTERS], dense: &[u8; DENSE_BYTES]) {
        let mut last = [0u8; 32];
        last[..24].copy_from_slice(&dense[DENSE_BYTES - 24..]);
        for b in 0..BLOCKS {
            let src: &[u8] = if b + 1 < BLOCKS {
                &dense[b * 24..]
            } else {
                &last
            };
            // SAFETY: `src` has at least 28 readable bytes (lane loads at
            // 0 and 12 of 16 bytes each); `raw` has 32 bytes at b * 32.
            unsafe {
                let lo = _mm_loadu_si128(src.as_ptr().cast());
                let hi = _mm_loadu_si128(src[12..].as_ptr().cast());
                let dst = raw[b * 32..].as_mut_ptr().cast::<__m256i>();
                let merged = _mm256_max_epu8(_mm256_loadu_si256(dst), unpack(lo, hi));
                _mm256_storeu_si256(dst, merged);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    pub fn compress(dense: &mut [u8; DENSE_BYTES], raw: &[u8; REGISTERS]) {
        let mut last = [0u8; 28];
        for b in 0..BLOCKS {
            // SAFETY: `raw` has 32 bytes at b * 32; each store writes 16
            // bytes at 0 and 12 of `dst`, which has at least 28 (the last
            // block goes through `last`). The second store overwrites the
            // first's 4 padding bytes, the next block's first store this
            // one's.
            unsafe {
                let (lo, hi) = pack(_mm256_loadu_si256(raw[b * 32..].as_ptr().cast()));
                let dst: &mut [u8] = if b + 1 < BLOCKS {
                    &mut dense[b * 24..]
                } else {
                    &mut last
                };
                _mm_storeu_si128(dst.as_mut_ptr().cast(), lo);
                _mm_storeu_si128(dst[12..].as_mut_ptr().cast(), hi);
            }
        }
        dense[DENSE_BYTES - 24..].copy_from_slice(&last[..24]);
    }

    /// Values further apart than this are counted by the scalar loop.
    const MAX_SPREAD: u8 = 40;

    #[target_feature(enable = "avx2")]
    pub fn histogram_raw(raw: &[u8; REGISTERS]) -> Histogram {
        const VECTORS: usize = REGISTERS / 32;
        // SAFETY: vector n covers raw[n * 32..n * 32 + 32], in bounds.
        let load = |n: usize| unsafe { _mm256_loadu_si256(raw[n * 32..].as_ptr().cast()) };
        let (mut lo, mut hi) = (_mm256_set1_epi8(-1), _mm256_setzero_si256());
        for n in 0..VECTORS {
            lo = _mm256_min_epu8(lo, load(n));
            hi = _mm256_max_epu8(hi, load(n));
        }
        let lo = bytes(lo).into_iter().min().unwrap_or(0);
        let hi = bytes(hi).into_iter().max().unwrap_or(0);
        if hi >= 64 || hi - lo > MAX_SPREAD {
            return super::histogram_raw_scalar(raw);
        }
        // Four values per pass: per vector, four compares whose all-ones
        // lanes subtract one from byte counters, summed (PSADBW) into
        // 64-bit totals every 255 vectors, before a counter can wrap.
        let mut h = [0; 64];
        for first in (lo..=hi).step_by(4) {
            let wanted = [0, 1, 2, 3].map(|k| _mm256_set1_epi8((first + k) as i8));
            let mut totals = [_mm256_setzero_si256(); 4];
            let mut counts = [_mm256_setzero_si256(); 4];
            for n in 0..VECTORS {
                let v = load(n);
                for k in 0..4 {
                    counts[k] = _mm256_sub_epi8(counts[k], _mm256_cmpeq_epi8(v, wanted[k]));
                }
                if n % 255 == 254 || n == VECTORS - 1 {
                    for k in 0..4 {
                        let sums = _mm256_sad_epu8(counts[k], _mm256_setzero_si256());
                        totals[k] = _mm256_add_epi64(totals[k], sums);
                        counts[k] = _mm256_setzero_si256();
                    }
                }
            }
            for (k, total) in totals.iter().enumerate() {
                if let Some(slot) = h.get_mut(usize::from(first) + k) {
                    let lanes = bytes(*total);
                    *slot = lanes
                        .chunks_exact(8)
                        .map(|l| u64::from_le_bytes(l.try_into().expect("8 bytes")))
                        .sum::<u64>() as u32;
                }
            }
        }
        h
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn bytes(v: __m256i) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: `out` is 32 bytes.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// Registers drawn like a real HLL's (mostly around `centre`), or
    /// anywhere in 0..64.
    fn registers(seed: u64, centre: u8, spread: u8) -> Box<[u8; REGISTERS]> {
        let mut x = seed | 1;
        let mut raw = Box::new([0u8; REGISTERS]);
        for r in raw.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let off = (x % u64::from(spread.max(1))) as u8;
            *r = centre
                .saturating_add(off)
                .saturating_sub(spread / 2)
                .min(63);
        }
        raw
    }

    #[test]
    fn get_and_set_touch_only_their_register() {
        let mut dense = [0u8; DENSE_BYTES];
        let raw = registers(7, 32, 64);
        for (i, &v) in raw.iter().enumerate() {
            set(&mut dense, i, v);
        }
        assert!((0..REGISTERS).all(|i| get(&dense, i) == raw[i]));
        // Bit layout: register 0 in the low 6 bits of byte 0, register 1
        // in its top 2 bits and the low 4 of byte 1.
        let mut d = [0u8; DENSE_BYTES];
        set(&mut d, 1, 0b11_1111);
        assert_eq!(&d[..2], &[0b1100_0000, 0b0000_1111]);
        set(&mut d, REGISTERS - 1, 63);
        assert_eq!(d[DENSE_BYTES - 1], 0b1111_1100);
    }

    proptest! {
        #[test]
        fn kernels_match_scalar(seed in any::<u64>(), centre in 0u8..64, spread in 0u8..64, base_seed in any::<u64>()) {
            let raw = registers(seed, centre, spread);
            let base = registers(base_seed, centre / 2, spread);
            let mut dense = Box::new([0u8; DENSE_BYTES]);
            compress_scalar(&mut dense, &raw);
            prop_assert!((0..REGISTERS).all(|i| get(&dense[..], i) == raw[i]));
            let slow_hist = histogram_raw_scalar(&raw);
            prop_assert_eq!(histogram_dense_scalar(&dense), slow_hist);
            prop_assert_eq!(histogram_dense(&dense), slow_hist);
            prop_assert_eq!(histogram_raw(&raw), slow_hist);
            let mut slow_max = base.clone();
            merge_dense_scalar(&mut slow_max, &dense);
            let mut fast_max = base.clone();
            merge_dense(&mut fast_max, &dense);
            prop_assert_eq!(&fast_max[..], &slow_max[..]);
            let mut fast_dense = Box::new([0xa5u8; DENSE_BYTES]);
            compress(&mut fast_dense, &raw);
            prop_assert_eq!(&fast_dense[..], &dense[..]);
            #[cfg(target_arch = "x86_64")]
            if avx2() {
                // SAFETY: AVX2 is present.
                unsafe {
                    prop_assert_eq!(avx2::histogram_raw(&raw), slow_hist);
                    let mut direct = base.clone();
                    avx2::merge_dense(&mut direct, &dense);
                    prop_assert_eq!(&direct[..], &slow_max[..]);
                    let mut packed = Box::new([0u8; DENSE_BYTES]);
                    avx2::compress(&mut packed, &raw);
                    prop_assert_eq!(&packed[..], &dense[..]);
                }
            }
        }
    }
}
