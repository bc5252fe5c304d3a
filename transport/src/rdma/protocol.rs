//! Valkey's RDMA wire protocol, as plain data and state machines: the 32-byte
//! control messages and the offset bookkeeping of the linear receive and
//! transmit buffers. No verbs here, so all of it is tested without a device;
//! the verbs layer only moves bytes where these types say.
//!
//! Facts (see shared/RDMA-PROTOCOL.md): control messages are 32 bytes, all
//! fields big-endian, sent with IBV_WR_SEND; data is the RESP byte stream,
//! RDMA-written with immediate = byte count into the peer's registered
//! receive buffer, which never wraps and is re-advertised (RegisterXferMemory)
//! once completely filled and consumed.

/// Size of every control message.
pub const CMD_LEN: usize = 32;
/// Receive work requests each side keeps posted (and so the most
/// unacknowledged messages a peer may have in flight toward us).
pub const RECV_DEPTH: usize = 1024;
/// Default, smallest and largest receive buffer (`rdma-rx-size`).
pub const RX_SIZE_DEFAULT: u32 = 1024 * 1024;
pub const RX_SIZE_MIN: u32 = 64 * 1024;
pub const RX_SIZE_MAX: u32 = 16 * 1024 * 1024;
/// Seconds between keepalives.
pub const KEEPALIVE_SECS: u64 = 3;
/// A keepalive still unacknowledged after this many seconds means the peer
/// is gone. (The device's own retry limit should say so sooner, but
/// soft-RoCE keeps retransmitting to a vanished queue pair forever.)
pub const DEAD_PEER_SECS: u64 = 10;

const OP_GET_SERVER_FEATURE: u16 = 0;
const OP_SET_CLIENT_FEATURE: u16 = 1;
const OP_KEEPALIVE: u16 = 2;
const OP_REGISTER_XFER_MEMORY: u16 = 3;

/// A control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlMsg {
    /// Asks for (or, from the server, answers with) the features in `select`.
    GetServerFeature {
        select: u16,
        features: u64,
    },
    /// The client turns features on; only 0 is defined.
    SetClientFeature {
        select: u16,
        features: u64,
    },
    Keepalive,
    /// "Write into this buffer from offset 0."
    RegisterXferMemory {
        addr: u64,
        length: u32,
        rkey: u32,
    },
}

/// Why a received control message is refused (the connection is closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// The receive completed with a length other than 32.
    BadLength(usize),
    UnknownOpcode(u16),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::BadLength(n) => {
                write!(f, "control message of {n} bytes (want {CMD_LEN})")
            }
            ControlError::UnknownOpcode(op) => write!(f, "unknown control opcode {op}"),
        }
    }
}

impl ControlMsg {
    pub fn encode(&self) -> [u8; CMD_LEN] {
        let mut b = [0u8; CMD_LEN];
        let opcode = match *self {
            ControlMsg::GetServerFeature { select, features }
            | ControlMsg::SetClientFeature { select, features } => {
                b[2..4].copy_from_slice(&select.to_be_bytes());
                b[24..32].copy_from_slice(&features.to_be_bytes());
                if matches!(self, ControlMsg::GetServerFeature { .. }) {
                    OP_GET_SERVER_FEATURE
                } else {
                    OP_SET_CLIENT_FEATURE
                }
            }
            ControlMsg::Keepalive => OP_KEEPALIVE,
            ControlMsg::RegisterXferMemory { addr, length, rkey } => {
                b[16..24].copy_from_slice(&addr.to_be_bytes());
                b[24..28].copy_from_slice(&length.to_be_bytes());
                b[28..32].copy_from_slice(&rkey.to_be_bytes());
                OP_REGISTER_XFER_MEMORY
            }
        };
        b[0..2].copy_from_slice(&opcode.to_be_bytes());
        b
    }

    /// Decodes a received message; `bytes` is exactly what the receive
    /// completion delivered.
    pub fn decode(bytes: &[u8]) -> Result<ControlMsg, ControlError> {
        let b: &[u8; CMD_LEN] = bytes
            .try_into()
            .map_err(|_| ControlError::BadLength(bytes.len()))?;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        match u16_at(0) {
            OP_GET_SERVER_FEATURE => Ok(ControlMsg::GetServerFeature {
                select: u16_at(2),
                features: u64_at(24),
            }),
            OP_SET_CLIENT_FEATURE => Ok(ControlMsg::SetClientFeature {
                select: u16_at(2),
                features: u64_at(24),
            }),
            OP_KEEPALIVE => Ok(ControlMsg::Keepalive),
            OP_REGISTER_XFER_MEMORY => Ok(ControlMsg::RegisterXferMemory {
                addr: u64_at(16),
                length: u32_at(24),
                rkey: u32_at(28),
            }),
            op => Err(ControlError::UnknownOpcode(op)),
        }
    }
}

