//! Server commands: INFO, TIME, CONFIG, COMMAND, DEBUG, SHUTDOWN.

use ferrokv_transport::ReplyWriter;

use super::docs::{self, DocValue};
use super::{CmdId, Command, Ctx, int_arg, is, reply_help};
use crate::config::{Config, ConfigError};
use crate::error::{CmdError, CmdResult, err};
use crate::server::Shutdown;
use crate::types::{Hash, List, Set, StrValue, Value, ValueRef, ZSet, rdb};
use crate::util::glob;

const ADMIN: &str = "@admin @slow @dangerous";

pub const COMMANDS: &[Command] = &[
    Command::new(
        "info",
        -1,
        "loading stale",
        (0, 0, 0),
        "@slow @dangerous",
        info,
    )
    .tips("nondeterministic_output request_policy:all_shards response_policy:special"),
    Command::new("time", 1, "loading stale fast", (0, 0, 0), "@fast", time)
        .tips("nondeterministic_output"),
    Command::container("config", "@slow", CONFIG),
    Command::container("command", "@slow @connection", COMMAND)
        .runs_alone(-1, "loading stale", command_all)
        .tips("nondeterministic_output_order"),
    Command::new(
        "debug",
        -2,
        "admin noscript loading stale protected",
        (0, 0, 0),
        ADMIN,
        debug,
    ),
    Command::new(
        "shutdown",
        -1,
        "admin noscript loading stale no_multi allow_busy",
        (0, 0, 0),
        ADMIN,
        shutdown,
    ),
];

const CONFIG: &[Command] = &[
    Command::new(
        "get",
        -3,
        "admin noscript loading stale",
        (0, 0, 0),
        ADMIN,
        config_get,
    ),
    Command::new(
        "set",
        -4,
        "admin noscript loading stale",
        (0, 0, 0),
        ADMIN,
        config_set,
    )
    .tips("request_policy:all_nodes response_policy:all_succeeded"),
    Command::new(
        "resetstat",
        2,
        "admin noscript loading stale",
        (0, 0, 0),
        ADMIN,
        config_resetstat,
    )
    .tips("request_policy:all_nodes response_policy:all_succeeded"),
    Command::new(
        "rewrite",
        2,
        "admin noscript loading stale",
        (0, 0, 0),
        ADMIN,
        config_rewrite,
    )
    .tips("request_policy:all_nodes response_policy:all_succeeded"),
    Command::new("help", 2, "loading stale", (0, 0, 0), "@slow", config_help),
];

const COMMAND: &[Command] = &[
    Command::new(
        "count",
        2,
        "loading stale",
        (0, 0, 0),
        "@slow @connection",
        command_count,
    ),
    Command::new(
        "list",
        -2,
        "loading stale",
        (0, 0, 0),
        "@slow @connection",
        command_list,
    )
    .tips("nondeterministic_output_order"),
    Command::new(
        "info",
        -2,
        "loading stale",
        (0, 0, 0),
        "@slow @connection",
        command_info,
    )
    .tips("nondeterministic_output_order"),
    Command::new(
        "docs",
        -2,
        "loading stale",
        (0, 0, 0),
        "@slow @connection",
        command_docs,
    )
    .tips("nondeterministic_output_order"),
    Command::new(
        "getkeysandflags",
        -3,
        "loading stale",
        (0, 0, 0),
        "@slow @connection",
        command_getkeysandflags,
    ),
    Command::new(
        "getkeys",
        -3,
        "loading stale",
        (0, 0, 0),
        "@slow @connection",
        command_getkeys,
    ),
    Command::new(
        "help",
        2,
        "loading stale",
        (0, 0, 0),
        "@slow @connection",
        command_help,
    ),
];

/// The running client's buffer bytes, for memory reports (it is out of
/// the client table while its command runs).
pub fn caller(ctx: &Ctx) -> usize {
    ctx.own_io.qbuf_cap + ctx.out.buf.capacity()
}

fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sections = crate::observability::info::selected(&argv[1..]);
    let text = crate::observability::info::render(ctx.srv, &sections, ctx.now_ms, caller(ctx));
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn time(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let us = crate::util::time::unix_us();
    ctx.out.array(2);
    ctx.out.bulk_i64(us / 1_000_000);
    ctx.out.bulk_i64(us % 1_000_000);
    Ok(())
}

fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = ctx.srv.config.get_matching(&argv[2..]);
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("config|set".into()));
    }
    let mut next = ctx.srv.config.clone();
    let mut seen: Vec<String> = Vec::new();
    for pair in argv[2..].chunks(2) {
        let name = String::from_utf8_lossy(pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(pair[1]);
        if !Config::is_known(&name) {
            return Err(err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        }
        let failed = |why: &str| {
            err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        };
        if seen.contains(&name) {
            return Err(failed("duplicate parameter"));
        }
        match next.set_runtime(&name, &value) {
            Ok(()) => {}
            Err(ConfigError::Immutable) => return Err(failed("can't set immutable config")),
            Err(ConfigError::Invalid(why)) => return Err(failed(&why)),
            Err(ConfigError::Unknown) => unreachable!("checked above"),
        }
        seen.push(name);
    }
    if next.dir != ctx.srv.config.dir
        && let Err(e) = std::env::set_current_dir(&next.dir)
    {
        return Err(err(format!(
            "ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory: {e}"
        )));
    }
    if ctx
        .srv
        .listeners
        .reconfigure_tls(&ctx.srv.config, &next)
        .is_err()
    {
        let name = seen
            .iter()
            .find(|n| n.starts_with("tls-"))
            .map_or("tls-port", String::as_str);
        return Err(err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration. Check server logs."
        )));
    }
    if let Err((name, why)) = ctx.srv.listeners.rebind(&ctx.srv.config, &next) {
        // Back to the TLS configuration of the settings that stay.
        let _ = ctx.srv.listeners.reconfigure_tls(&next, &ctx.srv.config);
        return Err(err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
        )));
    }
    if next.loglevel != ctx.srv.config.loglevel {
        crate::server::log::set_level(&next.loglevel);
    }
    ctx.srv.config = next;
    ctx.srv.config_changed();
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let srv = &mut *ctx.srv;
    srv.stats = Default::default();
    for st in &mut srv.commands.stats {
        *st = Default::default();
    }
    for db in &mut srv.dbs {
        db.stats = Default::default();
    }
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.srv.config.config_file.is_empty() {
        return Err(err("ERR The server is running without a config file"));
    }
    Err(err("ERR CONFIG REWRITE is not supported by ferrokv yet"))
}

fn config_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx.out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

/// A set of simple strings (flags, ACL categories).
fn reply_words<'a>(out: &mut ReplyWriter, words: impl Iterator<Item = &'a str> + Clone) {
    out.set(words.clone().count());
    for w in words {
        out.simple(w);
    }
}

/// One COMMAND INFO entry.
fn write_command_info(ctx: &mut Ctx, id: CmdId) {
    let t = &ctx.srv.commands;
    let cmd = t.entries[id];
    let out = &mut *ctx.out;
    out.array(10);
    out.bulk(t.full_names[id].as_bytes());
    out.int(i64::from(cmd.arity));
    // "protected" is ferrokv's internal marker for enable-debug-command.
    reply_words(
        out,
        cmd.flags
            .split(' ')
            .filter(|f| !f.is_empty() && *f != "protected"),
    );
    out.int(i64::from(cmd.first_key));
    out.int(i64::from(cmd.last_key));
    out.int(i64::from(cmd.step));
    let mut cats: Vec<&str> = cmd.acl.split(' ').filter(|f| !f.is_empty()).collect();
    cats.sort_by_key(|c| super::ACL_CATEGORIES.iter().position(|k| k == c));
    reply_words(out, cats.into_iter());
    let tips: Vec<&str> = cmd.tips.split(' ').filter(|f| !f.is_empty()).collect();
    out.set(tips.len());
    for tip in tips {
        out.bulk(tip.as_bytes());
    }
    out.set(cmd.key_specs.len());
    for spec in cmd.key_specs {
        out.map(3 + usize::from(spec.notes.is_some()));
        if let Some(notes) = spec.notes {
            out.bulk(b"notes");
            out.bulk(notes.as_bytes());
        }
        out.bulk(b"flags");
        reply_words(out, spec.flags.split(' '));
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"index");
        out.bulk(b"spec");
        out.map(1);
        out.bulk(b"index");
        out.int(i64::from(spec.begin));
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        match spec.keynum {
            Some((keynumidx, firstkey)) => {
                out.bulk(b"keynum");
                out.bulk(b"spec");
                out.map(3);
                out.bulk(b"keynumidx");
                out.int(i64::from(keynumidx));
                out.bulk(b"firstkey");
                out.int(i64::from(firstkey));
            }
            None => {
                out.bulk(b"range");
                out.bulk(b"spec");
                out.map(3);
                out.bulk(b"lastkey");
                out.int(i64::from(spec.last));
            }
        }
        out.bulk(b"keystep");
        out.int(i64::from(spec.step));
        if spec.keynum.is_none() {
            out.bulk(b"limit");
            out.int(0);
        }
    }
    let subs: Vec<CmdId> = t.subcommands_of(id).collect();
    out.array(subs.len());
    for sub in subs {
        write_command_info(ctx, sub);
    }
}

