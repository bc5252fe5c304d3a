//! Batch key prefetch: before a read's pipelined commands run, a light
//! pass over the input finds each command's first argument after the name
//! (the key of most commands), and the keyspace prefetches their buckets
//! and entries, so the lookups that follow hit the cache instead of each
//! waiting on memory in turn. It is only a hint: input it does not
//! understand (inline commands, a frame cut short) ends the pass, and a
//! command without keys costs one wasted hash.

/// Each complete multibulk command at the start of `input`, in order, as
/// its `argv[1]` (None for a command with no arguments). Callers take a
/// bounded number: a pass never reads further than the commands it yields.
pub fn first_keys(input: &[u8]) -> FirstKeys<'_> {
    FirstKeys { input }
}

pub struct FirstKeys<'a> {
    input: &'a [u8],
}

impl<'a> Iterator for FirstKeys<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Option<&'a [u8]>> {
        let (argc, mut rest) = header(self.input, b'*')?;
        let mut key = None;
        for i in 0..argc {
            let (len, after) = header(rest, b'$')?;
            let arg = after.get(..len)?;
            rest = after.get(len..)?.strip_prefix(b"\r\n")?;
            if i == 1 {
                key = Some(arg);
            }
        }
        self.input = rest;
        Some(key)
    }
}

/// `<kind><digits>\r\n` at the start of `input`: the number and the rest.
fn header(input: &[u8], kind: u8) -> Option<(usize, &[u8])> {
    let rest = input.strip_prefix(&[kind])?;
    let end = rest.iter().take(20).position(|&b| b == b'\r')?;
    let digits = std::str::from_utf8(&rest[..end]).ok()?;
    let n = digits.parse::<usize>().ok()?;
    Some((n, rest[end..].strip_prefix(b"\r\n")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_argument_of_whole_commands() {
        let input = b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n*2\r\n$3\r\nGET\r\n$3\r\nba";
        let keys: Vec<Option<&[u8]>> = first_keys(input).collect();
        assert_eq!(keys, [Some(&b"foo"[..]), None, Some(b"k")]);
        assert_eq!(first_keys(b"GET foo\r\n").count(), 0);
        assert_eq!(first_keys(b"*2\r\n$-1\r\n").count(), 0);
        assert_eq!(first_keys(b"*99999999999999999999999\r\n").count(), 0);
        assert_eq!(first_keys(b"").count(), 0);
    }
}
