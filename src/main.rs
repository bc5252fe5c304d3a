//! ferrokv-server: a Valkey-compatible in-memory data server.
//!
//! Usage is valkey-server's: `ferrokv-server [/path/to/valkey.conf] [--directive value ...]`.

mod commands;
mod config;
mod error;
mod keyspace;
mod observability;
mod server;
mod simd;
mod types;
mod util;

use std::process::ExitCode;

use config::Config;
use server::Server;
use server::event_loop::EventLoop;

/// The Valkey release whose behaviour ferrokv follows.
#[global_allocator]
static ALLOCATOR: observability::alloc::CountingAllocator = observability::alloc::CountingAllocator;

pub const VALKEY_COMPAT_VERSION: &str = "9.1.2";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("-v" | "--version") => {
            println!(
                "ferrokv-server v={} (valkey compatible {})",
                env!("CARGO_PKG_VERSION"),
                VALKEY_COMPAT_VERSION
            );
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help") => {
            println!(
                "Usage: ferrokv-server [/path/to/valkey.conf] [options]\n       ferrokv-server -v or --version\n\nExamples:\n       ferrokv-server (run the server with default conf)\n       ferrokv-server /etc/valkey/6379.conf\n       ferrokv-server --port 7777\n       ferrokv-server /etc/myvalkey.conf --loglevel verbose"
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = server::log::configure(&config.loglevel, &config.logfile) {
        eprintln!("Can't open the log file: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::env::set_current_dir(&config.dir) {
        warning!("Can't chdir to '{}': {e}", config.dir);
        return ExitCode::FAILURE;
    }
    notice!("oO0OoO0OoO0Oo ferrokv is starting oO0OoO0OoO0Oo");
    notice!(
        "ferrokv version={}, valkey compatibility={}, bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        VALKEY_COMPAT_VERSION,
        std::process::id()
    );
    if !config.pidfile.is_empty()
        && let Err(e) = std::fs::write(&config.pidfile, format!("{}\n", std::process::id()))
    {
        warning!("Failed to write PID file: {e}");
    }
    let mut srv = Server::new(config);
    let mut event_loop = match EventLoop::new(&mut srv) {
        Ok(l) => l,
        Err(e) => {
            warning!("{e}");
            return ExitCode::FAILURE;
        }
    };
    srv.startup_allocated = observability::alloc::used();
    notice!("Server initialized");
    for (kind, l) in srv.listeners.describe() {
        notice!("Ready to accept connections {} on {l}", kind.name());
    }
    match event_loop.run(&mut srv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            warning!("Event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}
