//! The transport abstraction and its socket implementations (TCP, Unix;
//! TLS over TCP is in `tls`).
//!
//! The executor's event loop registers [`Listener`]s and [`Connection`]s with
//! one `mio::Poll`, reads into its own buffers and writes coalesced replies.
//! A transport only moves bytes; framing is the codec's job.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    Tcp,
    Unix,
    Tls,
    Rdma,
}

impl TransportKind {
    /// The name INFO's listener lines use.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Unix => "unix",
            TransportKind::Tls => "tls",
            TransportKind::Rdma => "rdma",
        }
    }
}

/// One client connection, whatever carries it.
pub trait Connection {
    /// The pollable handle to register for readiness.
    fn source(&mut self) -> &mut dyn Source;
    /// Reads available bytes; `Ok(0)` is end of stream, `WouldBlock` means
    /// wait for the next readable event. Fewer bytes than `buf` holds must
    /// mean nothing more is ready now: the event loop then waits for the
    /// next event without reading again.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes as much of `buf` as the transport takes now.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Sends what the transport still holds of earlier writes (TLS
    /// records); `WouldBlock` while some remain (the next writable event
    /// comes back here).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn kind(&self) -> TransportKind;
    /// Peer and local addresses as Valkey prints them in CLIENT LIST
    /// ("ip:port", or "path:0" for Unix sockets).
    fn peer_addr(&self) -> String;
    fn local_addr(&self) -> String;
    fn raw_fd(&self) -> RawFd;
    /// A Unix socket, or TCP from a loopback address.
    fn is_local(&self) -> bool;
    /// Periodic work a transport needs (RDMA keepalives), from the cron; an
    /// error means the connection is finished.
    fn tick(&mut self, _now: std::time::Instant) -> io::Result<()> {
        Ok(())
    }
    /// Whether received bytes wait that no readiness event will announce
    /// (RDMA completions taken while writing): read again without one.
    fn has_buffered_input(&self) -> bool {
        false
    }
    /// Called once the connection is to be closed, and again until it
    /// returns false: true while output already handed over is still in
    /// flight and would be lost by closing now (RDMA). Sockets say false:
    /// the kernel delivers what was written.
    fn linger(&mut self) -> bool {
        false
    }
}

/// A listening endpoint.
pub trait Listener {
    fn source(&mut self) -> &mut dyn Source;
    /// Accepts one pending connection; `WouldBlock` when none is waiting.
    fn accept(&mut self) -> io::Result<Box<dyn Connection>>;
    fn kind(&self) -> TransportKind;
    /// What the listener is bound to, for logs.
    fn describe(&self) -> String;
}

pub(crate) fn format_addr(addr: io::Result<SocketAddr>) -> String {
    match addr {
        Ok(SocketAddr::V4(a)) => format!("{}:{}", a.ip(), a.port()),
        Ok(SocketAddr::V6(a)) => format!("{}:{}", a.ip(), a.port()),
        Err(_) => "?:0".to_string(),
    }
}

/// A connection's addresses as CLIENT LIST prints them, read once at
/// accept time.
pub(crate) struct Addrs {
    pub peer: String,
    pub local: String,
    /// A Unix socket, or TCP from a loopback address.
    pub is_local: bool,
}

impl Addrs {
    pub(crate) fn tcp(stream: &TcpStream) -> Addrs {
        let peer = stream.peer_addr();
        Addrs {
            is_local: peer.as_ref().is_ok_and(|a| a.ip().is_loopback()),
            peer: format_addr(peer),
            local: format_addr(stream.local_addr()),
        }
    }
}

/// A connection over a kernel socket (TCP or Unix).
pub struct SocketConnection<S> {
    stream: S,
    kind: TransportKind,
    addrs: Addrs,
}

impl<S: Read + Write + Source + AsRawFd> Connection for SocketConnection<S> {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.stream
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn kind(&self) -> TransportKind {
        self.kind
    }
    fn peer_addr(&self) -> String {
        self.addrs.peer.clone()
    }
    fn local_addr(&self) -> String {
        self.addrs.local.clone()
    }
    fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
    fn is_local(&self) -> bool {
        self.addrs.is_local
    }
}

/// TCP listener options from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct TcpOptions {
    pub backlog: i32,
    /// `tcp-keepalive` seconds; 0 disables keepalive probes.
    pub keepalive_secs: u32,
}

pub struct TcpServer {
    listener: TcpListener,
    options: TcpOptions,
}

impl TcpServer {
    pub fn bind(addr: SocketAddr, options: TcpOptions) -> io::Result<Self> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(options.backlog)?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            listener: TcpListener::from_std(socket.into()),
            options,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The bound socket, for a transport that accepts on it itself (TLS).
    pub(crate) fn into_listener(self) -> TcpListener {
        self.listener
    }
}

impl Listener for TcpServer {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.listener
    }
    fn accept(&mut self) -> io::Result<Box<dyn Connection>> {
        let (stream, _) = self.listener.accept()?;
        prepare_accepted(&stream, self.options)?;
        Ok(Box::new(SocketConnection {
            addrs: Addrs::tcp(&stream),
            kind: TransportKind::Tcp,
            stream,
        }))
    }
    fn kind(&self) -> TransportKind {
        TransportKind::Tcp
    }

    fn describe(&self) -> String {
        format_addr(self.listener.local_addr())
    }
}

pub struct UnixServer {
    listener: UnixListener,
    path: String,
}

impl UnixServer {
    /// Binds `path` (replacing a stale socket file) and applies `perm`
    /// (`unixsocketperm`, 0 keeps the umask's choice).
    pub fn bind(path: &str, perm: u32) -> io::Result<Self> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        if perm != 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))?;
        }
        Ok(Self {
            listener,
            path: path.to_string(),
        })
    }
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Listener for UnixServer {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.listener
    }
    fn accept(&mut self) -> io::Result<Box<dyn Connection>> {
        let (stream, _) = self.listener.accept()?;
        // Valkey shows a Unix client's address as "<socket path>:0".
        let addr = format!("{}:0", self.path);
        Ok(Box::new(SocketConnection {
            stream,
            kind: TransportKind::Unix,
            addrs: Addrs {
                peer: addr.clone(),
                local: addr,
                is_local: true,
            },
        }))
    }
    fn kind(&self) -> TransportKind {
        TransportKind::Unix
    }

    fn describe(&self) -> String {
        self.path.clone()
    }
}

/// The options the configuration sets on an accepted TCP socket.
pub(crate) fn prepare_accepted(stream: &TcpStream, options: TcpOptions) -> io::Result<()> {
    stream.set_nodelay(true)?;
    if options.keepalive_secs > 0 {
        set_keepalive(stream, options.keepalive_secs)?;
    }
    Ok(())
}

/// Like Valkey's anetKeepAlive: probes start after `secs` idle, then every
/// third of that, giving up after three misses.
fn set_keepalive(stream: &TcpStream, secs: u32) -> io::Result<()> {
    let idle = std::time::Duration::from_secs(secs.into());
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval((idle / 3).max(std::time::Duration::from_secs(1)))
        .with_retries(3);
    socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
}
