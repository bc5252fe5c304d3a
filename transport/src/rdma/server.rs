//! The server side: an rdma_cm listener and accepted connections behind the
//! same [`Listener`]/[`Connection`] traits as TCP, so the executor runs
//! every command identically. Each connection's two fds (its own cm event
//! channel and its completion channel) are registered under its token.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Instant;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::conn::RdmaConn;
use super::verbs::{CmEndpoint, cm_event};
use crate::net::{Connection, Listener, TransportKind, format_addr};

/// Several fds polled as one source (readable interest only: RDMA has no
/// writable event).
pub struct FdSet(Vec<RawFd>);

impl Source for FdSet {
    fn register(&mut self, registry: &Registry, token: Token, _: Interest) -> io::Result<()> {
        for (i, fd) in self.0.iter().enumerate() {
            if let Err(e) = SourceFd(fd).register(registry, token, Interest::READABLE) {
                for done in &self.0[..i] {
                    let _ = SourceFd(done).deregister(registry);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn reregister(&mut self, registry: &Registry, token: Token, _: Interest) -> io::Result<()> {
        for fd in &self.0 {
            SourceFd(fd).reregister(registry, token, Interest::READABLE)?;
        }
        Ok(())
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        for fd in &self.0 {
            SourceFd(fd).deregister(registry)?;
        }
        Ok(())
    }
}

/// Settings for accepted connections.
#[derive(Clone, Copy, Debug)]
pub struct RdmaOptions {
    pub rx_size: u32,
    /// -1: let the device choose.
    pub completion_vector: i32,
    pub backlog: i32,
}

pub struct RdmaListener {
    ep: CmEndpoint,
    fds: FdSet,
    options: RdmaOptions,
}

impl RdmaListener {
    pub fn bind(addr: SocketAddr, options: RdmaOptions) -> io::Result<Self> {
        let ep = CmEndpoint::listen(addr, options.backlog)?;
        let fds = FdSet(vec![ep.channel.fd()]);
        Ok(Self { ep, fds, options })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.ep.id.local_addr()
    }
}

impl Listener for RdmaListener {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.fds
    }

    /// Handles the listener's events until a connection request was
    /// accepted (returned) or none is left (`WouldBlock`). A request that
    /// cannot be set up is rejected and reported as `ConnectionAborted`.
    fn accept(&mut self) -> io::Result<Box<dyn Connection>> {
        loop {
            let Some(ev) = self.ep.channel.next_event()? else {
                return Err(ErrorKind::WouldBlock.into());
            };
            if ev.kind != cm_event::RDMA_CM_EVENT_CONNECT_REQUEST {
                // Accepted connections have their own channels; anything
                // else here is about the listener itself (e.g. device removal).
                continue;
            }
            return match RdmaConn::accept(ev, self.options.rx_size, self.options.completion_vector)
            {
                Ok(conn) => Ok(Box::new(RdmaConnection::new(conn))),
                Err(e) => Err(io::Error::new(
                    ErrorKind::ConnectionAborted,
                    format!("RDMA connection request rejected: {e}"),
                )),
            };
        }
    }

    fn kind(&self) -> TransportKind {
        TransportKind::Rdma
    }

    fn describe(&self) -> String {
        format_addr(self.local_addr().ok_or(ErrorKind::NotConnected.into()))
    }
}

/// An accepted RDMA connection.
pub struct RdmaConnection {
    conn: RdmaConn,
    fds: FdSet,
    peer: String,
    local: String,
}

impl RdmaConnection {
    fn new(conn: RdmaConn) -> Self {
        let addr = |a: Option<SocketAddr>| format_addr(a.ok_or(ErrorKind::NotConnected.into()));
        Self {
            fds: FdSet(conn.fds().to_vec()),
            peer: addr(conn.peer_addr()),
            local: addr(conn.local_addr()),
            conn,
        }
    }
}

impl Connection for RdmaConnection {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.fds
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.conn.read(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn.write(buf)
    }

    fn kind(&self) -> TransportKind {
        TransportKind::Rdma
    }

    fn peer_addr(&self) -> String {
        self.peer.clone()
    }

    fn local_addr(&self) -> String {
        self.local.clone()
    }

    fn raw_fd(&self) -> RawFd {
        self.conn.fds()[1]
    }

    fn is_local(&self) -> bool {
        // Valkey's rule for RDMA: the peer is on this host when its address
        // is our own (RDMA has no loopback device).
        match (self.conn.peer_addr(), self.conn.local_addr()) {
            (Some(p), Some(l)) => p.ip() == l.ip() || p.ip().is_loopback(),
            _ => false,
        }
    }

    fn tick(&mut self, now: Instant) -> io::Result<()> {
        self.conn.keepalive(now)
    }

    fn has_buffered_input(&self) -> bool {
        self.conn.buffered() > 0
    }

    fn linger(&mut self) -> bool {
        self.conn.linger_step()
    }
}
