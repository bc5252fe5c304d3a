//! BITOP's kernels: AND / OR / XOR of a source into an accumulator, and NOT
//! in place. One generic loop, compiled twice: plainly (the scalar twin) and
//! with AVX2 enabled, which the compiler vectorises 32 bytes at a time.

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

/// Inverts every bit of `acc`.
pub fn not(acc: &mut [u8]) {
    match super::level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX2 on this CPU.
        Level::Avx2 | Level::Avx512 => unsafe { not_avx2(acc) },
        _ => not_generic(acc),
    }
}

/// The loop both variants compile (called plainly, it is the scalar twin).
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
fn not_generic(acc: &mut [u8]) {
    acc.iter_mut().for_each(|a| *a = !*a);
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
unsafe fn not_avx2(acc: &mut [u8]) {
    not_generic(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn dispatch_matches_scalar(
            a in proptest::collection::vec(any::<u8>(), 0..700),
            b in proptest::collection::vec(any::<u8>(), 0..700),
            skip in 0usize..33,
        ) {
            for op in [BitOp::And, BitOp::Or, BitOp::Xor] {
                let src = &b[skip.min(b.len())..];
                let (mut fast, mut slow) = (a.clone(), a.clone());
                combine(op, &mut fast[skip.min(a.len())..], src);
                combine_scalar(op, &mut slow[skip.min(a.len())..], src);
                prop_assert_eq!(&fast, &slow);
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    let mut direct = a.clone();
                    // SAFETY: AVX2 is present.
                    unsafe { combine_avx2(op, &mut direct[skip.min(a.len())..], src) };
                    prop_assert_eq!(&direct, &slow);
                }
            }
            let mut fast = a.clone();
            not(&mut fast[skip.min(a.len())..]);
            let slow: Vec<u8> = a.iter().enumerate().map(|(i, x)| if i >= skip.min(a.len()) { !x } else { *x }).collect();
            prop_assert_eq!(fast, slow);
        }
    }
}
