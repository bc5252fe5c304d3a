//! The blocking client: one connection, commands in, replies out in order.

use std::collections::VecDeque;
use std::time::Duration;

use ferrokv_transport::resp::reply::{Reply, ReplyLimits, ReplyParser};
use ferrokv_transport::resp::write::{Protocol, encode_command};

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::transport::{self, Transport};

/// Size of the receive buffer at rest; it grows for large replies and shrinks
/// back once they are consumed.
const READ_BUF: usize = 64 * 1024;
/// Receive buffers larger than this are released once empty.
const READ_BUF_KEEP: usize = 1024 * 1024;
/// Pipelines are written in batches of about this many bytes, with at most
/// one batch whose replies are still unread while the next is written. The
/// server can stop reading a client whose replies pile up (ferrokv does at
/// 16 MiB of pending output); this keeps a deep pipeline from deadlocking
/// against it, at no cost when the server keeps up.
const PIPELINE_BATCH: usize = 64 * 1024;

/// Connection settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Longest wait to establish a TCP connection (default 5 s). A Unix
    /// socket connects at once or fails.
    pub connect_timeout: Option<Duration>,
    /// Longest wait for reply bytes, per read (default: none). A command
    /// that blocks on the server (BLPOP ...) needs a longer or no timeout.
    pub read_timeout: Option<Duration>,
    /// Longest wait for a write to make progress (default: none).
    pub write_timeout: Option<Duration>,
    /// Bounds on the replies accepted (see [`ReplyLimits`]).
    pub limits: ReplyLimits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Some(Duration::from_secs(5)),
            read_timeout: None,
            write_timeout: None,
            limits: ReplyLimits::default(),
        }
    }
}

/// A blocking connection to a ferrokv (or Valkey) server.
///
/// Replies are returned in the order commands were sent. In RESP3, out-of-band
/// push messages (`>`) that arrive between replies are set aside and can be
/// collected with [`take_pushes`](Client::take_pushes).
///
/// After a connection error ([`Error::is_connection_error`]: I/O, timeout,
/// disconnect, malformed reply) the stream is out of step with the server, so
/// every later call fails with [`Error::Broken`]; connect again. Server error
/// replies and unexpected reply types leave the connection usable.
///
/// ```no_run
/// use ferrokv_rdma_client::{Client, Endpoint};
///
/// let mut c = Client::connect(Endpoint::tcp("127.0.0.1", 6379))?;
/// c.set("greeting", "hello")?;
/// assert_eq!(c.get("greeting")?, Some(b"hello".to_vec()));
/// # Ok::<(), ferrokv_rdma_client::Error>(())
/// ```
pub struct Client {
    transport: Box<dyn Transport>,
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

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("transport", &self.transport.kind())
            .field("protocol", &self.protocol)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects with the default [`Options`].
    pub fn connect(endpoint: Endpoint) -> Result<Client> {
        Client::connect_with(endpoint, &Options::default())
    }

    /// Connects with explicit options.
    pub fn connect_with(endpoint: Endpoint, options: &Options) -> Result<Client> {
        let transport = transport::connect(&endpoint, options.connect_timeout)?;
        Client::with_transport(transport, options)
    }

    /// Wraps an already connected transport (the connect timeout is unused).
    pub fn with_transport(mut transport: Box<dyn Transport>, options: &Options) -> Result<Client> {
        transport.set_read_timeout(options.read_timeout)?;
        transport.set_write_timeout(options.write_timeout)?;
        Ok(Client {
            transport,
            parser: ReplyParser::with_limits(options.limits),
            rbuf: Vec::new(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::new(),
            protocol: Protocol::Resp2,
            pushes: VecDeque::new(),
            broken: None,
        })
    }

    /// The protocol the connection speaks (RESP2 until [`hello`](Client::hello)).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The transport's name: `"tcp"`, `"unix"` ...
    pub fn transport_kind(&self) -> &'static str {
        self.transport.kind()
    }

