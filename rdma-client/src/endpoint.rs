//! Where to connect.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::Error;

/// A server address and the transport to reach it with.
///
/// Parse one from text with [`str::parse`]:
///
/// | text | endpoint |
/// |---|---|
/// | `tcp://127.0.0.1:6379`, `127.0.0.1:6379`, `localhost:6379` | `Tcp` |
/// | `unix:///tmp/ferrokv.sock`, `/tmp/ferrokv.sock` | `Unix` |
/// | `rdma://10.0.0.1:6379` | `Rdma` |
///
/// ```
/// use ferrokv_rdma_client::Endpoint;
///
/// let e: Endpoint = "tcp://127.0.0.1:6379".parse().unwrap();
/// assert_eq!(e, Endpoint::tcp("127.0.0.1", 6379));
/// assert_eq!(e.to_string(), "tcp://127.0.0.1:6379");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP to `host:port` (a name, an IPv4 address, or `[v6]:port`).
    Tcp(String),
    /// A Unix domain socket at this path.
    Unix(PathBuf),
    /// RDMA (Valkey's RDMA wire protocol) to `host:port`, the server's
    /// `rdma-port`. On a host without RDMA connecting returns
    /// [`Error::Unavailable`].
    Rdma(String),
}

impl Endpoint {
    /// `Tcp("host:port")`, bracketing IPv6 literals.
    pub fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp(host_port(host, port))
    }

    /// `Unix(path)`.
    pub fn unix(path: impl Into<PathBuf>) -> Endpoint {
        Endpoint::Unix(path.into())
    }

    /// `Rdma("host:port")`, bracketing IPv6 literals.
    pub fn rdma(host: &str, port: u16) -> Endpoint {
        Endpoint::Rdma(host_port(host, port))
    }

    /// The transport's name: `"tcp"`, `"unix"` or `"rdma"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::Tcp(_) => "tcp",
            Endpoint::Unix(_) => "unix",
            Endpoint::Rdma(_) => "rdma",
        }
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn check_host_port(s: &str) -> Result<String, Error> {
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(s.to_string()),
        _ => Err(Error::InvalidEndpoint(format!("{s:?}: expected host:port"))),
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Endpoint, Error> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            Ok(Endpoint::Tcp(check_host_port(rest)?))
        } else if let Some(rest) = s.strip_prefix("rdma://") {
            Ok(Endpoint::Rdma(check_host_port(rest)?))
        } else if let Some(rest) = s.strip_prefix("unix://") {
            if rest.is_empty() {
                return Err(Error::InvalidEndpoint(format!("{s:?}: empty socket path")));
            }
            Ok(Endpoint::Unix(PathBuf::from(rest)))
        } else if s.starts_with('/') || s.starts_with("./") {
            Ok(Endpoint::Unix(PathBuf::from(s)))
        } else if s.contains("://") {
            Err(Error::InvalidEndpoint(format!(
                "{s:?}: unknown scheme (use tcp://, unix:// or rdma://)"
            )))
        } else {
            Ok(Endpoint::Tcp(check_host_port(s)?))
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Rdma(a) => write!(f, "rdma://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for (text, want) in [
            ("tcp://h:1", Endpoint::Tcp("h:1".into())),
            ("h:6379", Endpoint::Tcp("h:6379".into())),
            ("[::1]:6379", Endpoint::Tcp("[::1]:6379".into())),
            (
                "rdma://10.0.0.1:6379",
                Endpoint::Rdma("10.0.0.1:6379".into()),
            ),
            ("unix:///tmp/x.sock", Endpoint::Unix("/tmp/x.sock".into())),
            ("/tmp/x.sock", Endpoint::Unix("/tmp/x.sock".into())),
        ] {
            assert_eq!(text.parse::<Endpoint>().unwrap(), want, "{text}");
        }
        for bad in [
            "h",
            "h:",
            ":1",
            "h:99999",
            "tcp://",
            "unix://",
            "tls://h:1",
            "rdma://h",
        ] {
            assert!(
                matches!(bad.parse::<Endpoint>(), Err(Error::InvalidEndpoint(_))),
                "{bad}"
            );
        }
        assert_eq!(Endpoint::tcp("::1", 7).to_string(), "tcp://[::1]:7");
        assert_eq!(Endpoint::rdma("h", 7).to_string(), "rdma://h:7");
        assert_eq!(Endpoint::unix("/s").to_string(), "unix:///s");
        assert_eq!(Endpoint::unix("/s").kind(), "unix");
    }
}
