//! The async client against the real ferrokv-server, over TCP and a Unix
//! socket, and over RDMA as well inside the soft-RoCE guest (ci/rdma-test);
//! timeouts and interrupted calls against scripted listeners.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::Server;
use ferrokv_rdma_client::{AsyncClient, Endpoint, Error, Options, Protocol, Reply};

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

async fn connect(e: &Endpoint) -> AsyncClient {
    let options = Options {
        read_timeout: Some(Duration::from_secs(30)),
        write_timeout: Some(Duration::from_secs(30)),
        ..Options::default()
    };
    AsyncClient::connect_with(e.clone(), &options)
        .await
        .unwrap_or_else(|err| panic!("{e}: {err}"))
}

fn bulk(s: &[u8]) -> Reply {
    Reply::Bulk(Some(s.to_vec()))
}

#[tokio::test]
async fn typed_helpers_and_raw_commands() {
    let s = Server::start();
    for e in endpoints(&s) {
        let mut c = connect(&e).await;
        let k = format!("{}:k", e.kind());
        c.ping().await.unwrap();
        assert_eq!(c.get(&k).await.unwrap(), None);
        c.set(&k, b"v\r\n\0\xff").await.unwrap();
        assert_eq!(c.get(&k).await.unwrap(), Some(b"v\r\n\0\xff".to_vec()));
        let n = format!("{}:n", e.kind());
        assert_eq!(c.incr(&n).await.unwrap(), 1);
        assert_eq!(c.incr(&n).await.unwrap(), 2);
        assert_eq!(c.del(&[&k, &n, "absent"]).await.unwrap(), 2);
        assert_eq!(c.cmd(&["EXISTS", &k]).await.unwrap(), Reply::Int(0));
        assert_eq!(c.cmd(&["ECHO", "hi"]).await.unwrap(), bulk(b"hi"));
        assert_eq!(c.transport_kind(), e.kind());
        assert_eq!(c.protocol(), Protocol::Resp2);
        assert!(!c.is_broken());
    }
}

#[tokio::test]
async fn resp2_and_resp3() {
    let s = Server::start();
    for e in endpoints(&s) {
        let mut c = connect(&e).await;
        c.set("r:k", "1").await.unwrap();
        assert_eq!(c.cmd(&["GET", "missing"]).await.unwrap(), Reply::Bulk(None));

        let hello = c.hello(3).await.unwrap();
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
        assert_eq!(c.cmd(&["GET", "missing"]).await.unwrap(), Reply::Null);
        assert_eq!(c.get("missing").await.unwrap(), None);
        assert_eq!(c.get("r:k").await.unwrap(), Some(b"1".to_vec()));
        let f = format!("{}:f", e.kind());
        assert_eq!(
            c.cmd(&["INCRBYFLOAT", &f, "1.5"]).await.unwrap(),
            bulk(b"1.5")
        );
        assert!(c.take_pushes().is_empty());

        let hello = c.hello(2).await.unwrap();
        assert!(matches!(hello, Reply::Array(Some(_))), "{hello:?}");
        assert_eq!(c.protocol(), Protocol::Resp2);
        assert_eq!(c.cmd(&["GET", "missing"]).await.unwrap(), Reply::Bulk(None));

        match c.hello(4).await {
            Err(Error::Server(msg)) => assert!(msg.starts_with("NOPROTO"), "{msg}"),
            other => panic!("HELLO 4: {other:?}"),
        }
        c.ping().await.unwrap();
    }
}

