//! Set commands (Valkey's t_set.c).

use super::{
    Command, Ctx, Pick, ScanArgs, is, ks, ks_keynum, random_elements, read_as, reply_scan,
    signed_count, write_as,
};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::events::SET;
use crate::types::Value;
use crate::types::set::{Limits, Set};
use crate::util::parse_i64;
use std::borrow::Cow;

const W_FAST: &str = "@write @set @fast";
const W_SLOW: &str = "@write @set @slow";
const R_FAST: &str = "@read @set @fast";
const R_SLOW: &str = "@read @set @slow";
const ORDER: &str = "nondeterministic_output_order";

pub const COMMANDS: &[Command] = &[
    Command::new("sadd", -3, "write denyoom fast", (1, 1, 1), W_FAST, sadd).keys(&[ks(
        "RW insert",
        1,
        0,
        1,
    )]),
    Command::new("srem", -3, "write fast", (1, 1, 1), W_FAST, srem).keys(&[ks(
        "RW delete",
        1,
        0,
        1,
    )]),
    Command::new("smove", 4, "write fast", (1, 2, 1), W_FAST, smove)
        .keys(&[ks("RW access delete", 1, 0, 1), ks("RW insert", 2, 0, 1)]),
    Command::new(
        "sismember",
        3,
        "readonly fast",
        (1, 1, 1),
        R_FAST,
        sismember,
    )
    .keys(&[ks("RO", 1, 0, 1)]),
    Command::new(
        "smismember",
        -3,
        "readonly fast",
        (1, 1, 1),
        R_FAST,
        smismember,
    )
    .keys(&[ks("RO access", 1, 0, 1)]),
    Command::new("scard", 2, "readonly fast", (1, 1, 1), R_FAST, scard).keys(&[ks("RO", 1, 0, 1)]),
    Command::new("smembers", 2, "readonly", (1, 1, 1), R_SLOW, smembers)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips(ORDER),
    Command::new("spop", -2, "write fast", (1, 1, 1), W_FAST, spop)
        .keys(&[ks("RW access delete", 1, 0, 1)])
        .tips("nondeterministic_output"),
    Command::new(
        "srandmember",
        -2,
        "readonly",
        (1, 1, 1),
        R_SLOW,
        srandmember,
    )
    .keys(&[ks("RO access", 1, 0, 1)])
    .tips("nondeterministic_output"),
    Command::new("sinter", -2, "readonly", (1, -1, 1), R_SLOW, sinter)
        .keys(&[ks("RO access", 1, -1, 1)])
        .tips(ORDER),
    Command::new(
        "sintercard",
        -3,
        "readonly movablekeys",
        (0, 0, 0),
        R_SLOW,
        sintercard,
    )
    .keys(&[ks_keynum("RO access", 1, 0, 1, 1)]),
    Command::new(
        "sinterstore",
        -3,
        "write denyoom",
        (1, -1, 1),
        W_SLOW,
        sinterstore,
    )
    .keys(&[ks("OW update", 1, 0, 1), ks("RO access", 2, -1, 1)]),
    Command::new("sunion", -2, "readonly", (1, -1, 1), R_SLOW, sunion)
        .keys(&[ks("RO access", 1, -1, 1)])
        .tips(ORDER),
    Command::new(
        "sunionstore",
        -3,
        "write denyoom",
        (1, -1, 1),
        W_SLOW,
        sunionstore,
    )
    .keys(&[ks("OW update", 1, 0, 1), ks("RO access", 2, -1, 1)]),
    Command::new("sdiff", -2, "readonly", (1, -1, 1), R_SLOW, sdiff)
        .keys(&[ks("RO access", 1, -1, 1)])
        .tips(ORDER),
    Command::new(
        "sdiffstore",
        -3,
        "write denyoom",
        (1, -1, 1),
        W_SLOW,
        sdiffstore,
    )
    .keys(&[ks("OW update", 1, 0, 1), ks("RO access", 2, -1, 1)]),
    Command::new("sscan", -3, "readonly", (1, 1, 1), R_SLOW, sscan)
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output"),
];

