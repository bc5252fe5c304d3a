//! The command table and what every command handler gets: a [`Ctx`] and its
//! arguments. One file per command family, as Valkey has t_string.c ...

pub mod bitfield;
pub mod bitmaps;
pub mod connection;
pub mod docs;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod pubsub;
pub mod server;
pub mod sets;
pub mod strings;
pub mod transactions;
pub mod zsets;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ferrokv_transport::ReplyWriter;

use crate::error::{CmdError, CmdResult, err};
use crate::keyspace::Db;
use crate::keyspace::events::Classes;
use crate::server::Server;
use crate::server::client::Session;
use crate::server::pubsub::Running;
use crate::types::{Sampled, StrRef, StrValue, Typed, Value, ValueRef};
use crate::util::{parse_f64_strtod, parse_i64};

/// What a command runs against.
pub struct Ctx<'a> {
    pub srv: &'a mut Server,
    pub client: &'a mut Session,
    pub out: &'a mut ReplyWriter,
    /// Command time snapshot, Unix ms: one command sees one "now".
    pub now_ms: i64,
    /// The running client's input buffer sizes (CLIENT INFO/LIST of itself).
    pub own_io: crate::server::client::IoSnapshot,
}

impl Ctx<'_> {
    /// The selected database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.srv.dbs[self.client.db]
    }

    /// The selected database and the reply, borrowed apart: what a
    /// command reads from one can be written to the other uncopied.
    pub fn db_and_out(&mut self) -> (&Db, &mut ReplyWriter) {
        (&self.srv.dbs[self.client.db], self.out)
    }

    /// A random position below `len` (> 0), for the random-member picks.
    pub fn random_below(&mut self, len: usize) -> usize {
        (self.srv.random_u64() % len as u64) as usize
    }

    /// Where messages for this client go while its command runs.
    pub fn running(&self) -> Running {
        Running {
            slot: self.client.slot,
            proto: self.out.proto,
        }
    }

    /// A key of the selected database changed (Valkey's
    /// signalModifiedKey): its WATCHers' EXEC will fail.
    pub fn touched(&mut self, key: &[u8]) {
        self.srv.touch(self.client.db, key);
    }

    /// A keyspace event on a key of database `db`.
    pub fn notify_in(&mut self, db: usize, class: Classes, event: &str, key: &[u8]) {
        if self.srv.config.notify_keyspace_events & class != 0 {
            let running = self.running();
            self.srv.notify(Some(running), db, class, event, key);
        }
    }

    /// A keyspace event on a key of the selected database.
    pub fn notify(&mut self, class: Classes, event: &str, key: &[u8]) {
        self.notify_in(self.client.db, class, event, key);
    }

    /// A write to a key of the selected database: WATCH and notifications.
    pub fn changed(&mut self, class: Classes, event: &str, key: &[u8]) {
        self.touched(key);
        self.notify(class, event, key);
    }

    /// Elements left the collection at `key` (`event`, of `class`); an
    /// emptied one is deleted, as Valkey never keeps empty aggregates.
    pub fn removed_from(&mut self, class: Classes, event: &str, key: &[u8], empty: bool) {
        self.changed(class, event, key);
        if empty {
            self.db().remove(key);
            self.notify(crate::keyspace::events::GENERIC, "del", key);
        }
    }

    /// Deletes `key` (a "del" event) if it is there; whether it was.
    pub fn delete_key(&mut self, key: &[u8]) -> bool {
        let gone = self.db().remove(key).is_some();
        if gone {
            self.changed(crate::keyspace::events::GENERIC, "del", key);
        }
        gone
    }
}

pub type Handler = fn(&mut Ctx, &[&[u8]]) -> CmdResult;

