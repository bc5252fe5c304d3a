//! Timeouts and misbehaving peers, against scripted listeners (no server).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use ferrokv_rdma_client::{Client, Endpoint, Error, Options, ReplyError};

fn options(timeout: Duration) -> Options {
    Options {
        connect_timeout: Some(timeout),
        read_timeout: Some(timeout),
        write_timeout: Some(timeout),
        ..Options::default()
    }
}

fn endpoint(l: &TcpListener) -> Endpoint {
    Endpoint::tcp("127.0.0.1", l.local_addr().unwrap().port())
}

/// A peer that reads one request and answers `reply` (then closes, or not).
fn scripted(reply: &'static [u8], close: bool) -> (Endpoint, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let e = endpoint(&l);
    let h = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        s.write_all(reply).unwrap();
        if !close {
            thread::sleep(Duration::from_secs(2));
        }
    });
    (e, h)
}

#[test]
fn read_timeout_on_a_peer_that_never_replies() {
    // The kernel completes the handshake; nobody ever accepts or answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = Client::connect_with(endpoint(&l), &options(Duration::from_millis(200))).unwrap();
    let t = Instant::now();
    let err = c.ping().unwrap_err();
    let waited = t.elapsed();
    match &err {
        Error::Timeout { op, after } => {
            assert_eq!(*op, "read");
            assert_eq!(*after, Duration::from_millis(200));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "read timed out after 200ms");
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // A late reply could now be taken for the next command's: refuse.
    assert!(c.is_broken());
    assert!(matches!(c.ping(), Err(Error::Broken(_))));
}

#[test]
fn timeouts_can_be_changed_on_a_live_client() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = Client::connect(endpoint(&l)).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let err = c.get("k").unwrap_err();
    assert!(
        matches!(err, Error::Timeout { op: "read", after } if after == Duration::from_millis(50)),
        "{err:?}"
    );
}

#[test]
fn write_timeout_on_a_peer_that_never_reads() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = Client::connect_with(endpoint(&l), &options(Duration::from_millis(200))).unwrap();
    // Far more than the socket buffers on both sides hold.
    let value = vec![b'x'; 64 * 1024 * 1024];
    let t = Instant::now();
    let err = c.set("k", &value).unwrap_err();
    assert!(matches!(err, Error::Timeout { op: "write", .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(c.is_broken());
}

#[test]
fn connect_timeout_when_the_listener_backlog_is_full() {
    // Once the accept queue is full, Linux drops new SYNs: connect hangs
    // until its timeout.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let opts = options(Duration::from_millis(200));
    let mut held = Vec::new();
    for _ in 0..5000 {
        match Client::connect_with(endpoint(&l), &opts) {
            Ok(c) => held.push(c),
            Err(err) => {
                assert!(
                    matches!(err, Error::Timeout { op: "connect", .. }),
                    "{err:?}"
                );
                return;
            }
        }
    }
    panic!("{} connections, none timed out", held.len());
}

#[test]
fn peer_closing_mid_reply_is_a_disconnect() {
    let (e, h) = scripted(b"$10\r\nabc", true);
    let mut c = Client::connect_with(e, &options(Duration::from_secs(5))).unwrap();
    let err = c.get("k").unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err:?}");
    assert_eq!(err.to_string(), "connection closed by the server");
    h.join().unwrap();
}

#[test]
fn garbage_is_a_protocol_error() {
    let (e, h) = scripted(b"HTTP/1.1 400 Bad Request\r\n\r\n", false);
    let mut c = Client::connect_with(e, &options(Duration::from_secs(5))).unwrap();
    let err = c.ping().unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ReplyError::UnknownType(b'H'))),
        "{err:?}"
    );
    assert!(matches!(c.ping(), Err(Error::Broken(_))));
    h.join().unwrap();
}

#[test]
fn oversized_reply_is_refused() {
    let (e, h) = scripted(b"$9999999999999\r\n", false);
    let mut c = Client::connect_with(e, &options(Duration::from_secs(5))).unwrap();
    let err = c.get("k").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ReplyError::BulkTooLong {
                len: 9999999999999,
                ..
            })
        ),
        "{err:?}"
    );
    h.join().unwrap();
}

#[test]
fn rdma_without_a_device_is_unavailable() {
    if std::env::var_os("FERROKV_RDMA_VM").is_some() {
        return; // inside the soft-RoCE guest RDMA works: tests/rdma.rs covers it
    }
    let err = Client::connect(Endpoint::rdma("127.0.0.1", 6379)).unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(err.to_string().starts_with("RDMA unavailable: "), "{err}");
    assert!(!err.is_connection_error());
}

#[test]
fn unresolvable_host_is_an_endpoint_error() {
    let err = Client::connect(Endpoint::Tcp("no-such-host.invalid:6379".into())).unwrap_err();
    assert!(matches!(err, Error::InvalidEndpoint(_)), "{err:?}");
}
