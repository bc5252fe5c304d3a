//! Start-up, configuration and shutdown of the real server binary: config
//! files, command-line errors, optional bind addresses, pidfile, signals,
//! SHUTDOWN, and the bookkeeping INFO reports.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, ferrokv_bin, free_port};

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrokv-life-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the binary expecting it to refuse to start; returns its output.
fn refused(args: &[&str]) -> String {
    let out = Command::new(ferrokv_bin())
        .args(args)
        .output()
        .expect("run ferrokv-server");
    assert!(!out.status.success(), "{args:?} should not start");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn bad_configuration_stops_startup_with_file_line_and_reason() {
    let out = refused(&["--port", "70000"]);
    assert!(out.contains("between 0 and 65535"), "{out}");
    let out = refused(&["--no-such-directive", "1"]);
    assert!(
        out.contains("Bad directive or wrong number of arguments"),
        "{out}"
    );
    let out = refused(&["--save", "60 1"]);
    assert!(out.contains("not supported"), "{out}");

    let dir = temp_dir("conf");
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "# comment\nport 7000\nmaxclients lots\n").unwrap();
    let out = refused(&[conf.to_str().unwrap()]);
    assert!(out.contains("at line 3"), "{out}");
    assert!(out.contains(">>> 'maxclients lots'"), "{out}");
    assert!(out.contains("couldn't be parsed into an integer"), "{out}");
    std::fs::write(&conf, "requirepass \"unbalanced\n").unwrap();
    let out = refused(&[conf.to_str().unwrap()]);
    assert!(out.contains("Unbalanced quotes"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts the binary with `args` as given (a config file must come first,
/// as with valkey-server), waits for `port`, and returns the child.
fn start_raw(args: &[&str], port: u16) -> std::process::Child {
    let child = Command::new(ferrokv_bin())
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn ferrokv-server");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn config_file_with_include_then_command_line_overrides() {
    let dir = temp_dir("include");
    let inc = dir.join("extra.conf");
    std::fs::write(&inc, "maxclients 123\ntimeout 77\n").unwrap();
    let conf = dir.join("main.conf");
    let port = free_port();
    std::fs::write(
        &conf,
        format!(
            "bind 127.0.0.1\nport {port}\ninclude {}\nrequirepass \"p w\"\ntimeout 5\n",
            inc.display()
        ),
    )
    .unwrap();
    let mut child = start_raw(&[conf.to_str().unwrap(), "--timeout", "9"], port);
    let mut c = common::Conn::tcp(([127, 0, 0, 1], port).into());
    assert_eq!(c.cmd(&["AUTH", "p w"]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients"]),
        b"*2\r\n$10\r\nmaxclients\r\n$3\r\n123\r\n"
    );
    // The file's later line wins over the include, the command line over both.
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "timeout"]),
        b"*2\r\n$7\r\ntimeout\r\n$1\r\n9\r\n"
    );
    let info = c.str(&["INFO", "server"]);
    let abs = std::fs::canonicalize(&conf).unwrap();
    assert!(
        info.contains(&format!("config_file:{}", abs.display())),
        "{info}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn optional_bind_address_is_skipped_when_unavailable() {
    // 192.0.2.1 (TEST-NET-1) is not configured here: optional, so skipped.
    let server = Server::start(&["--bind", "127.0.0.1", "-192.0.2.1"]);
    assert_eq!(server.conn().cmd(&["PING"]), b"+PONG\r\n");
    // Without the '-' the same address is fatal.
    let out = refused(&["--port", "0", "--bind", "192.0.2.1", "--port", "6999"]);
    assert!(out.contains("Failed listening"), "{out}");
}

#[test]
fn sigterm_shuts_down_cleanly_removing_pidfile_and_socket() {
    let dir = temp_dir("sigterm");
    let pidfile = dir.join("ferrokv.pid");
    let sock = common::unix_socket_path();
    let mut server = Server::start(&[
        "--pidfile",
        pidfile.to_str().unwrap(),
        "--unixsocket",
        sock.to_str().unwrap(),
    ]);
    let pid = std::fs::read_to_string(&pidfile).expect("pidfile written");
    assert_eq!(pid.trim(), server.pid().to_string());
    assert!(sock.exists());
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server
        .wait_exit(Duration::from_secs(5))
        .expect("exits after SIGTERM");
    assert!(exit.success(), "exit status {exit}");
    assert!(!pidfile.exists(), "pidfile removed");
    assert!(!sock.exists(), "unix socket removed");
    let log = server.log();
    assert!(
        log.contains("Received SIGTERM scheduling shutdown"),
        "{log}"
    );
    assert!(log.contains("ready to exit, bye bye"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shutdown_command_stops_the_server() {
    let mut server = Server::start(&[]);
    let mut c = server.conn();
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]),
        b"-ERR No shutdown in progress.\r\n"
    );
    assert_eq!(c.cmd(&["SHUTDOWN", "BOGUS"]), b"-ERR syntax error\r\n");
    c.send(&["SHUTDOWN", "NOSAVE"]);
    c.expect_closed();
    let exit = server
        .wait_exit(Duration::from_secs(5))
        .expect("exits after SHUTDOWN");
    assert!(exit.success());
}

#[test]
fn info_counts_commands_errors_and_connections() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "missing"]);
    c.cmd(&["INCR", "k"]);
    c.cmd(&["NOSUCHCOMMAND"]);
    c.cmd(&["GET"]);
    let stats = c.str(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_get:calls=2,"), "{stats}");
    assert!(
        stats.contains("rejected_calls=1,failed_calls=0"),
        "GET arity rejection: {stats}"
    );
    assert!(
        stats.contains("cmdstat_incr:calls=1,") && stats.contains("failed_calls=1"),
        "{stats}"
    );
    let errors = c.str(&["INFO", "errorstats"]);
    assert!(errors.contains("errorstat_ERR:count=3"), "{errors}");
    let info = c.str(&["INFO", "stats"]);
    assert!(
        info.contains("keyspace_hits:1\r\n") && info.contains("keyspace_misses:1\r\n"),
        "{info}"
    );
    assert!(info.contains("total_error_replies:3\r\n"), "{info}");
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), b"+OK\r\n");
    let stats = c.str(&["INFO", "commandstats"]);
    assert!(!stats.contains("cmdstat_get:"), "{stats}");
    let keyspace = c.str(&["INFO", "keyspace"]);
    assert!(keyspace.contains("db0:keys=1,expires=0"), "{keyspace}");
    let memory = c.str(&["INFO", "memory"]);
    let used: u64 = memory
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    assert!(used > 0, "{memory}");
}

