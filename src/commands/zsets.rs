//! Sorted set commands (Valkey's t_zset.c): adding and scoring, ranks,
//! the ZRANGE family (by rank, score or lex; REV, LIMIT, WITHSCORES,
//! STORE), removals by range, pops (blocking ones too), ZRANDMEMBER,
//! ZSCAN, and the set operations ZUNION / ZINTER / ZDIFF (STORE, WEIGHTS,
//! AGGREGATE; plain sets count as score 1) and ZINTERCARD.

use ferrokv_transport::{Protocol, ReplyWriter};

use super::{
    Command, Ctx, ScanArgs, block, deadline, distinct_positions, int_arg, is, ks, ks_keynum,
    looked_up, mpop_args, read_as, reply_scan, signed_count, write_as,
};
use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::events::ZSET;
use crate::types::Value;
use crate::types::zset::{Entries, Limits, Walked, ZSet, score_of};
use crate::util::parse_i64;

const W_FAST: &str = "@write @sortedset @fast";
const W_SLOW: &str = "@write @sortedset @slow";
const R_FAST: &str = "@read @sortedset @fast";
const R_SLOW: &str = "@read @sortedset @slow";
const W_BLOCK_FAST: &str = "@write @sortedset @fast @blocking";
const W_BLOCK: &str = "@write @sortedset @slow @blocking";

