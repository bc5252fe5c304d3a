//! `ferrokv-bench`: a latency rig for ferrokv and Valkey over TCP, Unix
//! sockets and RDMA. Run `ferrokv-bench --help`.
//!
//! One thread per connection. Closed loop: each connection sends a batch of
//! `--pipeline` commands, waits for every reply, and sends the next. Open
//! loop: batches are sent on a fixed schedule (`--rate` requests per second
//! over all connections), and every latency is measured from the *scheduled*
//! send time, so a stall delays the schedule's later requests and shows up in
//! their latencies instead of being hidden (coordinated omission).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ferrokv_rdma_client::{Client, Endpoint, Options, Reply};
use hdrhistogram::Histogram;

const USAGE: &str = "\
ferrokv-bench: request latency of a ferrokv / Valkey server

USAGE: ferrokv-bench [OPTIONS]

Target:
  --transport tcp|unix|rdma  transport (default tcp)
  --host HOST                server host for tcp and rdma (default 127.0.0.1)
  --port PORT                server port for tcp and rdma (default 6379)
  --socket PATH              Unix socket path (--transport unix)
  --resp3                    switch every connection to RESP3 (HELLO 3)
  --timeout SECS             read/write timeout per operation (default 10)

Workload:
  --command get|set|ping     command to send (default get)
  --command custom \"ARGS\"    any command; __key__ and __value__ are replaced
                             by a random key and the value
  --value-size BYTES         value size for set, prefill and __value__ (default 16)
  --keyspace N               keys are key:000000000000 .. N-1, chosen uniformly (default 10000)
  --no-prefill               do not SET every key before a get run

Load:
  --connections C            connections, one thread each (default 1)
  --pipeline P               commands per batch (default 1)
  --requests N               stop after N measured requests (default 100000)
  --duration SECS            or stop after SECS of measurement
  --warmup SECS              run unmeasured for SECS first (default 0)
  --mode closed|open         closed loop (default), or open loop at a fixed rate
  --rate R                   open loop: requests per second over all connections

Output:
  --json                     print the result as JSON on stdout
  --quiet                    no progress line on stderr
  -h, --help                 this text

Durations are seconds (2.5) or have a unit (500ms, 3s).
Latency is from sending a request's batch (open loop: from the batch's
scheduled time) to receiving that request's reply.";

/// Histogram range: 1 ns .. 100 s, 3 significant digits.
const HIST_MAX_NS: u64 = 100_000_000_000;
const PREFILL_BATCH: u64 = 1000;
const MAX_KEYSPACE: u64 = 1_000_000_000_000;

#[derive(Clone, Debug, PartialEq)]
enum Arg {
    Lit(Vec<u8>),
    Key,
    Value,
}

#[derive(Clone, Debug, PartialEq)]
enum Command {
    Get,
    Set,
    Ping,
    Custom(Vec<Arg>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Closed,
    Open { rate: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Requests(u64),
    Duration(Duration),
}

#[derive(Clone, Debug, PartialEq)]
struct Config {
    endpoint: Endpoint,
    resp3: bool,
    timeout: Duration,
    command: Command,
    command_text: String,
    value_size: usize,
    keyspace: u64,
    prefill: bool,
    connections: usize,
    pipeline: usize,
    stop: Stop,
    warmup: Duration,
    mode: Mode,
    json: bool,
    quiet: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * scale < 1e9 => {
            Ok(Duration::from_secs_f64(v * scale))
        }
        _ => Err(format!("invalid duration {s:?}")),
    }
}

fn parse_num<T: std::str::FromStr>(flag: &str, s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("invalid value {s:?} for {flag}"))
}

fn parse_template(text: &str) -> Result<Vec<Arg>, String> {
    let args: Vec<Arg> = text
        .split_whitespace()
        .map(|w| match w {
            "__key__" => Arg::Key,
            "__value__" => Arg::Value,
            _ => Arg::Lit(w.as_bytes().to_vec()),
        })
        .collect();
    match args.first() {
        Some(Arg::Lit(_)) => Ok(args),
        Some(_) => Err("a custom command must start with the command name".into()),
        None => Err("empty custom command".into()),
    }
}