/// Why data from the peer is refused (the connection is closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxError {
    /// A write would end past the receive buffer we advertised.
    Overflow { offset: u32, len: u32, size: u32 },
}

impl std::fmt::Display for RxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RxError::Overflow { offset, len, size } => {
                write!(
                    f,
                    "peer wrote {len} bytes at offset {offset} past the {size}-byte receive buffer"
                )
            }
        }
    }
}

/// Our receive buffer: the peer writes at `filled`, we parse from `consumed`.
#[derive(Debug)]
pub struct RxState {
    size: u32,
    /// Bytes the peer has written since the last advertisement.
    filled: u32,
    /// Bytes of those the executor has consumed.
    consumed: u32,
}

impl RxState {
    pub fn new(size: u32) -> Self {
        Self {
            size,
            filled: 0,
            consumed: 0,
        }
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// Accounts for a WRITE_WITH_IMM of `len` bytes (the immediate). Bytes
    /// `[filled_before, filled_after)` are now readable.
    pub fn on_write(&mut self, len: u32) -> Result<(), RxError> {
        match self.filled.checked_add(len) {
            Some(end) if end <= self.size => {
                self.filled = end;
                Ok(())
            }
            _ => Err(RxError::Overflow {
                offset: self.filled,
                len,
                size: self.size,
            }),
        }
    }

    /// The readable, not yet consumed byte range of the buffer.
    pub fn pending(&self) -> std::ops::Range<usize> {
        self.consumed as usize..self.filled as usize
    }

    /// Marks `n` pending bytes consumed. Returns true when the buffer is now
    /// full and fully consumed: time to re-advertise it (offsets reset).
    pub fn consume(&mut self, n: usize) -> bool {
        let n = u32::try_from(n)
            .unwrap_or(u32::MAX)
            .min(self.filled - self.consumed);
        self.consumed += n;
        if self.consumed == self.size {
            self.filled = 0;
            self.consumed = 0;
            true
        } else {
            false
        }
    }
}

/// The peer's receive buffer as it advertised it, and how far we wrote.
#[derive(Debug, Default)]
pub struct TxState {
    target: Option<(u64, u32, u32)>,
    offset: u32,
}

/// One RDMA write to issue: `len` bytes from our staging buffer at `offset`
/// to `remote_addr` (the same offset in the peer's buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WritePlan {
    pub offset: u32,
    pub len: u32,
    pub remote_addr: u64,
    pub rkey: u32,
}

impl TxState {
    /// The peer (re-)advertised its receive buffer: write from offset 0.
    pub fn on_register(&mut self, addr: u64, length: u32, rkey: u32) {
        self.target = Some((addr, length, rkey));
        self.offset = 0;
    }

    /// The peer's buffer (address, rkey), once advertised.
    pub fn target(&self) -> Option<(u64, u32)> {
        self.target.map(|(addr, _, rkey)| (addr, rkey))
    }

    /// Whether the peer has told us where to write yet.
    pub fn ready(&self) -> bool {
        self.target.is_some()
    }

    /// Room left in the peer's buffer before it must re-advertise.
    pub fn room(&self) -> u32 {
        self.target
            .map_or(0, |(_, len, _)| len.saturating_sub(self.offset))
    }

    /// Plans a write of up to `want` bytes; None if there is no room. The
    /// caller copies the bytes to its staging buffer at `plan.offset`, posts
    /// the write, then calls [`TxState::commit`].
    pub fn plan(&self, want: usize) -> Option<WritePlan> {
        let (addr, _, rkey) = self.target?;
        let len = u32::try_from(want).unwrap_or(u32::MAX).min(self.room());
        (len > 0).then_some(WritePlan {
            offset: self.offset,
            len,
            // wrapping: a bogus address from the peer fails at its device, not here.
            remote_addr: addr.wrapping_add(u64::from(self.offset)),
            rkey,
        })
    }

    pub fn commit(&mut self, plan: &WritePlan) {
        self.offset += plan.len;
    }
}

/// Counts posted writes to ask for a completion every `every` of them, so
/// send-queue slots are reclaimed without signaling each write.
#[derive(Debug)]
pub struct SignalEvery {
    every: u32,
    count: u32,
}

impl SignalEvery {
    pub fn new(every: u32) -> Self {
        Self {
            every: every.max(1),
            count: 0,
        }
    }

    /// Whether the next posted write must be signaled.
    pub fn should_signal(&mut self) -> bool {
        self.count += 1;
        if self.count >= self.every {
            self.count = 0;
            true
        } else {
            false
        }
    }
}

/// The send queue's bookkeeping: free control-message slots, how many work
/// requests are outstanding, and the `wr_id` that carries both back in a
/// completion. Completions on an RC send queue arrive in posting order, so
/// a signaled completion also retires every unsignaled request before it.
#[derive(Debug)]
pub struct SendQueue {
    depth: u64,
    posted: u64,
    completed: u64,
    free_slots: Vec<u16>,
    signal: SignalEvery,
}