pub const COMMANDS: &[Command] =
    &[
        Command::new("zadd", -4, "write denyoom fast", (1, 1, 1), W_FAST, zadd).keys(&[ks(
            "RW update",
            1,
            0,
            1,
        )]),
        Command::new(
            "zincrby",
            4,
            "write denyoom fast",
            (1, 1, 1),
            W_FAST,
            zincrby,
        )
        .keys(&[ks("RW access update", 1, 0, 1)]),
        Command::new("zrem", -3, "write fast", (1, 1, 1), W_FAST, zrem).keys(&[ks(
            "RW delete",
            1,
            0,
            1,
        )]),
        Command::new("zcard", 2, "readonly fast", (1, 1, 1), R_FAST, zcard)
            .keys(&[ks("RO", 1, 0, 1)]),
        Command::new("zcount", 4, "readonly fast", (1, 1, 1), R_FAST, zcount).keys(&[ks(
            "RO access",
            1,
            0,
            1,
        )]),
        Command::new(
            "zlexcount",
            4,
            "readonly fast",
            (1, 1, 1),
            R_FAST,
            zlexcount,
        )
        .keys(&[ks("RO access", 1, 0, 1)]),
        Command::new("zscore", 3, "readonly fast", (1, 1, 1), R_FAST, zscore).keys(&[ks(
            "RO access",
            1,
            0,
            1,
        )]),
        Command::new("zmscore", -3, "readonly fast", (1, 1, 1), R_FAST, zmscore).keys(&[ks(
            "RO access",
            1,
            0,
            1,
        )]),
        Command::new("zrank", -3, "readonly fast", (1, 1, 1), R_FAST, zrank).keys(&[ks(
            "RO access",
            1,
            0,
            1,
        )]),
        Command::new("zrevrank", -3, "readonly fast", (1, 1, 1), R_FAST, zrevrank).keys(&[ks(
            "RO access",
            1,
            0,
            1,
        )]),
        Command::new("zrange", -4, "readonly", (1, 1, 1), R_SLOW, zrange).keys(&[ks(
            "RO access",
            1,
            0,
            1,
        )]),
        Command::new(
            "zrangestore",
            -5,
            "write denyoom",
            (1, 2, 1),
            W_SLOW,
            zrangestore,
        )
        .keys(&[ks("OW update", 1, 0, 1), ks("RO access", 2, 0, 1)]),
        Command::new("zrevrange", -4, "readonly", (1, 1, 1), R_SLOW, zrevrange).keys(&[ks(
            "RO access",
            1,
            0,
            1,
        )]),
        Command::new(
            "zrangebyscore",
            -4,
            "readonly",
            (1, 1, 1),
            R_SLOW,
            zrangebyscore,
        )
        .keys(&[ks("RO access", 1, 0, 1)]),
        Command::new(
            "zrevrangebyscore",
            -4,
            "readonly",
            (1, 1, 1),
            R_SLOW,
            zrevrangebyscore,
        )
        .keys(&[ks("RO access", 1, 0, 1)]),
        Command::new(
            "zrangebylex",
            -4,
            "readonly",
            (1, 1, 1),
            R_SLOW,
            zrangebylex,
        )
        .keys(&[ks("RO access", 1, 0, 1)]),
        Command::new(
            "zrevrangebylex",
            -4,
            "readonly",
            (1, 1, 1),
            R_SLOW,
            zrevrangebylex,
        )
        .keys(&[ks("RO access", 1, 0, 1)]),
        Command::new(
            "zremrangebyrank",
            4,
            "write",
            (1, 1, 1),
            W_SLOW,
            zremrangebyrank,
        )
        .keys(&[ks("RW delete", 1, 0, 1)]),
        Command::new(
            "zremrangebyscore",
            4,
            "write",
            (1, 1, 1),
            W_SLOW,
            zremrangebyscore,
        )
        .keys(&[ks("RW delete", 1, 0, 1)]),
        Command::new(
            "zremrangebylex",
            4,
            "write",
            (1, 1, 1),
            W_SLOW,
            zremrangebylex,
        )
        .keys(&[ks("RW delete", 1, 0, 1)]),
        Command::new("zpopmin", -2, "write fast", (1, 1, 1), W_FAST, zpopmin).keys(&[ks(
            "RW access delete",
            1,
            0,
            1,
        )]),
        Command::new("zpopmax", -2, "write fast", (1, 1, 1), W_FAST, zpopmax).keys(&[ks(
            "RW access delete",
            1,
            0,
            1,
        )]),
        Command::new(
            "bzpopmin",
            -3,
            "write blocking fast",
            (1, -2, 1),
            W_BLOCK_FAST,
            bzpopmin,
        )
        .keys(&[ks("RW access delete", 1, -2, 1)]),
        Command::new(
            "bzpopmax",
            -3,
            "write blocking fast",
            (1, -2, 1),
            W_BLOCK_FAST,
            bzpopmax,
        )
        .keys(&[ks("RW access delete", 1, -2, 1)]),
        Command::new(
            "bzmpop",
            -5,
            "write blocking movablekeys",
            (0, 0, 0),
            W_BLOCK,
            bzmpop,
        )
        .keys(&[ks_keynum("RW access delete", 2, 0, 1, 1)]),
        Command::new(
            "zrandmember",
            -2,
            "readonly",
            (1, 1, 1),
            R_SLOW,
            zrandmember,
        )
        .keys(&[ks("RO access", 1, 0, 1)])
        .tips("nondeterministic_output"),
        Command::new("zscan", -3, "readonly", (1, 1, 1), R_SLOW, zscan)
            .keys(&[ks("RO access", 1, 0, 1)])
            .tips("nondeterministic_output"),
        Command::new(
            "zunion",
            -3,
            "readonly movablekeys",
            (0, 0, 0),
            R_SLOW,
            zunion,
        )
        .keys(&[ks_keynum("RO access", 1, 0, 1, 1)]),
        Command::new(
            "zinter",
            -3,
            "readonly movablekeys",
            (0, 0, 0),
            R_SLOW,
            zinter,
        )
        .keys(&[ks_keynum("RO access", 1, 0, 1, 1)]),
        Command::new(
            "zdiff",
            -3,
            "readonly movablekeys",
            (0, 0, 0),
            R_SLOW,
            zdiff,
        )
        .keys(&[ks_keynum("RO access", 1, 0, 1, 1)]),
        Command::new(
            "zintercard",
            -3,
            "readonly movablekeys",
            (0, 0, 0),
            R_SLOW,
            zintercard,
        )
        .keys(&[ks_keynum("RO access", 1, 0, 1, 1)]),
        Command::new(
            "zunionstore",
            -4,
            "write denyoom movablekeys",
            (1, 1, 1),
            W_SLOW,
            zunionstore,
        )
        .keys(&[ks("OW update", 1, 0, 1), ks_keynum("RO access", 2, 0, 1, 1)]),
        Command::new(
            "zinterstore",
            -4,
            "write denyoom movablekeys",
            (1, 1, 1),
            W_SLOW,
            zinterstore,
        )
        .keys(&[ks("OW update", 1, 0, 1), ks_keynum("RO access", 2, 0, 1, 1)]),
        Command::new(
            "zdiffstore",
            -4,
            "write denyoom movablekeys",
            (1, 1, 1),
            W_SLOW,
            zdiffstore,
        )
        .keys(&[ks("OW update", 1, 0, 1), ks_keynum("RO access", 2, 0, 1, 1)]),
        Command::new("zmpop", -4, "write movablekeys", (0, 0, 0), W_SLOW, zmpop)
            .keys(&[ks_keynum("RW access delete", 1, 0, 1, 1)]),
    ];

fn limits(ctx: &Ctx) -> Limits {
    let c = &ctx.srv.config;
    Limits {
        entries: usize::try_from(c.zset_max_listpack_entries).unwrap_or(0),
        value: usize::try_from(c.zset_max_listpack_value).unwrap_or(0),
    }
}

fn score_arg(arg: &[u8]) -> Result<f64, CmdError> {
    parse_score(arg, true).ok_or(CmdError::NotFloat)
}

/// A score as Valkey reads one: decimal digits with an optional exponent,
/// or "inf" / "-inf"; no leading space, no hexadecimal, no NaN. `strict`
/// (scores to store) also refuses literals too large or too small for a
/// double, which range bounds accept as infinities and zeros.
fn parse_score(arg: &[u8], strict: bool) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty() || text.starts_with(char::is_whitespace) || text.contains(['x', 'X']) {
        return None;
    }
    let v: f64 = text.parse().ok()?;
    let literal_inf = text
        .trim_start_matches(['+', '-'])
        .eq_ignore_ascii_case("inf")
        || text
            .trim_start_matches(['+', '-'])
            .eq_ignore_ascii_case("infinity");
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let underflow = v == 0.0 && mantissa.contains(|c: char| ('1'..='9').contains(&c));
    let in_range = (v.is_finite() || literal_inf) && !underflow;
    (!v.is_nan() && (in_range || !strict)).then_some(v)
}

