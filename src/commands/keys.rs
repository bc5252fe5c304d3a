//! Generic key commands (Valkey's db.c and expire.c).

use super::{Command, Ctx, ExpireCond, expire_time, int_arg, is, ks, reply_help, ttl_reply};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::Node;
use crate::keyspace::events::{EXPIRED, GENERIC};
use crate::server::Server;
use crate::util::glob;

const KW: &str = "@keyspace @write @slow";
const KR: &str = "@keyspace @read @slow";
const KWF: &str = "@keyspace @write @fast";
const KRF: &str = "@keyspace @read @fast";

pub const COMMANDS: &[Command] = &[
    Command::new("del", -2, "write", (1, -1, 1), KW, del)
        .keys(&[ks("RM delete", 1, -1, 1)])
        .tips("request_policy:multi_shard response_policy:agg_sum"),
    Command::new("unlink", -2, "write fast", (1, -1, 1), KWF, del)
        .keys(&[ks("RM delete", 1, -1, 1)])
        .tips("request_policy:multi_shard response_policy:agg_sum"),
    Command::new("exists", -2, "readonly fast", (1, -1, 1), KRF, exists)
        .keys(&[ks("RO", 1, -1, 1)])
        .tips("request_policy:multi_shard response_policy:agg_sum"),
    Command::new("type", 2, "readonly fast", (1, 1, 1), KRF, type_).keys(&[ks("RO", 1, 0, 1)]),
    Command::new("rename", 3, "write", (1, 2, 1), KW, rename)
        .keys(&[ks("RW access delete", 1, 0, 1), ks("OW update", 2, 0, 1)]),
    Command::new("renamenx", 3, "write fast", (1, 2, 1), KWF, renamenx)
        .keys(&[ks("RW access delete", 1, 0, 1), ks("OW insert", 2, 0, 1)]),
    Command::new("copy", -3, "write denyoom", (1, 2, 1), KW, copy)
        .keys(&[ks("RO access", 1, 0, 1), ks("OW update", 2, 0, 1)]),
    Command::new("move", 3, "write fast", (1, 1, 1), KWF, move_).keys(&[ks(
        "RW access update",
        1,
        0,
        1,
    )]),
    Command::new(
        "swapdb",
        3,
        "write fast",
        (0, 0, 0),
        "@keyspace @write @fast @dangerous",
        swapdb,
    ),
    Command::new("touch", -2, "readonly fast", (1, -1, 1), KRF, touch)
        .keys(&[ks("RO", 1, -1, 1)])
        .tips("request_policy:multi_shard response_policy:agg_sum"),
    Command::new("expire", -3, "write fast", (1, 1, 1), KWF, expire).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("pexpire", -3, "write fast", (1, 1, 1), KWF, pexpire).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("expireat", -3, "write fast", (1, 1, 1), KWF, expireat).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("pexpireat", -3, "write fast", (1, 1, 1), KWF, pexpireat).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("ttl", 2, "readonly fast", (1, 1, 1), KRF, ttl)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output"),
    Command::new("pttl", 2, "readonly fast", (1, 1, 1), KRF, pttl)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output"),
    Command::new("expiretime", 2, "readonly fast", (1, 1, 1), KRF, expiretime).keys(&[ks(
        "RO access",
        1,
        0,
        1,
    )]),
    Command::new(
        "pexpiretime",
        2,
        "readonly fast",
        (1, 1, 1),
        KRF,
        pexpiretime,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new("persist", 2, "write fast", (1, 1, 1), KWF, persist).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new(
        "keys",
        2,
        "readonly",
        (0, 0, 0),
        "@keyspace @read @slow @dangerous",
        keys,
    )
    .tips("request_policy:all_shards nondeterministic_output_order"),
    Command::new("scan", -2, "readonly", (0, 0, 0), KR, scan)
        .tips("nondeterministic_output request_policy:special response_policy:special"),
    Command::new("randomkey", 1, "readonly", (0, 0, 0), KR, randomkey)
        .tips("request_policy:all_shards response_policy:special nondeterministic_output"),
    Command::new("dbsize", 1, "readonly fast", (0, 0, 0), KRF, dbsize)
        .tips("request_policy:all_shards response_policy:agg_sum"),
    Command::new(
        "flushdb",
        -1,
        "write",
        (0, 0, 0),
        "@keyspace @write @slow @dangerous",
        flushdb,
    )
    .tips("request_policy:all_shards response_policy:all_succeeded"),
    Command::new(
        "flushall",
        -1,
        "write",
        (0, 0, 0),
        "@keyspace @write @slow @dangerous",
        flushall,
    )
    .tips("request_policy:all_shards response_policy:all_succeeded"),
    Command::container("object", "@slow", OBJECT),
];

const OBJECT: &[Command] = &[
    Command::new("encoding", 3, "readonly", (2, 2, 1), KR, object_encoding)
        .keys(&[ks("RO", 2, 0, 1)])
        .tips("nondeterministic_output"),
    Command::new("freq", 3, "readonly", (2, 2, 1), KR, object_freq)
        .keys(&[ks("RO", 2, 0, 1)])
        .tips("nondeterministic_output"),
    Command::new("idletime", 3, "readonly", (2, 2, 1), KR, object_idletime)
        .keys(&[ks("RO", 2, 0, 1)])
        .tips("nondeterministic_output"),
    Command::new("refcount", 3, "readonly", (2, 2, 1), KR, object_refcount)
        .keys(&[ks("RO", 2, 0, 1)])
        .tips("nondeterministic_output"),
    Command::new(
        "help",
        2,
        "loading stale",
        (0, 0, 0),
        "@keyspace @slow",
        object_help,
    ),
];

fn del(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let mut n = 0;
    for key in &argv[1..] {
        let db = ctx.db();
        if db.peek(key, now).is_some() {
            db.remove(key);
            ctx.changed(GENERIC, "del", key);
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    // Read lookups without touching: hits, misses and keymiss count, as
    // in Valkey.
    let n = argv[1..]
        .iter()
        .filter(|k| db.lookup_read(k, now, false).is_some())
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

/// TOUCH updates access times even under CLIENT NO-TOUCH: that is its job.
fn touch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let db = &mut ctx.srv.dbs[ctx.client.db];
    let n = argv[1..]
        .iter()
        .filter(|k| db.lookup_read(k, now, true).is_some())
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

fn type_(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let name = ctx
        .db()
        .lookup_read(argv[1], now, false)
        .map_or("none", |e| e.value().type_name());
    ctx.out.simple(name);
    Ok(())
}

/// RENAME / RENAMENX. Returns whether the key moved.
fn rename_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) -> Result<bool, CmdError> {
    let (src, dst) = (argv[1], argv[2]);
    let now = ctx.now_ms;
    let db = ctx.db();
    if db.lookup_write(src, now).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        return Ok(false);
    }
    if db.lookup_write(dst, now).is_some() {
        if nx {
            return Ok(false);
        }
        db.remove(dst);
    }
    let entry = db.remove(src).expect("looked up above");
    db.insert_entry(dst, entry);
    let db = ctx.client.db;
    ctx.srv.blocking.signal(db, dst);
    ctx.touched(src);
    ctx.touched(dst);
    ctx.notify(GENERIC, "rename_from", src);
    ctx.notify(GENERIC, "rename_to", dst);
    Ok(true)
}

fn rename(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, false)?;
    ctx.out.ok();
    Ok(())
}

fn renamenx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let moved = rename_generic(ctx, argv, true)?;
    ctx.out.int(i64::from(moved));
    Ok(())
}