/// A command's static description: what COMMAND reports and dispatch checks.
pub struct Command {
    pub name: &'static str,
    /// Valkey's arity: N exactly, or -N for at least N (name included).
    pub arity: i32,
    /// Space-separated COMMAND INFO flags ("write denyoom fast").
    pub flags: &'static str,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Space-separated ACL categories ("@write @string @fast").
    pub acl: &'static str,
    pub handler: Option<Handler>,
    pub subcommands: &'static [Command],
    /// Where the keys are, as COMMAND INFO's key specifications describe.
    pub key_specs: &'static [KeySpec],
    /// Space-separated command tips ("request_policy:all_shards ...").
    pub tips: &'static str,
}

/// One key specification: keys from argument `begin` to `last` (negative:
/// counted from the end, relative to the last argument) every `step`.
pub struct KeySpec {
    /// Space-separated flags ("RW access update").
    pub flags: &'static str,
    pub begin: i32,
    pub last: i32,
    pub step: i32,
    /// Why the flags are what they are, when Valkey explains it.
    pub notes: Option<&'static str>,
    /// Keys counted by an argument instead (LMPOP numkeys key ...):
    /// (that argument's index and the first key's, both relative to
    /// `begin`); `last` is then unused.
    pub keynum: Option<(i32, i32)>,
}

pub const fn ks(flags: &'static str, begin: i32, last: i32, step: i32) -> KeySpec {
    KeySpec {
        flags,
        begin,
        last,
        step,
        notes: None,
        keynum: None,
    }
}

/// A key spec whose keys follow a count at `begin + keynumidx`.
pub const fn ks_keynum(
    flags: &'static str,
    begin: i32,
    keynumidx: i32,
    firstkey: i32,
    step: i32,
) -> KeySpec {
    KeySpec {
        flags,
        begin,
        last: 0,
        step,
        notes: None,
        keynum: Some((keynumidx, firstkey)),
    }
}

impl KeySpec {
    pub const fn notes(mut self, notes: &'static str) -> Self {
        self.notes = Some(notes);
        self
    }
}

/// ACL categories in Valkey's canonical order (COMMAND INFO lists them so).
pub const ACL_CATEGORIES: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

impl Command {
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: &'static str,
        keys: (i32, i32, i32),
        acl: &'static str,
        handler: Handler,
    ) -> Self {
        Self {
            name,
            arity,
            flags,
            first_key: keys.0,
            last_key: keys.1,
            step: keys.2,
            acl,
            handler: Some(handler),
            subcommands: &[],
            key_specs: &[],
            tips: "",
        }
    }

    /// A container such as CONFIG whose subcommands do the work.
    pub const fn container(
        name: &'static str,
        acl: &'static str,
        subcommands: &'static [Command],
    ) -> Self {
        Self {
            name,
            arity: -2,
            flags: "",
            first_key: 0,
            last_key: 0,
            step: 0,
            acl,
            handler: None,
            subcommands,
            key_specs: &[],
            tips: "",
        }
    }

    /// Lets a container run by itself too (COMMAND with no subcommand).
    pub const fn runs_alone(mut self, arity: i32, flags: &'static str, handler: Handler) -> Self {
        self.arity = arity;
        self.flags = flags;
        self.handler = Some(handler);
        self
    }

    pub const fn keys(mut self, specs: &'static [KeySpec]) -> Self {
        self.key_specs = specs;
        self
    }

    pub const fn tips(mut self, tips: &'static str) -> Self {
        self.tips = tips;
        self
    }

    /// Whether `flags` names `flag`. Dispatch reads the precomputed
    /// [`CommandTable::no_auth`] / [`CommandTable::protected`] instead.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.split(' ').any(|f| f == flag)
    }
}

const FAMILIES: &[&[Command]] = &[
    strings::COMMANDS,
    bitmaps::COMMANDS,
    bitfield::COMMANDS,
    hyperloglog::COMMANDS,
    lists::COMMANDS,
    hashes::COMMANDS,
    sets::COMMANDS,
    zsets::COMMANDS,
    transactions::COMMANDS,
    pubsub::COMMANDS,
    keys::COMMANDS,
    connection::COMMANDS,
    server::COMMANDS,
    memory::COMMANDS,
];

