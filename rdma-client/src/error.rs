//! The client's error type.

use std::fmt;
use std::io;
use std::time::Duration;

use ferrokv_transport::resp::reply::{Reply, ReplyError};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a server.
///
/// [`Error::is_connection_error`] tells the errors after which the connection
/// is out of step with the server (a reply may be half read, or still on its
/// way): the [`Client`](crate::Client) then refuses further commands with
/// [`Error::Broken`], and the caller should connect again.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error not covered by a more specific variant.
    Io(io::Error),
    /// A connect, read or write did not finish within its timeout.
    Timeout {
        /// `"connect"`, `"read"` or `"write"`.
        op: &'static str,
        /// The timeout that expired.
        after: Duration,
    },
    /// The server closed the connection (or reset it).
    Disconnected,
    /// The server sent bytes that are not valid RESP (or exceed the limits).
    Protocol(ReplyError),
    /// The server answered with an error reply (`-ERR ...`), as seen by a
    /// typed helper such as [`Client::get`](crate::Client::get). The text is
    /// the whole error line, starting with its code (`ERR`, `WRONGTYPE` ...).
    Server(String),
    /// A typed helper got a well-formed reply of a type it did not expect.
    UnexpectedReply {
        /// What the helper expected, e.g. `"bulk string or nil"`.
        expected: &'static str,
        /// What the server sent.
        got: Box<Reply>,
    },
    /// The transport asked for cannot be used on this host: RDMA without
    /// rdma-core or without a device. The text says why ("RDMA unavailable: ...").
    Unavailable(String),
    /// An endpoint string that could not be understood.
    InvalidEndpoint(String),
    /// An earlier connection error left this connection unusable; the text
    /// is that error.
    Broken(String),
}

impl Error {
    /// True when the connection can no longer be used after this error.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Io(_)
                | Error::Timeout { .. }
                | Error::Disconnected
                | Error::Protocol(_)
                | Error::Broken(_)
        )
    }

    /// True for a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Maps an I/O error from operation `op` (whose timeout was `timeout`)
    /// to the most specific variant.
    pub fn from_io(err: io::Error, op: &'static str, timeout: Option<Duration>) -> Error {
        use io::ErrorKind::*;
        match err.kind() {
            // SO_RCVTIMEO / SO_SNDTIMEO expiring shows up as EAGAIN.
            WouldBlock | TimedOut => Error::Timeout {
                op,
                after: timeout.unwrap_or_default(),
            },
            BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof | NotConnected => {
                Error::Disconnected
            }
            _ => Error::Io(err),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Timeout { op, after } => write!(f, "{op} timed out after {after:?}"),
            Error::Disconnected => f.write_str("connection closed by the server"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Server(msg) => write!(f, "server error: {msg}"),
            Error::UnexpectedReply { expected, got } => {
                write!(f, "unexpected reply: expected {expected}, got {got:?}")
            }
            Error::Unavailable(why) => f.write_str(why),
            Error::InvalidEndpoint(why) => write!(f, "invalid endpoint: {why}"),
            Error::Broken(why) => write!(
                f,
                "connection unusable after an earlier error ({why}); reconnect"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ReplyError> for Error {
    fn from(e: ReplyError) -> Self {
        Error::Protocol(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_specific_variants() {
        let t = Some(Duration::from_millis(5));
        let e = Error::from_io(io::ErrorKind::WouldBlock.into(), "read", t);
        assert!(
            matches!(e, Error::Timeout { op: "read", after } if after == Duration::from_millis(5))
        );
        assert_eq!(e.to_string(), "read timed out after 5ms");
        let e = Error::from_io(io::ErrorKind::ConnectionReset.into(), "read", t);
        assert!(matches!(e, Error::Disconnected));
        let e = Error::from_io(io::ErrorKind::BrokenPipe.into(), "write", t);
        assert!(matches!(e, Error::Disconnected));
        let e = Error::from_io(io::ErrorKind::PermissionDenied.into(), "connect", t);
        assert!(matches!(e, Error::Io(_)));
        assert!(e.is_connection_error());
        assert!(!Error::Server("ERR x".into()).is_connection_error());
        assert!(!Error::Unavailable("x".into()).is_connection_error());
    }
}
