//! Hash commands (Valkey's t_hash.c). Field expiration (HEXPIRE and
//! friends) is not implemented yet, so those commands are not in the table.

use super::{
    Command, Ctx, ScanArgs, distinct_positions, int_arg, is, ks, read_as, reply_scan, signed_count,
    write_as,
};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::events::{GENERIC, HASH};
use crate::types::Value;
use crate::types::hash::{Hash, Limits};
use crate::util::longdouble::{IncrError, incr_by_float};
use crate::util::parse_i64;

const W_FAST: &str = "@write @hash @fast";
const R_FAST: &str = "@read @hash @fast";
const R_SLOW: &str = "@read @hash @slow";

pub const COMMANDS: &[Command] = &[
    Command::new("hset", -4, "write denyoom fast", (1, 1, 1), W_FAST, hset).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("hmset", -4, "write denyoom fast", (1, 1, 1), W_FAST, hmset).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("hsetnx", 4, "write denyoom fast", (1, 1, 1), W_FAST, hsetnx).keys(&[ks(
        "RW insert",
        1,
        0,
        1,
    )]),
    Command::new("hget", 3, "readonly fast", (1, 1, 1), R_FAST, hget).keys(&[ks(
        "RO access",
        1,
        0,
        1,
    )]),
    Command::new("hmget", -3, "readonly fast", (1, 1, 1), R_FAST, hmget).keys(&[ks(
        "RO access",
        1,
        0,
        1,
    )]),
    Command::new("hdel", -3, "write fast", (1, 1, 1), W_FAST, hdel).keys(&[ks(
        "RW delete",
        1,
        0,
        1,
    )]),
    Command::new("hlen", 2, "readonly fast", (1, 1, 1), R_FAST, hlen).keys(&[ks("RO", 1, 0, 1)]),
    Command::new("hstrlen", 3, "readonly fast", (1, 1, 1), R_FAST, hstrlen)
        .keys(&[ks("RO", 1, 0, 1)]),
    Command::new("hexists", 3, "readonly fast", (1, 1, 1), R_FAST, hexists)
        .keys(&[ks("RO", 1, 0, 1)]),
    Command::new("hkeys", 2, "readonly", (1, 1, 1), R_SLOW, hkeys)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output_order"),
    Command::new("hvals", 2, "readonly", (1, 1, 1), R_SLOW, hvals)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output_order"),
    Command::new("hgetall", 2, "readonly", (1, 1, 1), R_SLOW, hgetall)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output_order"),
    Command::new(
        "hincrby",
        4,
        "write denyoom fast",
        (1, 1, 1),
        W_FAST,
        hincrby,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new(
        "hincrbyfloat",
        4,
        "write denyoom fast",
        (1, 1, 1),
        W_FAST,
        hincrbyfloat,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new("hrandfield", -2, "readonly", (1, 1, 1), R_SLOW, hrandfield)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output"),
    Command::new("hscan", -3, "readonly", (1, 1, 1), R_SLOW, hscan)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output"),
];

fn limits(ctx: &Ctx) -> Limits {
    let c = &ctx.srv.config;
    Limits {
        entries: usize::try_from(c.hash_max_listpack_entries).unwrap_or(0),
        value: usize::try_from(c.hash_max_listpack_value).unwrap_or(0),
    }
}

/// The hash under `key`, created empty if missing.
fn hash_or_create<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Hash, CmdError> {
    if write_as::<Hash>(ctx, key)?.is_none() {
        let now = ctx.now_ms;
        ctx.db()
            .insert(key, Value::Hash(Hash::default()), None, now);
    }
    Ok(write_as::<Hash>(ctx, key)?.expect("present"))
}

/// Sets the field, value pairs; returns how many fields are new.
fn set_pairs(ctx: &mut Ctx, name: &str, argv: &[&[u8]]) -> Result<usize, CmdError> {
    if argv.len() % 2 == 1 {
        return Err(CmdError::WrongArity(name.into()));
    }
    let limits = limits(ctx);
    let hash = hash_or_create(ctx, argv[1])?;
    hash.prepare(limits, &argv[2..]);
    let added = argv[2..]
        .chunks_exact(2)
        .filter(|p| hash.set(limits, p[0], p[1]))
        .count();
    ctx.changed(HASH, "hset", argv[1]);
    Ok(added)
}

fn hset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let added = set_pairs(ctx, "hset", argv)?;
    ctx.out.int(added as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, "hmset", argv)?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let limits = limits(ctx);
    let hash = hash_or_create(ctx, argv[1])?;
    let added = !hash.contains(argv[2]);
    if added {
        hash.prepare(limits, &argv[2..4]);
        hash.set(limits, argv[2], argv[3]);
        ctx.changed(HASH, "hset", argv[1]);
    }
    ctx.out.int(i64::from(added));
    Ok(())
}

fn hget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match read_as::<Hash>(ctx, argv[1])?.and_then(|h| h.get(argv[2])) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let values: Vec<Option<Vec<u8>>> = match read_as::<Hash>(ctx, argv[1])? {
        Some(h) => argv[2..].iter().map(|f| h.get(f)).collect(),
        None => vec![None; argv.len() - 2],
    };
    ctx.out.array(values.len());
    for v in values {
        match v {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let Some(hash) = write_as::<Hash>(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = argv[2..].iter().filter(|f| hash.remove(f)).count();
    let empty = hash.is_empty();
    if deleted > 0 {
        ctx.changed(HASH, "hdel", key);
    }
    if empty {
        ctx.db().remove(key);
        ctx.notify(GENERIC, "del", key);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let len = read_as::<Hash>(ctx, argv[1])?.map_or(0, Hash::len);
    ctx.out.int(len as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let len = read_as::<Hash>(ctx, argv[1])?
        .and_then(|h| h.get(argv[2]))
        .map_or(0, |v| v.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = read_as::<Hash>(ctx, argv[1])?.is_some_and(|h| h.contains(argv[2]));
    ctx.out.int(i64::from(found));
    Ok(())
}

/// HKEYS / HVALS / HGETALL: fields, values or both (a map in RESP3).
fn dump(ctx: &mut Ctx, argv: &[&[u8]], fields: bool, values: bool) -> CmdResult {
    let pairs = read_as::<Hash>(ctx, argv[1])?
        .map(Hash::pairs)
        .unwrap_or_default();
    if fields && values {
        ctx.out.map(pairs.len());
    } else {
        ctx.out.array(pairs.len());
    }
    for (f, v) in &pairs {
        if fields {
            ctx.out.bulk(f);
        }
        if values {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    dump(ctx, argv, true, false)
}

fn hvals(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    dump(ctx, argv, false, true)
}

fn hgetall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    dump(ctx, argv, true, true)
}

fn hincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let incr = int_arg(argv[3])?;
    let limits = limits(ctx);
    let hash = hash_or_create(ctx, argv[1])?;
    let current = match hash.get(argv[2]) {
        Some(v) => parse_i64(&v).ok_or_else(|| err("ERR hash value is not an integer"))?,
        None => 0,
    };
    let value = current.checked_add(incr).ok_or(CmdError::Overflow)?;
    let text = itoa::Buffer::new().format(value).as_bytes().to_vec();
    hash.prepare(limits, &[argv[2], &text]);
    hash.set(limits, argv[2], &text);
    ctx.changed(HASH, "hincrby", argv[1]);
    ctx.out.int(value);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // The increment alone first: its own errors come before the hash's.
    incr_by_float(None, argv[3]).map_err(|e| match e {
        IncrError::NotAFloat => CmdError::NotFloat,
        IncrError::NanOrInfinity => err("ERR value is NaN or Infinity"),
    })?;
    let limits = limits(ctx);
    let hash = hash_or_create(ctx, argv[1])?;
    let current = hash.get(argv[2]);
    let text = incr_by_float(current.as_deref(), argv[3]).map_err(|e| match e {
        IncrError::NotAFloat => err("ERR hash value is not a float"),
        IncrError::NanOrInfinity => err("ERR increment would produce NaN or Infinity"),
    })?;
    hash.prepare(limits, &[argv[2], &text]);
    hash.set(limits, argv[2], &text);
    ctx.changed(HASH, "hincrbyfloat", argv[1]);
    ctx.out.bulk(&text);
    Ok(())
}

fn hrandfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.own_io.resp == 3;
    let Some(count_arg) = argv.get(2) else {
        let len = match read_as::<Hash>(ctx, argv[1])? {
            Some(h) => h.len(),
            None => {
                ctx.out.null();
                return Ok(());
            }
        };
        let i = (ctx.srv.random_u64() % len as u64) as usize;
        let (f, _) = read_as::<Hash>(ctx, argv[1])?
            .and_then(|h| h.pair_at(i))
            .expect("in range");
        ctx.out.bulk(&f);
        return Ok(());
    };
    let count = signed_count(count_arg)?;
    let with_values = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && is(a, "withvalues") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(err("ERR value is out of range"));
    }
    let Some(hash) = read_as::<Hash>(ctx, argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let len = hash.len();
    let picks: Vec<(Vec<u8>, Vec<u8>)> = if count == 0 {
        Vec::new()
    } else if count < 0 || count == 1 {
        // Any element each time, repeats allowed, in random order.
        let hash = hash.clone();
        (0..count.unsigned_abs())
            .map(|_| {
                let i = (ctx.srv.random_u64() % len as u64) as usize;
                hash.pair_at(i).expect("in range")
            })
            .collect()
    } else if count as usize >= len {
        hash.pairs()
    } else {
        // Distinct elements: a partial shuffle of the positions.
        let hash = hash.clone();
        distinct_positions(ctx, len, count as usize)
            .into_iter()
            .map(|i| hash.pair_at(i).expect("in range"))
            .collect()
    };
    if with_values && !resp3 {
        ctx.out.array(picks.len() * 2);
    } else {
        ctx.out.array(picks.len());
    }
    for (f, v) in &picks {
        if with_values && resp3 {
            ctx.out.array(2);
        }
        ctx.out.bulk(f);
        if with_values {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

fn hscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let args = ScanArgs::parse(argv, true)?;
    let Some(hash) = read_as::<Hash>(ctx, argv[1])? else {
        reply_scan(ctx.out, 0, &[]);
        return Ok(());
    };
    let pairs = hash.pairs();
    let (window, next) = args.select(&pairs, matches!(hash, Hash::Table(_)));
    let mut elements: Vec<&[u8]> = Vec::new();
    for (f, v) in window.into_iter().filter(|(f, _)| args.matches(f)) {
        elements.push(f);
        if !args.novalues {
            elements.push(v);
        }
    }
    reply_scan(ctx.out, next, &elements);
    Ok(())
}
