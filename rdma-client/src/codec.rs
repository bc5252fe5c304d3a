//! The I/O-free half of a connection, shared by the blocking [`Client`] and
//! the async `AsyncClient`: request encoding, the receive buffer and reply
//! parser, RESP3 push handling, the broken-connection state, the pipeline
//! batching plan and the typed-reply checks. A client adds only the moving
//! of bytes: it hands [`Codec::spare_capacity`] to its transport's read and
//! reports the count with [`Codec::advance`], until [`Codec::next_reply`]
//! has a reply.
//!
//! [`Client`]: crate::Client

use std::collections::VecDeque;
use std::ops::Range;

use ferrokv_transport::resp::reply::{Reply, ReplyLimits, ReplyParser};
use ferrokv_transport::resp::write::{Protocol, encode_command};

use crate::error::{Error, Result};

/// Size of the receive buffer at rest; it grows for large replies and shrinks
/// back once they are consumed. Encoding buffers larger than this are not
/// kept for the next command either.
pub(crate) const READ_BUF: usize = 64 * 1024;
/// Receive buffers larger than this are released once empty.
pub(crate) const READ_BUF_KEEP: usize = 1024 * 1024;
/// Pipelines are written in batches of about this many bytes, with at most
/// one batch whose replies are still unread while the next is written. The
/// server can stop reading a client whose replies pile up (ferrokv does at
/// 16 MiB of pending output); this keeps a deep pipeline from deadlocking
/// against it, at no cost when the server keeps up.
pub(crate) const PIPELINE_BATCH: usize = 64 * 1024;

/// What [`Codec::begin`] leaves as the reason a connection is broken until
/// [`Codec::finish`] replaces it: seen only when a call never finished (an
/// async call whose future was dropped, a panic in a pipeline callback).
const INTERRUPTED: &str = "an earlier call was interrupted before it finished";

/// Reply-side state of one connection, plus its encoding scratch.
#[derive(Debug)]
pub(crate) struct Codec {
    parser: ReplyParser,
    /// Received bytes: `rbuf[rstart..rend]` are not parsed yet.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Encoding scratch for single commands.
    wbuf: Vec<u8>,
    protocol: Protocol,
    pushes: VecDeque<Reply>,
    broken: Option<String>,
}

impl Codec {
    pub(crate) fn new(limits: ReplyLimits) -> Self {
        Self {
            parser: ReplyParser::with_limits(limits),
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
            protocol: Protocol::Resp2,
            pushes: VecDeque::new(),
            broken: None,
        }
    }

    /// The protocol the connection speaks (RESP2 until a `HELLO 3`).
    pub(crate) fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Why the connection is broken, if it is.
    pub(crate) fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// RESP3 push messages received so far, oldest first.
    pub(crate) fn take_pushes(&mut self) -> Vec<Reply> {
        self.pushes.drain(..).collect()
    }

    /// Starts a call: refuses with [`Error::Broken`] when the connection is
    /// broken, else counts it broken until [`finish`](Self::finish), so a
    /// call that never finishes (its bytes half sent, its reply half read)
    /// leaves the connection refused rather than out of step.
    pub(crate) fn begin(&mut self) -> Result<()> {
        if let Some(why) = &self.broken {
            return Err(Error::Broken(why.clone()));
        }
        self.broken = Some(INTERRUPTED.to_string());
        Ok(())
    }

    /// Ends a call begun with [`begin`](Self::begin): the connection is
    /// broken after a connection error ([`Error::is_connection_error`]),
    /// usable after anything else.
    pub(crate) fn finish<T>(&mut self, result: Result<T>) -> Result<T> {
        self.broken = match &result {
            Err(e) if e.is_connection_error() => Some(e.to_string()),
            _ => None,
        };
        result
    }