/// Parses the command line; `Ok(None)` means --help.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Config>, String> {
    let mut transport = "tcp".to_string();
    let mut host = "127.0.0.1".to_string();
    let mut port: u16 = 6379;
    let mut socket: Option<PathBuf> = None;
    let mut command = Command::Get;
    let mut command_text = "GET".to_string();
    let mut value_size = 16usize;
    let mut keyspace = 10_000u64;
    let mut prefill = true;
    let mut connections = 1usize;
    let mut pipeline = 1usize;
    let mut requests: Option<u64> = None;
    let mut duration: Option<Duration> = None;
    let mut warmup = Duration::ZERO;
    let mut open = false;
    let mut rate: Option<f64> = None;
    let mut timeout = Duration::from_secs(10);
    let (mut json, mut quiet, mut resp3) = (false, false, false);

    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let value = |it: &mut dyn Iterator<Item = String>| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--transport" => transport = value(&mut it)?,
            "--host" => host = value(&mut it)?,
            "--port" => port = parse_num("--port", &value(&mut it)?)?,
            "--socket" => socket = Some(PathBuf::from(value(&mut it)?)),
            "--resp3" => resp3 = true,
            "--timeout" => timeout = parse_duration(&value(&mut it)?)?,
            "--command" => {
                let name = value(&mut it)?;
                (command, command_text) = match name.to_ascii_lowercase().as_str() {
                    "get" => (Command::Get, "GET".into()),
                    "set" => (Command::Set, "SET".into()),
                    "ping" => (Command::Ping, "PING".into()),
                    "custom" => {
                        let text = it.next().ok_or(
                            "--command custom needs the command text, e.g. \"INCR __key__\"",
                        )?;
                        (Command::Custom(parse_template(&text)?), text)
                    }
                    _ => {
                        return Err(format!(
                            "unknown command {name:?} (get, set, ping or custom)"
                        ));
                    }
                };
            }
            "--value-size" => value_size = parse_num("--value-size", &value(&mut it)?)?,
            "--keyspace" => keyspace = parse_num("--keyspace", &value(&mut it)?)?,
            "--no-prefill" => prefill = false,
            "-c" | "--connections" => connections = parse_num("--connections", &value(&mut it)?)?,
            "-P" | "--pipeline" => pipeline = parse_num("--pipeline", &value(&mut it)?)?,
            "-n" | "--requests" => requests = Some(parse_num("--requests", &value(&mut it)?)?),
            "--duration" => duration = Some(parse_duration(&value(&mut it)?)?),
            "--warmup" => warmup = parse_duration(&value(&mut it)?)?,
            "--mode" => {
                open = match value(&mut it)?.as_str() {
                    "closed" => false,
                    "open" => true,
                    other => return Err(format!("unknown mode {other:?} (closed or open)")),
                }
            }
            "--rate" => rate = Some(parse_num("--rate", &value(&mut it)?)?),
            "--json" => json = true,
            "--quiet" => quiet = true,
            other => return Err(format!("unknown option {other:?}")),
        }
    }

    let endpoint = match transport.as_str() {
        "tcp" => Endpoint::tcp(&host, port),
        "rdma" => Endpoint::rdma(&host, port),
        "unix" => Endpoint::unix(socket.ok_or("--transport unix needs --socket PATH")?),
        other => return Err(format!("unknown transport {other:?} (tcp, unix or rdma)")),
    };
    if connections == 0 || pipeline == 0 {
        return Err("--connections and --pipeline must be at least 1".into());
    }
    if keyspace == 0 || keyspace > MAX_KEYSPACE {
        return Err(format!("--keyspace must be between 1 and {MAX_KEYSPACE}"));
    }
    if timeout.is_zero() {
        return Err("--timeout must be positive".into());
    }
    let stop = match (requests, duration) {
        (Some(_), Some(_)) => return Err("give --requests or --duration, not both".into()),
        (Some(0), None) => return Err("--requests must be at least 1".into()),
        (Some(n), None) => Stop::Requests(n),
        (None, Some(d)) if d.is_zero() => return Err("--duration must be positive".into()),
        (None, Some(d)) => Stop::Duration(d),
        (None, None) => Stop::Requests(100_000),
    };
    let mode = match (open, rate) {
        (true, Some(r)) if r.is_finite() && r > 0.0 => Mode::Open { rate: r },
        (true, _) => return Err("--mode open needs --rate R with R > 0".into()),
        (false, Some(_)) => return Err("--rate applies to --mode open only".into()),
        (false, None) => Mode::Closed,
    };
    Ok(Some(Config {
        endpoint,
        resp3,
        timeout,
        prefill: prefill && command == Command::Get,
        command,
        command_text,
        value_size,
        keyspace,
        connections,
        pipeline,
        stop,
        warmup,
        mode,
        json,
        quiet,
    }))
}

