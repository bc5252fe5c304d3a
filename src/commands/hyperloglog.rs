//! HyperLogLog commands (Valkey's hyperloglog.c): PFADD, PFCOUNT, PFMERGE,
//! PFDEBUG and PFSELFTEST over strings in Valkey's HLL format
//! ([`crate::types::hll`]).

use super::{Command, Ctx, as_str, as_str_mut, is, ks};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::Node;
use crate::keyspace::events::STRING;
use crate::simd::hll::{self as kernels, REGISTERS};
use crate::types::hll::{self, Corrupt, Encoding};
use crate::types::{StrRef, StrValue, Value, ValueRef};

pub const COMMANDS: &[Command] = &[
    Command::new(
        "pfadd",
        -2,
        "write denyoom fast",
        (1, 1, 1),
        "@write @hyperloglog @fast",
        pfadd,
    )
    .keys(&[ks("RW insert", 1, 0, 1)]),
    Command::new(
        "pfcount",
        -2,
        "readonly",
        (1, -1, 1),
        "@read @hyperloglog @slow",
        pfcount,
    )
    .keys(&[ks("RW access", 1, -1, 1).notes(
        "RW because it may change the internal representation of the key, and propagate to replicas",
    )]),
    Command::new(
        "pfmerge",
        -2,
        "write denyoom",
        (1, -1, 1),
        "@write @hyperloglog @slow",
        pfmerge,
    )
    .keys(&[ks("RW access insert", 1, 0, 1), ks("RO access", 2, -1, 1)]),
    Command::new(
        "pfdebug",
        3,
        "write denyoom admin",
        (2, 2, 1),
        "@write @hyperloglog @admin @slow @dangerous",
        pfdebug,
    )
    .keys(&[ks("RW access", 2, 0, 1)]),
    Command::new(
        "pfselftest",
        1,
        "admin",
        (0, 0, 0),
        "@hyperloglog @admin @slow @dangerous",
        pfselftest,
    ),
];

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> Self {
        CmdError::CorruptHll
    }
}

/// The HLL bytes of a value, after Valkey's checks (a string, not an
/// integer, magic, encoding, dense length).
fn hll_bytes(value: ValueRef<'_>) -> Result<(&[u8], Encoding), CmdError> {
    match as_str(value)? {
        StrRef::Bytes { data, .. } => Ok((data, hll::encoding(data).ok_or(CmdError::NotHll)?)),
        StrRef::Int(_) => Err(CmdError::NotHll),
    }
}

/// The HLL under `key` for writing, made raw as Valkey's
/// dbUnshareStringValue does; None if the key is missing. Checks first.
fn hll_for_write<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Vec<u8>>, CmdError> {
    let now = ctx.now_ms;
    ctx.db().lookup_write(key, now).map(unshared).transpose()
}

/// An entry's HLL bytes, checked, as a raw string's own buffer.
fn unshared(e: &mut Node) -> Result<&mut Vec<u8>, CmdError> {
    hll_bytes(e.value())?;
    let s = as_str_mut(e.value_mut())?;
    Ok(s.make_raw())
}

/// The largest sparse HLL, in bytes, before it turns dense.
fn sparse_max(ctx: &Ctx) -> usize {
    usize::try_from(ctx.srv.config.hll_sparse_max_bytes).unwrap_or(0)
}

fn pfadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, elements) = (argv[1], &argv[2..]);
    let sparse_max = sparse_max(ctx);
    let mut updated = false;
    let data = match hll_for_write(ctx, key)? {
        Some(data) => data,
        None => {
            let now = ctx.now_ms;
            ctx.db().insert(
                key,
                Value::Str(StrValue::raw_owned(hll::empty())),
                None,
                now,
            );
            updated = true;
            hll_for_write(ctx, key)?.expect("just created")
        }
    };
    // Hash in batches, then update: the hashes of a batch are independent
    // and overlap in the pipeline, where hash-update-hash would not.
    for batch in elements.chunks(16) {
        let mut patterns = [(0, 0); 16];
        for (p, element) in patterns.iter_mut().zip(batch) {
            *p = hll::pattern(element);
        }
        for &(index, count) in &patterns[..batch.len()] {
            updated |= hll::add(data, index, count, sparse_max)?;
        }
    }
    if updated {
        hll::invalidate_cache(data);
        ctx.changed(STRING, "pfadd", key);
    }
    ctx.out.int(i64::from(updated));
    Ok(())
}

fn pfcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    if argv.len() > 2 {
        // The union: the registers' maxima, counted without being stored.
        let mut max = [0u8; REGISTERS];
        for key in &argv[1..] {
            if let Some(e) = ctx.db().lookup_read(key, now, touch) {
                hll::merge_into(&mut max, hll_bytes(e.value())?.0)?;
            }
        }
        ctx.out.int(hll::count_raw(&max) as i64);
        return Ok(());
    }
    // A read: looked up as one (hits, misses, CLIENT NO-TOUCH), though the
    // cached cardinality may be written.
    let Some(e) = ctx.db().lookup_read(argv[1], now, touch) else {
        ctx.out.int(0);
        return Ok(());
    };
    let data = unshared(e)?;
    let card = match hll::cached_card(data) {
        Some(card) => card,
        None => {
            let card = hll::count(data)?;
            hll::set_cached_card(data, card);
            ctx.touched(argv[1]);
            card
        }
    };
    ctx.out.int(card as i64);
    Ok(())
}

