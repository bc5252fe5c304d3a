//! TLS over TCP with rustls (the `ring` crypto provider: it builds with a C
//! compiler alone, where aws-lc-rs also needs cmake and a longer build).
//!
//! Handshakes run on a thread of their own, so the executor never spends
//! its time on key exchanges and a client that stalls mid-handshake delays
//! nobody. That thread owns the listening socket: it accepts, drives each
//! handshake without blocking, drops the ones that fail, take longer than
//! the handshake timeout or exceed the bound on pending handshakes, and
//! queues the established connections for the executor. The executor's
//! listener is the read end of a socket pair the thread writes a byte to
//! when it queues one, so the event loop sees TLS like any other listener.
//! Once handed over, records are encrypted and decrypted on the executor,
//! inside `read` and `write`: the executor does not know the connection is
//! TLS.
//!
//! The configuration (certificates, client authentication, protocols,
//! ciphers, session cache) is built once per change into a rustls
//! `ServerConfig` shared through a [`TlsConfigSlot`]; replacing it affects
//! new connections only, as reloading does in Valkey.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, StoresServerSessions, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedCipherSuite};

use crate::net::{Addrs, Connection, Listener, TcpOptions, TransportKind, format_addr};

/// `tls-auth-clients`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client must present a certificate that chains to the CA.
    Yes,
    No,
    /// A certificate is checked if presented.
    Optional,
}

/// What the configuration says about TLS, as the files and names it gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: String,
    pub key_file: String,
    pub key_file_pass: String,
    pub ca_cert_file: String,
    pub ca_cert_dir: String,
    pub auth_clients: ClientAuth,
    /// `tls-protocols`: "TLSv1.2 TLSv1.3" or a part; empty is both.
    pub protocols: String,
    /// `tls-ciphers`: TLS 1.2 suites in OpenSSL's names, ':'-separated.
    pub ciphers: String,
    /// `tls-ciphersuites`: TLS 1.3 suites, ':'-separated.
    pub ciphersuites: String,
    pub prefer_server_ciphers: bool,
    pub session_caching: bool,
    pub session_cache_size: usize,
    /// How long a cached session stays resumable (zero: no limit).
    pub session_cache_timeout: Duration,
}

