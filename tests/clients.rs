//! Real clients against the server: the `redis` crate (sync API, RESP2 and
//! RESP3), Debian's redis-cli (plain, --no-raw, -3, -s, -x, --scan, --pipe,
//! stdin mode) and redis-benchmark.

mod common;

use common::{Server, tool_bin};
use redis::Commands;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn connect(url: &str) -> redis::Connection {
    let client = redis::Client::open(url).unwrap_or_else(|e| panic!("open {url}: {e}"));
    let con = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    con.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    con
}

#[test]
fn redis_crate_resp2_typical_usage() {
    let server = Server::start(&[]);
    let mut con = connect(&server.url());

    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");

    let () = con.set("greeting", "hello").unwrap();
    let v: String = con.get("greeting").unwrap();
    assert_eq!(v, "hello");
    let missing: Option<String> = con.get("nosuch").unwrap();
    assert_eq!(missing, None);

    let () = con.mset(&[("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
    let vals: Vec<Option<String>> = con.mget(&["a", "b", "nosuch", "c"]).unwrap();
    assert_eq!(
        vals,
        vec![Some("1".into()), Some("2".into()), None, Some("3".into())]
    );

    let n: i64 = con.incr("counter", 5).unwrap();
    assert_eq!(n, 5);
    let n: i64 = con.decr("counter", 2).unwrap();
    assert_eq!(n, 3);
    let f: f64 = redis::cmd("INCRBYFLOAT")
        .arg("float")
        .arg(2.5)
        .query(&mut con)
        .unwrap();
    assert_eq!(f, 2.5);

    let len: usize = con.append("greeting", " world").unwrap();
    assert_eq!(len, 11);
    let len: usize = con.strlen("greeting").unwrap();
    assert_eq!(len, 11);
    let part: String = con.getrange("greeting", 0, 4).unwrap();
    assert_eq!(part, "hello");
    let len: usize = con.setrange("greeting", 6, "WORLD").unwrap();
    assert_eq!(len, 11);
    let v: String = con.get("greeting").unwrap();
    assert_eq!(v, "hello WORLD");

    // expiry
    let ok: bool = con.expire("a", 100).unwrap();
    assert!(ok);
    let ttl: i64 = con.ttl("a").unwrap();
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let pttl: i64 = con.pttl("a").unwrap();
    assert!((98_000..=100_000).contains(&pttl), "pttl {pttl}");
    let persisted: bool = con.persist("a").unwrap();
    assert!(persisted);
    let ttl: i64 = con.ttl("a").unwrap();
    assert_eq!(ttl, -1);
    let () = con.set_ex("tmp", "x", 100).unwrap();
    let ttl: i64 = con.ttl("tmp").unwrap();
    assert!((99..=100).contains(&ttl));

    // SET options through the command builder
    let r: Option<String> = redis::cmd("SET")
        .arg("a")
        .arg("new")
        .arg("NX")
        .query(&mut con)
        .unwrap();
    assert_eq!(r, None);
    let old: Option<String> = redis::cmd("SET")
        .arg("a")
        .arg("newer")
        .arg("XX")
        .arg("GET")
        .query(&mut con)
        .unwrap();
    assert_eq!(old.as_deref(), Some("1"));
    let old: String = con.getset("a", "again").unwrap();
    assert_eq!(old, "newer");
    let gone: Option<String> = con.get_del("a").unwrap();
    assert_eq!(gone.as_deref(), Some("again"));

    // keyspace
    let exists: usize = con.exists(&["b", "c", "nosuch"]).unwrap();
    assert_eq!(exists, 2);
    let t: String = redis::cmd("TYPE").arg("b").query(&mut con).unwrap();
    assert_eq!(t, "string");
    let () = con.rename("b", "b2").unwrap();
    let copied: bool = redis::cmd("COPY")
        .arg("b2")
        .arg("b3")
        .query(&mut con)
        .unwrap();
    assert!(copied);
    let deleted: usize = con.del(&["b2", "b3", "nosuch"]).unwrap();
    assert_eq!(deleted, 2);
    let mut keys: Vec<String> = con.keys("*").unwrap();
    keys.sort();
    assert_eq!(keys, vec!["c", "counter", "float", "greeting", "tmp"]);
    let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 5);

    // binary values round-trip
    let all: Vec<u8> = (0..=255u8).collect();
    let () = con.set(&all[..], &all[..]).unwrap();
    let back: Vec<u8> = con.get(&all[..]).unwrap();
    assert_eq!(back, all);

    // errors surface as server errors with Valkey's text
    let err = con.incr::<_, _, i64>("greeting", 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("value is not an integer or out of range"),
        "{err}"
    );
    let err = redis::cmd("NOSUCHCOMMAND")
        .query::<redis::Value>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("unknown command"), "{err}");

    // the connection is still usable after errors
    let v: String = con.get("c").unwrap();
    assert_eq!(v, "3");

    // client name
    let () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("rust-client")
        .query(&mut con)
        .unwrap();
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name, "rust-client");
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    assert!(list.contains("name=rust-client"), "{list}");
}

