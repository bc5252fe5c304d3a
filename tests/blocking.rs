//! Blocking list commands with several real connections, differential: each
//! scenario runs against ferrokv and against valkey-server 9.1 and the
//! transcripts of replies (in the order each connection receives them)
//! must be identical.

mod common;

use common::{Conn, Server};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Connections to one server, and the replies seen so far.
struct Clients {
    conns: Vec<Conn>,
    transcript: Vec<String>,
    server: Server,
}

impl Clients {
    fn new(server: Server, n: usize) -> Clients {
        let conns = (0..n).map(|_| server.conn()).collect();
        Clients {
            conns,
            transcript: Vec::new(),
            server,
        }
    }

    /// Sends a command on connection `c` without waiting for its reply.
    fn send(&mut self, c: usize, args: &[&str]) {
        self.conns[c].send(args);
        // Let the server take it (and block) before anything else happens.
        sleep(Duration::from_millis(30));
    }

    /// Runs a command on `c` and records its reply.
    fn cmd(&mut self, c: usize, args: &[&str]) {
        let reply = self.conns[c].cmd(args);
        self.record(c, args, &reply);
    }

    /// The same, recorded under `label` (for arguments such as client ids
    /// that differ between the servers).
    fn cmd_as(&mut self, c: usize, args: &[&str], label: &str) {
        let reply = self.conns[c].cmd(args);
        self.record(c, &[label], &reply);
    }

    /// Reads the next reply on `c` and records it.
    fn read(&mut self, c: usize, what: &str) {
        let reply = self.conns[c]
            .read_reply()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        self.record(c, &[what], &reply);
    }

    fn record(&mut self, c: usize, args: &[&str], reply: &[u8]) {
        self.transcript.push(format!(
            "conn {c}: {} -> {:?}",
            args.join(" "),
            String::from_utf8_lossy(reply)
        ));
    }
}

/// Runs `scenario` against both servers and compares the transcripts.
fn differential(connections: usize, scenario: impl Fn(&mut Clients)) -> Clients {
    let mut ours = Clients::new(Server::start(&[]), connections);
    let mut theirs = Clients::new(Server::reference(&[]), connections);
    scenario(&mut ours);
    scenario(&mut theirs);
    assert_eq!(
        ours.transcript.join("\n"),
        theirs.transcript.join("\n"),
        "transcripts differ (left: ferrokv, right: valkey)"
    );
    assert!(!ours.transcript.is_empty());
    ours
}

#[test]
fn first_blocked_first_served() {
    differential(4, |s| {
        s.send(0, &["BLPOP", "k1", "k2", "0"]);
        s.send(1, &["BLPOP", "k2", "0"]);
        s.send(2, &["BRPOP", "k2", "k1", "0"]);
        s.cmd(3, &["RPUSH", "k2", "a", "b"]);
        s.read(0, "BLPOP k1 k2 0");
        s.read(1, "BLPOP k2 0");
        s.cmd(3, &["LPUSH", "k1", "c"]);
        s.read(2, "BRPOP k2 k1 0");
        s.cmd(3, &["EXISTS", "k1", "k2"]);
    });
}

#[test]
fn timeouts_reply_null_arrays() {
    differential(2, |s| {
        let started = Instant::now();
        s.cmd(0, &["BLPOP", "nokey", "0.2"]);
        assert!(started.elapsed() >= Duration::from_millis(190));
        s.cmd(0, &["BLMOVE", "nokey", "dst", "LEFT", "RIGHT", "0.05"]);
        s.cmd(0, &["BRPOPLPUSH", "nokey", "dst", "0.05"]);
        s.cmd(0, &["BLMPOP", "0.05", "2", "a", "b", "LEFT", "COUNT", "3"]);
        s.cmd(1, &["EXISTS", "dst"]);
        // Bad timeouts are refused before anything else.
        for t in [
            "-1", "abc", "", "nan", "1e400", " 1", "inf", "-inf", "1x", "+-1",
        ] {
            s.cmd(0, &["BLPOP", "k", t]);
        }
        // Hexadecimal, as strtold reads it: 1/256 s.
        s.cmd(0, &["BLPOP", "k", "0x0.1p-4"]);
        s.cmd(0, &["SET", "str", "v"]);
        s.cmd(0, &["BLPOP", "str", "0"]);
        s.cmd(0, &["BLMPOP", "0", "1", "str", "LEFT"]);
        s.cmd(0, &["BLMPOP", "0", "0", "str", "LEFT"]);
        s.cmd(0, &["BLMPOP", "-1", "1", "k", "LEFT"]);
    });
}

