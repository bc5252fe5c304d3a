//! The async client, on Tokio (cargo feature `tokio`): the blocking
//! [`Client`](crate::Client)'s API with `.await`, over TCP, Unix sockets and
//! RDMA.
//!
//! It shares everything but the moving of bytes with the blocking client
//! (the crate's I/O-free `codec` module: encoding, reply parsing, pushes,
//! broken state, pipeline batching, typed checks), and adds an async
//! transport: Tokio sockets, or an [`RdmaConn`] whose two event fds are
//! watched with [`AsyncFd`].

use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use ferrokv_transport::rdma::protocol::RX_SIZE_DEFAULT;
use ferrokv_transport::rdma::{NUDGE_AFTER, RdmaConn};
use ferrokv_transport::resp::reply::Reply;
use ferrokv_transport::resp::write::Protocol;
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::client::Options;
use crate::codec::{self, Codec, Commands};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::transport::{self, Inbox};

/// An async connection to a ferrokv (or Valkey) server, for Tokio.
///
/// The same client as the blocking [`Client`](crate::Client): replies come
/// back in the order commands were sent, RESP3 pushes are set aside for
/// [`take_pushes`](AsyncClient::take_pushes), typed helpers turn error
/// replies into [`Error::Server`], and after a connection error every later
/// call fails with [`Error::Broken`]. A call whose future is dropped before
/// it finished (a `select!` or a timeout around it) leaves the connection
/// out of step with the server too, so it also breaks the client.
///
/// It needs a Tokio runtime with I/O and time enabled (`#[tokio::main]`, or
/// a runtime builder with `enable_all()`). Over RDMA, the connection
/// set-up runs on Tokio's blocking thread pool; dropping a client that
/// still has writes in flight waits briefly (at most 200 ms, with a dead
/// peer) for them to reach the server.
///
/// ```no_run
/// use ferrokv_rdma_client::{AsyncClient, Endpoint, Error, Options, Reply};
/// use std::time::Duration;
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     let options = Options {
///         read_timeout: Some(Duration::from_secs(2)),
///         ..Options::default()
///     };
///     // Endpoint::rdma("10.0.0.1", 6380) or "rdma://10.0.0.1:6380" for RDMA.
///     let mut c = AsyncClient::connect_with(Endpoint::tcp("127.0.0.1", 6379), &options).await?;
///
///     c.set("greeting", "hello").await?;
///     assert_eq!(c.get("greeting").await?, Some(b"hello".to_vec()));
///     assert_eq!(c.cmd(&["EXISTS", "greeting"]).await?, Reply::Int(1));
///
///     // Pipelining: one round trip, replies in order.
///     let replies = c.pipeline().cmd(&["INCR", "n"]).cmd(&["GET", "n"]).send().await?;
///     assert_eq!(replies.len(), 2);
///     Ok(())
/// }
/// ```
pub struct AsyncClient {
    conn: Conn,
    codec: Codec,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl std::fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClient")
            .field("transport", &self.conn.kind())
            .field("protocol", &self.codec.protocol())
            .field("broken", &self.codec.broken())
            .finish_non_exhaustive()
    }
}

impl AsyncClient {
    /// Connects with the default [`Options`].
    pub async fn connect(endpoint: Endpoint) -> Result<AsyncClient> {
        AsyncClient::connect_with(endpoint, &Options::default()).await
    }

    /// Connects with explicit options. The connect timeout bounds each TCP
    /// address tried, and the whole RDMA set-up (10 s when unset).
    pub async fn connect_with(endpoint: Endpoint, options: &Options) -> Result<AsyncClient> {
        let timeout = options.connect_timeout;
        let conn = match endpoint {
            Endpoint::Tcp(addr) => Conn::Tcp(connect_tcp(&addr, timeout).await?),
            Endpoint::Unix(path) => Conn::Unix(connect_unix(&path).await?),
            Endpoint::Rdma(addr) => Conn::Rdma(Box::new(RdmaStream::connect(addr, timeout).await?)),
        };
        Ok(AsyncClient {
            conn,
            codec: Codec::new(options.limits),
            read_timeout: options.read_timeout,
            write_timeout: options.write_timeout,
        })
    }

    /// The protocol the connection speaks (RESP2 until [`hello`](AsyncClient::hello)).
    pub fn protocol(&self) -> Protocol {
        self.codec.protocol()
    }

