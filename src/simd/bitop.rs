//! BITOP's kernels: AND / OR / XOR of a source into an accumulator, the same
//! of two sources into a destination (so the first fold needs no copy), and
//! NOT of a source into a destination. One generic loop per kernel, compiled
//! twice: plainly (the scalar twin) and with AVX2 enabled, which the compiler
//! vectorises 32 bytes at a time.

use super::Level;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
}

/// `acc[i] = acc[i] op src[i]` for every `i` both have.
pub fn combine(op: BitOp, acc: &mut [u8], src: &[u8]) {
    match super::level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX2 on this CPU.
        Level::Avx2 | Level::Avx512 => unsafe { combine_avx2(op, acc, src) },
        _ => combine_scalar(op, acc, src),
    }
}

/// `dst[i] = a[i] op b[i]` for every `i` all three have.
pub fn combine_into(op: BitOp, dst: &mut [u8], a: &[u8], b: &[u8]) {
    match super::level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX2 on this CPU.
        Level::Avx2 | Level::Avx512 => unsafe { combine_into_avx2(op, dst, a, b) },
        _ => combine_into_scalar(op, dst, a, b),
    }
}

/// `dst[i] = !src[i]` for every `i` both have.
pub fn not_into(dst: &mut [u8], src: &[u8]) {
    match super::level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX2 on this CPU.
        Level::Avx2 | Level::Avx512 => unsafe { not_into_avx2(dst, src) },
        _ => not_into_scalar(dst, src),
    }
}

/// The loops the variants compile (called plainly, the scalar twins).
#[inline(always)]
pub fn combine_scalar(op: BitOp, acc: &mut [u8], src: &[u8]) {
    let pairs = acc.iter_mut().zip(src);
    match op {
        BitOp::And => pairs.for_each(|(a, s)| *a &= s),
        BitOp::Or => pairs.for_each(|(a, s)| *a |= s),
        BitOp::Xor => pairs.for_each(|(a, s)| *a ^= s),
    }
}

#[inline(always)]
pub fn combine_into_scalar(op: BitOp, dst: &mut [u8], a: &[u8], b: &[u8]) {
    let triples = dst.iter_mut().zip(a.iter().zip(b));
    match op {
        BitOp::And => triples.for_each(|(d, (x, y))| *d = x & y),
        BitOp::Or => triples.for_each(|(d, (x, y))| *d = x | y),
        BitOp::Xor => triples.for_each(|(d, (x, y))| *d = x ^ y),
    }
}

#[inline(always)]
pub fn not_into_scalar(dst: &mut [u8], src: &[u8]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = !s);
}

/// SAFETY: the caller checked that the CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn combine_avx2(op: BitOp, acc: &mut [u8], src: &[u8]) {
    combine_scalar(op, acc, src)
}

/// SAFETY: the caller checked that the CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn combine_into_avx2(op: BitOp, dst: &mut [u8], a: &[u8], b: &[u8]) {
    combine_into_scalar(op, dst, a, b)
}

/// SAFETY: the caller checked that the CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn not_into_avx2(dst: &mut [u8], src: &[u8]) {
    not_into_scalar(dst, src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPS: [BitOp; 3] = [BitOp::And, BitOp::Or, BitOp::Xor];

    fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    proptest! {
        #[test]
        fn combine_matches_scalar(
            a in proptest::collection::vec(any::<u8>(), 0..700),
            b in proptest::collection::vec(any::<u8>(), 0..700),
            skip in 0usize..33,
        ) {
            let at = skip.min(a.len());
            let src = &b[skip.min(b.len())..];
            for op in OPS {
                let (mut fast, mut slow) = (a.clone(), a.clone());
                combine(op, &mut fast[at..], src);
                combine_scalar(op, &mut slow[at..], src);
                prop_assert_eq!(&fast, &slow);
                #[cfg(target_arch = "x86_64")]
                if avx2() {
                    let mut direct = a.clone();
                    // SAFETY: AVX2 is present.
                    unsafe { combine_avx2(op, &mut direct[at..], src) };
                    prop_assert_eq!(&direct, &slow);
                }
            }
        }

        #[test]
        fn combine_into_and_not_into_match_scalar(
            a in proptest::collection::vec(any::<u8>(), 0..700),
            b in proptest::collection::vec(any::<u8>(), 0..700),
            dst_len in 0usize..700,
            skip in 0usize..33,
        ) {
            let (a, b) = (&a[skip.min(a.len())..], &b[(skip / 2).min(b.len())..]);
            let blank = vec![0x5au8; dst_len + skip];
            for op in OPS {
                let (mut fast, mut slow) = (blank.clone(), blank.clone());
                combine_into(op, &mut fast[skip..], a, b);
                combine_into_scalar(op, &mut slow[skip..], a, b);
                prop_assert_eq!(&fast, &slow);
                #[cfg(target_arch = "x86_64")]
                if avx2() {
                    let mut direct = blank.clone();
                    // SAFETY: AVX2 is present.
                    unsafe { combine_into_avx2(op, &mut direct[skip..], a, b) };
                    prop_assert_eq!(&direct, &slow);
                }
            }
            let (mut fast, mut slow) = (blank.clone(), blank.clone());
            not_into(&mut fast[skip..], a);
            not_into_scalar(&mut slow[skip..], a);
            prop_assert_eq!(&fast, &slow);
            #[cfg(target_arch = "x86_64")]
            if avx2() {
                let mut direct = blank.clone();
                // SAFETY: AVX2 is present.
                unsafe { not_into_avx2(&mut direct[skip..], a) };
                prop_assert_eq!(&direct, &slow);
            }
        }

        /// The scalar twins themselves, against a byte-at-a-time definition.
        #[test]
        fn scalar_twins_are_right(
            a in proptest::collection::vec(any::<u8>(), 0..100),
            b in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let n = a.len().min(b.len());
            for (op, f) in [(BitOp::And, (|x, y| x & y) as fn(u8, u8) -> u8), (BitOp::Or, |x, y| x | y), (BitOp::Xor, |x, y| x ^ y)] {
                let mut dst = vec![0u8; n];
                combine_into_scalar(op, &mut dst, &a, &b);
                prop_assert!((0..n).all(|i| dst[i] == f(a[i], b[i])));
                let mut acc = a.clone();
                combine_scalar(op, &mut acc, &b);
                let expected = |i: usize| if i < n { f(a[i], b[i]) } else { a[i] };
                prop_assert!((0..a.len()).all(|i| acc[i] == expected(i)));
            }
            let mut dst = vec![0u8; a.len()];
            not_into_scalar(&mut dst, &a);
            prop_assert!(dst.iter().zip(&a).all(|(d, x)| *d == !x));
        }
    }
}
