//! The executor's event loop: one thread, one `mio::Poll`, owning the
//! keyspace. It accepts connections, reads and parses requests in place,
//! runs commands, and writes each client's coalesced replies once per read
//! batch (DESIGN.md decision 1). The cron (active expiry, idle timeouts,
//! stats) runs `hz` times a second between events.

use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferrokv_transport::{Connection, Frame, Limits, Parsed};
use mio::{Events, Interest, Poll, Token};

use super::blocking::Blocked;
use super::client::{Client, IoSnapshot, Session};
use super::listeners::LISTENER_BASE;
use super::{Server, Shutdown, dispatch, prefetch};
use crate::keyspace::table::PREFETCH_BATCH;
use crate::util::time::unix_ms;
use crate::{notice, verbose, warning};

/// Bytes read per call while no large bulk is pending (Valkey: 16 KiB).
const READ_CHUNK: usize = 16 * 1024;
/// Largest single read while a big bulk argument is arriving.
const READ_CHUNK_MAX: usize = 64 * 1024 * 1024;
/// Stop reading a client's requests while this much output waits for it:
/// a slow reader with a deep pipeline is paused, not buffered without end.
const OUTPUT_HIGH_WATER: usize = 16 * 1024 * 1024;
/// How long a closed connection may keep its last output in flight.
const LINGER: Duration = Duration::from_millis(200);
/// How long a refused connection may take to receive why (an RDMA one
/// must be set up first).
const REFUSAL_LINGER: Duration = Duration::from_secs(2);
/// Buffers larger than this are released once empty.
const BUFFER_KEEP: usize = 1024 * 1024;

/// Valkey's reply to a non-loopback client in protected mode.
const PROTECTED_MODE_DENIED: &str = "-DENIED Running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers, you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting from the same host the server is running, however MAKE SURE the server is not publicly accessible from internet if you do so. 2) Alternatively you can just disable the protected mode by editing the configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

pub struct EventLoop {
    poll: Poll,
    /// Closed connections kept until their last output is delivered.
    lingering: Vec<Lingering>,
    /// Client slots to revisit without a new readiness event (reading was
    /// paused, or input is left over).
    revisit: Vec<usize>,
    free_slots: Vec<usize>,
    signal: Arc<AtomicUsize>,
}