    /// The transport's name: `"tcp"`, `"unix"` or `"rdma"`.
    pub fn transport_kind(&self) -> &'static str {
        self.conn.kind()
    }

    /// True once a connection error (or an interrupted call) made this
    /// client unusable.
    pub fn is_broken(&self) -> bool {
        self.codec.is_broken()
    }

    /// Changes the read timeout (`None`: wait forever): the longest wait
    /// for reply bytes, per read.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Changes the write timeout (`None`: wait forever): the longest wait
    /// for a write to make progress.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// RESP3 push messages received so far, oldest first.
    pub fn take_pushes(&mut self) -> Vec<Reply> {
        self.codec.take_pushes()
    }

    /// Sends one command and returns its reply as sent: a server error is
    /// `Ok(Reply::Error(..))` here, not an `Err`.
    pub async fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply> {
        self.codec.begin()?;
        let buf = self.codec.encode(args);
        let result = self.round_trip(&buf).await;
        self.codec.recycle(buf);
        self.codec.finish(result)
    }

    /// Starts a pipeline: commands are queued, then sent together by
    /// [`AsyncPipeline::send`], and their replies come back in order.
    pub fn pipeline(&mut self) -> AsyncPipeline<'_> {
        AsyncPipeline {
            client: self,
            commands: Commands::default(),
        }
    }

    /// `PING`: succeeds on `PONG`.
    pub async fn ping(&mut self) -> Result<()> {
        codec::expect_pong(self.cmd(&["PING"]).await?)
    }

    /// `GET key`: the value, or `None` when the key does not exist.
    pub async fn get(&mut self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        codec::expect_bulk_or_nil(self.cmd(&[b"GET", key.as_ref()]).await?)
    }

    /// `SET key value`.
    pub async fn set(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        codec::expect_ok(self.cmd(&[b"SET", key.as_ref(), value.as_ref()]).await?)
    }

    /// `DEL key [key ...]`: how many keys were removed.
    pub async fn del<K: AsRef<[u8]>>(&mut self, keys: &[K]) -> Result<i64> {
        codec::expect_int(self.cmd(&codec::del_args(keys)).await?)
    }

    /// `INCR key`: the new value.
    pub async fn incr(&mut self, key: impl AsRef<[u8]>) -> Result<i64> {
        codec::expect_int(self.cmd(&[b"INCR", key.as_ref()]).await?)
    }

    /// `HELLO protover`: switches the connection to RESP2 or RESP3 and
    /// returns the server's description of itself (a map in RESP3, a flat
    /// array in RESP2).
    pub async fn hello(&mut self, protover: u8) -> Result<Reply> {
        let reply = self.cmd(&["HELLO", protover.to_string().as_str()]).await?;
        self.codec.on_hello(protover, reply)
    }

    async fn round_trip(&mut self, request: &[u8]) -> Result<Reply> {
        self.send(request).await?;
        self.read_reply().await
    }

    /// Writes all of `buf`, each wait for progress within the write timeout.
    async fn send(&mut self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            let n = with_timeout("write", self.write_timeout, self.conn.write(buf)).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Reads the next reply, setting RESP3 pushes aside.
    async fn read_reply(&mut self) -> Result<Reply> {
        loop {
            if let Some(reply) = self.codec.next_reply()? {
                return Ok(reply);
            }
            let read = self.conn.read(self.codec.spare_capacity());
            match with_timeout("read", self.read_timeout, read).await? {
                0 => return Err(Error::Disconnected),
                n => self.codec.advance(n),
            }
        }
    }

    /// Sends the commands in batches (see [`Commands::batches`]) and hands
    /// each reply to `each` in order.
    async fn run_pipeline(
        &mut self,
        commands: &Commands,
        each: impl FnMut(usize, Reply),
    ) -> Result<()> {
        self.codec.begin()?;
        let result = self.exchange(commands, each).await;
        self.codec.finish(result)
    }

    async fn exchange(
        &mut self,
        commands: &Commands,
        mut each: impl FnMut(usize, Reply),
    ) -> Result<()> {
        let mut read = 0;
        for batch in commands.batches() {
            while read < batch.read_to {
                each(read, self.read_reply().await?);
                read += 1;
            }
            self.send(&commands.bytes()[batch.bytes]).await?;
        }
        while read < commands.len() {
            each(read, self.read_reply().await?);
            read += 1;
        }
        Ok(())
    }
}

