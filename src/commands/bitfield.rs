//! BITFIELD and BITFIELD_RO (Valkey's bitops.c): integers of 1..64 bits at
//! any bit offset of a string, read and written MSB first, with WRAP, SAT
//! or FAIL on overflow.

use super::{Command, Ctx, as_str, as_str_mut, int_arg, is, ks};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::events::STRING;
use crate::types::{StrValue, Value};

pub const COMMANDS: &[Command] = &[
    Command::new(
        "bitfield",
        -2,
        "write denyoom",
        (1, 1, 1),
        "@write @bitmap @slow",
        bitfield,
    )
    .keys(&[ks("RW update access variable_flags", 1, 0, 1)
        .notes("This command allows both access and modification of the key")]),
    Command::new(
        "bitfield_ro",
        -2,
        "readonly fast",
        (1, 1, 1),
        "@read @bitmap @fast",
        bitfield_ro,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
];

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy)]
enum Op {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Clone, Copy)]
struct Field {
    op: Op,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

fn bad_type() -> CmdError {
    err(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    )
}

/// `i1`..`i64`, `u1`..`u63`.
fn parse_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let (signed, digits) = match arg.split_first() {
        Some((b'i', rest)) => (true, rest),
        Some((b'u', rest)) => (false, rest),
        _ => return Err(bad_type()),
    };
    let bits = int_arg(digits).map_err(|_| bad_type())?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(bad_type());
    }
    Ok((signed, bits as u32))
}

fn parse(ctx: &Ctx, argv: &[&[u8]], read_only: bool) -> Result<Vec<Field>, CmdError> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < argv.len() {
        let word = argv[i];
        let left = argv.len() - i - 1;
        let takes = if is(word, "get") {
            2
        } else if is(word, "set") || is(word, "incrby") {
            3
        } else if is(word, "overflow") {
            1
        } else {
            return Err(err("ERR syntax error"));
        };
        if left < takes {
            return Err(err("ERR syntax error"));
        }
        if is(word, "overflow") {
            let kind = argv[i + 1];
            overflow = if is(kind, "wrap") {
                Overflow::Wrap
            } else if is(kind, "sat") {
                Overflow::Sat
            } else if is(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(err("ERR Invalid OVERFLOW type specified"));
            };
            i += 2;
            continue;
        }
        let (signed, bits) = parse_type(argv[i + 1])?;
        let offset = super::bitmaps::bit_offset(ctx, argv[i + 2], Some(bits))?;
        let op = if is(word, "get") {
            Op::Get
        } else {
            if read_only {
                return Err(err("ERR BITFIELD_RO only supports the GET subcommand"));
            }
            let value = int_arg(argv[i + 3])?;
            if is(word, "set") {
                Op::Set(value)
            } else {
                Op::IncrBy(value)
            }
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        i += 1 + takes;
    }
    Ok(fields)
}

/// The unsigned value of `bits` bits at bit `offset` (zero past the end).
fn read(data: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |v, i| {
        let at = offset + i;
        let byte = data.get((at >> 3) as usize).copied().unwrap_or(0);
        v << 1 | u64::from(byte >> (7 - (at & 7)) & 1)
    })
}

fn write(data: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let at = offset + i;
        let bit = value >> (u64::from(bits) - 1 - i) & 1;
        let mask = 0x80u8 >> (at & 7);
        let byte = &mut data[(at >> 3) as usize];
        if bit == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits == 64 {
        v as i64
    } else {
        let shift = 64 - bits;
        ((v << shift) as i64) >> shift
    }
}

/// `value + incr` into an unsigned field of `bits`; the result, or None
/// when it overflows under FAIL (Valkey's checkUnsignedBitfieldOverflow).
fn unsigned_add(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let wrap = || value.wrapping_add(incr as u64) & max;
    let over = value > max || (incr > 0 && incr as u64 > max - value);
    let under = !over && incr < 0 && incr.unsigned_abs() > value;
    match (over, under, overflow) {
        (false, false, _) => Some(value.wrapping_add(incr as u64)),
        (_, _, Overflow::Wrap) => Some(wrap()),
        (true, _, Overflow::Sat) => Some(max),
        (_, true, Overflow::Sat) => Some(0),
        (_, _, Overflow::Fail) => None,
    }
}

