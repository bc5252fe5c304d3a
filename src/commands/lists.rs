//! List commands (Valkey's t_list.c), the blocking ones included: they
//! serve at once when they can, else leave a [`BlockRequest`] for the
//! event loop (`server::blocking`), which runs them again when a key
//! receives elements.

use ferrokv_transport::ReplyWriter;

use super::{
    Command, Ctx, block, deadline, int_arg, is, ks, ks_keynum, mpop_args, read_as, signed_count,
    write_as,
};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::events::LIST;
use crate::types::list::Fill;
use crate::types::{List, Value};
use crate::util::parse_i64;

const W_FAST: &str = "@write @list @fast";
const W_SLOW: &str = "@write @list @slow";
const R_SLOW: &str = "@read @list @slow";

pub const COMMANDS: &[Command] = &[
    Command::new("lpush", -3, "write denyoom fast", (1, 1, 1), W_FAST, lpush).keys(&[ks(
        "RW insert",
        1,
        0,
        1,
    )]),
    Command::new("rpush", -3, "write denyoom fast", (1, 1, 1), W_FAST, rpush).keys(&[ks(
        "RW insert",
        1,
        0,
        1,
    )]),
    Command::new(
        "lpushx",
        -3,
        "write denyoom fast",
        (1, 1, 1),
        W_FAST,
        lpushx,
    )
    .keys(&[ks("RW insert", 1, 0, 1)]),
    Command::new(
        "rpushx",
        -3,
        "write denyoom fast",
        (1, 1, 1),
        W_FAST,
        rpushx,
    )
    .keys(&[ks("RW insert", 1, 0, 1)]),
    Command::new("lpop", -2, "write fast", (1, 1, 1), W_FAST, lpop).keys(&[ks(
        "RW access delete",
        1,
        0,
        1,
    )]),
    Command::new("rpop", -2, "write fast", (1, 1, 1), W_FAST, rpop).keys(&[ks(
        "RW access delete",
        1,
        0,
        1,
    )]),
    Command::new(
        "llen",
        2,
        "readonly fast",
        (1, 1, 1),
        "@read @list @fast",
        llen,
    )
    .keys(&[ks("RO", 1, 0, 1)]),
    Command::new("lrange", 4, "readonly", (1, 1, 1), R_SLOW, lrange).keys(&[ks(
        "RO access",
        1,
        0,
        1,
    )]),
    Command::new("lindex", 3, "readonly", (1, 1, 1), R_SLOW, lindex).keys(&[ks(
        "RO access",
        1,
        0,
        1,
    )]),
    Command::new("lset", 4, "write denyoom", (1, 1, 1), W_SLOW, lset).keys(&[ks(
        "RW update",
        1,
        0,
        1,
    )]),
    Command::new("linsert", 5, "write denyoom", (1, 1, 1), W_SLOW, linsert).keys(&[ks(
        "RW insert",
        1,
        0,
        1,
    )]),
    Command::new("lrem", 4, "write", (1, 1, 1), W_SLOW, lrem).keys(&[ks("RW delete", 1, 0, 1)]),
    Command::new("ltrim", 4, "write", (1, 1, 1), W_SLOW, ltrim).keys(&[ks("RW delete", 1, 0, 1)]),
    Command::new("lpos", -3, "readonly", (1, 1, 1), R_SLOW, lpos).keys(&[ks("RO access", 1, 0, 1)]),
    Command::new("lmove", 5, "write denyoom", (1, 2, 1), W_SLOW, lmove)
        .keys(&[ks("RW access delete", 1, 0, 1), ks("RW insert", 2, 0, 1)]),
    Command::new(
        "rpoplpush",
        3,
        "write denyoom",
        (1, 2, 1),
        W_SLOW,
        rpoplpush,
    )
    .keys(&[ks("RW access delete", 1, 0, 1), ks("RW insert", 2, 0, 1)]),
    Command::new("lmpop", -4, "write movablekeys", (0, 0, 0), W_SLOW, lmpop).keys(&[ks_keynum(
        "RW access delete",
        1,
        0,
        1,
        1,
    )]),
    Command::new("blpop", -3, "write blocking", (1, -2, 1), W_BLOCK, blpop).keys(&[ks(
        "RW access delete",
        1,
        -2,
        1,
    )]),
    Command::new("brpop", -3, "write blocking", (1, -2, 1), W_BLOCK, brpop).keys(&[ks(
        "RW access delete",
        1,
        -2,
        1,
    )]),
    Command::new(
        "blmove",
        6,
        "write denyoom blocking",
        (1, 2, 1),
        W_BLOCK,
        blmove,
    )
    .keys(&[ks("RW access delete", 1, 0, 1), ks("RW insert", 2, 0, 1)]),
    Command::new(
        "brpoplpush",
        4,
        "write denyoom blocking",
        (1, 2, 1),
        W_BLOCK,
        brpoplpush,
    )
    .keys(&[ks("RW access delete", 1, 0, 1), ks("RW insert", 2, 0, 1)]),
    Command::new(
        "blmpop",
        -5,
        "write blocking movablekeys",
        (0, 0, 0),
        W_BLOCK,
        blmpop,
    )
    .keys(&[ks_keynum("RW access delete", 2, 0, 1, 1)]),
];

