//! Bitmap commands on string values (Valkey's bitops.c): bit `n` is bit
//! `7 - n % 8` of byte `n / 8`, most significant first.

use super::{Command, Ctx, as_str, as_str_mut, int_arg, is, ks};
use crate::error::{CmdResult, err};
use crate::keyspace::Db;
use crate::keyspace::events::STRING;
use crate::simd::{self, BitOp};
use crate::types::{Bytes, StrRef, StrValue, Value, ValueRef};

pub const COMMANDS: &[Command] = &[
    Command::new(
        "setbit",
        4,
        "write denyoom",
        (1, 1, 1),
        "@write @bitmap @slow",
        setbit,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new(
        "getbit",
        3,
        "readonly fast",
        (1, 1, 1),
        "@read @bitmap @fast",
        getbit,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new(
        "bitcount",
        -2,
        "readonly",
        (1, 1, 1),
        "@read @bitmap @slow",
        bitcount,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new(
        "bitpos",
        -3,
        "readonly",
        (1, 1, 1),
        "@read @bitmap @slow",
        bitpos,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new(
        "bitop",
        -4,
        "write denyoom",
        (2, -1, 1),
        "@write @bitmap @slow",
        bitop,
    )
    .keys(&[ks("OW update", 2, 0, 1), ks("RO access", 3, -1, 1)]),
];

/// A bit offset argument: 0 ..= 8 × proto-max-bulk-len - 1. With
/// `field_bits` (BITFIELD) `#N` means N fields of that width.
pub(super) fn bit_offset(
    ctx: &Ctx,
    arg: &[u8],
    field_bits: Option<u32>,
) -> Result<u64, crate::error::CmdError> {
    let out_of_range = || err("ERR bit offset is not an integer or out of range");
    let (width, digits) = match (field_bits, arg.strip_prefix(b"#")) {
        (Some(bits), Some(rest)) => (i64::from(bits), rest),
        _ => (1, arg),
    };
    let n = int_arg(digits)
        .ok()
        .and_then(|n| n.checked_mul(width))
        .ok_or_else(out_of_range)?;
    if n < 0 || (n as u64 >> 3) >= ctx.srv.config.proto_max_bulk_len as u64 {
        return Err(out_of_range());
    }
    Ok(n as u64)
}

/// The unit of a range: BYTE (the default) or BIT.
fn bit_unit(arg: Option<&&[u8]>) -> Result<bool, crate::error::CmdError> {
    match arg {
        None => Ok(false),
        Some(a) if is(a, "byte") => Ok(false),
        Some(a) if is(a, "bit") => Ok(true),
        Some(_) => Err(err("ERR syntax error")),
    }
}

fn setbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, argv[2], None)?;
    let on = match argv[3] {
        b"0" => false,
        b"1" => true,
        _ => return Err(err("ERR bit is not an integer or out of range")),
    };
    let (byte, mask) = ((offset >> 3) as usize, 0x80u8 >> (offset & 7));
    let now = ctx.now_ms;
    match ctx.db().lookup_write(argv[1], now) {
        Some(e) => {
            as_str(e.value())?;
        }
        None => {
            ctx.db()
                .insert(argv[1], Value::Str(StrValue::raw(b"")), None, now);
        }
    }
    let e = ctx.db().lookup_write(argv[1], now).expect("present");
    let s = as_str_mut(e.value_mut())?;
    let data = s.make_raw();
    if data.len() <= byte {
        data.resize(byte + 1, 0);
    }
    let was = data[byte] & mask != 0;
    if on {
        data[byte] |= mask;
    } else {
        data[byte] &= !mask;
    }
    ctx.changed(STRING, "setbit", argv[1]);
    ctx.out.int(i64::from(was));
    Ok(())
}

fn getbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(ctx, argv[2], None)?;
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let bit = match ctx.db().lookup_read(argv[1], now, touch) {
        None => false,
        Some(e) => {
            let mut scratch = itoa::Buffer::new();
            let s = as_str(e.value())?.as_bytes(&mut scratch);
            s.get((offset >> 3) as usize)
                .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
        }
    };
    ctx.out.int(i64::from(bit));
    Ok(())
}

/// A `start end [BYTE|BIT]` range, resolved against a string of `len`
/// bytes: the bytes to look at and, in BIT mode, the bits of the first and
/// last byte that fall outside the range (as masks).
struct Range {
    first: usize,
    last: usize,
    /// Bits of byte `first` before the range.
    head_mask: u8,
    /// Bits of byte `last` after the range.
    tail_mask: u8,
}

/// Parses `start end [BYTE|BIT]` from `args` (already known to hold 2 or
/// 3 items): (start, end, bit mode).
fn range_args(args: &[&[u8]]) -> Result<(i64, i64, bool), crate::error::CmdError> {
    let start = int_arg(args[0])?;
    let end = int_arg(args[1])?;
    Ok((start, end, bit_unit(args.get(2))?))
}

/// Resolves a range as Valkey does: negative indexes count from the end,
/// then both are clamped into the string; None when it selects nothing.
fn resolve(len: usize, start: i64, end: i64, bit_mode: bool) -> Option<Range> {
    let total = if bit_mode { len as i64 * 8 } else { len as i64 };
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(if bit_mode {
        Range {
            first: (start >> 3) as usize,
            last: (end >> 3) as usize,
            head_mask: !(0xffu8 >> (start & 7)),
            tail_mask: ((1u16 << (7 - (end & 7))) - 1) as u8,
        }
    } else {
        Range {
            first: start as usize,
            last: end as usize,
            head_mask: 0,
            tail_mask: 0,
        }
    })
}

fn bitcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let range = match argv.len() {
        2 => None,
        3 => Some((int_arg(argv[2])?, -1, false)),
        4 | 5 => Some(range_args(&argv[2..])?),
        _ => return Err(err("ERR syntax error")),
    };
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let Some(e) = ctx.db().lookup_read(argv[1], now, touch) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut scratch = itoa::Buffer::new();
    let s = as_str(e.value())?.as_bytes(&mut scratch);
    let (start, end, bit_mode) = range.unwrap_or((0, -1, false));
    let count = match resolve(s.len(), start, end, bit_mode) {
        None => 0,
        Some(r) => {
            let outside =
                (s[r.first] & r.head_mask).count_ones() + (s[r.last] & r.tail_mask).count_ones();
            simd::popcount(&s[r.first..=r.last]) - u64::from(outside)
        }
    };
    ctx.out.int(count as i64);
    Ok(())
}

