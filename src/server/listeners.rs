//! The open listeners: binding them from the configuration at start-up, and
//! again when CONFIG SET changes `port`, `tls-port`, `bind`, `rdma-port` or
//! `rdma-bind` (as Valkey allows). Each listener has a token in the event
//! loop's poll, above every client slot. The TLS configuration is built
//! here too, and rebuilt when a `tls-*` setting changes: new connections
//! get it, open ones keep theirs.

use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr};

use std::time::Duration;

use ferrokv_transport::net::{TcpOptions, TcpServer, UnixServer};
use ferrokv_transport::rdma::{RdmaListener, RdmaOptions};
use ferrokv_transport::tls::{TlsConfigSlot, TlsListener, TlsOptions};
use ferrokv_transport::{Listener, TransportKind};
use mio::{Interest, Registry, Token};

use crate::config::Config;
use crate::{verbose, warning};

/// Opens one transport's listeners for a configuration.
type Bind<'a> = &'a dyn Fn(&Config) -> io::Result<Vec<Box<dyn Listener>>>;

/// A TLS handshake not complete by then is dropped (Valkey has no limit; a
/// client that never finishes would hold its socket forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections accepted while this many handshakes (or `maxclients`, if
/// fewer) are under way are closed at once.
const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Listener tokens live above every client slot.
pub const LISTENER_BASE: usize = usize::MAX / 2;

#[derive(Default)]
pub struct Listeners {
    /// The poll's registry, once the event loop runs.
    registry: Option<Registry>,
    /// Indexed by token - LISTENER_BASE; closed listeners leave a hole, so
    /// a token never names two listeners.
    slots: Vec<Option<Box<dyn Listener>>>,
    /// The TLS configuration the TLS listeners hand new connections.
    tls: TlsConfigSlot,
}