    /// Encodes one command into a buffer to send; give it back with
    /// [`recycle`](Self::recycle) once sent.
    pub(crate) fn encode<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.wbuf);
        buf.clear();
        encode_command(&mut buf, args.iter().map(AsRef::as_ref));
        buf
    }

    /// Keeps an encoding buffer for the next command, unless it grew large.
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() <= READ_BUF {
            self.wbuf = buf;
        }
    }

    /// The next complete reply in the receive buffer, setting RESP3 pushes
    /// aside; `None` when more bytes are needed. A malformed reply is
    /// [`Error::Protocol`].
    pub(crate) fn next_reply(&mut self) -> Result<Option<Reply>> {
        loop {
            let (consumed, reply) = self.parser.parse(&self.rbuf[self.rstart..self.rend])?;
            self.rstart += consumed;
            match reply {
                Some(push @ Reply::Push(_)) => self.pushes.push_back(push),
                Some(reply) => {
                    self.settle();
                    return Ok(Some(reply));
                }
                None => return Ok(None),
            }
        }
    }

    /// After a reply: rewinds an empty buffer, and goes back to a small one
    /// once a large reply is done.
    fn settle(&mut self) {
        let left = self.rend - self.rstart;
        if left == 0 {
            self.rstart = 0;
            self.rend = 0;
        }
        if self.rbuf.len() > READ_BUF_KEEP && left <= READ_BUF {
            let mut small = vec![0; READ_BUF];
            small[..left].copy_from_slice(&self.rbuf[self.rstart..self.rend]);
            self.rbuf = small;
            self.rstart = 0;
            self.rend = left;
        }
    }

    /// Free space to receive into (never empty); report what was written
    /// there with [`advance`](Self::advance).
    pub(crate) fn spare_capacity(&mut self) -> &mut [u8] {
        if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        // Keep at least half of max(READ_BUF, unparsed bytes) free: a large
        // reply doubles the buffer, so it costs few reads and copies.
        let want = READ_BUF.max(self.rend);
        if self.rbuf.len() - self.rend < want / 2 {
            self.rbuf.resize(self.rend + want, 0);
        }
        &mut self.rbuf[self.rend..]
    }

    /// Counts `n` bytes received into [`spare_capacity`](Self::spare_capacity).
    pub(crate) fn advance(&mut self, n: usize) {
        debug_assert!(self.rend + n <= self.rbuf.len());
        self.rend += n;
    }

    /// Capacity of the receive buffer (for tests of its shrinking).
    #[cfg(test)]
    pub(crate) fn buffer_len(&self) -> usize {
        self.rbuf.len()
    }

    /// Checks the reply to `HELLO protover` and records the protocol it
    /// switched to.
    pub(crate) fn on_hello(&mut self, protover: u8, reply: Reply) -> Result<Reply> {
        match (server_error(reply)?, protover) {
            (reply @ Reply::Map(_), 3) => {
                self.protocol = Protocol::Resp3;
                Ok(reply)
            }
            (reply @ Reply::Array(Some(_)), 2) => {
                self.protocol = Protocol::Resp2;
                Ok(reply)
            }
            (reply, _) => unexpected("HELLO's server description", reply),
        }
    }
}

/// Pre-encoded commands of a pipeline: `buf` holds them back to back,
/// `ends[i]` is where command `i` ends.
#[derive(Debug, Default)]
pub(crate) struct Commands {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

/// One step of sending a pipeline: first read the replies of commands
/// `..read_to`, then write `bytes` of [`Commands::bytes`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) read_to: usize,
    pub(crate) bytes: Range<usize>,
}

impl Commands {
    pub(crate) fn push<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        encode_command(&mut self.buf, args.iter().map(AsRef::as_ref));
        self.ends.push(self.buf.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// The encoded commands.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// How to send the commands without deadlocking against a server that
    /// stops reading while our replies pile up: in batches of about
    /// [`PIPELINE_BATCH`] bytes, with at most one earlier batch whose
    /// replies are unread while a batch is written, and none before a single
    /// oversized command. After the last batch, every reply is still to be
    /// read.
    pub(crate) fn batches(&self) -> impl Iterator<Item = Batch> + '_ {
        let ends = &self.ends;
        let n = ends.len();
        let mut prev_batch = 0; // first command of the batch written last
        let mut i = 0;
        std::iter::from_fn(move || {
            if i >= n {
                return None;
            }
            let start = if i == 0 { 0 } else { ends[i - 1] };
            let mut j = i + 1;
            while j < n && ends[j] - start <= PIPELINE_BATCH {
                j += 1;
            }
            let read_to = if ends[j - 1] - start > PIPELINE_BATCH {
                i
            } else {
                prev_batch
            };
            prev_batch = i;
            i = j;
            Some(Batch {
                read_to,
                bytes: start..ends[j - 1],
            })
        })
    }
}

