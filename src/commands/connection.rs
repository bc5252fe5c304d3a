//! Connection commands: PING, ECHO, QUIT, RESET, SELECT, HELLO, AUTH, CLIENT.

use ferrokv_transport::Protocol;

use super::{Command, Ctx, int_arg, is, reply_help};
use crate::error::{CmdError, CmdResult, err};
use crate::server::client::{ReplyMode, Session};

const CONN: &str = "@connection @fast";
const CONN_SLOW: &str = "@connection @slow";

pub const COMMANDS: &[Command] = &[
    Command::new("ping", -1, "fast", (0, 0, 0), CONN, ping)
        .tips("request_policy:all_shards response_policy:all_succeeded"),
    Command::new("echo", 2, "loading stale fast", (0, 0, 0), CONN, echo),
    Command::new(
        "quit",
        -1,
        "noscript loading stale fast no_auth allow_busy",
        (0, 0, 0),
        CONN,
        quit,
    ),
    Command::new(
        "reset",
        1,
        "noscript loading stale fast no_auth allow_busy",
        (0, 0, 0),
        CONN,
        reset,
    ),
    Command::new(
        "select",
        2,
        "loading stale fast allow_busy",
        (0, 0, 0),
        CONN,
        select,
    ),
    Command::new(
        "hello",
        -1,
        "noscript loading stale fast no_auth allow_busy",
        (0, 0, 0),
        CONN,
        hello,
    ),
    Command::new(
        "auth",
        -2,
        "noscript loading stale fast no_auth allow_busy",
        (0, 0, 0),
        CONN,
        auth,
    ),
    Command::container("client", "@slow", CLIENT),
];

const CLIENT: &[Command] = &[
    Command::new(
        "id",
        2,
        "noscript loading stale allow_busy",
        (0, 0, 0),
        CONN_SLOW,
        client_id,
    ),
    Command::new(
        "setname",
        3,
        "noscript loading stale allow_busy",
        (0, 0, 0),
        CONN_SLOW,
        client_setname,
    )
    .tips("request_policy:all_nodes response_policy:all_succeeded"),
    Command::new(
        "getname",
        2,
        "noscript loading stale allow_busy",
        (0, 0, 0),
        CONN_SLOW,
        client_getname,
    ),
    Command::new(
        "list",
        -2,
        "admin noscript loading stale",
        (0, 0, 0),
        "@admin @slow @dangerous @connection",
        client_list,
    )
    .tips("nondeterministic_output"),
    Command::new(
        "info",
        2,
        "noscript loading stale",
        (0, 0, 0),
        CONN_SLOW,
        client_info,
    )
    .tips("nondeterministic_output"),
    Command::new(
        "kill",
        -3,
        "admin noscript loading stale",
        (0, 0, 0),
        "@admin @slow @dangerous @connection",
        client_kill,
    ),
    Command::new(
        "unblock",
        -3,
        "admin noscript loading stale",
        (0, 0, 0),
        "@admin @slow @dangerous @connection",
        client_unblock,
    ),
    Command::new(
        "setinfo",
        4,
        "noscript loading stale allow_busy",
        (0, 0, 0),
        CONN_SLOW,
        client_setinfo,
    )
    .tips("request_policy:all_nodes response_policy:all_succeeded"),
    Command::new(
        "reply",
        3,
        "noscript loading stale no_multi allow_busy",
        (0, 0, 0),
        CONN_SLOW,
        client_reply,
    ),
    Command::new(
        "no-evict",
        3,
        "admin noscript loading stale allow_busy",
        (0, 0, 0),
        "@admin @slow @dangerous @connection",
        client_no_evict,
    ),
    Command::new(
        "no-touch",
        3,
        "noscript loading stale allow_busy",
        (0, 0, 0),
        CONN_SLOW,
        client_no_touch,
    ),
    Command::new(
        "help",
        2,
        "loading stale",
        (0, 0, 0),
        CONN_SLOW,
        client_help,
    ),
];

