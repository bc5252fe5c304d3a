//! Hash commands (Valkey's t_hash.c), field expiration included (HEXPIRE,
//! HTTL, HPERSIST, HGETEX, HSETEX and their kin): a field whose time is up
//! is deleted when its hash is next accessed, or by the active expiry
//! cycle, whichever comes first.

use super::{
    Command, Ctx, ExpireCond, Pick, ScanArgs, expire_time, int_arg, is, ks, looked_up,
    random_elements, reply_scan, signed_count, ttl_reply,
};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::events::HASH;
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
    Command::new("hexpire", -6, "write fast", (1, 1, 1), W_FAST, hexpire).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("hpexpire", -6, "write fast", (1, 1, 1), W_FAST, hpexpire).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("hexpireat", -6, "write fast", (1, 1, 1), W_FAST, hexpireat).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new(
        "hpexpireat",
        -6,
        "write fast",
        (1, 1, 1),
        W_FAST,
        hpexpireat,
    )
    .keys(&[ks("RW update", 1, 0, 1)]),
    Command::new("httl", -5, "readonly fast", (1, 1, 1), R_FAST, httl).keys(&[ks(
        "RO access",
        1,
        0,
        1,
    )]),
    Command::new("hpttl", -5, "readonly fast", (1, 1, 1), R_FAST, hpttl).keys(&[ks(
        "RO access",
        1,
        0,
        1,
    )]),
    Command::new(
        "hexpiretime",
        -5,
        "readonly fast",
        (1, 1, 1),
        R_FAST,
        hexpiretime,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new(
        "hpexpiretime",
        -5,
        "readonly fast",
        (1, 1, 1),
        R_FAST,
        hpexpiretime,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new("hpersist", -5, "write fast", (1, 1, 1), W_FAST, hpersist).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("hgetex", -5, "write fast", (1, 1, 1), W_FAST, hgetex).keys(&[ks(
        "RW access update",
        1,
        0,
        1,
    )]),
    Command::new(
        "hsetex",
        -6,
        "write denyoom fast",
        (1, 1, 1),
        W_FAST,
        hsetex,
    )
    .keys(&[ks("RW insert", 1, 0, 1)]),
    Command::new("hgetdel", -5, "write fast", (1, 1, 1), W_FAST, hgetdel).keys(&[ks(
        "RW access delete",
        1,
        0,
        1,
    )]),
];

fn limits(ctx: &Ctx) -> Limits {
    let c = &ctx.srv.config;
    Limits {
        entries: usize::try_from(c.hash_max_listpack_entries).unwrap_or(0),
        value: usize::try_from(c.hash_max_listpack_value).unwrap_or(0),
    }
}

/// How a command looks a hash up: as a read (hit and miss counts, CLIENT
/// NO-TOUCH) or as a write.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    /// A read that works by position (HRANDFIELD): fields whose time is
    /// up are deleted first, as by a write.
    ReadByPosition,
    Write,
}

/// The hash at `key`. Fields whose time is up are deleted first by a
/// write (the key goes with the last of them: it is then missing); reads
/// skip them.
fn hash_at<'a>(
    ctx: &'a mut Ctx,
    key: &[u8],
    access: Access,
) -> Result<Option<&'a mut Hash>, CmdError> {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let db = ctx.db();
    let slot = match access {
        Access::Read | Access::ReadByPosition => db.locate_read(key, now, touch),
        Access::Write => db.locate(key, now),
    };
    let Some(slot) = slot else {
        return Ok(None);
    };
    if access == Access::Write {
        db.touch(slot, now);
    }
    let entry = db.at(slot);
    let hash = entry.typed_mut::<Hash>().ok_or(CmdError::WrongType)?;
    // A read only hides fields whose time is up (HLEN still counts them
    // until the active expiry deletes them); a write deletes them.
    let reap = hash.has_ttls() && access != Access::Read;
    if reap && hash.reap(now) > 0 {
        let empty = hash.is_empty();
        ctx.removed_from(HASH, "hexpired", key, empty);
        if empty {
            return Ok(None);
        }
    }
    // Publishing events leaves the keyspace as it was: the slot holds.
    Ok(ctx.db().at(slot).typed_mut())
}