/// ZADD's flags.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What zsetAdd did to one member.
enum Added {
    New(f64),
    Updated(f64),
    /// Already at that score (counts as processed for INCR's reply).
    Same(f64),
    /// Left alone (NX on an existing member, XX on a new one, GT/LT).
    Nop,
}

/// Valkey's zsetAdd for one member.
fn add_one(
    z: &mut ZSet,
    limits: Limits,
    f: AddFlags,
    member: &[u8],
    score: f64,
) -> Result<Added, CmdError> {
    match z.score(member) {
        Some(current) => {
            if f.nx {
                return Ok(Added::Nop);
            }
            let score = if f.incr { score + current } else { score };
            if score.is_nan() {
                return Err(err("ERR resulting score is not a number (NaN)"));
            }
            if (f.lt && score >= current) || (f.gt && score <= current) {
                return Ok(Added::Nop);
            }
            if score == current {
                return Ok(Added::Same(score));
            }
            z.insert(limits, member, score);
            Ok(Added::Updated(score))
        }
        None if f.xx => Ok(Added::Nop),
        None => {
            z.insert(limits, member, score);
            Ok(Added::New(score))
        }
    }
}

/// ZADD and ZINCRBY.
fn add_generic(ctx: &mut Ctx, argv: &[&[u8]], mut f: AddFlags) -> CmdResult {
    let key = argv[1];
    let mut at = 2;
    while let Some(opt) = argv.get(at) {
        match opt {
            o if is(o, "nx") => f.nx = true,
            o if is(o, "xx") => f.xx = true,
            o if is(o, "ch") => f.ch = true,
            o if is(o, "incr") => f.incr = true,
            o if is(o, "gt") => f.gt = true,
            o if is(o, "lt") => f.lt = true,
            _ => break,
        }
        at += 1;
    }
    let pairs = &argv[at..];
    if pairs.is_empty() || pairs.len() % 2 == 1 {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs.len() > 2 {
        return Err(err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let scores: Vec<f64> = pairs
        .iter()
        .step_by(2)
        .map(|s| score_arg(s))
        .collect::<Result<_, _>>()?;
    let members: Vec<&[u8]> = pairs.iter().skip(1).step_by(2).copied().collect();
    let limits = limits(ctx);
    let longest = members.iter().map(|m| m.len()).max().unwrap_or(0);
    let z = match write_as::<ZSet>(ctx, key)? {
        Some(z) => {
            z.expect(limits, members.len(), longest);
            Some(z)
        }
        None if f.xx => None,
        None => {
            let now = ctx.now_ms;
            let z = ZSet::new(limits, members.len(), longest);
            ctx.db().insert(key, Value::ZSet(z), None, now);
            write_as::<ZSet>(ctx, key)?
        }
    };
    let (mut added, mut updated, mut last) = (0, 0, None);
    if let Some(z) = z {
        for (m, s) in members.iter().zip(scores) {
            match add_one(z, limits, f, m, s)? {
                Added::New(v) => {
                    added += 1;
                    last = Some(v);
                }
                Added::Updated(v) => {
                    updated += 1;
                    last = Some(v);
                }
                Added::Same(v) => last = Some(v),
                Added::Nop => {}
            }
        }
    }
    if added > 0 {
        let db = ctx.client.db;
        ctx.srv.blocking.signal(db, key);
    }
    if added + updated > 0 {
        ctx.changed(ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if f.incr {
        match last {
            Some(v) => ctx.out.double(v),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if f.ch { added + updated } else { added });
    }
    Ok(())
}

fn zadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    add_generic(ctx, argv, AddFlags::default())
}

fn zincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    add_generic(
        ctx,
        argv,
        AddFlags {
            incr: true,
            ..Default::default()
        },
    )
}

fn zrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let Some(z) = write_as::<ZSet>(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = argv[2..].iter().filter(|m| z.remove(m).is_some()).count();
    if removed > 0 {
        let empty = z.is_empty();
        ctx.removed_from(ZSET, "zrem", key, empty);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn zcard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = read_as::<ZSet>(ctx, argv[1])?.map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match read_as::<ZSet>(ctx, argv[1])?.and_then(|z| z.score(argv[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let scores: Vec<Option<f64>> = match read_as::<ZSet>(ctx, argv[1])? {
        Some(z) => argv[2..].iter().map(|m| z.score(m)).collect(),
        None => vec![None; argv.len() - 2],
    };
    ctx.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn rank_generic(ctx: &mut Ctx, argv: &[&[u8]], reverse: bool) -> CmdResult {
    let with_score = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && is(a, "withscore") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let found = read_as::<ZSet>(ctx, argv[1])?.and_then(|z| {
        let rank = z.rank(argv[2])?;
        let score = z.score(argv[2])?;
        Some((if reverse { z.len() - 1 - rank } else { rank }, score))
    });
    match (found, with_score) {
        (Some((r, _)), false) => ctx.out.int(r as i64),
        (Some((r, s)), true) => {
            ctx.out.array(2);
            ctx.out.int(r as i64);
            ctx.out.double(s);
        }
        (None, false) => ctx.out.null(),
        (None, true) => ctx.out.null_array(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, argv, false)
}

fn zrevrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, argv, true)
}

/// One end of a score range: the value and whether it is excluded.
#[derive(Clone, Copy)]
struct ScoreBound(f64, bool);

/// A score range item as zslParseRange reads it ("(1.5", "-inf", ...);
/// an empty number reads as 0, as Valkey's parser lets it.
fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, number) = match arg.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    let v = if number.is_empty() {
        0.0
    } else {
        parse_score(number, false)?
    };
    Some(ScoreBound(v, exclusive))
}

fn score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), CmdError> {
    match (score_bound(min), score_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(err("ERR min or max is not a float")),
    }
}

fn in_score_range(s: f64, (min, max): (ScoreBound, ScoreBound)) -> bool {
    (if min.1 { s > min.0 } else { s >= min.0 }) && (if max.1 { s < max.0 } else { s <= max.0 })
}

/// One end of a lex range: "-", "+", "[x" or "(x".
#[derive(Clone)]
enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg.first()? {
        b'-' if arg.len() == 1 => Some(LexBound::Min),
        b'+' if arg.len() == 1 => Some(LexBound::Max),
        b'[' => Some(LexBound::Incl(arg[1..].to_vec())),
        b'(' => Some(LexBound::Excl(arg[1..].to_vec())),
        _ => None,
    }
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<(LexBound, LexBound), CmdError> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(err("ERR min or max not valid string range item")),
    }
}

fn in_lex_range(m: &[u8], (min, max): &(LexBound, LexBound)) -> bool {
    let above = match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Incl(b) => m >= b.as_slice(),
        LexBound::Excl(b) => m > b.as_slice(),
    };
    let below = match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Incl(b) => m <= b.as_slice(),
        LexBound::Excl(b) => m < b.as_slice(),
    };
    above && below
}

