//! HyperLogLog register kernels. A dense HLL packs 16384 six-bit registers
//! LSB-first into 12288 bytes (4 registers in 3 bytes); the "raw" form has
//! one register per byte. Kernels:
//! - `merge_dense`: raw[i] = max(raw[i], dense register i) (PFMERGE and
//!   multi-key PFCOUNT);
//! - `compress`: raw registers written back packed (PFMERGE's result);
//! - `histogram_raw` / `histogram_dense`: how many registers hold each
//!   value 0..=63, exactly (the cardinality estimator's input).
//!
//! The AVX2 variants work 32 registers (24 packed bytes) at a time, the
//! AVX-512 (VBMI) ones 64 (48 bytes). The histogram unpacks the registers
//! with their value range (vector min/max), then counts each value present
//! with compares (a dense HLL holds ~20 distinct values). `PFDEBUG SIMD
//! OFF` switches the vector variants off at run time, as in Valkey.

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

/// The level the HLL kernels run at: the CPU's, unless switched off.
fn level() -> Level {
    if ENABLED.load(Ordering::Relaxed) {
        super::level()
    } else {
        Level::Scalar
    }
}

/// Whether vector variants run (enabled, and the CPU has AVX2).
pub fn active() -> bool {
    level() >= Level::Avx2
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
    match level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX-512 F, BW and VBMI on this CPU.
        Level::Avx512 => unsafe { avx512::merge_dense(raw, dense) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX2 on this CPU.
        Level::Avx2 => unsafe { avx2::merge_dense(raw, dense) },
        _ => merge_dense_scalar(raw, dense),
    }
}

/// Packs `raw` (values < 64) into `dense`.
pub fn compress(dense: &mut [u8; DENSE_BYTES], raw: &[u8; REGISTERS]) {
    match level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX-512 F, BW and VBMI on this CPU.
        Level::Avx512 => unsafe { avx512::compress(dense, raw) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX2 on this CPU.
        Level::Avx2 => unsafe { avx2::compress(dense, raw) },
        _ => compress_scalar(dense, raw),
    }
}

/// How many of the registers (values < 64) hold each value.
pub fn histogram_raw(raw: &[u8; REGISTERS]) -> Histogram {
    match level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX2 on this CPU (implied by Avx512).
        Level::Avx2 | Level::Avx512 => unsafe { avx2::histogram_raw(raw) },
        _ => histogram_raw_scalar(raw),
    }
}

