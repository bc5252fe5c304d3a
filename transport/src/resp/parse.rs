//! Incremental request parser with Valkey's framing rules and error strings.
//!
//! A request is either multibulk (`*N\r\n$len\r\narg\r\n...`) or inline (a line
//! split like a shell command). Multibulk arguments are zero-copy ranges of the
//! caller's buffer; inline arguments are unescaped into the parser's own
//! scratch buffer. Parsing state survives between reads, so a large request
//! arriving in pieces is scanned once.

use memchr::memchr;

use super::num::parse_i64;

/// Longest inline request, or unterminated count line, Valkey accepts.
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk count (Valkey: INT_MAX).
const MULTIBULK_MAX: i64 = i32::MAX as i64;
/// Limits Valkey applies to clients that still have to authenticate.
const UNAUTH_MULTIBULK_MAX: i64 = 10;
const UNAUTH_BULK_MAX: i64 = 16 * 1024;

/// Per-connection limits the parser enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: u64,
    /// True while the connection must still AUTH (tighter limits apply).
    pub unauthenticated: bool,
}

/// A protocol violation. The connection gets `-ERR <message>` and is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    TooBigInline,
    UnbalancedQuotes,
    TooBigMultibulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigBulkCount,
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
    InvalidCrlf,
}

impl ParseError {
    /// Valkey's error text, without the leading "ERR ".
    pub fn message(&self) -> String {
        let what = match self {
            Self::TooBigInline => "too big inline request".to_string(),
            Self::UnbalancedQuotes => "unbalanced quotes in request".to_string(),
            Self::TooBigMultibulkCount => "too big mbulk count string".to_string(),
            Self::InvalidMultibulkLength => "invalid multibulk length".to_string(),
            Self::UnauthenticatedMultibulkLength => "unauthenticated multibulk length".to_string(),
            Self::TooBigBulkCount => "too big bulk count string".to_string(),
            Self::ExpectedDollar(c) => format!("expected '$', got '{}'", *c as char),
            Self::InvalidBulkLength => "invalid bulk length".to_string(),
            Self::UnauthenticatedBulkLength => "unauthenticated bulk length".to_string(),
            Self::InvalidCrlf => "invalid CRLF in request".to_string(),
        };
        format!("Protocol error: {what}")
    }
}

/// Where the argument ranges of a parsed command point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Into the buffer given to [`RequestParser::parse`].
    Multibulk,
    /// Into [`RequestParser::inline_buf`].
    Inline,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command: its arguments are in [`RequestParser::args`]. The
    /// caller consumes `consumed` bytes once done with them.
    Command {
        frame: Frame,
        consumed: usize,
    },
    /// A request with no arguments (empty line, `*0`): consume and ignore.
    Empty {
        consumed: usize,
    },
    /// More bytes are needed.
    Incomplete,
    Error(ParseError),
}

/// Parser state for one connection.
#[derive(Default, Debug)]
pub struct RequestParser {
    /// Offset of the next unparsed byte, relative to the request start.
    cursor: usize,
    /// Bulk arguments still expected in the current multibulk (0: none open).
    multibulk_left: usize,
    /// Length of the bulk argument whose header was read, if any.
    bulk_len: Option<usize>,
    /// (start, len) of each argument of the request being parsed.
    pub args: Vec<(usize, usize)>,
    /// Unescaped inline arguments.
    pub inline_buf: Vec<u8>,
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when part of a request has been parsed and more bytes are due.
    pub fn in_progress(&self) -> bool {
        self.multibulk_left > 0
    }

    /// Parses the request at the start of `buf` (the unconsumed input). After
    /// `Incomplete`, call again with the same start and more bytes appended.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Parsed {
        if buf.is_empty() {
            return Parsed::Incomplete;
        }
        if self.multibulk_left == 0 && self.cursor == 0 && buf[0] != b'*' {
            return self.parse_inline(buf);
        }
        self.parse_multibulk(buf, limits)
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Parsed {
        let Some(nl) = memchr(b'\n', buf) else {
            return if buf.len() > INLINE_MAX {
                Parsed::Error(ParseError::TooBigInline)
            } else {
                Parsed::Incomplete
            };
        };
        let line = if nl > 0 && buf[nl - 1] == b'\r' {
            &buf[..nl - 1]
        } else {
            &buf[..nl]
        };
        self.args.clear();
        self.inline_buf.clear();
        if split_args(line, &mut self.inline_buf, &mut self.args).is_err() {
            return Parsed::Error(ParseError::UnbalancedQuotes);
        }
        let consumed = nl + 1;
        if self.args.is_empty() {
            Parsed::Empty { consumed }
        } else {
            Parsed::Command {
                frame: Frame::Inline,
                consumed,
            }
        }
    }