#[test]
fn redis_crate_pipeline_and_scan() {
    let server = Server::start(&[]);
    let mut con = connect(&server.url());
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.set(format!("key:{i}"), i).ignore();
    }
    pipe.get("key:7").incr("key:8", 1).exists("key:1999");
    let (seven, nine, exists): (i64, i64, bool) = pipe.query(&mut con).unwrap();
    assert_eq!((seven, nine, exists), (7, 9, true));

    let all: HashSet<String> = con.scan::<String>().unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(all.len(), 2000);
    let matched: HashSet<String> = con
        .scan_match::<_, String>("key:1??")
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let expected: HashSet<String> = (100..200).map(|i| format!("key:{i}")).collect();
    assert_eq!(matched, expected);

    // a pipeline with an error in the middle still returns every reply
    let results: Vec<redis::Value> = redis::pipe()
        .set("s", "str")
        .incr("s", 1)
        .get("s")
        .ignore_errors()
        .query(&mut con)
        .unwrap();
    assert_eq!(results.len(), 3);
    assert!(matches!(results[1], redis::Value::ServerError(_)));
    assert_eq!(results[2], redis::Value::BulkString(b"str".to_vec()));
}

#[test]
fn redis_crate_resp3() {
    let server = Server::start(&[]);
    let url = format!("{}?protocol=resp3", server.url());
    let mut con = connect(&url);
    let () = con.set("k", "v").unwrap();
    let v: redis::Value = redis::cmd("GET").arg("nosuch").query(&mut con).unwrap();
    assert_eq!(v, redis::Value::Nil);
    let v: redis::Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("timeout")
        .query(&mut con)
        .unwrap();
    assert!(
        matches!(v, redis::Value::Map(_)),
        "CONFIG GET in RESP3: {v:?}"
    );
    let cfg: HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query(&mut con)
        .unwrap();
    assert_eq!(cfg.get("maxclients").map(String::as_str), Some("10000"));
    let info: redis::Value = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(
        matches!(info, redis::Value::VerbatimString { .. }),
        "CLIENT INFO in RESP3: {info:?}"
    );
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains("resp=3"), "{info}");
    let hello: HashMap<String, redis::Value> =
        redis::cmd("HELLO").arg("3").query(&mut con).unwrap();
    assert_eq!(hello.get("proto"), Some(&redis::Value::Int(3)));
    let (a, b): (String, Option<String>) = redis::pipe()
        .get("k")
        .get("nosuch")
        .query(&mut con)
        .unwrap();
    assert_eq!((a.as_str(), b), ("v", None));
}

