//! Byte transports under the [`Client`](crate::Client).
//!
//! The client only ever sends request bytes and receives reply bytes, through
//! the [`Transport`] trait. TCP, Unix sockets and RDMA (Valkey's RDMA wire
//! protocol, from `ferrokv-transport`) implement it here, so the client, its
//! pipelining and the benchmark rig run over each unchanged.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use ferrokv_transport::rdma::{NUDGE_AFTER, RdmaConn, protocol::RX_SIZE_DEFAULT, wait_readable};

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// A connected, blocking byte stream to a server.
///
/// Contract for implementations:
/// * [`send`](Transport::send) hands over *all* bytes or fails; it blocks at
///   most the write timeout per wait for progress.
/// * [`recv`](Transport::recv) blocks until at least one byte is available
///   (at most the read timeout), copies up to `buf.len()` bytes and returns
///   how many (never 0); a closed connection is [`Error::Disconnected`].
/// * Errors are mapped as in [`Error::from_io`]: a timeout is
///   [`Error::Timeout`], a peer that went away is [`Error::Disconnected`].
///
/// After any error the client abandons the transport.
pub trait Transport: Send {
    /// Writes all of `buf`.
    fn send(&mut self, buf: &[u8]) -> Result<()>;
    /// Reads at least one byte into `buf`; returns the count (≥ 1).
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize>;
    /// Longest wait for incoming bytes (`None`: no limit).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()>;
    /// Longest wait for outgoing bytes to make progress (`None`: no limit).
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<()>;
    /// The transport's name: `"tcp"`, `"unix"`, `"rdma"` ...
    fn kind(&self) -> &'static str;
}

/// What the socket transports share: a stream with timeouts.
trait Stream: Read + Write + Send {
    fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(read)?;
        self.set_write_timeout(write)
    }
}

impl Stream for UnixStream {
    fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(read)?;
        self.set_write_timeout(write)
    }
}

/// A socket transport (TCP or Unix).
struct SocketTransport<S> {
    stream: S,
    kind: &'static str,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl<S: Stream> SocketTransport<S> {
    fn new(stream: S, kind: &'static str) -> Self {
        Self {
            stream,
            kind,
            read_timeout: None,
            write_timeout: None,
        }
    }

    fn apply_timeouts(&mut self) -> Result<()> {
        // A zero duration is an error for setsockopt; treat it as 1 ns.
        let fix = |t: Option<Duration>| t.map(|d| d.max(Duration::from_nanos(1)));
        self.stream
            .set_timeouts(fix(self.read_timeout), fix(self.write_timeout))
            .map_err(Error::Io)
    }
}

impl<S: Stream> Transport for SocketTransport<S> {
    fn send(&mut self, buf: &[u8]) -> Result<()> {
        // write_all retries EINTR; a timeout or a reset ends it.
        self.stream
            .write_all(buf)
            .map_err(|e| Error::from_io(e, "write", self.write_timeout))
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Err(Error::Disconnected),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::from_io(e, "read", self.read_timeout)),
            }
        }
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.read_timeout = timeout;
        self.apply_timeouts()
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.write_timeout = timeout;
        self.apply_timeouts()
    }

    fn kind(&self) -> &'static str {
        self.kind
    }
}

/// Connects over TCP to `addr` (`host:port`), trying each resolved address
/// in turn, each within `timeout`. Sets TCP_NODELAY.
pub fn connect_tcp(addr: &str, timeout: Option<Duration>) -> Result<Box<dyn Transport>> {
    let addrs = addr.to_socket_addrs().map_err(|e| unresolvable(addr, e))?;
    let mut last = None;
    for a in addrs {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(&a, t.max(Duration::from_nanos(1))),
            None => TcpStream::connect(a),
        };
        match attempt {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(Error::Io)?;
                return Ok(Box::new(SocketTransport::new(stream, "tcp")));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => Error::from_io(e, "connect", timeout),
        None => no_address(addr),
    })
}

/// The error for a `host:port` that does not resolve.
pub(crate) fn unresolvable(addr: &str, e: io::Error) -> Error {
    Error::InvalidEndpoint(format!("cannot resolve {addr:?}: {e}"))
}

/// The error for a `host:port` that resolves to no address.
pub(crate) fn no_address(addr: &str) -> Error {
    Error::InvalidEndpoint(format!("{addr:?} resolves to no address"))
}

/// Connects to the Unix domain socket at `path`.
pub fn connect_unix(path: &Path) -> Result<Box<dyn Transport>> {
    let stream = UnixStream::connect(path).map_err(|e| Error::from_io(e, "connect", None))?;
    Ok(Box::new(SocketTransport::new(stream, "unix")))
}