fn command_count(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.srv.commands.top_level().count();
    ctx.out.int(n as i64);
    Ok(())
}

fn command_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let t = &ctx.srv.commands;
    let filter: Box<dyn Fn(CmdId) -> bool> = match argv.len() {
        2 => Box::new(|_| true),
        5 if is(argv[2], "filterby") => {
            let value = argv[4].to_vec();
            if is(argv[3], "pattern") {
                Box::new(move |id| glob::matches(&value, t.full_names[id].as_bytes(), true))
            } else if is(argv[3], "aclcat") {
                let cat = format!("@{}", String::from_utf8_lossy(&value).to_ascii_lowercase());
                Box::new(move |id| t.entries[id].acl.split(' ').any(|c| c == cat))
            } else if is(argv[3], "module") {
                Box::new(|_| false)
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let names: Vec<String> = (0..t.entries.len())
        .filter(|&id| filter(id))
        .map(|id| t.full_names[id].clone())
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// COMMAND with no subcommand: every command's info.
fn all_command_info(ctx: &mut Ctx) {
    let ids: Vec<CmdId> = ctx.srv.commands.top_level().collect();
    ctx.out.array(ids.len());
    for id in ids {
        write_command_info(ctx, id);
    }
}

fn command_info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 {
        all_command_info(ctx);
        return Ok(());
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match ctx.srv.commands.by_full_name(name) {
            Some(id) => write_command_info(ctx, id),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn write_command_docs(ctx: &mut Ctx, id: CmdId) {
    let t = &ctx.srv.commands;
    let name = t.full_names[id].as_str();
    let subs: Vec<CmdId> = t.subcommands_of(id).collect();
    let has_subs = usize::from(!subs.is_empty());
    let out = &mut *ctx.out;
    out.bulk(name.as_bytes());
    // Valkey's doc map, generated from the reference server for every
    // command in the table (a unit test keeps the two in step).
    let fields = docs::docs(name).unwrap_or_default();
    out.map(fields.len() + has_subs);
    for (key, value) in fields {
        out.bulk(key.as_bytes());
        write_doc_value(out, value);
    }
    if !subs.is_empty() {
        out.bulk(b"subcommands");
        out.map(subs.len());
        for sub in subs {
            write_command_docs(ctx, sub);
        }
    }
}

/// One generated COMMAND DOCS value, with the RESP type Valkey uses for it.
fn write_doc_value(out: &mut ReplyWriter, value: &DocValue) {
    match value {
        DocValue::Str(s) => out.bulk(s.as_bytes()),
        DocValue::Simple(s) => out.simple(s),
        DocValue::Int(n) => out.int(*n),
        DocValue::Map(fields) => {
            out.map(fields.len());
            for (key, value) in *fields {
                out.bulk(key.as_bytes());
                write_doc_value(out, value);
            }
        }
        DocValue::Array(items) => {
            out.array(items.len());
            for item in *items {
                write_doc_value(out, item);
            }
        }
        DocValue::Set(items) => {
            out.set(items.len());
            for item in *items {
                write_doc_value(out, item);
            }
        }
    }
}

fn command_docs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let ids: Vec<CmdId> = if argv.len() == 2 {
        ctx.srv.commands.top_level().collect()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| ctx.srv.commands.by_full_name(n))
            .collect()
    };
    ctx.out.map(ids.len());
    for id in ids {
        write_command_docs(ctx, id);
    }
    Ok(())
}

/// The keys of a full command line (`args[0]` is the command name) with
/// their key-spec flags, for COMMAND GETKEYS and GETKEYSANDFLAGS.
fn keys_of<'a>(ctx: &Ctx, args: &[&'a [u8]]) -> Result<Vec<(&'a [u8], &'static str)>, CmdError> {
    let t = &ctx.srv.commands;
    let id = t
        .lookup(args)
        .map_err(|_| err("ERR Invalid command specified"))?;
    let cmd = t.entries[id];
    let argc = args.len() as i32;
    if (cmd.arity > 0 && argc != cmd.arity) || argc < -cmd.arity {
        return Err(err("ERR Invalid number of arguments specified for command"));
    }
    if cmd.key_specs.is_empty() {
        return Err(err("ERR The command has no key arguments"));
    }
    let mut keys = Vec::new();
    for spec in cmd.key_specs {
        let (begin, last) = match spec.keynum {
            Some((keynumidx, firstkey)) => {
                let at = (spec.begin + keynumidx) as usize;
                let n = args
                    .get(at)
                    .and_then(|a| crate::util::parse_i64(a))
                    .filter(|n| *n > 0 && *n <= i64::from(argc))
                    .ok_or_else(|| err("ERR Invalid arguments specified for command"))?
                    as i32;
                let first = spec.begin + firstkey;
                (first, first + (n - 1) * spec.step.max(1))
            }
            None if spec.last < 0 => (spec.begin, argc + spec.last),
            None => (spec.begin, spec.begin + spec.last),
        };
        let flags = if spec.flags.contains("variable_flags") {
            // SET's key is read only with GET; otherwise it is overwritten.
            if args.iter().skip(3).any(|a| is(a, "get")) {
                "RW access update"
            } else {
                "OW update"
            }
        } else {
            spec.flags
        };
        let mut i = begin;
        while i <= last.min(argc - 1) {
            keys.push((args[i as usize], flags));
            i += spec.step.max(1);
        }
    }
    Ok(keys)
}

fn command_getkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let keys = keys_of(ctx, &argv[2..])?;
    ctx.out.array(keys.len());
    for (k, _) in keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn command_getkeysandflags(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let keys = keys_of(ctx, &argv[2..])?;
    ctx.out.array(keys.len());
    for (k, flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(k);
        reply_words(ctx.out, flags.split(' '));
    }
    Ok(())
}

fn command_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx.out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST",
            "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full command.",
        ],
    );
    Ok(())
}

