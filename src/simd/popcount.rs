//! Population count of a byte string (BITCOUNT): scalar, and AVX2 with
//! Muła's nibble lookup (PSHUFB on each 4-bit half, summed per 64-bit lane
//! with PSADBW).

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
    use std::arch::x86_64::*;

    /// SAFETY: the caller checked that the CPU supports AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn popcount(bytes: &[u8]) -> u64 {
        let lut = _mm256_setr_epi8(
            0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
            3, 3, 4,
        );
        let low = _mm256_set1_epi8(0x0f);
        let zero = _mm256_setzero_si256();
        let mut total = _mm256_setzero_si256();
        let mut chunks = bytes.chunks_exact(32);
        for chunk in chunks.by_ref() {
            // SAFETY: `chunk` is 32 readable bytes; loadu has no alignment need.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
            let lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
            let hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
            // Per-byte counts (≤ 8) summed into four u64 lanes.
            total = _mm256_add_epi64(total, _mm256_sad_epu8(_mm256_add_epi8(lo, hi), zero));
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
