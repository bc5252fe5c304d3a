//! One RDMA connection speaking Valkey's protocol, for either side: the
//! server's accepted connections and the client library's. It turns verbs
//! completions into a byte stream with `read`/`write` that never block
//! (`WouldBlock` when there is nothing to do), like a non-blocking socket.
//!
//! Memory: one control region (1024 receive slots + 1024 send slots of 32
//! bytes, local access only), the receive buffer the peer writes into
//! (LOCAL_WRITE | REMOTE_WRITE, the only remotely writable memory), and a
//! staging region for our writes, sized to what the peer advertised.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::protocol::{
    CMD_LEN, ControlMsg, DEAD_PEER_SECS, KEEPALIVE_SECS, RECV_DEPTH, RX_SIZE_MAX, RxState,
    SendQueue, Sent, TxState,
};
use super::verbs::{
    Access, CmEndpoint, CmEvent, CmId, Completion, EventChannel, QueuePair, QueueSizes, cm_event,
    wc_opcode, wc_status,
};

/// Completion queue entries: every receive and every send can be in flight.
const CQ_ENTRIES: u32 = 2048;
const SEND_DEPTH: u32 = 1024;
/// Signal one data write in this many (Valkey's server: 512).
const SIGNAL_EVERY: u32 = 512;

const CTRL: usize = 0;
const RX: usize = 1;
const TX: usize = 2;
/// Control region layout: receive slots first, then send slots.
const CTRL_SLOTS: usize = 2 * RECV_DEPTH;

/// Control messages owed to the peer that could not be posted yet beyond
/// which the peer is flooding us (e.g. with GetServerFeature).
const OWED_MAX: usize = RECV_DEPTH;

/// Which side of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Server,
    Client,
}

#[derive(Debug)]
enum State {
    /// Accepted or connecting; waiting for ESTABLISHED.
    Connecting,
    Established,
    /// The peer disconnected, or an error ended the connection.
    Closed(Option<String>),
}

/// Control messages received on a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlStats {
    pub keepalives: u64,
    /// RegisterXferMemory messages (the first, then one per buffer lap).
    pub advertisements: u64,
    /// The last GetServerFeature received: (select, features).
    pub last_feature: Option<(u16, u64)>,
}

pub struct RdmaConn {
    qp: QueuePair,
    stats: ControlStats,
    role: Role,
    state: State,
    rx: RxState,
    tx: TxState,
    sq: SendQueue,
    /// Control messages to send once a slot and send-queue room free up.
    owed: Vec<ControlMsg>,
    /// Test hook: the immediate the next write announces.
    imm_override: Option<u32>,
    /// Closing: [`RdmaConn::linger_step`] has started.
    lingering: bool,
    /// Messages sent (each consumes one of the peer's posted receives)
    /// since the peer last sent us anything.
    unheard: u32,
    last_keepalive: Instant,
    /// The oldest keepalive not yet acknowledged: its wr_id and when it left.
    unacked_keepalive: Option<(u64, Instant)>,
    scratch: Vec<Completion>,
    /// Completions handled so far, and the count at the last keepalive
    /// tick: a tick that saw none may nudge the device.
    completions: u64,
    completions_at_tick: u64,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
}

fn sizes(comp_vector: i32) -> QueueSizes {
    QueueSizes {
        cq_entries: CQ_ENTRIES,
        send_wr: SEND_DEPTH,
        recv_wr: RECV_DEPTH as u32,
        comp_vector,
    }
}

impl RdmaConn {
    /// Sets up the queues and buffers on `id` and posts every receive, so
    /// nothing the peer sends after connecting can find us unready.
    fn with_queues(ep: CmEndpoint, role: Role, rx_size: u32, comp_vector: i32) -> io::Result<Self> {
        let mut qp = QueuePair::new(ep, sizes(comp_vector))?;
        let ctrl = qp.register(CTRL_SLOTS * CMD_LEN, Access::Local)?;
        let rx = qp.register(rx_size as usize, Access::RemoteWrite)?;
        debug_assert!(ctrl == CTRL && rx == RX);
        for slot in 0..RECV_DEPTH {
            qp.post_recv(slot as u64, CTRL, slot * CMD_LEN, CMD_LEN as u32)?;
        }
        let local = qp.id().local_addr();
        let peer = qp.id().peer_addr();
        Ok(Self {
            qp,
            stats: ControlStats::default(),
            role,
            state: State::Connecting,
            rx: RxState::new(rx_size),
            tx: TxState::default(),
            sq: SendQueue::new(SEND_DEPTH, RECV_DEPTH as u16, SIGNAL_EVERY),
            owed: Vec::new(),
            imm_override: None,
            lingering: false,
            unheard: 0,
            last_keepalive: Instant::now(),
            unacked_keepalive: None,
            scratch: Vec::with_capacity(64),
            completions: 0,
            completions_at_tick: 0,
            local,
            peer,
        })
    }

