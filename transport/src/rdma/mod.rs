//! The RDMA transport (Valkey's RDMA wire protocol). `protocol` is the pure
//! part: message formats and buffer offset bookkeeping, tested without a
//! device. The verbs layer (rdma_cm listener, queue pairs, registered
//! buffers, completion channels in the event loop) builds on it.

pub mod protocol;