    /// Reads a `<prefix><integer>\r\n` line at the cursor.
    fn count_line(&self, buf: &[u8]) -> Option<(i64, usize, bool)> {
        let rest = &buf[self.cursor..];
        let cr = memchr(b'\r', rest)?;
        if cr + 1 >= rest.len() {
            return None; // the '\n' has not arrived
        }
        let value = parse_i64(&rest[1..cr]);
        Some((value.unwrap_or(-1), cr + 2, value.is_some()))
    }

    fn parse_multibulk(&mut self, buf: &[u8], limits: &Limits) -> Parsed {
        if self.multibulk_left == 0 {
            let Some((count, line_len, ok)) = self.count_line(buf) else {
                return if buf.len() > INLINE_MAX {
                    Parsed::Error(ParseError::TooBigMultibulkCount)
                } else {
                    Parsed::Incomplete
                };
            };
            if !ok || count > MULTIBULK_MAX {
                return Parsed::Error(ParseError::InvalidMultibulkLength);
            }
            if limits.unauthenticated && count > UNAUTH_MULTIBULK_MAX {
                return Parsed::Error(ParseError::UnauthenticatedMultibulkLength);
            }
            if count <= 0 {
                return Parsed::Empty { consumed: line_len };
            }
            self.cursor = line_len;
            self.multibulk_left = count as usize;
            self.args.clear();
            // Trust the count only so far: the arguments still have to arrive.
            self.args.reserve((count as usize).min(1024));
        }
        while self.multibulk_left > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let rest = &buf[self.cursor..];
                    let Some((len, line_len, ok)) = self.count_line(buf) else {
                        return if rest.len() > INLINE_MAX {
                            Parsed::Error(ParseError::TooBigBulkCount)
                        } else {
                            Parsed::Incomplete
                        };
                    };
                    if rest[0] != b'$' {
                        return Parsed::Error(ParseError::ExpectedDollar(rest[0]));
                    }
                    if !ok || len < 0 || len as u64 > limits.max_bulk_len {
                        return Parsed::Error(ParseError::InvalidBulkLength);
                    }
                    if limits.unauthenticated && len > UNAUTH_BULK_MAX {
                        return Parsed::Error(ParseError::UnauthenticatedBulkLength);
                    }
                    self.cursor += line_len;
                    self.bulk_len = Some(len as usize);
                    len as usize
                }
            };
            if buf.len() - self.cursor < len + 2 {
                return Parsed::Incomplete;
            }
            if &buf[self.cursor + len..self.cursor + len + 2] != b"\r\n" {
                return Parsed::Error(ParseError::InvalidCrlf);
            }
            self.args.push((self.cursor, len));
            self.cursor += len + 2;
            self.bulk_len = None;
            self.multibulk_left -= 1;
        }
        let consumed = std::mem::take(&mut self.cursor);
        Parsed::Command {
            frame: Frame::Multibulk,
            consumed,
        }
    }

    /// Bytes of the current partial request's bulk still to arrive, if the
    /// parser is inside a bulk argument (lets readers size their reads).
    pub fn pending_bulk(&self, buffered: usize) -> Option<usize> {
        self.bulk_len
            .map(|len| (self.cursor + len + 2).saturating_sub(buffered))
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits an inline request line like Valkey 9's `sdssplitargs`: blanks
/// separate arguments; quotes may open and close anywhere inside one, shell
/// style ("a"b is `ab`); "double quotes" understand \n \r \t \b \a \xHH
/// escapes, 'single quotes' only \'. An unclosed quote is an error. As in C,
/// a NUL byte ends the line.
fn split_args(line: &[u8], out: &mut Vec<u8>, args: &mut Vec<(usize, usize)>) -> Result<(), ()> {
    let line = match memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(());
        }
        let start = out.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = at(p);
            if in_dq {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && let (Some(h), Some(l)) = (hex_value(at(p + 2)), hex_value(at(p + 3)))
                {
                    out.push(h * 16 + l);
                    p += 4;
                    continue;
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    in_dq = false;
                } else if c == 0 {
                    return Err(());
                } else {
                    out.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    in_sq = false;
                } else if c == 0 {
                    return Err(());
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => out.push(c),
                }
            }
            p += 1;
        }
        args.push((start, out.len() - start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        unauthenticated: false,
    };

    fn args_of(p: &RequestParser, buf: &[u8], frame: Frame) -> Vec<Vec<u8>> {
        let base = match frame {
            Frame::Multibulk => buf,
            Frame::Inline => &p.inline_buf[..],
        };
        p.args
            .iter()
            .map(|&(s, l)| base[s..s + l].to_vec())
            .collect()
    }

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ParseError> {
        let mut p = RequestParser::new();
        let mut pos = 0;
        let mut cmds = Vec::new();
        loop {
            match p.parse(&input[pos..], &OPEN) {
                Parsed::Command { frame, consumed } => {
                    cmds.push(args_of(&p, &input[pos..], frame));
                    pos += consumed;
                }
                Parsed::Empty { consumed } => pos += consumed,
                Parsed::Incomplete => return Ok(cmds),
                Parsed::Error(e) => return Err(e),
            }
        }
    }

    fn v(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_and_pipeline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(cmds, vec![v(&["GET", "k"]), v(&["PING"])]);
    }

    #[test]
    fn inline_quoting() {
        let cmds = parse_all(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\nping\n\r\n").unwrap();
        assert_eq!(
            cmds,
            vec![
                vec![
                    b"set".to_vec(),
                    b"a b".to_vec(),
                    b"c'd".to_vec(),
                    b"A\n".to_vec()
                ],
                v(&["ping"])
            ]
        );
        assert_eq!(
            parse_all(b"set \"abc\r\n"),
            Err(ParseError::UnbalancedQuotes)
        );
        assert_eq!(
            parse_all(b"set 'abc\r\n"),
            Err(ParseError::UnbalancedQuotes)
        );
        // Valkey 9 joins quoted and unquoted parts of one argument, shell style.
        assert_eq!(
            parse_all(b"echo \"a\"b a\"b c\" 'x'\"y\"\r\n").unwrap(),
            vec![v(&["echo", "ab", "ab c", "xy"])]
        );
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            parse_all(b"*x\r\n"),
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*3000000000\r\n"),
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n:5\r\n"),
            Err(ParseError::ExpectedDollar(b':'))
        );
        assert_eq!(
            parse_all(b"*1\r\n$-1\r\n"),
            Err(ParseError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$4\r\nPINGXX"),
            Err(ParseError::InvalidCrlf)
        );
        assert_eq!(parse_all(b"*1\r\n$4\r\nPING\r"), Ok(vec![]));
        assert_eq!(
            parse_all(b"*1\r\n$600000000\r\n"),
            Err(ParseError::InvalidBulkLength)
        );
        let long = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(parse_all(&long), Err(ParseError::TooBigInline));
        let mut star = b"*".to_vec();
        star.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(parse_all(&star), Err(ParseError::TooBigMultibulkCount));
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = Limits {
            unauthenticated: true,
            ..OPEN
        };
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*11\r\n", &limits),
            Parsed::Error(ParseError::UnauthenticatedMultibulkLength)
        );
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n", &limits),
            Parsed::Error(ParseError::UnauthenticatedBulkLength)
        );
    }

    #[test]
    fn split_at_every_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\0ue\r\nPING\r\n";
        let whole = parse_all(input).unwrap();
        for cut in 0..input.len() {
            let mut p = RequestParser::new();
            let mut buf = input[..cut].to_vec();
            let mut got = Vec::new();
            let mut fed = cut;
            loop {
                match p.parse(&buf, &OPEN) {
                    Parsed::Command { frame, consumed } => {
                        got.push(args_of(&p, &buf, frame));
                        buf.drain(..consumed);
                    }
                    Parsed::Empty { consumed } => {
                        buf.drain(..consumed);
                    }
                    Parsed::Incomplete if fed < input.len() => {
                        buf.push(input[fed]);
                        fed += 1;
                    }
                    Parsed::Incomplete => break,
                    Parsed::Error(e) => panic!("{e:?}"),
                }
            }
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    #[test]
    fn empty_requests_are_skipped() {
        assert_eq!(
            parse_all(b"*0\r\n*-1\r\n\r\n   \r\nPING\r\n").unwrap(),
            vec![v(&["PING"])]
        );
    }

    proptest::proptest! {
        #[test]
        fn encoded_commands_parse_back(cmds in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 1..6), 1..5)) {
            let mut input = Vec::new();
            for cmd in &cmds {
                crate::resp::write::encode_command(&mut input, cmd.iter().map(|a| &a[..]));
            }
            proptest::prop_assert_eq!(parse_all(&input).unwrap(), cmds);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_all(&input);
        }
    }
}