impl Listeners {
    /// Opens every configured listener and registers them with the event
    /// loop's poll. RDMA and TLS come first: once TCP accepts, every
    /// listener is up (tests and scripts wait for the TCP port).
    pub fn open(&mut self, registry: Registry, c: &Config) -> io::Result<()> {
        self.registry = Some(registry);
        if let Err(why) = configure_tls(c, &self.tls) {
            warning!("{why}");
            return Err(io::Error::other(
                "Failed to configure TLS. Check logs for more info.",
            ));
        }
        let mut out = bind_rdma(c)?;
        out.extend(bind_tls(c, &self.tls)?);
        out.extend(bind_tcp(c)?);
        if !c.unixsocket.is_empty() {
            let l = UnixServer::bind(&c.unixsocket, c.unixsocketperm).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("Failed opening Unix socket {}: {e}", c.unixsocket),
                )
            })?;
            out.push(Box::new(l));
        }
        if out.is_empty() {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "Configured to not listen anywhere, exiting.",
            ));
        }
        self.add(out)
    }

    fn add(&mut self, listeners: Vec<Box<dyn Listener>>) -> io::Result<()> {
        let registry = self.registry.as_ref().expect("attached to the poll");
        for mut l in listeners {
            let token = Token(LISTENER_BASE + self.slots.len());
            registry.register(l.source(), token, Interest::READABLE)?;
            self.slots.push(Some(l));
        }
        Ok(())
    }

    /// The listener behind a token offset, if still open.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Box<dyn Listener>> {
        self.slots.get_mut(index).and_then(Option::as_mut)
    }

    /// What each open listener is bound to.
    pub fn describe(&self) -> Vec<(TransportKind, String)> {
        self.slots
            .iter()
            .flatten()
            .map(|l| (l.kind(), l.describe()))
            .collect()
    }

    fn close(&mut self, kind: TransportKind) {
        for slot in &mut self.slots {
            if let Some(mut l) = slot.take_if(|l| l.kind() == kind)
                && let Some(r) = &self.registry
            {
                let _ = r.deregister(l.source());
            }
        }
    }

    pub fn close_all(&mut self) {
        for kind in [
            TransportKind::Tcp,
            TransportKind::Unix,
            TransportKind::Tls,
            TransportKind::Rdma,
        ] {
            self.close(kind);
        }
    }

    /// Builds the TLS configuration anew when a `tls-*` setting changed
    /// (new connections get it); on failure the old one stays and the
    /// reason is logged.
    pub fn reconfigure_tls(&mut self, old: &Config, new: &Config) -> Result<(), ()> {
        if old.tls == new.tls {
            return Ok(());
        }
        configure_tls(new, &self.tls).map_err(|why| warning!("{why}"))
    }

    /// Applies a configuration whose listener settings changed: for each
    /// transport whose port or addresses changed, closes its listeners and
    /// binds the new ones. When they cannot be bound, every transport
    /// switched so far goes back to the old configuration and the error
    /// names the directive that failed and why, as Valkey's CONFIG SET
    /// does.
    pub fn rebind(&mut self, old: &Config, new: &Config) -> Result<(), (&'static str, String)> {
        let tls = self.tls.clone();
        let bind_tls = move |c: &Config| bind_tls(c, &tls);
        let changes: [(TransportKind, bool, bool, Bind); 3] = [
            (
                TransportKind::Tcp,
                old.port != new.port,
                old.bind != new.bind,
                &bind_tcp,
            ),
            (
                TransportKind::Tls,
                old.tls.port != new.tls.port,
                old.bind != new.bind,
                &bind_tls,
            ),
            (
                TransportKind::Rdma,
                old.rdma_port != new.rdma_port,
                old.rdma_bind != new.rdma_bind,
                &bind_rdma,
            ),
        ];
        let mut switched: Vec<(TransportKind, Bind)> = Vec::new();
        for (kind, port_changed, bind_changed, bind) in changes {
            if !port_changed && !bind_changed {
                continue;
            }
            if let Err(e) = self.switch(kind, bind, new) {
                verbose!("Binding the new {} listeners: {e}", kind.name());
                switched.push((kind, bind));
                for (kind, bind) in switched {
                    if let Err(e) = self.switch(kind, bind, old) {
                        warning!("Restoring the {} listeners failed: {e}", kind.name());
                    }
                }
                let name = match (kind, port_changed) {
                    (TransportKind::Rdma, true) => "rdma-port",
                    (TransportKind::Rdma, false) => "rdma-bind",
                    (TransportKind::Tls, true) => "tls-port",
                    (_, true) => "port",
                    (_, false) => "bind",
                };
                let why = if port_changed {
                    "Unable to listen on this port. Check server logs."
                } else {
                    "Failed to bind to specified addresses."
                };
                return Err((name, why.to_string()));
            }
            switched.push((kind, bind));
        }
        Ok(())
    }

    /// Replaces `kind`'s listeners by those `bind` opens for `config`.
    fn switch(&mut self, kind: TransportKind, bind: Bind, config: &Config) -> io::Result<()> {
        self.close(kind);
        let fresh = bind(config)?;
        self.add(fresh)
    }
}

/// A `bind` entry: whether it is optional ('-' prefix) and its address.
fn parse_bind(spec: &str) -> io::Result<(bool, IpAddr)> {
    let (optional, host) = match spec.strip_prefix('-') {
        Some(h) => (true, h),
        None => (false, spec),
    };
    let ip = match host {
        "*" => IpAddr::from([0u8; 4]),
        "::*" => IpAddr::from([0u16; 8]),
        h => h.parse().map_err(|_| {
            io::Error::new(
                ErrorKind::InvalidInput,
                format!("Invalid bind address '{h}'"),
            )
        })?,
    };
    Ok((optional, ip))
}

fn unavailable_address(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::ENODEV)
    )
}

/// Binds `bind` on every address in `specs`; addresses prefixed with '-'
/// are optional: skipped if not available on this host.
fn bind_each(
    specs: &[String],
    port: i64,
    transport: &str,
    bind: impl Fn(SocketAddr) -> io::Result<Box<dyn Listener>>,
) -> io::Result<Vec<Box<dyn Listener>>> {
    let mut out = Vec::new();
    for spec in specs {
        let (optional, ip) = parse_bind(spec)?;
        match bind(SocketAddr::new(ip, port as u16)) {
            Ok(l) => out.push(l),
            Err(e) if optional && unavailable_address(&e) => {
                verbose!("Skipping optional {transport} bind address {spec}: {e}");
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("Failed listening on port {port} ({transport}), aborting: {e}"),
                ));
            }
        }
    }
    Ok(out)
}

