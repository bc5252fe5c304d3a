//! The TLS transport against real peers: Debian's redis-cli and OpenSSL's
//! s_client, the `redis` crate over rustls, and raw sockets that misbehave.
//! Certificates come from `common::certs` (made by rcgen per test run).
//! The command suites also run over TLS (`FERROKV_TEST_TRANSPORT=tls`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::certs::{self, certs};
use common::{Conn, Server, Value, free_port, tls_connect};

/// A server with a TLS port (and its plain one), started with the test
/// certificates and `extra`.
fn tls_server(extra: &[&str]) -> (Server, SocketAddr) {
    let s = Server::start_tls(extra);
    let addr = s.tls.expect("a TLS listener");
    (s, addr)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// redis-cli --tls with the test CA, the client certificate unless
/// `cert` is None, then `args`; (success, stdout + stderr).
fn redis_cli(
    addr: SocketAddr,
    cert: Option<(&Path, &Path)>,
    ca: &Path,
    args: &[&str],
) -> (bool, String) {
    let port = addr.port().to_string();
    let mut cmd = Command::new(common::tool_bin("redis-cli"));
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "--tls",
        "--cacert",
        path(ca),
    ]);
    if let Some((c, k)) = cert {
        cmd.args(["--cert", path(c), "--key", path(k)]);
    }
    let out = cmd.args(args).output().expect("run redis-cli");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success() && !text.contains("Error"), text)
}

/// CONFIG GET of one directive, as "name value".
fn config_get(c: &mut Conn, name: &str) -> String {
    match c.val(&["CONFIG", "GET", name]) {
        Value::Array(v) => match &v[..] {
            [Value::Bulk(n), Value::Bulk(val)] => {
                format!(
                    "{} {}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(val)
                )
            }
            other => panic!("CONFIG GET {name}: {other:?}"),
        },
        other => panic!("CONFIG GET {name}: {other:?}"),
    }
}

/// The error a command replies.
fn error_of(c: &mut Conn, args: &[&str]) -> String {
    match c.val(args) {
        Value::Error(e) => e,
        other => panic!("{args:?}: expected an error, got {other:?}"),
    }
}

fn client_pair() -> Option<(&'static Path, &'static Path)> {
    let c = certs();
    Some((c.client_cert.as_path(), c.client_key.as_path()))
}