fn limits(ctx: &Ctx) -> Limits {
    let c = &ctx.srv.config;
    let n = |v: i64| usize::try_from(v).unwrap_or(0);
    Limits {
        intset_entries: n(c.set_max_intset_entries),
        listpack_entries: n(c.set_max_listpack_entries),
        listpack_value: n(c.set_max_listpack_value),
    }
}

/// Stores `set` under `key`, or deletes the key when it is empty (the
/// *STORE commands, raising `event`); replies with its size.
fn store(ctx: &mut Ctx, key: &[u8], set: Set, event: &str) {
    let len = set.len();
    let now = ctx.now_ms;
    if len == 0 {
        ctx.delete_key(key);
    } else {
        ctx.db().insert(key, Value::Set(set), None, now);
        ctx.changed(SET, event, key);
    }
    ctx.out.int(len as i64);
}

fn reply_members(ctx: &mut Ctx, members: &[Vec<u8>]) {
    ctx.out.set(members.len());
    for m in members {
        ctx.out.bulk(m);
    }
}

fn sadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (key, members) = (argv[1], &argv[2..]);
    let limits = limits(ctx);
    let set = match write_as::<Set>(ctx, key)? {
        Some(set) => {
            set.expect(limits, members.len());
            set
        }
        None => {
            let now = ctx.now_ms;
            let set = Set::for_members(limits, members[0], members.len());
            ctx.db().insert(key, Value::Set(set), None, now);
            write_as::<Set>(ctx, key)?.expect("just created")
        }
    };
    let added = members.iter().filter(|m| set.add(limits, m)).count();
    if added > 0 {
        ctx.changed(SET, "sadd", key);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let Some(set) = write_as::<Set>(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = argv[2..].iter().filter(|m| set.remove(m)).count();
    if removed > 0 {
        let empty = set.is_empty();
        ctx.removed_from(SET, "srem", key, empty);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn smove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (src, dst, member) = (argv[1], argv[2], argv[3]);
    let limits = limits(ctx);
    let now = ctx.now_ms;
    // A missing source answers 0 before any type is checked.
    if ctx.db().lookup_write(src, now).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    write_as::<Set>(ctx, src)?;
    let dst_exists = write_as::<Set>(ctx, dst)?.is_some();
    let source = write_as::<Set>(ctx, src)?.expect("present");
    if src == dst {
        let found = source.contains(member);
        ctx.out.int(i64::from(found));
        return Ok(());
    }
    if !source.remove(member) {
        ctx.out.int(0);
        return Ok(());
    }
    let empty = source.is_empty();
    ctx.removed_from(SET, "srem", src, empty);
    if !dst_exists {
        let set = Set::for_members(limits, member, 1);
        ctx.db().insert(dst, Value::Set(set), None, now);
    }
    let added = write_as::<Set>(ctx, dst)?
        .expect("present")
        .add(limits, member);
    if added {
        ctx.changed(SET, "sadd", dst);
    }
    ctx.out.int(1);
    Ok(())
}

fn sismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = read_as::<Set>(ctx, argv[1])?.is_some_and(|s| s.contains(argv[2]));
    ctx.out.int(i64::from(found));
    Ok(())
}

fn smismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found: Vec<bool> = match read_as::<Set>(ctx, argv[1])? {
        Some(s) => argv[2..].iter().map(|m| s.contains(m)).collect(),
        None => vec![false; argv.len() - 2],
    };
    ctx.out.array(found.len());
    for f in found {
        ctx.out.int(i64::from(f));
    }
    Ok(())
}

fn scard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let len = read_as::<Set>(ctx, argv[1])?.map_or(0, |s| s.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn smembers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let members = read_as::<Set>(ctx, argv[1])?
        .map(|s| s.members())
        .unwrap_or_default();
    reply_members(ctx, &members);
    Ok(())
}

