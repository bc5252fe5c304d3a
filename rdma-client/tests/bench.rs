//! Short runs of the ferrokv-bench rig against the real server.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::Server;
use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrokv-bench"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ferrokv-bench")
}

/// Runs the rig with `--json`, requires success, returns the parsed result.
fn bench_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--json", "--quiet"]);
    let out = bench(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?}: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

fn latency(v: &Value, key: &str) -> f64 {
    v["latency_us"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("no latency_us.{key} in {v}"))
}

fn check_latencies(v: &Value) {
    let keys = ["min", "p50", "p90", "p99", "p99_9", "p99_99", "max"];
    let values: Vec<f64> = keys.iter().map(|k| latency(v, k)).collect();
    assert!(values[0] > 0.0, "{v}");
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{v}");
}

#[test]
fn closed_loop_get_over_tcp() {
    let s = Server::start();
    let port = s.port.to_string();
    let v = bench_json(&[
        "--port",
        &port,
        "--command",
        "get",
        "--connections",
        "2",
        "--pipeline",
        "4",
        "--requests",
        "2000",
        "--keyspace",
        "500",
    ]);
    assert_eq!(v["transport"], "tcp");
    assert_eq!(v["command"], "GET");
    assert_eq!(v["mode"], "closed");
    assert_eq!(v["requests"], 2000);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["failures"].as_array().map(Vec::len), Some(0));
    assert!(v["throughput_rps"].as_f64().unwrap() > 0.0);
    check_latencies(&v);
}

#[test]
fn pipelined_set_over_rdma() {
    let s = Server::start();
    let Some(addr) = &s.rdma else {
        eprintln!("skipped: needs the soft-RoCE guest (ci/rdma-vm/run)");
        return;
    };
    let (host, port) = addr.rsplit_once(':').unwrap();
    let v = bench_json(&[
        "--transport",
        "rdma",
        "--host",
        host,
        "--port",
        port,
        "--command",
        "set",
        "--value-size",
        "4096",
        "--connections",
        "2",
        "--pipeline",
        "16",
        "--requests",
        "4000",
    ]);
    assert_eq!(v["transport"], "rdma");
    assert_eq!(v["requests"], 4000);
    assert_eq!(v["errors"], 0);
    check_latencies(&v);
}

#[test]
fn open_loop_set_over_unix() {
    let s = Server::start();
    let socket = s.socket.to_str().unwrap();
    let v = bench_json(&[
        "--transport",
        "unix",
        "--socket",
        socket,
        "--command",
        "set",
        "--value-size",
        "4096",
        "--connections",
        "2",
        "--mode",
        "open",
        "--rate",
        "2000",
        "--duration",
        "1",
    ]);
    assert_eq!(v["transport"], "unix");
    assert_eq!(v["mode"], "open");
    assert_eq!(v["rate"], 2000.0);
    // 1000 scheduled slots per connection in one second.
    assert_eq!(v["requests"], 2000);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["duration_s"], 1.0);
    check_latencies(&v);
}

#[test]
fn custom_command_resp3_with_warmup() {
    let s = Server::start();
    let port = s.port.to_string();
    let v = bench_json(&[
        "--port",
        &port,
        "--resp3",
        "--command",
        "custom",
        "SET __key__ __value__",
        "--warmup",
        "300ms",
        "--duration",
        "0.5",
        "--pipeline",
        "16",
    ]);
    assert_eq!(v["protocol"], "resp3");
    assert_eq!(v["command"], "SET __key__ __value__");
    assert_eq!(v["warmup_s"], 0.3);
    assert!(v["requests"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["errors"], 0);
    check_latencies(&v);

    // Error replies are counted, not fatal.
    let v = bench_json(&[
        "--port",
        &port,
        "--command",
        "custom",
        "NOSUCHCOMMAND __key__",
        "-n",
        "100",
    ]);
    assert_eq!(v["requests"], 100);
    assert_eq!(v["errors"], 100);
}

#[test]
fn text_output_and_progress() {
    let s = Server::start();
    let port = s.port.to_string();
    let out = bench(&["--port", &port, "--command", "ping", "--duration", "1.5"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "PING over tcp://127.0.0.1:",
        "throughput",
        "p50",
        "p99.99",
        "max",
    ] {
        assert!(text.contains(want), "{want:?} missing in:\n{text}");
    }
    // One progress line per second on stderr (not a terminal here).
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("[   1s]") && progress.contains("req/s"),
        "{progress}"
    );
}

#[test]
fn rdma_and_usage_errors() {
    // Nothing listens on RDMA port 1: on a host without RDMA that is
    // "RDMA unavailable", in the soft-RoCE guest a refused connection.
    let host = std::env::var("FERROKV_RDMA_ADDR").unwrap_or("127.0.0.1".into());
    let out = bench(&["--transport", "rdma", "--host", &host, "--port", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    if std::env::var_os("FERROKV_RDMA_VM").is_none() {
        assert!(err.contains("RDMA unavailable"), "{err}");
    } else {
        assert!(err.contains("refused") || err.contains("REJECTED"), "{err}");
    }

    let out = bench(&["--connections", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1"));

    let out = bench(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--mode closed|open"));
}

#[test]
fn server_dying_mid_run_is_reported() {
    let mut s = Server::start();
    let port = s.port.to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_ferrokv-bench"))
        .args([
            "--port",
            &port,
            "--duration",
            "30",
            "--json",
            "--quiet",
            "--timeout",
            "5",
            "--keyspace",
            "100",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once the rig is well into its run, past the 100-key
    // prefill (start-up is slow under emulation: wait for its traffic, not
    // a fixed time).
    let mut c = ferrokv_rdma_client::Client::connect(ferrokv_rdma_client::Endpoint::tcp(
        "127.0.0.1",
        s.port,
    ))
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = match c.cmd(&["INFO", "stats"]).unwrap() {
            ferrokv_rdma_client::Reply::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("INFO: {other:?}"),
        };
        let done: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if done > 2000 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    s.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{v}");
    assert!(
        failures[0].as_str().unwrap().contains("connection 0"),
        "{v}"
    );
    assert!(v["requests"].as_u64().unwrap() > 0, "{v}");
}
