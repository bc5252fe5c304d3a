//! Wire-level tests over raw sockets: protocol errors, framing across
//! arbitrary read boundaries, pipelining, inline commands, binary safety,
//! limits (proto-max-bulk-len, client-query-buffer-limit, maxclients,
//! unauthenticated limits, idle timeout), unix sockets, slow readers.
//! Expected bytes are Valkey 9.1's.

mod common;

use common::{Conn, Server, encode, parse, show};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const PONG: &[u8] = b"+PONG\r\n";
const OK: &[u8] = b"+OK\r\n";

/// Sends `input` on a fresh connection and asserts the reply is exactly
/// `expected`, after which the server closes the connection.
fn assert_protocol_error(server: &Server, input: &[u8], expected: &[u8]) {
    let mut c = server.conn();
    c.send_until_reply(input, 4096);
    let got = c
        .read_reply()
        .unwrap_or_else(|e| panic!("input {}: no reply: {e}", show(input)));
    assert_eq!(
        show(&got),
        show(expected),
        "input {}",
        show(&input[..input.len().min(80)])
    );
    c.expect_closed();
}

#[test]
fn protocol_errors_reply_then_close() {
    let mut server = Server::start(&[]);
    let invalid_multibulk = b"-ERR Protocol error: invalid multibulk length\r\n";
    let invalid_bulk = b"-ERR Protocol error: invalid bulk length\r\n";
    let cases: Vec<(Vec<u8>, &[u8])> = vec![
        (b"*abc\r\n".to_vec(), invalid_multibulk),
        (b"*2147483648\r\n".to_vec(), invalid_multibulk),
        (b"*99999999999999999999\r\n".to_vec(), invalid_multibulk),
        (b"* 1\r\n".to_vec(), invalid_multibulk),
        (b"*01\r\n".to_vec(), invalid_multibulk),
        (b"*1x\r\n".to_vec(), invalid_multibulk),
        (b"*1\r\n$abc\r\n".to_vec(), invalid_bulk),
        (b"*1\r\n$-1\r\n".to_vec(), invalid_bulk),
        (b"*1\r\n$+4\r\n".to_vec(), invalid_bulk),
        (b"*1\r\n$ 4\r\n".to_vec(), invalid_bulk),
        (b"*1\r\n$536870913\r\n".to_vec(), invalid_bulk),
        (b"*1\r\n$9223372036854775808\r\n".to_vec(), invalid_bulk),
        (
            b"*1\r\nx\r\n".to_vec(),
            b"-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        (
            b"*1\r\n:4\r\n".to_vec(),
            b"-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*2\r\n$4\r\nECHO\r\n*1\r\n".to_vec(),
            b"-ERR Protocol error: expected '$', got '*'\r\n",
        ),
        (
            b"*1\r\n$4\r\nPINGXX".to_vec(),
            b"-ERR Protocol error: invalid CRLF in request\r\n",
        ),
        (
            b"*1\r\n$4\r\nPING\rX".to_vec(),
            b"-ERR Protocol error: invalid CRLF in request\r\n",
        ),
        (
            b"SET \"a\r\n".to_vec(),
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"SET 'a\r\n".to_vec(),
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"ECHO \"a\r\n".to_vec(),
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            vec![b'x'; 70_000],
            b"-ERR Protocol error: too big inline request\r\n",
        ),
        (
            [b"*".as_slice(), &[b'1'; 70_000]].concat(),
            b"-ERR Protocol error: too big mbulk count string\r\n",
        ),
        (
            [b"*1\r\n$".as_slice(), &[b'1'; 70_000]].concat(),
            b"-ERR Protocol error: too big bulk count string\r\n",
        ),
    ];
    for (input, expected) in &cases {
        assert_protocol_error(&server, input, expected);
    }
    server.assert_healthy();
}