    /// Server side: takes the id of a CONNECT_REQUEST (already
    /// acknowledged), moves its events to a channel of its own, sets up the
    /// connection and accepts it. On failure the request is rejected.
    pub fn accept(request: CmEvent, rx_size: u32, comp_vector: i32) -> io::Result<Self> {
        // On an error before accepting, dropping the id rejects the request.
        let ep = CmEndpoint::from_request(request)?;
        let conn = Self::with_queues(ep, Role::Server, rx_size, comp_vector)?;
        if let Err(e) = conn.qp.id().accept() {
            conn.qp.id().reject();
            return Err(e);
        }
        Ok(conn)
    }

    /// Client side: resolves `addr`, sets up the connection and connects,
    /// waiting up to `timeout` in all. A server that is not listening is
    /// `ConnectionRefused`.
    pub fn connect(addr: SocketAddr, rx_size: u32, timeout: Duration) -> io::Result<Self> {
        let deadline = Instant::now() + timeout;
        let ep = CmEndpoint::new()?;
        let (id, channel) = (&ep.id, &ep.channel);
        // Valkey's client allows 100 ms for each resolution step; under
        // software RoCE in a VM that is tight, so use the caller's budget.
        let step_ms = |deadline: Instant| {
            deadline
                .saturating_duration_since(Instant::now())
                .as_millis()
                .clamp(1, i32::MAX as u128) as i32
        };
        id.resolve_addr(addr, step_ms(deadline))?;
        expect_event(channel, id, cm_event::RDMA_CM_EVENT_ADDR_RESOLVED, deadline)?;
        id.resolve_route(step_ms(deadline))?;
        expect_event(
            channel,
            id,
            cm_event::RDMA_CM_EVENT_ROUTE_RESOLVED,
            deadline,
        )?;
        let mut conn = Self::with_queues(ep, Role::Client, rx_size, -1)?;
        conn.qp.id().connect()?;
        let ev = expect_event(
            conn.qp.cm_channel(),
            conn.qp.id(),
            cm_event::RDMA_CM_EVENT_ESTABLISHED,
            deadline,
        )?;
        conn.on_cm_event(&ev);
        conn.send_owed();
        conn.peer = conn.qp.id().peer_addr();
        conn.local = conn.qp.id().local_addr();
        Ok(conn)
    }

    /// The connection manager's fd and the completion channel's fd: poll
    /// both for readability.
    pub fn fds(&self) -> [std::os::fd::RawFd; 2] {
        [self.qp.cm_fd(), self.qp.comp_fd()]
    }