/// The sets under `keys` (None for missing keys), type-checked in order.
fn sets_of(ctx: &mut Ctx, keys: &[&[u8]]) -> Result<Vec<Option<Set>>, CmdError> {
    keys.iter()
        .map(|k| read_as::<Set>(ctx, k).map(|s| s.map(Cow::into_owned)))
        .collect()
}

/// SINTER's result: the smallest set's members (in its order) that every
/// other set holds; stops at `limit` members if given.
fn intersection(sets: &[Option<Set>], limit: usize) -> Option<Vec<Vec<u8>>> {
    let mut present: Vec<&Set> = sets.iter().map(Option::as_ref).collect::<Option<_>>()?;
    present.sort_by_key(|s| s.len());
    let (first, rest) = present.split_first()?;
    Some(
        first
            .members()
            .into_iter()
            .filter(|m| rest.iter().all(|s| s.contains(m)))
            .take(limit)
            .collect(),
    )
}

fn sinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sets = sets_of(ctx, &argv[1..])?;
    let members = intersection(&sets, usize::MAX).unwrap_or_default();
    reply_members(ctx, &members);
    Ok(())
}

fn sintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let numkeys = match parse_i64(argv[1]) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(err("ERR numkeys should be greater than 0")),
    };
    if numkeys > argv.len() - 2 {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut rest = argv[2 + numkeys..].iter();
    while let Some(opt) = rest.next() {
        match rest.next() {
            Some(v) if is(opt, "limit") => match parse_i64(v) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return Err(err("ERR LIMIT can't be negative")),
            },
            _ => return Err(CmdError::Syntax),
        }
    }
    let sets = sets_of(ctx, &argv[2..2 + numkeys])?;
    let cap = if limit == 0 { usize::MAX } else { limit };
    let n = intersection(&sets, cap).map_or(0, |m| m.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn sinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let limits = limits(ctx);
    let sets = sets_of(ctx, &argv[2..])?;
    let mut result = match sets
        .iter()
        .map(Option::as_ref)
        .collect::<Option<Vec<&Set>>>()
    {
        Some(mut present) => {
            present.sort_by_key(|s| s.len());
            // Valkey starts from an intset for an intset, else a listpack.
            match present[0] {
                Set::Intset(_) => Set::Intset(Default::default()),
                _ => Set::Listpack(Default::default()),
            }
        }
        None => Set::Listpack(Default::default()),
    };
    for m in intersection(&sets, usize::MAX).unwrap_or_default() {
        result.add(limits, &m);
    }
    if !result.is_empty() {
        result.compact_integers(limits);
    }
    store(ctx, argv[1], result, "sinterstore");
    Ok(())
}

/// SUNION / SDIFF into a set built as Valkey builds it (from an intset,
/// adding member by member), so its encoding and order match.
fn union_or_diff(ctx: &mut Ctx, keys: &[&[u8]], diff: bool) -> Result<Set, CmdError> {
    let limits = limits(ctx);
    let sets = sets_of(ctx, keys)?;
    let mut result = Set::Intset(Default::default());
    if !diff {
        for s in sets.iter().flatten() {
            for m in s.members() {
                result.add(limits, &m);
            }
        }
        return Ok(result);
    }
    let Some(Some(first)) = sets.first() else {
        return Ok(result);
    };
    if keys[1..].contains(&keys[0]) {
        return Ok(result);
    }
    // Valkey's choice between its two algorithms decides the result's
    // member order: filter the first set, or copy it and remove.
    let others: Vec<&Set> = sets[1..].iter().flatten().collect();
    let one = (others.len() + 1) * first.len() / 2;
    let two = first.len() + others.iter().map(|s| s.len()).sum::<usize>();
    if one <= two {
        for m in first.members() {
            if !others.iter().any(|s| s.contains(&m)) {
                result.add(limits, &m);
            }
        }
    } else {
        for m in first.members() {
            result.add(limits, &m);
        }
        for s in others {
            for m in s.members() {
                result.remove(&m);
            }
            if result.is_empty() {
                break;
            }
        }
    }
    Ok(result)
}