#[test]
fn protocol_error_after_valid_commands_in_same_packet() {
    let mut server = Server::start(&[]);
    let mut c = server.conn();
    // Two commands are answered, then the error, then the connection closes;
    // the command after the bad frame is never executed.
    let mut input = b"PING\r\n".to_vec();
    input.extend(encode(&["SET", "before", "1"]));
    input.extend(b"*1\r\nx\r\n");
    input.extend(encode(&["SET", "after", "1"]));
    c.send_raw(&input);
    assert_eq!(c.read_reply().unwrap(), PONG);
    assert_eq!(c.read_reply().unwrap(), OK);
    assert_eq!(
        c.read_reply().unwrap(),
        b"-ERR Protocol error: expected '$', got 'x'\r\n"
    );
    c.expect_closed();
    let mut d = server.conn();
    assert_eq!(d.cmd(&["GET", "before"]), b"$1\r\n1\r\n");
    assert_eq!(d.cmd(&["GET", "after"]), b"$-1\r\n");
    server.assert_healthy();
}

#[test]
fn empty_and_null_multibulk_are_ignored() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    c.send_raw(b"*0\r\n*-1\r\n*0\r\nPING\r\n");
    assert_eq!(c.read_reply().unwrap(), PONG);
    c.send_raw(b"\r\n\r\n   \r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(c.read_reply().unwrap(), PONG);
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn empty_command_name_is_unknown() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    c.send_raw(b"*1\r\n$0\r\n\r\n");
    assert_eq!(
        c.read_reply().unwrap(),
        b"-ERR unknown command '', with args beginning with: \r\n"
    );
    assert_eq!(c.cmd(&["PING"]), PONG);
}

/// A pipeline mixing multibulk and inline commands, binary data with CRLF
/// inside bulk strings, empty arguments and RESP-lookalike payloads.
fn mixed_pipeline() -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut input = Vec::new();
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut add = |bytes: Vec<u8>, reply: &[u8]| {
        input.extend(bytes);
        expected.push(reply.to_vec());
    };
    add(b"PING\r\n".to_vec(), PONG);
    add(encode(&["SET", "k1", "v\r\n$3\r\nfoo\r\n"]), OK);
    add(encode(&["GET", "k1"]), b"$12\r\nv\r\n$3\r\nfoo\r\n\r\n");
    add(b"SET k2 \"quoted value\"\r\n".to_vec(), OK);
    add(b"GET k2\n".to_vec(), b"$12\r\nquoted value\r\n");
    add(encode(&["SET", "", ""]), OK);
    add(encode(&["GET", ""]), b"$0\r\n\r\n");
    add(encode(&["SET", "counter", "0"]), OK);
    add(b"\r\nINCR counter\r\n".to_vec(), b":1\r\n");
    add(encode(&["INCRBY", "counter", "41"]), b":42\r\n");
    add(
        encode(&["ECHO", "*1\r\n$4\r\nPING\r\n"]),
        b"$14\r\n*1\r\n$4\r\nPING\r\n\r\n",
    );
    add(
        encode(&["MGET", "k1", "nosuch", ""]),
        b"*3\r\n$12\r\nv\r\n$3\r\nfoo\r\n\r\n$-1\r\n$0\r\n\r\n",
    );
    add(
        b"ECHO 'single quoted'\r\n".to_vec(),
        b"$13\r\nsingle quoted\r\n",
    );
    add(encode(&["DEL", "k1", "k2", ""]), b":3\r\n");
    add(b"*1\r\n$4\r\nping\r\n".to_vec(), PONG);
    (input, expected)
}

fn read_expected(c: &mut Conn, expected: &[Vec<u8>], context: &str) {
    for (i, want) in expected.iter().enumerate() {
        let got = c
            .read_reply()
            .unwrap_or_else(|e| panic!("{context}: reply {i}: {e}"));
        assert_eq!(show(&got), show(want), "{context}: reply {i}");
    }
}

