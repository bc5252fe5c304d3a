//! Vector kernels with runtime CPU dispatch: the CPU is checked once, then
//! every call goes to the best variant it supports. Each kernel has a
//! scalar twin that defines its result; property tests hold the vector
//! variants to it on random inputs of every length and alignment. Variants
//! for other instruction sets (AVX-512, NEON) slot in beside AVX2 in
//! `Level` and each kernel's dispatch.

use std::sync::atomic::{AtomicU8, Ordering};

pub mod bitop;
#[cfg(target_arch = "x86_64")]
mod csa;
pub mod find;
pub mod hll;
pub mod popcount;

pub use bitop::{BitOp, combine, combine_into, not_into};
pub use find::first_not;
pub use popcount::popcount;

/// The instruction sets a kernel may use, best last. A kernel without a
/// variant for the detected level uses the best one below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Scalar = 1,
    Avx2 = 2,
    /// AVX-512 F, BW, VBMI and VPOPCNTDQ (Ice Lake, Zen 4 and later; AVX2
    /// is implied on every such CPU).
    Avx512 = 3,
}

const UNKNOWN: u8 = 0;
static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);

/// The best level this CPU supports (detected on first use).
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Scalar,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let detected = detect();
            LEVEL.store(detected as u8, Ordering::Relaxed);
            detected
        }
    }
}

fn detect() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2")
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512vbmi")
            && has!("avx512vpopcntdq")
        {
            return Level::Avx512;
        }
        if has!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Scalar
}
