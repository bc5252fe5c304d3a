//! Shared harness for the integration tests: starting servers (ferrokv or the
//! reference valkey-server) on free ports, and a raw RESP connection that reads
//! exactly one complete RESP2/RESP3 reply at a time as raw bytes.
//!
//! Binaries:
//! * ferrokv: `FERROKV_SERVER_BIN` if set, else the `ferrokv-server` binary
//!   Cargo built for this package (`CARGO_BIN_EXE_ferrokv-server`).
//! * reference: `VALKEY_SERVER_BIN` if set, else the path stored in
//!   `.venv/valkey-server-path` by `ci/setup`.
//!
//! Transport: with `FERROKV_TEST_TRANSPORT=rdma` (inside the soft-RoCE
//! guest, see ci/rdma-vm) ferrokv also listens on RDMA at
//! `FERROKV_RDMA_ADDR` and [`Server::conn`] connects over RDMA, so a
//! suite written for TCP runs unchanged over RDMA. `tls` and `unix` do the
//! same over TLS (with a client certificate: `tls-auth-clients yes`) and
//! a Unix socket. The reference server stays on TCP.

#![allow(dead_code)]

pub mod certs;

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferrokv_rdma_client::{Error as RdmaError, Transport};

/// How long a server may take to start accepting connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Default read timeout of a [`Conn`].
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Path of the ferrokv server binary under test.
pub fn ferrokv_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROKV_SERVER_BIN") {
        return PathBuf::from(p);
    }
    match option_env!("CARGO_BIN_EXE_ferrokv-server") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "no ferrokv-server binary: set FERROKV_SERVER_BIN or run the tests from the ferrokv package"
        ),
    }
}

/// Path of the reference valkey-server. Panics (never skips) when it is missing.
pub fn valkey_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("VALKEY_SERVER_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "VALKEY_SERVER_BIN={} does not exist: run ci/setup",
            p.display()
        );
        return p;
    }
    let record = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/valkey-server-path");
    let text = std::fs::read_to_string(&record).unwrap_or_else(|e| {
        panic!(
            "reference valkey-server not installed ({}: {e}): run ci/setup",
            record.display()
        )
    });
    let p = PathBuf::from(text.trim());
    assert!(
        p.is_file(),
        "reference valkey-server {} is missing: run ci/setup",
        p.display()
    );
    p
}

/// Path of a Debian redis-tools program (redis-cli, redis-benchmark) on PATH.
/// Panics when it is missing.
pub fn tool_bin(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not found on PATH: run ci/setup")
}

/// A unique, short path for a unix socket (sun_path is limited to 108
/// bytes). All of a process's paths have one length, so a differential
/// test can mask each server's own in replies without changing lengths.
pub fn unix_socket_path() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("/tmp/ferrokv-t{}-{n:06}.sock", std::process::id()))
}

/// A port free for TCP now and never handed out before in this process.
/// Ports also name RDMA listeners, whose port space the kernel's TCP
/// `bind` cannot see: without the memory, a port held by one test's RDMA
/// listener could be handed to another test running beside it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A running server process; killed (and waited for) on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    /// The RDMA listener, when the server has one.
    pub rdma: Option<SocketAddr>,
    /// The TLS listener, when [`Server::conn`] should use it.
    pub tls: Option<SocketAddr>,
    /// Whether [`Server::conn`] connects to the Unix socket.
    pub conn_unix: bool,
    /// `--unixsocket` path, when one was given.
    pub unixsocket: Option<PathBuf>,
    /// Working directory of the process (removed on drop).
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub args: Vec<String>,
}

impl Server {
    /// Starts ferrokv with `--port P --bind 127.0.0.1 --save "" --appendonly no`
    /// followed by `extra`.
    /// Over RDMA too when `FERROKV_TEST_TRANSPORT=rdma`.
    pub fn start(extra: &[&str]) -> Server {
        match test_transport().as_str() {
            "rdma" => Server::start_rdma(extra),
            "tls" => Server::start_tls(extra),
            "unix" => Server::start_unix(&ferrokv_bin(), extra),
            _ => Server::spawn(&ferrokv_bin(), extra),
        }
    }