#[test]
fn pipeline_sent_byte_by_byte() {
    let server = Server::start(&[]);
    let (input, expected) = mixed_pipeline();
    let mut c = server.conn();
    for (i, b) in input.iter().enumerate() {
        c.send_raw(&[*b]);
        if i % 8 == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
    read_expected(&mut c, &expected, "byte by byte");
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn pipeline_split_at_every_byte_boundary() {
    let server = Server::start(&[]);
    let (input, expected) = mixed_pipeline();
    let mut c = server.conn();
    for split in 0..=input.len() {
        c.send_raw(&input[..split]);
        std::thread::sleep(Duration::from_millis(1));
        c.send_raw(&input[split..]);
        read_expected(&mut c, &expected, &format!("split at {split}"));
    }
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn big_argument_split_at_interesting_boundaries() {
    let server = Server::start(&[]);
    let value: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let cmd = encode(&[b"SET".as_slice(), b"big", &value]);
    let header_end = cmd.len() - value.len() - 2;
    let splits = [
        1,
        5,
        header_end - 5,
        header_end - 1,
        header_end,
        header_end + 1,
        header_end + 16 * 1024,
        header_end + 32 * 1024,
        header_end + 64 * 1024,
        cmd.len() - 2,
        cmd.len() - 1,
    ];
    let mut c = server.conn();
    for split in splits {
        c.send_raw(&cmd[..split]);
        std::thread::sleep(Duration::from_millis(20));
        c.send_raw(&cmd[split..]);
        assert_eq!(c.read_reply().unwrap(), OK, "split at {split}");
        let got = c.cmd(&["GET", "big"]);
        let mut want = format!("${}\r\n", value.len()).into_bytes();
        want.extend_from_slice(&value);
        want.extend_from_slice(b"\r\n");
        assert!(got == want, "GET big after split at {split}");
        assert_eq!(c.cmd(&["DEL", "big"]), b":1\r\n");
    }
}

#[test]
fn thousand_command_pipeline_in_one_write() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    let mut input = Vec::new();
    for i in 0..1000 {
        match i % 4 {
            0 => input.extend(encode(&["SET", &format!("key:{i}"), &format!("value:{i}")])),
            1 => input.extend(encode(&["GET", &format!("key:{}", i - 1)])),
            2 => input.extend(encode(&["INCR", "counter"])),
            _ => input.extend(format!("EXISTS key:{} nosuch\r\n", i - 3).into_bytes()),
        }
    }
    c.send_raw(&input);
    let mut incr = 0;
    for i in 0..1000 {
        let got = c.read_reply().unwrap_or_else(|e| panic!("reply {i}: {e}"));
        let want = match i % 4 {
            0 => OK.to_vec(),
            1 => {
                let v = format!("value:{}", i - 1);
                format!("${}\r\n{v}\r\n", v.len()).into_bytes()
            }
            2 => {
                incr += 1;
                format!(":{incr}\r\n").into_bytes()
            }
            _ => b":1\r\n".to_vec(),
        };
        assert_eq!(show(&got), show(&want), "reply {i}");
    }
    assert_eq!(c.cmd(&["DBSIZE"]), b":251\r\n");
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn inline_commands() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    let cases: &[(&[u8], &[u8])] = &[
        (b"PING\r\n", PONG),
        (b"PING\n", PONG),
        (b"ping\r\n", PONG),
        (b"PING\r\r\n", PONG),
        (b"   PING   \r\n", PONG),
        (b"PING hello\r\n", b"$5\r\nhello\r\n"),
        (b"  ECHO    hello  \r\n", b"$5\r\nhello\r\n"),
        (b"ECHO \"a b\"\r\n", b"$3\r\na b\r\n"),
        (b"ECHO 'a b'\r\n", b"$3\r\na b\r\n"),
        (b"ECHO \"\\x41\\x42\"\r\n", b"$2\r\nAB\r\n"),
        (b"ECHO \"tab\\there\"\r\n", b"$8\r\ntab\there\r\n"),
        (b"ECHO \"\\r\\n\"\r\n", b"$2\r\n\r\n\r\n"),
        (b"ECHO \"a\\\"b\"\r\n", b"$3\r\na\"b\r\n"),
        (b"ECHO 'it\\'s'\r\n", b"$4\r\nit's\r\n"),
        (b"ECHO \"\\q\"\r\n", b"$1\r\nq\r\n"),
        (b"ECHO \"\"\r\n", b"$0\r\n\r\n"),
        (b"ECHO ''\r\n", b"$0\r\n\r\n"),
        // Valkey 9 joins a quoted string with what directly follows it.
        (b"ECHO \"a\"b\r\n", b"$2\r\nab\r\n"),
        (b"ECHO a\"b\"\r\n", b"$2\r\nab\r\n"),
        (b"ECHO \"a\"\"b\"\r\n", b"$2\r\nab\r\n"),
        (b"ECHO 'a'b\r\n", b"$2\r\nab\r\n"),
        (b"SET inl \"quoted value\"\r\n", OK),
        (b"GET inl\r\n", b"$12\r\nquoted value\r\n"),
        (
            b"ECHO a b\r\n",
            b"-ERR wrong number of arguments for 'echo' command\r\n",
        ),
        (
            b"ECHO a\tb\r\n",
            b"-ERR wrong number of arguments for 'echo' command\r\n",
        ),
        (
            b"NOSUCH a b\r\n",
            b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n",
        ),
    ];
    for (input, want) in cases {
        c.send_raw(input);
        let got = c
            .read_reply()
            .unwrap_or_else(|e| panic!("inline {}: {e}", show(input)));
        assert_eq!(show(&got), show(want), "inline {}", show(input));
    }
    // blank lines produce no reply
    c.send_raw(b"\r\n\n   \r\n");
    c.expect_silence(Duration::from_millis(200));
    // an inline line just under the 64 KiB limit is fine
    let mut long = b"ECHO ".to_vec();
    long.extend(vec![b'z'; 60_000]);
    long.extend(b"\r\n");
    c.send_raw(&long);
    let got = c.read_reply().unwrap();
    assert!(got.starts_with(b"$60000\r\nzzz"), "{}", show(&got[..20]));
}

#[test]
fn binary_keys_and_values() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    let all: Vec<u8> = (0..=255u8).collect();
    assert_eq!(c.cmd(&[b"SET".as_slice(), &all, &all]), OK);
    let mut want = b"$256\r\n".to_vec();
    want.extend_from_slice(&all);
    want.extend_from_slice(b"\r\n");
    assert_eq!(c.cmd(&[b"GET".as_slice(), &all]), want);
    assert_eq!(c.cmd(&[b"STRLEN".as_slice(), &all]), b":256\r\n");
    assert_eq!(c.cmd(&[b"EXISTS".as_slice(), &all]), b":1\r\n");
    // every single-byte key, value = the byte repeated
    for b in 0..=255u8 {
        assert_eq!(c.cmd(&[b"SET".as_slice(), &[b], &[b, b]]), OK);
    }
    let mut mget: Vec<Vec<u8>> = vec![b"MGET".to_vec()];
    mget.extend((0..=255u8).map(|b| vec![b]));
    let reply = c.val(&mget);
    let items = reply.items();
    assert_eq!(items.len(), 256);
    for (b, v) in items.iter().enumerate() {
        assert_eq!(v.as_bytes(), Some(&[b as u8, b as u8][..]), "key byte {b}");
    }
    // empty key and empty value
    assert_eq!(c.cmd(&["SET", "", ""]), OK);
    assert_eq!(c.cmd(&["GET", ""]), b"$0\r\n\r\n");
    assert_eq!(c.cmd(&["STRLEN", ""]), b":0\r\n");
    assert_eq!(c.cmd(&["APPEND", "", "x"]), b":1\r\n");
    assert_eq!(c.cmd(&["GET", ""]), b"$1\r\nx\r\n");
    // 256 single-byte keys + the all-bytes key + ""
    assert_eq!(c.cmd(&["DBSIZE"]), b":258\r\n");
    let keys = c.val(&["KEYS", "*"]);
    assert!(keys.items().iter().any(|k| k.as_bytes() == Some(&all[..])));
    assert!(
        keys.items()
            .iter()
            .any(|k| k.as_bytes() == Some(b"\n".as_slice()))
    );
    assert!(
        keys.items()
            .iter()
            .any(|k| k.as_bytes() == Some(b"\0".as_slice()))
    );
}

#[test]
fn huge_multibulk_count_is_not_preallocated() {
    let mut server = Server::start(&[]);
    let before = server.rss_kb();
    let mut hogs = Vec::new();
    for _ in 0..4 {
        let mut c = server.conn();
        c.send_raw(b"*2147483647\r\n");
        hogs.push(c);
    }
    for _ in 0..4 {
        let mut c = server.conn();
        // 512 MiB bulk announced (the default proto-max-bulk-len), never sent
        c.send_raw(b"*1048576\r\n$536870912\r\n");
        hogs.push(c);
    }
    // The server keeps serving others, promptly.
    let mut other = server.conn();
    let start = Instant::now();
    for i in 0..50 {
        assert_eq!(other.cmd(&["SET", "k", &i.to_string()]), OK);
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    let after = server.rss_kb();
    assert!(
        after < before + 256 * 1024,
        "RSS grew from {before} KiB to {after} KiB for announced-but-unsent data"
    );
    // The announcing connections are still open and waiting.
    for c in &mut hogs {
        c.expect_silence(Duration::from_millis(50));
    }
    drop(hogs);
    server.assert_healthy();
}

#[test]
fn clients_disconnecting_mid_command() {
    let mut server = Server::start(&[]);
    let full = encode(&["SET", "partial", "value-that-never-completes"]);
    let cuts = [1, 3, 4, 8, 12, 20, full.len() - 3, full.len() - 1];
    for cut in cuts {
        let mut c = server.conn();
        c.send_raw(&full[..cut]);
        std::thread::sleep(Duration::from_millis(5));
        drop(c);
    }
    // half-closed after a partial command (TCP only: RDMA has no half-close)
    let c = server.tcp_conn();
    let common::Stream::Tcp(mut s) = c.stream else {
        unreachable!("tcp_conn gives TCP")
    };
    s.write_all(&full[..10]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "unexpected reply {}", show(&rest));
    // partial inline command, then disconnect
    let mut c = server.conn();
    c.send_raw(b"SET partial inline");
    drop(c);
    // a client that disconnects while a big reply is being written
    let mut w = server.conn();
    assert_eq!(
        w.cmd(&[b"SET".as_slice(), b"big", &vec![b'x'; 1 << 20]]),
        OK
    );
    for _ in 0..10 {
        let mut c = server.conn();
        for _ in 0..10 {
            c.send(&["GET", "big"]);
        }
        drop(c);
    }
    std::thread::sleep(Duration::from_millis(100));
    let mut c = server.conn();
    assert_eq!(c.cmd(&["GET", "partial"]), b"$-1\r\n");
    assert_eq!(c.cmd(&["STRLEN", "big"]), b":1048576\r\n");
    server.assert_healthy();
}

#[test]
fn quit_in_a_pipeline_stops_processing() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    let mut input = encode(&["SET", "a", "1"]);
    input.extend(encode(&["QUIT"]));
    input.extend(encode(&["SET", "b", "1"]));
    c.send_raw(&input);
    assert_eq!(c.read_reply().unwrap(), OK);
    assert_eq!(c.read_reply().unwrap(), OK);
    c.expect_closed();
    let mut d = server.conn();
    assert_eq!(d.cmd(&["EXISTS", "a", "b"]), b":1\r\n");
}

#[test]
fn client_kill_closes_the_target() {
    let server = Server::start(&[]);
    let mut victim = server.conn();
    let id = victim.int(&["CLIENT", "ID"]);
    let mut killer = server.conn();
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        b":1\r\n"
    );
    victim.expect_closed();
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
        b":0\r\n"
    );
    // old form: CLIENT KILL addr:port
    let mut victim2 = server.conn();
    let info = victim2.str(&["CLIENT", "INFO"]);
    let addr = info
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_string();
    assert_eq!(killer.cmd(&["CLIENT", "KILL", &addr]), OK);
    victim2.expect_closed();
    // SKIPME defaults to yes for the filter form: a client does not kill
    // itself unless it says SKIPME no, and then it gets the reply first.
    let self_id = killer.int(&["CLIENT", "ID"]).to_string();
    assert_eq!(killer.cmd(&["CLIENT", "KILL", "ID", &self_id]), b":0\r\n");
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ID", &self_id, "SKIPME", "no"]),
        b":1\r\n"
    );
    killer.expect_closed();
}

