//! The client against the real ferrokv-server, over TCP and a Unix socket,
//! and over RDMA as well inside the soft-RoCE guest (ci/rdma-test).

mod common;

use std::time::Duration;

use common::Server;
use ferrokv_rdma_client::{Client, Endpoint, Error, Options, Protocol, Reply};

fn endpoints(s: &Server) -> Vec<Endpoint> {
    let mut all = vec![
        Endpoint::tcp("127.0.0.1", s.port),
        Endpoint::unix(&s.socket),
    ];
    if let Some(addr) = &s.rdma {
        all.push(Endpoint::Rdma(addr.clone()));
    }
    all
}

fn connect(e: &Endpoint) -> Client {
    let options = Options {
        read_timeout: Some(Duration::from_secs(30)),
        write_timeout: Some(Duration::from_secs(30)),
        ..Options::default()
    };
    Client::connect_with(e.clone(), &options).unwrap_or_else(|err| panic!("{e}: {err}"))
}

fn bulk(s: &[u8]) -> Reply {
    Reply::Bulk(Some(s.to_vec()))
}

#[test]
fn typed_helpers_and_raw_commands() {
    let s = Server::start();
    for e in endpoints(&s) {
        let mut c = connect(&e);
        let k = format!("{}:k", e.kind());
        c.ping().unwrap();
        assert_eq!(c.get(&k).unwrap(), None);
        c.set(&k, b"v\r\n\0\xff").unwrap();
        assert_eq!(c.get(&k).unwrap(), Some(b"v\r\n\0\xff".to_vec()));
        let n = format!("{}:n", e.kind());
        assert_eq!(c.incr(&n).unwrap(), 1);
        assert_eq!(c.incr(&n).unwrap(), 2);
        assert_eq!(c.del(&[&k, &n, "absent"]).unwrap(), 2);
        assert_eq!(c.cmd(&["EXISTS", &k]).unwrap(), Reply::Int(0));
        assert_eq!(c.cmd(&["ECHO", "hi"]).unwrap(), bulk(b"hi"));
        assert_eq!(c.transport_kind(), e.kind());
        assert_eq!(c.protocol(), Protocol::Resp2);
    }
}

#[test]
fn resp2_and_resp3() {
    let s = Server::start();
    for e in endpoints(&s) {
        let mut c = connect(&e);
        c.set("r:k", "1").unwrap();
        assert_eq!(c.cmd(&["GET", "missing"]).unwrap(), Reply::Bulk(None));

        let hello = c.hello(3).unwrap();
        let Reply::Map(fields) = &hello else {
            panic!("HELLO 3 gave {hello:?}")
        };
        assert!(
            fields
                .iter()
                .any(|(k, v)| k.as_bytes() == Some(b"proto") && *v == Reply::Int(3)),
            "{hello:?}"
        );
        assert_eq!(c.protocol(), Protocol::Resp3);
        assert_eq!(c.cmd(&["GET", "missing"]).unwrap(), Reply::Null);
        assert_eq!(c.get("missing").unwrap(), None);
        assert_eq!(c.get("r:k").unwrap(), Some(b"1".to_vec()));
        let f = format!("{}:f", e.kind());
        assert_eq!(c.cmd(&["INCRBYFLOAT", &f, "1.5"]).unwrap(), bulk(b"1.5"));

        let hello = c.hello(2).unwrap();
        assert!(matches!(hello, Reply::Array(Some(_))), "{hello:?}");
        assert_eq!(c.protocol(), Protocol::Resp2);
        assert_eq!(c.cmd(&["GET", "missing"]).unwrap(), Reply::Bulk(None));

        match c.hello(4) {
            Err(Error::Server(msg)) => assert!(msg.starts_with("NOPROTO"), "{msg}"),
            other => panic!("HELLO 4: {other:?}"),
        }
        c.ping().unwrap();
    }
}

#[test]
fn pipelines_of_ten_thousand() {
    let s = Server::start();
    for e in endpoints(&s) {
        for proto in [2, 3] {
            let mut c = connect(&e);
            c.hello(proto).unwrap();
            let n = 10_000;
            let mut p = c.pipeline();
            for i in 0..n {
                p.cmd(&["SET".to_string(), format!("p{proto}:{i}"), i.to_string()]);
            }
            for i in 0..n {
                p.cmd(&["GET".to_string(), format!("p{proto}:{i}")]);
            }
            let replies = p.send().unwrap();
            assert_eq!(replies.len(), 2 * n);
            for (i, r) in replies.iter().enumerate() {
                if i < n {
                    assert_eq!(r, &Reply::Simple(b"OK".to_vec()), "{e} reply {i}");
                } else {
                    let want = (i - n).to_string();
                    assert_eq!(r, &bulk(want.as_bytes()), "{e} reply {i}");
                }
            }
            // The pipeline is reusable, and replies are timed one by one.
            let mut p = c.pipeline();
            for i in 0..n {
                p.cmd(&["INCR".to_string(), format!("p{proto}:{i}")]);
            }
            let mut seen = 0;
            p.send_each(|i, r| {
                assert_eq!(r, Reply::Int(i as i64 + 1));
                seen += 1;
            })
            .unwrap();
            assert_eq!(seen, n);
            c.ping().unwrap();
        }
    }
}