/// Per-command counters for INFO commandstats.
#[derive(Default, Clone, Debug)]
pub struct CmdStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// Index of a command or subcommand in the table.
pub type CmdId = usize;

pub struct CommandTable {
    pub entries: Vec<&'static Command>,
    /// "get", "config|get" ...
    pub full_names: Vec<String>,
    /// The container of each subcommand.
    pub parent: Vec<Option<CmdId>>,
    /// Runs before AUTH (flag `no_auth`).
    pub no_auth: Vec<bool>,
    /// Gated by enable-debug-command (flag `protected`).
    pub protected: Vec<bool>,
    /// Refused between MULTI and EXEC (flag `no_multi`).
    pub no_multi: Vec<bool>,
    /// Run at once between MULTI and EXEC, not queued.
    pub ends_multi: Vec<bool>,
    /// Allowed to a RESP2 client in subscribe mode.
    pub in_subscribe_mode: Vec<bool>,
    /// Refused while used memory is over maxmemory (flag `denyoom`).
    pub deny_oom: Vec<bool>,
    pub stats: Vec<CmdStats>,
    /// Top-level names, for dispatch.
    by_name: HashMap<Vec<u8>, CmdId, foldhash::fast::RandomState>,
    /// Full names ("config|get") of everything, for COMMAND INFO and DOCS.
    by_full_name: HashMap<Vec<u8>, CmdId, foldhash::fast::RandomState>,
}

/// Why a lookup failed.
pub enum LookupError {
    Unknown,
    /// The container exists but not this subcommand.
    UnknownSub,
}

impl CommandTable {
    pub fn new() -> Self {
        let mut t = Self {
            entries: Vec::new(),
            full_names: Vec::new(),
            parent: Vec::new(),
            no_auth: Vec::new(),
            protected: Vec::new(),
            no_multi: Vec::new(),
            ends_multi: Vec::new(),
            in_subscribe_mode: Vec::new(),
            deny_oom: Vec::new(),
            stats: Vec::new(),
            by_name: HashMap::default(),
            by_full_name: HashMap::default(),
        };
        for family in FAMILIES {
            for cmd in family.iter() {
                let id = t.add(cmd, cmd.name.to_string(), None);
                for sub in cmd.subcommands {
                    t.add(sub, format!("{}|{}", cmd.name, sub.name), Some(id));
                }
            }
        }
        t
    }

    fn add(&mut self, cmd: &'static Command, full: String, parent: Option<CmdId>) -> CmdId {
        let id = self.entries.len();
        self.entries.push(cmd);
        if parent.is_none() {
            self.by_name.insert(full.clone().into_bytes(), id);
        }
        self.by_full_name.insert(full.clone().into_bytes(), id);
        self.parent.push(parent);
        self.no_auth.push(cmd.has_flag("no_auth"));
        self.protected.push(cmd.has_flag("protected"));
        self.no_multi.push(cmd.has_flag("no_multi"));
        self.deny_oom.push(cmd.has_flag("denyoom"));
        self.ends_multi.push(matches!(
            full.as_str(),
            "exec" | "discard" | "quit" | "reset"
        ));
        self.in_subscribe_mode.push(matches!(
            full.as_str(),
            "subscribe"
                | "psubscribe"
                | "ssubscribe"
                | "unsubscribe"
                | "punsubscribe"
                | "sunsubscribe"
                | "ping"
                | "quit"
                | "reset"
        ));
        self.full_names.push(full);
        self.stats.push(CmdStats::default());
        id
    }

