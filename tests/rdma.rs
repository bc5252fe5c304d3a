//! The RDMA transport end to end: the real server binary and the client
//! library over soft-RoCE. These run inside the guest that `ci/rdma-vm/run`
//! boots (it sets `FERROKV_RDMA_VM`); on a host without RDMA they return at
//! once (the host suites cover "RDMA unavailable").

mod common;

use common::{Server, show};

fn in_guest() -> bool {
    std::env::var_os("FERROKV_RDMA_VM").is_some()
}

macro_rules! guest_only {
    () => {
        if !in_guest() {
            eprintln!("skipped: needs the soft-RoCE guest (ci/rdma-vm/run)");
            return;
        }
    };
}

#[test]
fn commands_run_over_rdma() {
    guest_only!();
    let server = Server::start_rdma(&[]);
    let mut c = server.conn();
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), b"$1\r\nv\r\n", "{}", show(b""));
}