/// What a send completion was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// A control message from this send slot (free again now).
    Control(u16),
    Data,
}

const DATA_TAG: u64 = 0xffff;

impl SendQueue {
    /// `depth` work requests at most in flight; control slots
    /// `0..slots`; a data write is signaled every `signal_every` (which
    /// must be below `depth`, so a full queue always has one signaled
    /// request outstanding whose completion frees it).
    pub fn new(depth: u32, slots: u16, signal_every: u32) -> Self {
        debug_assert!(signal_every < depth);
        Self {
            depth: u64::from(depth),
            posted: 0,
            completed: 0,
            free_slots: (0..slots).rev().collect(),
            signal: SignalEvery::new(signal_every),
        }
    }

    /// Whether one more request fits in the send queue.
    pub fn has_room(&self) -> bool {
        self.posted - self.completed < self.depth
    }

    /// Requests posted and not yet known complete.
    pub fn outstanding(&self) -> u64 {
        self.posted - self.completed
    }

    /// A free control slot, if any (give it to [`SendQueue::post_control`]).
    pub fn take_slot(&mut self) -> Option<u16> {
        self.free_slots.pop()
    }

    /// Gives back a slot that was not posted after all.
    pub fn return_slot(&mut self, slot: u16) {
        self.free_slots.push(slot);
    }

    /// Accounts for a posted control send (always signaled); its `wr_id`.
    pub fn post_control(&mut self, slot: u16) -> u64 {
        self.posted += 1;
        self.posted << 16 | u64::from(slot)
    }

    /// Accounts for a posted data write; its `wr_id` and whether to signal it.
    pub fn post_data(&mut self) -> (u64, bool) {
        self.posted += 1;
        (self.posted << 16 | DATA_TAG, self.signal.should_signal())
    }

    /// Accounts for a posted, signaled marker write (an empty write whose
    /// completion shows that everything before it completed).
    pub fn post_marker(&mut self) -> u64 {
        self.posted += 1;
        self.posted << 16 | DATA_TAG
    }

    /// Whether the request `wr_id` is known to have completed.
    pub fn is_complete(&self, wr_id: u64) -> bool {
        wr_id >> 16 <= self.completed
    }

    /// Undoes the last post_* when posting failed.
    pub fn unpost(&mut self) {
        self.posted -= 1;
    }

