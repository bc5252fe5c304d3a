//! The blocking client: one connection, commands in, replies out in order.

use std::time::Duration;

use ferrokv_transport::resp::reply::{Reply, ReplyLimits};
use ferrokv_transport::resp::write::Protocol;

use crate::codec::{self, Codec, Commands};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::transport::{self, Transport};

/// Connection settings, for [`Client`] and the async client alike.
#[derive(Clone, Debug)]
pub struct Options {
    /// Longest wait to establish a connection (default 5 s): per address
    /// tried for TCP, for the whole set-up for RDMA (`None`: 10 s). A Unix
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
/// [`Error::is_connection_error`]: crate::Error::is_connection_error
/// [`Error::Broken`]: crate::Error::Broken
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
    codec: Codec,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("transport", &self.transport.kind())
            .field("protocol", &self.codec.protocol())
            .field("broken", &self.codec.broken())
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
            codec: Codec::new(options.limits),
        })
    }

    /// The protocol the connection speaks (RESP2 until [`hello`](Client::hello)).
    pub fn protocol(&self) -> Protocol {
        self.codec.protocol()
    }

    /// The transport's name: `"tcp"`, `"unix"` ...
    pub fn transport_kind(&self) -> &'static str {
        self.transport.kind()
    }

    /// True once a connection error made this client unusable.
    pub fn is_broken(&self) -> bool {
        self.codec.is_broken()
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
        self.codec.take_pushes()
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
            let buf = c.codec.encode(args);
            let sent = c.transport.send(&buf);
            c.codec.recycle(buf);
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
            commands: Commands::default(),
        }
    }

    /// `PING`: succeeds on `PONG`.
    pub fn ping(&mut self) -> Result<()> {
        codec::expect_pong(self.cmd(&["PING"])?)
    }

    /// `GET key`: the value, or `None` when the key does not exist.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        codec::expect_bulk_or_nil(self.cmd(&[b"GET", key.as_ref()])?)
    }

    /// `SET key value`.
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        codec::expect_ok(self.cmd(&[b"SET", key.as_ref(), value.as_ref()])?)
    }

    /// `DEL key [key ...]`: how many keys were removed.
    pub fn del<K: AsRef<[u8]>>(&mut self, keys: &[K]) -> Result<i64> {
        codec::expect_int(self.cmd(&codec::del_args(keys))?)
    }

    /// `INCR key`: the new value.
    pub fn incr(&mut self, key: impl AsRef<[u8]>) -> Result<i64> {
        codec::expect_int(self.cmd(&[b"INCR", key.as_ref()])?)
    }

    /// `HELLO protover`: switches the connection to RESP2 or RESP3 and
    /// returns the server's description of itself (a map in RESP3, a flat
    /// array in RESP2).
    pub fn hello(&mut self, protover: u8) -> Result<Reply> {
        let reply = self.cmd(&["HELLO", protover.to_string().as_str()])?;
        self.codec.on_hello(protover, reply)
    }

    /// Runs `f`, refusing to when the connection is broken, and marking it
    /// broken when `f` fails with a connection error.
    fn guard<T>(&mut self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        self.codec.begin()?;
        let result = f(self);
        self.codec.finish(result)
    }

    /// Reads the next reply, setting RESP3 pushes aside.
    fn read_reply(&mut self) -> Result<Reply> {
        loop {
            if let Some(reply) = self.codec.next_reply()? {
                return Ok(reply);
            }
            let n = self.transport.recv(self.codec.spare_capacity())?;
            self.codec.advance(n);
        }
    }

    /// Sends the commands in batches (see [`Commands::batches`]) and hands
    /// each reply to `each` in order.
    fn run_pipeline(
        &mut self,
        commands: &Commands,
        mut each: impl FnMut(usize, Reply),
    ) -> Result<()> {
        self.guard(|c| {
            let mut read = 0;
            for batch in commands.batches() {
                while read < batch.read_to {
                    each(read, c.read_reply()?);
                    read += 1;
                }
                c.transport.send(&commands.bytes()[batch.bytes])?;
            }
            while read < commands.len() {
                each(read, c.read_reply()?);
                read += 1;
            }
            Ok(())
        })
    }
}

/// Commands queued for one round trip. Made by [`Client::pipeline`].
///
/// Server error replies are returned in place (`Reply::Error`), so one
/// failing command does not hide the replies of the others. The pipeline
/// can be reused after [`send`](Pipeline::send): it is emptied.
pub struct Pipeline<'a> {
    client: &'a mut Client,
    commands: Commands,
}

impl Pipeline<'_> {
    /// Queues a command.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> &mut Self {
        self.commands.push(args);
        self
    }

    /// Commands queued.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Drops the queued commands.
    pub fn clear(&mut self) {
        self.commands.clear();
    }

    /// Sends the queued commands and returns their replies, in order.
    pub fn send(&mut self) -> Result<Vec<Reply>> {
        let mut out = Vec::with_capacity(self.len());
        self.send_each(|_, reply| out.push(reply))?;
        Ok(out)
    }

    /// Sends the queued commands and calls `each(index, reply)` as each
    /// reply arrives, in order (for timing replies, or to avoid collecting).
    pub fn send_each(&mut self, each: impl FnMut(usize, Reply)) -> Result<()> {
        let result = self.client.run_pipeline(&self.commands, each);
        self.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{PIPELINE_BATCH, READ_BUF_KEEP};
    use crate::error::Error;
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
        assert!(c.codec.buffer_len() <= READ_BUF_KEEP);
        c.ping().unwrap();
    }
}
