//! Running one command: table lookup, arity and auth checks, the handler,
//! its error reply, and the bookkeeping (commandstats, errorstats, CLIENT
//! REPLY modes).

use std::time::Instant;

use ferrokv_transport::ReplyWriter;

use super::Server;
use super::client::{IoSnapshot, ReplyMode, Session};
use crate::commands::{CmdId, Ctx, LookupError};
use crate::error::{CmdError, err};

/// Longest part of a command name or its arguments quoted in an error.
const ERR_QUOTE_MAX: usize = 128;

/// An argument as C's `%s` prints it: up to the first NUL byte.
fn c_str(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

fn truncated(bytes: &[u8], max: usize) -> &[u8] {
    &bytes[..bytes.len().min(max)]
}

fn unknown_command(argv: &[&[u8]]) -> CmdError {
    let mut args = Vec::new();
    for arg in &argv[1..] {
        if args.len() >= ERR_QUOTE_MAX {
            break;
        }
        let room = ERR_QUOTE_MAX - args.len();
        args.push(b'\'');
        args.extend_from_slice(truncated(c_str(arg), room));
        args.extend_from_slice(b"' ");
    }
    CmdError::UnknownCommand {
        name: truncated(c_str(argv[0]), ERR_QUOTE_MAX).to_vec(),
        args,
    }
}

/// The clocks of one batch of requests (one read's worth).
pub struct BatchClock {
    /// The command time snapshot, Unix ms: like Valkey's cached clock, one
    /// value per event-loop batch.
    pub now_ms: i64,
    /// When the previous command of the batch ended: each command's duration
    /// for commandstats costs one clock read, not two.
    pub mark: Instant,
}

impl BatchClock {
    pub fn start() -> Self {
        Self {
            now_ms: crate::util::time::unix_ms(),
            mark: Instant::now(),
        }
    }
}

/// Executes `argv` for a client and appends its reply to `out`.
pub fn execute(
    srv: &mut Server,
    session: &mut Session,
    out: &mut ReplyWriter,
    argv: &[&[u8]],
    own_io: IoSnapshot,
    clock: &mut BatchClock,
) {
    let reply_mark = out.buf.len();
    // CLIENT REPLY SKIP silences exactly the command after it.
    let skip_this = session.reply_mode == ReplyMode::SkipNext;
    if skip_this {
        session.reply_mode = ReplyMode::On;
    }

    if let Err(e) = run(srv, session, out, argv, own_io, clock) {
        let text = e.text();
        srv.count_error(&text);
        out.error(&text);
    }

    if skip_this || session.reply_mode == ReplyMode::Off {
        out.buf.truncate(reply_mark);
    }
    // Inside EXEC they wait for the whole transaction's reply.
    if !session.in_exec && !srv.own_pushes.buf.is_empty() {
        out.buf.extend_from_slice(&srv.own_pushes.buf);
        srv.own_pushes.buf.clear();
    }
}

/// The checks a known command passes before it runs, in Valkey's order:
/// arity, authentication, protected commands, MULTI, subscribe mode.
fn admit(
    srv: &Server,
    session: &Session,
    id: CmdId,
    argc: usize,
    resp3: bool,
) -> Result<(), CmdError> {
    let cmd = srv.commands.entries[id];
    let argc = argc as i32;
    // A container named alone fails here too (its arity is -2).
    if (cmd.arity > 0 && argc != cmd.arity) || argc < -cmd.arity {
        return Err(CmdError::WrongArity(srv.commands.full_names[id].clone()));
    }
    if !session.authenticated && !srv.commands.no_auth[id] {
        return Err(CmdError::NoAuth);
    }
    let debug_allowed = match srv.config.enable_debug_command.as_str() {
        "yes" => true,
        "local" => session.is_local,
        _ => false,
    };
    if srv.commands.protected[id] && !debug_allowed {
        return Err(err(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    if session.multi.is_some() && srv.commands.no_multi[id] {
        return Err(CmdError::NotInMulti(srv.commands.full_names[id].clone()));
    }
    // EXEC runs what it queued whatever the mode (as Valkey's call() does).
    if !resp3 && !session.in_exec && session.subs.any() && !srv.commands.in_subscribe_mode[id] {
        return Err(CmdError::SubscribeMode(srv.commands.full_names[id].clone()));
    }
    Ok(())
}

/// Whether a command is refused while memory is over the limit and
/// nothing can be evicted: those that may grow memory (`denyoom`), any
/// command being queued (a queue could grow without bound), and an EXEC
/// whose queue holds one that may grow memory. DISCARD and reads run.
fn refused_out_of_memory(srv: &Server, session: &Session, id: CmdId) -> bool {
    let commands = &srv.commands;
    if commands.deny_oom[id] {
        return true;
    }
    let Some(multi) = &session.multi else {
        return false;
    };
    if !commands.ends_multi[id] {
        return true;
    }
    commands.full_names[id] == "exec"
        && multi.queued.iter().any(|argv| {
            let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            commands.lookup(&args).is_ok_and(|q| commands.deny_oom[q])
        })
}

/// A command refused while a transaction is being queued makes its EXEC
/// fail.
fn abort_transaction(session: &mut Session) {
    if let Some(multi) = session.multi.as_mut() {
        multi.aborted = true;
    }
}

fn run(
    srv: &mut Server,
    session: &mut Session,
    out: &mut ReplyWriter,
    argv: &[&[u8]],
    own_io: IoSnapshot,
    clock: &mut BatchClock,
) -> Result<(), CmdError> {
    let id = match srv.commands.lookup(argv) {
        Ok(id) => id,
        Err(e) => {
            abort_transaction(session);
            return Err(match e {
                LookupError::Unknown => unknown_command(argv),
                LookupError::UnknownSub => CmdError::UnknownSubcommand {
                    sub: truncated(c_str(argv[1]), ERR_QUOTE_MAX).to_vec(),
                    container: String::from_utf8_lossy(argv[0]).to_ascii_uppercase(),
                },
            });
        }
    };
    let resp3 = out.proto == ferrokv_transport::Protocol::Resp3;
    if let Err(e) = admit(srv, session, id, argv.len(), resp3) {
        srv.commands.stats[id].rejected += 1;
        abort_transaction(session);
        return Err(e);
    }
    if srv.config.maxmemory > 0
        && !session.in_exec
        && !srv.free_memory(clock.now_ms)
        && refused_out_of_memory(srv, session, id)
    {
        srv.commands.stats[id].rejected += 1;
        abort_transaction(session);
        return Err(err(
            "OOM command not allowed when used memory > 'maxmemory'.",
        ));
    }
    let handler = srv.commands.entries[id]
        .handler
        .expect("admitted commands have handlers");
    session.last_cmd = Some(id);
    if let Some(multi) = session.multi.as_mut()
        && !srv.commands.ends_multi[id]
    {
        multi.queued.push(argv.iter().map(|a| a.to_vec()).collect());
        out.simple("QUEUED");
        return Ok(());
    }
    session.commands += 1;

    let mut ctx = Ctx {
        srv,
        client: session,
        out,
        now_ms: clock.now_ms,
        own_io,
    };
    let running = ctx.running();
    let result = handler(&mut ctx, argv);
    let (srv, db) = (ctx.srv, ctx.client.db);
    for key in crate::keyspace::take_unpacked() {
        srv.dbs[db].repack(&key);
    }
    if srv.config.notify_keyspace_events != 0 {
        // Events the command's lookups raised (expired, keymiss) that no
        // event of its own published first.
        srv.flush_db_events(Some(running));
    }
    let stats = &mut srv.commands.stats[id];
    stats.calls += 1;
    let ended = Instant::now();
    stats.usec += ended.duration_since(clock.mark).as_micros() as u64;
    clock.mark = ended;
    if result.is_err() {
        stats.failed += 1;
    }
    srv.stats.commands_processed += 1;
    result
}