fn sunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let result = union_or_diff(ctx, &argv[1..], false)?;
    reply_members(ctx, &result.members());
    Ok(())
}

fn sdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let result = union_or_diff(ctx, &argv[1..], true)?;
    reply_members(ctx, &result.members());
    Ok(())
}

fn sunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let result = union_or_diff(ctx, &argv[2..], false)?;
    store(ctx, argv[1], result, "sunionstore");
    Ok(())
}

fn sdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let result = union_or_diff(ctx, &argv[2..], true)?;
    store(ctx, argv[1], result, "sdiffstore");
    Ok(())
}

/// SPOP's count: non-negative.
fn pop_count(arg: &[u8]) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(err("ERR value is out of range, must be positive")),
    }
}

fn spop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let key = argv[1];
    let count = argv.get(2).map(|a| pop_count(a)).transpose()?;
    let Some(len) = write_as::<Set>(ctx, key)?.map(|s| s.len()) else {
        match count {
            Some(_) => ctx.out.set(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    if count.is_some_and(|n| n as usize >= len) {
        // The whole set: Valkey answers with SUNION of the key, then
        // deletes it.
        let result = union_or_diff(ctx, &argv[1..2], false)?;
        ctx.removed_from(SET, "spop", key, true);
        reply_members(ctx, &result.members());
        return Ok(());
    }
    let pick = match count {
        Some(n) => Pick::Distinct(n as usize),
        None => Pick::One,
    };
    let popped = random_elements::<Set>(ctx, key, len, pick);
    let target = write_as::<Set>(ctx, key)?.expect("present");
    for m in &popped {
        target.remove(m);
    }
    if !popped.is_empty() {
        let empty = target.is_empty();
        ctx.removed_from(SET, "spop", key, empty);
    }
    match count {
        Some(_) => reply_members(ctx, &popped),
        None => ctx.out.bulk(&popped[0]),
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let key = argv[1];
    let count = argv.get(2).map(|a| signed_count(a)).transpose()?;
    let Some(len) = read_as::<Set>(ctx, key)?.map(|s| s.len()) else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let pick = match count {
        None => Pick::One,
        Some(0) => Pick::Distinct(0),
        // Negative: that many picks, repeats allowed.
        Some(n) if n < 0 => Pick::Repeats(n.unsigned_abs() as usize),
        Some(n) if n as usize >= len => {
            // Valkey answers with SUNION of the one key here (a set reply).
            let result = union_or_diff(ctx, &argv[1..2], false)?;
            reply_members(ctx, &result.members());
            return Ok(());
        }
        Some(n) => Pick::Distinct(n as usize),
    };
    let picks = random_elements::<Set>(ctx, key, len, pick);
    match count {
        None => ctx.out.bulk(&picks[0]),
        Some(_) => {
            ctx.out.array(picks.len());
            for m in &picks {
                ctx.out.bulk(m);
            }
        }
    }
    Ok(())
}

fn sscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let args = ScanArgs::parse(argv, false)?;
    let Some(set) = read_as::<Set>(ctx, argv[1])? else {
        reply_scan(ctx.out, 0, &[]);
        return Ok(());
    };
    // A table is walked with Valkey's cursor; a compact encoding is
    // returned whole.
    let (window, next) = match &*set {
        Set::Table(t) => {
            let mut found = Vec::new();
            let next = t.scan_count(args.cursor, args.count, |m| found.push(m.key().to_vec()));
            (found, next)
        }
        _ => (set.members(), 0),
    };
    let elements: Vec<&[u8]> = window
        .iter()
        .filter(|m| args.matches(m))
        .map(Vec::as_slice)
        .collect();
    reply_scan(ctx.out, next, &elements);
    Ok(())
}