/// The hash under `key`, created empty if missing.
fn hash_or_create<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Hash, CmdError> {
    if hash_at(ctx, key, Access::Write)?.is_none() {
        let now = ctx.now_ms;
        ctx.db()
            .insert(key, Value::Hash(Hash::default()), None, now);
    }
    Ok(hash_at(ctx, key, Access::Write)?.expect("present"))
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
    let now = ctx.now_ms;
    match hash_at(ctx, argv[1], Access::Read)?.and_then(|h| h.get_live(argv[2], now)) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let values: Vec<Option<Vec<u8>>> = match hash_at(ctx, argv[1], Access::Read)? {
        Some(h) => argv[2..].iter().map(|f| h.get_live(f, now)).collect(),
        None => vec![None; argv.len() - 2],
    };
    reply_values(ctx, &values);
    Ok(())
}

fn hdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let Some(hash) = hash_at(ctx, key, Access::Write)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = argv[2..].iter().filter(|f| hash.remove(f)).count();
    let empty = hash.is_empty();
    if deleted > 0 {
        ctx.removed_from(HASH, "hdel", key, empty);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let len = hash_at(ctx, argv[1], Access::Read)?.map_or(0, |h| h.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let len = hash_at(ctx, argv[1], Access::Read)?
        .and_then(|h| h.get_live(argv[2], now))
        .map_or(0, |v| v.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let found = hash_at(ctx, argv[1], Access::Read)?.is_some_and(|h| h.has_live(argv[2], now));
    ctx.out.int(i64::from(found));
    Ok(())
}

/// HKEYS / HVALS / HGETALL: fields, values or both (a map in RESP3).
fn dump(ctx: &mut Ctx, argv: &[&[u8]], fields: bool, values: bool) -> CmdResult {
    let now = ctx.now_ms;
    let pairs = hash_at(ctx, argv[1], Access::Read)?
        .map(|h| h.live_pairs(now))
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
    hash.set_keep_ttl(limits, argv[2], &text);
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
    hash.set_keep_ttl(limits, argv[2], &text);
    ctx.changed(HASH, "hincrbyfloat", argv[1]);
    ctx.out.bulk(&text);
    Ok(())
}

fn hrandfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.own_io.resp == 3;
    let Some(count_arg) = argv.get(2) else {
        let len = match hash_at(ctx, argv[1], Access::ReadByPosition)? {
            Some(h) => h.len(),
            None => {
                ctx.out.null();
                return Ok(());
            }
        };
        let (f, _) = random_elements::<Hash>(ctx, argv[1], len, Pick::One).remove(0);
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
    let Some(len) = hash_at(ctx, argv[1], Access::ReadByPosition)?.map(|h| h.len()) else {
        ctx.out.array(0);
        return Ok(());
    };
    let picks: Vec<(Vec<u8>, Vec<u8>)> = if count == 0 {
        Vec::new()
    } else if count < 0 || count == 1 {
        // Any element each time, repeats allowed, in random order.
        random_elements::<Hash>(
            ctx,
            argv[1],
            len,
            Pick::Repeats(count.unsigned_abs() as usize),
        )
    } else if count as usize >= len {
        looked_up::<Hash>(ctx, argv[1]).pairs()
    } else {
        random_elements::<Hash>(ctx, argv[1], len, Pick::Distinct(count as usize))
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
    let now = ctx.now_ms;
    let args = ScanArgs::parse(argv, true)?;
    if hash_at(ctx, argv[1], Access::Read)?.is_none() {
        reply_scan(ctx.out, 0, &[]);
        return Ok(());
    }
    // The hash and the reply borrowed apart: fields go out uncopied.
    let (db, out) = ctx.db_and_out();
    let hash = db.get_typed::<Hash>(argv[1]).expect("looked up above");
    let hash: &Hash = &hash;
    // A table is walked with Valkey's cursor; a listpack is returned
    // whole. Fields whose time is up are skipped.
    let live = |f: &[u8]| hash.ttl(f).is_none_or(|at| at > now);
    let listed;
    let mut elements: Vec<&[u8]> = Vec::new();
    let mut take = |f, v| {
        if live(f) && args.matches(f) {
            elements.push(f);
            if !args.novalues {
                elements.push(v);
            }
        }
    };
    let next = match hash {
        Hash::Table(t) => t
            .fields
            .scan_count(args.cursor, args.count, |m| take(m.key(), m.value())),
        Hash::Listpack(_) => {
            listed = hash.pairs();
            listed.iter().for_each(|(f, v)| take(f, v));
            0
        }
    };
    reply_scan(out, next, &elements);
    Ok(())
}

const NUMFIELDS: &str =
    "ERR numfields should be greater than 0 and match the provided number of fields";

/// Why a `FIELDS numfields ...` clause was refused: the keyword is not
/// there, or the count does not match (each command has its own reply).
enum BadFields {
    NoKeyword,
    Count,
}

impl BadFields {
    /// HPERSIST's and HGETDEL's replies: a missing keyword is a syntax
    /// error, a wrong count the numfields one.
    fn syntax_or_count(self) -> CmdError {
        match self {
            BadFields::NoKeyword => CmdError::Syntax,
            BadFields::Count => err(NUMFIELDS),
        }
    }
}

/// The `FIELDS numfields item...` clause at `argv[at]`, `per` arguments
/// per field (2 for HSETEX's field value pairs): the items. A count that
/// is not an integer is an error of its own.
fn fields_clause<'a, 'b>(
    argv: &'b [&'a [u8]],
    at: usize,
    per: usize,
) -> Result<Result<&'b [&'a [u8]], BadFields>, CmdError> {
    if !argv.get(at).is_some_and(|a| is(a, "fields")) {
        return Ok(Err(BadFields::NoKeyword));
    }
    let Some(count) = argv.get(at + 1) else {
        return Ok(Err(BadFields::Count));
    };
    let n = int_arg(count)?;
    let items = &argv[at + 2..];
    if n <= 0 || (n as u64).checked_mul(per as u64) != Some(items.len() as u64) {
        return Ok(Err(BadFields::Count));
    }
    Ok(Ok(items))
}

/// What a command does to the expiry of the fields it names.
#[derive(Clone, Copy, PartialEq)]
enum FieldTtl {
    Keep,
    Clear,
    At(i64),
}

/// HEXPIRE / HPEXPIRE / HEXPIREAT / HPEXPIREAT key time [NX|XX|GT|LT]
/// FIELDS n field...: per field -2 (no such field), 0 (condition not
/// met), 1 (set) or 2 (deleted: the time is already past).
fn hexpire_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    unit_secs: bool,
    absolute: bool,
    cmd: &'static str,
) -> CmdResult {
    let (cond, used) = ExpireCond::parse(&argv[3..]);
    cond.check()?;
    let fields = fields_clause(argv, 3 + used, 1)?.map_err(|_| err(NUMFIELDS))?;
    let when = expire_time(argv[2], unit_secs, absolute, ctx.now_ms, 0, cmd)?;
    let (key, now) = (argv[1], ctx.now_ms);
    let Some(hash) = hash_at(ctx, key, Access::Write)? else {
        reply_ints(ctx, fields.iter().map(|_| -2));
        return Ok(());
    };
    let replies: Vec<i64> = fields
        .iter()
        .map(|f| {
            if !hash.contains(f) {
                -2
            } else if !cond.allows(hash.ttl(f), when) {
                0
            } else if when <= now {
                hash.remove(f);
                2
            } else {
                hash.set_ttl(f, Some(when));
                1
            }
        })
        .collect();
    let empty = hash.is_empty();
    reply_ints(ctx, replies.iter().copied());
    if replies.contains(&1) {
        ctx.db().track_volatile_hash(key);
        ctx.changed(HASH, "hexpire", key);
    }
    if replies.contains(&2) {
        ctx.removed_from(HASH, "hexpired", key, empty);
    }
    Ok(())
}