/// How many of the packed registers hold each value.
pub fn histogram_dense(dense: &[u8; DENSE_BYTES]) -> Histogram {
    match level() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX-512 F, BW and VBMI on this CPU.
        Level::Avx512 => unsafe { avx512::histogram_dense(dense) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: level() saw AVX2 on this CPU.
        Level::Avx2 => unsafe { avx2::histogram_dense(dense) },
        _ => histogram_dense_scalar(dense),
    }
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
    use crate::simd::csa::Csa;
    use std::arch::x86_64::*;

    /// 32 registers from 24 packed bytes: each 128-bit lane takes 12 bytes
    /// (16 registers) and spreads every 3 bytes b0 b1 b2 over a 32-bit word
    /// as the 16-bit pairs (b0 b1) and (b1 b2). Registers 0 and 1 lie at
    /// bits 0 and 6 of the first pair, 2 and 3 at bits 4 and 10 of the
    /// second; one multiply (low half) moves 0 and 2 to the pairs' high
    /// bytes, another (high half) moves 1 and 3 to their low bytes, and a
    /// byte swap within each pair restores the order.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn unpack(lo: __m128i, hi: __m128i) -> __m256i {
        let x = _mm256_set_m128i(hi, lo);
        let spread = _mm256_setr_epi8(
            0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11, //
            0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11,
        );
        let w = _mm256_shuffle_epi8(x, spread);
        let left = mullo(
            _mm256_and_si256(w, pairs(0x003f, 0x03f0)),
            pairs(1 << 8, 1 << 4),
        );
        let right = mulhi(
            _mm256_and_si256(w, pairs(0x0fc0, 0xfc00)),
            pairs(1 << 10, 1 << 6),
        );
        let swap = _mm256_setr_epi8(
            1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, //
            1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14,
        );
        _mm256_shuffle_epi8(_mm256_or_si256(left, right), swap)
    }

    /// VPMULLW and VPMULHUW as written: LLVM turns multiplies by known
    /// powers of two into shifts, blends and (for the high half) widening,
    /// two to three times the work.
    macro_rules! multiply {
        ($name:ident, $insn:literal) => {
            #[inline]
            #[target_feature(enable = "avx2")]
            fn $name(a: __m256i, b: __m256i) -> __m256i {
                let out: __m256i;
                // SAFETY: the instruction reads two vector registers and
                // writes a third; the CPU has AVX2 (target feature above).
                unsafe {
                    std::arch::asm!(concat!($insn, " {o}, {a}, {b}"), o = lateout(ymm_reg) out,
                        a = in(ymm_reg) a, b = in(ymm_reg) b, options(pure, nomem, nostack));
                }
                out
            }
        };
    }
    multiply!(mullo, "vpmullw");
    multiply!(mulhi, "vpmulhuw");

    /// A 32-bit word of two 16-bit halves.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pairs(a: i32, b: i32) -> __m256i {
        _mm256_set1_epi32(a | b << 16)
    }

    /// The inverse of `unpack`: 32 registers (one per byte, < 64) to 24
    /// packed bytes, the low 24 of the vector.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn pack(x: __m256i) -> __m256i {
        // Pairs of registers into 12-bit fields (r0 + 64 r1), then pairs of
        // those into each word's 24 bits: two multiply-adds.
        let pairs = _mm256_maddubs_epi16(x, _mm256_set1_epi16(1 | 64 << 8));
        let w = _mm256_madd_epi16(pairs, _mm256_set1_epi32(1 | 4096 << 16));
        let squeeze = _mm256_setr_epi8(
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, //
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
        );
        // Each lane's 12 bytes, then the high lane's moved down beside the
        // low one's (one store per block; two overlapping 16-byte stores,
        // half of them across cache lines, were the kernel's bottleneck).
        let lanes = _mm256_shuffle_epi8(w, squeeze);
        _mm256_permutevar8x32_epi32(lanes, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7))
    }

    /// Each 24-byte block of `dense` with the 32 registers it holds; the
    /// last block is read through a padded copy, since a lane load reads
    /// 16 bytes for the 12 it uses.
    const BLOCKS: usize = DENSE_BYTES / 24;

    #[target_feature(enable = "avx2")]
    pub fn merge_dense(raw: &mut [u8; REGISTERS], dense: &[u8; DENSE_BYTES]) {
        for_each_block(dense, |b, registers| {
            // SAFETY: `raw` has 32 bytes at b * 32.
            unsafe {
                let dst = raw[b * 32..].as_mut_ptr().cast::<__m256i>();
                _mm256_storeu_si256(dst, _mm256_max_epu8(_mm256_loadu_si256(dst), registers));
            }
        });
    }

    /// Calls `f(block, its 32 registers)` for each 24-byte block of
    /// `dense`; the last block is read through a padded copy, since a lane
    /// load reads 16 bytes for the 12 it uses.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn for_each_block(dense: &[u8; DENSE_BYTES], mut f: impl FnMut(usize, __m256i)) {
        let mut last = [0u8; 32];
        last[..24].copy_from_slice(&dense[DENSE_BYTES - 24..]);
        for b in 0..BLOCKS {
            let src: &[u8] = if b + 1 < BLOCKS {
                &dense[b * 24..]
            } else {
                &last
            };
            // SAFETY: `src` has at least 28 readable bytes (lane loads at 0
            // and 12 of 16 bytes each).
            let (lo, hi) = unsafe {
                (
                    _mm_loadu_si128(src.as_ptr().cast()),
                    _mm_loadu_si128(src[12..].as_ptr().cast()),
                )
            };
            f(b, unpack(lo, hi));
        }
    }

    /// The dense registers' histogram: unpacked once (with their value
    /// range), then counted.
    #[target_feature(enable = "avx2")]
    pub fn histogram_dense(dense: &[u8; DENSE_BYTES]) -> Histogram {
        let mut raw = [0u8; REGISTERS];
        let (mut lo, mut hi) = (_mm256_set1_epi8(-1), _mm256_setzero_si256());
        for_each_block(dense, |b, registers| {
            lo = _mm256_min_epu8(lo, registers);
            hi = _mm256_max_epu8(hi, registers);
            // SAFETY: `raw` has 32 bytes at b * 32.
            unsafe { _mm256_storeu_si256(raw[b * 32..].as_mut_ptr().cast(), registers) };
        });
        count(&raw, min_byte(lo), max_byte(hi))
    }

    #[target_feature(enable = "avx2")]
    pub fn compress(dense: &mut [u8; DENSE_BYTES], raw: &[u8; REGISTERS]) {
        let mut last = [0u8; 32];
        for b in 0..BLOCKS {
            // SAFETY: `raw` has 32 bytes at b * 32; the store writes 32
            // bytes at b * 24 of `dense`, of which the next block's store
            // overwrites the last 8 (the last block goes through `last`).
            unsafe {
                let packed = pack(_mm256_loadu_si256(raw[b * 32..].as_ptr().cast()));
                let dst: &mut [u8] = if b + 1 < BLOCKS {
                    &mut dense[b * 24..]
                } else {
                    &mut last
                };
                _mm256_storeu_si256(dst.as_mut_ptr().cast(), packed);
            }
        }
        dense[DENSE_BYTES - 24..].copy_from_slice(&last[..24]);
    }

    #[target_feature(enable = "avx2")]
    pub fn histogram_raw(raw: &[u8; REGISTERS]) -> Histogram {
        let (mut lo, mut hi) = (_mm256_set1_epi8(-1), _mm256_setzero_si256());
        for v in raw.chunks_exact(32) {
            // SAFETY: `v` has 32 bytes.
            let x = unsafe { _mm256_loadu_si256(v.as_ptr().cast()) };
            lo = _mm256_min_epu8(lo, x);
            hi = _mm256_max_epu8(hi, x);
        }
        count(raw, min_byte(lo), max_byte(hi))
    }

    #[target_feature(enable = "avx2")]
    fn min_byte(v: __m256i) -> u8 {
        bytes(v).into_iter().min().unwrap_or(0)
    }

    #[target_feature(enable = "avx2")]
    fn max_byte(v: __m256i) -> u8 {
        bytes(v).into_iter().max().unwrap_or(0)
    }

    /// The histogram of `raw`, whose bytes all lie in `lo..=hi`: windows
    /// of 8 values by positional counting, the last few values (or all,
    /// when they are few) by compares.
    #[target_feature(enable = "avx2")]
    pub fn count(raw: &[u8; REGISTERS], lo: u8, hi: u8) -> Histogram {
        if hi >= 64 {
            return super::histogram_raw_scalar(raw);
        }
        let mut h = [0; 64];
        let mut first = usize::from(lo);
        while first <= usize::from(hi) {
            if usize::from(hi) + 1 - first > COMPARED {
                window8(raw, first, &mut h);
                first += 8;
            } else {
                compared(raw, first, &mut h);
                break;
            }
        }
        h
    }

    /// Values counted by compares in one pass (2 instructions per value
    /// and vector, against ~11 per vector for a window of 8).
    const COMPARED: usize = 6;
    /// Vectors per byte counter before it could wrap.
    const CHUNK: usize = 255 * 32;

    /// Counts of the values `first..first + COMPARED`: per vector, a
    /// compare per value whose all-ones lanes subtract one from byte
    /// counters, summed (PSADBW) every 255 vectors, before one can wrap.
    #[target_feature(enable = "avx2")]
    fn compared(raw: &[u8; REGISTERS], first: usize, h: &mut Histogram) {
        let wanted: [__m256i; COMPARED] =
            std::array::from_fn(|k| _mm256_set1_epi8((first + k) as i8));
        let mut totals = [_mm256_setzero_si256(); COMPARED];
        for chunk in raw.chunks(CHUNK) {
            let mut counts = [_mm256_setzero_si256(); COMPARED];
            for v in chunk.chunks_exact(32) {
                let x = load(v);
                for k in 0..COMPARED {
                    counts[k] = _mm256_sub_epi8(counts[k], _mm256_cmpeq_epi8(x, wanted[k]));
                }
            }
            for k in 0..COMPARED {
                let sums = _mm256_sad_epu8(counts[k], _mm256_setzero_si256());
                totals[k] = _mm256_add_epi64(totals[k], sums);
            }
        }
        for (k, total) in totals.iter().enumerate() {
            if let Some(slot) = h.get_mut(first + k) {
                *slot = bytes(*total)
                    .chunks_exact(8)
                    .map(|l| u64::from_le_bytes(l.try_into().expect("8 bytes")))
                    .sum::<u64>() as u32;
            }
        }
    }

    /// Counts of the values `base..base + 8`: each register becomes a
    /// one-hot bit (PSHUFB on its offset from `base`), and carry-save
    /// adders count every bit position, 16 vectors at a time, so only one
    /// vector in 16 has its positions counted. (One window of 8 per pass:
    /// two chains of counters at once would not fit the 16 registers.)
    #[target_feature(enable = "avx2")]
    fn window8(raw: &[u8; REGISTERS], base: usize, h: &mut Histogram) {
        let one_hot = _mm256_setr_epi8(
            1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0, //
            1, 2, 4, 8, 16, 32, 64, -128, 0, 0, 0, 0, 0, 0, 0, 0,
        );
        let (shift, bias) = (_mm256_set1_epi8(base as i8), _mm256_set1_epi8(0x70));
        // Offsets 0..16 keep their low nibble with the top bit clear, for
        // PSHUFB to look up (8..16 find zeros); any other saturates to a
        // set top bit, which PSHUFB turns into zero.
        let bit = |x: __m256i| {
            let offset = _mm256_adds_epu8(_mm256_sub_epi8(x, shift), bias);
            _mm256_shuffle_epi8(one_hot, offset)
        };
        let mut csa = Csa::new();
        let mut counts = [0u32; 8];
        for block in raw.chunks_exact(16 * 32) {
            let sixteens = csa.add16(|i| bit(load(&block[i * 32..])));
            add_positions(&mut counts, sixteens, 16);
        }
        add_positions(&mut counts, csa.eights, 8);
        add_positions(&mut counts, csa.fours, 4);
        add_positions(&mut counts, csa.twos, 2);
        add_positions(&mut counts, csa.ones, 1);
        for (k, &c) in counts.iter().enumerate() {
            if let Some(slot) = h.get_mut(base + k) {
                *slot = c;
            }
        }
    }

    /// `counts[k] += weight × (bytes of v with bit k set)`: MOVEMASK takes
    /// the top bits, and adding v to itself moves the next bit up.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn add_positions(counts: &mut [u32; 8], mut v: __m256i, weight: u32) {
        for k in (0..8).rev() {
            counts[k] += weight * (_mm256_movemask_epi8(v) as u32).count_ones();
            v = _mm256_add_epi8(v, v);
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(v: &[u8]) -> __m256i {
        assert!(v.len() >= 32);
        // SAFETY: `v` has at least 32 bytes; loadu needs no alignment.
        unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
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

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! 64 registers (48 packed bytes) per step: VPERMB spreads each 6-byte
    //! group of 8 registers over a 64-bit lane, VPMULTISHIFTQB picks its
    //! eight 6-bit fields into bytes; packing multiplies pairs and quads
    //! together (VPMADDUBSW, VPMADDWD) and VPERMB squeezes out the gaps.
    //! Masked loads and stores touch exactly the 48 bytes, so no step
    //! needs padding.
    use super::{DENSE_BYTES, Histogram, REGISTERS};
    use std::arch::x86_64::*;

    const BYTES48: __mmask64 = (1 << 48) - 1;

    /// Lane q takes packed bytes 6q..6q+6 (its last two bytes repeat the
    /// sixth; the fields that reach them are masked to 6 bits).
    const SPREAD: [u8; 64] = {
        let mut a = [0u8; 64];
        let mut i = 0;
        while i < 64 {
            let (q, j) = (i / 8, i % 8);
            a[i] = (q * 6 + if j < 6 { j } else { 5 }) as u8;
            i += 1;
        }
        a
    };

    /// Bytes 0..3 of each 32-bit lane, lane after lane (48 bytes).
    const SQUEEZE: [u8; 64] = {
        let mut a = [0u8; 64];
        let mut i = 0;
        while i < 48 {
            a[i] = ((i / 3) * 4 + i % 3) as u8;
            i += 1;
        }
        a
    };

    /// The bit offsets of the 8 registers in a lane: 0, 6, ..., 42.
    const FIELDS: i64 = 0x2a24_1e18_120c_0600;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn unpack(packed: &[u8]) -> __m512i {
        assert!(packed.len() >= 48);
        // SAFETY: the masked load reads 48 bytes, all in `packed`; the
        // index tables are 64 bytes.
        unsafe {
            let x = _mm512_maskz_loadu_epi8(BYTES48, packed.as_ptr().cast());
            let lanes = _mm512_permutexvar_epi8(_mm512_loadu_si512(SPREAD.as_ptr().cast()), x);
            let fields = _mm512_multishift_epi64_epi8(_mm512_set1_epi64(FIELDS), lanes);
            _mm512_and_si512(fields, _mm512_set1_epi8(0x3f))
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn pack(registers: __m512i, packed: &mut [u8]) {
        assert!(packed.len() >= 48);
        // r0 + 64 r1 in each 16-bit lane, then + 4096 (r2 + 64 r3) in each
        // 32-bit lane: four registers in the lane's low 3 bytes.
        let pairs = _mm512_maddubs_epi16(registers, _mm512_set1_epi16(0x4001));
        let quads = _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x1000_0001));
        // SAFETY: the masked store writes 48 bytes, all in `packed`; the
        // index table is 64 bytes.
        unsafe {
            let squeeze = _mm512_loadu_si512(SQUEEZE.as_ptr().cast());
            let y = _mm512_permutexvar_epi8(squeeze, quads);
            _mm512_mask_storeu_epi8(packed.as_mut_ptr().cast(), BYTES48, y);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub fn merge_dense(raw: &mut [u8; REGISTERS], dense: &[u8; DENSE_BYTES]) {
        for (regs, packed) in raw.chunks_exact_mut(64).zip(dense.chunks_exact(48)) {
            // SAFETY: `regs` has 64 bytes.
            unsafe {
                let dst = regs.as_mut_ptr().cast::<__m512i>();
                _mm512_storeu_si512(
                    dst,
                    _mm512_max_epu8(_mm512_loadu_si512(dst), unpack(packed)),
                );
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub fn compress(dense: &mut [u8; DENSE_BYTES], raw: &[u8; REGISTERS]) {
        for (packed, regs) in dense.chunks_exact_mut(48).zip(raw.chunks_exact(64)) {
            // SAFETY: `regs` has 64 bytes.
            pack(unsafe { _mm512_loadu_si512(regs.as_ptr().cast()) }, packed);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub fn histogram_dense(dense: &[u8; DENSE_BYTES]) -> Histogram {
        let mut raw = [0u8; REGISTERS];
        let (mut lo, mut hi) = (_mm512_set1_epi8(-1), _mm512_setzero_si512());
        for (regs, packed) in raw.chunks_exact_mut(64).zip(dense.chunks_exact(48)) {
            let v = unpack(packed);
            lo = _mm512_min_epu8(lo, v);
            hi = _mm512_max_epu8(hi, v);
            // SAFETY: `regs` has 64 bytes.
            unsafe { _mm512_storeu_si512(regs.as_mut_ptr().cast(), v) };
        }
        let (mut lows, mut highs) = ([0u8; 64], [0u8; 64]);
        // SAFETY: both arrays are 64 bytes.
        unsafe {
            _mm512_storeu_si512(lows.as_mut_ptr().cast(), lo);
            _mm512_storeu_si512(highs.as_mut_ptr().cast(), hi);
        }
        let lo = lows.into_iter().min().unwrap_or(0);
        let hi = highs.into_iter().max().unwrap_or(0);
        // AVX-512 F implies AVX2. The AVX2 counter beats an AVX-512 one
        // (mask compares, masked adds) where 512-bit operations run as two
        // 256-bit halves (Zen 4).
        super::avx2::count(&raw, lo, hi)
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

    fn avx512() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi");
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

    /// `data` copied `offset` bytes into a fresh buffer (kernels must not
    /// care how the registers are aligned: a value's registers start 16
    /// bytes into its allocation).
    fn at_offset<const N: usize>(data: &[u8; N], offset: usize) -> Vec<u8> {
        let mut buf = vec![0u8; offset];
        buf.extend_from_slice(data);
        buf
    }

    proptest! {
        #[test]
        fn kernels_match_scalar(
            seed in any::<u64>(),
            centre in 0u8..64,
            spread in 0u8..64,
            base_seed in any::<u64>(),
            offset in 0usize..64,
        ) {
            let raw_box = registers(seed, centre, spread);
            let base = registers(base_seed, centre / 2, spread);
            let mut dense_box = Box::new([0u8; DENSE_BYTES]);
            compress_scalar(&mut dense_box, &raw_box);
            prop_assert!((0..REGISTERS).all(|i| get(&dense_box[..], i) == raw_box[i]));
            let slow_hist = histogram_raw_scalar(&raw_box);
            prop_assert_eq!(histogram_dense_scalar(&dense_box), slow_hist);
            let mut slow_max = base.clone();
            merge_dense_scalar(&mut slow_max, &dense_box);

            // The vector kernels read and write at `offset`.
            let (dense_buf, raw_buf) = (at_offset(&dense_box, offset), at_offset(&raw_box, offset));
            let dense: &[u8; DENSE_BYTES] = dense_buf[offset..].try_into().unwrap();
            let raw: &[u8; REGISTERS] = raw_buf[offset..].try_into().unwrap();
            let mut out = vec![0x5au8; offset + DENSE_BYTES];
            let mut max = at_offset(&base, offset);
            let (out_at, max_at) = (&mut out[offset..], &mut max[offset..]);
            let out_at: &mut [u8; DENSE_BYTES] = out_at.try_into().unwrap();
            let max_at: &mut [u8; REGISTERS] = max_at.try_into().unwrap();

            prop_assert_eq!(histogram_dense(dense), slow_hist);
            prop_assert_eq!(histogram_raw(raw), slow_hist);
            merge_dense(max_at, dense);
            prop_assert_eq!(&max_at[..], &slow_max[..]);
            compress(out_at, raw);
            prop_assert_eq!(&out_at[..], &dense_box[..]);
            #[cfg(target_arch = "x86_64")]
            if avx2() {
                // SAFETY: AVX2 is present.
                unsafe {
                    prop_assert_eq!(avx2::histogram_raw(raw), slow_hist);
                    prop_assert_eq!(avx2::histogram_dense(dense), slow_hist);
                    max_at.copy_from_slice(&base[..]);
                    avx2::merge_dense(max_at, dense);
                    prop_assert_eq!(&max_at[..], &slow_max[..]);
                    out_at.fill(0xa5);
                    avx2::compress(out_at, raw);
                    prop_assert_eq!(&out_at[..], &dense_box[..]);
                }
            }
            #[cfg(target_arch = "x86_64")]
            if avx512() {
                // SAFETY: AVX-512 F, BW and VBMI are present.
                unsafe {
                    prop_assert_eq!(avx512::histogram_dense(dense), slow_hist);
                    max_at.copy_from_slice(&base[..]);
                    avx512::merge_dense(max_at, dense);
                    prop_assert_eq!(&max_at[..], &slow_max[..]);
                    out_at.fill(0xa5);
                    avx512::compress(out_at, raw);
                    prop_assert_eq!(&out_at[..], &dense_box[..]);
                }
            }
        }
    }
}
