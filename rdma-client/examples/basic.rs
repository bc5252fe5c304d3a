//! The README's example: `cargo run --example basic -- [ENDPOINT]`
//! (default `tcp://127.0.0.1:6379`; also `unix:///path/to.sock`).

use std::time::Duration;

use ferrokv_rdma_client::{Client, Endpoint, Error, Options, Reply};

fn main() -> Result<(), Error> {
    let endpoint: Endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:6379".into())
        .parse()?;
    let options = Options {
        read_timeout: Some(Duration::from_secs(2)),
        write_timeout: Some(Duration::from_secs(2)),
        ..Options::default() // connect timeout 5 s
    };
    let mut c = Client::connect_with(endpoint, &options)?;

    // Typed helpers. A server error reply becomes Err(Error::Server(text)).
    c.ping()?;
    c.set("user:1", "ada")?;
    assert_eq!(c.get("user:1")?, Some(b"ada".to_vec()));
    assert_eq!(c.get("nobody")?, None);
    c.del(&["visits"])?;
    assert_eq!(c.incr("visits")?, 1);
    assert_eq!(c.del(&["user:1", "visits"])?, 2);
    c.set("user:1", "ada")?;
    match c.incr("user:1") {
        Err(Error::Server(msg)) => println!("server said: {msg}"),
        other => println!("{other:?}"),
    }

    // Any command, binary-safe arguments: the reply exactly as sent
    // (an error reply is Ok(Reply::Error(..)) here).
    let reply = c.cmd(&[&b"SET"[..], b"blob", &[0u8, 255, 13, 10]])?;
    assert_eq!(reply, Reply::Simple(b"OK".to_vec()));

    // Pipelining: one round trip, replies in order, errors in their slots.
    let replies = c
        .pipeline()
        .cmd(&["SET", "n", "10"])
        .cmd(&["INCRBY", "n", "5"])
        .cmd(&["GET", "n"])
        .send()?;
    assert_eq!(replies[1], Reply::Int(15));

    // RESP3: HELLO 3 returns the server's map; nulls are Reply::Null.
    c.hello(3)?;
    assert_eq!(c.cmd(&["GET", "nobody"])?, Reply::Null);
    println!("all good over {}", c.transport_kind());
    Ok(())
}