/// SplitMix64: small, fast, good enough to pick keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// Writes `key:` and `n` as 12 zero-padded digits (n < 10^12).
fn format_key(buf: &mut [u8; 16], mut n: u64) -> &[u8] {
    buf[..4].copy_from_slice(b"key:");
    for i in (4..16).rev() {
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    &buf[..]
}

/// Everything a worker needs to build requests.
struct Workload {
    command: Command,
    value: Vec<u8>,
    keyspace: u64,
}

impl Workload {
    fn push(
        &self,
        p: &mut ferrokv_rdma_client::Pipeline<'_>,
        rng: &mut Rng,
        key_buf: &mut [u8; 16],
    ) {
        let key = format_key(key_buf, rng.below(self.keyspace));
        match &self.command {
            Command::Get => p.cmd(&[&b"GET"[..], key]),
            Command::Set => p.cmd(&[&b"SET"[..], key, &self.value]),
            Command::Ping => p.cmd(&[b"PING"]),
            Command::Custom(args) => {
                let args: Vec<&[u8]> = args
                    .iter()
                    .map(|a| match a {
                        Arg::Lit(b) => b.as_slice(),
                        Arg::Key => key,
                        Arg::Value => &self.value,
                    })
                    .collect();
                p.cmd(&args)
            }
        };
    }
}

fn new_histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 3).map_err(|e| format!("histogram: {e:?}"))
}

/// Shared between the workers and the progress reporter.
struct Shared {
    done: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    /// Latencies since the last progress line, one histogram per worker.
    live: Vec<Mutex<Histogram<u64>>>,
}

struct WorkerResult {
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    /// When the last measured reply arrived.
    last_reply: Option<Instant>,
    failure: Option<String>,
}

/// Sleeps until `t`; the last stretch yields instead of sleeping, since a
/// sleep can overshoot by tens of microseconds.
fn wait_until(t: Instant) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        let left = t - now;
        if left > Duration::from_micros(200) {
            thread::sleep(left - Duration::from_micros(100));
        } else {
            thread::yield_now();
        }
    }
}

