//! Incremental RESP2 + RESP3 *reply* parser, for clients.
//!
//! Two entry points:
//!
//! * [`parse_reply`]: stateless. Parses one whole reply at the start of a
//!   buffer, or answers `None` when more bytes are needed (call again with the
//!   same start and more bytes appended).
//! * [`ReplyParser`]: the same grammar, resumable. It consumes every complete
//!   element as it goes, so a large aggregate arriving over many reads is
//!   scanned once instead of once per read. Clients reading from a socket
//!   should use it.
//!
//! Both are bounded: announced lengths and counts beyond [`ReplyLimits`] and
//! nesting deeper than `max_depth` are refused with an error before anything
//! is allocated, and no aggregate preallocates more than [`PREALLOC_MAX`]
//! slots from an announced count: memory grows only with bytes received.
//!
//! Streamed RESP3 types (`$?`, `*?` ... with `;` chunks) are refused with
//! [`ReplyError::Streamed`]: Valkey never sends them.

use std::fmt;

use memchr::memchr2;

use super::num::parse_i64;

/// Most slots an aggregate reserves up front from its announced count.
pub const PREALLOC_MAX: usize = 1024;

/// One server reply.
///
/// RESP2 and RESP3 types are kept apart exactly as the server sent them: a
/// RESP2 null bulk string is `Bulk(None)`, a RESP3 null is `Null`; a RESP3
/// blob error (`!`) is an `Error` like a simple error.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+text`
    Simple(Vec<u8>),
    /// `-CODE text` or RESP3 `!len` (blob error).
    Error(Vec<u8>),
    /// `:n`
    Int(i64),
    /// `$len` bulk string; `None` for RESP2's null bulk `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for RESP2's null array `*-1`.
    Array(Option<Vec<Reply>>),
    /// RESP3 `_`
    Null,
    /// RESP3 `#t` / `#f`
    Bool(bool),
    /// RESP3 `,` (including `inf`, `-inf` and `nan`)
    Double(f64),
    /// RESP3 `(`: decimal digits with an optional sign.
    BigNumber(String),
    /// RESP3 `=`: a three-byte format such as `txt` or `mkd`, then the text.
    Verbatim { format: [u8; 3], text: Vec<u8> },
    /// RESP3 `%`: key/value pairs in the order sent.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~`
    Set(Vec<Reply>),
    /// RESP3 `>`: an out-of-band message (Pub/Sub, client tracking).
    Push(Vec<Reply>),
    /// RESP3 `|`: attributes the server attached to the reply that follows.
    Attribute {
        attrs: Vec<(Reply, Reply)>,
        reply: Box<Reply>,
    },
}

impl Reply {
    /// True for `-ERR ...` and RESP3 blob errors.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// True for every kind of null: `$-1`, `*-1` and RESP3 `_`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Null | Reply::Bulk(None) | Reply::Array(None))
    }

    /// The bytes of a simple string, bulk string, verbatim string or error.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Simple(b) | Reply::Error(b) | Reply::Bulk(Some(b)) => Some(b),
            Reply::Verbatim { text, .. } => Some(text),
            Reply::Attribute { reply, .. } => reply.as_bytes(),
            _ => None,
        }
    }

    /// The value of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(v) => Some(*v),
            Reply::Attribute { reply, .. } => reply.as_int(),
            _ => None,
        }
    }

    /// The reply with any attributes removed (at every level).
    pub fn without_attributes(self) -> Reply {
        fn all(v: Vec<Reply>) -> Vec<Reply> {
            v.into_iter().map(Reply::without_attributes).collect()
        }
        fn pairs(v: Vec<(Reply, Reply)>) -> Vec<(Reply, Reply)> {
            v.into_iter()
                .map(|(k, v)| (k.without_attributes(), v.without_attributes()))
                .collect()
        }
        match self {
            Reply::Attribute { reply, .. } => reply.without_attributes(),
            Reply::Array(Some(v)) => Reply::Array(Some(all(v))),
            Reply::Set(v) => Reply::Set(all(v)),
            Reply::Push(v) => Reply::Push(all(v)),
            Reply::Map(v) => Reply::Map(pairs(v)),
            other => other,
        }
    }
}

/// Bounds on what a reply may announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Longest bulk string, blob error or verbatim string (default 512 MiB,
    /// Valkey's default `proto-max-bulk-len`).
    pub max_bulk_len: usize,
    /// Most elements an aggregate may announce (map and attribute: pairs).
    /// Default `i32::MAX`. Nothing is allocated from the count beyond
    /// [`PREALLOC_MAX`], so this only rejects nonsense early.
    pub max_aggregate_len: usize,
    /// Deepest nesting of aggregates (default 128).
    pub max_depth: usize,
    /// Longest line: simple strings, errors, numbers, headers (default 1 MiB).
    pub max_line_len: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self {
            max_bulk_len: 512 * 1024 * 1024,
            max_aggregate_len: i32::MAX as usize,
            max_depth: 128,
            max_line_len: 1024 * 1024,
        }
    }
}