    /// Finds the command (or subcommand) `argv` names, case-insensitively.
    pub fn lookup(&self, argv: &[&[u8]]) -> Result<CmdId, LookupError> {
        let mut buf = [0u8; 64];
        let name = crate::util::lowercase(argv[0], &mut buf).ok_or(LookupError::Unknown)?;
        let &id = self.by_name.get(name).ok_or(LookupError::Unknown)?;
        if self.entries[id].subcommands.is_empty() {
            return Ok(id);
        }
        // A container named alone: COMMAND runs, others fail their arity.
        let Some(sub) = argv.get(1) else {
            return Ok(id);
        };
        let mut full = Vec::with_capacity(name.len() + 1 + sub.len());
        full.extend_from_slice(name);
        full.push(b'|');
        full.extend(sub.iter().map(|c| c.to_ascii_lowercase()));
        self.by_full_name
            .get(&full)
            .copied()
            .ok_or(LookupError::UnknownSub)
    }

    /// Looks a command up by its full name ("config|get"), any case.
    pub fn by_full_name(&self, name: &[u8]) -> Option<CmdId> {
        self.by_full_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// Top-level commands, in table order.
    pub fn top_level(&self) -> impl Iterator<Item = CmdId> + '_ {
        (0..self.entries.len()).filter(|&id| self.parent[id].is_none())
    }

    pub fn subcommands_of(&self, id: CmdId) -> impl Iterator<Item = CmdId> + '_ {
        (0..self.entries.len()).filter(move |&s| self.parent[s] == Some(id))
    }
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

// Helpers shared by the families.

/// Parses an integer argument (Valkey's getLongLongFromObjectOrReply).
pub fn int_arg(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(CmdError::NotInteger)
}

/// Case-insensitive comparison of an argument with a keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// The string held by a value, or WRONGTYPE.
pub fn as_str(value: ValueRef<'_>) -> Result<StrRef<'_>, CmdError> {
    match value {
        ValueRef::Str(s) => Ok(s),
        ValueRef::Packed(..) | ValueRef::Value(_) => Err(CmdError::WrongType),
    }
}

/// The value of type `T` under `key`, looked up for a read (hits, misses,
/// CLIENT NO-TOUCH); None if missing, WRONGTYPE if of another type.
pub fn read_as<'a, T: Typed>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<Cow<'a, T>>, CmdError> {
    let (now, touch) = (ctx.now_ms, !ctx.client.no_touch);
    match ctx.db().lookup_read(key, now, touch) {
        Some(e) => T::of(e.value()).map(Some).ok_or(CmdError::WrongType),
        None => Ok(None),
    }
}

/// The value of type `T` under `key`, which the command has just looked up
/// (so no second lookup is counted in the stats).
pub fn looked_up<'a, T: Typed>(ctx: &'a mut Ctx, key: &[u8]) -> Cow<'a, T> {
    ctx.db().get_typed(key).expect("looked up above")
}

/// The value of type `T` under `key`, looked up for a write.
pub fn write_as<'a, T: Typed>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut T>, CmdError> {
    let now = ctx.now_ms;
    match ctx.db().lookup_write(key, now) {
        Some(e) => e.typed_mut().map(Some).ok_or(CmdError::WrongType),
        None => Ok(None),
    }
}

/// An expiry time argument as an absolute Unix ms time: seconds or
/// milliseconds, relative to now or absolute. Values below `min` (SET
/// takes from 1, HEXPIRE from 0, EXPIRE anything) and times out of range
/// are Valkey's "invalid expire time".
pub fn expire_time(
    arg: &[u8],
    unit_secs: bool,
    absolute: bool,
    now_ms: i64,
    min: i64,
    cmd: &'static str,
) -> Result<i64, CmdError> {
    let v = int_arg(arg)?;
    if v < min || (unit_secs && !(i64::MIN / 1000..=i64::MAX / 1000).contains(&v)) {
        return Err(CmdError::InvalidExpire(cmd));
    }
    let ms = if unit_secs { v * 1000 } else { v };
    let base = if absolute { 0 } else { now_ms };
    ms.checked_add(base).ok_or(CmdError::InvalidExpire(cmd))
}