fn worker(
    mut client: Client,
    id: usize,
    cfg: &Config,
    work: &Workload,
    shared: &Shared,
    start: Instant,
    hist: Histogram<u64>,
) -> WorkerResult {
    let measure_from = start + cfg.warmup;
    let end = match cfg.stop {
        Stop::Duration(d) => Some(measure_from + d),
        Stop::Requests(_) => None,
    };
    let quota = match cfg.stop {
        Stop::Requests(n) => {
            let c = cfg.connections as u64;
            Some(n / c + u64::from((id as u64) < n % c))
        }
        Stop::Duration(_) => None,
    };
    // Open loop: this connection's share of the rate, one batch per slot.
    let slot = match cfg.mode {
        Mode::Open { rate } => Some(Duration::from_secs_f64(
            cfg.pipeline as f64 * cfg.connections as f64 / rate,
        )),
        Mode::Closed => None,
    };
    let mut out = WorkerResult {
        hist,
        requests: 0,
        errors: 0,
        last_reply: None,
        failure: None,
    };
    if quota == Some(0) {
        return out;
    }
    let mut rng = Rng(0x5EED_0000 + id as u64);
    let mut key_buf = [0u8; 16];
    let mut latencies: Vec<u64> = Vec::with_capacity(cfg.pipeline);
    let mut pipe = client.pipeline();
    let mut batch: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let due = match slot {
            Some(s) => start + s.mul_f64(batch as f64),
            None => Instant::now(),
        };
        if end.is_some_and(|end| due >= end) {
            break;
        }
        let measuring = due >= measure_from;
        let n = match quota {
            Some(q) if measuring => (q - out.requests).min(cfg.pipeline as u64) as usize,
            _ => cfg.pipeline,
        };
        for _ in 0..n {
            work.push(&mut pipe, &mut rng, &mut key_buf);
        }
        let sent_at = match slot {
            Some(_) => {
                wait_until(due);
                due
            }
            None => Instant::now(),
        };
        latencies.clear();
        let mut errors = 0;
        let result = pipe.send_each(|_, reply: Reply| {
            let now = Instant::now();
            latencies.push(now.saturating_duration_since(sent_at).as_nanos() as u64);
            if reply.is_error() {
                errors += 1;
            }
        });
        if let Err(e) = result {
            out.failure = Some(format!("connection {id}: {e}"));
            break;
        }
        batch += 1;
        if measuring {
            for &ns in &latencies {
                out.hist.saturating_record(ns.max(1));
            }
            if let Ok(mut live) = shared.live[id].lock() {
                for &ns in &latencies {
                    live.saturating_record(ns.max(1));
                }
            }
            out.requests += n as u64;
            out.errors += errors;
            out.last_reply = Some(Instant::now());
            shared.done.fetch_add(n as u64, Ordering::Relaxed);
            shared.errors.fetch_add(errors, Ordering::Relaxed);
            if quota.is_some_and(|q| out.requests >= q) {
                break;
            }
        }
    }
    out
}

fn connect(cfg: &Config) -> Result<Client, String> {
    let options = Options {
        connect_timeout: Some(cfg.timeout),
        read_timeout: Some(cfg.timeout),
        write_timeout: Some(cfg.timeout),
        ..Options::default()
    };
    let mut c = Client::connect_with(cfg.endpoint.clone(), &options)
        .map_err(|e| format!("cannot connect to {}: {e}", cfg.endpoint))?;
    if cfg.resp3 {
        c.hello(3).map_err(|e| format!("HELLO 3 failed: {e}"))?;
    }
    Ok(c)
}

fn prefill(c: &mut Client, work: &Workload, quiet: bool) -> Result<(), String> {
    if !quiet {
        eprintln!(
            "prefilling {} keys with {}-byte values ...",
            work.keyspace,
            work.value.len()
        );
    }
    let mut key_buf = [0u8; 16];
    let mut p = c.pipeline();
    let mut next = 0;
    while next < work.keyspace {
        let upto = (next + PREFILL_BATCH).min(work.keyspace);
        for k in next..upto {
            p.cmd(&[&b"SET"[..], format_key(&mut key_buf, k), &work.value]);
        }
        let mut failed = None;
        p.send_each(|_, r| {
            if r.is_error() && failed.is_none() {
                failed = Some(r);
            }
        })
        .map_err(|e| format!("prefill: {e}"))?;
        if let Some(r) = failed {
            return Err(format!("prefill: SET failed: {r:?}"));
        }
        next = upto;
    }
    Ok(())
}