/// The same for a signed field (checkSignedBitfieldOverflow).
fn signed_add(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let sum = i128::from(value) + i128::from(incr);
    let over = value > max || sum > i128::from(max);
    let under = !over && (value < min || sum < i128::from(min));
    match (over, under, overflow) {
        (false, false, _) => Some(sum as i64),
        (_, _, Overflow::Wrap) => {
            let c = (value as u64).wrapping_add(incr as u64);
            Some(sign_extend(c, bits))
        }
        (true, _, Overflow::Sat) => Some(max),
        (_, true, Overflow::Sat) => Some(min),
        (_, _, Overflow::Fail) => None,
    }
}

fn bitfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, false)
}

fn bitfield_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    run(ctx, argv, true)
}

fn run(ctx: &mut Ctx, argv: &[&[u8]], read_only: bool) -> CmdResult {
    let fields = parse(ctx, argv, read_only)?;
    let now = ctx.now_ms;
    let writes = fields.iter().any(|f| !matches!(f.op, Op::Get));
    // The byte length writes need, grown (with zeros) before any is done.
    let need = fields
        .iter()
        .filter(|f| !matches!(f.op, Op::Get))
        .map(|f| ((f.offset + u64::from(f.bits) - 1) >> 3) as usize + 1)
        .max()
        .unwrap_or(0);
    let mut scratch = itoa::Buffer::new();
    let exists = if writes {
        match ctx.db().lookup_write(argv[1], now) {
            Some(e) => {
                as_str(e.value())?;
                true
            }
            None => false,
        }
    } else {
        let touch = !ctx.client.no_touch;
        match ctx.db().lookup_read(argv[1], now, touch) {
            Some(e) => {
                as_str(e.value())?;
                true
            }
            None => false,
        }
    };
    if writes && !exists {
        ctx.db()
            .insert(argv[1], Value::Str(StrValue::raw(b"")), None, now);
    }
    let mut replies: Vec<Option<i64>> = Vec::with_capacity(fields.len());
    if writes {
        let e = ctx.db().lookup_write(argv[1], now).expect("present");
        let s = as_str_mut(e.value_mut())?;
        let data = s.make_raw();
        if data.len() < need {
            data.resize(need, 0);
        }
        for f in &fields {
            replies.push(apply(data, f));
        }
    } else if exists {
        let touch = !ctx.client.no_touch;
        let e = ctx.db().lookup_read(argv[1], now, touch).expect("present");
        let data = as_str(e.value())?.as_bytes(&mut scratch);
        for f in &fields {
            replies.push(Some(get(data, f)));
        }
    } else {
        replies.resize(fields.len(), Some(0));
    }
    let wrote = fields
        .iter()
        .zip(&replies)
        .any(|(f, r)| !matches!(f.op, Op::Get) && r.is_some());
    if wrote {
        ctx.changed(STRING, "setbit", argv[1]);
    }
    ctx.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn get(data: &[u8], f: &Field) -> i64 {
    let raw = read(data, f.offset, f.bits);
    if f.signed {
        sign_extend(raw, f.bits)
    } else {
        raw as i64
    }
}

/// Runs one subcommand on the (already grown) string: its reply, None for
/// an overflow under FAIL (nothing written then).
fn apply(data: &mut [u8], f: &Field) -> Option<i64> {
    let old = get(data, f);
    let (new, reply) = match (f.op, f.signed) {
        (Op::Get, _) => return Some(old),
        (Op::Set(v), true) => (signed_add(v, 0, f.bits, f.overflow)?, old),
        (Op::Set(v), false) => {
            let new = unsigned_add(v as u64, 0, f.bits, f.overflow)? as i64;
            (new, old)
        }
        (Op::IncrBy(by), true) => {
            let new = signed_add(old, by, f.bits, f.overflow)?;
            (new, new)
        }
        (Op::IncrBy(by), false) => {
            let new = unsigned_add(old as u64, by, f.bits, f.overflow)? as i64;
            (new, new)
        }
    };
    write(data, f.offset, f.bits, new as u64);
    Some(reply)
}
