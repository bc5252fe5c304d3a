//! Pub/Sub commands (Valkey's pubsub.c): (P|S)SUBSCRIBE and their UNs,
//! PUBLISH, SPUBLISH and PUBSUB introspection. The registry and message
//! delivery live in `server::pubsub`.

use super::{Command, Ctx, ks, reply_help};
use crate::error::{CmdResult, err};
use crate::server::pubsub::{self, Kind};

const SLOW: &str = "@pubsub @slow";
const FAST: &str = "@pubsub @fast";
const SUB_FLAGS: &str = "pubsub noscript loading stale";

pub const COMMANDS: &[Command] = &[
    Command::new("subscribe", -2, SUB_FLAGS, (0, 0, 0), SLOW, subscribe),
    Command::new("unsubscribe", -1, SUB_FLAGS, (0, 0, 0), SLOW, unsubscribe),
    Command::new("psubscribe", -2, SUB_FLAGS, (0, 0, 0), SLOW, psubscribe),
    Command::new("punsubscribe", -1, SUB_FLAGS, (0, 0, 0), SLOW, punsubscribe),
    Command::new("ssubscribe", -2, SUB_FLAGS, (1, -1, 1), SLOW, ssubscribe)
        .keys(&[ks("not_key", 1, -1, 1)]),
    Command::new(
        "sunsubscribe",
        -1,
        SUB_FLAGS,
        (1, -1, 1),
        SLOW,
        sunsubscribe,
    )
    .keys(&[ks("not_key", 1, -1, 1)]),
    Command::new(
        "publish",
        3,
        "pubsub loading stale fast",
        (0, 0, 0),
        FAST,
        publish,
    ),
    Command::new(
        "spublish",
        3,
        "pubsub loading stale fast",
        (1, 1, 1),
        FAST,
        spublish,
    )
    .keys(&[ks("not_key", 1, 0, 1)]),
    Command::container("pubsub", "@slow", PUBSUB),
];

const PUBSUB: &[Command] = &[
    Command::new(
        "channels",
        -2,
        "pubsub loading stale",
        (0, 0, 0),
        SLOW,
        pubsub_channels,
    ),
    Command::new("help", 2, "loading stale", (0, 0, 0), "@slow", pubsub_help),
    Command::new(
        "numpat",
        2,
        "pubsub loading stale",
        (0, 0, 0),
        SLOW,
        pubsub_numpat,
    ),
    Command::new(
        "numsub",
        -2,
        "pubsub loading stale",
        (0, 0, 0),
        SLOW,
        pubsub_numsub,
    ),
    Command::new(
        "shardchannels",
        -2,
        "pubsub loading stale",
        (0, 0, 0),
        SLOW,
        pubsub_shardchannels,
    ),
    Command::new(
        "shardnumsub",
        -2,
        "pubsub loading stale",
        (0, 0, 0),
        SLOW,
        pubsub_shardnumsub,
    ),
];

/// One (un)subscribe confirmation: [kind, name or null, count], a push
/// frame in RESP3.
fn confirm(ctx: &mut Ctx, kind: &str, name: Option<&[u8]>, count: usize) {
    let out = &mut *ctx.out;
    out.push(3);
    out.bulk(kind.as_bytes());
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn subscribe_generic(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    for name in &argv[1..] {
        let c = &mut *ctx.client;
        ctx.srv.pubsub.subscribe(c.slot, &mut c.subs, kind, name);
        let count = c.subs.count(kind);
        confirm(ctx, kind.subscribe_name(), Some(name), count);
    }
    Ok(())
}

fn unsubscribe_generic(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    let names: Vec<Vec<u8>> = if argv.len() > 1 {
        argv[1..].iter().map(|n| n.to_vec()).collect()
    } else {
        ctx.client.subs.of(kind).iter().cloned().collect()
    };
    if names.is_empty() {
        let count = ctx.client.subs.count(kind);
        confirm(ctx, kind.unsubscribe_name(), None, count);
    }
    for name in &names {
        let c = &mut *ctx.client;
        ctx.srv.pubsub.unsubscribe(c.slot, &mut c.subs, kind, name);
        let count = c.subs.count(kind);
        confirm(ctx, kind.unsubscribe_name(), Some(name), count);
    }
    Ok(())
}

fn subscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, argv, Kind::Channel)
}

fn psubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, argv, Kind::Pattern)
}

fn ssubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    subscribe_generic(ctx, argv, Kind::Shard)
}

fn unsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, argv, Kind::Channel)
}

fn punsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, argv, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    unsubscribe_generic(ctx, argv, Kind::Shard)
}

fn publish_generic(ctx: &mut Ctx, argv: &[&[u8]], shard: bool) -> CmdResult {
    let running = ctx.running();
    let n = pubsub::publish(ctx.srv, Some(running), shard, argv[1], argv[2]);
    ctx.out.int(n as i64);
    Ok(())
}

fn publish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    publish_generic(ctx, argv, false)
}

fn spublish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    publish_generic(ctx, argv, true)
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern].
fn list_channels(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    if argv.len() > 3 {
        return Err(err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let names = ctx.srv.pubsub.active(kind, argv.get(2).copied());
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n);
    }
    Ok(())
}

/// PUBSUB NUMSUB / SHARDNUMSUB channel...: a flat [channel, count ...].
fn count_subscribers(ctx: &mut Ctx, argv: &[&[u8]], kind: Kind) -> CmdResult {
    ctx.out.array((argv.len() - 2) * 2);
    for name in &argv[2..] {
        let n = ctx.srv.pubsub.subscribers(kind, name);
        ctx.out.bulk(name);
        ctx.out.int(n as i64);
    }
    Ok(())
}

fn pubsub_channels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    list_channels(ctx, argv, Kind::Channel)
}

fn pubsub_shardchannels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    list_channels(ctx, argv, Kind::Shard)
}

fn pubsub_numsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    count_subscribers(ctx, argv, Kind::Channel)
}

fn pubsub_shardnumsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    count_subscribers(ctx, argv, Kind::Shard)
}

fn pubsub_numpat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.srv.pubsub.active_count(Kind::Pattern);
    ctx.out.int(n as i64);
    Ok(())
}

fn pubsub_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx.out,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