#[test]
fn used_memory_follows_the_data() {
    let server = Server::start(&["--enable-debug-command", "local"]);
    let mut c = server.conn();
    let used = |c: &mut common::Conn| -> u64 {
        let m = c.str(&["INFO", "memory"]);
        m.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory")
    };
    let before = used(&mut c);
    assert_eq!(
        c.cmd(&["DEBUG", "POPULATE", "20000", "key", "200"]),
        b"+OK\r\n"
    );
    let after = used(&mut c);
    assert!(after > before + 20_000 * 200, "{before} -> {after}");
    assert_eq!(c.cmd(&["FLUSHALL"]), b"+OK\r\n");
    assert!(used(&mut c) <= after - 20_000 * 200, "memory released");
}

#[test]
fn debug_requires_enable_debug_command() {
    let server = Server::start(&[]);
    let reply = server.conn().cmd(&["DEBUG", "SLEEP", "0"]);
    assert!(
        reply.starts_with(b"-ERR DEBUG command not allowed."),
        "{}",
        common::show(&reply)
    );
}

#[test]
fn client_help_lists_every_implemented_subcommand() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    let help = String::from_utf8_lossy(&c.cmd(&["CLIENT", "HELP"])).into_owned();
    for sub in [
        "GETNAME", "ID", "INFO", "KILL", "LIST", "NO-EVICT", "NO-TOUCH", "REPLY", "SETNAME",
        "SETINFO", "HELP",
    ] {
        assert!(
            help.contains(&format!("+{sub}")),
            "CLIENT HELP lacks {sub}: {help}"
        );
        // ... and each one it lists runs (not an unknown subcommand).
        let reply = c.cmd(&["CLIENT", sub, "x", "y", "z", "w"]);
        assert!(
            !reply.starts_with(b"-ERR unknown subcommand"),
            "{sub}: {}",
            common::show(&reply)
        );
    }
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let server = Server::start(&["--hz", "100"]);
    let mut c = server.conn();
    for i in 0..200 {
        c.cmd(&["SET", &format!("k{i}"), "v", "PX", "50"]);
    }
    c.cmd(&["SET", "forever", "v"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.int(&["DBSIZE"]) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "active expiry stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = c.str(&["INFO", "stats"]);
    assert!(stats.contains("expired_keys:200\r\n"), "{stats}");
}

#[test]
fn rdma_directives_are_validated_and_an_unusable_rdma_port_stops_startup() {
    // This host has no RDMA device (or no rdma-core): asking for an RDMA
    // listener must fail clearly at start-up, never crash or run without it.
    let out = refused(&[
        "--port",
        "0",
        "--unixsocket",
        "/tmp/ferrokv-rdma-refused.sock",
        "--rdma-port",
        "6390",
    ]);
    assert!(out.contains("RDMA"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    let out = refused(&["--rdma-rx-size", "1k"]);
    assert!(out.contains("between 65536 and 16777216"), "{out}");
    let out = refused(&["--rdma-port", "70000"]);
    assert!(out.contains("between 0 and 65535"), "{out}");
    // Without rdma-port the directives are accepted and reported.
    let server = Server::start(&["--rdma-bind", "127.0.0.1", "--rdma-rx-size", "64kb"]);
    let mut c = server.conn();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "rdma-rx-size"]),
        b"*2\r\n$12\r\nrdma-rx-size\r\n$5\r\n65536\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "rdma-port"]),
        b"*2\r\n$9\r\nrdma-port\r\n$1\r\n0\r\n"
    );
}