/// Field values in order, null for the missing ones (HMGET, HGETEX,
/// HGETDEL).
fn reply_values(ctx: &mut Ctx, values: &[Option<Vec<u8>>]) {
    ctx.out.array(values.len());
    for v in values {
        match v {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
}

fn reply_ints(ctx: &mut Ctx, values: impl ExactSizeIterator<Item = i64>) {
    ctx.out.array(values.len());
    for v in values {
        ctx.out.int(v);
    }
}

fn hexpire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    hexpire_generic(ctx, argv, true, false, "hexpire")
}

fn hpexpire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    hexpire_generic(ctx, argv, false, false, "hpexpire")
}

fn hexpireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    hexpire_generic(ctx, argv, true, true, "hexpireat")
}

fn hpexpireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    hexpire_generic(ctx, argv, false, true, "hpexpireat")
}

/// HTTL / HPTTL / HEXPIRETIME / HPEXPIRETIME key FIELDS n field...: per
/// field -2 (no such field), -1 (no expiry) or the time.
fn httl_generic(ctx: &mut Ctx, argv: &[&[u8]], millis: bool, absolute: bool) -> CmdResult {
    let fields = fields_clause(argv, 2, 1)?.map_err(|_| CmdError::Syntax)?;
    let now = ctx.now_ms;
    let hash = hash_at(ctx, argv[1], Access::Read)?.map(|h| &*h);
    let replies: Vec<i64> = fields
        .iter()
        .map(|f| match hash {
            Some(h) if h.has_live(f, now) => h
                .ttl(f)
                .map_or(-1, |at| ttl_reply(at, now, millis, absolute)),
            _ => -2,
        })
        .collect();
    reply_ints(ctx, replies.into_iter());
    Ok(())
}