    /// True once a connection error made this client unusable.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Changes the read timeout (`None`: wait forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.transport.set_read_timeout(timeout)
    }

    /// Changes the write timeout (`None`: wait forever).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.transport.set_write_timeout(timeout)
    }

    /// RESP3 push messages received so far, oldest first.
    pub fn take_pushes(&mut self) -> Vec<Reply> {
        self.pushes.drain(..).collect()
    }

    /// Sends one command and returns its reply as sent: a server error is
    /// `Ok(Reply::Error(..))` here, not an `Err`.
    ///
    /// ```no_run
    /// # let mut c = ferrokv_rdma_client::Client::connect("127.0.0.1:6379".parse()?)?;
    /// use ferrokv_rdma_client::Reply;
    /// let reply = c.cmd(&["INCRBY", "counter", "5"])?;
    /// assert!(matches!(reply, Reply::Int(_)));
    /// let value = c.cmd(&[&b"SET"[..], b"k", &[0u8, 255]])?;
    /// # Ok::<(), ferrokv_rdma_client::Error>(())
    /// ```
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply> {
        self.guard(|c| {
            let mut buf = std::mem::take(&mut c.wbuf);
            buf.clear();
            encode_command(&mut buf, args.iter().map(AsRef::as_ref));
            let sent = c.transport.send(&buf);
            if buf.capacity() <= READ_BUF {
                c.wbuf = buf;
            }
            sent?;
            c.read_reply()
        })
    }

    /// Starts a pipeline: commands are queued, then sent together by
    /// [`Pipeline::send`], and their replies come back in order.
    ///
    /// ```no_run
    /// # let mut c = ferrokv_rdma_client::Client::connect("127.0.0.1:6379".parse()?)?;
    /// let replies = c.pipeline().cmd(&["SET", "a", "1"]).cmd(&["INCR", "a"]).send()?;
    /// assert_eq!(replies.len(), 2);
    /// # Ok::<(), ferrokv_rdma_client::Error>(())
    /// ```
    pub fn pipeline(&mut self) -> Pipeline<'_> {
        Pipeline {
            client: self,
            buf: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// `PING`: succeeds on `PONG`.
    pub fn ping(&mut self) -> Result<()> {
        match self.typed(&["PING"])? {
            Reply::Simple(s) if s == b"PONG" => Ok(()),
            got => unexpected("PONG", got),
        }
    }

    /// `GET key`: the value, or `None` when the key does not exist.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        match self.typed(&[b"GET", key.as_ref()])? {
            Reply::Bulk(v) => Ok(v),
            Reply::Null => Ok(None),
            got => unexpected("bulk string or nil", got),
        }
    }

    /// `SET key value`.
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        match self.typed(&[b"SET", key.as_ref(), value.as_ref()])? {
            Reply::Simple(s) if s == b"OK" => Ok(()),
            got => unexpected("OK", got),
        }
    }

    /// `DEL key [key ...]`: how many keys were removed.
    pub fn del<K: AsRef<[u8]>>(&mut self, keys: &[K]) -> Result<i64> {
        let mut args: Vec<&[u8]> = Vec::with_capacity(keys.len() + 1);
        args.push(b"DEL");
        args.extend(keys.iter().map(AsRef::as_ref));
        match self.typed(&args)? {
            Reply::Int(n) => Ok(n),
            got => unexpected("integer", got),
        }
    }

    /// `INCR key`: the new value.
    pub fn incr(&mut self, key: impl AsRef<[u8]>) -> Result<i64> {
        match self.typed(&[b"INCR", key.as_ref()])? {
            Reply::Int(n) => Ok(n),
            got => unexpected("integer", got),
        }
    }

    /// `HELLO protover`: switches the connection to RESP2 or RESP3 and
    /// returns the server's description of itself (a map in RESP3, a flat
    /// array in RESP2).
    pub fn hello(&mut self, protover: u8) -> Result<Reply> {
        let version = protover.to_string();
        let reply = self.typed(&["HELLO", version.as_str()])?;
        match (&reply, protover) {
            (Reply::Map(_), 3) => self.protocol = Protocol::Resp3,
            (Reply::Array(Some(_)), 2) => self.protocol = Protocol::Resp2,
            _ => return unexpected("HELLO's server description", reply),
        }
        Ok(reply)
    }

    /// A command whose error reply becomes [`Error::Server`].
    fn typed<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply> {
        match self.cmd(args)? {
            Reply::Error(msg) => Err(Error::Server(String::from_utf8_lossy(&msg).into_owned())),
            Reply::Attribute { reply, .. } => match *reply {
                Reply::Error(msg) => Err(Error::Server(String::from_utf8_lossy(&msg).into_owned())),
                other => Ok(other),
            },
            other => Ok(other),
        }
    }

    /// Runs `f`, refusing to when the connection is broken, and marking it
    /// broken when `f` fails with a connection error.
    fn guard<T>(&mut self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        if let Some(why) = &self.broken {
            return Err(Error::Broken(why.clone()));
        }
        let result = f(self);
        if let Err(e) = &result
            && e.is_connection_error()
        {
            self.broken = Some(e.to_string());
        }
        result
    }

    /// Reads the next reply, setting RESP3 pushes aside.
    fn read_reply(&mut self) -> Result<Reply> {
        loop {
            let (consumed, reply) = self.parser.parse(&self.rbuf[self.rstart..self.rend])?;
            self.rstart += consumed;
            match reply {
                Some(push @ Reply::Push(_)) => self.pushes.push_back(push),
                Some(reply) => {
                    let left = self.rend - self.rstart;
                    if left == 0 {
                        self.rstart = 0;
                        self.rend = 0;
                    }
                    if self.rbuf.len() > READ_BUF_KEEP && left <= READ_BUF {
                        // A large reply is done: go back to a small buffer.
                        let mut small = vec![0; READ_BUF];
                        small[..left].copy_from_slice(&self.rbuf[self.rstart..self.rend]);
                        self.rbuf = small;
                        self.rstart = 0;
                        self.rend = left;
                    }
                    return Ok(reply);
                }
                None => self.fill()?,
            }
        }
    }

    /// Reads more bytes from the transport into the receive buffer.
    fn fill(&mut self) -> Result<()> {
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
        let n = self.transport.recv(&mut self.rbuf[self.rend..])?;
        self.rend += n;
        Ok(())
    }

    /// Sends pre-encoded commands (`ends[i]` is where command `i` ends in
    /// `buf`) in batches, and hands each reply to `each` in order.
    fn run_pipeline(
        &mut self,
        buf: &[u8],
        ends: &[usize],
        mut each: impl FnMut(usize, Reply),
    ) -> Result<()> {
        self.guard(|c| {
            let n = ends.len();
            let mut read = 0;
            let mut prev_batch = 0; // first command of the batch written last
            let mut i = 0;
            while i < n {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                let mut j = i + 1;
                while j < n && ends[j] - start <= PIPELINE_BATCH {
                    j += 1;
                }
                // While writing, at most one earlier batch may have unread
                // replies; none before a single oversized command.
                let read_to = if ends[j - 1] - start > PIPELINE_BATCH {
                    i
                } else {
                    prev_batch
                };
                while read < read_to {
                    each(read, c.read_reply()?);
                    read += 1;
                }
                c.transport.send(&buf[start..ends[j - 1]])?;
                prev_batch = i;
                i = j;
            }
            while read < n {
                each(read, c.read_reply()?);
                read += 1;
            }
            Ok(())
        })
    }
}