/// Commands queued for one round trip. Made by [`AsyncClient::pipeline`].
///
/// Server error replies are returned in place (`Reply::Error`), so one
/// failing command does not hide the replies of the others. The pipeline
/// can be reused after [`send`](AsyncPipeline::send): it is emptied.
/// Pipelines of any depth and value size are safe: they are written in
/// batches, reading replies in between, exactly as the blocking client's.
pub struct AsyncPipeline<'a> {
    client: &'a mut AsyncClient,
    commands: Commands,
}

impl AsyncPipeline<'_> {
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
    pub async fn send(&mut self) -> Result<Vec<Reply>> {
        let mut out = Vec::with_capacity(self.len());
        self.send_each(|_, reply| out.push(reply)).await?;
        Ok(out)
    }

    /// Sends the queued commands and calls `each(index, reply)` as each
    /// reply arrives, in order (for timing replies, or to avoid collecting).
    pub async fn send_each(&mut self, each: impl FnMut(usize, Reply)) -> Result<()> {
        let result = self.client.run_pipeline(&self.commands, each).await;
        self.clear();
        result
    }
}

/// Runs `io` within `timeout` (`None`: no limit), mapping its errors as
/// [`Error::from_io`] does for operation `op`.
async fn with_timeout<T>(
    op: &'static str,
    timeout: Option<Duration>,
    io: impl Future<Output = io::Result<T>>,
) -> Result<T> {
    let result = match timeout {
        Some(after) => tokio::time::timeout(after, io)
            .await
            .map_err(|_| Error::Timeout { op, after })?,
        None => io.await,
    };
    result.map_err(|e| Error::from_io(e, op, timeout))
}

/// Connects over TCP to `addr` (`host:port`), trying each resolved address
/// in turn, each within `timeout`. Sets TCP_NODELAY.
async fn connect_tcp(addr: &str, timeout: Option<Duration>) -> Result<TcpStream> {
    let addrs = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| transport::unresolvable(addr, e))?;
    let mut last = None;
    for a in addrs {
        match with_timeout("connect", timeout, TcpStream::connect(a)).await {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(Error::Io)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| transport::no_address(addr)))
}

/// Connects to the Unix domain socket at `path`.
async fn connect_unix(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path)
        .await
        .map_err(|e| Error::from_io(e, "connect", None))
}

/// The connection under an [`AsyncClient`].
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    Rdma(Box<RdmaStream>),
}

impl Conn {
    fn kind(&self) -> &'static str {
        match self {
            Conn::Tcp(_) => "tcp",
            Conn::Unix(_) => "unix",
            Conn::Rdma(_) => "rdma",
        }
    }

    /// Waits for incoming bytes and reads some into `buf` (not empty):
    /// how many, 0 once the server closed the connection.
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => read_socket(s, buf).await,
            Conn::Unix(s) => read_socket(s, buf).await,
            Conn::Rdma(r) => r.read(buf).await,
        }
    }

    /// Waits until some of `buf` (not empty) can be written and writes it:
    /// how many bytes, at least one.
    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => write_socket(s, buf).await,
            Conn::Unix(s) => write_socket(s, buf).await,
            Conn::Rdma(r) => r.write(buf).await,
        }
    }
}

async fn read_socket<S: AsyncRead + Unpin>(s: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    let mut buf = ReadBuf::new(buf);
    poll_fn(|cx| Pin::new(&mut *s).poll_read(cx, &mut buf)).await?;
    Ok(buf.filled().len())
}

async fn write_socket<S: AsyncWrite + Unpin>(s: &mut S, buf: &[u8]) -> io::Result<usize> {
    match poll_fn(|cx| Pin::new(&mut *s).poll_write(cx, buf)).await? {
        0 => Err(io::ErrorKind::WriteZero.into()),
        n => Ok(n),
    }
}

