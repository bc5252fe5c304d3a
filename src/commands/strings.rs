//! String commands (Valkey's t_string.c).

use super::{Command, Ctx, as_str, as_str_mut, expire_time, int_arg, is, ks, reply_str};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::events::{EXPIRED, GENERIC, STRING};
use crate::types::{StrValue, Value, ValueRef};
use crate::util::longdouble::{IncrError, incr_by_float};

const RW: &str = "@write @string @slow";

pub const COMMANDS: &[Command] = &[
    Command::new(
        "get",
        2,
        "readonly fast",
        (1, 1, 1),
        "@read @string @fast",
        get,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new("set", -3, "write denyoom", (1, 1, 1), RW, set).keys(&[ks(
        "RW access update variable_flags",
        1,
        0,
        1,
    )
    .notes("RW and ACCESS due to the optional `GET` argument")]),
    Command::new(
        "setnx",
        3,
        "write denyoom fast",
        (1, 1, 1),
        "@write @string @fast",
        setnx,
    )
    .keys(&[ks("OW insert", 1, 0, 1)]),
    Command::new("setex", 4, "write denyoom", (1, 1, 1), RW, setex).keys(&[ks(
        "OW update",
        1,
        0,
        1,
    )]),
    Command::new("psetex", 4, "write denyoom", (1, 1, 1), RW, psetex).keys(&[ks(
        "OW update",
        1,
        0,
        1,
    )]),
    Command::new(
        "getex",
        -2,
        "write fast",
        (1, 1, 1),
        "@write @string @fast",
        getex,
    )
    .keys(&[ks("RW access update", 1, 0, 1).notes("RW and UPDATE because it changes the TTL")]),
    Command::new(
        "getdel",
        2,
        "write fast",
        (1, 1, 1),
        "@write @string @fast",
        getdel,
    )
    .keys(&[ks("RW access delete", 1, 0, 1)]),
    Command::new(
        "getset",
        3,
        "write denyoom fast",
        (1, 1, 1),
        "@write @string @fast",
        getset,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new(
        "mget",
        -2,
        "readonly fast",
        (1, -1, 1),
        "@read @string @fast",
        mget,
    )
    .keys(&[ks("RO access", 1, -1, 1)])
    .tips("request_policy:multi_shard"),
    Command::new("mset", -3, "write denyoom", (1, -1, 2), RW, mset)
        .keys(&[ks("OW update", 1, -1, 2)])
        .tips("request_policy:multi_shard response_policy:all_succeeded"),
    Command::new("msetnx", -3, "write denyoom", (1, -1, 2), RW, msetnx).keys(&[ks(
        "OW insert",
        1,
        -1,
        2,
    )]),
    Command::new(
        "append",
        3,
        "write denyoom fast",
        (1, 1, 1),
        "@write @string @fast",
        append,
    )
    .keys(&[ks("RW insert", 1, 0, 1)]),
    Command::new(
        "strlen",
        2,
        "readonly fast",
        (1, 1, 1),
        "@read @string @fast",
        strlen,
    )
    .keys(&[ks("RO", 1, 0, 1)]),
    Command::new(
        "getrange",
        4,
        "readonly",
        (1, 1, 1),
        "@read @string @slow",
        getrange,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new(
        "substr",
        4,
        "readonly",
        (1, 1, 1),
        "@read @string @slow",
        getrange,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new("setrange", 4, "write denyoom", (1, 1, 1), RW, setrange).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new(
        "incr",
        2,
        "write denyoom fast",
        (1, 1, 1),
        "@write @string @fast",
        incr,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new(
        "decr",
        2,
        "write denyoom fast",
        (1, 1, 1),
        "@write @string @fast",
        decr,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new(
        "incrby",
        3,
        "write denyoom fast",
        (1, 1, 1),
        "@write @string @fast",
        incrby,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new(
        "decrby",
        3,
        "write denyoom fast",
        (1, 1, 1),
        "@write @string @fast",
        decrby,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new(
        "incrbyfloat",
        3,
        "write denyoom fast",
        (1, 1, 1),
        "@write @string @fast",
        incrbyfloat,
    )
    .keys(&[ks("RW access update", 1, 0, 1)]),
    Command::new("lcs", -3, "readonly", (1, 2, 1), "@read @string @slow", lcs).keys(&[ks(
        "RO access",
        1,
        1,
        1,
    )]),
];

/// How a SET/GETEX call wants the key's time to live changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ttl {
    /// SET: clear any TTL. GETEX: leave it alone.
    Default,
    Keep,
    Persist,
    /// EX / PX / EXAT / PXAT, with the argument index of the time.
    Expire {
        unit_secs: bool,
        absolute: bool,
        arg: usize,
    },
}

#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    ifeq: Option<usize>,
}

/// Parses SET's options (from index 3) or GETEX's (from index 2), with
/// Valkey's rules on which combinations are a syntax error.
fn parse_set_options(
    argv: &[&[u8]],
    from: usize,
    is_set: bool,
) -> Result<(SetOptions, Ttl), CmdError> {
    let mut o = SetOptions::default();
    let mut ttl = Ttl::Default;
    let mut j = from;
    while j < argv.len() {
        let opt = argv[j];
        let has_next = j + 1 < argv.len();
        let no_expire_yet = matches!(ttl, Ttl::Default);
        let expire = |unit_secs, absolute| Ttl::Expire {
            unit_secs,
            absolute,
            arg: j + 1,
        };
        let same_kind = |t: Ttl, unit: bool, abs: bool| matches!(t, Ttl::Expire { unit_secs, absolute, .. } if unit_secs == unit && absolute == abs);
        if is_set && is(opt, "nx") && !o.xx && o.ifeq.is_none() {
            o.nx = true;
        } else if is_set && is(opt, "xx") && !o.nx && o.ifeq.is_none() {
            o.xx = true;
        } else if is_set && is(opt, "ifeq") && has_next && !o.nx && !o.xx && o.ifeq.is_none() {
            o.ifeq = Some(j + 1);
            j += 1;
        } else if is_set && is(opt, "get") {
            o.get = true;
        } else if is_set && is(opt, "keepttl") && (no_expire_yet || ttl == Ttl::Keep) {
            ttl = Ttl::Keep;
        } else if !is_set && is(opt, "persist") && (no_expire_yet || ttl == Ttl::Persist) {
            ttl = Ttl::Persist;
        } else if has_next && (no_expire_yet || same_kind(ttl, true, false)) && is(opt, "ex") {
            ttl = expire(true, false);
            j += 1;
        } else if has_next && (no_expire_yet || same_kind(ttl, false, false)) && is(opt, "px") {
            ttl = expire(false, false);
            j += 1;
        } else if has_next && (no_expire_yet || same_kind(ttl, true, true)) && is(opt, "exat") {
            ttl = expire(true, true);
            j += 1;
        } else if has_next && (no_expire_yet || same_kind(ttl, false, true)) && is(opt, "pxat") {
            ttl = expire(false, true);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok((o, ttl))
}

/// Replies with the string at `key` (or null); WRONGTYPE if it is not one.
fn reply_get(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    match ctx.srv.dbs[ctx.client.db].lookup_read(key, now, touch) {
        None => ctx.out.null(),
        Some(e) => reply_str(ctx.out, as_str(e.value())?),
    }
    Ok(())
}

fn get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    reply_get(ctx, argv[1])
}

/// The shared body of SET, SETNX, SETEX and PSETEX.
fn set_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    o: SetOptions,
    ttl: Ttl,
    cmd: &'static str,
    abort_int: bool,
) -> CmdResult {
    let (key, value) = (argv[1], argv[2]);
    let expire_at = match ttl {
        Ttl::Expire {
            unit_secs,
            absolute,
            arg,
        } => Some(expire_time(
            argv[arg], unit_secs, absolute, ctx.now_ms, 1, cmd,
        )?),
        _ => None,
    };
    if o.get {
        reply_get(ctx, key)?;
    }
    let now = ctx.now_ms;
    let db = &mut ctx.srv.dbs[ctx.client.db];
    let slot = db.locate(key, now);
    let found = slot.is_some();
    let old_expire = slot.and_then(|s| db.at(s).expire_at());
    let proceed = match (o.ifeq, slot) {
        // With GET, a wrong type was already refused by the GET part.
        (Some(i), Some(s)) => {
            as_str(db.at(s).value())?.as_bytes(&mut itoa::Buffer::new()) == argv[i]
        }
        (Some(_), None) => false,
        (None, _) => !((o.nx && found) || (o.xx && !found)),
    };
    if !proceed {
        if !o.get {
            if abort_int {
                ctx.out.int(0)
            } else {
                ctx.out.null()
            }
        }
        return Ok(());
    }
    let expire_at = match ttl {
        Ttl::Keep => old_expire,
        _ => expire_at,
    };
    db.put(
        slot,
        key,
        Value::Str(StrValue::from_bytes(value)),
        expire_at,
        now,
    );
    ctx.changed(STRING, "set", key);
    if expire_at.is_some() && !matches!(ttl, Ttl::Keep) {
        ctx.notify(GENERIC, "expire", key);
    }
    if !o.get {
        if abort_int {
            ctx.out.int(1)
        } else {
            ctx.out.ok()
        }
    }
    Ok(())
}

fn set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (o, ttl) = parse_set_options(argv, 3, true)?;
    set_generic(ctx, argv, o, ttl, "set", false)
}

fn setnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let o = SetOptions {
        nx: true,
        ..Default::default()
    };
    set_generic(ctx, argv, o, Ttl::Default, "setnx", true)
}

/// SETEX/PSETEX take (key, time, value): reorder to SET's (key, value).
fn set_with_ttl(ctx: &mut Ctx, argv: &[&[u8]], unit_secs: bool, cmd: &'static str) -> CmdResult {
    let reordered = [argv[0], argv[1], argv[3], argv[2]];
    let ttl = Ttl::Expire {
        unit_secs,
        absolute: false,
        arg: 3,
    };
    set_generic(ctx, &reordered, SetOptions::default(), ttl, cmd, false)
}

fn setex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_with_ttl(ctx, argv, true, "setex")
}

fn psetex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_with_ttl(ctx, argv, false, "psetex")
}

fn getex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (_, ttl) = parse_set_options(argv, 2, false)?;
    let key = argv[1];
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let db = &mut ctx.srv.dbs[ctx.client.db];
    let Some(e) = db.lookup_read(key, now, touch) else {
        ctx.out.null();
        return Ok(());
    };
    as_str(e.value())?;
    let expire_at = match ttl {
        Ttl::Expire {
            unit_secs,
            absolute,
            arg,
        } => Some(expire_time(
            argv[arg], unit_secs, absolute, now, 1, "getex",
        )?),
        _ => None,
    };
    reply_str(ctx.out, as_str(e.value())?);
    let had_expire = e.expire_at().is_some();
    match (ttl, expire_at) {
        (Ttl::Expire { absolute: true, .. }, Some(at)) if at <= now => {
            db.remove(key);
            db.stats.expired += 1;
            ctx.changed(EXPIRED, "expired", key);
        }
        (_, Some(at)) => {
            db.set_expire(key, Some(at));
            ctx.changed(GENERIC, "expire", key);
        }
        (Ttl::Persist, None) if had_expire => {
            db.set_expire(key, None);
            ctx.changed(GENERIC, "persist", key);
        }
        _ => {}
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    reply_get(ctx, argv[1])?;
    ctx.delete_key(argv[1]);
    Ok(())
}

fn getset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    reply_get(ctx, argv[1])?;
    let now = ctx.now_ms;
    ctx.db().insert(
        argv[1],
        Value::Str(StrValue::from_bytes(argv[2])),
        None,
        now,
    );
    ctx.changed(STRING, "set", argv[1]);
    Ok(())
}

fn mget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let db = &mut ctx.srv.dbs[ctx.client.db];
    ctx.out.array(argv.len() - 1);
    for key in &argv[1..] {
        match db.lookup_read(key, now, touch).map(|e| e.value()) {
            Some(ValueRef::Str(s)) => reply_str(ctx.out, s),
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(
            if nx { "msetnx" } else { "mset" }.into(),
        ));
    }
    let now = ctx.now_ms;
    let db = &mut ctx.srv.dbs[ctx.client.db];
    if nx
        && argv[1..]
            .chunks(2)
            .any(|kv| db.lookup_write(kv[0], now).is_some())
    {
        ctx.out.int(0);
        return Ok(());
    }
    for kv in argv[1..].chunks(2) {
        ctx.srv.dbs[ctx.client.db].insert(
            kv[0],
            Value::Str(StrValue::from_bytes(kv[1])),
            None,
            now,
        );
        ctx.changed(STRING, "set", kv[0]);
    }
    if nx {
        ctx.out.int(1)
    } else {
        ctx.out.ok()
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, false)
}

