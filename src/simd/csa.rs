//! Harley-Seal carry-save adders over AVX2 vectors: 16 vectors fold into
//! bitwise ones / twos / fours / eights counters and one "sixteens"
//! carry-out, so whatever counts bits (a population count, or a count per
//! bit position) runs on one vector in 16. Used by the HLL register
//! histogram; the adder alone by the population count.

use std::arch::x86_64::*;

/// Bitwise counters of the vectors added so far (their sixteens excepted).
#[derive(Clone, Copy)]
pub struct Csa {
    pub ones: __m256i,
    pub twos: __m256i,
    pub fours: __m256i,
    pub eights: __m256i,
}

impl Csa {
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn new() -> Csa {
        let zero = _mm256_setzero_si256();
        Csa {
            ones: zero,
            twos: zero,
            fours: zero,
            eights: zero,
        }
    }

    /// Adds the 16 vectors `v(0)..v(15)`; returns the sixteens carried out.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub fn add16(&mut self, v: impl Fn(usize) -> __m256i) -> __m256i {
        let Csa {
            ones,
            twos,
            fours,
            eights,
        } = *self;
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
        *self = Csa {
            ones: o,
            twos: t,
            fours: f,
            eights: e,
        };
        sixteens
    }
}

/// Carry-save adder: (high, low) bits of a + b + c, bitwise.
#[inline]
#[target_feature(enable = "avx2")]
pub fn csa(a: __m256i, b: __m256i, c: __m256i) -> (__m256i, __m256i) {
    let u = _mm256_xor_si256(a, b);
    (
        _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(u, c)),
        _mm256_xor_si256(u, c),
    )
}
