//! A client for ferrokv (and Valkey): RESP2 and RESP3 over TCP, Unix sockets
//! or RDMA (Valkey's RDMA wire protocol), one API for all, blocking
//! ([`Client`]) or async on Tokio (`AsyncClient`, cargo feature `tokio`).
//!
//! ```no_run
//! use ferrokv_rdma_client::{Client, Endpoint, Options, Reply};
//! use std::time::Duration;
//!
//! let options = Options {
//!     read_timeout: Some(Duration::from_secs(2)),
//!     ..Options::default()
//! };
//! let mut c = Client::connect_with(Endpoint::tcp("127.0.0.1", 6379), &options)?;
//!
//! // Typed helpers: a server error reply becomes Error::Server.
//! c.set("k", "v")?;
//! assert_eq!(c.get("k")?, Some(b"v".to_vec()));
//! assert_eq!(c.incr("n")?, 1);
//!
//! // Any command: the reply exactly as sent.
//! let reply = c.cmd(&["EXISTS", "k"])?;
//! assert_eq!(reply, Reply::Int(1));
//!
//! // Pipelining: one round trip, replies in order.
//! let replies = c.pipeline().cmd(&["INCR", "n"]).cmd(&["GET", "n"]).send()?;
//! assert_eq!(replies[0], Reply::Int(2));
//!
//! // RESP3.
//! c.hello(3)?;
//! assert_eq!(c.cmd(&["GET", "missing"])?, Reply::Null);
//! # Ok::<(), ferrokv_rdma_client::Error>(())
//! ```
//!
//! RDMA works like the other transports: connect to
//! [`Endpoint::rdma(host, port)`](Endpoint::rdma) or `rdma://host:port`,
//! where the server listens with `rdma-port`. The client advertises a 1 MiB
//! receive buffer. On a host without RDMA (no rdma-core, or no device)
//! connecting fails with [`Error::Unavailable`].
//!
//! Cargo features (both on by default; pick with `default-features = false`):
//!
//! * `tokio`: `AsyncClient`, the same API with `.await`, on Tokio
//!   (dependency `tokio` with `net`, `time` and `rt`);
//! * `bench`: the `ferrokv-bench` latency rig (dependency `hdrhistogram`).
//!
//! Structure: [`Client`] owns a [`Transport`] (send bytes, receive bytes),
//! encodes requests with `ferrokv-transport`'s RESP writer and decodes
//! replies with its [`ReplyParser`](ferrokv_transport::resp::reply::ReplyParser).
//! Everything but the moving of bytes (receive buffer, reply parsing, RESP3
//! pushes, the broken-connection state, pipeline batching, typed-reply
//! checks) lives in one I/O-free module that the async client shares; it
//! adds async transports of its own (Tokio sockets, and the RDMA connection
//! driven by Tokio's reactor).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "tokio")]
mod aio;
mod client;
mod codec;
mod endpoint;
mod error;
pub mod transport;

#[cfg(feature = "tokio")]
pub use aio::{AsyncClient, AsyncPipeline};
pub use client::{Client, Options, Pipeline};
pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use ferrokv_transport::resp::reply::{Reply, ReplyError, ReplyLimits};
pub use ferrokv_transport::resp::write::Protocol;
pub use transport::Transport;