#[test]
fn config_set_port_and_bind_move_the_tcp_listener() {
    let server = Server::start(&[]);
    let mut c = server.conn();
    let new_port = free_port();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "port", &new_port.to_string()]),
        b"+OK\r\n"
    );
    // The connection that asked survives; new ones go to the new port only.
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert!(std::net::TcpStream::connect(server.addr()).is_err());
    let moved: std::net::SocketAddr = ([127, 0, 0, 1], new_port).into();
    let mut c2 = common::Conn::tcp(moved);
    let info = c2.str(&["INFO", "server"]);
    assert!(
        info.contains(&format!(
            "listener0:name=tcp,bind=127.0.0.1,port={new_port}\r\n"
        )),
        "{info}"
    );
    // A port someone else holds: refused with Valkey's error, nothing moves.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port().to_string();
    assert_eq!(
        common::show(&c2.cmd(&["CONFIG", "SET", "port", &taken])),
        "-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.\\r\\n"
    );
    let p = new_port.to_string();
    assert_eq!(
        c2.cmd(&["CONFIG", "GET", "port"]),
        format!("*2\r\n$4\r\nport\r\n${}\r\n{p}\r\n", p.len()).as_bytes()
    );
    assert_eq!(common::Conn::tcp(moved).cmd(&["PING"]), b"+PONG\r\n");
    // bind: an address this host lacks is refused; a valid list is taken.
    assert_eq!(
        common::show(&c2.cmd(&["CONFIG", "SET", "bind", "192.0.2.1"])),
        "-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\\r\\n"
    );
    assert_eq!(
        c2.cmd(&["CONFIG", "SET", "bind", "127.0.0.1 -::1"]),
        b"+OK\r\n"
    );
    assert_eq!(common::Conn::tcp(moved).cmd(&["PING"]), b"+PONG\r\n");
    let info = c2.str(&["INFO", "server"]);
    assert!(
        info.contains(&format!(
            "listener0:name=tcp,bind=127.0.0.1,bind=-::1,port={new_port}\r\n"
        )),
        "{info}"
    );
}