/// A test on an entry, one end of a range.
type Bound = Box<dyn Fn(&[u8], f64) -> bool>;

#[derive(Clone, Copy, PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE: how to select, which way, LIMIT, WITHSCORES.
struct RangeSpec {
    by: By,
    rev: bool,
    limit: Option<(i64, i64)>,
    with_scores: bool,
}

/// ZRANGE's options after `key min max` (`fixed`: the command names the
/// kind and direction itself, as ZRANGEBYSCORE does).
fn range_spec(opts: &[&[u8]], fixed: Option<(By, bool)>) -> Result<RangeSpec, CmdError> {
    let mut spec = RangeSpec {
        by: By::Rank,
        rev: false,
        limit: None,
        with_scores: false,
    };
    if let Some((by, rev)) = fixed {
        (spec.by, spec.rev) = (by, rev);
    }
    let mut i = 0;
    while i < opts.len() {
        let o = opts[i];
        if is(o, "withscores") {
            spec.with_scores = true;
        } else if is(o, "limit") && opts.len() - i > 2 {
            spec.limit = Some((int_arg(opts[i + 1])?, int_arg(opts[i + 2])?));
            i += 2;
        } else if fixed.is_none() && is(o, "rev") {
            spec.rev = true;
        } else if fixed.is_none() && is(o, "bylex") {
            spec.by = By::Lex;
        } else if fixed.is_none() && is(o, "byscore") {
            spec.by = By::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if spec.limit.is_some() && spec.by == By::Rank {
        return Err(err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if spec.with_scores && spec.by == By::Lex {
        return Err(err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(spec)
}

/// Valkey's clamping of a rank range; None if empty.
fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
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

/// The selected (member, score) pairs in reply order. For REV with
/// BYSCORE / BYLEX the bounds come as max, min.
fn select<'z>(
    z: &'z ZSet,
    spec: &RangeSpec,
    a: &[u8],
    b: &[u8],
) -> Result<Vec<Walked<'z>>, CmdError> {
    let len = z.len();
    let chosen: Vec<Walked> = match spec.by {
        By::Rank => {
            let (start, end) = (int_arg(a)?, int_arg(b)?);
            match rank_range(start, end, len) {
                // Ranks count from the top with REV.
                Some((s, e)) if spec.rev => z.walk(len - 1 - s, true).take(e - s + 1).collect(),
                Some((s, e)) => z.walk(s, false).take(e - s + 1).collect(),
                None => Vec::new(),
            }
        }
        By::Score | By::Lex => {
            let (min, max) = if spec.rev { (b, a) } else { (a, b) };
            // Valkey starts at the first element past the range's start
            // (in the reply's direction) and walks while elements stay
            // before its end. For scores that is the range; for lex it is
            // the range when all scores are equal (as BYLEX expects).
            let (above, below): (Bound, Bound) = if spec.by == By::Score {
                let (lo, hi) = score_range(min, max)?;
                (
                    Box::new(move |_, s| in_score_range(s, (lo, ScoreBound(f64::INFINITY, false)))),
                    Box::new(move |_, s| {
                        in_score_range(s, (ScoreBound(f64::NEG_INFINITY, false), hi))
                    }),
                )
            } else {
                let (lo, hi) = lex_range(min, max)?;
                let (from, to) = ((lo, LexBound::Max), (LexBound::Min, hi));
                (
                    Box::new(move |m, _| in_lex_range(m, &from)),
                    Box::new(move |m, _| in_lex_range(m, &to)),
                )
            };
            let hits: Box<dyn Iterator<Item = Walked>> = if spec.rev {
                match z.last_where(&below) {
                    Some(last) => {
                        Box::new(z.walk(last, true).take_while(move |(m, s)| above(m, *s)))
                    }
                    None => Box::new(std::iter::empty()),
                }
            } else {
                let first = z.first_where(&above);
                Box::new(z.walk(first, false).take_while(move |(m, s)| below(m, *s)))
            };
            match spec.limit {
                Some((offset, _)) if offset < 0 => Vec::new(),
                Some((offset, count)) => {
                    let count = if count < 0 {
                        usize::MAX
                    } else {
                        count as usize
                    };
                    hits.skip(offset as usize).take(count).collect()
                }
                None => hits.collect(),
            }
        }
    };
    Ok(chosen)
}

/// The ranges' own argument errors come before the key's type (Valkey
/// parses the range first).
fn check_bounds(spec: &RangeSpec, a: &[u8], b: &[u8]) -> Result<(), CmdError> {
    match spec.by {
        By::Rank => {
            int_arg(a)?;
            int_arg(b)?;
        }
        By::Score => {
            score_range(a, b)?;
        }
        By::Lex => {
            lex_range(a, b)?;
        }
    }
    Ok(())
}

fn reply_range<M: AsRef<[u8]>>(out: &mut ReplyWriter, items: &[(M, f64)], with_scores: bool) {
    let resp3 = out.proto == Protocol::Resp3;
    out.array(if with_scores && !resp3 {
        items.len() * 2
    } else {
        items.len()
    });
    for (m, s) in items {
        if with_scores && resp3 {
            out.array(2);
        }
        out.bulk(m.as_ref());
        if with_scores {
            out.double(*s);
        }
    }
}

fn range_generic(ctx: &mut Ctx, argv: &[&[u8]], fixed: Option<(By, bool)>) -> CmdResult {
    let spec = range_spec(&argv[4..], fixed)?;
    check_bounds(&spec, argv[2], argv[3])?;
    if read_as::<ZSet>(ctx, argv[1])?.is_none() {
        ctx.out.array(0);
        return Ok(());
    }
    // The set and the reply borrowed apart: members go out uncopied.
    let (db, out) = ctx.db_and_out();
    let z = db.get_typed::<ZSet>(argv[1]).expect("looked up above");
    let z: &ZSet = &z;
    let items = select(z, &spec, argv[2], argv[3])?;
    reply_range(out, &items, spec.with_scores);
    Ok(())
}

fn zrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, None)
}

fn zrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some((By::Rank, true)))
}