/// Malformed or out-of-bounds reply bytes. The stream cannot be resynchronised
/// after one: the connection should be closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// A byte that starts no RESP type.
    UnknownType(u8),
    /// A length or count that is not an integer ≥ 0 (or -1 where null is allowed).
    InvalidLength(u8),
    /// `:` with text that is not a 64-bit integer.
    InvalidInteger,
    /// `,` with text that is not a double.
    InvalidDouble,
    /// `#` with anything but `t` or `f`.
    InvalidBoolean,
    /// `(` with anything but an optionally signed run of digits.
    InvalidBigNumber,
    /// `=` whose payload is not `fmt:text` with a three-byte format.
    InvalidVerbatim,
    /// `_` followed by something other than CRLF.
    InvalidNull,
    /// A bare CR or LF, or a bulk payload not followed by CRLF.
    InvalidLineEnding,
    /// A line longer than [`ReplyLimits::max_line_len`].
    LineTooLong { max: usize },
    /// A bulk length beyond [`ReplyLimits::max_bulk_len`].
    BulkTooLong { len: u64, max: usize },
    /// An aggregate count beyond [`ReplyLimits::max_aggregate_len`].
    AggregateTooLong { len: u64, max: usize },
    /// Nesting deeper than [`ReplyLimits::max_depth`].
    TooDeep { max: usize },
    /// A streamed RESP3 type (`$?`, `*?` ...), which is not supported.
    Streamed,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType(b) => write!(f, "unknown reply type byte {:?}", *b as char),
            Self::InvalidLength(p) => write!(f, "invalid length in '{}' header", *p as char),
            Self::InvalidInteger => f.write_str("invalid integer reply"),
            Self::InvalidDouble => f.write_str("invalid double reply"),
            Self::InvalidBoolean => f.write_str("invalid boolean reply"),
            Self::InvalidBigNumber => f.write_str("invalid big number reply"),
            Self::InvalidVerbatim => f.write_str("invalid verbatim string reply"),
            Self::InvalidNull => f.write_str("invalid null reply"),
            Self::InvalidLineEnding => f.write_str("invalid line ending (expected CRLF)"),
            Self::LineTooLong { max } => write!(f, "reply line longer than {max} bytes"),
            Self::BulkTooLong { len, max } => {
                write!(f, "bulk length {len} exceeds the limit of {max} bytes")
            }
            Self::AggregateTooLong { len, max } => {
                write!(f, "aggregate of {len} elements exceeds the limit of {max}")
            }
            Self::TooDeep { max } => write!(f, "reply nested deeper than {max} levels"),
            Self::Streamed => f.write_str("streamed RESP3 replies are not supported"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// Parses one reply at the start of `buf` with the default [`ReplyLimits`].
///
/// Returns the reply and the number of bytes it took, or `None` when `buf`
/// holds only part of a reply (nothing is consumed then).
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    parse_reply_with(buf, &ReplyLimits::default())
}