impl EventLoop {
    pub fn new(srv: &mut Server) -> io::Result<Self> {
        let poll = Poll::new()?;
        srv.listeners
            .open(poll.registry().try_clone()?, &srv.config)?;
        let signal = Arc::new(AtomicUsize::new(0));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
        }
        Ok(Self {
            poll,
            lingering: Vec::new(),
            revisit: Vec::new(),
            free_slots: Vec::new(),
            signal,
        })
    }

    pub fn run(&mut self, srv: &mut Server) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_cron = Instant::now();
        loop {
            let now = Instant::now();
            let timeout = if self.revisit.is_empty() {
                let mut wait = next_cron.saturating_duration_since(now);
                if let Some(at) = srv.blocking.next_deadline() {
                    let left = at.saturating_sub(unix_ms()).max(0);
                    wait = wait.min(Duration::from_millis(left as u64));
                }
                wait
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != ErrorKind::Interrupted
            {
                return Err(e);
            }
            for event in events.iter() {
                let token = event.token().0;
                if token >= LISTENER_BASE {
                    self.accept(srv, token - LISTENER_BASE);
                } else {
                    self.serve(srv, token, event.is_readable() || event.is_read_closed());
                }
            }
            self.revisit.append(&mut srv.wrote);
            // A subscriber given many messages is flushed once.
            self.revisit.sort_unstable();
            self.revisit.dedup();
            for slot in std::mem::take(&mut self.revisit) {
                self.serve(srv, slot, true);
            }
            self.serve_blocked(srv);
            self.revisit.append(&mut srv.wrote);
            for slot in std::mem::take(&mut srv.kill_queue) {
                if let Some(client) = srv.clients[slot].take_if(|c| c.session.close_asap) {
                    self.close(srv, slot, client);
                }
            }
            if Instant::now() >= next_cron {
                self.cron(srv);
                let hz = srv.config.hz.clamp(1, 500) as u64;
                next_cron = Instant::now() + Duration::from_millis(1000 / hz);
            }
            if let Some(why) = srv.shutdown {
                self.shut_down(srv, why);
                return Ok(());
            }
        }
    }

    fn accept(&mut self, srv: &mut Server, index: usize) {
        loop {
            let Some(listener) = srv.listeners.get_mut(index) else {
                return; // closed by CONFIG SET
            };
            let conn = match listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => {
                    // One request failed (e.g. RDMA resources); others may wait.
                    warning!("Accepting client connection: {e}");
                    continue;
                }
                Err(e) => {
                    warning!("Accepting client connection: {e}");
                    return;
                }
            };
            srv.stats.connections_received += 1;
            self.add_client(srv, conn);
        }
    }

    fn add_client(&mut self, srv: &mut Server, mut conn: Box<dyn Connection>) {
        if let Some(reason) = refuse(srv, conn.is_local()) {
            srv.stats.rejected_connections += 1;
            // A fresh socket takes the short line at once; an RDMA
            // connection only once set up, so it lingers until then.
            let mut refused = Lingering {
                until: Instant::now() + REFUSAL_LINGER,
                conn,
                unsent: reason.as_bytes(),
            };
            if refused.step() {
                self.lingering.push(refused);
            }
            return;
        }
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            srv.clients.push(None);
            srv.clients.len() - 1
        });
        if let Err(e) = self.poll.registry().register(
            conn.source(),
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warning!("Registering client connection: {e}");
            self.free_slots.push(slot);
            return;
        }
        let id = srv.next_client_id;
        srv.next_client_id += 1;
        let client = Client::new(conn, id, slot, unix_ms(), srv.needs_auth());
        verbose!("Accepted {}", client.session.addr);
        if client.conn.has_buffered_input() {
            // Requests that came with the TLS handshake: no event follows.
            self.revisit.push(slot);
        }
        srv.clients[slot] = Some(client);
        srv.client_count += 1;
    }

    /// Reads, runs and writes for one client.
    fn serve(&mut self, srv: &mut Server, slot: usize, readable: bool) {
        let Some(mut client) = srv.clients.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let mut open = true;
        if readable && !client.read_paused {
            open = read_and_run(srv, &mut client, slot);
        }
        if open {
            open = flush(srv, &mut client);
        }
        if open && client.read_paused && client.pending_output() < OUTPUT_HIGH_WATER / 2 {
            client.read_paused = false;
            self.revisit.push(slot);
        }
        if open && client.session.close_asap {
            open = false;
        }
        if open
            && !client.read_paused
            && !client.session.close_after_reply
            && !client.session.close_asap
            && client.conn.has_buffered_input()
        {
            // Input arrived while writing (RDMA): no event will announce it.
            self.revisit.push(slot);
        }
        if open {
            srv.clients[slot] = Some(client);
        } else {
            self.close(srv, slot, client);
        }
    }

    /// Serves blocked clients: those whose keys received elements (their
    /// command runs again, first blocked first served, while the key still
    /// holds a list), those past their deadline (a null array), and those
    /// CLIENT UNBLOCK released. Each is revisited to flush its reply and
    /// resume its pending input.
    fn serve_blocked(&mut self, srv: &mut Server) {
        loop {
            let ready = srv.blocking.take_ready();
            if ready.is_empty() {
                break;
            }
            for (db, key) in ready {
                for slot in srv.blocking.waiters(db, &key) {
                    let now = unix_ms();
                    let Some(held) = srv.dbs[db].peek(&key, now).map(|e| e.value().type_name())
                    else {
                        break;
                    };
                    let waits_for = srv.clients[slot]
                        .as_ref()
                        .and_then(|c| c.session.blocked.as_ref())
                        .map(|b| b.waits_for);
                    if waits_for != Some(held) {
                        continue;
                    }
                    let Some(mut client) = srv.clients[slot].take() else {
                        continue;
                    };
                    let b = client
                        .session
                        .blocked
                        .take()
                        .expect("waiting clients are blocked");
                    srv.blocking.unblock(slot, &b);
                    let argv: Vec<&[u8]> = b.argv.iter().map(Vec::as_slice).collect();
                    let own_io = super::client::IoSnapshot::of(&client);
                    let mut clock = dispatch::BatchClock::start();
                    dispatch::execute(
                        srv,
                        &mut client.session,
                        &mut client.out,
                        &argv,
                        own_io,
                        &mut clock,
                    );
                    if let Some(req) = client.session.block.take() {
                        // Blocked again: it keeps its first deadline.
                        let again = Blocked {
                            deadline_ms: b.deadline_ms,
                            keys: req.keys,
                            ..b
                        };
                        srv.blocking.block(slot, &again);
                        client.session.blocked = Some(again);
                    } else {
                        self.revisit.push(slot);
                    }
                    srv.clients[slot] = Some(client);
                }
            }
        }
        let now = unix_ms();
        for slot in srv.blocking.expired(now) {
            let Some(client) = srv.clients[slot].as_mut() else {
                continue;
            };
            if let Some(b) = client.session.blocked.take() {
                srv.blocking.unblock(slot, &b);
                client.out.null_array();
                self.revisit.push(slot);
            }
        }
        self.revisit.append(&mut srv.blocking.woken);
    }

    fn close(&mut self, srv: &mut Server, slot: usize, mut client: Box<Client>) {
        if let Some(b) = client.session.blocked.take() {
            srv.blocking.unblock(slot, &b);
        }
        let s = &mut client.session;
        srv.watches.unwatch_all(s.id, &mut s.watched);
        srv.pubsub.unsubscribe_all(slot, &mut s.subs);
        let _ = self.poll.registry().deregister(client.conn.source());
        if client.conn.linger() {
            self.lingering.push(Lingering {
                until: Instant::now() + LINGER,
                conn: client.conn,
                unsent: b"",
            });
        }
        verbose!(
            "Client closed connection id={} addr={}",
            client.session.id,
            client.session.addr
        );
        srv.client_count -= 1;
        self.free_slots.push(slot);
    }

    fn cron(&mut self, srv: &mut Server) {
        let now_ms = unix_ms();
        if srv.active_expire_enabled {
            let started = Instant::now();
            let hz = srv.config.hz.clamp(1, 500) as u32;
            let effort = srv.config.active_expire_effort as u32;
            {
                let (dbs, mut rng) = srv.dbs_and_sampler();
                // Deleted keys are counted as expired by the databases themselves.
                crate::keyspace::expire::active_expire_cycle(dbs, now_ms, hz, effort, &mut rng);
            }
            // Expired hash fields changed their keys: WATCHers must know.
            for db in 0..srv.dbs.len() {
                for key in std::mem::take(&mut srv.dbs[db].reaped_hashes) {
                    srv.touch(db, &key);
                }
            }
            srv.flush_db_events(None);
            self.revisit.append(&mut srv.wrote);
            srv.stats.expire_cycle_us += started.elapsed().as_micros() as u64;
        }
        // Idle clients past `timeout`.
        let timeout_ms = srv.config.timeout * 1000;
        if timeout_ms > 0 {
            for slot in 0..srv.clients.len() {
                // As Valkey: subscribers and blocked clients wait by design.
                let idle = |c: &mut Box<Client>| {
                    let s = &c.session;
                    now_ms - s.last_interaction_ms > timeout_ms
                        && !s.subs.any()
                        && s.blocked.is_none()
                };
                if let Some(client) = srv.clients[slot].take_if(idle) {
                    verbose!("Closing idle client");
                    self.close(srv, slot, client);
                }
            }
        }
        let now = Instant::now();
        for slot in 0..srv.clients.len() {
            let Some(client) = srv.clients[slot].as_mut() else {
                continue;
            };
            if let Err(e) = client.conn.tick(now) {
                log_io_error(client, "Keeping alive", &e);
                let client = srv.clients[slot].take().expect("checked above");
                self.close(srv, slot, client);
            } else if client.conn.has_buffered_input() || client.pending_output() > 0 {
                // The tick may have taken events (RDMA) that carried input
                // or room for pending output: serve it without a new event.
                self.revisit.push(slot);
            }
        }
        // Closed connections whose last output is still in flight.
        self.lingering.retain_mut(|l| now < l.until && l.step());
        crate::observability::alloc::sample_peak();
        let samples = &mut srv.stats.ops_samples;
        samples.push((now_ms, srv.stats.commands_processed));
        if samples.len() > 16 {
            samples.remove(0);
        }
        match self.signal.swap(0, Ordering::Relaxed) {
            0 => {}
            sig if sig == signal_hook::consts::SIGINT as usize => {
                srv.shutdown = Some(Shutdown::Signal("SIGINT"))
            }
            _ => srv.shutdown = Some(Shutdown::Signal("SIGTERM")),
        }
    }

    fn shut_down(&mut self, srv: &mut Server, why: Shutdown) {
        if let Shutdown::Signal(name) = why {
            warning!("Received {name} scheduling shutdown...");
        }
        notice!("User requested shutdown...");
        // Give replies already produced a last chance to go out.
        for slot in 0..srv.clients.len() {
            if let Some(mut c) = srv.clients[slot].take() {
                flush(srv, &mut c);
            }
        }
        if !srv.config.pidfile.is_empty() {
            notice!("Removing the pid file.");
            let _ = std::fs::remove_file(&srv.config.pidfile);
        }
        if !srv.config.unixsocket.is_empty() {
            notice!("Removing the unix socket file.");
        }
        srv.listeners.close_all();
        notice!("ferrokv is now ready to exit, bye bye...");
    }
}