    /// Owned duplicates of [`fds`](Self::fds), for an event loop that takes
    /// ownership of what it watches (Tokio's `AsyncFd`): each is readable
    /// exactly when its original is, and closing one leaves the original
    /// open. As with `fds`, `read` and `write` drain and re-arm both before
    /// returning `WouldBlock`, so waiting for the next edge after one is safe.
    pub fn wait_fds(&self) -> io::Result<[std::os::fd::OwnedFd; 2]> {
        self.qp.dup_fds()
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established)
    }

    /// Received bytes not yet read.
    pub fn buffered(&self) -> usize {
        self.rx.pending().len()
    }

    fn fail(&mut self, why: String) {
        if !matches!(self.state, State::Closed(_)) {
            self.state = State::Closed(Some(why));
            self.qp.id().disconnect();
        }
    }

    /// Handles everything that happened: connection events, completions
    /// (edge-triggered channel: drain, re-arm, drain again), and control
    /// messages owed to the peer.
    pub fn progress(&mut self) {
        if matches!(self.state, State::Closed(_)) {
            return;
        }
        // Completions first: data that arrived before a disconnect is read
        // before the disconnect is seen.
        if let Err(e) = self.qp.take_events() {
            return self.fail(e.to_string());
        }
        self.drain_cq();
        if let Err(e) = self.qp.arm() {
            return self.fail(format!("ibv_req_notify_cq: {e}"));
        }
        self.drain_cq();
        loop {
            match self.qp.cm_channel().next_event() {
                Ok(Some(ev)) => self.on_cm_event(&ev),
                Ok(None) => break,
                Err(e) => return self.fail(e.to_string()),
            }
        }
        self.send_owed();
    }

    fn on_cm_event(&mut self, ev: &CmEvent) {
        match ev.kind {
            cm_event::RDMA_CM_EVENT_ESTABLISHED => {
                if matches!(self.state, State::Connecting) {
                    self.state = State::Established;
                    // Tell the peer where to write, at once.
                    self.owe(self.advertisement());
                }
            }
            cm_event::RDMA_CM_EVENT_DISCONNECTED | cm_event::RDMA_CM_EVENT_TIMEWAIT_EXIT => {
                if !matches!(self.state, State::Closed(_)) {
                    self.state = State::Closed(None);
                    self.qp.id().disconnect();
                }
            }
            kind => {
                self.fail(format!(
                    "{} (status {})",
                    super::verbs::cm_event_str(kind),
                    ev.status
                ));
            }
        }
    }

    fn advertisement(&self) -> ControlMsg {
        let r = self.qp.region(RX);
        ControlMsg::RegisterXferMemory {
            addr: r.addr(),
            length: r.size() as u32,
            rkey: r.rkey(),
        }
    }

    fn drain_cq(&mut self) {
        let mut batch = std::mem::take(&mut self.scratch);
        loop {
            batch.clear();
            let n = match self.qp.poll(&mut batch, 32) {
                Ok(n) => n,
                Err(e) => {
                    self.fail(e.to_string());
                    break;
                }
            };
            self.completions += n as u64;
            for wc in &batch {
                if let Err(why) = self.on_completion(wc) {
                    self.fail(why);
                }
            }
            if n < 32 || matches!(self.state, State::Closed(_)) {
                break;
            }
        }
        self.scratch = batch;
    }

    fn on_completion(&mut self, wc: &Completion) -> Result<(), String> {
        if wc.status != wc_status::IBV_WC_SUCCESS {
            if matches!(self.state, State::Closed(_)) {
                return Ok(()); // requests flushed by the teardown
            }
            return Err(format!(
                "work completion failed: {} (status {}, opcode {}, wr_id {:#x})",
                super::verbs::wc_status_str(wc.status),
                wc.status,
                wc.opcode,
                wc.wr_id
            ));
        }
        match wc.opcode {
            wc_opcode::IBV_WC_RECV => {
                self.unheard = 0;
                let slot = recv_slot(wc.wr_id)?;
                if wc.byte_len as usize != CMD_LEN {
                    return Err(format!(
                        "control message of {} bytes (want {CMD_LEN})",
                        wc.byte_len
                    ));
                }
                let mut msg = [0u8; CMD_LEN];
                self.qp.region(CTRL).read(slot * CMD_LEN, &mut msg);
                self.repost(slot)?;
                let msg = ControlMsg::decode(&msg).map_err(|e| e.to_string())?;
                self.on_control(msg)
            }
            wc_opcode::IBV_WC_RECV_RDMA_WITH_IMM => {
                self.unheard = 0;
                let slot = recv_slot(wc.wr_id)?;
                self.rx.on_write(wc.imm).map_err(|e| e.to_string())?;
                self.repost(slot)
            }
            wc_opcode::IBV_WC_SEND | wc_opcode::IBV_WC_RDMA_WRITE => {
                match self.sq.on_complete(wc.wr_id) {
                    Some(Sent::Control(_) | Sent::Data) => Ok(()),
                    None => Err(format!("send completion for unknown wr_id {:#x}", wc.wr_id)),
                }
            }
            op => Err(format!("unexpected work completion opcode {op}")),
        }
    }

    fn repost(&self, slot: usize) -> Result<(), String> {
        self.qp
            .post_recv(slot as u64, CTRL, slot * CMD_LEN, CMD_LEN as u32)
            .map_err(|e| format!("ibv_post_recv: {e}"))
    }

    /// Control messages received so far.
    pub fn control_stats(&self) -> ControlStats {
        self.stats
    }

    fn on_control(&mut self, msg: ControlMsg) -> Result<(), String> {
        match msg {
            ControlMsg::RegisterXferMemory { addr, length, rkey } => {
                self.stats.advertisements += 1;
                if length == 0 || length > RX_SIZE_MAX {
                    return Err(format!(
                        "peer advertised a {length}-byte receive buffer (1..={RX_SIZE_MAX})"
                    ));
                }
                self.ensure_staging(length as usize)?;
                self.tx.on_register(addr, length, rkey);
                Ok(())
            }
            ControlMsg::GetServerFeature { select, features } => {
                self.stats.last_feature = Some((select, features));
                if self.role == Role::Server {
                    // No features are defined: answer "none" for any selector.
                    self.owe(ControlMsg::GetServerFeature {
                        select,
                        features: 0,
                    });
                }
                Ok(())
            }
            ControlMsg::SetClientFeature { features, .. } => match (self.role, features) {
                (Role::Server, 0) => Ok(()),
                _ => Err(format!("unsupported client features {features:#x}")),
            },
            ControlMsg::Keepalive => {
                self.stats.keepalives += 1;
                Ok(())
            }
        }
    }

    /// Makes the staging region at least `len` bytes. Growing it replaces
    /// the region, which must not be read by a write still in flight.
    fn ensure_staging(&mut self, len: usize) -> Result<(), String> {
        let have = self.qp.regions() > TX;
        if have && self.qp.region(TX).size() >= len {
            return Ok(());
        }
        if self.sq.outstanding() > 0 && have {
            // Only a peer re-advertising before consuming our writes gets here.
            return Err("peer re-advertised a larger buffer during a transfer".into());
        }
        let result = if have {
            self.qp.reregister(TX, len, Access::Local)
        } else {
            self.qp.register(len, Access::Local).map(|_| ())
        };
        result.map_err(|e| format!("registering the {len}-byte staging buffer: {e}"))
    }

    fn owe(&mut self, msg: ControlMsg) {
        if self.owed.len() >= OWED_MAX {
            self.fail("peer floods control messages".into());
        } else {
            self.owed.push(msg);
        }
    }

    fn send_owed(&mut self) {
        while let Some(&msg) = self.owed.first() {
            match self.post_control(&msg.encode()) {
                Ok(Some(wr_id)) => {
                    self.owed.remove(0);
                    if msg == ControlMsg::Keepalive && self.unacked_keepalive.is_none() {
                        self.unacked_keepalive = Some((wr_id, Instant::now()));
                    }
                }
                Ok(None) => return, // no room yet: retried on the next progress
                Err(e) => return self.fail(format!("ibv_post_send (control): {e}")),
            }
        }
    }

    /// Posts `msg` (at most 32 bytes) as a control SEND from a free slot;
    /// its wr_id, or None when the connection is not established or has no
    /// free slot or send-queue room now.
    fn post_control(&mut self, msg: &[u8]) -> io::Result<Option<u64>> {
        if !self.is_established() || !self.sq.has_room() {
            return Ok(None);
        }
        let Some(slot) = self.sq.take_slot() else {
            return Ok(None);
        };
        let offset = (RECV_DEPTH + slot as usize) * CMD_LEN;
        self.qp.region(CTRL).write(offset, msg);
        let wr_id = self.sq.post_control(slot);
        if let Err(e) = self.qp.post_send(wr_id, CTRL, offset, msg.len() as u32) {
            self.sq.unpost();
            self.sq.return_slot(slot);
            return Err(e);
        }
        self.unheard = self.unheard.saturating_add(1);
        Ok(Some(wr_id))
    }

    fn closed_error(&self) -> io::Error {
        match &self.state {
            State::Closed(Some(why)) => io::Error::new(ErrorKind::ConnectionAborted, why.clone()),
            _ => io::Error::new(ErrorKind::BrokenPipe, "RDMA connection closed"),
        }
    }

    /// Reads received bytes; `Ok(0)` once the peer disconnected and
    /// everything was read, `WouldBlock` when nothing is there yet.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rx.pending().is_empty() {
            self.progress();
        }
        let pending = self.rx.pending();
        if pending.is_empty() || buf.is_empty() {
            return match &self.state {
                State::Closed(None) => Ok(0),
                State::Closed(Some(_)) => Err(self.closed_error()),
                _ if buf.is_empty() => Ok(0),
                _ => Err(ErrorKind::WouldBlock.into()),
            };
        }
        let n = pending.len().min(buf.len());
        self.qp.region(RX).read(pending.start, &mut buf[..n]);
        if self.rx.consume(n) {
            // Filled and drained: the peer may write from the start again.
            self.owe(self.advertisement());
            self.send_owed();
        }
        Ok(n)
    }

    /// Writes as much of `buf` as the peer's buffer and our send queue take
    /// now (one RDMA write); `WouldBlock` when they take nothing.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.try_write(buf)? {
            0 => {
                self.progress();
                match self.try_write(buf)? {
                    0 => Err(ErrorKind::WouldBlock.into()),
                    n => Ok(n),
                }
            }
            n => Ok(n),
        }
    }

    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if matches!(self.state, State::Closed(_)) {
            return Err(self.closed_error());
        }
        if !self.is_established() || !self.sq.has_room() {
            return Ok(0);
        }
        let Some(plan) = self.tx.plan(buf.len()) else {
            return Ok(0);
        };
        let len = plan.len as usize;
        let offset = plan.offset as usize;
        self.qp.region(TX).write(offset, &buf[..len]);
        let (wr_id, signaled) = self.sq.post_data();
        let imm = self.imm_override.unwrap_or(plan.len);
        if let Err(e) = self.qp.post_write_imm(
            wr_id,
            TX,
            offset,
            (plan.len, imm),
            (plan.remote_addr, plan.rkey),
            signaled,
        ) {
            self.sq.unpost();
            let why = format!("ibv_post_send (write): {e}");
            self.fail(why);
            return Err(self.closed_error());
        }
        self.tx.commit(&plan);
        self.unheard = self.unheard.saturating_add(1);
        Ok(len)
    }

    /// Posts an empty, signaled write when requests may be outstanding;
    /// returns whether it did. Its completion retires everything before it,
    /// and posting it rings the device's doorbell again: soft-RoCE (rdma_rxe
    /// in Linux 6.1) sometimes leaves posted requests unsent until the next
    /// doorbell or incoming packet, so a peer waiting on us calls this when
    /// it has heard nothing for a while. Harmless on hardware.
    pub fn nudge(&mut self) -> bool {
        if !self.is_established() || self.sq.outstanding() == 0 || !self.sq.has_room() {
            return false;
        }
        // An empty write still names a valid target (some devices check).
        let Some(target) = self.tx.target() else {
            return false;
        };
        let wr_id = self.sq.post_marker();
        if self.qp.post_marker(wr_id, CTRL, target).is_err() {
            self.sq.unpost();
            return false;
        }
        true
    }

    /// The periodic work (call it a few times a second): sends a keepalive
    /// when one is due (every 3 s), so a peer that died surfaces as a
    /// failed or unacknowledged send; nudges the device when nothing
    /// completed since the last call.
    pub fn keepalive(&mut self, now: Instant) -> io::Result<()> {
        if self.completions == self.completions_at_tick {
            self.nudge();
        }
        self.completions_at_tick = self.completions;
        if let Some((wr_id, sent)) = self.unacked_keepalive {
            if self.sq.is_complete(wr_id) {
                self.unacked_keepalive = None;
            } else if now.duration_since(sent) >= Duration::from_secs(DEAD_PEER_SECS) {
                self.progress();
                if !self.sq.is_complete(wr_id) {
                    self.fail(format!(
                        "peer unresponsive: keepalive not acknowledged in {DEAD_PEER_SECS} s"
                    ));
                }
            }
        }
        if self.is_established()
            && now.duration_since(self.last_keepalive) >= Duration::from_secs(KEEPALIVE_SECS)
        {
            self.last_keepalive = now;
            // A peer that is alive but not polling (an idle pooled client)
            // re-posts no receives; every keepalive takes one. Stop while
            // half of its 1024 are used, or the keepalive itself would wait
            // forever for a receive and the peer would be taken for dead.
            if self.owed.is_empty() && self.unheard < KEEPALIVE_BUDGET {
                self.owe(ControlMsg::Keepalive);
            }
            self.send_owed();
        }
        match self.state {
            State::Closed(_) => Err(self.closed_error()),
            _ => Ok(()),
        }
    }

    /// Sends a well-formed control message now (GetServerFeature,
    /// SetClientFeature; the connection sends the others itself).
    pub fn send_control(&mut self, msg: ControlMsg) -> io::Result<()> {
        self.send_raw_control(&msg.encode())
    }

    /// Sends up to 32 raw bytes as a control message, valid or not: for
    /// tests of how a peer treats a misbehaving one.
    #[doc(hidden)]
    pub fn send_raw_control(&mut self, msg: &[u8]) -> io::Result<()> {
        if msg.len() > CMD_LEN {
            return Err(io::Error::other("a control slot holds 32 bytes"));
        }
        match self.post_control(msg)? {
            Some(_) => Ok(()),
            None => Err(ErrorKind::WouldBlock.into()),
        }
    }

    /// Writes `buf` like [`RdmaConn::write`] but announces `claimed` bytes
    /// in the immediate: for tests of a peer that lies about lengths.
    #[doc(hidden)]
    pub fn write_claiming(&mut self, buf: &[u8], claimed: u32) -> io::Result<()> {
        self.imm_override = Some(claimed);
        let r = self.write(buf).map(|_| ());
        self.imm_override = None;
        r
    }
}