/// openssl s_client with `flags`, sending `input` once connected; its
/// output (the session summary and what the server answered).
fn s_client(addr: SocketAddr, flags: &[&str], input: &str) -> String {
    let c = certs();
    let connect = addr.to_string();
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            path(&c.ca),
            "-verify_return_error",
        ])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client (Debian's openssl package)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    // Time for the handshake and the answer before end of input closes.
    std::thread::sleep(Duration::from_millis(700));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Whether a rustls client with `client` credentials and trusting `ca`
/// gets PONG.
fn pings(addr: SocketAddr, ca: &Path, client: Option<(&Path, &Path)>) -> bool {
    let Ok(stream) = tls_connect(addr, certs::client_config(ca, client)) else {
        return false;
    };
    let mut c = Conn::from_stream(common::Stream::Tls(Box::new(stream)));
    c.try_send_raw(b"*1\r\n$4\r\nPING\r\n").is_ok()
        && c.read_reply().is_ok_and(|r| r == b"+PONG\r\n")
}

#[test]
fn redis_cli_talks_over_tls() {
    let (s, addr) = tls_server(&[]);
    let ca = &certs().ca;
    assert_eq!(
        redis_cli(addr, client_pair(), ca, &["SET", "k", "v"]),
        (true, "OK\n".into())
    );
    assert_eq!(
        redis_cli(addr, client_pair(), ca, &["GET", "k"]),
        (true, "v\n".into())
    );
    // A large value crosses many records each way.
    let big = "x".repeat(120_000);
    assert!(redis_cli(addr, client_pair(), ca, &["SET", "big", &big]).0);
    assert_eq!(
        redis_cli(addr, client_pair(), ca, &["STRLEN", "big"]).1,
        "120000\n"
    );
    let (ok, got) = redis_cli(addr, client_pair(), ca, &["GET", "big"]);
    assert!(ok && got.trim_end() == big);
    // The plain port serves the same data.
    let mut plain = s.tcp_conn();
    assert_eq!(plain.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
    // INFO lists the TLS listener as Valkey does (numbered as its type).
    let info = plain.str(&["INFO", "server"]);
    let line = format!("listener2:name=tls,bind=127.0.0.1,port={}\r\n", addr.port());
    assert!(info.contains(&line), "{info}");
    assert!(info.contains(&format!("tcp_port:{}\r\n", s.port)), "{info}");
}

#[test]
fn openssl_s_client_negotiates_tls12_and_tls13() {
    let (_s, addr) = tls_server(&[]);
    let c = certs();
    let me = ["-cert", path(&c.client_cert), "-key", path(&c.client_key)];
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = s_client(addr, &[&me[..], &[flag]].concat(), "PING\r\n");
        assert!(
            out.contains(&format!("Protocol  : {version}"))
                || out.contains(&format!("New, {version}")),
            "{out}"
        );
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
        assert!(out.contains("+PONG"), "{out}");
    }
}

#[test]
fn tls_protocols_limit_the_versions() {
    let c = certs();
    let me = ["-cert", path(&c.client_cert), "-key", path(&c.client_key)];
    for (only, refused) in [("TLSv1.2", "-tls1_3"), ("TLSv1.3", "-tls1_2")] {
        let (mut s, addr) = tls_server(&["--tls-protocols", only]);
        let allowed = if only == "TLSv1.2" {
            "-tls1_2"
        } else {
            "-tls1_3"
        };
        assert!(s_client(addr, &[&me[..], &[allowed]].concat(), "PING\r\n").contains("+PONG"));
        let out = s_client(addr, &[&me[..], &[refused]].concat(), "PING\r\n");
        assert!(
            !out.contains("+PONG"),
            "{only} only, {refused} answered:\n{out}"
        );
        s.assert_healthy();
    }
}

#[test]
fn client_certificates_follow_tls_auth_clients() {
    let c = certs();
    let other = Some((c.other_client_cert.as_path(), c.other_client_key.as_path()));
    // yes (the default): a certificate from the CA is required.
    let (s, addr) = tls_server(&[]);
    assert!(pings(addr, &c.ca, client_pair()));
    assert!(
        !pings(addr, &c.ca, None),
        "no client certificate was accepted"
    );
    assert!(
        !pings(addr, &c.ca, other),
        "a certificate from another CA was accepted"
    );
    assert!(!redis_cli(addr, None, &c.ca, &["PING"]).0);
    assert!(
        s.log().contains("Error accepting a client connection"),
        "{}",
        s.log()
    );
    // optional: none is fine, a bad one is not.
    let mut plain = s.tcp_conn();
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-auth-clients", "optional"]),
        b"+OK\r\n"
    );
    assert!(pings(addr, &c.ca, None));
    assert!(pings(addr, &c.ca, client_pair()));
    assert!(!pings(addr, &c.ca, other));
    // no: nothing is asked.
    assert_eq!(
        plain.cmd(&["CONFIG", "SET", "tls-auth-clients", "no"]),
        b"+OK\r\n"
    );
    assert!(pings(addr, &c.ca, None));
    assert_eq!(
        redis_cli(addr, None, &c.ca, &["PING"]),
        (true, "PONG\n".into())
    );
}

#[test]
fn clients_refuse_a_wrong_or_expired_server_certificate() {
    let c = certs();
    let (_s, addr) = tls_server(&[]);
    // The client trusts another CA.
    assert!(!pings(addr, &c.other_ca, client_pair()));
    assert!(!redis_cli(addr, client_pair(), &c.other_ca, &["PING"]).0);
    // The server's certificate has expired.
    let (_s, addr) = tls_server(&[
        "--tls-cert-file",
        path(&c.expired_cert),
        "--tls-key-file",
        path(&c.expired_key),
    ]);
    assert!(!pings(addr, &c.ca, client_pair()));
    let out = s_client(
        addr,
        &["-cert", path(&c.client_cert), "-key", path(&c.client_key)],
        "PING\r\n",
    );
    assert!(
        out.contains("certificate has expired") && !out.contains("+PONG"),
        "{out}"
    );
}

#[test]
fn the_redis_crate_connects_over_rustls() {
    let (_s, addr) = tls_server(&[]);
    let c = certs();
    let read = |p: &Path| std::fs::read(p).unwrap();
    let client = redis::Client::build_with_tls(
        format!("rediss://localhost:{}/", addr.port()),
        redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read(&c.client_cert),
                client_key: read(&c.client_key),
            }),
            root_cert: Some(read(&c.ca)),
        },
    )
    .unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg(&[1, 2, 3])
        .query(&mut con)
        .unwrap();
    let got: Vec<i64> = redis::cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(got, [1, 2, 3]);
    // A pipeline of many commands, answered in order.
    let mut p = redis::pipe();
    for i in 0..2000 {
        p.cmd("INCR").arg("n").ignore();
        p.cmd("ECHO").arg(i);
    }
    let echoes: Vec<i64> = p.query(&mut con).unwrap();
    assert_eq!(echoes, (0..2000).collect::<Vec<_>>());
}