fn msetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, true)
}

/// Refuses results longer than `proto-max-bulk-len`, as Valkey does.
fn check_string_length(ctx: &Ctx, total: u64) -> CmdResult {
    if total > ctx.srv.config.proto_max_bulk_len as u64 {
        return Err(err(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

fn append(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, tail) = (argv[1], argv[2]);
    let now = ctx.now_ms;
    let current_len = match ctx.db().lookup_write(key, now) {
        None => None,
        Some(e) => Some(as_str(e.value())?.len()),
    };
    let new_len = match current_len {
        None => {
            ctx.db()
                .insert(key, Value::Str(StrValue::from_bytes(tail)), None, now);
            tail.len()
        }
        Some(len) => {
            check_string_length(ctx, (len + tail.len()) as u64)?;
            let e = ctx.db().lookup_write(key, now).expect("looked up above");
            let s = as_str_mut(e.value_mut())?;
            let data = s.make_raw();
            data.extend_from_slice(tail);
            data.len()
        }
    };
    ctx.changed(STRING, "append", key);
    ctx.out.int(new_len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let len = match ctx.db().lookup_read(argv[1], now, touch) {
        None => 0,
        Some(e) => as_str(e.value())?.len(),
    };
    ctx.out.int(len as i64);
    Ok(())
}

fn getrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut start = int_arg(argv[2])?;
    let mut end = int_arg(argv[3])?;
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let db = &mut ctx.srv.dbs[ctx.client.db];
    let Some(e) = db.lookup_read(argv[1], now, touch) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let mut scratch = itoa::Buffer::new();
    let s = as_str(e.value())?.as_bytes(&mut scratch);
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, patch) = (argv[1], argv[3]);
    let offset = int_arg(argv[2])?;
    if offset < 0 {
        return Err(err("ERR offset is out of range"));
    }
    let now = ctx.now_ms;
    let current_len = match ctx.db().lookup_write(key, now) {
        None => None,
        Some(e) => Some(as_str(e.value())?.len()),
    };
    if patch.is_empty() {
        ctx.out.int(current_len.unwrap_or(0) as i64);
        return Ok(());
    }
    check_string_length(ctx, offset as u64 + patch.len() as u64)?;
    let offset = offset as usize;
    if current_len.is_none() {
        ctx.db()
            .insert(key, Value::Str(StrValue::raw(b"")), None, now);
    }
    let e = ctx.db().lookup_write(key, now).expect("present");
    let s = as_str_mut(e.value_mut())?;
    let data = s.make_raw();
    if data.len() < offset + patch.len() {
        data.resize(offset + patch.len(), 0);
    }
    data[offset..offset + patch.len()].copy_from_slice(patch);
    let len = data.len();
    ctx.changed(STRING, "setrange", key);
    ctx.out.int(len as i64);
    Ok(())
}

fn incr_decr(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let now = ctx.now_ms;
    let db = &mut ctx.srv.dbs[ctx.client.db];
    let slot = db.locate(key, now);
    let (current, expire_at) = match slot.map(|s| db.at(s)) {
        None => (0, None),
        Some(e) => (
            as_str(e.value())?.as_i64().ok_or(CmdError::NotInteger)?,
            e.expire_at(),
        ),
    };
    let value = current.checked_add(by).ok_or(CmdError::Overflow)?;
    db.put(slot, key, Value::Str(StrValue::Int(value)), expire_at, now);
    ctx.changed(STRING, "incrby", key);
    ctx.out.int(value);
    Ok(())
}

fn incr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_decr(ctx, argv[1], 1)
}

fn decr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_decr(ctx, argv[1], -1)
}