#[test]
fn redis_crate_auth_db_and_unix() {
    let sock = common::unix_socket_path();
    let sock_s = sock.to_str().unwrap().to_string();
    let server = Server::start(&[
        "--requirepass",
        "s3cret",
        "--unixsocket",
        &sock_s,
        "--unixsocketperm",
        "700",
    ]);
    let port = server.port;

    // wrong / missing password
    let client = redis::Client::open(format!("redis://:wrong@127.0.0.1:{port}/")).unwrap();
    assert!(client.get_connection().is_err());
    let mut anon = connect(&server.url());
    let err = redis::cmd("GET")
        .arg("k")
        .query::<Option<String>>(&mut anon)
        .unwrap_err();
    assert!(err.to_string().contains("NOAUTH"), "{err}");

    // password, with and without user name, and a database number
    let mut c0 = connect(&format!("redis://:s3cret@127.0.0.1:{port}/"));
    let mut c3 = connect(&format!("redis://default:s3cret@127.0.0.1:{port}/3"));
    let () = c3.set("where", "db3").unwrap();
    let in0: Option<String> = c0.get("where").unwrap();
    assert_eq!(in0, None);
    let () = redis::cmd("SELECT").arg(3).query(&mut c0).unwrap();
    let in3: String = c0.get("where").unwrap();
    assert_eq!(in3, "db3");

    // unix socket
    let mut u = connect(&format!("redis+unix://{sock_s}?pass=s3cret&db=3"));
    let v: String = u.get("where").unwrap();
    assert_eq!(v, "db3");
    let mut u3 = connect(&format!("unix://{sock_s}?pass=s3cret&protocol=resp3"));
    let n: Option<String> = u3.get("where").unwrap();
    assert_eq!(n, None);
}

// ---------------------------------------------------------------------------
// redis-cli / redis-benchmark
// ---------------------------------------------------------------------------