const W_BLOCK: &str = "@write @list @slow @blocking";

fn fill(ctx: &Ctx) -> Fill {
    Fill {
        size: ctx.srv.config.list_max_listpack_size,
        depth: ctx.srv.config.list_compress_depth,
    }
}

/// After `event` took elements from `key`'s list: an empty list is
/// deleted (Valkey never keeps empty aggregates), a shrunk one may become a
/// listpack.
fn after_removal(ctx: &mut Ctx, key: &[u8], event: &str) {
    let fill = fill(ctx);
    let now = ctx.now_ms;
    let empty = match ctx
        .db()
        .lookup_write(key, now)
        .and_then(|e| e.typed_mut::<List>())
    {
        Some(list) if list.is_empty() => true,
        Some(list) => {
            list.shrunk(fill);
            false
        }
        _ => false,
    };
    ctx.removed_from(LIST, event, key, empty);
}

fn pop_event(head: bool) -> &'static str {
    if head { "lpop" } else { "rpop" }
}

fn push_event(head: bool) -> &'static str {
    if head { "lpush" } else { "rpush" }
}

fn push(ctx: &mut Ctx, argv: &[&[u8]], head: bool, only_existing: bool) -> CmdResult {
    let (key, elements) = (argv[1], &argv[2..]);
    let fill = fill(ctx);
    let list = match write_as::<List>(ctx, key)? {
        Some(list) => list,
        None if only_existing => {
            ctx.out.int(0);
            return Ok(());
        }
        None => {
            let now = ctx.now_ms;
            ctx.db()
                .insert(key, Value::List(List::default()), None, now);
            write_as::<List>(ctx, key)?.expect("just created")
        }
    };
    list.grow_for(fill, elements.iter().map(|e| e.len()));
    for e in elements {
        list.push(e, head);
    }
    let len = list.len();
    ctx.out.int(len as i64);
    let db = ctx.client.db;
    ctx.srv.blocking.signal(db, key);
    ctx.changed(LIST, push_event(head), key);
    Ok(())
}

fn lpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, true, false)
}

fn rpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, false, false)
}

fn lpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, true, true)
}

fn rpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, false, true)
}

/// A non-negative count argument, with Valkey's per-command message for
/// anything else.
fn positive(arg: &[u8], message: &'static str) -> Result<usize, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(err(message)),
    }
}

/// Pops up to `count` elements from one end.
fn pop_many(list: &mut List, head: bool, count: usize) -> Vec<Vec<u8>> {
    let n = count.min(list.len());
    let len = list.len();
    let popped = if head {
        list.range(0, n.saturating_sub(1))
    } else {
        let mut tail = list.range(len - n, len - 1);
        tail.reverse();
        tail
    };
    if n > 0 {
        list.delete(if head { 0 } else { len - n }, n);
    }
    popped
}

fn pop(ctx: &mut Ctx, argv: &[&[u8]], head: bool) -> CmdResult {
    if argv.len() > 3 {
        let name = if head { "lpop" } else { "rpop" };
        return Err(CmdError::WrongArity(name.into()));
    }
    let count = match argv.get(2) {
        Some(a) => Some(positive(a, "ERR value is out of range, must be positive")?),
        None => None,
    };
    let key = argv[1];
    let Some(list) = write_as::<List>(ctx, key)? else {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    match count {
        Some(0) => {
            ctx.out.array(0);
            return Ok(());
        }
        Some(n) => {
            let popped = pop_many(list, head, n);
            ctx.out.array(popped.len());
            for v in &popped {
                ctx.out.bulk(v);
            }
        }
        None => {
            let v = list.pop(head).expect("lists are never empty");
            ctx.out.bulk(&v);
        }
    }
    after_removal(ctx, key, pop_event(head));
    Ok(())
}

fn lpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop(ctx, argv, true)
}

fn rpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop(ctx, argv, false)
}

fn llen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let len = read_as::<List>(ctx, argv[1])?.map_or(0, |l| l.len());
    ctx.out.int(len as i64);
    Ok(())
}