fn zrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some((By::Score, false)))
}

fn zrevrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some((By::Score, true)))
}

fn zrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some((By::Lex, false)))
}

fn zrevrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some((By::Lex, true)))
}

fn zrangestore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (dst, src) = (argv[1], argv[2]);
    let spec = range_spec(&argv[5..], None)?;
    if spec.with_scores {
        return Err(CmdError::Syntax);
    }
    check_bounds(&spec, argv[3], argv[4])?;
    let items = match read_as::<ZSet>(ctx, src)? {
        Some(z) => owned(select(&z, &spec, argv[3], argv[4])?),
        None => Vec::new(),
    };
    store(ctx, dst, &items, "zrangestore");
    Ok(())
}

/// Stores `items` (sorted) as the sorted set `dst`, or deletes `dst` when
/// there are none (the *STORE commands, raising `event`); replies with the
/// count.
fn store(ctx: &mut Ctx, dst: &[u8], items: &[(Vec<u8>, f64)], event: &str) {
    let limits = limits(ctx);
    let now = ctx.now_ms;
    if items.is_empty() {
        ctx.delete_key(dst);
    } else {
        let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let mut z = ZSet::new(limits, items.len(), longest);
        for (m, s) in items {
            z.insert(limits, m, *s);
        }
        ctx.db().insert(dst, Value::ZSet(z), None, now);
        let db = ctx.client.db;
        ctx.srv.blocking.signal(db, dst);
        ctx.changed(ZSET, event, dst);
    }
    ctx.out.int(items.len() as i64);
}

/// Entries met on a walk, copied out of the set.
fn owned(walked: Vec<Walked>) -> Vec<(Vec<u8>, f64)> {
    walked
        .into_iter()
        .map(|(m, s)| (m.into_owned(), s))
        .collect()
}

