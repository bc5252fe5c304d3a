//! ferrokv's wire layer: the RESP codec (request parser, RESP2/RESP3 reply
//! writer) and the pluggable transports that carry it.
//!
//! Everything above this crate sees a transport only through [`Connection`] and
//! [`Listener`], so TLS and RDMA plug in without touching the executor.

pub mod net;
pub mod rdma;
pub mod resp;
pub mod tls;

pub use net::{Connection, Listener, TransportKind};
pub use resp::parse::{Frame, Limits, ParseError, Parsed, RequestParser};
pub use resp::reply::{Reply, ReplyError, ReplyLimits, ReplyParser, parse_reply};
pub use resp::write::{Protocol, ReplyWriter};