fn ping(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.client.subs.any() && ctx.out.proto == Protocol::Resp2 {
        // In subscribe mode a RESP2 reply must look like a message.
        if argv.len() > 2 {
            return Err(CmdError::WrongArity("ping".into()));
        }
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.get(1).copied().unwrap_or(b""));
        return Ok(());
    }
    match argv {
        [_] => ctx.out.simple("PONG"),
        [_, msg] => ctx.out.bulk(msg),
        _ => return Err(CmdError::WrongArity("ping".into())),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(argv[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

fn reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = &mut *ctx.client;
    c.db = 0;
    c.name.clear();
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.no_touch = false;
    c.authenticated = ctx.srv.config.requirepass.is_empty();
    c.multi = None;
    ctx.srv.watches.unwatch_all(c.id, &mut c.watched);
    ctx.srv.pubsub.unsubscribe_all(c.slot, &mut c.subs);
    ctx.out.proto = Protocol::Resp2;
    ctx.out.simple("RESET");
    Ok(())
}

fn select(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = int_arg(argv[1])?;
    if id < i64::from(i32::MIN) || id > i64::from(i32::MAX) {
        return Err(CmdError::NotInteger);
    }
    if id < 0 || id >= ctx.srv.dbs.len() as i64 {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.client.db = id as usize;
    ctx.out.ok();
    Ok(())
}

/// Checks a password for the default user (the only user until ACLs land).
fn check_password(ctx: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    user == b"default"
        && (ctx.srv.config.requirepass.is_empty() || ctx.srv.config.requirepass.as_bytes() == pass)
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn auth(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (user, pass): (&[u8], &[u8]) = match argv {
        [_, pass] => {
            if ctx.srv.config.requirepass.is_empty() {
                return Err(err(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                ));
            }
            (b"default", pass)
        }
        [_, user, pass] => (user, pass),
        _ => return Err(CmdError::Syntax),
    };
    if !check_password(ctx, user, pass) {
        return Err(err(WRONGPASS));
    }
    ctx.client.authenticated = true;
    ctx.out.ok();
    Ok(())
}

/// Client names and library info: printable ASCII without spaces.
fn valid_client_text(s: &[u8]) -> bool {
    s.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn hello(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut version = None;
    let mut next = 1;
    if argv.len() >= 2 {
        let v = int_arg(argv[1])
            .map_err(|_| err("ERR Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(err("NOPROTO unsupported protocol version"));
        }
        version = Some(v);
        next = 2;
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = next;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is(argv[j], "auth") && more >= 2 {
            credentials = Some((argv[j + 1], argv[j + 2]));
            j += 2;
        } else if is(argv[j], "setname") && more >= 1 {
            if !valid_client_text(argv[j + 1]) {
                return Err(err(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            name = Some(argv[j + 1]);
            j += 1;
        } else {
            return Err(err(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(argv[j])
            )));
        }
        j += 1;
    }
    if let Some((user, pass)) = credentials {
        if !check_password(ctx, user, pass) {
            return Err(err(WRONGPASS));
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Err(err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(name) = name {
        ctx.client.name = name.to_vec();
    }
    match version {
        Some(3) => ctx.out.proto = Protocol::Resp3,
        Some(_) => ctx.out.proto = Protocol::Resp2,
        None => {}
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    // Clients branch on this name; ferrokv answers as the Valkey release it
    // follows (INFO's ferrokv_version tells them apart).
    out.bulk(b"valkey");
    out.bulk(b"version");
    out.bulk(crate::VALKEY_COMPAT_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if out.proto == Protocol::Resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

fn client_id(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

fn client_setname(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !valid_client_text(argv[2]) {
        return Err(err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    ctx.client.name = argv[2].to_vec();
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(&ctx.client.name);
    }
    Ok(())
}

/// Every client's CLIENT LIST line, in id order, filtered.
fn client_lines(ctx: &Ctx, mut keep: impl FnMut(&Session) -> bool) -> String {
    let mut text = String::new();
    ctx.srv.for_each_client((ctx.client, &ctx.own_io), |s, io| {
        if keep(s) {
            text.push_str(&s.info_line(ctx.now_ms, io, &ctx.srv.commands.full_names));
            text.push('\n');
        }
    });
    text
}

fn client_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut j = 2;
    while j < argv.len() {
        if is(argv[j], "type") && j + 1 < argv.len() {
            let t = argv[j + 1];
            if !is_client_type(t) {
                return Err(err(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                )));
            }
            if !is(t, "normal") {
                // No replica or pubsub clients exist yet.
                ids = Some(Vec::new());
            }
            j += 2;
        } else if is(argv[j], "id") && j + 1 < argv.len() {
            let mut list = Vec::new();
            for arg in &argv[j + 1..] {
                match int_arg(arg) {
                    Ok(id) if id > 0 => list.push(id as u64),
                    Ok(_) => return Err(err("ERR client-id should be greater than 0")),
                    Err(_) => return Err(CmdError::Syntax),
                }
            }
            ids = Some(list);
            j = argv.len();
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let text = client_lines(ctx, |s| ids.as_ref().is_none_or(|l| l.contains(&s.id)));
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let mut line = ctx
        .client
        .info_line(ctx.now_ms, &ctx.own_io, &ctx.srv.commands.full_names);
    line.push('\n');
    ctx.out.verbatim("txt", line.as_bytes());
    Ok(())
}

/// CLIENT KILL filters (new form); every given filter must match.
#[derive(Default)]
struct KillFilter {
    /// `ID a b ...`; an empty list matches nobody.
    ids: Option<Vec<u64>>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    name: Option<Vec<u8>>,
    lib_name: Option<Vec<u8>>,
    lib_ver: Option<Vec<u8>>,
    flags: Option<Vec<u8>>,
    skip_me: bool,
    max_age: Option<i64>,
    min_idle: Option<i64>,
    db: Option<usize>,
    /// TYPE other than normal: no such clients exist yet.
    no_match_type: bool,
}

fn is_client_type(t: &[u8]) -> bool {
    ["normal", "master", "primary", "replica", "slave", "pubsub"]
        .iter()
        .any(|n| is(t, n))
}

/// A positive integer filter value, with Valkey's per-filter messages.
fn positive(v: &[u8], what: &str) -> Result<i64, CmdError> {
    match int_arg(v) {
        Ok(n) if n > 0 => Ok(n),
        Ok(_) => Err(err(format!("ERR {what} should be greater than 0"))),
        Err(_) => Err(err(format!("ERR {what} is not an integer or out of range"))),
    }
}

fn parse_kill_filter(ctx: &Ctx, args: &[&[u8]]) -> Result<KillFilter, CmdError> {
    let mut f = KillFilter {
        skip_me: true,
        ..Default::default()
    };
    let mut i = 0;
    while i < args.len() {
        let opt = args[i];
        if is(opt, "id") {
            // ID takes every integer that follows it.
            let ids = f.ids.get_or_insert_with(Vec::new);
            i += 1;
            while let Some(id) = args.get(i).and_then(|a| crate::util::parse_i64(a)) {
                if id <= 0 {
                    return Err(err("ERR client-id should be greater than 0"));
                }
                ids.push(id as u64);
                i += 1;
            }
            continue;
        }
        let Some(&v) = args.get(i + 1) else {
            return Err(CmdError::Syntax);
        };
        if is(opt, "addr") {
            f.addr = Some(v.to_vec());
        } else if is(opt, "laddr") {
            f.laddr = Some(v.to_vec());
        } else if is(opt, "name") {
            f.name = Some(v.to_vec());
        } else if is(opt, "lib-name") {
            f.lib_name = Some(v.to_vec());
        } else if is(opt, "lib-ver") {
            f.lib_ver = Some(v.to_vec());
        } else if is(opt, "flags") {
            f.flags = Some(v.to_vec());
        } else if is(opt, "user") {
            if v != b"default" {
                return Err(err(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
        } else if is(opt, "type") {
            if !is_client_type(v) {
                return Err(err(format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
            f.no_match_type = !is(v, "normal");
        } else if is(opt, "skipme") {
            f.skip_me = match () {
                _ if is(v, "yes") => true,
                _ if is(v, "no") => false,
                _ => return Err(CmdError::Syntax),
            };
        } else if is(opt, "maxage") {
            f.max_age = Some(positive(v, "maxage")?);
        } else if is(opt, "idle") {
            f.min_idle = Some(positive(v, "idle")?);
        } else if is(opt, "db") {
            let n = ctx.srv.dbs.len();
            let db = int_arg(v).map_err(|_| err("ERR DB is not an integer or out of range"))?;
            if db < 0 || db >= n as i64 {
                return Err(err(format!(
                    "ERR DB number should be between 0 and {}",
                    n - 1
                )));
            }
            f.db = Some(db as usize);
        } else if is(opt, "capa") {
            return Err(err(format!(
                "ERR Unknown capa found in the provided filter: {}",
                String::from_utf8_lossy(v)
            )));
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(f)
}

impl KillFilter {
    fn matches(&self, s: &Session, me: u64, now_ms: i64) -> bool {
        let same = |want: &Option<Vec<u8>>, have: &[u8]| want.as_ref().is_none_or(|w| w == have);
        !self.no_match_type
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&s.id))
            && same(&self.addr, s.addr.as_bytes())
            && same(&self.laddr, s.laddr.as_bytes())
            && same(&self.name, &s.name)
            && same(&self.lib_name, &s.lib_name)
            && same(&self.lib_ver, &s.lib_ver)
            && self
                .flags
                .as_ref()
                .is_none_or(|f| f.iter().all(|c| s.flags().as_bytes().contains(c)))
            && self
                .max_age
                .is_none_or(|age| (now_ms - s.created_ms) / 1000 >= age)
            && self
                .min_idle
                .is_none_or(|idle| (now_ms - s.last_interaction_ms) / 1000 >= idle)
            && self.db.is_none_or(|db| db == s.db)
            && !(self.skip_me && s.id == me)
    }
}

fn client_kill(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let old_form = argv.len() == 3;
    let f = if old_form {
        KillFilter {
            addr: Some(argv[2].to_vec()),
            ..Default::default()
        }
    } else {
        parse_kill_filter(ctx, &argv[2..])?
    };
    let (now, me) = (ctx.now_ms, ctx.client.id);
    let mut killed = 0;
    for (slot, c) in ctx.srv.clients.iter_mut().enumerate() {
        if let Some(c) = c
            && f.matches(&c.session, me, now)
        {
            c.session.close_asap = true;
            ctx.srv.kill_queue.push(slot);
            killed += 1;
        }
    }
    if f.matches(ctx.client, me, now) {
        ctx.client.close_after_reply = true;
        killed += 1;
    }
    if old_form {
        if killed == 0 {
            return Err(err("ERR No such client"));
        }
        ctx.out.ok();
    } else {
        ctx.out.int(killed);
    }
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking
/// command as if it timed out, or with an UNBLOCKED error.
fn client_unblock(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = int_arg(argv[2])?;
    let with_error = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && is(a, "timeout") => false,
        Some(a) if argv.len() == 4 && is(a, "error") => true,
        Some(_) => return Err(err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    let srv = &mut *ctx.srv;
    let found = srv.clients.iter_mut().enumerate().find_map(|(slot, c)| {
        c.as_mut()
            .filter(|c| c.session.id as i64 == id && c.session.blocked.is_some())
            .map(|c| (slot, c))
    });
    let Some((slot, client)) = found else {
        ctx.out.int(0);
        return Ok(());
    };
    let b = client.session.blocked.take().expect("checked above");
    if with_error {
        let text = b"UNBLOCKED client unblocked via CLIENT UNBLOCK";
        client.out.error(text);
        srv.count_error(text);
    } else {
        client.out.null_array();
    }
    srv.blocking.unblock(slot, &b);
    srv.blocking.woken.push(slot);
    ctx.out.int(1);
    Ok(())
}

fn client_setinfo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (attr, value) = (argv[2], argv[3]);
    let is_name = is(attr, "lib-name");
    if !is_name && !is(attr, "lib-ver") {
        return Err(err(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    }
    if !valid_client_text(value) {
        return Err(err(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr)
        )));
    }
    if is_name {
        ctx.client.lib_name = value.to_vec();
    } else {
        ctx.client.lib_ver = value.to_vec();
    }
    ctx.out.ok();
    Ok(())
}

fn client_reply(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mode = argv[2];
    if is(mode, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if is(mode, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(mode, "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn on_off(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

fn client_no_evict(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.client.no_evict = on_off(argv[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_no_touch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.client.no_touch = on_off(argv[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx.out,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
        ],
    );
    Ok(())
}