fn bitpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let bit = match argv[2] {
        b"0" => false,
        b"1" => true,
        a if int_arg(a).is_err() => return Err(err("ERR value is not an integer or out of range")),
        _ => return Err(err("ERR The bit argument must be 1 or 0.")),
    };
    let (start, end, bit_mode, end_given) = match argv.len() {
        3 => (0, -1, false, false),
        4 => (int_arg(argv[3])?, -1, false, false),
        5 | 6 => {
            // Valkey's order here: start, then the unit, then end.
            let start = int_arg(argv[3])?;
            let bit_mode = bit_unit(argv.get(5))?;
            (start, int_arg(argv[4])?, bit_mode, true)
        }
        _ => return Err(err("ERR syntax error")),
    };
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let Some(e) = ctx.db().lookup_read(argv[1], now, touch) else {
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let mut scratch = itoa::Buffer::new();
    let s = as_str(e.value())?.as_bytes(&mut scratch);
    let Some(r) = resolve(s.len(), start, end, bit_mode) else {
        ctx.out.int(-1);
        return Ok(());
    };
    // Bits outside the range read as the opposite of what is sought.
    let pick = |i: usize| {
        let mut b = s[i];
        let mut outside = 0;
        if i == r.first {
            outside |= r.head_mask;
        }
        if i == r.last {
            outside |= r.tail_mask;
        }
        if bit {
            b &= !outside;
        } else {
            b |= outside;
        }
        b
    };
    // The edge bytes (masked in BIT mode) one by one, the middle vectorised.
    let hit = |i: usize| {
        let b = if bit { pick(i) } else { !pick(i) };
        (b != 0).then(|| (i * 8) as i64 + i64::from(b.leading_zeros() as u8))
    };
    let skip = if bit { 0x00 } else { 0xff };
    let found = hit(r.first).or_else(|| {
        if r.last == r.first {
            return None;
        }
        let middle = &s[r.first + 1..r.last];
        match simd::first_not(middle, skip) {
            Some(i) => hit(r.first + 1 + i),
            None => hit(r.last),
        }
    });
    let pos = match found {
        Some(p) => p,
        // No clear bit in the string: without an explicit end the string
        // reads as zero-padded, so the first bit after it is clear.
        None if !bit && !end_given => (r.last as i64 + 1) * 8,
        None => -1,
    };
    ctx.out.int(pos);
    Ok(())
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]: missing keys read as
/// empty strings, shorter strings as zero-padded; an empty result deletes
/// the destination.
fn bitop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (op, dest, sources) = (argv[1], argv[2], &argv[3..]);
    let op = match op {
        o if is(o, "and") => Some(BitOp::And),
        o if is(o, "or") => Some(BitOp::Or),
        o if is(o, "xor") => Some(BitOp::Xor),
        o if is(o, "not") => None,
        _ => return Err(err("ERR syntax error")),
    };
    if op.is_none() && sources.len() != 1 {
        return Err(err(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    // First pass: types and the result's length (missing keys count as empty).
    let mut len = 0;
    for key in sources {
        if let Some(e) = ctx.db().lookup_read(key, now, touch) {
            len = len.max(as_str(e.value())?.len());
        }
    }
    if len == 0 {
        ctx.delete_key(dest);
        ctx.out.int(0);
        return Ok(());
    }
    // Second pass: fold the sources into the result, read in place. The
    // result reuses the destination's buffer when it is about the right
    // size (writing into memory already mapped is cheaper than faulting
    // fresh pages in), and the first fold reads two sources at once, so
    // no pass only copies.
    let mut result = match reusable_buffer(ctx, dest, sources, len) {
        Some(mut buf) => {
            buf.resize(len, 0);
            buf
        }
        None => vec![0; len],
    };
    fold_sources(ctx.db(), op, sources, &mut result);
    ctx.db()
        .insert(dest, Value::Str(StrValue::raw_owned(result)), None, now);
    ctx.changed(STRING, "set", dest);
    ctx.out.int(len as i64);
    Ok(())
}

/// Writes BITOP's result over all of `result` (as long as the longest
/// source; shorter sources read as zero-padded).
fn fold_sources(db: &Db, op: Option<BitOp>, sources: &[&[u8]], result: &mut [u8]) {
    let mut scratch = [itoa::Buffer::new(), itoa::Buffer::new()];
    let [s0, s1] = &mut scratch;
    let first = source_bytes(db, sources[0], s0);
    let Some(op) = op else {
        // NOT has one source, as long as the result.
        return simd::not_into(result, first);
    };
    let Some(second) = sources.get(1).map(|key| source_bytes(db, key, s1)) else {
        return result.copy_from_slice(first);
    };
    // Past the shorter of the two, the longer one's bytes combine with zero.
    let (short, long) = if first.len() <= second.len() {
        (first, second)
    } else {
        (second, first)
    };
    simd::combine_into(op, result, short, long);
    let rest = &mut result[short.len()..];
    match op {
        BitOp::And => rest.fill(0),
        BitOp::Or | BitOp::Xor => {
            rest[..long.len() - short.len()].copy_from_slice(&long[short.len()..]);
            rest[long.len() - short.len()..].fill(0);
        }
    }
    for key in &sources[2..] {
        let src = source_bytes(db, key, s0);
        simd::combine(op, result, src);
        if op == BitOp::And {
            // Past a shorter source its bytes read as zero.
            result[src.len()..].fill(0);
        }
    }
}

/// The destination's heap buffer, taken out of it, if BITOP may overwrite
/// it: not also a source, and with a capacity between `len` and `2 × len`.
fn reusable_buffer(ctx: &mut Ctx, dest: &[u8], sources: &[&[u8]], len: usize) -> Option<Vec<u8>> {
    if sources.contains(&dest) {
        return None;
    }
    let now = ctx.now_ms;
    let node = ctx.db().peek(dest, now)?;
    // Only raw strings have a buffer of their own (and are held whole, so
    // `value_mut` moves nothing).
    if !matches!(node.value(), ValueRef::Str(StrRef::Bytes { raw: true, .. })) {
        return None;
    }
    match node.value_mut() {
        Value::Str(StrValue::Bytes {
            data: Bytes::Heap(v),
            ..
        }) if (len..=2 * len).contains(&v.capacity()) => Some(std::mem::take(v)),
        _ => None,
    }
}

/// A BITOP source's bytes (a missing key reads as empty). The first pass
/// looked every source up, so expiry and types are already settled.
fn source_bytes<'a>(db: &'a Db, key: &[u8], scratch: &'a mut itoa::Buffer) -> &'a [u8] {
    match db.get_checked(key) {
        Some(e) => match e.value() {
            ValueRef::Str(s) => s.as_bytes(scratch),
            ValueRef::Packed(..) | ValueRef::Value(_) => &[],
        },
        None => &[],
    }
}
