//! Population count of a byte string (BITCOUNT): scalar, and AVX2 with
//! Harley-Seal carry-save adders over Muła's nibble lookup (PSHUFB on each
//! 4-bit half, summed per 64-bit lane with PSADBW).

use super::Level;

/// Number of set bits in `bytes`.
pub fn popcount(bytes: &[u8]) -> u64 {
    match super::level() {
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 if bytes.len() >= 64 => {
            // SAFETY: level() saw AVX2 on this CPU.
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
    //! Harley-Seal over blocks of 16 vectors: carry-save adders fold 16
    //! vectors into ones/twos/fours/eights and one "sixteens" vector, so
    //! only one in 16 vectors needs a real population count (the nibble
    //! lookup); the tail uses the lookup directly.
    use std::arch::x86_64::*;

    /// Per-64-bit-lane population counts of `v` (nibble lookup + PSADBW).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn count(v: __m256i) -> __m256i {
        let lut = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0f);
        let lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
        let hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
        _mm256_sad_epu8(_mm256_add_epi8(lo, hi), _mm256_setzero_si256())
    }

    /// Carry-save adder: (high, low) bits of a + b + c, bitwise.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn csa(a: __m256i, b: __m256i, c: __m256i) -> (__m256i, __m256i) {
        let u = _mm256_xor_si256(a, b);
        (
            _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(u, c)),
            _mm256_xor_si256(u, c),
        )
    }

    /// SAFETY: the caller checked that the CPU supports AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn popcount(bytes: &[u8]) -> u64 {
        // SAFETY (for every load below): each reads 32 bytes inside `block`
        // or `chunk`; loadu has no alignment need.
        let load = |p: &[u8]| unsafe { _mm256_loadu_si256(p.as_ptr().cast()) };
        let zero = _mm256_setzero_si256();
        let (mut total, mut ones, mut twos, mut fours, mut eights) = (zero, zero, zero, zero, zero);
        let mut blocks = bytes.chunks_exact(16 * 32);
        for block in blocks.by_ref() {
            let v = |i: usize| load(&block[i * 32..]);
            let (twos_a, o) = csa(ones, v(0), v(1));
            let (twos_b, o) = csa(o, v(2), v(3));
            let (fours_a, t) = csa(twos, twos_a, twos_b);
            let (twos_a, o) = csa(o, v(4), v(5));
            let (twos_b, o) = csa(o, v(6), v(7));
            let (fours_b, t) = csa(t, twos_a, twos_b);
            let (eights_a, f) = csa(fours, fours_a, fours_b);
            let (twos_a, o) = csa(o, v(8), v(9));
            let (twos_b, o) = csa(o, v(10), v(11));
            let (fours_a, t) = csa(t, twos_a, twos_b);
            let (twos_a, o) = csa(o, v(12), v(13));
            let (twos_b, o) = csa(o, v(14), v(15));
            let (fours_b, t) = csa(t, twos_a, twos_b);
            let (eights_b, f) = csa(f, fours_a, fours_b);
            let (sixteens, e) = csa(eights, eights_a, eights_b);
            total = _mm256_add_epi64(total, count(sixteens));
            (ones, twos, fours, eights) = (o, t, f, e);
        }
        total = _mm256_slli_epi64(total, 4);
        total = _mm256_add_epi64(total, _mm256_slli_epi64(count(eights), 3));
        total = _mm256_add_epi64(total, _mm256_slli_epi64(count(fours), 2));
        total = _mm256_add_epi64(total, _mm256_slli_epi64(count(twos), 1));
        total = _mm256_add_epi64(total, count(ones));
        let mut chunks = blocks.remainder().chunks_exact(32);
        for chunk in chunks.by_ref() {
            total = _mm256_add_epi64(total, count(load(chunk)));
        }
        let mut lanes = [0u64; 4];
        // SAFETY: `lanes` is 32 writable bytes.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), total) };
        lanes.iter().sum::<u64>() + super::scalar(chunks.remainder())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn dispatch_matches_scalar(data in proptest::collection::vec(any::<u8>(), 0..2048), skip in 0usize..64) {
            let s = &data[skip.min(data.len())..];
            prop_assert_eq!(popcount(s), scalar(s));
        }
    }

    #[test]
    fn every_length_and_alignment() {
        let data: Vec<u8> = (0..600u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..40 {
            for end in start..data.len() {
                let s = &data[start..end];
                assert_eq!(popcount(s), scalar(s), "{start}..{end}");
            }
        }
        assert_eq!(popcount(&[0xff; 1000]), 8000);
        assert_eq!(popcount(&[]), 0);
    }
}