fn tcp_options(c: &Config) -> TcpOptions {
    TcpOptions {
        backlog: c.tcp_backlog as i32,
        keepalive_secs: c.tcp_keepalive as u32,
    }
}

/// The TCP listeners (`port`, `bind`; none when the port is 0).
fn bind_tcp(c: &Config) -> io::Result<Vec<Box<dyn Listener>>> {
    if c.port == 0 {
        return Ok(Vec::new());
    }
    let options = tcp_options(c);
    bind_each(&c.bind, c.port, "tcp", |addr| {
        Ok(Box::new(TcpServer::bind(addr, options)?))
    })
}

/// Builds the TLS configuration into `slot` when TLS is in use (as Valkey:
/// a TLS port, or TLS replication or cluster); the slot keeps the old one
/// if it fails.
fn configure_tls(c: &Config, slot: &TlsConfigSlot) -> Result<(), String> {
    if c.tls.port == 0 && !c.tls.replication && !c.tls.cluster {
        return Ok(());
    }
    if !c.tls.dh_params_file.is_empty() {
        verbose!("tls-dh-params-file is ignored: rustls negotiates no finite-field DH");
    }
    slot.set(ferrokv_transport::tls::server_config(&c.tls.settings())?);
    Ok(())
}

/// Reports a failed TLS handshake (from the handshake thread).
fn report_tls(msg: &str) {
    warning!("{msg}");
}

/// Notes a TLS connection dropped before its handshake ended.
fn note_tls(msg: &str) {
    verbose!("{msg}");
}

/// The TLS listeners (`tls-port` on the `bind` addresses; none when the
/// port is 0).
fn bind_tls(c: &Config, slot: &TlsConfigSlot) -> io::Result<Vec<Box<dyn Listener>>> {
    if c.tls.port == 0 {
        return Ok(Vec::new());
    }
    let options = TlsOptions {
        tcp: tcp_options(c),
        handshake_timeout: HANDSHAKE_TIMEOUT,
        max_pending: MAX_PENDING_HANDSHAKES.min(c.maxclients as usize),
        report: report_tls,
        note: note_tls,
    };
    bind_each(&c.bind, c.tls.port, "tls", |addr| {
        Ok(Box::new(TlsListener::bind(addr, slot.clone(), options)?))
    })
}

/// The RDMA listeners (`rdma-port`, `rdma-bind`; empty: `* -::*` as Valkey;
/// none when the port is 0). Without a usable device this fails with
/// "RDMA unavailable: ...".
fn bind_rdma(c: &Config) -> io::Result<Vec<Box<dyn Listener>>> {
    if c.rdma_port == 0 {
        return Ok(Vec::new());
    }
    ferrokv_transport::rdma::probe().map_err(|e| io::Error::new(ErrorKind::Unsupported, e))?;
    if c.proto_max_bulk_len > 512 * 1024 * 1024 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "proto-max-bulk-len must not exceed 512mb when RDMA listens",
        ));
    }
    // Registered buffers are pinned memory: per connection the control
    // slots (64 KiB), our receive buffer and a staging copy of the peer's.
    match ferrokv_transport::rdma::raise_memlock_limit() {
        Ok(Some(limit)) if limit < 64 << 20 => warning!(
            "RDMA: the locked-memory limit is {} KiB; each RDMA connection pins about 64 KiB + 2 x rdma-rx-size ({} KiB), so few can connect. Raise it (ulimit -l, LimitMEMLOCK= in systemd) or run with CAP_IPC_LOCK.",
            limit / 1024,
            (64 * 1024 + 2 * c.rdma_rx_size) / 1024
        ),
        Ok(_) => {}
        Err(e) => warning!("RDMA: {e}"),
    }
    let options = RdmaOptions {
        rx_size: c.rdma_rx_size as u32,
        completion_vector: c.rdma_completion_vector as i32,
        backlog: c.tcp_backlog as i32,
    };
    let specs = if c.rdma_bind.is_empty() {
        vec!["*".to_string(), "-::*".to_string()]
    } else {
        c.rdma_bind.clone()
    };
    bind_each(&specs, c.rdma_port, "rdma", |addr| {
        Ok(Box::new(RdmaListener::bind(addr, options)?))
    })
}