#[test]
fn served_at_once_when_data_is_there() {
    differential(1, |s| {
        s.cmd(0, &["RPUSH", "l", "1", "2", "3", "4"]);
        s.cmd(0, &["BLPOP", "nokey", "l", "0"]);
        s.cmd(0, &["BRPOP", "l", "0"]);
        s.cmd(0, &["BLMOVE", "l", "m", "LEFT", "LEFT", "0"]);
        s.cmd(0, &["BRPOPLPUSH", "l", "m", "0"]);
        s.cmd(0, &["BLMPOP", "0", "2", "l", "m", "RIGHT", "COUNT", "5"]);
        s.cmd(0, &["EXISTS", "l", "m"]);
    });
}

#[test]
fn moves_chain_and_types_are_checked_again() {
    differential(4, |s| {
        // A BLMOVE served by a push feeds a client blocked on its target.
        s.send(0, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]);
        s.send(1, &["BLPOP", "b", "0"]);
        s.cmd(3, &["LPUSH", "a", "x"]);
        s.read(0, "BLMOVE a b LEFT RIGHT 0");
        s.read(1, "BLPOP b 0");
        // The command runs again: an earlier key now of another type fails.
        s.send(2, &["BLPOP", "s1", "s2", "0"]);
        s.cmd(3, &["SET", "s1", "str"]);
        s.cmd(3, &["RPUSH", "s2", "v"]);
        s.read(2, "BLPOP s1 s2 0");
        s.cmd(3, &["LRANGE", "s2", "0", "-1"]);
        // A list renamed onto the key serves too.
        s.send(0, &["BRPOP", "target", "0"]);
        s.cmd(3, &["RPUSH", "src", "r1", "r2"]);
        s.cmd(3, &["RENAME", "src", "target"]);
        s.read(0, "BRPOP target 0");
        // BLMPOP takes up to COUNT from the first list.
        s.send(1, &["BLMPOP", "0", "2", "m1", "m2", "LEFT", "COUNT", "2"]);
        s.cmd(3, &["RPUSH", "m2", "1", "2", "3"]);
        s.read(1, "BLMPOP");
        s.cmd(3, &["LRANGE", "m2", "0", "-1"]);
    });
}

