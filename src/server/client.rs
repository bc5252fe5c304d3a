//! Client state: the connection, its input and output buffers, and the
//! per-connection session (selected db, name, protocol, auth ...).

use ferrokv_transport::{Connection, ReplyWriter, RequestParser};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// CLIENT REPLY SKIP was just run: it skips the reply of the next command.
    SkipNext,
}

/// Session state commands read and change.
#[derive(Debug, Default)]
pub struct Session {
    pub id: u64,
    /// Where the client sits in `Server::clients`.
    pub slot: usize,
    pub db: usize,
    pub name: Vec<u8>,
    pub authenticated: bool,
    pub lib_name: Vec<u8>,
    pub lib_ver: Vec<u8>,
    pub reply_mode: ReplyMode,
    pub no_evict: bool,
    pub no_touch: bool,
    /// Reply, then close (QUIT, protocol errors, CLIENT KILL of oneself).
    pub close_after_reply: bool,
    /// Close without replying further (killed by another client).
    pub close_asap: bool,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    /// Connected over a Unix socket or from a loopback address.
    pub is_local: bool,
    pub is_unix: bool,
    pub created_ms: i64,
    pub last_interaction_ms: i64,
    /// The last command run, as an index in the command table.
    pub last_cmd: Option<usize>,
    pub net_in: u64,
    pub net_out: u64,
    pub commands: u64,
    /// Set by a blocking command that found nothing to serve.
    pub block: Option<super::blocking::BlockRequest>,
    /// While blocked: what on, and the command to run again.
    pub blocked: Option<super::blocking::Blocked>,
    /// Between MULTI and EXEC/DISCARD: the commands queued.
    pub multi: Option<Multi>,
    /// Running the commands of an EXEC: blocking commands do not block.
    pub in_exec: bool,
    /// Keys WATCHed, with their expiry then.
    pub watched: Vec<super::watch::Watched>,
    pub subs: super::pubsub::Subscriptions,
}

/// A transaction being queued.
#[derive(Debug, Default)]
pub struct Multi {
    pub queued: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queueing: EXEC fails with EXECABORT.
    pub aborted: bool,
}

pub struct Client {
    pub conn: Box<dyn Connection>,
    /// Input buffer, always initialised: `qbuf[qpos..qend]` holds received
    /// bytes not consumed yet.
    pub qbuf: Vec<u8>,
    pub qpos: usize,
    pub qend: usize,
    pub parser: RequestParser,
    /// Pending output; `out.buf[out_pos..]` is not written yet.
    pub out: ReplyWriter,
    pub out_pos: usize,
    pub session: Session,
    /// Reading paused because the output backlog is too large.
    pub read_paused: bool,
    /// Since when (Unix ms) pending output has been above the soft limit.
    pub soft_limit_since: Option<i64>,
}

impl Client {
    pub fn new(
        conn: Box<dyn Connection>,
        id: u64,
        slot: usize,
        now_ms: i64,
        needs_auth: bool,
    ) -> Box<Self> {
        let session = Session {
            id,
            slot,
            authenticated: !needs_auth,
            addr: conn.peer_addr(),
            laddr: conn.local_addr(),
            fd: conn.raw_fd(),
            is_local: conn.is_local(),
            is_unix: conn.kind() == ferrokv_transport::TransportKind::Unix,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            ..Default::default()
        };
        Box::new(Self {
            conn,
            qbuf: Vec::new(),
            qpos: 0,
            qend: 0,
            parser: RequestParser::new(),
            out: ReplyWriter::new(),
            out_pos: 0,
            session,
            read_paused: false,
            soft_limit_since: None,
        })
    }

    pub fn pending_output(&self) -> usize {
        self.out.buf.len() - self.out_pos
    }

    pub fn pending_input(&self) -> usize {
        self.qend - self.qpos
    }
}

impl Session {
    /// One CLIENT LIST / CLIENT INFO line, Valkey's fields in Valkey's order.
    /// `cmd_names` resolves `last_cmd` (the command table's full names).
    /// CLIENT LIST's flags field.
    pub fn flags(&self) -> String {
        let mut flags = String::new();
        if self.subs.any() {
            flags.push('P');
        }
        if self.multi.is_some() || self.in_exec {
            flags.push('x');
        }
        if self.blocked.is_some() {
            flags.push('b');
        }
        if self.close_after_reply || self.close_asap {
            flags.push('A');
        }
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if self.is_unix {
            flags.push('U');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }

    pub fn info_line(&self, now_ms: i64, io: &IoSnapshot, cmd_names: &[String]) -> String {
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} capa= db={} sub={} psub={} ssub={} multi={} watch={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp={} obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={} tot-net-in={} tot-net-out={} tot-cmds={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&self.name),
            (now_ms - self.created_ms) / 1000,
            (now_ms - self.last_interaction_ms) / 1000,
            self.flags(),
            self.db,
            self.subs.channels.len(),
            self.subs.patterns.len(),
            self.subs.shard.len(),
            self.multi.as_ref().map_or(-1, |m| m.queued.len() as i64),
            self.watched.len(),
            io.qbuf,
            io.qbuf_free,
            io.qbuf_cap,
            io.qbuf_cap,
            io.omem,
            io.qbuf_cap + io.omem,
            self.last_cmd.map_or("NULL", |id| cmd_names[id].as_str()),
            io.resp,
            String::from_utf8_lossy(&self.lib_name),
            String::from_utf8_lossy(&self.lib_ver),
            self.net_in,
            self.net_out,
            self.commands,
        )
    }
}

/// Buffer sizes of a client, as CLIENT LIST reports them.
#[derive(Default, Clone)]
pub struct IoSnapshot {
    pub qbuf: usize,
    pub qbuf_free: usize,
    pub qbuf_cap: usize,
    pub omem: usize,
    pub resp: u8,
}

impl IoSnapshot {
    pub fn of(c: &Client) -> Self {
        Self {
            qbuf: c.pending_input(),
            qbuf_free: c.qbuf.len() - c.qend,
            qbuf_cap: c.qbuf.len(),
            omem: c.pending_output(),
            resp: resp_version(&c.out),
        }
    }
}

pub fn resp_version(out: &ReplyWriter) -> u8 {
    match out.proto {
        ferrokv_transport::Protocol::Resp2 => 2,
        ferrokv_transport::Protocol::Resp3 => 3,
    }
}