#[test]
fn garbage_and_plaintext_on_the_tls_port_are_dropped() {
    let (mut s, addr) = tls_server(&[]);
    for junk in [
        &b"PING\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..],
        &[0u8; 4096][..],
    ] {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = sock.write_all(junk);
        let mut buf = [0u8; 4096];
        // An alert at most, then the end: never a RESP reply, never a hang.
        let mut got = Vec::new();
        loop {
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("the server neither answered nor closed: {e}"),
            }
        }
        assert!(!got.starts_with(b"+") && !got.starts_with(b"-"), "{got:?}");
    }
    s.assert_healthy();
    assert!(pings(addr, &certs().ca, client_pair()));
}

#[test]
fn a_stalled_handshake_delays_nobody_and_times_out() {
    let (_s, addr) = tls_server(&[]);
    // One client connects and says nothing; another sends half a
    // ClientHello and stops.
    let mut silent = TcpStream::connect(addr).unwrap();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
        .unwrap();
    // Meanwhile others are served at once.
    let start = Instant::now();
    for _ in 0..20 {
        assert!(pings(addr, &certs().ca, client_pair()));
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // The stalled ones are dropped after the handshake timeout (10 s).
    for sock in [&mut silent, &mut half] {
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut buf = [0u8; 64];
        let t = Instant::now();
        let n = sock.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "expected the connection closed");
        assert!(t.elapsed() < Duration::from_secs(15));
    }
}

#[test]
fn config_set_reloads_certificates_for_new_connections() {
    let c = certs();
    let (s, addr) = tls_server(&[]);
    let subject = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("subject="))
            .unwrap_or("")
            .to_string()
    };
    let me = ["-cert", path(&c.client_cert), "-key", path(&c.client_key)];
    let before = s_client(addr, &me, "PING\r\n");
    assert!(
        subject(&before).contains("CN = ferrokv") && !subject(&before).contains("second"),
        "{before}"
    );
    // An open connection keeps working across the reload.
    let mut open = Conn::tls(addr);
    assert_eq!(open.cmd(&["SET", "a", "1"]), b"+OK\r\n");
    assert_eq!(
        open.cmd(&[
            "CONFIG",
            "SET",
            "tls-cert-file",
            path(&c.server2_cert),
            "tls-key-file",
            path(&c.server2_key)
        ]),
        b"+OK\r\n"
    );
    let after = s_client(addr, &me, "PING\r\n");
    assert!(
        subject(&after).contains("ferrokv second") && after.contains("+PONG"),
        "{after}"
    );
    assert_eq!(open.cmd(&["GET", "a"]), b"$1\r\n1\r\n");
    // A file that does not load is refused, and the old setting stays.
    assert_eq!(
        error_of(
            &mut open,
            &["CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"]
        ),
        "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs."
    );
    assert_eq!(
        config_get(&mut open, "tls-cert-file"),
        format!("tls-cert-file {}", path(&c.server2_cert))
    );
    assert!(pings(addr, &c.ca, client_pair()));
    assert!(
        s.log()
            .contains("Failed to load certificate: /nonexistent.crt"),
        "{}",
        s.log()
    );
}

#[test]
fn config_set_tls_port_and_port_zero() {
    // TLS only: port 0 disables plain TCP.
    let port = free_port();
    let mut args = certs::server_args(port);
    args.extend(["--port", "0"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = Command::new(common::ferrokv_bin())
        .args(&args)
        .args(["--save", "", "--bind", "127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + common::START_TIMEOUT;
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "TLS port never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Conn::tls(addr);
    assert_eq!(c.info_field("server", "tcp_port"), port.to_string());
    // Move TLS to another port at run time.
    let next = free_port();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "tls-port", &next.to_string()]),
        b"+OK\r\n"
    );
    let moved = SocketAddr::from(([127, 0, 0, 1], next));
    assert!(pings(moved, &certs().ca, client_pair()));
    assert!(
        TcpStream::connect(addr).is_err(),
        "the old TLS port still listens"
    );
    // The open connection is not affected.
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn startup_refuses_a_broken_tls_configuration() {
    let c = certs();
    let port = free_port().to_string();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--tls-cert-file", path(&c.server_cert)],
            "No tls-key-file configured!",
        ),
        (
            &[
                "--tls-cert-file",
                path(&c.server_cert),
                "--tls-key-file",
                "/nonexistent.key",
            ],
            "Failed to load private key: /nonexistent.key",
        ),
        (
            &[
                "--tls-cert-file",
                path(&c.server_cert),
                "--tls-key-file",
                path(&c.server_key),
            ],
            "Either tls-ca-cert-file or tls-ca-cert-dir must be specified",
        ),
    ];
    for (args, why) in cases {
        let out = Command::new(common::ferrokv_bin())
            .args(["--port", "0", "--save", "", "--tls-port", &port])
            .args(args)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{log}");
        assert!(
            log.contains(why) && log.contains("Failed to configure TLS. Check logs for more info."),
            "{log}"
        );
    }
}

