//! Pub/Sub under load with real connections: fan-out to many subscribers,
//! and `client-output-buffer-limit pubsub` disconnecting subscribers that
//! do not read (hard limit at once, soft limit after its grace period)
//! instead of buffering without end.

mod common;

use common::{Conn, Server};
use std::time::Duration;

/// A server with `limit` as its pubsub output buffer limit, and a
/// connection to publish on.
fn with_pubsub_limit(limit: &str) -> (Server, Conn) {
    let server = Server::start(&[]);
    let mut publisher = server.conn();
    let set = ["CONFIG", "SET", "client-output-buffer-limit", limit];
    assert_eq!(publisher.cmd(&set), b"+OK\r\n");
    (server, publisher)
}

/// INFO stats client_output_buffer_limit_disconnections.
fn disconnections(c: &mut Conn) -> i64 {
    c.info_field("stats", "client_output_buffer_limit_disconnections")
        .parse::<i64>()
        .unwrap()
}

#[test]
fn every_subscriber_gets_every_message_in_order() {
    let server = Server::start(&[]);
    let mut subs: Vec<Conn> = (0..20).map(|_| server.conn()).collect();
    for (i, s) in subs.iter_mut().enumerate() {
        let reply = if i % 2 == 0 {
            s.cmd(&["SUBSCRIBE", "feed"])
        } else {
            s.cmd(&["PSUBSCRIBE", "fe*"])
        };
        assert!(reply.ends_with(b":1\r\n"), "{}", common::show(&reply));
    }
    let mut publisher = server.conn();
    assert_eq!(
        publisher
            .info_field("clients", "pubsub_clients")
            .parse::<i64>()
            .unwrap(),
        20
    );
    for n in 0..200 {
        let receivers = publisher.int(&["PUBLISH", "feed", &n.to_string()]);
        assert_eq!(receivers, 20);
    }
    for (i, s) in subs.iter_mut().enumerate() {
        for n in 0..200 {
            let got = common::parse(&s.read_reply().unwrap());
            let items = got.items();
            let payload = items.last().unwrap().as_bytes().unwrap();
            assert_eq!(payload, n.to_string().as_bytes(), "subscriber {i}");
            let kind = items[0].as_bytes().unwrap();
            assert_eq!(
                kind,
                if i % 2 == 0 {
                    &b"message"[..]
                } else {
                    b"pmessage"
                }
            );
        }
    }
    drop(subs);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        publisher
            .info_field("clients", "pubsub_clients")
            .parse::<i64>()
            .unwrap(),
        0
    );
    assert_eq!(publisher.int(&["PUBLISH", "feed", "x"]), 0);
}

#[test]
fn a_subscriber_over_the_hard_limit_is_disconnected() {
    // 8 MB: the reader that keeps up may fall up to 128 messages behind
    // on a loaded machine before it, too, would be over the limit.
    let (server, mut publisher) = with_pubsub_limit("pubsub 8mb 0 0");
    let mut slow = server.conn();
    slow.cmd(&["SUBSCRIBE", "firehose"]);
    let mut fast = server.conn();
    fast.cmd(&["SUBSCRIBE", "firehose"]);
    // 64 MB published to a subscriber that never reads: far beyond what
    // the socket buffers hold, so its output backs up past the limit.
    let payload = "x".repeat(64 * 1024);
    let reader = std::thread::spawn(move || {
        // `fast` keeps reading everything.
        let mut n = 0;
        while fast.read_reply().is_ok() {
            n += 1;
            if n == 1024 {
                break;
            }
        }
        (n, fast)
    });
    for _ in 0..1024 {
        publisher.int(&["PUBLISH", "firehose", &payload]);
    }
    let (n, mut fast) = reader.join().unwrap();
    assert_eq!(n, 1024);
    assert_eq!(disconnections(&mut publisher), 1);
    // The reader that kept up is still subscribed.
    assert_eq!(publisher.int(&["PUBLISH", "firehose", "after"]), 1);
    assert!(fast.read_reply().unwrap().ends_with(b"after\r\n"));
    // The slow subscriber gets what was sent before the cut, then EOF.
    slow.set_timeout(Duration::from_secs(10));
    loop {
        match slow.read_reply() {
            Ok(_) => continue,
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                    ),
                    "{e}"
                );
                break;
            }
        }
    }
    assert!(
        server
            .log()
            .contains("for overcoming of output buffer limits")
    );
}

#[test]
fn a_subscriber_over_the_soft_limit_too_long_is_disconnected() {
    let (server, mut publisher) = with_pubsub_limit("pubsub 0 512kb 1");
    let mut slow = server.conn();
    slow.cmd(&["SUBSCRIBE", "c"]);
    let payload = "y".repeat(64 * 1024);
    // Above the soft limit, but not for long enough yet.
    for _ in 0..256 {
        publisher.int(&["PUBLISH", "c", &payload]);
    }
    assert_eq!(disconnections(&mut publisher), 0);
    std::thread::sleep(Duration::from_millis(2100));
    publisher.int(&["PUBLISH", "c", &payload]);
    assert_eq!(disconnections(&mut publisher), 1);
    assert_eq!(publisher.int(&["PUBLISH", "c", "after"]), 0);
}

#[test]
fn output_buffer_limit_configuration() {
    let server = Server::start(&["--client-output-buffer-limit", "pubsub 2mb 1mb 30"]);
    let mut c = server.conn();
    assert_eq!(
        common::show(&c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"])),
        common::show(
            b"*2\r\n$26\r\nclient-output-buffer-limit\r\n$66\r\nnormal 0 0 0 slave 268435456 67108864 60 pubsub 2097152 1048576 30\r\n"
        )
    );
    for (bad, why) in [
        (
            "pubsub 1mb 1mb",
            "Wrong number of arguments in buffer limit configuration.",
        ),
        (
            "nosuch 1 1 1",
            "Invalid client class specified in buffer limit configuration.",
        ),
        (
            "pubsub x 1 1",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
    ] {
        let reply = String::from_utf8(c.cmd(&["CONFIG", "SET", "client-output-buffer-limit", bad]))
            .unwrap();
        assert!(reply.contains(why), "{bad}: {reply}");
    }
    c.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "replica 1 2 3 normal 4 5 6",
    ]);
    let got = common::show(&c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]));
    assert!(
        got.contains("normal 4 5 6 slave 1 2 3 pubsub 2097152 1048576 30"),
        "{got}"
    );
}

#[test]
fn idle_subscribers_are_not_timed_out() {
    let server = Server::start(&["--timeout", "1"]);
    let mut sub = server.conn();
    sub.cmd(&["SUBSCRIBE", "quiet"]);
    let mut idle = server.conn();
    idle.cmd(&["PING"]);
    std::thread::sleep(Duration::from_millis(2500));
    // The plain client was closed for idling; the subscriber, as in
    // Valkey, waits for messages as long as it likes.
    idle.expect_closed();
    let mut publisher = server.conn();
    assert_eq!(publisher.int(&["PUBLISH", "quiet", "still here"]), 1);
    assert!(sub.read_reply().unwrap().ends_with(b"still here\r\n"));
}