/// How long a peer waiting for us should hear nothing before it calls
/// [`RdmaConn::nudge`] (a round trip takes microseconds on hardware and
/// well under a millisecond on soft-RoCE).
pub const NUDGE_AFTER: Duration = Duration::from_millis(5);

/// Messages sent to a silent peer after which keepalives pause (half of
/// the receives it keeps posted).
const KEEPALIVE_BUDGET: u32 = (RECV_DEPTH / 2) as u32;

/// Longest wait, when closing, for our last writes to reach the peer.
const LINGER: Duration = Duration::from_millis(200);

impl Drop for RdmaConn {
    fn drop(&mut self) {
        if !matches!(self.state, State::Closed(_)) {
            if !self.lingering {
                self.linger();
            }
            self.qp.id().disconnect();
        }
    }
}

impl RdmaConn {
    /// Disconnecting flushes work requests not yet executed, so a reply
    /// written just before closing (QUIT) would be lost. The first call
    /// posts a signaled empty write; each call then reports whether it (and
    /// so everything before it) is still in flight. An event loop calls this
    /// until false (or its patience ends) before dropping the connection,
    /// which then does not wait itself.
    pub fn linger_step(&mut self) -> bool {
        if !self.lingering {
            self.lingering = true;
            if !self.nudge() {
                return false;
            }
        }
        self.progress();
        self.sq.outstanding() > 0 && self.is_established()
    }