/// COMMAND with no subcommand.
fn command_all(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    all_command_info(ctx);
    Ok(())
}

fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let sub = argv[1];
    if is(sub, "sleep") && argv.len() == 3 {
        // Like C's strtod: the longest numeric prefix, 0 when there is none.
        let text = String::from_utf8_lossy(argv[2]);
        let secs = (0..=text.len())
            .rev()
            .filter(|&n| text.is_char_boundary(n))
            .find_map(|n| text[..n].parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(0.0);
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        ctx.out.ok();
    } else if is(sub, "populate") && (3..=5).contains(&argv.len()) {
        let positive = |a: &[u8]| -> Result<i64, CmdError> {
            int_arg(a)
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| err("ERR value is out of range, must be positive"))
        };
        let count = positive(argv[2])?;
        let prefix = argv.get(3).copied().unwrap_or(b"key");
        let size = argv.get(4).map(|a| positive(a)).transpose()?;
        let now = ctx.now_ms;
        let db = ctx.db();
        for i in 0..count {
            let mut key = prefix.to_vec();
            key.push(b':');
            key.extend_from_slice(i.to_string().as_bytes());
            if db.peek(&key, now).is_some() {
                continue;
            }
            let mut value = format!("value:{i}").into_bytes();
            if let Some(size) = size {
                value.resize(size as usize, 0);
            }
            db.insert(&key, Value::Str(StrValue::plain(&value)), None, now);
        }
        ctx.out.ok();
    } else if is(sub, "htstats") && (3..=4).contains(&argv.len()) {
        // As in Valkey, any word but FULL asks for the short form.
        let full = argv.get(3).is_some_and(|a| is(a, "full"));
        let db = usize::try_from(int_arg(argv[2])?)
            .ok()
            .filter(|&d| d < ctx.srv.dbs.len())
            .ok_or_else(|| err("ERR Out of range database"))?;
        let text = ctx.srv.dbs[db].htstats(full);
        ctx.out.verbatim("txt", text.as_bytes());
    } else if is(sub, "htstats-key") && argv.len() >= 3 {
        let full = argv.get(3).is_some_and(|a| is(a, "full"));
        let now = ctx.now_ms;
        let node = ctx.db().lookup_counted(argv[2], now);
        let Some(node) = node else {
            return Err(err("ERR no such key"));
        };
        let mut text = String::new();
        match node.value() {
            ValueRef::Value(Value::Set(Set::Table(t))) => t.stats(full, &mut text),
            ValueRef::Value(Value::Hash(Hash::Table(t))) => t.fields.stats(full, &mut text),
            ValueRef::Value(Value::ZSet(ZSet::Skiplist(t))) => t.scores.stats(full, &mut text),
            _ => {
                return Err(err(
                    "ERR The value stored at the specified key is not represented using an hash table",
                ));
            }
        }
        ctx.out.verbatim("txt", text.as_bytes());
    } else if is(sub, "object") && argv.len() == 3 {
        let now = ctx.now_ms;
        let Some(node) = ctx.db().peek(argv[2], now) else {
            return Err(err("ERR no such key"));
        };
        let value = node.value();
        let mut extra = String::new();
        if let ValueRef::Value(Value::List(List::Quicklist(q))) = value {
            let (nodes, count, list_size, compressed, raw) = q.shape();
            extra = format!(
                " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:{list_size} ql_compressed:{} ql_uncompressed_size:{raw}",
                count as f64 / nodes as f64,
                u8::from(compressed)
            );
        }
        // The LRU clock (seconds, 24 bits) at the last access.
        let idle_ms = node.access().idle_ms(now);
        let lru = ((now - idle_ms) / 1000) & 0xff_ffff;
        let text = format!(
            "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{lru} lru_seconds_idle:{}{extra}",
            std::ptr::from_ref(node),
            value.encoding_name(),
            rdb::value_len(value),
            idle_ms / 1000
        );
        ctx.out.simple(&text);
    } else if is(sub, "set-active-expire") && argv.len() == 3 {
        ctx.srv.active_expire_enabled = int_arg(argv[2])? != 0;
        ctx.out.ok();
    } else if is(sub, "help") && argv.len() == 2 {
        reply_help(
            ctx.out,
            "DEBUG",
            &[
                "OBJECT <key>",
                "    Show low level info about `key` and associated value.",
                "HTSTATS <dbid> [full]",
                "    Return hash table statistics of the specified database.",
                "HTSTATS-KEY <key> [full]",
                "    Like HTSTATS but for the hash table stored at <key>'s value.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the server behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
    } else {
        return Err(err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

fn shutdown(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    for opt in &argv[1..] {
        if is(opt, "abort") {
            return Err(err("ERR No shutdown in progress."));
        } else if is(opt, "save") {
            return Err(err(
                "ERR SHUTDOWN SAVE is not supported: ferrokv has no persistence yet",
            ));
        } else if !(is(opt, "nosave") || is(opt, "now") || is(opt, "force") || is(opt, "safe")) {
            return Err(CmdError::Syntax);
        }
    }
    ctx.srv.shutdown = Some(Shutdown::Command);
    ctx.client.close_asap = true;
    Ok(())
}