fn zcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (lo, hi) = score_range(argv[2], argv[3])?;
    let n = read_as::<ZSet>(ctx, argv[1])?.map_or(0, |z| {
        count_between(
            &z,
            |_, s| in_score_range(s, (lo, ScoreBound(f64::INFINITY, false))),
            |_, s| in_score_range(s, (ScoreBound(f64::NEG_INFINITY, false), hi)),
        )
    });
    ctx.out.int(n as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (lo, hi) = lex_range(argv[2], argv[3])?;
    let (from, to) = ((lo, LexBound::Max), (LexBound::Min, hi));
    let n = read_as::<ZSet>(ctx, argv[1])?.map_or(0, |z| {
        count_between(
            &z,
            |m, _| in_lex_range(m, &from),
            |m, _| in_lex_range(m, &to),
        )
    });
    ctx.out.int(n as i64);
    Ok(())
}

/// How many entries are at or past the first one `above` holds for while
/// `below` still holds: the tree answers from two searches, a listpack by
/// walking (as Valkey counts each).
fn count_between(
    z: &ZSet,
    above: impl Fn(&[u8], f64) -> bool,
    below: impl Fn(&[u8], f64) -> bool,
) -> usize {
    let first = z.first_where(&above);
    match z {
        ZSet::Skiplist(_) => z
            .last_where(&below)
            .map_or(0, |last| (last + 1).saturating_sub(first)),
        ZSet::Listpack(_) => z
            .walk(first, false)
            .take_while(|(m, s)| below(m, *s))
            .count(),
    }
}

fn remrange(ctx: &mut Ctx, argv: &[&[u8]], by: By) -> CmdResult {
    let key = argv[1];
    let spec = RangeSpec {
        by,
        rev: false,
        limit: None,
        with_scores: false,
    };
    check_bounds(&spec, argv[2], argv[3])?;
    let Some(z) = write_as::<ZSet>(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let doomed = owned(select(z, &spec, argv[2], argv[3])?);
    for (m, _) in &doomed {
        z.remove(m);
    }
    if !doomed.is_empty() {
        let empty = z.is_empty();
        let event = match by {
            By::Rank => "zremrangebyrank",
            By::Score => "zremrangebyscore",
            By::Lex => "zremrangebylex",
        };
        ctx.removed_from(ZSET, event, key, empty);
    }
    ctx.out.int(doomed.len() as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    remrange(ctx, argv, By::Rank)
}

fn zremrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    remrange(ctx, argv, By::Score)
}

fn zremrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    remrange(ctx, argv, By::Lex)
}

/// Pops up to `count` lowest (or highest) members of the set at `key`.
fn pop_from(
    ctx: &mut Ctx,
    key: &[u8],
    max: bool,
    count: usize,
) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let Some(z) = write_as::<ZSet>(ctx, key)? else {
        return Ok(Vec::new());
    };
    let from = if max { z.len() - 1 } else { 0 };
    let entries = owned(z.walk(from, max).take(count).collect());
    for (m, _) in &entries {
        z.remove(m);
    }
    if !entries.is_empty() {
        let empty = z.is_empty();
        ctx.removed_from(ZSET, if max { "zpopmax" } else { "zpopmin" }, key, empty);
    }
    Ok(entries)
}

fn pop_generic(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.get(2) {
        Some(a) => match parse_i64(a) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Err(err("ERR value is out of range, must be positive")),
        },
        None => None,
    };
    read_as::<ZSet>(ctx, argv[1])?;
    let popped = pop_from(ctx, argv[1], max, count.unwrap_or(1))?;
    // RESP3 nests [member, score] pairs when a count was given.
    let nested = ctx.own_io.resp == 3 && count.is_some();
    ctx.out.array(if nested {
        popped.len()
    } else {
        popped.len() * 2
    });
    for (m, s) in &popped {
        if nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(m);
        ctx.out.double(*s);
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, true)
}

/// MIN or MAX: true for MAX (the top).
fn zside(arg: &[u8]) -> Result<bool, CmdError> {
    match arg {
        s if is(s, "min") => Ok(false),
        s if is(s, "max") => Ok(true),
        _ => Err(CmdError::Syntax),
    }
}

/// Pops from the first key holding a sorted set: replies [key, [[member,
/// score], ...]] and returns true, or false if every key is missing.
fn mpop_first(ctx: &mut Ctx, keys: &[&[u8]], max: bool, count: usize) -> Result<bool, CmdError> {
    for key in keys {
        if read_as::<ZSet>(ctx, key)?.is_none() {
            continue;
        }
        let popped = pop_from(ctx, key, max, count)?;
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(popped.len());
        for (m, s) in &popped {
            ctx.out.array(2);
            ctx.out.bulk(m);
            ctx.out.double(*s);
        }
        return Ok(true);
    }
    Ok(false)
}