fn run(bin: &str, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(tool_bin(bin));
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    // bounded: kill the tool if it hangs
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn cli(server: &Server, args: &[&str]) -> String {
    let port = server.port.to_string();
    let mut full = vec!["-p", port.as_str()];
    full.extend_from_slice(args);
    let out = run("redis-cli", &full, None, &[]);
    assert!(
        out.status.success(),
        "redis-cli {full:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_commands() {
    let server = Server::start(&[]);
    assert_eq!(cli(&server, &["ping"]), "PONG\n");
    assert_eq!(cli(&server, &["set", "k", "v"]), "OK\n");
    assert_eq!(cli(&server, &["get", "k"]), "v\n");
    assert_eq!(cli(&server, &["--no-raw", "get", "k"]), "\"v\"\n");
    assert_eq!(cli(&server, &["get", "nosuch"]), "\n");
    assert_eq!(cli(&server, &["--no-raw", "get", "nosuch"]), "(nil)\n");
    assert_eq!(cli(&server, &["incr", "c"]), "1\n");
    assert_eq!(cli(&server, &["--no-raw", "incr", "c"]), "(integer) 2\n");
    assert_eq!(cli(&server, &["mset", "a", "1", "b", "2"]), "OK\n");
    assert_eq!(cli(&server, &["mget", "a", "b", "nosuch"]), "1\n2\n\n");
    assert_eq!(
        cli(&server, &["--no-raw", "mget", "a", "b", "nosuch"]),
        "1) \"1\"\n2) \"2\"\n3) (nil)\n"
    );
    assert_eq!(
        cli(&server, &["incr", "k"]),
        "ERR value is not an integer or out of range\n\n"
    );
    assert_eq!(
        cli(&server, &["--no-raw", "incr", "k"]),
        "(error) ERR value is not an integer or out of range\n"
    );
    assert_eq!(
        cli(&server, &["nosuchcmd", "x"]),
        "ERR unknown command 'nosuchcmd', with args beginning with: 'x' \n\n"
    );
    assert_eq!(cli(&server, &["-n", "2", "set", "x", "in2"]), "OK\n");
    assert_eq!(cli(&server, &["-n", "2", "get", "x"]), "in2\n");
    assert_eq!(cli(&server, &["get", "x"]), "\n");
    assert_eq!(cli(&server, &["--no-raw", "ttl", "k"]), "(integer) -1\n");
    assert_eq!(
        cli(&server, &["--no-raw", "config", "get", "timeout"]),
        "1) \"timeout\"\n2) \"0\"\n"
    );
    // RESP3
    assert_eq!(
        cli(&server, &["-3", "--no-raw", "config", "get", "timeout"]),
        "1# \"timeout\" => \"0\"\n"
    );
    assert_eq!(
        cli(&server, &["-3", "--no-raw", "get", "nosuch"]),
        "(nil)\n"
    );
    // -x: last argument from stdin, binary safe
    let port = server.port.to_string();
    let out = run(
        "redis-cli",
        &["-p", &port, "-x", "set", "bin"],
        Some(b"hello\x00world"),
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n");
    assert_eq!(cli(&server, &["strlen", "bin"]), "11\n");
    assert_eq!(
        cli(&server, &["--no-raw", "get", "bin"]),
        "\"hello\\x00world\"\n"
    );
    // commands on stdin
    let out = run(
        "redis-cli",
        &["-p", &port],
        Some(b"set s 10\nincrby s 5\nget s\nexists s nosuch\n"),
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n15\n15\n1\n");
    // --scan
    for i in 0..300 {
        assert_eq!(cli(&server, &["set", &format!("scan:{i}"), "x"]), "OK\n");
    }
    let scanned = cli(&server, &["--scan", "--pattern", "scan:*"]);
    let keys: HashSet<&str> = scanned.lines().collect();
    assert_eq!(keys.len(), 300);
    assert!(keys.contains("scan:299"));
    let info = cli(&server, &["info", "server"]);
    assert!(info.starts_with("# Server\r\n"), "{info}");
    assert!(info.contains("tcp_port:"), "{info}");
}

#[test]
fn redis_cli_unix_socket_and_auth() {
    let sock = common::unix_socket_path();
    let sock_s = sock.to_str().unwrap().to_string();
    let server = Server::start(&[
        "--unixsocket",
        &sock_s,
        "--unixsocketperm",
        "700",
        "--requirepass",
        "pw",
    ]);
    let auth = [("REDISCLI_AUTH", "pw")];
    let out = run("redis-cli", &["-s", &sock_s, "ping"], None, &auth);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PONG\n");
    let out = run("redis-cli", &["-s", &sock_s, "set", "u", "1"], None, &auth);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n");
    let port = server.port.to_string();
    let out = run("redis-cli", &["-p", &port, "get", "u"], None, &auth);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    // without the password
    let out = run("redis-cli", &["-s", &sock_s, "get", "u"], None, &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "NOAUTH Authentication required.\n\n"
    );
    let out = run(
        "redis-cli",
        &["-p", &port, "get", "u"],
        None,
        &[("REDISCLI_AUTH", "bad")],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("WRONGPASS"), "{all}");
}

#[test]
fn redis_cli_pipe_mode() {
    let server = Server::start(&[]);
    let mut input = Vec::new();
    for i in 0..1000 {
        input.extend(common::encode(&[
            "SET",
            &format!("pk{i}"),
            &format!("val{i}"),
        ]));
    }
    let port = server.port.to_string();
    let out = run("redis-cli", &["-p", &port, "--pipe"], Some(&input), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "redis-cli --pipe: {stdout}");
    assert!(stdout.contains("errors: 0, replies: 1000"), "{stdout}");
    assert_eq!(cli(&server, &["dbsize"]), "1000\n");
    assert_eq!(cli(&server, &["get", "pk999"]), "val999\n");
    // inline commands in pipe mode, with one error
    let out = run(
        "redis-cli",
        &["-p", &port, "--pipe"],
        Some(b"SET a 1\r\nINCR a\r\nINCR pk1\r\n"),
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("errors: 1, replies: 3"), "{stdout}");
    assert!(!out.status.success());
    assert_eq!(cli(&server, &["get", "a"]), "2\n");
}

#[test]
fn redis_benchmark_small_run() {
    let server = Server::start(&[]);
    let port = server.port.to_string();
    for extra in [&[][..], &["-P", "16", "-c", "4"][..]] {
        let mut args = vec!["-p", port.as_str(), "-n", "1000", "-q", "-t", "set,get"];
        args.extend_from_slice(extra);
        let out = run("redis-benchmark", &args, None, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "redis-benchmark {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let results: Vec<&str> = stdout
            .split(['\r', '\n'])
            .filter(|l| l.contains("requests per second"))
            .collect();
        assert_eq!(results.len(), 2, "{stdout}");
        assert!(results[0].trim_start().starts_with("SET: "), "{stdout}");
        assert!(results[1].trim_start().starts_with("GET: "), "{stdout}");
    }
    assert_eq!(cli(&server, &["exists", "key:__rand_int__"]), "1\n");
    assert_eq!(cli(&server, &["strlen", "key:__rand_int__"]), "3\n");
}

#[test]
fn redis_crate_transactions_with_watch() {
    let server = Server::start(&[]);
    // Optimistic locking: each thread increments by WATCH / GET / MULTI /
    // SET / EXEC, retrying when another thread got in between. Every
    // increment must land exactly once.
    let (threads, rounds) = (4, 50);
    let url = server.url();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut con = connect(&url);
                let mut retries = 0;
                for _ in 0..rounds {
                    loop {
                        let () = redis::cmd("WATCH").arg("counter").query(&mut con).unwrap();
                        let v: Option<i64> = con.get("counter").unwrap();
                        let next = v.unwrap_or(0) + 1;
                        let done: Option<(String,)> = redis::pipe()
                            .atomic()
                            .set("counter", next)
                            .query(&mut con)
                            .unwrap();
                        if done.is_some() {
                            break;
                        }
                        retries += 1;
                    }
                }
                retries
            })
        })
        .collect();
    let retries: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let mut con = connect(&url);
    let total: i64 = con.get("counter").unwrap();
    assert_eq!(total, threads * rounds);
    eprintln!("{retries} EXECs aborted by concurrent writes and retried");

    // A queued runtime error does not abort the others; a queueing error does.
    let (a, b): (String, i64) = redis::pipe()
        .atomic()
        .set("s", "text")
        .ignore()
        .get("s")
        .incr("n", 2)
        .query(&mut con)
        .unwrap();
    assert_eq!((a.as_str(), b), ("text", 2));
    let err = redis::pipe()
        .atomic()
        .incr("s", 1)
        .get("s")
        .query::<(i64, String)>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    let err = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("only-a-key")
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string().contains("wrong number of arguments"),
        "{err}"
    );
}