fn pfmerge(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let sparse_max = sparse_max(ctx);
    // The destination is also a source, as in Valkey.
    let mut max = [0u8; REGISTERS];
    let mut any_dense = false;
    for key in &argv[1..] {
        if let Some(e) = ctx.db().lookup_read(key, now, touch) {
            let (bytes, encoding) = hll_bytes(e.value())?;
            any_dense |= encoding == Encoding::Dense;
            hll::merge_into(&mut max, bytes)?;
        }
    }
    let dest = argv[1];
    if ctx.db().lookup_write(dest, now).is_none() {
        ctx.db().insert(
            dest,
            Value::Str(StrValue::raw_owned(hll::empty())),
            None,
            now,
        );
    }
    let data = hll_for_write(ctx, dest)?.expect("present");
    if any_dense {
        hll::to_dense(data)?;
        hll::store_raw(data, &max);
    } else {
        for (index, &count) in max.iter().enumerate().filter(|(_, c)| **c > 0) {
            // The sources were checked, so the destination is sound.
            let _ = hll::add(data, index, count, sparse_max);
        }
    }
    hll::invalidate_cache(data);
    ctx.changed(STRING, "pfadd", dest);
    ctx.out.ok();
    Ok(())
}

fn pfdebug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sub = argv[1];
    if is(sub, "simd") {
        match argv[2] {
            a if is(a, "on") => kernels::set_enabled(true),
            a if is(a, "off") => kernels::set_enabled(false),
            _ => {
                // Valkey sends this error and then the status below: two
                // replies to one command. Kept, so clients see the same.
                let text = b"ERR Argument must be ON or OFF";
                ctx.srv.count_error(text);
                ctx.out.error(text);
            }
        }
        ctx.out.simple(if kernels::active() {
            "enabled"
        } else {
            "disabled"
        });
        return Ok(());
    }
    let Some(data) = hll_for_write(ctx, argv[2])? else {
        return Err(err("ERR The specified key does not exist"));
    };
    let sparse = data[4] == 1;
    if is(sub, "getreg") {
        hll::to_dense(data)?;
        let registers: Vec<u8> = (0..REGISTERS).map(|i| hll::register(data, i)).collect();
        ctx.out.array(REGISTERS);
        for r in registers {
            ctx.out.int(i64::from(r));
        }
    } else if is(sub, "decode") {
        if !sparse {
            return Err(err("ERR HLL encoding is not sparse"));
        }
        let text = hll::decode(data);
        ctx.out.bulk(text.as_bytes());
    } else if is(sub, "encoding") {
        ctx.out.simple(if sparse { "sparse" } else { "dense" });
    } else if is(sub, "todense") {
        let converted = hll::to_dense(data)?;
        ctx.out.int(i64::from(converted));
    } else {
        // Quoted as Valkey's %s does: the bytes up to a NUL.
        let name = sub.split(|&b| b == 0).next().unwrap_or_default();
        let text = [b"ERR Unknown PFDEBUG subcommand '", name, b"'"].concat();
        return Err(CmdError::OtherBytes(text));
    }
    Ok(())
}

/// PFSELFTEST: Valkey's two checks (registers keep their values without
/// touching their neighbours; a dense and a sparse HLL fed the same 10^7
/// elements agree and stay within six standard errors at every power of
/// ten), plus one of ours: the vector kernels agree with their scalar
/// twins on the final registers.
fn pfselftest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    match selftest(sparse_max(ctx)) {
        Ok(()) => ctx.out.ok(),
        Err(text) => return Err(err(text)),
    }
    Ok(())
}

fn selftest(sparse_max: usize) -> Result<(), String> {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ crate::util::time::unix_ms() as u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut dense = hll::empty();
    hll::to_dense(&mut dense).map_err(|_| "TESTFAILED empty HLL")?;
    let mut expected = [0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, e) in expected.iter_mut().enumerate() {
            *e = (next() & 63) as u8;
            kernels::set(&mut dense[hll::HEADER..], i, *e);
        }
        for (i, &e) in expected.iter().enumerate() {
            let got = hll::register(&dense, i);
            if got != e {
                return Err(format!(
                    "TESTFAILED Register {i} should be {e} but is {got}"
                ));
            }
        }
    }
    dense[hll::HEADER..].fill(0);
    let mut sparse = hll::empty();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed = next();
    let mut checkpoint = 1u64;
    for j in 1..=10_000_000u64 {
        let element = (j ^ seed).to_le_bytes();
        let (index, count) = hll::pattern(&element);
        hll::add(&mut dense, index, count, sparse_max).map_err(|_| "TESTFAILED dense add")?;
        hll::add(&mut sparse, index, count, sparse_max).map_err(|_| "TESTFAILED sparse add")?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < sparse_max / 2 && hll::encoding(&sparse) != Some(Encoding::Sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let card = hll::count(&dense).map_err(|_| "TESTFAILED dense count")?;
        if hll::count(&sparse).ok() != Some(card) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(card);
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    let registers: &[u8; kernels::DENSE_BYTES] =
        dense[hll::HEADER..].try_into().expect("dense length");
    if kernels::histogram_dense(registers) != kernels::histogram_dense_scalar(registers) {
        return Err("TESTFAILED vector and scalar register histograms disagree".into());
    }
    Ok(())
}