#[test]
fn client_ids_are_unique_and_increasing() {
    let server = Server::start(&[]);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let mut c = server.conn();
        ids.push(c.int(&["CLIENT", "ID"]));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let mut c = server.conn();
    let id = c.int(&["CLIENT", "ID"]);
    let hello = c.val(&["HELLO", "3"]);
    assert_eq!(hello.field("id"), Some(common::Value::Int(id)));
    let info = c.str(&["CLIENT", "INFO"]);
    assert!(info.starts_with(&format!("id={id} ")), "{info}");
}

/// Reads a large pipelined reply slowly: every byte must arrive, in order,
/// while the server keeps serving other clients.
#[test]
fn slow_reader_gets_every_byte() {
    let server = Server::start(&[]);
    let value: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let mut c = server.conn();
    assert_eq!(c.cmd(&[b"SET".as_slice(), b"big", &value]), OK);
    let mut input = Vec::new();
    for _ in 0..50 {
        input.extend(encode(&["GET", "big"]));
    }
    input.extend(encode(&["PING"]));
    c.send_raw(&input);
    // let the server fill the socket buffers and hit EAGAIN
    std::thread::sleep(Duration::from_millis(300));
    let mut other = server.conn();
    assert_eq!(other.cmd(&["PING"]), PONG, "server blocked by slow reader");
    let header = format!("${}\r\n", value.len()).into_bytes();
    let s = &mut c.stream;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut got_replies = 0;
    let mut read_total = 0usize;
    let expected_total = 50 * (header.len() + value.len() + 2) + PONG.len();
    while read_total < expected_total {
        let n = s.read(&mut chunk).expect("read from slow reader socket");
        assert!(n > 0, "connection closed after {read_total} bytes");
        read_total += n;
        pending.extend_from_slice(&chunk[..n]);
        // consume complete replies
        loop {
            if got_replies < 50 {
                let need = header.len() + value.len() + 2;
                if pending.len() < need {
                    break;
                }
                assert_eq!(
                    &pending[..header.len()],
                    &header[..],
                    "reply {got_replies} header"
                );
                assert!(
                    pending[header.len()..header.len() + value.len()] == value[..],
                    "reply {got_replies} payload differs"
                );
                assert_eq!(&pending[need - 2..need], b"\r\n");
                pending.drain(..need);
                got_replies += 1;
            } else {
                break;
            }
        }
        if read_total % (4 * 1024 * 1024) < n {
            std::thread::sleep(Duration::from_millis(5));
            if got_replies % 10 == 5 {
                assert_eq!(other.cmd(&["PING"]), PONG);
            }
        }
    }
    assert_eq!(got_replies, 50);
    assert_eq!(pending, PONG);
}