/// Human-readable latency from nanoseconds.
fn human(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

struct Report {
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    measured: Duration,
    failures: Vec<String>,
}

const QUANTILES: [(&str, &str, f64); 6] = [
    ("p50", "p50", 0.5),
    ("p90", "p90", 0.9),
    ("p99", "p99", 0.99),
    ("p99.9", "p99_9", 0.999),
    ("p99.99", "p99_99", 0.9999),
    ("max", "max", 1.0),
];

fn mode_text(cfg: &Config) -> String {
    match cfg.mode {
        Mode::Closed => "closed loop".into(),
        Mode::Open { rate } => format!("open loop at {rate} req/s"),
    }
}

fn text_report(cfg: &Config, r: &Report) -> String {
    let mut s = String::new();
    let secs = r.measured.as_secs_f64();
    let tput = if secs > 0.0 {
        r.requests as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(
        s,
        "ferrokv-bench: {} over {} ({})",
        cfg.command_text,
        cfg.endpoint,
        if cfg.resp3 { "RESP3" } else { "RESP2" }
    );
    let _ = writeln!(
        s,
        "  {} connection(s), pipeline {}, {}, {}-byte values, {} keys",
        cfg.connections,
        cfg.pipeline,
        mode_text(cfg),
        cfg.value_size,
        cfg.keyspace
    );
    let _ = writeln!(
        s,
        "  measured {:.2} s after {:.2} s warm-up",
        secs,
        cfg.warmup.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "  requests {}  errors {}  throughput {:.0} req/s",
        r.requests, r.errors, tput
    );
    let _ = writeln!(s, "  latency:");
    if r.hist.is_empty() {
        let _ = writeln!(s, "    (no replies measured)");
    } else {
        let _ = writeln!(s, "    {:<7} {:>10}", "min", human(r.hist.min()));
        for (name, _, q) in QUANTILES {
            let _ = writeln!(
                s,
                "    {:<7} {:>10}",
                name,
                human(r.hist.value_at_quantile(q))
            );
        }
        let _ = writeln!(
            s,
            "    {:<7} {:>10}  (stdev {})",
            "mean",
            human(r.hist.mean() as u64),
            human(r.hist.stdev() as u64)
        );
    }
    for f in &r.failures {
        let _ = writeln!(s, "  FAILED: {f}");
    }
    s
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_report(cfg: &Config, r: &Report) -> String {
    let secs = r.measured.as_secs_f64();
    let tput = if secs > 0.0 {
        r.requests as f64 / secs
    } else {
        0.0
    };
    let us = |ns: u64| format!("{:.3}", ns as f64 / 1e3);
    let mut lat = String::new();
    if !r.hist.is_empty() {
        let _ = write!(lat, "\"min\":{}", us(r.hist.min()));
        for (_, key, q) in QUANTILES {
            let _ = write!(lat, ",\"{key}\":{}", us(r.hist.value_at_quantile(q)));
        }
        let _ = write!(
            lat,
            ",\"mean\":{:.3},\"stdev\":{:.3}",
            r.hist.mean() / 1e3,
            r.hist.stdev() / 1e3
        );
    }
    let (mode, rate) = match cfg.mode {
        Mode::Closed => ("closed", "null".to_string()),
        Mode::Open { rate } => ("open", format!("{rate}")),
    };
    let failures: Vec<String> = r.failures.iter().map(|f| json_str(f)).collect();
    format!(
        "{{\"transport\":{},\"endpoint\":{},\"protocol\":{},\"command\":{},\"value_size\":{},\"keyspace\":{},\
\"connections\":{},\"pipeline\":{},\"mode\":\"{mode}\",\"rate\":{rate},\"warmup_s\":{:.3},\"duration_s\":{:.3},\
\"requests\":{},\"errors\":{},\"throughput_rps\":{:.1},\"latency_us\":{{{lat}}},\"failures\":[{}]}}",
        json_str(cfg.endpoint.kind()),
        json_str(&cfg.endpoint.to_string()),
        json_str(if cfg.resp3 { "resp3" } else { "resp2" }),
        json_str(&cfg.command_text),
        cfg.value_size,
        cfg.keyspace,
        cfg.connections,
        cfg.pipeline,
        cfg.warmup.as_secs_f64(),
        secs,
        r.requests,
        r.errors,
        tput,
        failures.join(",")
    )
}

/// Prints one progress line per second until every worker is done.
fn progress(
    cfg: &Config,
    shared: &Shared,
    handles: &[thread::JoinHandle<WorkerResult>],
    start: Instant,
    mut interval: Histogram<u64>,
) {
    let tty = std::io::stderr().is_terminal();
    let mut last_done = 0;
    let mut tick = start + Duration::from_secs(1);
    let mut printed = false;
    while !handles.iter().all(|h| h.is_finished()) {
        let now = Instant::now();
        if now < tick {
            thread::sleep((tick - now).min(Duration::from_millis(50)));
            continue;
        }
        let elapsed = tick - start;
        tick += Duration::from_secs(1);
        if cfg.quiet {
            continue;
        }
        interval.reset();
        for live in &shared.live {
            if let Ok(mut h) = live.lock() {
                let _ = interval.add(&*h);
                h.reset();
            }
        }
        let done = shared.done.load(Ordering::Relaxed);
        let line = if elapsed <= cfg.warmup {
            format!("[{:>4}s] warming up", elapsed.as_secs())
        } else if interval.is_empty() {
            format!(
                "[{:>4}s] {done} requests, no replies in the last second",
                elapsed.as_secs()
            )
        } else {
            format!(
                "[{:>4}s] {:>8} req/s  p50 {}  p99 {}  max {}  total {}  errors {}",
                elapsed.as_secs(),
                done - last_done,
                human(interval.value_at_quantile(0.5)),
                human(interval.value_at_quantile(0.99)),
                human(interval.max()),
                done,
                shared.errors.load(Ordering::Relaxed)
            )
        };
        last_done = done;
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
        printed = true;
    }
    if tty && printed {
        eprintln!();
    }
}

fn run(cfg: &Config) -> Result<Report, String> {
    let work = Arc::new(Workload {
        command: cfg.command.clone(),
        value: (0..cfg.value_size).map(|i| b'a' + (i % 26) as u8).collect(),
        keyspace: cfg.keyspace,
    });
    let empty = new_histogram()?;
    // Connect everything first, so a bad target fails before any load.
    let mut clients = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        clients.push(connect(cfg)?);
    }
    if cfg.prefill {
        prefill(&mut clients[0], &work, cfg.quiet)?;
    }
    let shared = Arc::new(Shared {
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        live: (0..cfg.connections)
            .map(|_| Mutex::new(empty.clone()))
            .collect(),
    });
    // A little slack so every thread is running when the schedule starts.
    let start = Instant::now() + Duration::from_millis(20);
    let mut handles = Vec::with_capacity(cfg.connections);
    for (id, client) in clients.into_iter().enumerate() {
        let (cfg2, work, shared, hist) = (cfg.clone(), work.clone(), shared.clone(), empty.clone());
        let h = thread::Builder::new()
            .name(format!("conn-{id}"))
            .spawn(move || {
                wait_until(start);
                let r = worker(client, id, &cfg2, &work, &shared, start, hist);
                if r.failure.is_some() {
                    shared.stop.store(true, Ordering::Relaxed);
                }
                r
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        handles.push(h);
    }
    progress(cfg, &shared, &handles, start, empty.clone());

    let mut report = Report {
        hist: empty,
        requests: 0,
        errors: 0,
        measured: Duration::ZERO,
        failures: Vec::new(),
    };
    let mut last_reply: Option<Instant> = None;
    for h in handles {
        let r = h
            .join()
            .map_err(|_| "a connection thread panicked".to_string())?;
        report
            .hist
            .add(&r.hist)
            .map_err(|e| format!("merging histograms: {e:?}"))?;
        report.requests += r.requests;
        report.errors += r.errors;
        last_reply = last_reply.max(r.last_reply);
        report.failures.extend(r.failure);
    }
    let measure_from = start + cfg.warmup;
    report.measured = match (cfg.stop, last_reply) {
        (Stop::Duration(d), Some(_)) if report.failures.is_empty() => d,
        (_, Some(t)) => t.saturating_duration_since(measure_from),
        (_, None) => Duration::ZERO,
    };
    Ok(report)
}

fn main() -> ExitCode {
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ferrokv-bench: {e}\n(ferrokv-bench --help for usage)");
            return ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok(report) => {
            if cfg.json {
                println!("{}", json_report(&cfg, &report));
            } else {
                print!("{}", text_report(&cfg, &report));
            }
            if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                for f in &report.failures {
                    eprintln!("ferrokv-bench: {f}");
                }
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("ferrokv-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<Option<Config>, String> {
        parse_args(args.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap().unwrap();
        assert_eq!(c.endpoint, Endpoint::tcp("127.0.0.1", 6379));
        assert_eq!(c.command, Command::Get);
        assert!(c.prefill);
        assert_eq!((c.connections, c.pipeline), (1, 1));
        assert_eq!(c.stop, Stop::Requests(100_000));
        assert_eq!(c.mode, Mode::Closed);
        assert_eq!(parse("--help").unwrap(), None);
    }

    #[test]
    fn options() {
        let c = parse(
            "--transport unix --socket /tmp/s --command set --value-size 4096 --keyspace 7 \
             -c 8 --pipeline=16 --duration 2.5 --warmup 500ms --mode open --rate 1000 --json --resp3",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, Endpoint::unix("/tmp/s"));
        assert_eq!(c.command, Command::Set);
        assert!(!c.prefill);
        assert_eq!(
            (c.value_size, c.keyspace, c.connections, c.pipeline),
            (4096, 7, 8, 16)
        );
        assert_eq!(c.stop, Stop::Duration(Duration::from_millis(2500)));
        assert_eq!(c.warmup, Duration::from_millis(500));
        assert_eq!(c.mode, Mode::Open { rate: 1000.0 });
        assert!(c.json && c.resp3);
        let c = parse("--transport rdma --host 10.0.0.2 --port 7000")
            .unwrap()
            .unwrap();
        assert_eq!(c.endpoint, Endpoint::rdma("10.0.0.2", 7000));
        let c = parse_args(["--command", "custom", "HSET h __key__ __value__"].map(String::from))
            .unwrap()
            .unwrap();
        assert_eq!(
            c.command,
            Command::Custom(vec![
                Arg::Lit(b"HSET".to_vec()),
                Arg::Lit(b"h".to_vec()),
                Arg::Key,
                Arg::Value
            ])
        );
        assert_eq!(c.command_text, "HSET h __key__ __value__");
    }

    #[test]
    fn bad_options() {
        for (args, want) in [
            ("--bogus", "unknown option"),
            ("--port", "needs a value"),
            ("--port x", "invalid value"),
            ("--transport tls", "unknown transport"),
            ("--transport unix", "needs --socket"),
            ("--connections 0", "at least 1"),
            ("--keyspace 0", "--keyspace"),
            ("--requests 5 --duration 1", "not both"),
            ("--mode open", "needs --rate"),
            ("--rate 5", "open only"),
            ("--mode sideways", "unknown mode"),
            ("--duration -1", "invalid duration"),
            ("--command frob", "unknown command"),
            ("--command custom", "needs the command text"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(want), "{args}: {err}");
        }
        assert!(parse_args(["--command", "custom", "__key__ x"].map(String::from)).is_err());
    }

    #[test]
    fn keys_and_rng() {
        let mut b = [0u8; 16];
        assert_eq!(format_key(&mut b, 0), b"key:000000000000");
        assert_eq!(format_key(&mut b, 123_456_789_012), b"key:123456789012");
        let mut rng = Rng(1);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[rng.below(10) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn human_units() {
        assert_eq!(human(999), "999 ns");
        assert_eq!(human(25_300), "25.3 µs");
        assert_eq!(human(1_500_000), "1.50 ms");
        assert_eq!(human(2_000_000_000), "2.00 s");
        assert_eq!(json_str("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
    }
}