/// [`parse_reply`] with explicit limits.
pub fn parse_reply_with(
    buf: &[u8],
    limits: &ReplyLimits,
) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut parser = ReplyParser::with_limits(*limits);
    Ok(match parser.parse(buf)? {
        (consumed, Some(reply)) => Some((reply, consumed)),
        (_, None) => None,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agg {
    Array,
    Map,
    Set,
    Push,
    Attribute,
}

#[derive(Debug)]
enum FrameKind {
    Agg(Agg),
    /// Attributes read; waiting for the one reply they belong to.
    Attributed(Vec<(Reply, Reply)>),
}

/// An aggregate whose elements are still arriving.
#[derive(Debug)]
struct Frame {
    kind: FrameKind,
    /// Elements still expected (a map of n pairs expects 2n).
    remaining: usize,
    items: Vec<Reply>,
}

enum Item {
    Leaf(Reply),
    Open(Agg, usize),
}

/// A resumable reply parser: keeps the partly received aggregate between calls.
///
/// ```
/// use ferrokv_transport::resp::reply::{Reply, ReplyParser};
///
/// let mut p = ReplyParser::new();
/// let mut buf = b"*2\r\n:1\r\n$3\r\nab".to_vec();
/// let (consumed, reply) = p.parse(&buf).unwrap();
/// assert!(reply.is_none());
/// buf.drain(..consumed); // the parser took "*2\r\n:1\r\n"
/// buf.extend_from_slice(b"c\r\n");
/// let (consumed, reply) = p.parse(&buf).unwrap();
/// assert_eq!(consumed, buf.len());
/// assert_eq!(
///     reply,
///     Some(Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(Some(b"abc".to_vec()))])))
/// );
/// ```
#[derive(Debug, Default)]
pub struct ReplyParser {
    limits: ReplyLimits,
    stack: Vec<Frame>,
}

impl ReplyParser {
    /// A parser with the default [`ReplyLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser with explicit limits.
    pub fn with_limits(limits: ReplyLimits) -> Self {
        Self {
            limits,
            stack: Vec::new(),
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> &ReplyLimits {
        &self.limits
    }

    /// True when no reply is partly parsed.
    pub fn is_idle(&self) -> bool {
        self.stack.is_empty()
    }

    /// Forgets any partly parsed reply (after an error, or a reconnect).
    pub fn reset(&mut self) {
        self.stack.clear();
    }

    /// Parses from the start of `buf`, the bytes not consumed by earlier calls.
    ///
    /// Returns `(consumed, reply)`: the caller must drop the first `consumed`
    /// bytes before the next call, whether or not a reply was completed. At
    /// most one top-level reply is returned per call; bytes after it are left
    /// alone. After an error the parser must be [`reset`](Self::reset) and the
    /// stream abandoned.
    pub fn parse(&mut self, buf: &[u8]) -> Result<(usize, Option<Reply>), ReplyError> {
        let mut pos = 0;
        loop {
            let Some((item, n)) = parse_item(&buf[pos..], &self.limits)? else {
                return Ok((pos, None));
            };
            pos += n;
            let mut value = match item {
                Item::Leaf(reply) => reply,
                Item::Open(agg, count) => {
                    if self.stack.len() >= self.limits.max_depth {
                        return Err(ReplyError::TooDeep {
                            max: self.limits.max_depth,
                        });
                    }
                    let elements = match agg {
                        Agg::Map | Agg::Attribute => count.saturating_mul(2),
                        _ => count,
                    };
                    if elements == 0 {
                        if agg == Agg::Attribute {
                            self.stack.push(Frame {
                                kind: FrameKind::Attributed(Vec::new()),
                                remaining: 1,
                                items: Vec::new(),
                            });
                            continue;
                        }
                        finish(agg, Vec::new())
                    } else {
                        self.stack.push(Frame {
                            kind: FrameKind::Agg(agg),
                            remaining: elements,
                            items: Vec::with_capacity(elements.min(PREALLOC_MAX)),
                        });
                        continue;
                    }
                }
            };
            // Hand the finished value to the aggregates waiting for it.
            loop {
                let Some(mut top) = self.stack.pop() else {
                    return Ok((pos, Some(value)));
                };
                match top.kind {
                    FrameKind::Attributed(attrs) => {
                        value = Reply::Attribute {
                            attrs,
                            reply: Box::new(value),
                        };
                    }
                    FrameKind::Agg(agg) => {
                        top.items.push(value);
                        top.remaining -= 1;
                        if top.remaining > 0 {
                            self.stack.push(top);
                            break;
                        }
                        if agg == Agg::Attribute {
                            // Same depth: the attributes wait for their reply.
                            self.stack.push(Frame {
                                kind: FrameKind::Attributed(pairs(top.items)),
                                remaining: 1,
                                items: Vec::new(),
                            });
                            break;
                        }
                        value = finish(agg, top.items);
                    }
                }
            }
        }
    }
}

fn pairs(items: Vec<Reply>) -> Vec<(Reply, Reply)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

fn finish(agg: Agg, items: Vec<Reply>) -> Reply {
    match agg {
        Agg::Array => Reply::Array(Some(items)),
        Agg::Set => Reply::Set(items),
        Agg::Push => Reply::Push(items),
        // An empty attribute never gets here (it waits for its reply).
        Agg::Map | Agg::Attribute => Reply::Map(pairs(items)),
    }
}

/// The line after the type byte: its content and the bytes it took with CRLF.
fn read_line(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, ReplyError> {
    match memchr2(b'\r', b'\n', buf) {
        None if buf.len() > max => Err(ReplyError::LineTooLong { max }),
        None => Ok(None),
        Some(i) if i > max => Err(ReplyError::LineTooLong { max }),
        Some(i) if buf[i] == b'\n' => Err(ReplyError::InvalidLineEnding),
        Some(i) => match buf.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some((&buf[..i], i + 2))),
            Some(_) => Err(ReplyError::InvalidLineEnding),
        },
    }
}

/// Parses one element: a whole leaf, or the header of an aggregate.
fn parse_item(buf: &[u8], limits: &ReplyLimits) -> Result<Option<(Item, usize)>, ReplyError> {
    let Some(&prefix) = buf.first() else {
        return Ok(None);
    };
    if !matches!(
        prefix,
        b'+' | b'-'
            | b':'
            | b'$'
            | b'*'
            | b'_'
            | b'#'
            | b','
            | b'('
            | b'!'
            | b'='
            | b'%'
            | b'~'
            | b'>'
            | b'|'
    ) {
        return Err(ReplyError::UnknownType(prefix));
    }
    let Some((line, line_len)) = read_line(&buf[1..], limits.max_line_len)? else {
        return Ok(None);
    };
    let header = 1 + line_len;
    let leaf = match prefix {
        b'+' => Reply::Simple(line.to_vec()),
        b'-' => Reply::Error(line.to_vec()),
        b':' => Reply::Int(parse_i64(line).ok_or(ReplyError::InvalidInteger)?),
        b'_' if line.is_empty() => Reply::Null,
        b'_' => return Err(ReplyError::InvalidNull),
        b'#' => match line {
            b"t" => Reply::Bool(true),
            b"f" => Reply::Bool(false),
            _ => return Err(ReplyError::InvalidBoolean),
        },
        b',' => Reply::Double(parse_double(line).ok_or(ReplyError::InvalidDouble)?),
        b'(' => Reply::BigNumber(parse_big_number(line).ok_or(ReplyError::InvalidBigNumber)?),
        b'$' | b'!' | b'=' => {
            if line == b"?" {
                return Err(ReplyError::Streamed);
            }
            let len = match parse_i64(line) {
                Some(-1) if prefix == b'$' => {
                    return Ok(Some((Item::Leaf(Reply::Bulk(None)), header)));
                }
                Some(n) if n >= 0 => n as u64,
                _ => return Err(ReplyError::InvalidLength(prefix)),
            };
            if len > limits.max_bulk_len as u64 {
                return Err(ReplyError::BulkTooLong {
                    len,
                    max: limits.max_bulk_len,
                });
            }
            let len = len as usize;
            let end = header + len;
            let Some(tail) = buf.get(end..end + 2) else {
                return Ok(None);
            };
            if tail != b"\r\n" {
                return Err(ReplyError::InvalidLineEnding);
            }
            let data = &buf[header..end];
            let reply = match prefix {
                b'$' => Reply::Bulk(Some(data.to_vec())),
                b'!' => Reply::Error(data.to_vec()),
                _ => match data {
                    [a, b, c, b':', text @ ..] => Reply::Verbatim {
                        format: [*a, *b, *c],
                        text: text.to_vec(),
                    },
                    _ => return Err(ReplyError::InvalidVerbatim),
                },
            };
            return Ok(Some((Item::Leaf(reply), end + 2)));
        }
        // Aggregates: '*', '%', '~', '>', '|'.
        _ => {
            if line == b"?" {
                return Err(ReplyError::Streamed);
            }
            let count = match parse_i64(line) {
                Some(-1) if prefix == b'*' => {
                    return Ok(Some((Item::Leaf(Reply::Array(None)), header)));
                }
                Some(n) if n >= 0 => n as u64,
                _ => return Err(ReplyError::InvalidLength(prefix)),
            };
            if count > limits.max_aggregate_len as u64 {
                return Err(ReplyError::AggregateTooLong {
                    len: count,
                    max: limits.max_aggregate_len,
                });
            }
            let agg = match prefix {
                b'*' => Agg::Array,
                b'%' => Agg::Map,
                b'~' => Agg::Set,
                b'>' => Agg::Push,
                _ => Agg::Attribute,
            };
            return Ok(Some((Item::Open(agg, count as usize), header)));
        }
    };
    Ok(Some((Item::Leaf(leaf), header)))
}

/// RESP3 doubles: decimal or exponent notation, `inf`, `-inf`, `nan`.
fn parse_double(line: &[u8]) -> Option<f64> {
    std::str::from_utf8(line).ok()?.parse().ok()
}

fn parse_big_number(line: &[u8]) -> Option<String> {
    let digits = match line {
        [b'-' | b'+', rest @ ..] => rest,
        _ => line,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // ASCII only, so this never fails.
    String::from_utf8(line.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::num::format_double;
    use crate::resp::write::{Protocol, ReplyWriter};

    fn bulk(s: &[u8]) -> Reply {
        Reply::Bulk(Some(s.to_vec()))
    }

    fn one(input: &[u8]) -> Reply {
        match parse_reply(input) {
            Ok(Some((reply, n))) => {
                assert_eq!(n, input.len(), "whole input consumed for {input:?}");
                reply
            }
            other => panic!("{input:?} -> {other:?}"),
        }
    }

    fn err(input: &[u8]) -> ReplyError {
        match parse_reply(input) {
            Err(e) => e,
            other => panic!("{input:?} should fail, got {other:?}"),
        }
    }

    /// Feeds `chunks` to one resumable parser; returns every reply completed.
    fn feed(chunks: &[&[u8]]) -> Result<Vec<Reply>, ReplyError> {
        let mut p = ReplyParser::new();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                let (n, reply) = p.parse(&buf)?;
                buf.drain(..n);
                match reply {
                    Some(r) => out.push(r),
                    None => break,
                }
            }
        }
        assert!(buf.is_empty(), "unparsed bytes left: {buf:?}");
        assert!(p.is_idle());
        Ok(out)
    }

    /// A RESP3 encoder of arbitrary replies (independent of ReplyWriter), so
    /// the tests can build inputs ReplyWriter never emits.
    fn encode(r: &Reply, out: &mut Vec<u8>) {
        fn line(out: &mut Vec<u8>, prefix: u8, text: &[u8]) {
            out.push(prefix);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        fn blob(out: &mut Vec<u8>, prefix: u8, data: &[u8]) {
            line(out, prefix, data.len().to_string().as_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        match r {
            Reply::Simple(s) => line(out, b'+', s),
            Reply::Error(s) => line(out, b'-', s),
            Reply::Int(v) => line(out, b':', v.to_string().as_bytes()),
            Reply::Bulk(None) => line(out, b'$', b"-1"),
            Reply::Bulk(Some(b)) => blob(out, b'$', b),
            Reply::Array(None) => line(out, b'*', b"-1"),
            Reply::Array(Some(v)) | Reply::Set(v) | Reply::Push(v) => {
                let p = match r {
                    Reply::Set(_) => b'~',
                    Reply::Push(_) => b'>',
                    _ => b'*',
                };
                line(out, p, v.len().to_string().as_bytes());
                v.iter().for_each(|e| encode(e, out));
            }
            Reply::Null => line(out, b'_', b""),
            Reply::Bool(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Reply::Double(d) => line(out, b',', format_double(*d).as_bytes()),
            Reply::BigNumber(s) => line(out, b'(', s.as_bytes()),
            Reply::Verbatim { format, text } => {
                let mut data = format.to_vec();
                data.push(b':');
                data.extend_from_slice(text);
                blob(out, b'=', &data);
            }
            Reply::Map(kv) => {
                line(out, b'%', kv.len().to_string().as_bytes());
                for (k, v) in kv {
                    encode(k, out);
                    encode(v, out);
                }
            }
            Reply::Attribute { attrs, reply } => {
                line(out, b'|', attrs.len().to_string().as_bytes());
                for (k, v) in attrs {
                    encode(k, out);
                    encode(v, out);
                }
                encode(reply, out);
            }
        }
    }

    /// Every type, nested, including forms ReplyWriter does not produce.
    fn corpus() -> Vec<Reply> {
        vec![
            Reply::Simple(b"OK".to_vec()),
            Reply::Simple(Vec::new()),
            Reply::Error(b"ERR wrong".to_vec()),
            Reply::Int(i64::MIN),
            Reply::Int(0),
            bulk(b""),
            bulk(b"a\r\nb\0\xff"),
            Reply::Bulk(None),
            Reply::Array(None),
            Reply::Array(Some(vec![])),
            Reply::Null,
            Reply::Bool(true),
            Reply::Bool(false),
            Reply::Double(1.5),
            Reply::Double(f64::NEG_INFINITY),
            Reply::Double(1e-300),
            Reply::BigNumber("-123456789012345678901234567890".into()),
            Reply::Verbatim {
                format: *b"txt",
                text: b"Some string\r\n".to_vec(),
            },
            Reply::Map(vec![]),
            Reply::Map(vec![
                (Reply::Simple(b"first".to_vec()), Reply::Int(1)),
                (
                    bulk(b"second"),
                    Reply::Set(vec![Reply::Null, Reply::Bool(false)]),
                ),
            ]),
            Reply::Set(vec![]),
            Reply::Push(vec![bulk(b"message"), bulk(b"chan"), bulk(b"hello")]),
            Reply::Attribute {
                attrs: vec![(bulk(b"ttl"), Reply::Int(3600))],
                reply: Box::new(Reply::Array(Some(vec![
                    Reply::Int(2039123),
                    Reply::Int(9543892),
                ]))),
            },
            Reply::Attribute {
                attrs: vec![],
                reply: Box::new(Reply::Null),
            },
            Reply::Array(Some(vec![
                Reply::Array(Some(vec![
                    Reply::Array(Some(vec![Reply::Int(1)])),
                    Reply::Array(None),
                ])),
                Reply::Attribute {
                    attrs: vec![(Reply::Simple(b"a".to_vec()), Reply::Map(vec![]))],
                    reply: Box::new(bulk(b"x")),
                },
                Reply::Map(vec![(
                    Reply::Array(Some(vec![])),
                    Reply::Set(vec![Reply::Int(7)]),
                )]),
            ])),
        ]
    }

    #[test]
    fn resp2_types() {
        assert_eq!(one(b"+OK\r\n"), Reply::Simple(b"OK".to_vec()));
        assert_eq!(one(b"-ERR bad\r\n"), Reply::Error(b"ERR bad".to_vec()));
        assert_eq!(one(b":-42\r\n"), Reply::Int(-42));
        assert_eq!(one(b"$5\r\nhello\r\n"), bulk(b"hello"));
        assert_eq!(one(b"$0\r\n\r\n"), bulk(b""));
        assert_eq!(one(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(one(b"*-1\r\n"), Reply::Array(None));
        assert_eq!(one(b"*0\r\n"), Reply::Array(Some(vec![])));
        assert_eq!(
            one(b"*3\r\n:1\r\n$-1\r\n*1\r\n+x\r\n"),
            Reply::Array(Some(vec![
                Reply::Int(1),
                Reply::Bulk(None),
                Reply::Array(Some(vec![Reply::Simple(b"x".to_vec())]))
            ]))
        );
    }

    #[test]
    fn resp3_types() {
        assert_eq!(one(b"_\r\n"), Reply::Null);
        assert_eq!(one(b"#t\r\n"), Reply::Bool(true));
        assert_eq!(one(b"#f\r\n"), Reply::Bool(false));
        assert_eq!(one(b",1.23\r\n"), Reply::Double(1.23));
        assert_eq!(one(b",10\r\n"), Reply::Double(10.0));
        assert_eq!(one(b",1e+20\r\n"), Reply::Double(1e20));
        assert_eq!(one(b",inf\r\n"), Reply::Double(f64::INFINITY));
        assert_eq!(one(b",-inf\r\n"), Reply::Double(f64::NEG_INFINITY));
        assert!(matches!(one(b",nan\r\n"), Reply::Double(d) if d.is_nan()));
        assert_eq!(
            one(b"(3492890328409238509324850943850943825024385\r\n"),
            Reply::BigNumber("3492890328409238509324850943850943825024385".into())
        );
        assert_eq!(
            one(b"!21\r\nSYNTAX invalid syntax\r\n"),
            Reply::Error(b"SYNTAX invalid syntax".to_vec())
        );
        assert_eq!(
            one(b"=15\r\ntxt:Some string\r\n"),
            Reply::Verbatim {
                format: *b"txt",
                text: b"Some string".to_vec()
            }
        );
        assert_eq!(
            one(b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
            Reply::Map(vec![
                (Reply::Simple(b"first".to_vec()), Reply::Int(1)),
                (Reply::Simple(b"second".to_vec()), Reply::Int(2)),
            ])
        );
        assert_eq!(
            one(b"~2\r\n+a\r\n:1\r\n"),
            Reply::Set(vec![Reply::Simple(b"a".to_vec()), Reply::Int(1)])
        );
        assert_eq!(
            one(b">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n"),
            Reply::Push(vec![
                Reply::Simple(b"invalidate".to_vec()),
                Reply::Array(Some(vec![bulk(b"k")]))
            ])
        );
        // The attribute example of the RESP3 specification.
        let r = one(b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n");
        let Reply::Attribute { attrs, reply } = &r else {
            panic!("{r:?}")
        };
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].0, Reply::Simple(b"key-popularity".to_vec()));
        assert_eq!(
            **reply,
            Reply::Array(Some(vec![Reply::Int(2039123), Reply::Int(9543892)]))
        );
        assert_eq!(
            r.clone().without_attributes(),
            Reply::Array(Some(vec![Reply::Int(2039123), Reply::Int(9543892)]))
        );
        // An attribute inside an aggregate belongs to the element after it.
        assert_eq!(
            one(b"*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n"),
            Reply::Array(Some(vec![
                Reply::Attribute {
                    attrs: vec![(Reply::Simple(b"k".to_vec()), Reply::Simple(b"v".to_vec()))],
                    reply: Box::new(Reply::Int(1)),
                },
                Reply::Int(2)
            ]))
        );
    }

    #[test]
    fn helpers() {
        assert!(one(b"-ERR x\r\n").is_error());
        assert!(!one(b"+OK\r\n").is_error());
        for nil in [&b"_\r\n"[..], b"$-1\r\n", b"*-1\r\n"] {
            assert!(one(nil).is_nil(), "{nil:?}");
        }
        assert!(!one(b"$0\r\n\r\n").is_nil());
        assert_eq!(one(b"$2\r\nhi\r\n").as_bytes(), Some(&b"hi"[..]));
        assert_eq!(one(b"=6\r\ntxt:hi\r\n").as_bytes(), Some(&b"hi"[..]));
        assert_eq!(one(b":5\r\n").as_bytes(), None);
        assert_eq!(one(b":5\r\n").as_int(), Some(5));
        assert_eq!(one(b"|0\r\n:5\r\n").as_int(), Some(5));
        assert_eq!(one(b"+5\r\n").as_int(), None);
    }

    #[test]
    fn leaves_bytes_after_the_reply() {
        let input = b"+OK\r\n:1\r\n$1\r\nx";
        let (r, n) = parse_reply(input).unwrap().unwrap();
        assert_eq!((r, n), (Reply::Simple(b"OK".to_vec()), 5));
        let (r, n) = parse_reply(&input[5..]).unwrap().unwrap();
        assert_eq!((r, n), (Reply::Int(1), 4));
        assert_eq!(parse_reply(&input[9..]), Ok(None));
        assert_eq!(parse_reply(b""), Ok(None));
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert_eq!(err(b"?x\r\n"), ReplyError::UnknownType(b'?'));
        assert_eq!(err(b"HTTP/1.1"), ReplyError::UnknownType(b'H'));
        assert_eq!(err(b":12a\r\n"), ReplyError::InvalidInteger);
        assert_eq!(err(b":\r\n"), ReplyError::InvalidInteger);
        assert_eq!(
            err(b":99999999999999999999\r\n"),
            ReplyError::InvalidInteger
        );
        assert_eq!(err(b"$-2\r\n"), ReplyError::InvalidLength(b'$'));
        assert_eq!(err(b"$x\r\n"), ReplyError::InvalidLength(b'$'));
        assert_eq!(err(b"!-1\r\n"), ReplyError::InvalidLength(b'!'));
        assert_eq!(err(b"%-1\r\n"), ReplyError::InvalidLength(b'%'));
        assert_eq!(err(b"*-2\r\n"), ReplyError::InvalidLength(b'*'));
        assert_eq!(err(b"$3\r\nabcd\r\n"), ReplyError::InvalidLineEnding);
        assert_eq!(err(b"+OK\rX"), ReplyError::InvalidLineEnding);
        assert_eq!(err(b"+OK\n"), ReplyError::InvalidLineEnding);
        assert_eq!(err(b"_x\r\n"), ReplyError::InvalidNull);
        assert_eq!(err(b"#x\r\n"), ReplyError::InvalidBoolean);
        assert_eq!(err(b",1.5x\r\n"), ReplyError::InvalidDouble);
        assert_eq!(err(b",\r\n"), ReplyError::InvalidDouble);
        assert_eq!(err(b"(12a\r\n"), ReplyError::InvalidBigNumber);
        assert_eq!(err(b"(-\r\n"), ReplyError::InvalidBigNumber);
        assert_eq!(err(b"=3\r\ntxt\r\n"), ReplyError::InvalidVerbatim);
        assert_eq!(err(b"=5\r\ntxtxy\r\n"), ReplyError::InvalidVerbatim);
        assert_eq!(err(b"$?\r\n"), ReplyError::Streamed);
        assert_eq!(err(b"*?\r\n"), ReplyError::Streamed);
        // An error inside an aggregate surfaces too.
        assert_eq!(err(b"*2\r\n:1\r\n#z\r\n"), ReplyError::InvalidBoolean);
    }

    #[test]
    fn absurd_lengths_are_refused_without_allocating() {
        assert_eq!(
            err(b"$9223372036854775807\r\n"),
            ReplyError::BulkTooLong {
                len: i64::MAX as u64,
                max: 512 * 1024 * 1024
            }
        );
        assert_eq!(
            err(b"*4294967296\r\n"),
            ReplyError::AggregateTooLong {
                len: 1 << 32,
                max: i32::MAX as usize
            }
        );
        // A large but allowed count reserves only PREALLOC_MAX slots: the
        // parser waits for the elements instead of allocating for them.
        let mut p = ReplyParser::new();
        assert_eq!(p.parse(b"*2000000000\r\n:1\r\n"), Ok((17, None)));
        assert_eq!(p.stack[0].items.capacity(), PREALLOC_MAX);
        let mut p = ReplyParser::new();
        assert_eq!(p.parse(b"%2000000000\r\n"), Ok((13, None)));
        assert_eq!(p.stack[0].remaining, 4_000_000_000);
        assert_eq!(p.stack[0].items.capacity(), PREALLOC_MAX);

        let small = ReplyLimits {
            max_bulk_len: 10,
            max_aggregate_len: 3,
            max_depth: 2,
            max_line_len: 8,
        };
        let run = |input: &[u8]| parse_reply_with(input, &small);
        assert_eq!(run(b"$10\r\n0123456789\r\n").map(|r| r.is_some()), Ok(true));
        assert_eq!(
            run(b"$11\r\n"),
            Err(ReplyError::BulkTooLong { len: 11, max: 10 })
        );
        assert_eq!(
            run(b"=11\r\n"),
            Err(ReplyError::BulkTooLong { len: 11, max: 10 })
        );
        assert_eq!(
            run(b"*4\r\n"),
            Err(ReplyError::AggregateTooLong { len: 4, max: 3 })
        );
        assert_eq!(
            run(b"%4\r\n"),
            Err(ReplyError::AggregateTooLong { len: 4, max: 3 })
        );
        assert_eq!(run(b"*1\r\n*1\r\n:1\r\n").map(|r| r.is_some()), Ok(true));
        assert_eq!(
            run(b"*1\r\n*1\r\n*1\r\n"),
            Err(ReplyError::TooDeep { max: 2 })
        );
        assert_eq!(
            run(b"|1\r\n:1\r\n:1\r\n*1\r\n*1\r\n"),
            Err(ReplyError::TooDeep { max: 2 })
        );
        assert_eq!(run(b"+12345678\r\n").map(|r| r.is_some()), Ok(true));
        assert_eq!(
            run(b"+123456789\r\n"),
            Err(ReplyError::LineTooLong { max: 8 })
        );
        // Refused as soon as the limit is passed, without waiting for CRLF.
        assert_eq!(run(b"+123456789"), Err(ReplyError::LineTooLong { max: 8 }));
        assert_eq!(run(b"+12345678"), Ok(None));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = b"*1\r\n".repeat(129);
        assert_eq!(err(&deep), ReplyError::TooDeep { max: 128 });
        let mut ok = b"*1\r\n".repeat(128);
        ok.extend_from_slice(b":1\r\n");
        let mut want = Reply::Int(1);
        for _ in 0..128 {
            want = Reply::Array(Some(vec![want]));
        }
        assert_eq!(one(&ok), want);
    }

    #[test]
    fn corpus_round_trips() {
        for r in corpus() {
            let mut buf = Vec::new();
            encode(&r, &mut buf);
            let got = one(&buf);
            assert_eq!(got, r, "{}", String::from_utf8_lossy(&buf));
        }
    }

    #[test]
    fn split_at_every_byte() {
        let replies = corpus();
        let mut all = Vec::new();
        for r in &replies {
            let mut buf = Vec::new();
            encode(r, &mut buf);
            // Stateless: every strict prefix is incomplete, never an error.
            for k in 0..buf.len() {
                assert_eq!(parse_reply(&buf[..k]), Ok(None), "{r:?} cut at {k}");
            }
            // Resumable: any two pieces give back the reply.
            for k in 0..=buf.len() {
                assert_eq!(
                    feed(&[&buf[..k], &buf[k..]]),
                    Ok(vec![r.clone()]),
                    "{r:?} split at {k}"
                );
            }
            all.extend_from_slice(&buf);
        }
        // Everything at once, and one byte at a time.
        assert_eq!(feed(&[&all]), Ok(replies.clone()));
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(feed(&bytes), Ok(replies));
    }

    // --- round trip against ReplyWriter ------------------------------------

    /// What a command may write through ReplyWriter.
    #[derive(Clone, Debug)]
    enum Model {
        Ok,
        Simple(String),
        Error(Vec<u8>),
        Int(i64),
        Bulk(Vec<u8>),
        Null,
        NullArray,
        Double(f64),
        Bool(bool),
        BigNumber(String),
        Verbatim(Vec<u8>),
        Array(Vec<Model>),
        Map(Vec<(Model, Model)>),
        Set(Vec<Model>),
        Push(Vec<Model>),
    }

    fn write(m: &Model, w: &mut ReplyWriter) {
        match m {
            Model::Ok => w.ok(),
            Model::Simple(s) => w.simple(s),
            Model::Error(e) => w.error(e),
            Model::Int(v) => w.int(*v),
            Model::Bulk(b) => w.bulk(b),
            Model::Null => w.null(),
            Model::NullArray => w.null_array(),
            Model::Double(d) => w.double(*d),
            Model::Bool(b) => w.boolean(*b),
            Model::BigNumber(s) => w.big_number(s),
            Model::Verbatim(t) => w.verbatim("txt", t),
            Model::Array(v) => {
                w.array(v.len());
                v.iter().for_each(|e| write(e, w));
            }
            Model::Set(v) => {
                w.set(v.len());
                v.iter().for_each(|e| write(e, w));
            }
            Model::Push(v) => {
                w.push(v.len());
                v.iter().for_each(|e| write(e, w));
            }
            Model::Map(kv) => {
                w.map(kv.len());
                for (k, v) in kv {
                    write(k, w);
                    write(v, w);
                }
            }
        }
    }

    /// The reply a client must see for `m` in protocol `p`.
    fn expected(m: &Model, p: Protocol) -> Reply {
        let r3 = p == Protocol::Resp3;
        let all = |v: &[Model]| v.iter().map(|e| expected(e, p)).collect::<Vec<_>>();
        match m {
            Model::Ok => Reply::Simple(b"OK".to_vec()),
            Model::Simple(s) => Reply::Simple(s.as_bytes().to_vec()),
            Model::Error(e) => Reply::Error(
                e.iter()
                    .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
                    .collect(),
            ),
            Model::Int(v) => Reply::Int(*v),
            Model::Bulk(b) => Reply::Bulk(Some(b.clone())),
            Model::Null if r3 => Reply::Null,
            Model::Null => Reply::Bulk(None),
            Model::NullArray if r3 => Reply::Null,
            Model::NullArray => Reply::Array(None),
            Model::Double(d) if r3 => Reply::Double(*d),
            Model::Double(d) => Reply::Bulk(Some(format_double(*d).into_bytes())),
            Model::Bool(b) if r3 => Reply::Bool(*b),
            Model::Bool(b) => Reply::Int(*b as i64),
            Model::BigNumber(s) if r3 => Reply::BigNumber(s.clone()),
            Model::BigNumber(s) => Reply::Bulk(Some(s.clone().into_bytes())),
            Model::Verbatim(t) if r3 => Reply::Verbatim {
                format: *b"txt",
                text: t.clone(),
            },
            Model::Verbatim(t) => Reply::Bulk(Some(t.clone())),
            Model::Array(v) => Reply::Array(Some(all(v))),
            Model::Set(v) if r3 => Reply::Set(all(v)),
            Model::Push(v) if r3 => Reply::Push(all(v)),
            Model::Set(v) | Model::Push(v) => Reply::Array(Some(all(v))),
            Model::Map(kv) if r3 => Reply::Map(
                kv.iter()
                    .map(|(k, v)| (expected(k, p), expected(v, p)))
                    .collect(),
            ),
            Model::Map(kv) => Reply::Array(Some(
                kv.iter()
                    .flat_map(|(k, v)| [expected(k, p), expected(v, p)])
                    .collect(),
            )),
        }
    }

    /// Equality that treats NaN as equal to NaN (the writer sends "nan").
    fn same(a: &Reply, b: &Reply) -> bool {
        let all = |x: &[Reply], y: &[Reply]| {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        };
        match (a, b) {
            (Reply::Double(x), Reply::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
            (Reply::Array(Some(x)), Reply::Array(Some(y)))
            | (Reply::Set(x), Reply::Set(y))
            | (Reply::Push(x), Reply::Push(y)) => all(x, y),
            (Reply::Map(x), Reply::Map(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((a, b), (c, d))| same(a, c) && same(b, d))
            }
            _ => a == b,
        }
    }

    fn model() -> impl proptest::strategy::Strategy<Value = Model> {
        use proptest::prelude::*;
        let bytes = proptest::collection::vec(any::<u8>(), 0..24);
        let leaf = prop_oneof![
            Just(Model::Ok),
            "[a-zA-Z0-9 ]{0,12}".prop_map(Model::Simple),
            bytes.clone().prop_map(Model::Error),
            any::<i64>().prop_map(Model::Int),
            bytes.clone().prop_map(Model::Bulk),
            Just(Model::Null),
            Just(Model::NullArray),
            prop_oneof![
                any::<f64>(),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(f64::NAN),
                (-1000i32..1000).prop_map(|v| f64::from(v) / 8.0),
            ]
            .prop_map(Model::Double),
            any::<bool>().prop_map(Model::Bool),
            "-?[1-9][0-9]{0,40}".prop_map(Model::BigNumber),
            bytes.prop_map(Model::Verbatim),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Model::Array),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Model::Set),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Model::Push),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Model::Map),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn writer_round_trip(
            models in proptest::collection::vec(model(), 1..5),
            cuts in proptest::collection::vec(proptest::num::usize::ANY, 0..6),
        ) {
            for proto in [Protocol::Resp2, Protocol::Resp3] {
                let mut w = ReplyWriter { proto, ..Default::default() };
                for m in &models {
                    write(m, &mut w);
                }
                let buf = w.buf;
                let want: Vec<Reply> = models.iter().map(|m| expected(m, proto)).collect();

                // Stateless, reply after reply.
                let mut pos = 0;
                for (i, want) in want.iter().enumerate() {
                    let (got, n) = parse_reply(&buf[pos..]).unwrap().unwrap();
                    proptest::prop_assert!(same(&got, want), "{proto:?} reply {i}: {got:?} != {want:?}");
                    pos += n;
                }
                proptest::prop_assert_eq!(pos, buf.len());

                // Resumable, fed in random pieces.
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (buf.len() + 1)).collect();
                cuts.sort_unstable();
                let mut pieces = Vec::new();
                let mut start = 0;
                for c in cuts.into_iter().chain([buf.len()]) {
                    pieces.push(&buf[start..c]);
                    start = c;
                }
                let got = feed(&pieces).unwrap();
                proptest::prop_assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    proptest::prop_assert!(same(g, w), "{proto:?} pieces: {g:?} != {w:?}");
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            // A reply, a need for more bytes, or an error: never a panic, and
            // never more bytes consumed than given.
            if let Ok(Some((_, n))) = parse_reply(&input) {
                proptest::prop_assert!(n > 0 && n <= input.len());
            }
            let mut p = ReplyParser::new();
            if let Ok((n, _)) = p.parse(&input) {
                proptest::prop_assert!(n <= input.len());
            }
        }

        #[test]
        fn corrupted_replies_never_panic(idx in 0usize..25, pos in proptest::num::usize::ANY, byte in proptest::num::u8::ANY) {
            let corpus = corpus();
            let mut buf = Vec::new();
            encode(&corpus[idx % corpus.len()], &mut buf);
            let at = pos % buf.len();
            buf[at] = byte;
            // Either a reply, a need for more bytes, or an error: never a panic.
            if let Ok(Some((_, n))) = parse_reply(&buf) {
                proptest::prop_assert!(n <= buf.len());
            }
        }
    }
}