/// What TTL / PTTL / EXPIRETIME / PEXPIRETIME (and their hash field
/// twins) report for an expiry at `at`: what is left or the time itself,
/// in ms or rounded to seconds.
pub fn ttl_reply(at: i64, now_ms: i64, millis: bool, absolute: bool) -> i64 {
    let t = if absolute { at } else { (at - now_ms).max(0) };
    if millis { t } else { (t + 500) / 1000 }
}

/// The NX / XX / GT / LT conditions of the EXPIRE families.
#[derive(Default, Clone, Copy)]
pub struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCond {
    /// Reads the condition words at the start of `words`; returns them and
    /// how many words they took.
    pub fn parse(words: &[&[u8]]) -> (ExpireCond, usize) {
        let mut c = ExpireCond::default();
        let mut used = 0;
        for w in words {
            match () {
                _ if is(w, "nx") => c.nx = true,
                _ if is(w, "xx") => c.xx = true,
                _ if is(w, "gt") => c.gt = true,
                _ if is(w, "lt") => c.lt = true,
                _ => break,
            }
            used += 1;
        }
        (c, used)
    }

    /// Refuses the combinations Valkey refuses.
    pub fn check(&self) -> Result<(), CmdError> {
        if self.nx && (self.xx || self.gt || self.lt) {
            return Err(err(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if self.gt && self.lt {
            return Err(err(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(())
    }

    /// Whether the expiry may go from `current` (None: none) to `when`; no
    /// expiry counts as infinitely far.
    pub fn allows(&self, current: Option<i64>, when: i64) -> bool {
        !((self.nx && current.is_some())
            || (self.xx && current.is_none())
            || (self.gt && current.is_none_or(|c| when <= c))
            || (self.lt && current.is_some_and(|c| when >= c)))
    }
}

/// A blocking command's timeout in seconds (fractions allowed; 0 is
/// forever), as Valkey parses it: the deadline in Unix ms, or None.
pub fn deadline(ctx: &Ctx, arg: &[u8]) -> Result<Option<i64>, CmdError> {
    let seconds = std::str::from_utf8(arg)
        .ok()
        .filter(|t| !t.starts_with(char::is_whitespace))
        .and_then(parse_f64_strtod)
        .filter(|v| !v.is_nan())
        .ok_or_else(|| err("ERR timeout is not a float or out of range"))?;
    let ms = (seconds * 1000.0).ceil();
    if ms > i64::MAX as f64 {
        return Err(err("ERR timeout is out of range"));
    }
    if ms < 0.0 {
        return Err(err("ERR timeout is negative"));
    }
    let ms = ms as i64;
    if ms == 0 {
        return Ok(None);
    }
    ms.checked_add(ctx.now_ms)
        .map(Some)
        .ok_or_else(|| err("ERR timeout is out of range"))
}

/// Asks the event loop to block this client on `keys` until one holds a
/// value of type `waits_for`; inside EXEC, replies `nothing` instead.
pub fn block(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    deadline_ms: Option<i64>,
    waits_for: &'static str,
    nothing: fn(&mut ReplyWriter),
) {
    if ctx.client.in_exec {
        // Inside a transaction nothing may wait: reply as if timed out.
        nothing(ctx.out);
        return;
    }
    ctx.client.block = Some(crate::server::blocking::BlockRequest {
        keys: keys.iter().map(|k| k.to_vec()).collect(),
        deadline_ms,
        waits_for,
    });
}

/// HSCAN / SSCAN / ZSCAN arguments: the cursor, then COUNT, MATCH and
/// (HSCAN only) NOVALUES.
pub struct ScanArgs<'a> {
    pub cursor: u64,
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    pub novalues: bool,
}

/// SCAN's NOVALUES on anything but a hash.
pub const NOVALUES_ONLY_HSCAN: CmdError = CmdError::Other(std::borrow::Cow::Borrowed(
    "ERR NOVALUES option can only be used in HSCAN",
));

impl<'a> ScanArgs<'a> {
    /// Parses `argv[2..]` of a key-scanning command.
    pub fn parse(argv: &[&'a [u8]], novalues_ok: bool) -> Result<ScanArgs<'a>, CmdError> {
        let cursor = std::str::from_utf8(argv[2])
            .ok()
            .filter(|s| !s.starts_with('+'))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| err("ERR invalid cursor"))?;
        let mut args = ScanArgs {
            cursor,
            count: 10,
            pattern: None,
            novalues: false,
        };
        let mut i = 3;
        while i < argv.len() {
            match (argv[i], argv.get(i + 1)) {
                (o, Some(v)) if is(o, "count") => {
                    let c = int_arg(v)?;
                    if c < 1 {
                        return Err(CmdError::Syntax);
                    }
                    args.count = c.min(i64::from(u32::MAX)) as usize;
                    i += 2;
                }
                (o, Some(v)) if is(o, "match") => {
                    args.pattern = Some(*v).filter(|p| *p != b"*");
                    i += 2;
                }
                (o, _) if is(o, "novalues") && novalues_ok => {
                    args.novalues = true;
                    i += 1;
                }
                (o, _) if is(o, "novalues") => return Err(NOVALUES_ONLY_HSCAN),
                _ => return Err(CmdError::Syntax),
            }
        }
        Ok(args)
    }

    /// Whether a member passes MATCH.
    pub fn matches(&self, member: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| crate::util::glob::matches(p, member, false))
    }
}

/// The reply of a key-scanning command: the cursor, then the elements.
pub fn reply_scan(out: &mut ReplyWriter, next: u64, elements: &[&[u8]]) {
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(elements.len());
    for e in elements {
        out.bulk(e);
    }
}

/// LMPOP / ZMPOP / their blocking forms, from `numkeys` on: the keys,
/// the side (`side` reads LEFT|RIGHT or MIN|MAX) and COUNT (default 1).
pub fn mpop_args<'a>(
    argv: &'a [&'a [u8]],
    side: fn(&[u8]) -> Result<bool, CmdError>,
) -> Result<(&'a [&'a [u8]], bool, usize), CmdError> {
    let numkeys = match parse_i64(argv[0]) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(err("ERR numkeys should be greater than 0")),
    };
    let where_at = 1usize.saturating_add(numkeys);
    let Some(&where_arg) = argv.get(where_at) else {
        return Err(CmdError::Syntax);
    };
    let side = side(where_arg)?;
    let mut count = None;
    let mut rest = argv[where_at + 1..].iter();
    while let Some(opt) = rest.next() {
        match rest.next() {
            Some(v) if count.is_none() && is(opt, "count") => match parse_i64(v) {
                Some(n) if n > 0 => count = Some(n as usize),
                _ => return Err(err("ERR count should be greater than 0")),
            },
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok((&argv[1..where_at], side, count.unwrap_or(1)))
}

/// A count that may be negative but not i64::MIN (LPOS RANK, HRANDFIELD,
/// SRANDMEMBER, ZRANDMEMBER), with Valkey's error for that one value.
pub fn signed_count(arg: &[u8]) -> Result<i64, CmdError> {
    match int_arg(arg)? {
        i64::MIN => Err(err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        n => Ok(n),
    }
}

/// `count` distinct random positions below `len` (a partial shuffle), for
/// the RANDMEMBER / RANDFIELD / SPOP samples.
/// What SPOP, SRANDMEMBER and HRANDFIELD draw.
#[derive(Clone, Copy)]
pub enum Pick {
    One,
    /// That many, an element possibly more than once.
    Repeats(usize),
    /// That many different elements (fewer than there are).
    Distinct(usize),
}

/// Random elements of the collection of type `C` at `key` (of `len`
/// elements, just looked up). A compact encoding picks by position. A
/// hashtable draws random elements, distinct ones until it has enough;
/// asked for more than a third of it, it picks positions in one pass over
/// it instead (Valkey's SRANDMEMBER cases 3 and 4).
pub fn random_elements<C: Sampled>(
    ctx: &mut Ctx,
    key: &[u8],
    len: usize,
    pick: Pick,
) -> Vec<C::Element> {
    if !looked_up::<C>(ctx, key).is_table() || matches!(pick, Pick::Distinct(n) if n * 3 > len) {
        let positions = match pick {
            Pick::One => vec![ctx.random_below(len)],
            Pick::Repeats(n) => (0..n).map(|_| ctx.random_below(len)).collect(),
            Pick::Distinct(n) => distinct_positions(ctx, len, n),
        };
        return looked_up::<C>(ctx, key).at_positions(&positions);
    }
    let db = ctx.client.db;
    let (dbs, mut rng) = ctx.srv.dbs_and_sampler();
    let c = dbs[db].get_typed::<C>(key).expect("looked up above");
    let mut draw = || c.draw(&mut rng).expect("a non-empty table");
    match pick {
        Pick::One => vec![draw()],
        Pick::Repeats(n) => (0..n).map(|_| draw()).collect(),
        Pick::Distinct(n) => {
            let mut seen = HashSet::with_capacity(n);
            let mut picks = Vec::with_capacity(n);
            while picks.len() < n {
                let e = draw();
                if seen.insert(e.clone()) {
                    picks.push(e);
                }
            }
            picks
        }
    }
}

pub fn distinct_positions(ctx: &mut Ctx, len: usize, count: usize) -> Vec<usize> {
    // A partial Fisher-Yates shuffle over 0..len whose swapped slots live
    // in a map: O(count), however large the collection.
    let mut moved: HashMap<usize, usize> = HashMap::with_capacity(2 * count);
    let mut picks = Vec::with_capacity(count);
    for k in 0..count.min(len) {
        let j = k + (ctx.srv.random_u64() % (len - k) as u64) as usize;
        let at_j = moved.get(&j).copied().unwrap_or(j);
        let at_k = moved.get(&k).copied().unwrap_or(k);
        moved.insert(j, at_k);
        picks.push(at_j);
    }
    picks
}

/// The string held by a value, mutably, or WRONGTYPE.
pub fn as_str_mut(value: &mut Value) -> Result<&mut StrValue, CmdError> {
    match value {
        Value::Str(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Replies with a string value as a bulk string.
pub fn reply_str(out: &mut ReplyWriter, s: StrRef<'_>) {
    match s {
        StrRef::Int(v) => out.bulk_i64(v),
        StrRef::Bytes { data, .. } => out.bulk(data),
    }
}

/// Replies with a help text as Valkey does: an array of status lines.
pub fn reply_help(out: &mut ReplyWriter, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for line in lines {
        out.simple(line);
    }
    out.simple("HELP");
    out.simple("    Print this help.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_generated_docs() {
        let t = CommandTable::new();
        for name in &t.full_names {
            assert!(
                docs::docs(name).is_some(),
                "no COMMAND DOCS for {name}: run ci/gen-command-docs"
            );
        }
    }

    #[test]
    fn key_specs_agree_with_first_last_step() {
        let t = CommandTable::new();
        for (id, cmd) in t.entries.iter().enumerate() {
            let name = &t.full_names[id];
            if cmd.has_flag("movablekeys") {
                // Keys found by their specs (LMPOP numkeys key ...); the
                // legacy range covers a fixed first key at most (ZUNIONSTORE).
                assert!(!cmd.key_specs.is_empty(), "{name}");
                if cmd.first_key != 0 {
                    assert_eq!(cmd.key_specs[0].begin, cmd.first_key, "{name}");
                }
                continue;
            }
            assert_eq!(cmd.first_key == 0, cmd.key_specs.is_empty(), "{name}");
            if let Some(first) = cmd.key_specs.first() {
                assert_eq!(first.begin, cmd.first_key, "{name}");
            }
        }
    }
}