/// OpenSSL's names of the suites the ring provider has, TLS 1.3 first.
const SUITE_NAMES: [(&str, SupportedCipherSuite); 9] = {
    use rustls::crypto::ring::cipher_suite::*;
    [
        ("TLS_AES_128_GCM_SHA256", TLS13_AES_128_GCM_SHA256),
        ("TLS_AES_256_GCM_SHA384", TLS13_AES_256_GCM_SHA384),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
};

/// The suites a cipher list names, of one protocol version (`tls13`).
/// Besides suite names it takes OpenSSL's keywords for "all of them"
/// (DEFAULT, ALL, HIGH, ...); '!', '-' and '+' items only narrow or order
/// OpenSSL's lists, and name nothing this provider lacks, so they are
/// skipped. Empty: every suite.
fn pick_suites(list: &str, tls13: bool) -> Result<Vec<SupportedCipherSuite>, String> {
    let ours = SUITE_NAMES
        .iter()
        .filter(|(_, s)| matches!(s, SupportedCipherSuite::Tls13(_)) == tls13);
    let mut picked = Vec::new();
    let all = || ours.clone().map(|(_, s)| *s);
    if list.trim().is_empty() {
        return Ok(all().collect());
    }
    for item in list.split([':', ',', ' ']).filter(|i| !i.is_empty()) {
        if item.starts_with(['!', '-', '+', '@']) {
            continue;
        }
        let upper = item.to_ascii_uppercase();
        let found: Vec<SupportedCipherSuite> = match upper.as_str() {
            "DEFAULT" | "ALL" | "HIGH" | "ECDHE" | "EECDH" | "AESGCM" | "SECURE" => all().collect(),
            _ => ours
                .clone()
                .filter(|(n, _)| n.eq_ignore_ascii_case(item))
                .map(|(_, s)| *s)
                .collect(),
        };
        for s in found {
            if !picked
                .iter()
                .any(|p: &SupportedCipherSuite| p.suite() == s.suite())
            {
                picked.push(s);
            }
        }
    }
    if picked.is_empty() {
        let which = if tls13 { "ciphersuites" } else { "ciphers" };
        return Err(format!(
            "Failed to configure {which}: no supported cipher in '{list}'"
        ));
    }
    Ok(picked)
}

/// The protocol versions `tls-protocols` names.
fn pick_versions(
    protocols: &str,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    if protocols.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS12, &rustls::version::TLS13]);
    }
    let mut out = Vec::new();
    for p in protocols.split_whitespace() {
        match p.to_ascii_lowercase().as_str() {
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            // Known to OpenSSL, too weak for rustls: enable nothing.
            "tlsv1" | "tlsv1.1" => {}
            _ => {
                return Err(format!(
                    "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'. ({p})"
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(
            "Failed to configure TLS: no supported protocol (TLSv1.2 or TLSv1.3) enabled".into(),
        );
    }
    Ok(out)
}

/// The CA certificates of `tls-ca-cert-file` and of the files in
/// `tls-ca-cert-dir`.
fn load_roots(file: &str, dir: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let mut add_file = |path: &std::path::Path, strict: bool| -> Result<(), String> {
        let failed = |e: &dyn std::fmt::Display| {
            format!(
                "Failed to configure CA certificate(s) file/directory: {}: {e}",
                path.display()
            )
        };
        let certs = match CertificateDer::pem_file_iter(path) {
            Ok(it) => it.collect::<Result<Vec<_>, _>>().map_err(|e| failed(&e))?,
            Err(e) => return Err(failed(&e)),
        };
        if strict && certs.is_empty() {
            return Err(failed(&"no certificate found"));
        }
        for c in certs {
            roots.add(c).map_err(|e| failed(&e))?;
        }
        Ok(())
    };
    if !file.is_empty() {
        add_file(std::path::Path::new(file), true)?;
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            format!("Failed to configure CA certificate(s) file/directory: {dir}: {e}")
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                // A directory may hold other files (OpenSSL's hash links
                // point at the same certificates): skip what is not PEM.
                let _ = add_file(&path, false);
            }
        }
    }
    Ok(roots)
}

/// The private key in `file`: PEM (PKCS#8, PKCS#1 or SEC1), or PKCS#8
/// encrypted with `pass` (PBES2, as `openssl pkcs8 -topk8` and `openssl
/// genpkey -aes256` write it).
fn load_key(file: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("Failed to load private key: {file}: {e}");
    let bytes = std::fs::read(file).map_err(|e| failed(&e))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        if pass.is_empty() {
            return Err(failed(&"the key is encrypted: set tls-key-file-pass"));
        }
        let (_, doc) = pkcs8::der::Document::from_pem(&text).map_err(|e| failed(&e))?;
        let info =
            pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| failed(&e))?;
        let plain = info
            .decrypt(pass)
            .map_err(|e| failed(&format!("cannot decrypt it with tls-key-file-pass ({e})")))?;
        return Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(failed(
            &"legacy PEM encryption is not supported: convert the key with openssl pkcs8 -topk8",
        ));
    }
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| failed(&e))
}