#[test]
fn proto_max_bulk_len_is_enforced() {
    let mut server = Server::start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = server.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "proto-max-bulk-len"]),
        b"*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n1048576\r\n"
    );
    // exactly the limit is accepted
    let max = vec![b'm'; 1024 * 1024];
    assert_eq!(c.cmd(&[b"SET".as_slice(), b"max", &max]), OK);
    assert_eq!(c.cmd(&["STRLEN", "max"]), b":1048576\r\n");
    // growing past it with APPEND / SETRANGE is refused
    let err: &[u8] = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    assert_eq!(c.cmd(&["APPEND", "max", "x"]), err);
    assert_eq!(c.cmd(&["SETRANGE", "max", "1048576", "x"]), err);
    assert_eq!(c.cmd(&["SETRANGE", "new", "1048576", "x"]), err);
    assert_eq!(c.cmd(&["SETRANGE", "max", "1048575", "y"]), b":1048576\r\n");
    assert_eq!(c.cmd(&["STRLEN", "max"]), b":1048576\r\n");
    // one byte more in a request is a protocol error
    assert_protocol_error(
        &server,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    server.assert_healthy();
}

#[test]
fn client_query_buffer_limit_is_enforced() {
    let mut server = Server::start(&["--client-query-buffer-limit", "1mb"]);
    let mut c = server.conn();
    // Many small commands totalling more than the limit are fine: the
    // buffer is consumed as commands run.
    let mut input = Vec::new();
    for i in 0..20_000 {
        input.extend(encode(&[
            b"SET".as_slice(),
            format!("k{i}").as_bytes(),
            &[b'v'; 100],
        ]));
    }
    assert!(input.len() > 2 * 1024 * 1024);
    let reader = {
        let mut r = c.stream_clone();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            while got.len() < 20_000 * OK.len() {
                let n = r.read(&mut buf).expect("read pipeline replies");
                assert!(n > 0, "closed after {} reply bytes", got.len());
                got.extend_from_slice(&buf[..n]);
            }
            got
        })
    };
    c.send_raw(&input);
    let got = reader.join().unwrap();
    assert!(got.chunks(OK.len()).all(|r| r == OK));
    assert_eq!(c.cmd(&["DBSIZE"]), b":20000\r\n");
    // half the limit in one argument is fine
    let half = vec![b'h'; 512 * 1024];
    let reply = c.cmd(&[b"ECHO".as_slice(), &half]);
    assert_eq!(
        reply.len(),
        half.len() + format!("${}\r\n\r\n", half.len()).len()
    );
    // one argument bigger than the limit: the connection is closed, no reply
    let mut big = server.conn();
    let _ = big.try_send_raw(&encode(&[b"ECHO".as_slice(), &vec![b'b'; 2 * 1024 * 1024]]));
    big.expect_closed();
    assert!(big.buffered().is_empty());
    server.assert_healthy();
}

