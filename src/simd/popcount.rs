//! Population count of a byte string (BITCOUNT): scalar, and AVX2 with
//! Harley-Seal carry-save adders over Muła's nibble lookup (PSHUFB on each
//! 4-bit half, summed per 64-bit lane with PSADBW).

use super::Level;

/// Number of set bits in `bytes`.
pub fn popcount(bytes: &[u8]) -> u64 {
    match super::level() {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if bytes.len() >= 64 => {
            // SAFETY: level() saw AVX-512 F and VPOPCNTDQ on this CPU.
            unsafe { avx512::popcount(bytes) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 | Level::Avx512 if bytes.len() >= 64 => {
            // SAFETY: level() saw AVX2 on this CPU (implied by Avx512).
            unsafe { avx2::popcount(bytes) }
        }
        _ => scalar(bytes),
    }
}

/// The reference: eight bytes at a time with the hardware popcount.
pub fn scalar(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = chunks
        .by_ref()
        .map(|c| u64::from(u64::from_ne_bytes(c.try_into().expect("8 bytes")).count_ones()))
        .sum();
    n += chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>();
    n
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Muła's nibble lookup: VPSHUFB counts each byte's bits into byte
    //! counters, four independent ones (the loop runs at the shuffle
    //! ports' rate), summed into 64-bit lanes by VPSADBW every 7 rounds,
    //! before a byte counter could overflow. On AMD's AVX2 cores this beat
    //! Harley-Seal's carry-save adders by about 30% (benches/simd.rs).
    use std::arch::x86_64::*;

    /// Per-byte population counts of `v` (0..=8 each): the nibble lookup.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn byte_counts(v: __m256i) -> __m256i {
        let lut = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0f);
        let lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
        let hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
        _mm256_add_epi8(lo, hi)
    }

    /// Byte counters summed into their 64-bit lanes (PSADBW).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn widen(bytes: __m256i) -> __m256i {
        _mm256_sad_epu8(bytes, _mm256_setzero_si256())
    }

    /// SAFETY: the caller checked that the CPU supports AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn popcount(bytes: &[u8]) -> u64 {
        // SAFETY (for every load below): each reads 32 bytes inside
        // `block` or `chunk`; loadu has no alignment need.
        let load = |p: &[u8]| unsafe { _mm256_loadu_si256(p.as_ptr().cast()) };
        let mut total = _mm256_setzero_si256();
        // Byte counters take at most 8 per vector: four independent ones
        // absorb 7 rounds (4 x 7 x 32 bytes) before summing into 64 bits.
        let mut blocks = bytes.chunks_exact(4 * 7 * 32);
        for block in blocks.by_ref() {
            let mut acc = [_mm256_setzero_si256(); 4];
            for round in block.chunks_exact(4 * 32) {
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_epi8(*a, byte_counts(load(&round[k * 32..])));
                }
            }
            for a in acc {
                total = _mm256_add_epi64(total, widen(a));
            }
        }
        let mut chunks = blocks.remainder().chunks_exact(32);
        for chunk in chunks.by_ref() {
            total = _mm256_add_epi64(total, widen(byte_counts(load(chunk))));
        }
        let mut lanes = [0u64; 4];
        // SAFETY: `lanes` is 32 writable bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), total) };
        lanes.iter().sum::<u64>() + super::scalar(chunks.remainder())
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! One VPOPCNTQ per 64 bytes, four independent accumulators.
    use std::arch::x86_64::*;

    /// SAFETY: the caller checked that the CPU supports AVX-512 F and
    /// VPOPCNTDQ.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub unsafe fn popcount(bytes: &[u8]) -> u64 {
        // SAFETY (every load): 64 bytes inside the slice it is given;
        // loadu has no alignment need.
        let load = |p: &[u8]| unsafe { _mm512_loadu_si512(p.as_ptr().cast()) };
        let mut acc = [_mm512_setzero_si512(); 4];
        let mut blocks = bytes.chunks_exact(256);
        for block in blocks.by_ref() {
            for (i, a) in acc.iter_mut().enumerate() {
                *a = _mm512_add_epi64(*a, _mm512_popcnt_epi64(load(&block[i * 64..])));
            }
        }
        let mut total = _mm512_add_epi64(
            _mm512_add_epi64(acc[0], acc[1]),
            _mm512_add_epi64(acc[2], acc[3]),
        );
        let mut chunks = blocks.remainder().chunks_exact(64);
        for chunk in chunks.by_ref() {
            total = _mm512_add_epi64(total, _mm512_popcnt_epi64(load(chunk)));
        }
        _mm512_reduce_add_epi64(total) as u64 + super::scalar(chunks.remainder())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Kernel = fn(&[u8]) -> u64;

    /// Every variant this CPU can run, each held to the scalar twin
    /// whatever the dispatcher would pick.
    fn variants() -> Vec<(&'static str, Kernel)> {
        let mut v: Vec<(&'static str, Kernel)> = vec![("dispatched", popcount)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present.
                v.push(("avx2", |b| unsafe { avx2::popcount(b) }));
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            {
                // SAFETY: AVX-512 F and VPOPCNTDQ are present.
                v.push(("avx512", |b| unsafe { avx512::popcount(b) }));
            }
        }
        v
    }

    proptest! {
        #[test]
        fn variants_match_scalar(data in proptest::collection::vec(any::<u8>(), 0..2048), skip in 0usize..64) {
            let s = &data[skip.min(data.len())..];
            for (name, f) in variants() {
                prop_assert_eq!(f(s), scalar(s), "{}", name);
            }
        }
    }

    #[test]
    fn every_length_and_alignment() {
        let data: Vec<u8> = (0..1200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for (name, f) in variants() {
            for start in 0..40 {
                for end in (start..data.len()).step_by(7) {
                    let s = &data[start..end];
                    assert_eq!(f(s), scalar(s), "{name} {start}..{end}");
                }
            }
            assert_eq!(f(&[0xff; 1000]), 8000, "{name}");
            assert_eq!(f(&[]), 0, "{name}");
        }
    }
}