/// A database index argument: an int, and within `databases`.
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    let id = int_arg(arg)?;
    if id < i64::from(i32::MIN) || id > i64::from(i32::MAX) {
        return Err(CmdError::NotInteger);
    }
    if id < 0 || id >= ctx.srv.dbs.len() as i64 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(id as usize)
}

fn copy(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (src, dst) = (argv[1], argv[2]);
    let mut replace = false;
    let mut dst_db = ctx.client.db;
    let mut j = 3;
    while j < argv.len() {
        if is(argv[j], "replace") {
            replace = true;
        } else if is(argv[j], "db") && j + 1 < argv.len() {
            dst_db = db_index(ctx, argv[j + 1])?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if dst_db == ctx.client.db && src == dst {
        return Err(err("ERR source and destination objects are the same"));
    }
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    let Some(entry) = ctx.db().lookup_read(src, now, touch).map(|n| n.to_entry()) else {
        ctx.out.int(0);
        return Ok(());
    };
    let target = &mut ctx.srv.dbs[dst_db];
    if target.lookup_write(dst, now).is_some() {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        target.remove(dst);
    }
    target.insert_entry(dst, entry.renewed(now));
    ctx.srv.blocking.signal(dst_db, dst);
    ctx.srv.touch(dst_db, dst);
    ctx.notify_in(dst_db, GENERIC, "copy_to", dst);
    ctx.out.int(1);
    Ok(())
}

fn move_(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let dst_db = db_index(ctx, argv[2])?;
    if dst_db == ctx.client.db {
        return Err(err("ERR source and destination objects are the same"));
    }
    let now = ctx.now_ms;
    if ctx.db().lookup_write(key, now).is_none()
        || ctx.srv.dbs[dst_db].lookup_write(key, now).is_some()
    {
        ctx.out.int(0);
        return Ok(());
    }
    let entry = ctx.db().remove(key).expect("looked up above");
    ctx.srv.dbs[dst_db].insert_entry(key, entry);
    ctx.srv.blocking.signal(dst_db, key);
    ctx.touched(key);
    ctx.srv.touch(dst_db, key);
    ctx.notify(GENERIC, "move_from", key);
    ctx.notify_in(dst_db, GENERIC, "move_to", key);
    ctx.out.int(1);
    Ok(())
}

fn swapdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let parse = |arg: &[u8], what: &'static str| -> Result<i64, CmdError> {
        match int_arg(arg) {
            Ok(v) if v >= i64::from(i32::MIN) && v <= i64::from(i32::MAX) => Ok(v),
            _ => Err(err(what)),
        }
    };
    let a = parse(argv[1], "ERR invalid first DB index")?;
    let b = parse(argv[2], "ERR invalid second DB index")?;
    let n = ctx.srv.dbs.len() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(CmdError::DbIndexOutOfRange);
    }
    let (a, b) = (a as usize, b as usize);
    // A watched key that exists in either database now holds another value.
    let srv = &mut *ctx.srv;
    let [da, db] = [&srv.dbs[a], &srv.dbs[b]];
    let exists = |k: &[u8]| da.get_checked(k).is_some() || db.get_checked(k).is_some();
    srv.watches.touch_db(a, exists);
    srv.watches.touch_db(b, exists);
    srv.dbs.swap(a, b);
    ctx.out.ok();
    Ok(())
}