#[test]
fn a_blocked_client_runs_nothing_else_until_served() {
    differential(2, |s| {
        s.conns[0].send_raw(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n");
        sleep(Duration::from_millis(50));
        s.cmd(1, &["RPUSH", "q", "v"]);
        s.read(0, "BLPOP q 0");
        s.read(0, "PING");
    });
}

#[test]
fn client_unblock_and_disconnects() {
    let ours = differential(3, |s| {
        let id0 = String::from_utf8(s.conns[0].cmd(&["CLIENT", "ID"])).unwrap();
        let id0 = id0.trim_start_matches(':').trim().to_string();
        s.send(0, &["BLPOP", "u", "0"]);
        s.cmd_as(2, &["CLIENT", "UNBLOCK", &id0], "CLIENT UNBLOCK id");
        s.read(0, "BLPOP u 0 (unblocked)");
        s.send(0, &["BLMOVE", "u", "v", "LEFT", "LEFT", "0"]);
        s.cmd_as(
            2,
            &["CLIENT", "UNBLOCK", &id0, "ERROR"],
            "CLIENT UNBLOCK id ERROR",
        );
        s.read(0, "BLMOVE (unblocked with an error)");
        s.cmd_as(2, &["CLIENT", "UNBLOCK", &id0], "CLIENT UNBLOCK id (again)");
        s.cmd_as(
            2,
            &["CLIENT", "UNBLOCK", &id0, "MAYBE"],
            "CLIENT UNBLOCK id MAYBE",
        );
        s.cmd(2, &["CLIENT", "UNBLOCK", "999999"]);
        s.cmd(2, &["CLIENT", "UNBLOCK", "x"]);
        s.cmd(0, &["PING"]);
        // A client that goes away while blocked loses nothing.
        s.send(1, &["BLPOP", "gone", "0"]);
        let fresh = s.server.conn();
        s.conns[1] = fresh;
        sleep(Duration::from_millis(50));
        s.cmd(2, &["RPUSH", "gone", "kept"]);
        s.cmd(2, &["LRANGE", "gone", "0", "-1"]);
    });
    // INFO and CLIENT LIST show a blocked client (ferrokv only: the other
    // fields of these replies differ between the servers).
    let mut c = ours.server.conn();
    let mut blocked = ours.server.conn();
    blocked.send(&["BLPOP", "w", "5"]);
    sleep(Duration::from_millis(50));
    let info = c.str(&["INFO", "clients"]);
    assert!(info.contains("blocked_clients:1\r\n"), "{info}");
    assert!(info.contains("total_blocking_keys:1\r\n"), "{info}");
    assert!(info.contains("clients_in_timeout_table:1\r\n"), "{info}");
    let list = c.str(&["CLIENT", "LIST"]);
    assert!(
        list.contains("flags=b ") && list.contains("cmd=blpop"),
        "{list}"
    );
    c.cmd(&["RPUSH", "w", "done"]);
    assert_eq!(
        blocked.read_reply().unwrap(),
        b"*2\r\n$1\r\nw\r\n$4\r\ndone\r\n"
    );
    let info = c.str(&["INFO", "clients"]);
    assert!(info.contains("blocked_clients:0\r\n"), "{info}");
}

#[test]
fn sorted_set_pops_block_too() {
    differential(3, |s| {
        s.send(0, &["BZPOPMIN", "z1", "z2", "0"]);
        s.send(1, &["BZMPOP", "0", "1", "z2", "MAX", "COUNT", "2"]);
        s.cmd(2, &["ZADD", "z2", "1", "a", "2", "b", "3", "c"]);
        s.read(0, "BZPOPMIN z1 z2 0");
        s.read(1, "BZMPOP 0 1 z2 MAX COUNT 2");
        // A list pushed onto a key a BZPOPMIN waits on does not serve it,
        // and a sorted set does not serve a BLPOP.
        s.send(0, &["BZPOPMAX", "k", "0"]);
        s.send(1, &["BLPOP", "k", "0"]);
        s.cmd(2, &["RPUSH", "k", "x"]);
        s.read(1, "BLPOP k 0");
        s.cmd(2, &["ZADD", "k", "5", "m"]);
        s.read(0, "BZPOPMAX k 0");
        s.cmd(0, &["BZPOPMIN", "nokey", "0.05"]);
        s.cmd(0, &["BZMPOP", "0.05", "1", "nokey", "MIN"]);
    });
}

#[test]
fn a_transaction_wakes_blocked_clients_once_it_ends() {
    differential(3, |c| {
        c.send(1, &["BLPOP", "q", "0"]);
        c.send(2, &["BZPOPMIN", "z", "0"]);
        c.cmd(0, &["MULTI"]);
        c.cmd(0, &["RPUSH", "q", "a", "b"]);
        c.cmd(0, &["LPOP", "q"]);
        c.cmd(0, &["ZADD", "z", "1", "m"]);
        c.cmd(0, &["EXEC"]);
        // The blocked clients are served only after the whole transaction:
        // BLPOP gets what EXEC's LPOP left.
        c.read(1, "BLPOP q 0");
        c.read(2, "BZPOPMIN z 0");
        c.cmd(0, &["LLEN", "q"]);
        // A blocking command inside MULTI never blocks.
        c.cmd(1, &["MULTI"]);
        c.cmd(1, &["BLPOP", "q", "0"]);
        c.cmd(1, &["EXEC"]);
    });
}