fn httl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    httl_generic(ctx, argv, false, false)
}

fn hpttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    httl_generic(ctx, argv, true, false)
}

fn hexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    httl_generic(ctx, argv, false, true)
}

fn hpexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    httl_generic(ctx, argv, true, true)
}

/// HPERSIST key FIELDS n field...: per field -2 (no such field), -1 (no
/// expiry) or 1 (expiry removed).
fn hpersist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let fields = fields_clause(argv, 2, 1)?.map_err(BadFields::syntax_or_count)?;
    let key = argv[1];
    let replies: Vec<i64> = match hash_at(ctx, key, Access::Write)? {
        None => vec![-2; fields.len()],
        Some(hash) => fields
            .iter()
            .map(|f| match hash.contains(f) {
                false => -2,
                true if hash.set_ttl(f, None) => 1,
                true => -1,
            })
            .collect(),
    };
    let persisted = replies.contains(&1);
    reply_ints(ctx, replies.into_iter());
    if persisted {
        ctx.changed(HASH, "hpersist", key);
    }
    Ok(())
}

/// The expiry option of HGETEX or HSETEX, as written.
struct TtlOption<'a> {
    /// "ex", "px", "exat", "pxat", the command's own word, or none.
    kind: Option<&'static str>,
    /// The time given with EX / PX / EXAT / PXAT, not parsed yet.
    value: Option<&'a [u8]>,
    /// Where FIELDS should be.
    fields_at: usize,
}

/// The expiry options of HGETEX (PERSIST) and HSETEX (KEEPTTL) up to
/// FIELDS: EX / PX / EXAT / PXAT with their value, or the word `alone`.
/// One kind only, repeats allowed (the last counts); `other` takes the
/// command's other words.
fn ttl_options<'a>(
    argv: &[&'a [u8]],
    mut at: usize,
    alone: &'static str,
    mut other: impl FnMut(&[u8]) -> Result<bool, CmdError>,
) -> Result<TtlOption<'a>, CmdError> {
    let (mut kind, mut value) = (None, None);
    while let Some(word) = argv.get(at) {
        if is(word, "fields") {
            break;
        }
        let this = ["ex", "px", "exat", "pxat", alone]
            .into_iter()
            .find(|k| is(word, k));
        match this {
            Some(k) => {
                if kind.is_some_and(|seen| seen != k) {
                    return Err(CmdError::Syntax);
                }
                kind = Some(k);
                if k != alone {
                    value = Some(*argv.get(at + 1).ok_or(CmdError::Syntax)?);
                    at += 1;
                }
            }
            None if other(word)? => {}
            None => return Err(CmdError::Syntax),
        }
        at += 1;
    }
    Ok(TtlOption {
        kind,
        value,
        fields_at: at,
    })
}

/// The expiry time an EX / PX / EXAT / PXAT option gives.
fn option_time(ctx: &Ctx, kind: &str, value: &[u8], cmd: &'static str) -> Result<i64, CmdError> {
    let unit_secs = kind == "ex" || kind == "exat";
    let absolute = kind.ends_with("at");
    expire_time(value, unit_secs, absolute, ctx.now_ms, 0, cmd)
}

/// HGETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST] FIELDS n field...:
/// the values, and the fields that exist get the new expiry (a time
/// already past deletes them).
fn hgetex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let opt = ttl_options(argv, 2, "persist", |_| Ok(false))?;
    let fields = fields_clause(argv, opt.fields_at, 1)?.map_err(|_| err(NUMFIELDS))?;
    let change = match (opt.kind, opt.value) {
        (Some("persist"), _) => FieldTtl::Clear,
        (Some(k), Some(v)) => FieldTtl::At(option_time(ctx, k, v, "hgetex")?),
        _ => FieldTtl::Keep,
    };
    let (key, now) = (argv[1], ctx.now_ms);
    let Some(hash) = hash_at(ctx, key, Access::Write)? else {
        ctx.out.array(fields.len());
        fields.iter().for_each(|_| ctx.out.null());
        return Ok(());
    };
    let values: Vec<Option<Vec<u8>>> = fields.iter().map(|f| hash.get(f)).collect();
    let (mut set, mut persisted, mut deleted) = (false, false, false);
    for (f, v) in fields.iter().zip(&values) {
        if v.is_none() {
            continue;
        }
        match change {
            FieldTtl::At(when) if when <= now => deleted |= hash.remove(f),
            FieldTtl::At(when) => {
                hash.set_ttl(f, Some(when));
                set = true;
            }
            FieldTtl::Clear => persisted |= hash.set_ttl(f, None),
            FieldTtl::Keep => {}
        }
    }
    let empty = hash.is_empty();
    reply_values(ctx, &values);
    if set {
        ctx.db().track_volatile_hash(key);
        ctx.changed(HASH, "hexpire", key);
    }
    if persisted {
        ctx.changed(HASH, "hpersist", key);
    }
    if deleted {
        ctx.removed_from(HASH, "hexpired", key, empty);
    }
    Ok(())
}

/// HSETEX key [FNX | FXX] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL]
/// FIELDS n field value...: 1 if the fields were set (all of them), 0 if
/// FNX / FXX refused (none).
fn hsetex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (mut fnx, mut fxx) = (false, false);
    let opt = ttl_options(argv, 2, "keepttl", |w| {
        match () {
            _ if is(w, "fnx") => fnx = true,
            _ if is(w, "fxx") => fxx = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if fnx && fxx {
        return Err(CmdError::Syntax);
    }
    let pairs = fields_clause(argv, opt.fields_at, 2)?.map_err(|_| err(NUMFIELDS))?;
    let change = match (opt.kind, opt.value) {
        (Some("keepttl"), _) => FieldTtl::Keep,
        (Some(k), Some(v)) => FieldTtl::At(option_time(ctx, k, v, "hsetex")?),
        _ => FieldTtl::Clear,
    };
    let (key, now) = (argv[1], ctx.now_ms);
    let existing = match hash_at(ctx, key, Access::Write)? {
        Some(h) => pairs.chunks(2).filter(|p| h.contains(p[0])).count(),
        None => 0,
    };
    let refused = (fnx && existing > 0) || (fxx && existing < pairs.len() / 2);
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    let limits = limits(ctx);
    let hash = hash_or_create(ctx, key)?;
    hash.prepare(limits, pairs);
    let mut deleted = false;
    for p in pairs.chunks(2) {
        match change {
            FieldTtl::Keep => {
                hash.set_keep_ttl(limits, p[0], p[1]);
            }
            _ => {
                hash.set(limits, p[0], p[1]);
            }
        }
        match change {
            FieldTtl::At(when) if when <= now => deleted |= hash.remove(p[0]),
            FieldTtl::At(when) => {
                hash.set_ttl(p[0], Some(when));
            }
            _ => {}
        }
    }
    let empty = hash.is_empty();
    ctx.out.int(1);
    ctx.changed(HASH, "hset", key);
    if let FieldTtl::At(when) = change {
        // Raised even for a time already past, as Valkey does.
        if when > now {
            ctx.db().track_volatile_hash(key);
        }
        ctx.notify(HASH, "hexpire", key);
    }
    if deleted {
        ctx.removed_from(HASH, "hexpired", key, empty);
    }
    Ok(())
}

/// HGETDEL key FIELDS n field...: the values, and the fields are deleted.
fn hgetdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let fields = fields_clause(argv, 2, 1)?.map_err(BadFields::syntax_or_count)?;
    let key = argv[1];
    let (values, empty) = match hash_at(ctx, key, Access::Write)? {
        None => (vec![None; fields.len()], false),
        Some(hash) => {
            let values: Vec<Option<Vec<u8>>> = fields
                .iter()
                .map(|f| {
                    let v = hash.get(f);
                    hash.remove(f);
                    v
                })
                .collect();
            (values, hash.is_empty())
        }
    };
    reply_values(ctx, &values);
    if values.iter().any(Option::is_some) {
        ctx.removed_from(HASH, "hdel", key, empty);
    }
    Ok(())
}