    /// Starts `bin` with a Unix socket (its own unless `extra` names one);
    /// [`Server::conn`] then connects to it.
    fn start_unix(bin: &Path, extra: &[&str]) -> Server {
        let path = unix_socket_path().display().to_string();
        let mut args = Vec::new();
        if !extra.contains(&"--unixsocket") {
            args.extend(["--unixsocket", path.as_str()]);
        }
        args.extend_from_slice(extra);
        let mut s = Server::spawn(bin, &args);
        s.conn_unix = true;
        s
    }

    /// Starts ferrokv listening on TLS as well, with the test certificates
    /// (`certs::server_args`); [`Server::conn`] then connects over TLS.
    pub fn start_tls(extra: &[&str]) -> Server {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let mut args = certs::server_args(port);
            args.extend(extra.iter().map(|a| a.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            match Server::try_spawn(&ferrokv_bin(), &args) {
                Ok(mut s) => {
                    s.tls = Some(SocketAddr::from(([127, 0, 0, 1], port)));
                    return s;
                }
                Err(log) => last_log = log,
            }
        }
        panic!("ferrokv over TLS {extra:?} did not start:\n{last_log}");
    }

    /// Starts ferrokv listening on RDMA as well (at `FERROKV_RDMA_ADDR`);
    /// [`Server::conn`] then connects over RDMA.
    pub fn start_rdma(extra: &[&str]) -> Server {
        let addr: std::net::IpAddr = std::env::var("FERROKV_RDMA_ADDR")
            .expect("FERROKV_RDMA_ADDR (set by ci/rdma-vm/run)")
            .parse()
            .expect("FERROKV_RDMA_ADDR is an IP address");
        let ip = addr.to_string();
        // A fresh RDMA port for each attempt: the RDMA port space is not
        // TCP's, so a port free for TCP can still be held there (an
        // outgoing RDMA connection's own port, for one).
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port().to_string();
            let mut args = vec!["--rdma-port", &port, "--rdma-bind", &ip];
            args.extend_from_slice(extra);
            match Server::try_spawn(&ferrokv_bin(), &args) {
                Ok(mut s) => {
                    s.rdma = Some(SocketAddr::new(addr, port.parse().unwrap()));
                    return s;
                }
                Err(log) => last_log = log,
            }
        }
        panic!("ferrokv over RDMA {extra:?} did not start:\n{last_log}");
    }

    /// Starts the reference valkey-server with the same base arguments
    /// (and a Unix socket when the suites run over one; else on TCP).
    pub fn reference(extra: &[&str]) -> Server {
        if test_transport() == "unix" {
            Server::start_unix(&valkey_bin(), extra)
        } else {
            Server::spawn(&valkey_bin(), extra)
        }
    }

