//! Reply encoding for RESP2 and RESP3. Commands write through [`ReplyWriter`]
//! in protocol-neutral terms (map, set, double, null ...); it emits the form the
//! connection negotiated, with Valkey's RESP2 fallbacks.

use super::num::{format_double, integral_double, push_i64};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// A connection's pending output: replies are appended here and flushed by
/// the transport in as few writes as possible.
#[derive(Default, Debug)]
pub struct ReplyWriter {
    pub buf: Vec<u8>,
    pub proto: Protocol,
}

impl ReplyWriter {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn header(&mut self, prefix: u8, n: usize) {
        self.buf.push(prefix);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    fn is_resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// `+text`: `text` must not contain CR or LF.
    pub fn simple(&mut self, text: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `-text`: `text` starts with the error code ("ERR ...", "WRONGTYPE ...").
    /// Newlines would break framing, so they become spaces, as in Valkey.
    pub fn error(&mut self, text: impl AsRef<[u8]>) {
        self.buf.push(b'-');
        self.buf.extend(
            text.as_ref()
                .iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, v: i64) {
        self.buf.push(b':');
        push_i64(&mut self.buf, v);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len());
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_i64(&mut self, v: i64) {
        self.bulk(itoa::Buffer::new().format(v).as_bytes());
    }

    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    #[inline]
    pub fn null(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// Where an array whose length is not known yet starts: its elements
    /// are written next, then [`ReplyWriter::array_at`] puts the header in
    /// front of them (Valkey's deferred length), so a reply can be written
    /// in one pass over its source.
    pub fn deferred_array(&self) -> usize {
        self.buf.len()
    }

    /// The header of an array of `n` elements, inserted at `at` (from
    /// [`ReplyWriter::deferred_array`]).
    pub fn array_at(&mut self, at: usize, n: usize) {
        let mut header = Vec::with_capacity(24);
        header.push(b'*');
        header.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        header.extend_from_slice(b"\r\n");
        self.buf.splice(at..at, header);
    }

    /// A map of `n` pairs (RESP2: an array of 2n elements).
    pub fn map(&mut self, n: usize) {
        if self.is_resp3() {
            self.header(b'%', n);
        } else {
            self.header(b'*', 2 * n);
        }
    }

    /// A set of `n` elements (RESP2: an array).
    pub fn set(&mut self, n: usize) {
        let prefix = if self.is_resp3() { b'~' } else { b'*' };
        self.header(prefix, n);
    }

    /// An out-of-band push of `n` elements (RESP2: an array).
    pub fn push(&mut self, n: usize) {
        let prefix = if self.is_resp3() { b'>' } else { b'*' };
        self.header(prefix, n);
    }

    /// A double (RESP2: its text as a bulk string).
    pub fn double(&mut self, v: f64) {
        // Integral scores (the usual kind) are formatted without allocating.
        let mut digits = itoa::Buffer::new();
        let formatted;
        let text = match integral_double(v) {
            Some(i) => digits.format(i).as_bytes(),
            None => {
                formatted = format_double(v);
                formatted.as_bytes()
            }
        };
        if self.is_resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// A boolean (RESP2: the integer 1 or 0).
    pub fn boolean(&mut self, v: bool) {
        if self.is_resp3() {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// A big number given as decimal text (RESP2: a bulk string).
    pub fn big_number(&mut self, digits: &str) {
        if self.is_resp3() {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }

    /// Verbatim text with a three-letter format such as "txt" (RESP2: bulk).
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.is_resp3() {
            debug_assert_eq!(format.len(), 3);
            self.header(b'=', text.len() + 4);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Encodes a command as a multibulk request (what clients send).
pub fn encode_command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    let mut w = ReplyWriter {
        buf: std::mem::take(out),
        proto: Protocol::Resp2,
    };
    w.array(args.len());
    for a in args {
        w.bulk(a);
    }
    *out = w.buf;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(f: impl Fn(&mut ReplyWriter)) -> (String, String) {
        let mut r2 = ReplyWriter::new();
        f(&mut r2);
        let mut r3 = ReplyWriter {
            proto: Protocol::Resp3,
            ..Default::default()
        };
        f(&mut r3);
        (
            String::from_utf8(r2.buf).unwrap(),
            String::from_utf8(r3.buf).unwrap(),
        )
    }

    #[test]
    fn deferred_array_length_goes_in_front() {
        let mut w = ReplyWriter::new();
        w.int(1);
        let at = w.deferred_array();
        for k in ["a", "bc"] {
            w.bulk(k.as_bytes());
        }
        w.array_at(at, 2);
        w.ok();
        assert_eq!(w.buf, b":1\r\n*2\r\n$1\r\na\r\n$2\r\nbc\r\n+OK\r\n");
    }

    #[test]
    fn resp2_and_resp3_forms() {
        assert_eq!(both(|w| w.null()), ("$-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(|w| w.null_array()), ("*-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(|w| w.map(2)), ("*4\r\n".into(), "%2\r\n".into()));
        assert_eq!(both(|w| w.set(3)), ("*3\r\n".into(), "~3\r\n".into()));
        assert_eq!(both(|w| w.push(3)), ("*3\r\n".into(), ">3\r\n".into()));
        assert_eq!(
            both(|w| w.double(1.5)),
            ("$3\r\n1.5\r\n".into(), ",1.5\r\n".into())
        );
        assert_eq!(
            both(|w| w.boolean(true)),
            (":1\r\n".into(), "#t\r\n".into())
        );
        assert_eq!(
            both(|w| w.big_number("12345678901234567890")),
            (
                "$20\r\n12345678901234567890\r\n".into(),
                "(12345678901234567890\r\n".into()
            )
        );
        assert_eq!(
            both(|w| w.verbatim("txt", b"hi")),
            ("$2\r\nhi\r\n".into(), "=6\r\ntxt:hi\r\n".into())
        );
        assert_eq!(
            both(|w| w.error("ERR a\r\nb")),
            ("-ERR a  b\r\n".into(), "-ERR a  b\r\n".into())
        );
        assert_eq!(both(|w| w.int(-7)), (":-7\r\n".into(), ":-7\r\n".into()));
        assert_eq!(
            both(|w| w.bulk(b"")),
            ("$0\r\n\r\n".into(), "$0\r\n\r\n".into())
        );
    }
}