/// Builds the rustls configuration `s` describes: every file read and
/// checked now, so a bad one is refused before any client sees it.
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    if s.cert_file.is_empty() {
        return Err("No tls-cert-file configured!".into());
    }
    if s.key_file.is_empty() {
        return Err("No tls-key-file configured!".into());
    }
    // Deprecated for lacking post-quantum key exchange, which only the
    // aws-lc-rs provider has (a cmake build); OpenSSL 3.0 clients do not
    // offer it either.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    let mut suites = pick_suites(&s.ciphersuites, true)?;
    suites.extend(pick_suites(&s.ciphers, false)?);
    provider.cipher_suites = suites;
    let provider: Arc<CryptoProvider> = Arc::new(provider);
    let certs = CertificateDer::pem_file_iter(&s.cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("Failed to load certificate: {}: {e}", s.cert_file))?;
    if certs.is_empty() {
        return Err(format!(
            "Failed to load certificate: {}: no certificate found",
            s.cert_file
        ));
    }
    let key = load_key(&s.key_file, &s.key_file_pass)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&pick_versions(&s.protocols)?)
        .map_err(|e| format!("Failed to configure TLS: {e}"))?;
    let builder = match s.auth_clients {
        ClientAuth::No => builder.with_no_client_auth(),
        auth => {
            let roots = load_roots(&s.ca_cert_file, &s.ca_cert_dir)?;
            if roots.is_empty() {
                return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| {
                format!("Failed to configure CA certificate(s) file/directory: {e}")
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("Failed to configure TLS: certificate and private key: {e}"))?;
    config.ignore_client_order = s.prefer_server_ciphers;
    if s.session_caching {
        config.session_storage = SessionCache::new(s.session_cache_size, s.session_cache_timeout);
    } else {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

/// The TLS session cache `tls-session-cache-size` and
/// `tls-session-cache-timeout` describe: at most `size` sessions (the
/// oldest go first), each resumable for `timeout` after it was stored
/// (zero: no expiry).
#[derive(Debug)]
struct SessionCache {
    size: usize,
    timeout: Duration,
    inner: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    by_id: std::collections::HashMap<Vec<u8>, (Instant, Vec<u8>)>,
    /// Ids in the order they were stored, with when; an id stored again
    /// also has its older place here, which is skipped.
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl SessionCache {
    fn new(size: usize, timeout: Duration) -> Arc<Self> {
        Arc::new(SessionCache {
            size: size.max(1),
            timeout,
            inner: Mutex::default(),
        })
    }

    fn live(&self, stored: Instant, now: Instant) -> bool {
        self.timeout.is_zero() || now.duration_since(stored) < self.timeout
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let now = Instant::now();
        let mut s = self.sessions();
        s.order.push_back((now, key.clone()));
        s.by_id.insert(key, (now, value));
        // The oldest go while there are too many or they have expired.
        while let Some((at, _)) = s.order.front() {
            if s.by_id.len() <= self.size && self.live(*at, now) {
                break;
            }
            let (at, id) = s.order.pop_front().expect("checked above");
            if s.by_id.get(&id).is_some_and(|(stored, _)| *stored == at) {
                s.by_id.remove(&id);
            }
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let now = Instant::now();
        let s = self.sessions();
        let (at, v) = s.by_id.get(key)?;
        self.live(*at, now).then(|| v.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let now = Instant::now();
        let (at, v) = self.sessions().by_id.remove(key)?;
        self.live(at, now).then_some(v)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The configuration new connections get; `set` replaces it for them.
#[derive(Clone, Default)]
pub struct TlsConfigSlot(Arc<RwLock<Option<Arc<ServerConfig>>>>);

impl TlsConfigSlot {
    pub fn set(&self, config: Arc<ServerConfig>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(config);
    }

    fn get(&self) -> Option<Arc<ServerConfig>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Limits of the handshake thread.
#[derive(Clone, Copy, Debug)]
pub struct TlsOptions {
    pub tcp: TcpOptions,
    /// A connection whose handshake takes longer is dropped.
    pub handshake_timeout: Duration,
    /// Connections accepted while this many handshakes are pending are
    /// closed at once.
    pub max_pending: usize,
    /// Where to report a failed handshake (the server's warning log, as
    /// Valkey reports one).
    pub report: fn(&str),
    /// Where to note a dropped connection (timed out, over the bound): the
    /// verbose log, so a flood of them does not flood the log.
    pub note: fn(&str),
}

/// Established connections waiting for the executor.
type Ready = Arc<Mutex<VecDeque<TlsConnection>>>;

pub struct TlsListener {
    /// Readable when `ready` holds connections (the thread writes a byte).
    notify: UnixStream,
    ready: Ready,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    local: SocketAddr,
}

const LISTEN: Token = Token(0);
const WAKE: Token = Token(1);
const FIRST_PENDING: usize = 2;

impl TlsListener {
    /// Binds `addr` and starts the handshake thread.
    pub fn bind(addr: SocketAddr, slot: TlsConfigSlot, options: TlsOptions) -> io::Result<Self> {
        let tcp = crate::net::TcpServer::bind(addr, options.tcp)?;
        let local = tcp.local_addr()?;
        let mut listener = tcp.into_listener();
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTEN, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (notify, signal) = UnixStream::pair()?;
        let ready: Ready = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut shake = Handshakes {
            poll,
            listener,
            slot,
            options,
            pending: Vec::new(),
            ready: ready.clone(),
            signal,
            stop: stop.clone(),
            accept_failed: false,
        };
        let thread = std::thread::Builder::new()
            .name("tls-handshake".into())
            .spawn(move || shake.run())?;
        Ok(TlsListener {
            notify,
            ready,
            stop,
            waker,
            thread: Some(thread),
            local,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Listener for TlsListener {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.notify
    }

    fn accept(&mut self) -> io::Result<Box<dyn Connection>> {
        // Signals first, then the queue: a connection queued after the
        // queue was found empty comes with a byte written after the drain.
        let mut sink = [0u8; 64];
        loop {
            match self.notify.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let next = self
            .ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        match next {
            Some(c) => Ok(Box::new(c)),
            None => Err(ErrorKind::WouldBlock.into()),
        }
    }

    fn kind(&self) -> TransportKind {
        TransportKind::Tls
    }

    fn describe(&self) -> String {
        format_addr(Ok(self.local))
    }
}

/// A connection whose handshake is under way.
struct Pending {
    stream: TcpStream,
    tls: ServerConnection,
    deadline: Instant,
}

/// The handshake thread's state.
struct Handshakes {
    poll: Poll,
    listener: TcpListener,
    slot: TlsConfigSlot,
    options: TlsOptions,
    /// Indexed by token - FIRST_PENDING.
    pending: Vec<Option<Pending>>,
    ready: Ready,
    signal: UnixStream,
    stop: Arc<AtomicBool>,
    /// The last accept failed (not for want of connections): try again
    /// on the next tick.
    accept_failed: bool,
}

impl Handshakes {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        let tick = Duration::from_millis(250).min(self.options.handshake_timeout);
        while !self.stop.load(Ordering::Acquire) {
            if let Err(e) = self.poll.poll(&mut events, Some(tick)) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                (self.options.report)(&format!("TLS handshake thread: {e}"));
                return;
            }
            for event in events.iter() {
                match event.token() {
                    LISTEN => self.accept(),
                    WAKE => {}
                    Token(t) => self.advance(t - FIRST_PENDING),
                }
            }
            if self.accept_failed {
                // Out of descriptors, say: the backlog raises no new edge.
                self.accept();
            }
            self.expire();
        }
    }

    fn accept(&mut self) {
        self.accept_failed = false;
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    (self.options.report)(&format!("Accepting a TLS connection: {e}"));
                    self.accept_failed = true;
                    return;
                }
            };
            // Established connections the executor has not taken yet count
            // too: a busy executor must not let them pile up.
            let waiting = self.ready.lock().unwrap_or_else(|e| e.into_inner()).len();
            let open = self.pending.iter().filter(|p| p.is_some()).count() + waiting;
            if open >= self.options.max_pending {
                (self.options.note)(&format!(
                    "Dropping a TLS connection from {peer}: {open} handshakes are pending"
                ));
                continue;
            }
            let Some(config) = self.slot.get() else {
                (self.options.report)(&format!(
                    "Dropping a TLS connection from {peer}: TLS is not configured"
                ));
                continue;
            };
            if let Err(e) = crate::net::prepare_accepted(&stream, self.options.tcp) {
                (self.options.report)(&format!("Accepting a TLS connection: {e}"));
                continue;
            }
            let tls = match ServerConnection::new(config) {
                Ok(t) => t,
                Err(e) => {
                    (self.options.report)(&format!("Error creating a TLS connection: {e}"));
                    continue;
                }
            };
            let index = self
                .pending
                .iter()
                .position(Option::is_none)
                .unwrap_or_else(|| {
                    self.pending.push(None);
                    self.pending.len() - 1
                });
            let mut p = Pending {
                stream,
                tls,
                deadline: Instant::now() + self.options.handshake_timeout,
            };
            if self
                .poll
                .registry()
                .register(
                    &mut p.stream,
                    Token(index + FIRST_PENDING),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_ok()
            {
                self.pending[index] = Some(p);
                self.advance(index);
            }
        }
    }

    /// Moves a handshake on; hands the connection over once it is
    /// established (and its last flight written), drops it on failure.
    fn advance(&mut self, index: usize) {
        let Some(p) = self.pending.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let outcome = shake(p);
        if matches!(outcome, Ok(false)) {
            return;
        }
        let mut p = self.pending[index].take().expect("checked above");
        let _ = self.poll.registry().deregister(&mut p.stream);
        match outcome {
            Ok(_) => match TlsConnection::established(p.stream, p.tls) {
                Ok(c) => {
                    self.ready
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_back(c);
                    // A full pipe already promises a wake-up.
                    let _ = self.signal.write(&[1]);
                }
                Err(e) => (self.options.report)(&format!("Accepting a TLS connection: {e}")),
            },
            Err(e) => {
                let peer = format_addr(p.stream.peer_addr());
                (self.options.report)(&format!(
                    "Error accepting a client connection: {e} (addr={peer})"
                ));
            }
        }
    }

    /// Drops the handshakes past their deadline.
    fn expire(&mut self) {
        let now = Instant::now();
        for slot in &mut self.pending {
            if let Some(mut p) = slot.take_if(|p| now >= p.deadline) {
                let _ = self.poll.registry().deregister(&mut p.stream);
                let peer = format_addr(p.stream.peer_addr());
                (self.options.note)(&format!("TLS handshake timed out (addr={peer})"));
            }
        }
    }
}

/// Sends the records rustls holds; WouldBlock while some remain.
fn send_records(tls: &mut ServerConnection, stream: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Decrypts and handles the records rustls has taken in; a protocol error
/// as InvalidData.
fn process(tls: &mut ServerConnection) -> io::Result<rustls::IoState> {
    tls.process_new_packets()
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))
}

/// Runs a handshake as far as the socket allows: Ok(true) once it is
/// complete and everything to send was sent.
fn shake(p: &mut Pending) -> io::Result<bool> {
    loop {
        match send_records(&mut p.tls, &mut p.stream) {
            Err(e) if e.kind() != ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        if !p.tls.is_handshaking() {
            return Ok(!p.tls.wants_write());
        }
        match p.tls.read_tls(&mut p.stream) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(_) => {
                if let Err(e) = process(&mut p.tls) {
                    // The alert that says why, if the socket takes it.
                    let _ = p.tls.write_tls(&mut p.stream);
                    return Err(e);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// An established TLS connection: reads decrypt, writes encrypt.
pub struct TlsConnection {
    stream: TcpStream,
    tls: ServerConnection,
    addrs: Addrs,
    /// Decrypted bytes rustls holds that `read` has not returned yet.
    plaintext: usize,
    /// Bytes read from the socket that rustls has not taken yet (it takes
    /// them as its plaintext buffer drains): usually none, so an idle
    /// connection holds no read buffer (the socket is read into `SCRATCH`).
    leftover: Vec<u8>,
    /// The end of the stream, or an error, met after `read` had bytes to
    /// return: the next `read` reports it.
    ended: Option<io::Error>,
    closing: bool,
}

/// Socket bytes read at once: two full records.
const INBUF: usize = 2 * (16 * 1024 + 256);

thread_local! {
    /// The buffer every TLS connection of a thread reads its socket into
    /// (taken out while in use, so it is made once per thread).
    static SCRATCH: std::cell::Cell<Box<[u8]>> = std::cell::Cell::new(Box::default());
}

/// Plaintext taken per `write`: rustls buffers it as records until the
/// socket takes them, and `write` is not called again until it has.
const WRITE_CHUNK: usize = 64 * 1024;

impl TlsConnection {
    fn established(stream: TcpStream, mut tls: ServerConnection) -> io::Result<Self> {
        // Application data that came with the handshake's last flight.
        let state = process(&mut tls)?;
        Ok(TlsConnection {
            addrs: Addrs::tcp(&stream),
            plaintext: state.plaintext_bytes_to_read(),
            leftover: Vec::new(),
            ended: None,
            stream,
            tls,
            closing: false,
        })
    }

    fn send_records(&mut self) -> io::Result<()> {
        send_records(&mut self.tls, &mut self.stream)
    }
}

impl TlsConnection {
    /// `read`'s work: decrypted bytes into `buf[*filled..]` until it is
    /// full (Ok) or the socket has nothing more: an error, `WouldBlock`
    /// when it is empty, `UnexpectedEof` at the end of the stream.
    fn fill(&mut self, buf: &mut [u8], filled: &mut usize) -> io::Result<()> {
        if let Some(e) = self.ended.take() {
            return Err(e);
        }
        // A short socket read in this call: the socket is empty.
        let mut drained = false;
        loop {
            if self.plaintext > 0 {
                let n = self.tls.reader().read(&mut buf[*filled..])?;
                self.plaintext -= n;
                *filled += n;
                if *filled == buf.len() {
                    return Ok(());
                }
            }
            if !self.leftover.is_empty() {
                let left = std::mem::take(&mut self.leftover);
                let taken = self.take_records(&left)?;
                self.leftover = left[taken..].to_vec();
                continue;
            }
            if drained {
                return Err(ErrorKind::WouldBlock.into());
            }
            let mut scratch = SCRATCH.take();
            if scratch.is_empty() {
                scratch = vec![0; INBUF].into_boxed_slice();
            }
            let got = self.read_socket(&mut scratch);
            SCRATCH.set(scratch);
            drained = got?;
        }
    }

    /// Reads the socket into `scratch` and hands rustls the records (what
    /// it does not take yet waits in `leftover`). True when the read was
    /// short: the socket is empty.
    fn read_socket(&mut self, scratch: &mut [u8]) -> io::Result<bool> {
        let n = loop {
            match self.stream.read(scratch) {
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        let taken = self.take_records(&scratch[..n])?;
        self.leftover.extend_from_slice(&scratch[taken..n]);
        Ok(n < scratch.len())
    }

    /// Gives rustls as much of `bytes` as it takes and processes them;
    /// returns how much it took.
    fn take_records(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let taken = self.tls.read_tls(&mut &bytes[..])?;
        let state = process(&mut self.tls)?;
        self.plaintext = state.plaintext_bytes_to_read();
        if self.plaintext == 0 && state.peer_has_closed() {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        if taken == 0 && self.plaintext == 0 {
            return Err(io::Error::new(ErrorKind::InvalidData, "TLS input stalled"));
        }
        // Alerts or key updates to answer.
        match self.send_records() {
            Err(e) if e.kind() != ErrorKind::WouldBlock => Err(e),
            _ => Ok(taken),
        }
    }
}

impl Connection for TlsConnection {
    fn source(&mut self) -> &mut dyn Source {
        &mut self.stream
    }

    /// Fills `buf` as far as the records received allow: a short read
    /// means the socket has nothing more now (the event loop relies on it).
    /// The end of the stream or an error met after some bytes is kept for
    /// the next call, so those bytes are served first.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        match self.fill(buf, &mut filled) {
            Ok(()) => Ok(filled),
            Err(e) if filled == 0 && e.kind() == ErrorKind::UnexpectedEof => Ok(0),
            Err(e) if filled == 0 => Err(e),
            Err(e) => {
                if e.kind() != ErrorKind::WouldBlock {
                    self.ended = Some(e);
                }
                Ok(filled)
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_records()?;
        let n = self
            .tls
            .writer()
            .write(&buf[..buf.len().min(WRITE_CHUNK)])?;
        match self.send_records() {
            Err(e) if e.kind() != ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_records()
    }

    fn kind(&self) -> TransportKind {
        TransportKind::Tls
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

    fn has_buffered_input(&self) -> bool {
        self.plaintext > 0 || !self.leftover.is_empty() || self.ended.is_some()
    }

    /// Says close_notify, and lingers until the records are sent.
    fn linger(&mut self) -> bool {
        if !self.closing {
            self.closing = true;
            self.tls.send_close_notify();
        }
        matches!(self.send_records(), Err(e) if e.kind() == ErrorKind::WouldBlock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_lists_pick_suites_by_openssl_name() {
        let names = |v: Vec<SupportedCipherSuite>| -> Vec<String> {
            v.iter().map(|s| format!("{:?}", s.suite())).collect()
        };
        assert_eq!(pick_suites("", true).unwrap().len(), 3);
        assert_eq!(pick_suites("DEFAULT:!MEDIUM", false).unwrap().len(), 6);
        assert_eq!(
            names(
                pick_suites(
                    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
                    false
                )
                .unwrap()
            ),
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(
            names(pick_suites("TLS_CHACHA20_POLY1305_SHA256", true).unwrap()),
            ["TLS13_CHACHA20_POLY1305_SHA256"]
        );
        // A TLS 1.3 name is not a TLS 1.2 cipher, and nonsense names none.
        assert!(pick_suites("TLS_AES_128_GCM_SHA256", false).is_err());
        assert!(pick_suites("RC4-MD5", false).is_err());
    }

    #[test]
    fn the_session_cache_keeps_the_newest_while_they_last() {
        let cache = SessionCache::new(2, Duration::ZERO);
        for id in [b"a", b"b", b"c"] {
            assert!(cache.put(id.to_vec(), id.to_vec()));
        }
        assert_eq!(cache.get(b"a"), None, "the oldest went");
        assert_eq!(cache.get(b"b"), Some(b"b".to_vec()));
        // Stored again, "b" is newer than "c".
        cache.put(b"b".to_vec(), b"B".to_vec());
        cache.put(b"d".to_vec(), b"d".to_vec());
        assert_eq!(cache.get(b"c"), None);
        assert_eq!(cache.take(b"b"), Some(b"B".to_vec()));
        assert_eq!(cache.get(b"b"), None);
        let short = SessionCache::new(10, Duration::from_millis(30));
        short.put(b"x".to_vec(), b"x".to_vec());
        assert_eq!(short.get(b"x"), Some(b"x".to_vec()));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(short.get(b"x"), None, "expired");
        short.put(b"y".to_vec(), b"y".to_vec());
        assert_eq!(
            short.sessions().by_id.len(),
            1,
            "the expired one was dropped"
        );
    }

    #[test]
    fn protocol_lists() {
        assert_eq!(pick_versions("").unwrap().len(), 2);
        assert_eq!(pick_versions("TLSv1.2").unwrap(), [&rustls::version::TLS12]);
        assert_eq!(
            pick_versions("tlsv1.3 TLSv1.1").unwrap(),
            [&rustls::version::TLS13]
        );
        assert!(pick_versions("TLSv1.1").is_err());
        assert!(
            pick_versions("SSLv3")
                .unwrap_err()
                .starts_with("Invalid tls-protocols")
        );
    }
}