/// Which lookups count as keyspace hits and misses, against the reference
/// server: reads, and the probes EXISTS, TYPE, TTL and OBJECT.
#[test]
fn keyspace_hits_and_misses_count_as_valkeys() {
    let stats = |server: &Server| {
        let mut c = server.conn();
        c.cmd(&["SET", "k", "v"]);
        for cmd in [
            &["GET", "k"][..],
            &["GET", "missing"],
            &["EXISTS", "k", "missing", "k"],
            &["TYPE", "k"],
            &["TYPE", "missing"],
            &["TTL", "k"],
            &["PTTL", "missing"],
            &["OBJECT", "ENCODING", "k"],
            &["OBJECT", "ENCODING", "missing"],
            &["STRLEN", "k"],
            &["SET", "k", "w"],
            &["DEL", "missing"],
        ] {
            c.cmd(cmd);
        }
        let info = c.str(&["INFO", "stats"]);
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::to_string)
        };
        (field("keyspace_hits:"), field("keyspace_misses:"))
    };
    let ours = stats(&Server::start(&[]));
    let reference = stats(&Server::reference(&[]));
    assert_eq!(ours, reference);
}

/// DEBUG HTSTATS describes the key table as Valkey's does: its size in
/// slots, its entries, and with FULL how long the bucket chains are.
#[test]
fn debug_htstats_describes_the_key_table() {
    let server = Server::start(&["--enable-debug-command", "yes"]);
    let mut c = server.conn();
    c.cmd(&["DEBUG", "POPULATE", "5000"]);
    c.cmd(&["EXPIRE", "key:1", "100"]);
    let text = c.str(&["DEBUG", "HTSTATS", "0", "FULL"]);
    let field = |name: &str| -> Vec<f64> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().parse().unwrap())
            .collect()
    };
    assert!(
        text.starts_with("[Dictionary HT]\nHash table 0 stats (main hash table):\n"),
        "{text}"
    );
    assert_eq!(field("number of entries:"), [5000.0, 1.0], "{text}");
    let (size, top) = (field("table size:")[0], field("top-level buckets:")[0]);
    assert!(size >= 5000.0 && size == top * 8.0, "{text}");
    // The chain length distribution covers every top-level bucket.
    let counted: f64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("   "))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(counted, top, "{text}");
    assert!(text.contains("[Expires HT]\n"), "{text}");
}

/// DEBUG HTSTATS-KEY describes the table of a hashtable-encoded set, hash
/// or sorted set in the same form.
#[test]
fn debug_htstats_key_describes_a_collection_table() {
    let server = Server::start(&["--enable-debug-command", "yes"]);
    let mut c = server.conn();
    // Past every default listpack limit (hashes: 512 entries).
    for i in 0..600 {
        let m = format!("m{i}");
        c.cmd(&["SADD", "s", &m]);
        c.cmd(&["HSET", "h", &m, "v"]);
        c.cmd(&["ZADD", "z", &i.to_string(), &m]);
    }
    for key in ["s", "h", "z"] {
        let text = c.str(&["DEBUG", "HTSTATS-KEY", key, "FULL"]);
        assert!(
            text.starts_with("Hash table 0 stats (main hash table):\n"),
            "{key}: {text}"
        );
        assert!(text.contains(" number of entries: 600\n"), "{key}: {text}");
        assert!(
            text.contains(" chain length distribution:\n"),
            "{key}: {text}"
        );
        let short = c.str(&["DEBUG", "HTSTATS-KEY", key]);
        assert!(!short.contains("chain length"), "{key}: {short}");
    }
}

/// INFO memory names Valkey's fields, in Valkey's order (tools parse them).
#[test]
fn info_memory_fields_are_valkeys() {
    let names = |server: &Server| -> Vec<String> {
        let info = server.conn().str(&["INFO", "memory"]);
        info.lines()
            .filter_map(|l| l.split_once(':').map(|(name, _)| name.to_string()))
            .collect()
    };
    assert_eq!(names(&Server::start(&[])), names(&Server::reference(&[])));
}