/// A connection being closed that still has output to deliver: a refusal
/// line not yet written, or writes in flight (see `Connection::linger`).
struct Lingering {
    until: Instant,
    conn: Box<dyn Connection>,
    unsent: &'static [u8],
}

impl Lingering {
    /// Makes progress; false once done (or failed): then drop it.
    fn step(&mut self) -> bool {
        while !self.unsent.is_empty() {
            match self.conn.write(self.unsent) {
                Ok(0) => return false,
                Ok(n) => self.unsent = &self.unsent[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.conn.linger()
    }
}

/// Why a new connection (from a local address or not) must be turned away,
/// as the line to send it.
fn refuse(srv: &Server, is_local: bool) -> Option<&'static str> {
    if srv.client_count as i64 >= srv.config.maxclients {
        return Some("-ERR max number of clients reached\r\n");
    }
    if srv.config.protected_mode && srv.config.requirepass.is_empty() && !is_local {
        return Some(PROTECTED_MODE_DENIED);
    }
    None
}

/// Reads everything available and runs each complete request. Returns false
/// when the connection is finished.
fn read_and_run(srv: &mut Server, c: &mut Client, slot: usize) -> bool {
    // Input left over from a pause (or a block) runs first.
    if c.pending_input() > 0 {
        run_requests(srv, c, &mut dispatch::BatchClock::start(), slot);
    }
    loop {
        if c.session.close_after_reply || c.session.close_asap {
            return true;
        }
        if c.pending_output() >= OUTPUT_HIGH_WATER {
            c.read_paused = true;
            return true;
        }
        let want = c
            .parser
            .pending_bulk(c.pending_input())
            .map_or(READ_CHUNK, |rest| rest.clamp(READ_CHUNK, READ_CHUNK_MAX));
        make_room(c, want);
        let spare = c.qbuf.len() - c.qend;
        let n = match c.conn.read(&mut c.qbuf[c.qend..]) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) => match e.kind() {
                ErrorKind::WouldBlock => return true,
                ErrorKind::Interrupted => continue,
                _ => {
                    log_io_error(c, "Reading from", &e);
                    return false;
                }
            },
        };
        c.qend += n;
        srv.stats.net_input_bytes += n as u64;
        srv.stats.reads_processed += 1;
        c.session.net_in += n as u64;
        let mut clock = dispatch::BatchClock::start();
        c.session.last_interaction_ms = clock.now_ms;
        // Checked before running, as Valkey does: one argument larger than
        // the limit closes the connection even if it arrived whole.
        if c.pending_input() as i64 > srv.config.client_query_buffer_limit {
            warning!(
                "Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})",
                c.session.id,
                c.session.addr,
                String::from_utf8_lossy(&c.qbuf[c.qpos..c.qpos + c.pending_input().min(64)])
            );
            srv.stats.query_buffer_limit_disconnections += 1;
            return false;
        }
        run_requests(srv, c, &mut clock, slot);
        if n < spare {
            // Drained: with edge-triggered readiness, data arriving after
            // this read raises a new event.
            return true;
        }
    }
}

