//! The RDMA transport (Valkey's RDMA wire protocol). `protocol` is the pure
//! part: message formats and buffer offset bookkeeping, tested without a
//! device. The verbs layer (rdma_cm listener, queue pairs, registered
//! buffers, completion channels in the event loop) builds on it.

pub mod protocol;

/// Checks that this host can do RDMA: libibverbs loads and lists at least
/// one device. The error says why not, for a clear start-up failure.
pub fn probe() -> Result<usize, String> {
    use std::error::Error;
    let devices = sideway::ibverbs::device::DeviceList::new().map_err(|e| {
        let cause = e.source().map(|s| format!(" ({s})")).unwrap_or_default();
        format!("RDMA unavailable: {e}{cause}")
    })?;
    match devices.len() {
        0 => Err("RDMA unavailable: no RDMA devices found".to_string()),
        n => Ok(n),
    }
}