#[test]
fn unauthenticated_limits_with_requirepass() {
    let mut server = Server::start(&["--requirepass", "pw"]);
    assert_protocol_error(
        &server,
        b"*11\r\n",
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    assert_protocol_error(
        &server,
        b"*1\r\n$16385\r\n",
        b"-ERR Protocol error: unauthenticated bulk length\r\n",
    );
    // at the limits: nothing happens yet, the connection stays open
    let mut c = server.conn();
    c.send_raw(b"*10\r\n");
    c.expect_silence(Duration::from_millis(200));
    let mut c = server.conn();
    c.send_raw(b"*1\r\n$16384\r\n");
    c.expect_silence(Duration::from_millis(200));
    // unauthenticated commands are refused but the connection stays usable
    let mut c = server.conn();
    assert_eq!(
        c.cmd(&["GET", "k"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd(&["AUTH", "pw"]), OK);
    // once authenticated the limits are the normal ones
    let mut args: Vec<String> = vec!["MSET".into()];
    for i in 0..10 {
        args.push(format!("k{i}"));
        args.push(format!("v{i}"));
    }
    assert_eq!(c.cmd(&args), OK);
    let v = vec![b'x'; 100_000];
    assert_eq!(c.cmd(&[b"SET".as_slice(), b"big", &v]), OK);
    assert_eq!(c.cmd(&["STRLEN", "big"]), b":100000\r\n");
    server.assert_healthy();
}

#[test]
fn maxclients_is_enforced() {
    let server = Server::start(&["--maxclients", "5"]);
    let mut conns = Vec::new();
    for i in 0..5 {
        let mut c = server.conn();
        assert_eq!(c.cmd(&["PING"]), PONG, "client {i}");
        conns.push(c);
    }
    for _ in 0..2 {
        let mut extra = server.conn();
        assert_eq!(
            extra.read_reply().unwrap(),
            b"-ERR max number of clients reached\r\n"
        );
        extra.expect_closed();
    }
    // the existing clients are unaffected
    for c in &mut conns {
        assert_eq!(c.cmd(&["PING"]), PONG);
    }
    // a slot frees up when a client leaves
    drop(conns.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = server.conn();
        c.send(&["PING"]);
        let r = c.read_reply().unwrap_or_default();
        if r == PONG {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed: {}", show(&r));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn idle_timeout_closes_idle_clients() {
    let server = Server::start(&["--timeout", "1"]);
    let mut idle = server.conn();
    let mut busy = server.conn();
    let start = Instant::now();
    // busy keeps talking for 2.5 s and must survive
    while start.elapsed() < Duration::from_millis(2500) {
        assert_eq!(busy.cmd(&["PING"]), PONG);
        std::thread::sleep(Duration::from_millis(200));
    }
    idle.expect_closed();
    // roughly: closed after more than 1 s idle, well before the 5 s read timeout
    let mut fresh = server.conn();
    let t = Instant::now();
    fresh.expect_closed();
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(4500),
        "idle client closed after {waited:?}"
    );
}

#[test]
fn unix_socket_connections() {
    let path = common::unix_socket_path();
    let path_s = path.to_str().unwrap().to_string();
    let server = Server::start(&["--unixsocket", &path_s, "--unixsocketperm", "700"]);
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&path).expect("unix socket file exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let mut u = server.unix_conn();
    assert_eq!(u.cmd(&["PING"]), PONG);
    assert_eq!(u.cmd(&["SET", "via", "unix"]), OK);
    let mut t = server.conn();
    assert_eq!(t.cmd(&["GET", "via"]), b"$4\r\nunix\r\n");
    // pipelining and protocol errors behave the same on unix sockets
    let (input, expected) = mixed_pipeline();
    u.send_raw(&input);
    read_expected(&mut u, &expected, "unix pipeline");
    let info = u.str(&["CLIENT", "INFO"]);
    assert!(info.contains(&path_s), "CLIENT INFO over unix: {info}");
    assert!(
        info.contains(" flags=U "),
        "unix clients have flag U: {info}"
    );
    assert_eq!(
        u.cmd(&["CONFIG", "GET", "unixsocketperm"]),
        b"*2\r\n$14\r\nunixsocketperm\r\n$3\r\n700\r\n"
    );
    let mut bad = server.unix_conn();
    bad.send_raw(b"*1\r\nx\r\n");
    assert_eq!(
        bad.read_reply().unwrap(),
        b"-ERR Protocol error: expected '$', got 'x'\r\n"
    );
    bad.expect_closed();
    let hello = u.val(&["HELLO", "3"]);
    assert_eq!(hello.field("proto"), Some(common::Value::Int(3)));
    assert_eq!(u.cmd(&["GET", "nosuch"]), b"_\r\n");
}

#[test]
fn resp3_reply_types() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    let hello = c.cmd(&["HELLO", "3"]);
    assert!(
        hello.starts_with(b"%7\r\n$6\r\nserver\r\n"),
        "{}",
        show(&hello)
    );
    let v = parse(&hello);
    assert_eq!(v.field("proto"), Some(common::Value::Int(3)));
    assert_eq!(c.cmd(&["GET", "nosuch"]), b"_\r\n");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "timeout"]),
        b"%1\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    );
    assert!(c.cmd(&["CLIENT", "INFO"]).starts_with(b"="));
    assert!(c.cmd(&["INFO", "server"]).starts_with(b"="));
    // back to RESP2
    let hello2 = c.cmd(&["HELLO", "2"]);
    assert!(
        hello2.starts_with(b"*14\r\n$6\r\nserver\r\n"),
        "{}",
        show(&hello2)
    );
    assert_eq!(c.cmd(&["GET", "nosuch"]), b"$-1\r\n");
    assert!(c.cmd(&["CLIENT", "INFO"]).starts_with(b"$"));
}