/// Ensures `qbuf` has `want` bytes free after `qend`, first reclaiming
/// consumed space. The buffer stays initialised, so reads need no zeroing.
fn make_room(c: &mut Client, want: usize) {
    if c.qpos == c.qend {
        c.qpos = 0;
        c.qend = 0;
        if c.qbuf.len() > BUFFER_KEEP && want <= READ_CHUNK {
            c.qbuf = Vec::new();
        }
    } else if c.qpos > 0 && c.qbuf.len() - c.qend < want {
        c.qbuf.copy_within(c.qpos..c.qend, 0);
        c.qend -= c.qpos;
        c.qpos = 0;
    }
    if c.qbuf.len() - c.qend < want {
        let len = (c.qend + want).max(c.qbuf.len() * 2).max(READ_CHUNK);
        c.qbuf.resize(len, 0);
    }
}

/// Parses and runs the complete requests buffered for `c`.
fn run_requests(srv: &mut Server, c: &mut Client, clock: &mut dispatch::BatchClock, slot: usize) {
    let mut until_prefetch = 0;
    while c.qpos < c.qend
        && !c.session.close_after_reply
        && !c.session.close_asap
        && c.session.blocked.is_none()
    {
        if until_prefetch == 0 {
            prefetch_keys(srv, c);
            until_prefetch = PREFETCH_BATCH;
        }
        until_prefetch -= 1;
        if c.pending_output() >= OUTPUT_HIGH_WATER {
            c.read_paused = true;
            return;
        }
        let limits = Limits {
            max_bulk_len: srv.config.proto_max_bulk_len as u64,
            unauthenticated: !c.session.authenticated,
        };
        let input = &c.qbuf[c.qpos..c.qend];
        match c.parser.parse(input, &limits) {
            Parsed::Command { frame, consumed } => {
                let base: &[u8] = match frame {
                    Frame::Multibulk => input,
                    Frame::Inline => &c.parser.inline_buf,
                };
                let own_io = IoSnapshot {
                    qbuf: input.len(),
                    qbuf_free: c.qbuf.len() - c.qend,
                    qbuf_cap: c.qbuf.len(),
                    omem: c.out.buf.len() - c.out_pos,
                    resp: super::client::resp_version(&c.out),
                };
                let ranges = &c.parser.args;
                // Most commands have few arguments: keep their slices on the stack.
                let mut small: [&[u8]; 8] = [&[]; 8];
                if ranges.len() <= small.len() {
                    for (slot, &(s, l)) in small.iter_mut().zip(ranges) {
                        *slot = &base[s..s + l];
                    }
                    let argv = &small[..ranges.len()];
                    dispatch::execute(srv, &mut c.session, &mut c.out, argv, own_io, clock);
                    block_if_asked(srv, &mut c.session, slot, argv);
                } else {
                    let argv: Vec<&[u8]> = ranges.iter().map(|&(s, l)| &base[s..s + l]).collect();
                    dispatch::execute(srv, &mut c.session, &mut c.out, &argv, own_io, clock);
                    block_if_asked(srv, &mut c.session, slot, &argv);
                }
                c.qpos += consumed;
            }
            Parsed::Empty { consumed } => c.qpos += consumed,
            Parsed::Incomplete => return,
            Parsed::Error(e) => {
                let text = format!("ERR {}", e.message());
                verbose!(
                    "Protocol error ({}) from client: id={} addr={}",
                    e.message(),
                    c.session.id,
                    c.session.addr
                );
                srv.count_error(text.as_bytes());
                c.out.error(&text);
                c.session.close_after_reply = true;
                return;
            }
        }
    }
}