/// An RDMA connection driven by Tokio: [`RdmaConn`]'s non-blocking `read`
/// and `write`, retried when one of its two event fds (the connection
/// manager's and the completion channel's) becomes readable.
///
/// Readiness: `read`, `write` and [`Inbox::stash`] handle every pending
/// event and re-arm the fds before they report `WouldBlock`, so after a
/// `WouldBlock` only a new edge can bring progress. The readiness that
/// woke us is therefore cleared only when the retry it prompted returned
/// `WouldBlock` again; Tokio ignores the clear if another edge arrived
/// since that readiness was reported, so no wake-up is lost.
///
/// As in the blocking transport, replies that arrive while a write waits
/// for room in the server's receive buffer are moved to the [`Inbox`], so
/// the server is never stuck writing to us while we are stuck writing to it.
struct RdmaStream {
    /// Duplicates of the connection's fds (see [`RdmaConn::wait_fds`]),
    /// registered with Tokio's reactor.
    fds: [AsyncFd<OwnedFd>; 2],
    conn: RdmaConn,
    inbox: Inbox,
}

impl RdmaStream {
    /// Sets up the connection on Tokio's blocking thread pool (rdma_cm's
    /// address and route resolution and the handshake block), then
    /// registers its fds with the reactor.
    async fn connect(addr: String, timeout: Option<Duration>) -> Result<RdmaStream> {
        let setup = tokio::task::spawn_blocking(move || {
            transport::rdma_conn(&addr, RX_SIZE_DEFAULT, timeout)
        });
        let conn = match setup.await {
            Ok(conn) => conn?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(Error::Io(io::Error::other(e))),
        };
        let [cm, completions] = conn.wait_fds().map_err(Error::Io)?;
        Ok(RdmaStream {
            fds: [watch(cm)?, watch(completions)?],
            conn,
            inbox: Inbox::default(),
        })
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inbox.take(buf);
        if n > 0 {
            return Ok(n);
        }
        let conn = &mut self.conn;
        retry(&self.fds, |nudge| {
            if nudge {
                conn.nudge();
            }
            conn.read(buf)
        })
        .await
    }

    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Self { fds, conn, inbox } = self;
        retry(fds, |nudge| {
            if nudge {
                conn.nudge();
            }
            match conn.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    inbox.stash(conn)?;
                    Err(e)
                }
                done => done,
            }
        })
        .await
    }
}

/// Registers `fd` with Tokio's reactor, for readability.
///
/// Tokio 1.51.6 and 1.53.3 deprecated `AsyncFd::with_interest` in favour of
/// the `unsafe` `AsyncFd::register_with_interest`, because an arbitrary
/// `AsRawFd` type need not keep its fd open while registered. An
/// [`OwnedFd`] does, by construction, which makes this call sound; and this
/// crate forbids unsafe code (the RDMA transport's lives in
/// `ferrokv-transport`'s FFI module).
#[allow(deprecated)]
fn watch(fd: OwnedFd) -> Result<AsyncFd<OwnedFd>> {
    AsyncFd::with_interest(fd, Interest::READABLE).map_err(Error::Io)
}

/// Runs `op` until it does something other than `WouldBlock`, waiting
/// between tries for either fd to become readable. `op` must handle every
/// pending event before it returns `WouldBlock` (see [`RdmaStream`]). Its
/// argument asks it to nudge the device first ([`RdmaConn::nudge`]): once
/// per call, after [`NUDGE_AFTER`] without an event.
async fn retry<T>(
    fds: &[AsyncFd<OwnedFd>; 2],
    mut op: impl FnMut(bool) -> io::Result<T>,
) -> io::Result<T> {
    let mut ready: Option<AsyncFdReadyGuard<'_, OwnedFd>> = None;
    let mut nudge = false;
    let mut nudged = false;
    loop {
        match op(std::mem::take(&mut nudge)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The events behind `ready` are handled and nothing came of
                // them: forget that readiness, and wait for the next edge.
                if let Some(mut guard) = ready.take() {
                    guard.clear_ready();
                }
                if nudged {
                    ready = Some(readable(fds).await?);
                } else {
                    match tokio::time::timeout(NUDGE_AFTER, readable(fds)).await {
                        Ok(guard) => ready = Some(guard?),
                        Err(_) => (nudge, nudged) = (true, true),
                    }
                }
            }
            done => return done,
        }
    }
}

/// Waits until either fd is readable (or its readiness is still set).
async fn readable(fds: &[AsyncFd<OwnedFd>; 2]) -> io::Result<AsyncFdReadyGuard<'_, OwnedFd>> {
    poll_fn(|cx| {
        for fd in fds {
            if let Poll::Ready(guard) = fd.poll_read_ready(cx) {
                return Poll::Ready(guard);
            }
        }
        Poll::Pending
    })
    .await
}