#[tokio::test]
async fn pipelines_of_ten_thousand() {
    let s = Server::start();
    for e in endpoints(&s) {
        for proto in [2, 3] {
            let mut c = connect(&e).await;
            c.hello(proto).await.unwrap();
            let n = 10_000;
            let mut p = c.pipeline();
            for i in 0..n {
                p.cmd(&["SET".to_string(), format!("p{proto}:{i}"), i.to_string()]);
            }
            for i in 0..n {
                p.cmd(&["GET".to_string(), format!("p{proto}:{i}")]);
            }
            assert_eq!(p.len(), 2 * n);
            let replies = p.send().await.unwrap();
            assert!(p.is_empty());
            assert_eq!(replies.len(), 2 * n);
            for (i, r) in replies.iter().enumerate() {
                if i < n {
                    assert_eq!(r, &Reply::Simple(b"OK".to_vec()), "{e} reply {i}");
                } else {
                    let want = (i - n).to_string();
                    assert_eq!(r, &bulk(want.as_bytes()), "{e} reply {i}");
                }
            }
            // The pipeline is reusable, and replies are handed over one by one.
            for i in 0..n {
                p.cmd(&["INCR".to_string(), format!("p{proto}:{i}")]);
            }
            let mut seen = 0;
            p.send_each(|i, r| {
                assert_eq!(r, Reply::Int(i as i64 + 1));
                seen += 1;
            })
            .await
            .unwrap();
            assert_eq!(seen, n);
            c.ping().await.unwrap();
        }
    }
}

#[tokio::test]
async fn big_values() {
    let s = Server::start();
    let value: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    for e in endpoints(&s) {
        let mut c = connect(&e).await;
        let k = format!("{}:big", e.kind());
        c.set(&k, &value).await.unwrap();
        assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&value[..]));

        // 24 MiB of replies to one pipeline: more than the 16 MiB of pending
        // output after which the server stops reading this client, so the
        // pipeline must read while it writes.
        let mut p = c.pipeline();
        for i in 0..2 {
            let ki = format!("{k}{i}");
            p.cmd(&[&b"SET"[..], ki.as_bytes(), &value]);
        }
        for _ in 0..6 {
            p.cmd(&["GET", &k]);
        }
        // A large request while large replies are pending.
        p.cmd(&[&b"SET"[..], format!("{k}2").as_bytes(), &value]);
        p.cmd(&["STRLEN".to_string(), format!("{k}2")]);
        let replies = p.send().await.unwrap();
        assert_eq!(replies.len(), 10);
        assert_eq!(replies[0], Reply::Simple(b"OK".to_vec()));
        assert_eq!(replies[1], Reply::Simple(b"OK".to_vec()));
        for r in &replies[2..8] {
            assert_eq!(r.as_bytes(), Some(&value[..]));
        }
        assert_eq!(replies[8], Reply::Simple(b"OK".to_vec()));
        assert_eq!(replies[9], Reply::Int(value.len() as i64));
        c.ping().await.unwrap();
    }
}

#[tokio::test]
async fn server_errors() {
    let s = Server::start();
    for e in endpoints(&s) {
        let mut c = connect(&e).await;
        c.set("e:s", "abc").await.unwrap();
        match c.incr("e:s").await {
            Err(Error::Server(msg)) => {
                assert_eq!(msg, "ERR value is not an integer or out of range")
            }
            other => panic!("{other:?}"),
        }
        // Raw commands return the error reply itself.
        let r = c.cmd(&["NOSUCHCOMMAND", "x"]).await.unwrap();
        let Reply::Error(msg) = &r else {
            panic!("{r:?}")
        };
        assert!(msg.starts_with(b"ERR unknown command"), "{r:?}");
        // An error in a pipeline stays in its slot.
        let replies = c
            .pipeline()
            .cmd(&["SET", "e:n", "1"])
            .cmd(&["INCR", "e:s"])
            .cmd(&["INCR", "e:n"])
            .send()
            .await
            .unwrap();
        assert_eq!(replies[0], Reply::Simple(b"OK".to_vec()));
        assert!(replies[1].is_error(), "{:?}", replies[1]);
        assert_eq!(replies[2], Reply::Int(2));
        // The connection is still good.
        assert!(!c.is_broken());
        c.ping().await.unwrap();
    }
}