    /// The blocking form of [`RdmaConn::linger_step`], for owners that just
    /// drop the connection: waits up to [`LINGER`].
    fn linger(&mut self) {
        if !self.nudge() {
            return;
        }
        let deadline = Instant::now() + LINGER;
        while self.sq.outstanding() > 0 && self.is_established() {
            self.progress();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if self.sq.outstanding() > 0 {
                let _ = super::verbs::wait_readable(&self.fds(), Some(left));
            }
        }
    }
}

fn recv_slot(wr_id: u64) -> Result<usize, String> {
    usize::try_from(wr_id)
        .ok()
        .filter(|&s| s < RECV_DEPTH)
        .ok_or_else(|| format!("receive completion for unknown wr_id {wr_id:#x}"))
}

/// Waits for the event `want` on `id` (client set-up), with `deadline`.
fn expect_event(
    channel: &EventChannel,
    id: &CmId,
    want: u32,
    deadline: Instant,
) -> io::Result<CmEvent> {
    loop {
        if let Some(ev) = channel.next_event()? {
            if !id.owns(&ev) {
                continue;
            }
            if ev.kind == want {
                return Ok(ev);
            }
            let name = super::verbs::cm_event_str(ev.kind);
            let kind = match ev.kind {
                cm_event::RDMA_CM_EVENT_REJECTED => ErrorKind::ConnectionRefused,
                cm_event::RDMA_CM_EVENT_UNREACHABLE
                | cm_event::RDMA_CM_EVENT_ADDR_ERROR
                | cm_event::RDMA_CM_EVENT_ROUTE_ERROR => ErrorKind::HostUnreachable,
                _ => ErrorKind::ConnectionAborted,
            };
            return Err(io::Error::new(
                kind,
                format!("{name} (status {})", ev.status),
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                "RDMA connection set-up timed out",
            ));
        }
        super::verbs::wait_readable(&[channel.fd()], Some(left))?;
    }
}
