//! BITPOS's scan: the first byte that differs from a given one (0x00 when
//! looking for a set bit, 0xff for a clear one). AVX2 compares 32 bytes at
//! a time (a combined test per 128 bytes) and takes the first mismatch from
//! the comparison mask.

use super::Level;

/// Index of the first byte of `bytes` that is not `skip`.
pub fn first_not(bytes: &[u8], skip: u8) -> Option<usize> {
    match super::level() {
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 | Level::Avx512 if bytes.len() >= 32 => {
            // SAFETY: level() saw AVX2 on this CPU.
            unsafe { avx2::first_not(bytes, skip) }
        }
        _ => scalar(bytes, skip),
    }
}

/// The reference.
pub fn scalar(bytes: &[u8], skip: u8) -> Option<usize> {
    bytes.iter().position(|&b| b != skip)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// SAFETY: the caller checked that the CPU supports AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn first_not(bytes: &[u8], skip: u8) -> Option<usize> {
        let needle = _mm256_set1_epi8(skip as i8);
        let mut base = 0;
        // 128 bytes per step: one combined test, the exact spot only on a hit.
        let mut blocks = bytes.chunks_exact(128);
        for block in blocks.by_ref() {
            // SAFETY: each load reads 32 bytes inside `block`.
            let v = |i: usize| unsafe { _mm256_loadu_si256(block[i * 32..].as_ptr().cast()) };
            let eq = |i: usize| _mm256_cmpeq_epi8(v(i), needle);
            let all = _mm256_and_si256(
                _mm256_and_si256(eq(0), eq(1)),
                _mm256_and_si256(eq(2), eq(3)),
            );
            if _mm256_movemask_epi8(all) != -1 {
                break;
            }
            base += 128;
        }
        let mut chunks = bytes[base..].chunks_exact(32);
        for chunk in chunks.by_ref() {
            // SAFETY: `chunk` is 32 readable bytes; loadu has no alignment need.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
            let equal = _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, needle)) as u32;
            if equal != u32::MAX {
                return Some(base + (!equal).trailing_zeros() as usize);
            }
            base += 32;
        }
        super::scalar(chunks.remainder(), skip).map(|i| base + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn dispatch_matches_scalar(len in 0usize..600, at in 0usize..600, skip in prop_oneof![Just(0u8), Just(0xffu8)], other: u8, start in 0usize..40) {
            let mut data = vec![skip; len];
            if at < len && other != skip {
                data[at] = other;
            }
            let s = &data[start.min(len)..];
            prop_assert_eq!(first_not(s, skip), scalar(s, skip));
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present.
                prop_assert_eq!(unsafe { avx2::first_not(s, skip) }, scalar(s, skip));
            }
        }
    }
}