/// Prefetches the keys of the next pipelined commands (when there are
/// several: for one, the hint would only repeat its lookup's hash).
fn prefetch_keys(srv: &Server, c: &Client) {
    let mut keys: [&[u8]; PREFETCH_BATCH] = [&[]; PREFETCH_BATCH];
    let mut n = 0;
    let next = prefetch::first_keys(&c.qbuf[c.qpos..c.qend]).take(PREFETCH_BATCH);
    for key in next.flatten() {
        keys[n] = key;
        n += 1;
    }
    if n > 1
        && let Some(db) = srv.dbs.get(c.session.db)
    {
        db.prefetch(keys[..n].iter().copied());
    }
}

/// Blocks the client if the command it just ran asked to: it keeps the
/// command to run again when a key it waits on receives elements.
fn block_if_asked(srv: &mut Server, session: &mut Session, slot: usize, argv: &[&[u8]]) {
    if let Some(req) = session.block.take() {
        let b = Blocked {
            db: session.db,
            keys: req.keys,
            deadline_ms: req.deadline_ms,
            waits_for: req.waits_for,
            argv: argv.iter().map(|a| a.to_vec()).collect(),
        };
        srv.blocking.block(slot, &b);
        session.blocked = Some(b);
    }
}

/// Logs why a connection failed: a transport that ended it (an RDMA
/// protocol violation or work-completion error) at warning level, the
/// usual resets and broken pipes only when verbose.
fn log_io_error(c: &Client, doing: &str, e: &io::Error) {
    if e.kind() == ErrorKind::ConnectionAborted {
        warning!(
            "{doing} client id={} addr={}: {e}",
            c.session.id,
            c.session.addr
        );
    } else {
        verbose!("{doing} client: {e}");
    }
}