fn zmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, max, count) = mpop_args(&argv[1..], zside)?;
    if !mpop_first(ctx, keys, max, count)? {
        ctx.out.null_array();
    }
    Ok(())
}

/// BZPOPMIN / BZPOPMAX: [key, member, score] from the first non-empty
/// sorted set, else block.
fn bzpop(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    let at = deadline(ctx, argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    for key in keys {
        if read_as::<ZSet>(ctx, key)?.is_none() {
            continue;
        }
        let popped = pop_from(ctx, key, max, 1)?;
        let (m, s) = &popped[0];
        ctx.out.array(3);
        ctx.out.bulk(key);
        ctx.out.bulk(m);
        ctx.out.double(*s);
        return Ok(());
    }
    block(ctx, keys, at, "zset", ReplyWriter::null_array);
    Ok(())
}

fn bzpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bzpop(ctx, argv, false)
}

fn bzpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bzpop(ctx, argv, true)
}

fn bzmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, max, count) = mpop_args(&argv[2..], zside)?;
    let at = deadline(ctx, argv[1])?;
    if !mpop_first(ctx, keys, max, count)? {
        block(ctx, keys, at, "zset", ReplyWriter::null_array);
    }
    Ok(())
}

fn zrandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.own_io.resp == 3;
    let Some(count_arg) = argv.get(2) else {
        let Some(z) = read_as::<ZSet>(ctx, argv[1])? else {
            ctx.out.null();
            return Ok(());
        };
        let len = z.len();
        let i = ctx.random_below(len);
        let (m, _) = looked_up::<ZSet>(ctx, argv[1])
            .entry_at(i)
            .expect("in range");
        ctx.out.bulk(&m);
        return Ok(());
    };
    let count = signed_count(count_arg)?;
    let with_scores = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && is(a, "withscores") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    if with_scores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(err("ERR value is out of range"));
    }
    let Some(z) = read_as::<ZSet>(ctx, argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let len = z.len();
    let picks: Vec<(Vec<u8>, f64)> = if count == 0 {
        Vec::new()
    } else if count < 0 {
        let positions: Vec<usize> = (0..count.unsigned_abs())
            .map(|_| ctx.random_below(len))
            .collect();
        let z = looked_up::<ZSet>(ctx, argv[1]);
        positions.iter().filter_map(|&i| z.entry_at(i)).collect()
    } else if count as usize >= len {
        // The whole set, as Valkey gives it: highest first.
        owned(z.walk(len - 1, true).collect())
    } else {
        let positions = distinct_positions(ctx, len, count as usize);
        let z = looked_up::<ZSet>(ctx, argv[1]);
        positions.iter().filter_map(|&i| z.entry_at(i)).collect()
    };
    ctx.out.array(if with_scores && !resp3 {
        picks.len() * 2
    } else {
        picks.len()
    });
    for (m, s) in &picks {
        if with_scores && resp3 {
            ctx.out.array(2);
        }
        ctx.out.bulk(m);
        if with_scores {
            ctx.out.double(*s);
        }
    }
    Ok(())
}

fn zscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let args = ScanArgs::parse(argv, false)?;
    let Some(z) = read_as::<ZSet>(ctx, argv[1])? else {
        reply_scan(ctx.out, 0, &[]);
        return Ok(());
    };
    // A table is walked with Valkey's cursor; a listpack is returned
    // whole.
    let (window, next) = match &*z {
        ZSet::Skiplist(t) => {
            let mut found = Vec::new();
            let next = t.scores.scan_count(args.cursor, args.count, |m| {
                found.push((m.key().to_vec(), score_of(m)))
            });
            (found, next)
        }
        ZSet::Listpack(_) => (z.entries(), 0),
    };
    let scores: Vec<(&[u8], String)> = window
        .iter()
        .filter(|(m, _)| args.matches(m))
        .map(|(m, s)| {
            (
                m.as_slice(),
                ferrokv_transport::resp::num::format_double(*s),
            )
        })
        .collect();
    let elements: Vec<&[u8]> = scores
        .iter()
        .flat_map(|(m, s)| [*m, s.as_bytes()])
        .collect();
    reply_scan(ctx.out, next, &elements);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

/// A set operation's options: WEIGHTS, AGGREGATE, WITHSCORES, LIMIT.
struct OpArgs {
    weights: Vec<f64>,
    aggregate: fn(f64, f64) -> f64,
    with_scores: bool,
    limit: usize,
}

fn sum(a: f64, b: f64) -> f64 {
    let s = a + b;
    if s.is_nan() { 0.0 } else { s }
}

/// The sources of a set operation: sorted sets as they are, plain sets
/// with every score 1; WRONGTYPE for anything else.
fn op_sources(ctx: &mut Ctx, keys: &[&[u8]]) -> Result<Vec<Entries>, CmdError> {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    keys.iter()
        .map(
            |k| match ctx.db().lookup_read(k, now, touch).map(|e| e.value()) {
                None => Ok(Vec::new()),
                Some(v) => match &*v.to_value() {
                    Value::ZSet(z) => Ok(z.entries()),
                    Value::Set(s) => Ok(s.members().into_iter().map(|m| (m, 1.0)).collect()),
                    _ => Err(CmdError::WrongType),
                },
            },
        )
        .collect()
}