/// The arguments of `DEL key [key ...]`.
pub(crate) fn del_args<K: AsRef<[u8]>>(keys: &[K]) -> Vec<&[u8]> {
    let mut args: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
    args.push(b"DEL");
    args.extend(keys.iter().map(AsRef::as_ref));
    args
}

/// A server error reply (bare, or under RESP3 attributes) as
/// [`Error::Server`]; any other reply as is.
pub(crate) fn server_error(reply: Reply) -> Result<Reply> {
    let error = |msg: Vec<u8>| Err(Error::Server(String::from_utf8_lossy(&msg).into_owned()));
    match reply {
        Reply::Error(msg) => error(msg),
        Reply::Attribute { reply, .. } => match *reply {
            Reply::Error(msg) => error(msg),
            other => Ok(other),
        },
        other => Ok(other),
    }
}

/// `+PONG`.
pub(crate) fn expect_pong(reply: Reply) -> Result<()> {
    match server_error(reply)? {
        Reply::Simple(s) if s == b"PONG" => Ok(()),
        got => unexpected("PONG", got),
    }
}

/// `+OK`.
pub(crate) fn expect_ok(reply: Reply) -> Result<()> {
    match server_error(reply)? {
        Reply::Simple(s) if s == b"OK" => Ok(()),
        got => unexpected("OK", got),
    }
}

/// A bulk string, or nil (RESP2's null bulk string or RESP3's null).
pub(crate) fn expect_bulk_or_nil(reply: Reply) -> Result<Option<Vec<u8>>> {
    match server_error(reply)? {
        Reply::Bulk(v) => Ok(v),
        Reply::Null => Ok(None),
        got => unexpected("bulk string or nil", got),
    }
}

/// An integer.
pub(crate) fn expect_int(reply: Reply) -> Result<i64> {
    match server_error(reply)? {
        Reply::Int(n) => Ok(n),
        got => unexpected("integer", got),
    }
}