    /// Accounts for a send completion. None if `wr_id` is not one of ours.
    pub fn on_complete(&mut self, wr_id: u64) -> Option<Sent> {
        let seq = wr_id >> 16;
        if seq <= self.completed || seq > self.posted {
            return None;
        }
        self.completed = seq;
        match wr_id & 0xffff {
            DATA_TAG => Some(Sent::Data),
            slot => {
                self.free_slots.push(slot as u16);
                Some(Sent::Control(slot as u16))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_round_trip_big_endian() {
        let msgs = [
            ControlMsg::GetServerFeature {
                select: 7,
                features: 0x0102_0304_0506_0708,
            },
            ControlMsg::SetClientFeature {
                select: 1,
                features: 0,
            },
            ControlMsg::Keepalive,
            ControlMsg::RegisterXferMemory {
                addr: 0x1122_3344_5566_7788,
                length: 1 << 20,
                rkey: 0xdead_beef,
            },
        ];
        for m in msgs {
            assert_eq!(ControlMsg::decode(&m.encode()), Ok(m));
        }
        let reg = ControlMsg::RegisterXferMemory {
            addr: 0x1122_3344_5566_7788,
            length: 0x0010_0000,
            rkey: 0xdead_beef,
        }
        .encode();
        assert_eq!(&reg[0..2], &[0, 3]);
        assert!(
            reg[2..16].iter().all(|&b| b == 0),
            "reserved bytes are zero"
        );
        assert_eq!(
            &reg[16..24],
            &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]
        );
        assert_eq!(&reg[24..28], &[0x00, 0x10, 0x00, 0x00]);
        assert_eq!(&reg[28..32], &[0xde, 0xad, 0xbe, 0xef]);
        let ka = ControlMsg::Keepalive.encode();
        assert_eq!(ka, {
            let mut k = [0u8; 32];
            k[1] = 2;
            k
        });
    }

    #[test]
    fn bad_control_messages_are_refused() {
        assert_eq!(
            ControlMsg::decode(&[0u8; 31]),
            Err(ControlError::BadLength(31))
        );
        assert_eq!(
            ControlMsg::decode(&[0u8; 33]),
            Err(ControlError::BadLength(33))
        );
        let mut m = [0u8; 32];
        m[1] = 9;
        assert_eq!(ControlMsg::decode(&m), Err(ControlError::UnknownOpcode(9)));
    }

    #[test]
    fn receive_buffer_is_linear_and_readvertised_when_drained() {
        let mut rx = RxState::new(100);
        rx.on_write(60).unwrap();
        assert_eq!(rx.pending(), 0..60);
        assert!(!rx.consume(50));
        assert_eq!(rx.pending(), 50..60);
        rx.on_write(40).unwrap();
        assert_eq!(rx.pending(), 50..100);
        assert_eq!(
            rx.on_write(1),
            Err(RxError::Overflow {
                offset: 100,
                len: 1,
                size: 100
            })
        );
        assert!(rx.consume(50), "full and consumed: re-advertise");
        assert_eq!(rx.pending(), 0..0);
        rx.on_write(100).unwrap();
        assert!(!rx.consume(99));
        assert!(rx.consume(5), "consume clamps to what is pending");
        assert_eq!(
            rx.on_write(u32::MAX),
            Err(RxError::Overflow {
                offset: 0,
                len: u32::MAX,
                size: 100
            })
        );
    }

    #[test]
    fn writes_stop_at_the_end_of_the_peer_buffer() {
        let mut tx = TxState::default();
        assert!(!tx.ready());
        assert_eq!(tx.plan(10), None, "nothing before RegisterXferMemory");
        tx.on_register(1000, 64, 7);
        let p = tx.plan(40).unwrap();
        assert_eq!(
            p,
            WritePlan {
                offset: 0,
                len: 40,
                remote_addr: 1000,
                rkey: 7
            }
        );
        tx.commit(&p);
        let p = tx.plan(40).unwrap();
        assert_eq!(
            p,
            WritePlan {
                offset: 40,
                len: 24,
                remote_addr: 1040,
                rkey: 7
            },
            "split at the end"
        );
        tx.commit(&p);
        assert_eq!(tx.room(), 0);
        assert_eq!(tx.plan(1), None, "wait for the next advertisement");
        tx.on_register(1000, 64, 7);
        assert_eq!(tx.plan(1).unwrap().offset, 0);
    }

    #[test]
    fn a_byte_stream_survives_many_buffer_laps() {
        // Writer and reader agree on every byte across re-advertisements,
        // as a 16 MiB value through a 64 KiB buffer would.
        let size = 1000u32;
        let stream: Vec<u8> = (0..25_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut rx = RxState::new(size);
        let mut tx = TxState::default();
        let mut peer_mem = vec![0u8; size as usize];
        let mut received = Vec::new();
        let mut sent = 0;
        tx.on_register(0, size, 1);
        while received.len() < stream.len() {
            // Writer: chunks of at most 333 bytes.
            if let Some(p) = tx.plan((stream.len() - sent).min(333)) {
                let (o, n) = (p.offset as usize, p.len as usize);
                peer_mem[o..o + n].copy_from_slice(&stream[sent..sent + n]);
                sent += n;
                tx.commit(&p);
                rx.on_write(p.len).unwrap();
            }
            // Reader consumes everything pending, re-advertising when drained.
            let r = rx.pending();
            received.extend_from_slice(&peer_mem[r.clone()]);
            if rx.consume(r.len()) {
                tx.on_register(0, size, 1);
            }
        }
        assert_eq!(received, stream);
    }

    #[test]
    fn signal_every_nth_write() {
        let mut s = SignalEvery::new(3);
        let pattern: Vec<bool> = (0..7).map(|_| s.should_signal()).collect();
        assert_eq!(pattern, [false, false, true, false, false, true, false]);
    }

    #[test]
    fn send_queue_frees_slots_and_retires_in_order() {
        let mut q = SendQueue::new(4, 2, 3);
        let a = q.take_slot().unwrap();
        let b = q.take_slot().unwrap();
        assert_ne!(a, b);
        assert_eq!(q.take_slot(), None, "two slots only");
        let wa = q.post_control(a);
        let (w1, s1) = q.post_data();
        let (w2, s2) = q.post_data();
        let wb = q.post_control(b);
        assert!(!s1 && !s2);
        assert_eq!(q.outstanding(), 4);
        assert!(!q.has_room());
        assert_eq!(q.on_complete(wa), Some(Sent::Control(a)));
        assert_eq!(q.outstanding(), 3);
        // The control send after two unsignaled writes retires them too.
        assert_eq!(q.on_complete(wb), Some(Sent::Control(b)));
        assert_eq!(q.outstanding(), 0);
        assert_eq!(q.on_complete(w1), None, "already retired");
        assert_eq!(q.on_complete(w2), None);
        assert_eq!(q.on_complete(u64::MAX), None, "never posted");
        let (_, s3) = q.post_data();
        assert!(s3, "every third data write is signaled");
        assert!(q.take_slot().is_some() && q.take_slot().is_some());
    }
}