#[test]
fn redis_crate_pubsub() {
    let server = Server::start(&[]);
    let mut publisher = connect(&server.url());
    let mut sub_con = connect(&server.url());
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("news").unwrap();
    sub.psubscribe("sport.*").unwrap();
    let n: i64 = publisher.publish("news", "hello").unwrap();
    assert_eq!(n, 1);
    let n: i64 = publisher.publish("sport.tennis", "ace").unwrap();
    assert_eq!(n, 1);
    let n: i64 = publisher.publish("weather", "rain").unwrap();
    assert_eq!(n, 0);
    let m = sub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "news");
    assert_eq!(m.get_payload::<String>().unwrap(), "hello");
    let m = sub.get_message().unwrap();
    assert_eq!(m.get_channel_name(), "sport.tennis");
    assert_eq!(m.get_pattern::<String>().unwrap(), "sport.*");
    assert_eq!(m.get_payload::<String>().unwrap(), "ace");
    sub.unsubscribe("news").unwrap();
    sub.punsubscribe("sport.*").unwrap();
    drop(sub);
    // Out of subscribe mode, the connection runs commands again.
    let () = sub_con.set("after", "1").unwrap();
    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("news")
        .query(&mut publisher)
        .unwrap();
    assert_eq!(counts, vec![("news".to_string(), 0)]);

    // Keyspace notifications reach a real client too.
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEA")
        .query(&mut publisher)
        .unwrap();
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("__keyspace@0__:watched").unwrap();
    let () = publisher.set("watched", "v").unwrap();
    let _: i64 = publisher.del("watched").unwrap();
    let events: Vec<String> = (0..2)
        .map(|_| sub.get_message().unwrap().get_payload().unwrap())
        .collect();
    assert_eq!(events, ["set", "del"]);
}