/// The shared body of EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT.
fn expire_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    unit_secs: bool,
    absolute: bool,
    cmd: &'static str,
) -> CmdResult {
    let (cond, used) = ExpireCond::parse(&argv[3..]);
    if let Some(opt) = argv[3..].get(used) {
        return Err(err(format!(
            "ERR Unsupported option {}",
            String::from_utf8_lossy(opt)
        )));
    }
    cond.check()?;
    let when = expire_time(argv[2], unit_secs, absolute, ctx.now_ms, i64::MIN, cmd)?;

    let now = ctx.now_ms;
    let db = ctx.db();
    let Some(e) = db.lookup_write(argv[1], now) else {
        ctx.out.int(0);
        return Ok(());
    };
    if !cond.allows(e.expire_at(), when) {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= now {
        db.remove(argv[1]);
        db.stats.expired += 1;
        // Valkey deletes it as expired, not as deleted.
        ctx.changed(EXPIRED, "expired", argv[1]);
    } else {
        db.set_expire(argv[1], Some(when));
        ctx.changed(GENERIC, "expire", argv[1]);
    }
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, true, false, "expire")
}

fn pexpire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, false, false, "pexpire")
}

fn expireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, true, true, "expireat")
}

fn pexpireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, false, true, "pexpireat")
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 missing, -1 no expiry.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], millis: bool, absolute: bool) -> CmdResult {
    let now = ctx.now_ms;
    let reply = match ctx.db().lookup_read(key, now, false).map(|e| e.expire_at()) {
        None => -2,
        Some(None) => -1,
        Some(Some(at)) => ttl_reply(at, now, millis, absolute),
    };
    ctx.out.int(reply);
    Ok(())
}

fn ttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], false, false)
}

fn pttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], true, false)
}

fn expiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], false, true)
}

fn pexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], true, true)
}

fn persist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.db();
    let had_ttl = db
        .lookup_write(argv[1], now)
        .is_some_and(|e| e.expire_at().is_some());
    if had_ttl {
        db.set_expire(argv[1], None);
        ctx.changed(GENERIC, "persist", argv[1]);
    }
    ctx.out.int(i64::from(had_ttl));
    Ok(())
}

