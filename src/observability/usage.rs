//! Where the server's memory goes: the figures INFO memory, MEMORY STATS
//! and MEMORY DOCTOR report, measured once per call.

use super::alloc;
use crate::server::Server;

pub struct MemoryUsage {
    pub peak: usize,
    pub total: usize,
    pub startup: usize,
    /// Input and output buffers of the clients, the caller's included.
    pub clients: usize,
    pub rss: usize,
    /// Per non-empty database: (index, key table overhead, TTL list
    /// overhead).
    pub dbs: Vec<(usize, usize, usize)>,
    pub rehashing: usize,
    pub keys: usize,
}

impl MemoryUsage {
    /// `caller` is the running client's buffer bytes: it is out of the
    /// client table while its command runs.
    pub fn measure(srv: &Server, caller: usize) -> MemoryUsage {
        let clients = caller
            + srv
                .clients
                .iter()
                .flatten()
                .map(|c| c.qbuf.capacity() + c.out.buf.capacity())
                .sum::<usize>();
        let dbs = srv
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, db)| !db.is_empty())
            .map(|(i, db)| {
                let (main, expires) = db.overhead();
                (i, main, expires)
            })
            .collect();
        MemoryUsage {
            peak: alloc::sample_peak(),
            total: alloc::used(),
            startup: srv.startup_allocated,
            clients,
            rss: super::info::rss_bytes() as usize,
            dbs,
            rehashing: srv.dbs.iter().filter(|db| db.is_rehashing()).count(),
            keys: srv.dbs.iter().map(|db| db.len()).sum(),
        }
    }

    /// Memory that is not keys and values: start-up, client buffers and
    /// the databases' tables.
    pub fn overhead(&self) -> usize {
        let tables: usize = self.dbs.iter().map(|(_, m, e)| m + e).sum();
        self.startup + self.clients + tables
    }

    pub fn dataset(&self) -> usize {
        self.total.saturating_sub(self.overhead())
    }

    /// Used memory as a share of the peak, in percent.
    pub fn peak_percent(&self) -> f64 {
        percent(self.total, self.peak)
    }

    /// RSS over used memory (Valkey's mem_fragmentation_ratio), and the
    /// bytes in excess.
    pub fn fragmentation(&self) -> f64 {
        percent(self.rss, self.total) / 100.0
    }

    pub fn fragmentation_bytes(&self) -> usize {
        self.rss.saturating_sub(self.total)
    }

    /// Dataset share of the memory allocated since start-up, in percent.
    pub fn dataset_percent(&self) -> f64 {
        percent(self.dataset(), self.total.saturating_sub(self.startup))
    }
}

pub fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