#[tokio::test]
async fn dropped_server() {
    let mut s = Server::start();
    let mut clients = Vec::new();
    for e in endpoints(&s) {
        let mut c = connect(&e).await;
        c.ping().await.unwrap();
        clients.push(c);
    }
    s.kill();
    for c in &mut clients {
        let err = c.ping().await.unwrap_err();
        assert!(matches!(err, Error::Disconnected), "{err:?}");
        assert!(c.is_broken());
        assert!(matches!(c.get("k").await, Err(Error::Broken(_))));
    }
    // Nobody listens any more.
    let err = AsyncClient::connect(Endpoint::tcp("127.0.0.1", s.port))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let err = AsyncClient::connect(Endpoint::unix(&s.socket))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_spawned_tasks() {
    let s = Server::start();
    let mut tasks = Vec::new();
    for e in endpoints(&s) {
        for _ in 0..4 {
            let e = e.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = connect(&e).await;
                for _ in 0..100 {
                    c.incr("spawned").await.unwrap();
                }
                let mut p = c.pipeline();
                for _ in 0..100 {
                    p.cmd(&["INCR", "spawned"]);
                }
                p.send().await.unwrap();
            }));
        }
    }
    let n = tasks.len() as i64;
    for t in tasks {
        t.await.unwrap();
    }
    let mut c = connect(&endpoints(&s)[0]).await;
    assert_eq!(
        c.get("spawned").await.unwrap(),
        Some((n * 200).to_string().into_bytes())
    );
}

#[tokio::test]
async fn read_timeout_on_a_peer_that_never_replies() {
    // The kernel completes the handshake; nobody ever accepts or answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let e = Endpoint::tcp("127.0.0.1", l.local_addr().unwrap().port());
    let options = Options {
        read_timeout: Some(Duration::from_millis(200)),
        ..Options::default()
    };
    let mut c = AsyncClient::connect_with(e.clone(), &options)
        .await
        .unwrap();
    let t = Instant::now();
    let err = c.ping().await.unwrap_err();
    let waited = t.elapsed();
    match &err {
        Error::Timeout { op, after } => {
            assert_eq!(*op, "read");
            assert_eq!(*after, Duration::from_millis(200));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // A late reply could now be taken for the next command's: refuse.
    assert!(c.is_broken());
    assert!(matches!(c.ping().await, Err(Error::Broken(_))));

    // Timeouts can be changed on a live client.
    let mut c = AsyncClient::connect(e).await.unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50)));
    let err = c.get("k").await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { op: "read", after } if after == Duration::from_millis(50)),
        "{err:?}"
    );
}

#[tokio::test]
async fn write_timeout_on_a_peer_that_never_reads() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let e = Endpoint::tcp("127.0.0.1", l.local_addr().unwrap().port());
    let options = Options {
        write_timeout: Some(Duration::from_millis(200)),
        ..Options::default()
    };
    let mut c = AsyncClient::connect_with(e, &options).await.unwrap();
    // Far more than the socket buffers on both sides hold.
    let value = vec![b'x'; 64 * 1024 * 1024];
    let err = c.set("k", &value).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { op: "write", after } if after == Duration::from_millis(200)),
        "{err:?}"
    );
    assert!(c.is_broken());
}

#[tokio::test]
async fn an_interrupted_call_breaks_the_client() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let e = Endpoint::tcp("127.0.0.1", l.local_addr().unwrap().port());
    let mut c = AsyncClient::connect(e).await.unwrap();
    // The caller gives up on the reply: its future is dropped mid-call.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), c.ping()).await;
    assert!(gave_up.is_err());
    assert!(c.is_broken());
    match c.ping().await {
        Err(Error::Broken(why)) => assert!(why.contains("interrupted"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rdma_without_a_device_is_unavailable() {
    if std::env::var_os("FERROKV_RDMA_VM").is_some() {
        return; // inside the soft-RoCE guest RDMA works: see the tests above
    }
    let err = AsyncClient::connect(Endpoint::rdma("127.0.0.1", 6379))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(err.to_string().starts_with("RDMA unavailable: "), "{err}");
}