fn unexpected<T>(expected: &'static str, got: Reply) -> Result<T> {
    Err(Error::UnexpectedReply {
        expected,
        got: Box::new(got),
    })
}

/// Commands queued for one round trip. Made by [`Client::pipeline`].
///
/// Server error replies are returned in place (`Reply::Error`), so one
/// failing command does not hide the replies of the others. The pipeline
/// can be reused after [`send`](Pipeline::send): it is emptied.
pub struct Pipeline<'a> {
    client: &'a mut Client,
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Pipeline<'_> {
    /// Queues a command.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> &mut Self {
        encode_command(&mut self.buf, args.iter().map(AsRef::as_ref));
        self.ends.push(self.buf.len());
        self
    }

    /// Commands queued.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Drops the queued commands.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// Sends the queued commands and returns their replies, in order.
    pub fn send(&mut self) -> Result<Vec<Reply>> {
        let mut out = Vec::with_capacity(self.ends.len());
        self.send_each(|_, reply| out.push(reply))?;
        Ok(out)
    }

    /// Sends the queued commands and calls `each(index, reply)` as each
    /// reply arrives, in order (for timing replies, or to avoid collecting).
    pub fn send_each(&mut self, each: impl FnMut(usize, Reply)) -> Result<()> {
        let result = self.client.run_pipeline(&self.buf, &self.ends, each);
        self.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An in-memory server: records what is sent, answers from a script,
    /// handing out at most `chunk` bytes per recv.
    struct Mock {
        sent: Arc<Mutex<Vec<Vec<u8>>>>,
        replies: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    impl Transport for Mock {
        fn send(&mut self, buf: &[u8]) -> Result<()> {
            self.sent.lock().unwrap().push(buf.to_vec());
            Ok(())
        }
        fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
            if self.pos == self.replies.len() {
                return Err(Error::Disconnected);
            }
            let n = buf.len().min(self.chunk).min(self.replies.len() - self.pos);
            buf[..n].copy_from_slice(&self.replies[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
        fn set_read_timeout(&mut self, _: Option<Duration>) -> Result<()> {
            Ok(())
        }
        fn set_write_timeout(&mut self, _: Option<Duration>) -> Result<()> {
            Ok(())
        }
        fn kind(&self) -> &'static str {
            "mock"
        }
    }

    fn mock(replies: &[u8], chunk: usize) -> (Client, Arc<Mutex<Vec<Vec<u8>>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let t = Mock {
            sent: sent.clone(),
            replies: replies.to_vec(),
            pos: 0,
            chunk,
        };
        (
            Client::with_transport(Box::new(t), &Options::default()).unwrap(),
            sent,
        )
    }

    #[test]
    fn typed_helpers_byte_by_byte() {
        let script =
            b"+PONG\r\n$3\r\nabc\r\n$-1\r\n+OK\r\n:2\r\n:7\r\n-ERR not an integer\r\n:1\r\n";
        let (mut c, sent) = mock(script, 1);
        c.ping().unwrap();
        assert_eq!(c.get("k").unwrap(), Some(b"abc".to_vec()));
        assert_eq!(c.get("missing").unwrap(), None);
        c.set("k", b"v").unwrap();
        assert_eq!(c.del(&["a", "b"]).unwrap(), 2);
        assert_eq!(c.incr("n").unwrap(), 7);
        match c.incr("k") {
            Err(Error::Server(msg)) => assert_eq!(msg, "ERR not an integer"),
            other => panic!("{other:?}"),
        }
        // A server error leaves the connection usable.
        assert_eq!(c.cmd(&["EXISTS", "k"]).unwrap(), Reply::Int(1));
        let sent = sent.lock().unwrap();
        assert_eq!(sent[0], b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(sent[3], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        assert_eq!(sent[4], b"*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n");
    }

    #[test]
    fn unexpected_types_and_pushes() {
        let script = b":1\r\n>2\r\n+invalidate\r\n_\r\n_\r\n";
        let (mut c, _) = mock(script, 3);
        match c.get("k") {
            Err(Error::UnexpectedReply { expected, got }) => {
                assert_eq!(expected, "bulk string or nil");
                assert_eq!(*got, Reply::Int(1));
            }
            other => panic!("{other:?}"),
        }
        // The push is set aside; GET gets the RESP3 null after it.
        assert_eq!(c.get("k").unwrap(), None);
        assert_eq!(
            c.take_pushes(),
            vec![Reply::Push(vec![
                Reply::Simple(b"invalidate".to_vec()),
                Reply::Null
            ])]
        );
        assert!(!c.is_broken());
    }

    #[test]
    fn connection_errors_break_the_client() {
        let (mut c, _) = mock(b"+PONG\r\n$5\r\nab", 4);
        c.ping().unwrap();
        assert!(matches!(c.get("k"), Err(Error::Disconnected)));
        assert!(c.is_broken());
        match c.ping() {
            Err(Error::Broken(why)) => assert_eq!(why, "connection closed by the server"),
            other => panic!("{other:?}"),
        }
        let (mut c, _) = mock(b"&garbage\r\n", 64);
        assert!(matches!(c.ping(), Err(Error::Protocol(_))));
        assert!(matches!(c.ping(), Err(Error::Broken(_))));
    }

    #[test]
    fn pipeline_replies_in_order_and_batches() {
        let n = 5000;
        let mut script = Vec::new();
        for i in 0..n {
            script.extend_from_slice(format!(":{i}\r\n").as_bytes());
        }
        let (mut c, sent) = mock(&script, 777);
        let mut p = c.pipeline();
        for i in 0..n {
            p.cmd(&["ECHO".to_string(), format!("{i:040}")]);
        }
        assert_eq!(p.len(), n);
        let replies = p.send().unwrap();
        assert!(p.is_empty());
        assert_eq!(replies.len(), n);
        for (i, r) in replies.iter().enumerate() {
            assert_eq!(r, &Reply::Int(i as i64));
        }
        let sent = sent.lock().unwrap();
        let total: usize = sent.iter().map(Vec::len).sum();
        assert!(sent.len() > 1, "written in several batches");
        assert!(sent.iter().all(|b| b.len() <= PIPELINE_BATCH));
        // *2, $4 ECHO, $40 <40 digits>
        assert_eq!(total, n * (4 + 10 + 47));
    }

    #[test]
    fn oversized_command_is_sent_alone() {
        let (mut c, sent) = mock(b"+OK\r\n+OK\r\n+OK\r\n", 5);
        let big = vec![b'x'; PIPELINE_BATCH * 2];
        let replies = c
            .pipeline()
            .cmd(&["SET", "a", "1"])
            .cmd(&[&b"SET"[..], b"b", &big])
            .cmd(&["SET", "c", "1"])
            .send()
            .unwrap();
        assert_eq!(replies, vec![Reply::Simple(b"OK".to_vec()); 3]);
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 3);
        assert!(sent[1].len() > PIPELINE_BATCH);
    }

    #[test]
    fn large_reply_grows_then_releases_the_buffer() {
        let value = vec![7u8; 3 * 1024 * 1024];
        let mut script = format!("${}\r\n", value.len()).into_bytes();
        script.extend_from_slice(&value);
        script.extend_from_slice(b"\r\n+PONG\r\n");
        let (mut c, _) = mock(&script, 100_000);
        assert_eq!(c.get("big").unwrap(), Some(value));
        assert!(c.rbuf.len() <= READ_BUF_KEEP);
        c.ping().unwrap();
    }
}