/// An RDMA connection (Valkey's protocol). Waiting is `poll(2)` on the
/// connection's two fds; while a send waits for room in the server's
/// receive buffer, incoming replies are taken into the [`Inbox`], so the
/// server is never stuck writing to us while we are stuck writing to it.
struct RdmaTransport {
    conn: RdmaConn,
    inbox: Inbox,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// How long a connect may take when the caller sets no limit.
const RDMA_CONNECT_DEFAULT: Duration = Duration::from_secs(10);

impl RdmaTransport {
    /// Waits for an event until `deadline`; false when it passed. If the
    /// first [`NUDGE_AFTER`] bring nothing, nudges the device once (see
    /// [`RdmaConn::nudge`]: soft-RoCE can leave our request unsent).
    fn wait(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let left = |deadline: Option<Instant>| match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(()),
            },
            None => Ok(None),
        };
        let Ok(rest) = left(deadline) else {
            return Ok(false);
        };
        let first = rest.map_or(NUDGE_AFTER, |r| r.min(NUDGE_AFTER));
        if wait_readable(&self.conn.fds(), Some(first)).map_err(Error::Io)? {
            return Ok(true);
        }
        self.conn.nudge();
        let Ok(rest) = left(deadline) else {
            return Ok(false);
        };
        wait_readable(&self.conn.fds(), rest).map_err(Error::Io)?;
        Ok(true)
    }
}

/// Bytes an RDMA connection received while its owner was sending: read
/// from the connection to let the server go on writing (our receive buffer
/// is where it writes, and it re-opens only as we read), and handed out
/// before anything newer by the next receive.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    bytes: Vec<u8>,
    pos: usize,
}

impl Inbox {
    /// Moves everything `conn` received so far into the inbox. Like
    /// [`RdmaConn::read`] returning `WouldBlock`, a successful return means
    /// the connection's fds were drained and re-armed.
    pub(crate) fn stash(&mut self, conn: &mut RdmaConn) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match conn.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => self.bytes.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves up to `buf.len()` stashed bytes into `buf`; 0 when there are none.
    pub(crate) fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = (self.bytes.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.bytes.len() {
            self.bytes.clear();
            self.pos = 0;
        }
        n
    }
}

impl Transport for RdmaTransport {
    fn send(&mut self, buf: &[u8]) -> Result<()> {
        let mut sent = 0;
        let mut deadline = self.write_timeout.map(|t| Instant::now() + t);
        while sent < buf.len() {
            match self.conn.write(&buf[sent..]) {
                Ok(n) => {
                    sent += n;
                    deadline = self.write_timeout.map(|t| Instant::now() + t);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.inbox
                        .stash(&mut self.conn)
                        .map_err(|e| Error::from_io(e, "read", self.read_timeout))?;
                    if !self.wait(deadline)? {
                        return Err(Error::Timeout {
                            op: "write",
                            after: self.write_timeout.unwrap_or_default(),
                        });
                    }
                }
                Err(e) => return Err(Error::from_io(e, "write", self.write_timeout)),
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = self.inbox.take(buf);
        if n > 0 {
            return Ok(n);
        }
        let deadline = self.read_timeout.map(|t| Instant::now() + t);
        loop {
            match self.conn.read(buf) {
                Ok(0) => return Err(Error::Disconnected),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wait(deadline)? {
                        return Err(Error::Timeout {
                            op: "read",
                            after: self.read_timeout.unwrap_or_default(),
                        });
                    }
                }
                Err(e) => return Err(Error::from_io(e, "read", self.read_timeout)),
            }
        }
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.write_timeout = timeout;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "rdma"
    }
}

/// Connects over RDMA to `addr` (`host:port`, the server's `rdma-port`),
/// with a receive buffer of `rx_size` bytes (64 KiB..16 MiB; Valkey's
/// default is 1 MiB). A server not listening there is
/// [`Error::Io`] with kind `ConnectionRefused`; a host without RDMA is
/// [`Error::Unavailable`].
pub fn connect_rdma(
    addr: &str,
    rx_size: u32,
    timeout: Option<Duration>,
) -> Result<Box<dyn Transport>> {
    Ok(Box::new(RdmaTransport {
        conn: rdma_conn(addr, rx_size, timeout)?,
        inbox: Inbox::default(),
        read_timeout: None,
        write_timeout: None,
    }))
}

/// Sets up an RDMA connection as [`connect_rdma`] describes, blocking
/// until it is established (the async client runs this on a blocking
/// thread).
pub(crate) fn rdma_conn(addr: &str, rx_size: u32, timeout: Option<Duration>) -> Result<RdmaConn> {
    ferrokv_transport::rdma::probe().map_err(Error::Unavailable)?;
    let target = addr
        .to_socket_addrs()
        .map_err(|e| unresolvable(addr, e))?
        .next()
        .ok_or_else(|| no_address(addr))?;
    let timeout = timeout.unwrap_or(RDMA_CONNECT_DEFAULT);
    RdmaConn::connect(target, rx_size, timeout).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => Error::Timeout {
            op: "connect",
            after: timeout,
        },
        _ => Error::Io(e),
    })
}

/// Connects to `endpoint` with the given connect timeout (RDMA with the
/// default 1 MiB receive buffer).
pub fn connect(
    endpoint: &Endpoint,
    connect_timeout: Option<Duration>,
) -> Result<Box<dyn Transport>> {
    match endpoint {
        Endpoint::Tcp(addr) => connect_tcp(addr, connect_timeout),
        Endpoint::Unix(path) => connect_unix(path),
        Endpoint::Rdma(addr) => connect_rdma(addr, RX_SIZE_DEFAULT, connect_timeout),
    }
}