fn op_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    at: usize,
    op: SetOp,
    store: bool,
    card_only: bool,
) -> CmdResult {
    let name = ctx
        .client
        .last_cmd
        .map(|id| ctx.srv.commands.full_names[id].clone())
        .unwrap_or_default();
    let numkeys = int_arg(argv[at])?;
    if numkeys < 1 {
        return Err(err(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as usize > argv.len() - at - 1 {
        return Err(CmdError::Syntax);
    }
    let keys = &argv[at + 1..at + 1 + numkeys as usize];
    let sources = op_sources(ctx, keys)?;
    let mut args = OpArgs {
        weights: vec![1.0; keys.len()],
        aggregate: sum,
        with_scores: false,
        limit: 0,
    };
    let mut rest = &argv[at + 1 + keys.len()..];
    while let Some(opt) = rest.first() {
        let left = rest.len();
        if op != SetOp::Diff && !card_only && left > keys.len() && is(opt, "weights") {
            for (w, a) in args.weights.iter_mut().zip(&rest[1..]) {
                *w = parse_score(a, true).ok_or_else(|| err("ERR weight value is not a float"))?;
            }
            rest = &rest[1 + keys.len()..];
        } else if op != SetOp::Diff && !card_only && left >= 2 && is(opt, "aggregate") {
            args.aggregate = match rest[1] {
                a if is(a, "sum") => sum,
                a if is(a, "min") => f64::min,
                a if is(a, "max") => f64::max,
                _ => return Err(CmdError::Syntax),
            };
            rest = &rest[2..];
        } else if !store && !card_only && is(opt, "withscores") {
            args.with_scores = true;
            rest = &rest[1..];
        } else if card_only && left >= 2 && is(opt, "limit") {
            args.limit = match parse_i64(rest[1]) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(err("ERR LIMIT can't be negative")),
            };
            rest = &rest[2..];
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let weighted = |i: usize, s: f64| {
        let v = args.weights[i] * s;
        if v.is_nan() { 0.0 } else { v }
    };
    let mut result: std::collections::HashMap<Vec<u8>, f64> = std::collections::HashMap::new();
    match op {
        SetOp::Union => {
            for (i, src) in sources.iter().enumerate() {
                for (m, s) in src {
                    let v = weighted(i, *s);
                    result
                        .entry(m.clone())
                        .and_modify(|acc| *acc = (args.aggregate)(*acc, v))
                        .or_insert(v);
                }
            }
        }
        SetOp::Inter => {
            let lookups: Vec<std::collections::HashMap<&[u8], f64>> = sources
                .iter()
                .map(|src| src.iter().map(|(m, s)| (m.as_slice(), *s)).collect())
                .collect();
            let mut order: Vec<usize> = (0..sources.len()).collect();
            order.sort_by_key(|&i| sources[i].len());
            let (first, others) = order.split_first().expect("at least one key");
            for (m, s) in &sources[*first] {
                let mut acc = weighted(*first, *s);
                let mut everywhere = true;
                for &j in others {
                    match lookups[j].get(m.as_slice()) {
                        Some(&v) => acc = (args.aggregate)(acc, weighted(j, v)),
                        None => {
                            everywhere = false;
                            break;
                        }
                    }
                }
                if everywhere {
                    result.insert(m.clone(), acc);
                    if card_only && args.limit > 0 && result.len() >= args.limit {
                        break;
                    }
                }
            }
        }
        SetOp::Diff => {
            let others: std::collections::HashSet<&[u8]> = sources[1..]
                .iter()
                .flat_map(|src| src.iter().map(|(m, _)| m.as_slice()))
                .collect();
            for (m, s) in &sources[0] {
                if !others.contains(m.as_slice()) {
                    result.insert(m.clone(), *s);
                }
            }
        }
    }
    if card_only {
        ctx.out.int(result.len() as i64);
        return Ok(());
    }
    let mut items: Vec<(Vec<u8>, f64)> = result.into_iter().collect();
    items.sort_by(|a, b| crate::types::zset::cmp_entry(a.1, &a.0, b.1, &b.0));
    if store {
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        self::store(ctx, argv[1], &items, event);
    } else {
        reply_range(ctx.out, &items, args.with_scores);
    }
    Ok(())
}

fn zunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    op_generic(ctx, argv, 1, SetOp::Union, false, false)
}

fn zinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    op_generic(ctx, argv, 1, SetOp::Inter, false, false)
}

fn zdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    op_generic(ctx, argv, 1, SetOp::Diff, false, false)
}

fn zintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    op_generic(ctx, argv, 1, SetOp::Inter, false, true)
}

fn zunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    op_generic(ctx, argv, 2, SetOp::Union, true, false)
}

fn zinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    op_generic(ctx, argv, 2, SetOp::Inter, true, false)
}

fn zdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    op_generic(ctx, argv, 2, SetOp::Diff, true, false)
}