fn incrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = int_arg(argv[2])?;
    incr_decr(ctx, argv[1], by)
}

fn decrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let by = int_arg(argv[2])?;
    if by == i64::MIN {
        return Err(err("ERR decrement would overflow"));
    }
    incr_decr(ctx, argv[1], -by)
}

fn incrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let now = ctx.now_ms;
    let db = &mut ctx.srv.dbs[ctx.client.db];
    let slot = db.locate(key, now);
    let (current, expire_at) = match slot.map(|s| db.at(s)) {
        None => (None, None),
        Some(e) => (Some(as_str(e.value())?.to_vec()), e.expire_at()),
    };
    let text = incr_by_float(current.as_deref(), argv[2]).map_err(|e| match e {
        IncrError::NotAFloat => CmdError::NotFloat,
        IncrError::NanOrInfinity => err("ERR increment would produce NaN or Infinity"),
    })?;
    ctx.out.bulk(&text);
    db.put(
        slot,
        key,
        Value::Str(StrValue::plain(&text)),
        expire_at,
        now,
    );
    ctx.changed(STRING, "incrbyfloat", key);
    Ok(())
}

/// A common subsequence match: byte ranges in each string.
struct LcsMatch {
    a: (usize, usize),
    b: (usize, usize),
}

fn lcs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let db = &mut ctx.srv.dbs[ctx.client.db];
    let mut fetch = |key: &[u8]| -> Option<Result<Vec<u8>, ()>> {
        db.lookup_read(key, now, touch).map(|e| match e.value() {
            ValueRef::Str(s) => Ok(s.to_vec()),
            ValueRef::Packed(..) | ValueRef::Value(_) => Err(()),
        })
    };
    let a = fetch(argv[1]);
    let b = fetch(argv[2]);
    let (a, b) = match (a, b) {
        (Some(Err(())), _) | (_, Some(Err(()))) => {
            return Err(err("ERR The specified keys must contain string values"));
        }
        (a, b) => (
            a.and_then(Result::ok).unwrap_or_default(),
            b.and_then(Result::ok).unwrap_or_default(),
        ),
    };
    let (mut get_idx, mut get_len, mut with_match_len, mut min_match_len) =
        (false, false, false, 0i64);
    let mut j = 3;
    while j < argv.len() {
        let opt = argv[j];
        if is(opt, "idx") {
            get_idx = true;
        } else if is(opt, "len") {
            get_len = true;
        } else if is(opt, "withmatchlen") {
            with_match_len = true;
        } else if is(opt, "minmatchlen") && j + 1 < argv.len() {
            min_match_len = int_arg(argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if get_idx && get_len {
        return Err(err(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (alen, blen) = (a.len(), b.len());
    let dp_bytes = (alen as u128 + 1) * (blen as u128 + 1) * 4;
    if dp_bytes > ctx.srv.config.proto_max_bulk_len as u128 {
        return Err(err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // dp[i][j]: LCS length of a[..i] and b[..j].
    let width = blen + 1;
    let mut dp = vec![0u32; (alen + 1) * width];
    for i in 1..=alen {
        for j in 1..=blen {
            dp[i * width + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * width + j - 1] + 1
            } else {
                dp[(i - 1) * width + j].max(dp[i * width + j - 1])
            };
        }
    }
    let total = dp[alen * width + blen] as usize;
    if get_len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the end collecting the subsequence and its ranges.
    let mut result = vec![0u8; total];
    let mut matches = Vec::new();
    let (mut i, mut j, mut idx) = (alen, blen, total);
    let mut range: Option<LcsMatch> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            match &mut range {
                None => {
                    range = Some(LcsMatch {
                        a: (i - 1, i - 1),
                        b: (j - 1, j - 1),
                    })
                }
                Some(r) if r.a.0 == i && r.b.0 == j => {
                    r.a.0 -= 1;
                    r.b.0 -= 1;
                }
                Some(_) => emit = true,
            }
            if range.as_ref().is_some_and(|r| r.a.0 == 0 || r.b.0 == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * width + j] > dp[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if range.is_some() {
                emit = true;
            }
        }
        if emit && let Some(r) = range.take() {
            let len = r.a.1 - r.a.0 + 1;
            if min_match_len == 0 || len as i64 >= min_match_len {
                matches.push(r);
            }
        }
    }
    if !get_idx {
        ctx.out.bulk(&result);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk(b"matches");
    ctx.out.array(matches.len());
    for m in &matches {
        ctx.out.array(2 + usize::from(with_match_len));
        for (s, e) in [m.a, m.b] {
            ctx.out.array(2);
            ctx.out.int(s as i64);
            ctx.out.int(e as i64);
        }
        if with_match_len {
            ctx.out.int((m.a.1 - m.a.0 + 1) as i64);
        }
    }
    ctx.out.bulk(b"len");
    ctx.out.int(total as i64);
    Ok(())
}