    /// Starts `bin` like valkey-server. Retries on a port collision.
    pub fn spawn(bin: &Path, extra: &[&str]) -> Server {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            match Server::try_spawn(bin, extra) {
                Ok(s) => return s,
                Err(log) => last_log = log,
            }
        }
        panic!(
            "server {} {:?} did not start:\n{last_log}",
            bin.display(),
            extra
        );
    }

    fn try_spawn(bin: &Path, extra: &[&str]) -> Result<Server, String> {
        let port = free_port();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferrokv-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create server dir");
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path).expect("create server log");
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let unixsocket = extra
            .iter()
            .position(|a| *a == "--unixsocket")
            .and_then(|i| extra.get(i + 1))
            .map(PathBuf::from);
        let child = Command::new(bin)
            .args(&args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
        let mut server = Server {
            child,
            port,
            rdma: None,
            tls: None,
            conn_unix: false,
            unixsocket,
            dir,
            bin: bin.to_path_buf(),
            args,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = server.log();
                if log.contains("in use") {
                    return Err(log); // port collision: retry on another port
                }
                panic!(
                    "server {} exited during startup ({status}):\n{log}",
                    bin.display()
                );
            }
            let tcp_ok = TcpStream::connect(server.addr()).is_ok();
            let unix_ok = match &server.unixsocket {
                Some(p) => UnixStream::connect(p).is_ok(),
                None => true,
            };
            if tcp_ok && unix_ok {
                return Ok(server);
            }
            if Instant::now() > deadline {
                panic!(
                    "server {} {:?} not accepting connections on port {port} after {:?}:\n{}",
                    bin.display(),
                    extra,
                    START_TIMEOUT,
                    server.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:P/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Everything the server wrote to stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// A new raw connection over the transport under test: RDMA, TLS or
    /// the Unix socket when the server was started for it, else TCP.
    pub fn conn(&self) -> Conn {
        if let Some(addr) = self.rdma {
            Conn::rdma(addr)
        } else if let Some(addr) = self.tls {
            Conn::tls(addr)
        } else if self.conn_unix {
            self.unix_conn()
        } else {
            Conn::tcp(self.addr())
        }
    }

    /// A new raw TCP connection, whatever else the server listens on.
    pub fn tcp_conn(&self) -> Conn {
        Conn::tcp(self.addr())
    }

    /// A new raw unix socket connection (needs `--unixsocket`).
    pub fn unix_conn(&self) -> Conn {
        Conn::unix(
            self.unixsocket
                .as_ref()
                .expect("server has no --unixsocket"),
        )
    }

    /// Resident set size of the server process in KiB (from /proc).
    pub fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asserts the server is still running and answers PING on a new connection.
    pub fn assert_healthy(&mut self) {
        assert!(self.is_alive(), "server process died; log:\n{}", self.log());
        let mut c = self.conn();
        let reply = c.cmd(&["PING"]);
        assert!(
            reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"),
            "server not answering PING: {}",
            show(&reply)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(p) = &self.unixsocket {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The transport the suites run over (`FERROKV_TEST_TRANSPORT`: tcp, unix,
/// tls or rdma; tcp when unset).
pub fn test_transport() -> String {
    std::env::var("FERROKV_TEST_TRANSPORT").unwrap_or_else(|_| "tcp".into())
}

/// Whether the suites run over RDMA (`FERROKV_TEST_TRANSPORT=rdma`).
pub fn rdma_mode() -> bool {
    test_transport() == "rdma"
}

/// A TLS client stream (rustls over TCP).
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// TCP, unix, TLS or RDMA stream (RDMA through the client library's
/// transport).
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
    Rdma(Box<dyn Transport>),
}

/// The client library's errors as the io::Error a socket would give.
fn rdma_io(e: RdmaError) -> io::Error {
    match e {
        RdmaError::Timeout { .. } => io::ErrorKind::WouldBlock.into(),
        RdmaError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl Stream {
    pub fn set_read_timeout(&mut self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(d),
            Stream::Unix(s) => s.set_read_timeout(d),
            Stream::Tls(s) => s.sock.set_read_timeout(d),
            Stream::Rdma(t) => t.set_read_timeout(d).map_err(rdma_io),
        }
    }
    fn set_write_timeout(&mut self, d: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(d),
            Stream::Unix(s) => s.set_write_timeout(d),
            Stream::Tls(s) => s.sock.set_write_timeout(d),
            Stream::Rdma(t) => t.set_write_timeout(d).map_err(rdma_io),
        }
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
            Stream::Tls(s) => s.sock.shutdown(how),
            Stream::Rdma(_) => Err(io::Error::other("RDMA has no half-close")),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Rdma(t) => match t.recv(buf) {
                Ok(n) => Ok(n),
                Err(RdmaError::Disconnected) => Ok(0),
                Err(e) => Err(rdma_io(e)),
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Rdma(t) => t.send(buf).map(|()| buf.len()).map_err(rdma_io),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Rdma(_) => Ok(()),
        }
    }
}

/// A TLS connection to `addr` (as "localhost") under `config`, with its
/// handshake complete (so a refusal shows here, not at the first read).
pub fn tls_connect(
    addr: SocketAddr,
    config: std::sync::Arc<rustls::ClientConfig>,
) -> io::Result<TlsStream> {
    let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(READ_TIMEOUT))?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a DNS name");
    let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, sock);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    // TLS 1.3 lets a server refuse a client certificate after the client
    // thinks the handshake is done: a round trip shows it.
    Ok(s)
}

/// Encodes a command as a RESP multibulk.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw RESP connection. Every read is bounded by the read timeout.
pub struct Conn {
    pub stream: Stream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    /// The value of field `name` in INFO `section`.
    pub fn info_field(&mut self, section: &str, name: &str) -> String {
        let info = self.str(&["INFO", section]);
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} missing from INFO {section}"))
            .trim()
            .to_string()
    }

    pub fn tcp(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_nodelay(true).unwrap();
        Conn::from_stream(Stream::Tcp(s))
    }

    pub fn unix(path: &Path) -> Conn {
        let s =
            UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        Conn::from_stream(Stream::Unix(s))
    }

    /// Connects over TLS with the test CA and client certificate.
    pub fn tls(addr: SocketAddr) -> Conn {
        let c = certs::certs();
        let config = certs::client_config(&c.ca, Some((&c.client_cert, &c.client_key)));
        Conn::from_stream(Stream::Tls(Box::new(
            tls_connect(addr, config).unwrap_or_else(|e| panic!("TLS connect {addr}: {e}")),
        )))
    }

    /// Connects over RDMA (the client library's transport, 1 MiB receive
    /// buffer).
    pub fn rdma(addr: SocketAddr) -> Conn {
        let t = ferrokv_rdma_client::transport::connect_rdma(
            &addr.to_string(),
            ferrokv_transport::rdma::protocol::RX_SIZE_DEFAULT,
            Some(Duration::from_secs(10)),
        )
        .unwrap_or_else(|e| panic!("RDMA connect {addr}: {e}"));
        Conn::from_stream(Stream::Rdma(t))
    }

    pub fn from_stream(stream: Stream) -> Conn {
        let mut c = Conn {
            stream,
            buf: Vec::new(),
            timeout: READ_TIMEOUT,
        };
        c.stream.set_read_timeout(Some(c.timeout)).unwrap();
        c.stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        c
    }

    /// A second handle on the same socket (e.g. to read from another thread).
    pub fn stream_clone(&self) -> Stream {
        match &self.stream {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone().expect("clone socket")),
            Stream::Unix(s) => Stream::Unix(s.try_clone().expect("clone socket")),
            Stream::Tls(_) => panic!("a TLS connection has one handle"),
            Stream::Rdma(_) => panic!("an RDMA connection has one handle"),
        }
    }

    pub fn set_timeout(&mut self, d: Duration) {
        self.timeout = d;
        self.stream.set_read_timeout(Some(d)).unwrap();
    }

    /// Sends one command as a multibulk.
    #[track_caller]
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let bytes = encode(args);
        self.send_raw(&bytes);
    }

    /// Writes raw bytes (panics on a write error).
    #[track_caller]
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write failed: {e}"));
    }

    /// Writes raw bytes, returning the error instead of panicking.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a command and returns its raw reply (panics on timeout/close).
    #[track_caller]
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.send(args);
        self.read_reply()
            .unwrap_or_else(|e| panic!("reading reply to {}: {e}", show_args(args)))
    }

    /// Sends a command and returns its parsed reply.
    #[track_caller]
    pub fn val<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Value {
        parse(&self.cmd(args))
    }

    /// Sends a command and returns a bulk/simple string reply as a String.
    #[track_caller]
    pub fn str<A: AsRef<[u8]>>(&mut self, args: &[A]) -> String {
        match self.val(args) {
            Value::Bulk(b) | Value::Verbatim(_, b) => String::from_utf8(b).unwrap(),
            Value::Simple(s) => s,
            other => panic!("{}: expected a string, got {other:?}", show_args(args)),
        }
    }

    /// Sends a command and returns an integer reply.
    #[track_caller]
    pub fn int<A: AsRef<[u8]>>(&mut self, args: &[A]) -> i64 {
        match self.val(args) {
            Value::Int(i) => i,
            other => panic!("{}: expected an integer, got {other:?}", show_args(args)),
        }
    }

    /// Reads exactly one complete reply (raw bytes, framing included).
    /// `UnexpectedEof` when the peer closed, `WouldBlock`/`TimedOut` on timeout.
    pub fn read_reply(&mut self) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match frame_len(&self.buf) {
                Ok(Some(n)) => {
                    let rest = self.buf.split_off(n);
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad RESP from server ({e}): {}", show(&self.buf)),
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out; partial reply: {}", show(&self.buf)),
                ));
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        let n = match self.stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("connection closed; partial reply: {}", show(&self.buf)),
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads exactly `n` raw bytes.
    pub fn read_exact_raw(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        while self.buf.len() < n {
            if Instant::now() > deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
            }
            self.fill()?;
        }
        let rest = self.buf.split_off(n);
        Ok(std::mem::replace(&mut self.buf, rest))
    }

    /// Asserts the server closes the connection (EOF or reset) within the read
    /// timeout, with no further bytes.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.fill() {
                Ok(()) => {
                    assert!(
                        self.buf.is_empty(),
                        "expected the connection to be closed, got bytes: {}",
                        show(&self.buf)
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!(
                    "expected the connection to be closed, got {e} (buffered: {})",
                    show(&self.buf)
                ),
            }
            assert!(Instant::now() < deadline, "connection not closed in time");
        }
    }

    /// Asserts nothing arrives within `d` (the connection stays open and silent).
    #[track_caller]
    pub fn expect_silence(&mut self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).unwrap();
        let r = self.fill();
        self.stream.set_read_timeout(Some(self.timeout)).unwrap();
        match r {
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                assert!(self.buf.is_empty(), "unexpected bytes: {}", show(&self.buf));
            }
            Ok(()) => panic!("unexpected bytes: {}", show(&self.buf)),
            Err(e) => panic!("expected silence, got {e}"),
        }
    }

    /// Waits up to `d` for bytes (buffered for the next read) or for the peer
    /// to close; returns whether anything happened.
    pub fn wait_readable(&mut self, d: Duration) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        self.stream.set_read_timeout(Some(d)).unwrap();
        let r = self.fill();
        self.stream.set_read_timeout(Some(self.timeout)).unwrap();
        match r {
            Ok(()) => true,
            Err(e) => {
                !(e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut)
            }
        }
    }

    /// Writes `data` in `chunk`-sized pieces, stopping as soon as the server
    /// replies or closes (so a server that rejects the input early reads all
    /// we sent and closes cleanly instead of resetting the connection).
    pub fn send_until_reply(&mut self, data: &[u8], chunk: usize) {
        for piece in data.chunks(chunk) {
            if self.try_send_raw(piece).is_err() {
                return;
            }
            if self.wait_readable(Duration::from_millis(20)) {
                return;
            }
        }
    }

    /// Bytes received but not yet returned by a read.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Printable rendering of raw bytes (`\r\n` kept visible, non-ASCII as \xNN),