#[test]
fn big_values() {
    let s = Server::start();
    let value: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    for e in endpoints(&s) {
        let mut c = connect(&e);
        let k = format!("{}:big", e.kind());
        c.set(&k, &value).unwrap();
        assert_eq!(c.get(&k).unwrap().as_deref(), Some(&value[..]));

        // 40 MiB of replies to a pipeline: more than the 16 MiB of pending
        // output after which the server stops reading this client, so the
        // pipeline must read while it writes.
        let mut p = c.pipeline();
        for i in 0..3 {
            let ki = format!("{k}{i}");
            p.cmd(&[&b"SET"[..], ki.as_bytes(), &value]);
        }
        for i in 0..3 {
            p.cmd(&["GET".to_string(), format!("{k}{i}")]);
            p.cmd(&["STRLEN".to_string(), format!("{k}{i}")]);
        }
        p.cmd(&["GET", &k]);
        let replies = p.send().unwrap();
        assert_eq!(replies.len(), 10);
        for r in &replies[..3] {
            assert_eq!(r, &Reply::Simple(b"OK".to_vec()));
        }
        for pair in replies[3..9].chunks(2) {
            assert_eq!(pair[0].as_bytes(), Some(&value[..]));
            assert_eq!(pair[1], Reply::Int(value.len() as i64));
        }
        assert_eq!(replies[9].as_bytes(), Some(&value[..]));

        // Large replies pending while a large request is written: written
        // blindly, the SET would stall once the server stops reading.
        let k2 = format!("{k}:2");
        let replies = c
            .pipeline()
            .cmd(&["GET", &k])
            .cmd(&["GET", &k])
            .cmd(&[&b"SET"[..], k2.as_bytes(), &value])
            .cmd(&["GET", &k])
            .cmd(&["STRLEN", &k2])
            .send()
            .unwrap();
        assert_eq!(replies.len(), 5);
        assert_eq!(replies[1].as_bytes(), Some(&value[..]));
        assert_eq!(replies[2], Reply::Simple(b"OK".to_vec()));
        assert_eq!(replies[4], Reply::Int(value.len() as i64));
        c.ping().unwrap();
    }
}

#[test]
fn server_errors() {
    let s = Server::start();
    for e in endpoints(&s) {
        let mut c = connect(&e);
        c.set("e:s", "abc").unwrap();
        match c.incr("e:s") {
            Err(Error::Server(msg)) => {
                assert_eq!(msg, "ERR value is not an integer or out of range")
            }
            other => panic!("{other:?}"),
        }
        // Raw commands return the error reply itself.
        let r = c.cmd(&["NOSUCHCOMMAND", "x"]).unwrap();
        let Reply::Error(msg) = &r else {
            panic!("{r:?}")
        };
        assert!(msg.starts_with(b"ERR unknown command"), "{r:?}");
        match c.cmd(&["GET"]).unwrap() {
            Reply::Error(msg) => assert!(msg.starts_with(b"ERR wrong number of arguments")),
            other => panic!("{other:?}"),
        }
        // An error in a pipeline stays in its slot.
        let replies = c
            .pipeline()
            .cmd(&["SET", "e:n", "1"])
            .cmd(&["INCR", "e:s"])
            .cmd(&["INCR", "e:n"])
            .send()
            .unwrap();
        assert_eq!(replies[0], Reply::Simple(b"OK".to_vec()));
        assert!(replies[1].is_error(), "{:?}", replies[1]);
        assert_eq!(replies[2], Reply::Int(2));
        // The connection is still good.
        assert!(!c.is_broken());
        c.ping().unwrap();
    }
}

#[test]
fn dropped_server() {
    let mut s = Server::start();
    let mut clients: Vec<Client> = endpoints(&s).iter().map(connect).collect();
    for c in &mut clients {
        c.ping().unwrap();
    }
    s.kill();
    for c in &mut clients {
        let err = c.ping().unwrap_err();
        assert!(matches!(err, Error::Disconnected), "{err:?}");
        assert!(c.is_broken());
        assert!(matches!(c.get("k"), Err(Error::Broken(_))));
    }
    // Nobody listens any more.
    let err = Client::connect(Endpoint::tcp("127.0.0.1", s.port)).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let err = Client::connect(Endpoint::unix(&s.socket)).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}