/// Valkey's clamping of a start..=end range over `len` elements; None if
/// empty.
fn clamp(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

fn lrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (start, end) = (int_arg(argv[2])?, int_arg(argv[3])?);
    let Some(list) = read_as::<List>(ctx, argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let items = clamp(start, end, list.len()).map_or(Vec::new(), |(s, e)| list.range(s, e));
    ctx.out.array(items.len());
    for v in &items {
        ctx.out.bulk(v);
    }
    Ok(())
}

fn lindex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let index = int_arg(argv[2])?;
    match read_as::<List>(ctx, argv[1])?.and_then(|l| l.get(index)) {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let index = int_arg(argv[2])?;
    let fill = fill(ctx);
    let Some(list) = write_as::<List>(ctx, argv[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    list.grow_for(fill, std::iter::once(argv[3].len()));
    if !list.set(index, argv[3]) {
        return Err(err("ERR index out of range"));
    }
    // A big element replaced by a small one may let it shrink back.
    list.shrunk(fill);
    ctx.changed(LIST, "lset", argv[1]);
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let after = match argv[2] {
        w if is(w, "after") => true,
        w if is(w, "before") => false,
        _ => return Err(CmdError::Syntax),
    };
    let (pivot, ele) = (argv[3], argv[4]);
    let fill = fill(ctx);
    let Some(list) = write_as::<List>(ctx, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    list.grow_for(fill, std::iter::once(ele.len()));
    let Some(at) = list.iter().position(|i| i.eq_bytes(pivot)) else {
        ctx.out.int(-1);
        return Ok(());
    };
    list.insert_at(at + usize::from(after), ele);
    let len = list.len();
    ctx.changed(LIST, "linsert", argv[1]);
    ctx.out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let count = int_arg(argv[2])?;
    let (key, ele) = (argv[1], argv[3]);
    let Some(list) = write_as::<List>(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let len = list.len();
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    // Matching indexes, from the end LREM starts at.
    let mut hits: Vec<usize> = if count < 0 {
        let found = list
            .iter()
            .rev()
            .enumerate()
            .filter(|(_, i)| i.eq_bytes(ele));
        found.map(|(k, _)| len - 1 - k).take(limit).collect()
    } else {
        let found = list.iter().enumerate().filter(|(_, i)| i.eq_bytes(ele));
        found.map(|(k, _)| k).take(limit).collect()
    };
    // Delete from the back so earlier indexes stay valid.
    hits.sort_unstable_by(|a, b| b.cmp(a));
    for &i in &hits {
        list.delete(i, 1);
    }
    ctx.out.int(hits.len() as i64);
    if !hits.is_empty() {
        after_removal(ctx, key, "lrem");
    }
    Ok(())
}

fn ltrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (start, end) = (int_arg(argv[2])?, int_arg(argv[3])?);
    let key = argv[1];
    if let Some(list) = write_as::<List>(ctx, key)? {
        let len = list.len();
        match clamp(start, end, len) {
            Some((s, e)) => {
                list.delete(e + 1, len - e - 1);
                list.delete(0, s);
            }
            None => list.delete(0, len),
        }
        after_removal(ctx, key, "ltrim");
    }
    ctx.out.ok();
    Ok(())
}

fn lpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let ele = argv[2];
    let (mut rank, mut count, mut maxlen): (i64, Option<usize>, usize) = (1, None, 0);
    let mut args = argv[3..].iter();
    while let Some(opt) = args.next() {
        let value = args.as_slice().first();
        match (opt, value) {
            (o, Some(v)) if is(o, "rank") => {
                rank = signed_count(v)?;
                if rank == 0 {
                    return Err(err(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    ));
                }
            }
            (o, Some(v)) if is(o, "count") => {
                count = Some(positive(v, "ERR COUNT can't be negative")?);
            }
            (o, Some(v)) if is(o, "maxlen") => {
                maxlen = positive(v, "ERR MAXLEN can't be negative")?;
            }
            _ => return Err(CmdError::Syntax),
        }
        args.next();
    }
    let Some(list) = read_as::<List>(ctx, argv[1])? else {
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let len = list.len();
    let from_tail = rank < 0;
    let skip = rank.unsigned_abs() as usize - 1;
    let scanned: Box<dyn Iterator<Item = _>> = if from_tail {
        Box::new(list.iter().rev().enumerate().map(|(k, i)| (len - 1 - k, i)))
    } else {
        Box::new(list.iter().enumerate())
    };
    let limit = if maxlen == 0 { usize::MAX } else { maxlen };
    let want = match count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => n,
    };
    let found: Vec<usize> = scanned
        .take(limit)
        .filter(|(_, i)| i.eq_bytes(ele))
        .map(|(k, _)| k)
        .skip(skip)
        .take(want)
        .collect();
    match (count, found.first()) {
        (None, Some(&k)) => ctx.out.int(k as i64),
        (None, None) => ctx.out.null(),
        (Some(_), _) => {
            ctx.out.array(found.len());
            for k in found {
                ctx.out.int(k as i64);
            }
        }
    }
    Ok(())
}

/// LEFT or RIGHT: true for LEFT (the head).
fn side(arg: &[u8]) -> Result<bool, CmdError> {
    match arg {
        a if is(a, "left") => Ok(true),
        a if is(a, "right") => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

fn lmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (from, to) = (side(argv[3])?, side(argv[4])?);
    move_one(ctx, argv[1], argv[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    move_one(ctx, argv[1], argv[2], false, true)
}

/// LMOVE: pops from one end of `src`, pushes onto an end of `dst` (which
/// may be the same list), replies with the element.
fn move_one(ctx: &mut Ctx, src: &[u8], dst: &[u8], from_head: bool, to_head: bool) -> CmdResult {
    if write_as::<List>(ctx, src)?.is_none() {
        ctx.out.null();
        return Ok(());
    }
    // The destination's type is checked before anything moves.
    let dst_exists = write_as::<List>(ctx, dst)?.is_some();
    let fill = fill(ctx);
    let v = write_as::<List>(ctx, src)?
        .and_then(|l| l.pop(from_head))
        .expect("lists are never empty");
    if !dst_exists && src != dst {
        let now = ctx.now_ms;
        ctx.db()
            .insert(dst, Value::List(List::default()), None, now);
    }
    let target = write_as::<List>(ctx, dst)?.expect("present");
    target.grow_for(fill, std::iter::once(v.len()));
    target.push(&v, to_head);
    ctx.changed(LIST, push_event(to_head), dst);
    after_removal(ctx, src, pop_event(from_head));
    ctx.out.bulk(&v);
    let db = ctx.client.db;
    ctx.srv.blocking.signal(db, dst);
    Ok(())
}

/// Pops from the first key holding a list: replies [key, [elements]] and
/// returns true, or false if every key is missing.
fn pop_first(ctx: &mut Ctx, keys: &[&[u8]], head: bool, count: usize) -> Result<bool, CmdError> {
    for key in keys {
        let Some(list) = write_as::<List>(ctx, key)? else {
            continue;
        };
        let popped = pop_many(list, head, count);
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(popped.len());
        for v in &popped {
            ctx.out.bulk(v);
        }
        after_removal(ctx, key, pop_event(head));
        return Ok(true);
    }
    Ok(false)
}

fn lmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, head, count) = mpop_args(&argv[1..], side)?;
    if !pop_first(ctx, keys, head, count)? {
        ctx.out.null_array();
    }
    Ok(())
}

/// BLPOP / BRPOP: the first non-empty list among the keys pops one
/// element, replied as [key, element]; else the client blocks.
fn bpop(ctx: &mut Ctx, argv: &[&[u8]], head: bool) -> CmdResult {
    let at = deadline(ctx, argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    for key in keys {
        let Some(list) = write_as::<List>(ctx, key)? else {
            continue;
        };
        let v = list.pop(head).expect("lists are never empty");
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.bulk(&v);
        after_removal(ctx, key, pop_event(head));
        return Ok(());
    }
    block(ctx, keys, at, "list", ReplyWriter::null_array);
    Ok(())
}

fn blpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bpop(ctx, argv, true)
}

fn brpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bpop(ctx, argv, false)
}

/// BLMOVE / BRPOPLPUSH: LMOVE if the source holds a list, else block on it.
fn bmove(ctx: &mut Ctx, argv: &[&[u8]], from: bool, to: bool, timeout: &[u8]) -> CmdResult {
    let at = deadline(ctx, timeout)?;
    if write_as::<List>(ctx, argv[1])?.is_none() {
        block(ctx, &argv[1..2], at, "list", ReplyWriter::null);
        return Ok(());
    }
    move_one(ctx, argv[1], argv[2], from, to)
}

fn blmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (from, to) = (side(argv[3])?, side(argv[4])?);
    bmove(ctx, argv, from, to, argv[5])
}

fn brpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bmove(ctx, argv, false, true, argv[3])
}

fn blmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, head, count) = mpop_args(&argv[2..], side)?;
    let at = deadline(ctx, argv[1])?;
    if !pop_first(ctx, keys, head, count)? {
        block(ctx, keys, at, "list", ReplyWriter::null_array);
    }
    Ok(())
}
