//! MULTI, EXEC, DISCARD, WATCH, UNWATCH (Valkey's multi.c). Dispatch queues
//! the commands between MULTI and EXEC (and refuses the ones that may not
//! be queued, which aborts the transaction); EXEC runs them back to back,
//! so no other client's command runs in between.

use super::{Command, Ctx, ks};
use crate::error::{CmdError, CmdResult, err};
use crate::server::dispatch::{self, BatchClock};

const FAST: &str = "@fast @transaction";

pub const COMMANDS: &[Command] = &[
    Command::new(
        "multi",
        1,
        "noscript loading stale fast no_multi allow_busy",
        (0, 0, 0),
        FAST,
        multi,
    ),
    Command::new(
        "exec",
        1,
        "noscript loading stale skip_commandlog",
        (0, 0, 0),
        "@slow @transaction",
        exec,
    ),
    Command::new(
        "discard",
        1,
        "noscript loading stale fast allow_busy",
        (0, 0, 0),
        FAST,
        discard,
    ),
    Command::new(
        "watch",
        -2,
        "noscript loading stale fast no_multi allow_busy",
        (1, -1, 1),
        FAST,
        watch,
    )
    .keys(&[ks("RO", 1, -1, 1)]),
    Command::new(
        "unwatch",
        1,
        "noscript loading stale fast allow_busy",
        (0, 0, 0),
        FAST,
        unwatch,
    ),
];

fn multi(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    // MULTI inside MULTI never gets here: it is flagged no_multi.
    ctx.client.multi = Some(Default::default());
    ctx.out.ok();
    Ok(())
}

/// Forgets the session's watched keys.
pub fn unwatch_all(ctx: &mut Ctx) {
    ctx.srv
        .watches
        .unwatch_all(ctx.client.id, &mut ctx.client.watched);
}

fn exec(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(err("ERR EXEC without MULTI"));
    };
    let dirty = ctx
        .srv
        .watches
        .is_dirty(ctx.client.id, &ctx.client.watched, ctx.now_ms);
    unwatch_all(ctx);
    if multi.aborted {
        return Err(CmdError::ExecAbort);
    }
    if dirty {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(multi.queued.len());
    // One clock for the whole transaction, as Valkey: it runs at an instant.
    let mut clock = BatchClock {
        now_ms: ctx.now_ms,
        mark: std::time::Instant::now(),
    };
    ctx.client.in_exec = true;
    for argv in &multi.queued {
        let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        let own_io = ctx.own_io.clone();
        dispatch::execute(ctx.srv, ctx.client, ctx.out, &argv, own_io, &mut clock);
    }
    ctx.client.in_exec = false;
    Ok(())
}

fn discard(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(err("ERR DISCARD without MULTI"));
    }
    unwatch_all(ctx);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.client.db;
    for key in &argv[1..] {
        let w = ctx.srv.watches.watch(
            ctx.client.id,
            &ctx.client.watched,
            &ctx.srv.dbs[db],
            db,
            key,
            ctx.now_ms,
        );
        ctx.client.watched.extend(w);
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    unwatch_all(ctx);
    ctx.out.ok();
    Ok(())
}