fn unexpected<T>(expected: &'static str, got: Reply) -> Result<T> {
    Err(Error::UnexpectedReply {
        expected,
        got: Box::new(got),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` to the codec `chunk` bytes at a time, collecting replies.
    fn feed(codec: &mut Codec, bytes: &[u8], chunk: usize) -> Vec<Reply> {
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            let mut piece = piece;
            while !piece.is_empty() {
                let spare = codec.spare_capacity();
                let n = spare.len().min(piece.len());
                spare[..n].copy_from_slice(&piece[..n]);
                codec.advance(n);
                piece = &piece[n..];
                while let Some(reply) = codec.next_reply().unwrap() {
                    out.push(reply);
                }
            }
        }
        out
    }

    #[test]
    fn replies_in_pieces_and_pushes_aside() {
        let mut c = Codec::new(ReplyLimits::default());
        assert_eq!(c.next_reply().unwrap(), None);
        let got = feed(
            &mut c,
            b"+OK\r\n>2\r\n+invalidate\r\n_\r\n:7\r\n$2\r\nab\r\n",
            1,
        );
        assert_eq!(
            got,
            vec![
                Reply::Simple(b"OK".to_vec()),
                Reply::Int(7),
                Reply::Bulk(Some(b"ab".to_vec()))
            ]
        );
        assert_eq!(c.take_pushes().len(), 1);
        assert!(c.take_pushes().is_empty());
        // Malformed input is a protocol error.
        c.spare_capacity()[..3].copy_from_slice(b"&\r\n");
        c.advance(3);
        assert!(matches!(c.next_reply(), Err(Error::Protocol(_))));
    }

    #[test]
    fn typed_checks() {
        let err = |s: &str| Reply::Error(s.as_bytes().to_vec());
        assert!(expect_pong(Reply::Simple(b"PONG".to_vec())).is_ok());
        assert!(expect_ok(Reply::Simple(b"OK".to_vec())).is_ok());
        assert_eq!(expect_int(Reply::Int(3)).unwrap(), 3);
        assert_eq!(expect_bulk_or_nil(Reply::Null).unwrap(), None);
        assert_eq!(expect_bulk_or_nil(Reply::Bulk(None)).unwrap(), None);
        match expect_int(err("ERR nope")) {
            Err(Error::Server(msg)) => assert_eq!(msg, "ERR nope"),
            other => panic!("{other:?}"),
        }
        let attributed = Reply::Attribute {
            attrs: Vec::new(),
            reply: Box::new(err("ERR attr")),
        };
        assert!(matches!(expect_ok(attributed), Err(Error::Server(m)) if m == "ERR attr"));
        match expect_pong(Reply::Int(1)) {
            Err(Error::UnexpectedReply { expected, got }) => {
                assert_eq!(expected, "PONG");
                assert_eq!(*got, Reply::Int(1));
            }
            other => panic!("{other:?}"),
        }

        let mut c = Codec::new(ReplyLimits::default());
        assert!(c.on_hello(3, Reply::Map(Vec::new())).is_ok());
        assert_eq!(c.protocol(), Protocol::Resp3);
        assert!(c.on_hello(2, Reply::Map(Vec::new())).is_err());
        assert_eq!(c.protocol(), Protocol::Resp3);
        assert!(c.on_hello(2, Reply::Array(Some(Vec::new()))).is_ok());
        assert_eq!(c.protocol(), Protocol::Resp2);
        assert!(matches!(
            c.on_hello(4, err("NOPROTO x")),
            Err(Error::Server(_))
        ));
    }

    #[test]
    fn begin_and_finish_track_the_broken_state() {
        let mut c = Codec::new(ReplyLimits::default());
        c.begin().unwrap();
        assert!(
            c.finish(Err::<(), _>(Error::Server("ERR x".into())))
                .is_err()
        );
        assert!(!c.is_broken());
        // A call that never finishes leaves the connection refused.
        c.begin().unwrap();
        assert!(matches!(c.begin(), Err(Error::Broken(why)) if why == INTERRUPTED));
        let mut c = Codec::new(ReplyLimits::default());
        c.begin().unwrap();
        let _ = c.finish(Err::<(), _>(Error::Disconnected));
        assert_eq!(c.broken(), Some("connection closed by the server"));
        assert!(matches!(c.begin(), Err(Error::Broken(_))));
    }

    #[test]
    fn batches_keep_at_most_one_batch_unread() {
        let mut cmds = Commands::default();
        for i in 0..5000 {
            cmds.push(&["ECHO".to_string(), format!("{i:040}")]);
        }
        let batches: Vec<Batch> = cmds.batches().collect();
        assert!(batches.len() > 2);
        let mut next_byte = 0;
        let mut firsts = Vec::new(); // first command of each batch
        for b in &batches {
            assert_eq!(b.bytes.start, next_byte, "contiguous");
            assert!(b.bytes.len() <= PIPELINE_BATCH);
            next_byte = b.bytes.end;
            firsts.push(cmds.ends.iter().position(|&e| e > b.bytes.start).unwrap());
        }
        assert_eq!(next_byte, cmds.bytes().len());
        assert_eq!(batches[0].read_to, 0);
        for (k, b) in batches.iter().enumerate().skip(1) {
            // Everything before the previous batch is read first.
            assert_eq!(b.read_to, firsts[k - 1]);
        }
    }

    #[test]
    fn oversized_command_waits_for_every_earlier_reply() {
        let mut cmds = Commands::default();
        cmds.push(&["SET", "a", "1"]);
        cmds.push(&[&b"SET"[..], b"b", &vec![b'x'; PIPELINE_BATCH * 2]]);
        cmds.push(&["SET", "c", "1"]);
        let batches: Vec<Batch> = cmds.batches().collect();
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[1].read_to, 1);
        assert!(batches[1].bytes.len() > PIPELINE_BATCH);
        assert_eq!(batches[2].read_to, 1);
        assert!(Commands::default().batches().next().is_none());
    }
}