fn keys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pattern = argv[1];
    let all = pattern == b"*";
    let now = ctx.now_ms;
    // One pass, replying while the prefetching iterator has the key in
    // cache; the array's length goes in front at the end.
    let at = ctx.out.deferred_array();
    let mut n = 0;
    for e in ctx.srv.dbs[ctx.client.db].iter() {
        let key = e.key();
        if e.expire_at().is_none_or(|t| t > now) && (all || glob::matches(pattern, key, false)) {
            ctx.out.bulk(key);
            n += 1;
        }
    }
    ctx.out.array_at(at, n);
    Ok(())
}

/// Valkey's type names for SCAN TYPE.
const TYPE_NAMES: &[&str] = &["string", "list", "set", "zset", "hash", "stream"];

fn scan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = std::str::from_utf8(argv[1])
        .ok()
        .filter(|s| !s.starts_with('+'))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| err("ERR invalid cursor"))?;
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_filter: Option<String> = None;
    let mut i = 2;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        if is(argv[i], "count") && has_value {
            let c = int_arg(argv[i + 1])?;
            if c < 1 {
                return Err(CmdError::Syntax);
            }
            count = c.min(i64::from(u32::MAX)) as usize;
        } else if is(argv[i], "match") && has_value {
            pattern = Some(argv[i + 1]).filter(|p| *p != b"*");
        } else if is(argv[i], "novalues") {
            return Err(super::NOVALUES_ONLY_HSCAN);
        } else if is(argv[i], "type") && has_value {
            let name = String::from_utf8_lossy(argv[i + 1]).to_ascii_lowercase();
            if !TYPE_NAMES.contains(&name.as_str()) {
                return Err(err(format!(
                    "ERR unknown type name '{}'",
                    String::from_utf8_lossy(argv[i + 1])
                )));
            }
            type_filter = Some(name);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let now = ctx.now_ms;
    let mut found = Vec::new();
    let next = ctx.srv.dbs[ctx.client.db].scan(cursor, count, |e| {
        let k = e.key();
        let live = e.expire_at().is_none_or(|t| t > now);
        let type_ok = type_filter
            .as_deref()
            .is_none_or(|t| t == e.value().type_name());
        if live && type_ok && pattern.is_none_or(|p| glob::matches(p, k, false)) {
            found.push(k);
        }
    });
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.client.db;
    let (dbs, mut rng) = ctx.srv.dbs_and_sampler();
    match dbs[db].random_key(now, &mut rng) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
    Ok(())
}

/// Empties a database; the keys watched in it that existed change.
fn flush(srv: &mut Server, db: usize) {
    let emptied = &srv.dbs[db];
    srv.watches
        .touch_db(db, |k: &[u8]| emptied.get_checked(k).is_some());
    srv.dbs[db].clear();
}

/// FLUSHDB / FLUSHALL take an optional ASYNC or SYNC.
fn flush_mode(argv: &[&[u8]]) -> CmdResult {
    match argv {
        [_] => Ok(()),
        [_, mode] if is(mode, "async") || is(mode, "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

fn flushdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    flush_mode(argv)?;
    flush(ctx.srv, ctx.client.db);
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    flush_mode(argv)?;
    for db in 0..ctx.srv.dbs.len() {
        flush(ctx.srv, db);
    }
    ctx.out.ok();
    Ok(())
}

/// OBJECT subcommands look the key up without touching it; null if missing.
fn object_entry<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a mut Node> {
    let now = ctx.now_ms;
    let entry = ctx.srv.dbs[ctx.client.db].lookup_counted(key, now);
    if entry.is_none() {
        ctx.out.null();
    }
    entry
}

fn object_encoding(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if let Some(e) = object_entry(ctx, argv[2]) {
        let name = e.value().encoding_name();
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if object_entry(ctx, argv[2]).is_some() {
        // Values are never shared between keys.
        ctx.out.int(1);
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let lfu = ctx.srv.policy.lfu();
    if let Some(e) = object_entry(ctx, argv[2]) {
        if lfu {
            return Err(err(
                "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        }
        let idle = e.idle_ms(now).max(0) / 1000;
        ctx.out.int(idle);
    }
    Ok(())
}

fn object_freq(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms;
    let lfu = ctx.db().lfu;
    if let Some(e) = object_entry(ctx, argv[2]) {
        let Some(lfu) = lfu else {
            return Err(err(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        };
        let freq = lfu.decayed(e.lfu_counter(), e.idle_ms(now));
        ctx.out.int(i64::from(freq));
    }
    Ok(())
}

fn object_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx.out,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}
