//! Starts the real `ferrokv-server` for the integration tests.
//!
//! The binary is `FERROKV_SERVER_BIN` if set, else `ferrokv-server` in the
//! target directory these tests were built into (build it first:
//! `cargo build --bin ferrokv-server`; `cargo test --workspace` does).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Path of the server binary under test.
pub fn server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("FERROKV_SERVER_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test binary> -> target/<profile>/ferrokv-server
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("ferrokv-server"))
        .expect("test binary lives in target/<profile>/deps");
    assert!(
        bin.is_file(),
        "{} not found: build the server first (cargo build --bin ferrokv-server) or set FERROKV_SERVER_BIN",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// A running ferrokv-server, on 127.0.0.1 and a Unix socket (and, inside
/// the soft-RoCE guest that `ci/rdma-vm/run` boots, on RDMA at
/// `FERROKV_RDMA_ADDR` too); killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    /// `host:port` of the RDMA listener, inside the guest.
    pub rdma: Option<String>,
    pub socket: PathBuf,
    dir: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        let mut last = String::new();
        for _ in 0..5 {
            match Server::try_start(extra) {
                Ok(s) => return s,
                Err(log) => last = log,
            }
        }
        panic!("ferrokv-server did not start:\n{last}");
    }

    fn try_start(extra: &[&str]) -> Result<Server, String> {
        let bin = server_bin();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferrokv-rc-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create server dir");
        let socket = PathBuf::from(format!("/tmp/ferrokv-rc{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let port = free_port();
        let log = std::fs::File::create(dir.join("server.log")).expect("create log");
        let rdma = std::env::var("FERROKV_RDMA_ADDR")
            .ok()
            .filter(|_| std::env::var_os("FERROKV_RDMA_VM").is_some())
            .map(|ip| format!("{ip}:{}", free_port()));
        let rdma_args: Vec<String> = match &rdma {
            Some(a) => {
                let (ip, port) = a.rsplit_once(':').unwrap();
                ["--rdma-bind", ip, "--rdma-port", port]
                    .map(String::from)
                    .to_vec()
            }
            None => Vec::new(),
        };
        let child = Command::new(&bin)
            .args(&rdma_args)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&socket)
            .args(extra)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
        let mut server = Server {
            child,
            port,
            rdma,
            socket,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = server.log();
                if log.contains("in use") {
                    return Err(log);
                }
                panic!("ferrokv-server exited during start-up ({status}):\n{log}");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && UnixStream::connect(&server.socket).is_ok()
            {
                return Ok(server);
            }
            assert!(
                Instant::now() < deadline,
                "ferrokv-server not accepting after 10 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Kills the server now (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
