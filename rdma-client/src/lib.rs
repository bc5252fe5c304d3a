//! A blocking client for ferrokv (and Valkey): RESP2 and RESP3 over TCP,
//! Unix sockets or RDMA (Valkey's RDMA wire protocol), one API for all.
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
//! Structure: [`Client`] owns a [`Transport`] (send bytes, receive bytes),
//! encodes requests with `ferrokv-transport`'s RESP writer and decodes
//! replies with its [`ReplyParser`](ferrokv_transport::resp::reply::ReplyParser).
//! [`Endpoint::Rdma`] (`rdma://host:port`) connects over RDMA: the same
//! client over one more [`Transport`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod endpoint;
mod error;
pub mod transport;

pub use client::{Client, Options, Pipeline};
pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use ferrokv_transport::resp::reply::{Reply, ReplyError, ReplyLimits};
pub use ferrokv_transport::resp::write::Protocol;
pub use transport::Transport;