/// truncated for very long buffers.
pub fn show(b: &[u8]) -> String {
    const MAX: usize = 2000;
    let mut s = String::new();
    for &c in b.iter().take(MAX) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    if b.len() > MAX {
        let _ = write!(s, "...({} bytes total)", b.len());
    }
    s
}

fn show_args<A: AsRef<[u8]>>(args: &[A]) -> String {
    args.iter()
        .map(|a| format!("\"{}\"", show(a.as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Length of the first complete RESP2/RESP3 value in `buf`: `Ok(None)` if more
/// bytes are needed, `Err` on bytes that are not RESP.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    frame_at(buf, 0)
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

fn header_int(buf: &[u8], start: usize, end: usize) -> Result<i64, String> {
    let s = std::str::from_utf8(&buf[start + 1..end]).map_err(|e| e.to_string())?;
    s.parse::<i64>()
        .map_err(|_| format!("bad length/integer {s:?}"))
}

fn frame_at(buf: &[u8], pos: usize) -> Result<Option<usize>, String> {
    let Some(&t) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(le) = line_end(buf, pos + 1) else {
        return Ok(None);
    };
    let after = le + 2;
    match t {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(after)),
        b'$' | b'=' | b'!' => {
            let n = header_int(buf, pos, le)?;
            if n < 0 {
                return if t == b'$' && n == -1 {
                    Ok(Some(after))
                } else {
                    Err(format!("bad bulk length {n}"))
                };
            }
            let end = after + n as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err("bulk not terminated by CRLF".into());
            }
            Ok(Some(end))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = header_int(buf, pos, le)?;
            if n < 0 {
                return if t == b'*' && n == -1 {
                    Ok(Some(after))
                } else {
                    Err(format!("bad aggregate length {n}"))
                };
            }
            let mut count = n as usize;
            if t == b'%' || t == b'|' {
                count *= 2;
            }
            if t == b'|' {
                count += 1; // the attribute is followed by the real reply
            }
            let mut p = after;
            for _ in 0..count {
                match frame_at(buf, p)? {
                    Some(e) => p = e,
                    None => return Ok(None),
                }
            }
            Ok(Some(p))
        }
        other => Err(format!("unknown RESP type byte {:?}", other as char)),
    }
}

/// A parsed RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1` or `*-1` (RESP2 null)
    Nil,
    /// `_` (RESP3 null)
    Null,
    Array(Vec<Value>),
    Set(Vec<Value>),
    Push(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Double(String),
    Bool(bool),
    BigNum(String),
    /// format, payload
    Verbatim(String, Vec<u8>),
    BlobError(Vec<u8>),
}

impl Value {
    /// Bulk, simple or verbatim string contents.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) | Value::Verbatim(_, b) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// Elements of an array/set/push.
    pub fn items(&self) -> &[Value] {
        match self {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => v,
            other => panic!("not an aggregate: {other:?}"),
        }
    }

    /// Key/value pairs of a RESP3 map, or of a RESP2 flat array of pairs.
    pub fn pairs(&self) -> Vec<(Value, Value)> {
        match self {
            Value::Map(m) => m.clone(),
            Value::Array(v) => v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    /// Looks up a field of a map-like reply by its string key.
    pub fn field(&self, name: &str) -> Option<Value> {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k.as_bytes() == Some(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

/// Parses one complete RESP value (panics on malformed input).
pub fn parse(buf: &[u8]) -> Value {
    let (v, end) = parse_at(buf, 0);
    assert_eq!(end, buf.len(), "trailing bytes after reply: {}", show(buf));
    v
}

fn parse_at(buf: &[u8], pos: usize) -> (Value, usize) {
    let le = line_end(buf, pos + 1).unwrap_or_else(|| panic!("incomplete reply: {}", show(buf)));
    let line = String::from_utf8_lossy(&buf[pos + 1..le]).into_owned();
    let after = le + 2;
    let t = buf[pos];
    let bulk = |n: usize| buf[after..after + n].to_vec();
    let int = || {
        line.parse::<i64>()
            .unwrap_or_else(|_| panic!("bad integer {line:?} in {}", show(buf)))
    };
    match t {
        b'+' => (Value::Simple(line), after),
        b'-' => (Value::Error(line), after),
        b':' => (Value::Int(int()), after),
        b'_' => (Value::Null, after),
        b',' => (Value::Double(line), after),
        b'#' => (Value::Bool(line == "t"), after),
        b'(' => (Value::BigNum(line), after),
        b'$' | b'=' | b'!' => {
            let n = int();
            if n < 0 {
                return (Value::Nil, after);
            }
            let n = n as usize;
            let data = bulk(n);
            let end = after + n + 2;
            let v = match t {
                b'$' => Value::Bulk(data),
                b'!' => Value::BlobError(data),
                _ => Value::Verbatim(
                    String::from_utf8_lossy(&data[..3]).into_owned(),
                    data[4..].to_vec(),
                ),
            };
            (v, end)
        }
        b'*' | b'~' | b'>' => {
            let n = int();
            if n < 0 {
                return (Value::Nil, after);
            }
            let mut p = after;
            let mut items = Vec::new();
            for _ in 0..n {
                let (v, e) = parse_at(buf, p);
                items.push(v);
                p = e;
            }
            let v = match t {
                b'*' => Value::Array(items),
                b'~' => Value::Set(items),
                _ => Value::Push(items),
            };
            (v, p)
        }
        b'%' | b'|' => {
            let n = int();
            let mut p = after;
            let mut pairs = Vec::new();
            for _ in 0..n {
                let (k, e) = parse_at(buf, p);
                let (v, e) = parse_at(buf, e);
                pairs.push((k, v));
                p = e;
            }
            if t == b'|' {
                // attributes: skip them, return the real reply
                return parse_at(buf, p);
            }
            (Value::Map(pairs), p)
        }
        other => panic!("unknown RESP type {:?} in {}", other as char, show(buf)),
    }
}

/// Splits the raw bytes of an aggregate reply (`*`, `~`, `%`, `>`) into its
/// header and the raw bytes of each element.
pub fn split_aggregate(buf: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let t = *buf.first()?;
    if !matches!(t, b'*' | b'~' | b'%' | b'>') {
        return None;
    }
    let le = line_end(buf, 1)?;
    let n = header_int(buf, 0, le).ok()?;
    if n < 0 {
        return None;
    }
    let count = if t == b'%' { n * 2 } else { n } as usize;
    let mut p = le + 2;
    let mut elems = Vec::new();
    for _ in 0..count {
        let e = frame_at(buf, p).ok()??;
        elems.push(buf[p..e].to_vec());
        p = e;
    }
    Some((buf[..le + 2].to_vec(), elems))
}

/// Canonical form of a reply whose aggregates are unordered: every array, set
/// and map (recursively) has its elements (map: its key/value pairs) sorted.
pub fn canonical_unordered(buf: &[u8]) -> Vec<u8> {
    let Some((header, elems)) = split_aggregate(buf) else {
        return buf.to_vec();
    };
    let elems: Vec<Vec<u8>> = elems.iter().map(|e| canonical_unordered(e)).collect();
    let mut groups: Vec<Vec<u8>> = if buf[0] == b'%' {
        elems.chunks(2).map(|c| c.concat()).collect()
    } else {
        elems
    };
    groups.sort();
    let mut out = header;
    for g in groups {
        out.extend_from_slice(&g);
    }
    out
}

/// Splits a script line into arguments with the same splitter Valkey uses
/// for inline commands (ferrokv's inline parser): whitespace separated,
/// "double quotes" with \n \r \t \b \a \xHH escapes, 'single quotes' with
/// only \' escaped.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    use ferrokv_transport::{Frame, Limits, Parsed, RequestParser};
    let mut parser = RequestParser::new();
    let mut input = line.as_bytes().to_vec();
    input.extend_from_slice(b"\r\n");
    let limits = Limits {
        max_bulk_len: u64::MAX,
        unauthenticated: false,
    };
    match parser.parse(&input, &limits) {
        Parsed::Command {
            frame: Frame::Inline,
            ..
        } => Ok(parser
            .args
            .iter()
            .map(|&(s, l)| parser.inline_buf[s..s + l].to_vec())
            .collect()),
        Parsed::Empty { .. } => Ok(Vec::new()),
        other => Err(format!("cannot split {line:?}: {other:?}")),
    }
}

/// ferrokv and the reference valkey-server side by side, one connection to
/// each: commands go to both and their replies must be byte-identical.
pub struct Pair {
    pub ours: Conn,
    pub theirs: Conn,
    pub servers: (Server, Server),
}

impl Pair {
    pub fn new(args: &[&str]) -> Pair {
        let servers = (Server::start(args), Server::reference(args));
        Pair {
            ours: servers.0.conn(),
            theirs: servers.1.conn(),
            servers,
        }
    }

    /// Sends a command to both; panics (naming `what`) unless the replies
    /// are identical. Returns the reply.
    pub fn same<A: AsRef<[u8]>>(&mut self, what: &str, args: &[A]) -> Vec<u8> {
        let ours = self.ours.cmd(args);
        let theirs = self.theirs.cmd(args);
        if ours != theirs {
            panic!(
                "{what}: {} replies differ\n ferrokv: {}\n valkey:  {}",
                show_args(args),
                show(&ours),
                show(&theirs)
            );
        }
        ours
    }

    /// The same, comparing replies with the order of aggregate elements
    /// ignored (hashtable-encoded values iterate in each server's order).
    pub fn same_unordered<A: AsRef<[u8]>>(&mut self, what: &str, args: &[A]) {
        let ours = self.ours.cmd(args);
        let theirs = self.theirs.cmd(args);
        if canonical_unordered(&ours) != canonical_unordered(&theirs) {
            panic!(
                "{what}: {} replies differ (unordered)\n ferrokv: {}\n valkey:  {}",
                show_args(args),
                show(&ours),
                show(&theirs)
            );
        }
    }
}

/// A small deterministic generator (xorshift64) for seeded test sequences.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
