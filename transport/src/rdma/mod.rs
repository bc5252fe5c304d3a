//! The RDMA transport: Valkey's RDMA wire protocol over verbs.
//!
//! * `protocol`: message formats and buffer/queue bookkeeping, plain safe
//!   Rust, tested without a device;
//! * `verbs`: the FFI edge (rdma-core loaded at run time), all of the
//!   transport's unsafe code;
//! * `conn`: one connection's protocol engine, shared by server and client;
//! * `server`: the rdma_cm listener and accepted connections behind the
//!   executor's transport traits.

mod conn;
pub mod protocol;
mod server;
mod verbs;

pub use conn::{ControlStats, NUDGE_AFTER, RdmaConn};
pub use server::{RdmaConnection, RdmaListener, RdmaOptions};
pub use verbs::{raise_memlock_limit, wait_readable};

/// Checks that this host can do RDMA: libibverbs loads and lists at least
/// one device. The error says why not, for a clear start-up failure.
pub fn probe() -> Result<usize, String> {
    match verbs::device_count() {
        Err(e) => Err(format!("RDMA unavailable: {e}")),
        Ok(0) => Err("RDMA unavailable: no RDMA devices found".to_string()),
        Ok(n) => Ok(n),
    }
}