#[test]
fn tls_directives_read_back_as_valkey_prints_them() {
    let s = Server::start(&[]);
    let mut c = s.tcp_conn();
    for (name, default) in [
        ("tls-port", "0"),
        ("tls-auth-clients", "yes"),
        ("tls-session-caching", "yes"),
        ("tls-session-cache-size", "20480"),
        ("tls-session-cache-timeout", "300"),
        ("tls-prefer-server-ciphers", "no"),
        ("tls-replication", "no"),
        ("tls-cluster", "no"),
        ("tls-protocols", ""),
        ("tls-cert-file", ""),
        ("tls-dh-params-file", ""),
        ("max-new-tls-connections-per-cycle", "1"),
    ] {
        assert_eq!(config_get(&mut c, name), format!("{name} {default}"));
    }
    assert_eq!(
        error_of(&mut c, &["CONFIG", "SET", "tls-auth-clients", "maybe"]),
        "ERR CONFIG SET failed (possibly related to argument 'tls-auth-clients') - argument(s) must be one of the following: no, yes, optional"
    );
    // Without a TLS port nothing is loaded, so nothing fails (as Valkey).
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"]),
        b"+OK\r\n"
    );
}

#[test]
fn tls_key_file_pass_decrypts_a_pkcs8_key() {
    let c = certs();
    let enc = c.dir.join(format!("server-enc-{}.key", free_port()));
    let status = Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cret",
            "-in",
        ])
        .arg(&c.server_key)
        .arg("-out")
        .arg(&enc)
        .status()
        .expect("run openssl pkcs8");
    assert!(status.success());
    assert!(
        std::fs::read_to_string(&enc)
            .unwrap()
            .contains("ENCRYPTED PRIVATE KEY")
    );
    let (_s, addr) = tls_server(&[
        "--tls-key-file",
        path(&enc),
        "--tls-key-file-pass",
        "s3cret",
    ]);
    assert!(pings(addr, &c.ca, client_pair()));
    // Without the password, or with a wrong one, the server does not start.
    let port = free_port().to_string();
    for pass in ["", "wrong"] {
        let out = Command::new(common::ferrokv_bin())
            .args(["--port", "0", "--save", "", "--tls-port", &port])
            .args([
                "--tls-cert-file",
                path(&c.server_cert),
                "--tls-ca-cert-file",
                path(&c.ca),
            ])
            .args(["--tls-key-file", path(&enc), "--tls-key-file-pass", pass])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !out.status.success() && log.contains("Failed to load private key"),
            "{log}"
        );
    }
    let _ = std::fs::remove_file(&enc);
}

#[test]
fn pending_handshakes_are_bounded() {
    let (mut s, addr) = tls_server(&["--maxclients", "3", "--loglevel", "verbose"]);
    // Three connections that never say hello fill the handshake slots.
    let silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    // The next one is closed at once, handshake or not.
    let start = Instant::now();
    assert!(!pings(addr, &certs().ca, client_pair()));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(s.log().contains("handshakes are pending"), "{}", s.log());
    // Once they go, clients get in again.
    drop(silent);
    std::thread::sleep(Duration::from_millis(300));
    assert!(pings(addr, &certs().ca, client_pair()));
    s.assert_healthy();
}

#[test]
fn sessions_resume_unless_caching_is_off() {
    let c = certs();
    let me = [
        "-cert",
        path(&c.client_cert),
        "-key",
        path(&c.client_key),
        "-tls1_2",
    ];
    let reused = |out: &str| {
        out.lines()
            .filter(|l| l.starts_with("Reused, TLSv1.2"))
            .count()
    };
    let (_s, addr) = tls_server(&[]);
    let out = s_client(addr, &[&me[..], &["-reconnect"]].concat(), "");
    assert_eq!(reused(&out), 5, "{out}");
    let (_s, addr) = tls_server(&["--tls-session-caching", "no"]);
    let out = s_client(addr, &[&me[..], &["-reconnect"]].concat(), "");
    assert_eq!(reused(&out), 0, "{out}");
    assert!(out.contains("New, TLSv1.2"), "{out}");
}
