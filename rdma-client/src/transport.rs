//! Byte transports under the [`Client`](crate::Client).
//!
//! The client only ever sends request bytes and receives reply bytes, through
//! the [`Transport`] trait. TCP and Unix sockets implement it here; the RDMA
//! transport (Valkey's RDMA wire protocol) will implement the same trait, so
//! the client, its pipelining and the benchmark rig run over it unchanged.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// The message of [`Error::Unsupported`] for RDMA endpoints.
pub const RDMA_UNSUPPORTED: &str = "RDMA transport not implemented yet";

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
    let addrs = addr
        .to_socket_addrs()
        .map_err(|e| Error::InvalidEndpoint(format!("cannot resolve {addr:?}: {e}")))?;
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
        None => Error::InvalidEndpoint(format!("{addr:?} resolves to no address")),
    })
}

/// Connects to the Unix domain socket at `path`.
pub fn connect_unix(path: &Path) -> Result<Box<dyn Transport>> {
    let stream = UnixStream::connect(path).map_err(|e| Error::from_io(e, "connect", None))?;
    Ok(Box::new(SocketTransport::new(stream, "unix")))
}

/// Connects to `endpoint` with the given connect timeout.
///
/// RDMA endpoints fail with [`Error::Unsupported`] until the RDMA transport
/// exists.
pub fn connect(
    endpoint: &Endpoint,
    connect_timeout: Option<Duration>,
) -> Result<Box<dyn Transport>> {
    match endpoint {
        Endpoint::Tcp(addr) => connect_tcp(addr, connect_timeout),
        Endpoint::Unix(path) => connect_unix(path),
        Endpoint::Rdma(_) => Err(Error::Unsupported(RDMA_UNSUPPORTED)),
    }
}