/// Writes pending output. Returns false when the connection is finished.
fn flush(srv: &mut Server, c: &mut Client) -> bool {
    while c.out_pos < c.out.buf.len() {
        match c.conn.write(&c.out.buf[c.out_pos..]) {
            Ok(0) => return false,
            Ok(n) => {
                c.out_pos += n;
                srv.stats.net_output_bytes += n as u64;
                srv.stats.writes_processed += 1;
                c.session.net_out += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                log_io_error(c, "Writing to", &e);
                return false;
            }
        }
    }
    match c.conn.flush() {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
        Err(e) => {
            log_io_error(c, "Writing to", &e);
            return false;
        }
    }
    c.out.buf.clear();
    c.out_pos = 0;
    if c.out.buf.capacity() > BUFFER_KEEP {
        c.out.buf = Vec::new();
    }
    !c.session.close_after_reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn protected_mode_refuses_remote_clients_without_a_password() {
        let mut srv = Server::new(Config::default());
        assert_eq!(refuse(&srv, true), None);
        assert_eq!(refuse(&srv, false), Some(PROTECTED_MODE_DENIED));
        srv.config.requirepass = "secret".into();
        assert_eq!(refuse(&srv, false), None);
        srv.config.requirepass.clear();
        srv.config.protected_mode = false;
        assert_eq!(refuse(&srv, false), None);
        srv.config.maxclients = 1;
        srv.client_count = 1;
        assert_eq!(
            refuse(&srv, true),
            Some("-ERR max number of clients reached\r\n")
        );
    }
}
