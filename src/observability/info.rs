//! INFO: Valkey's sections and field names, filled from ferrokv's state.

use std::fmt::Write as _;

use super::usage::MemoryUsage;
use crate::server::Server;
use crate::server::pubsub::Kind;

/// Sections INFO prints with no argument or "default".
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "cluster",
    "errorstats",
    "keyspace",
];
/// Everything ("all", "everything").
const ALL: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections a list of INFO arguments selects, in output order.
pub fn selected(args: &[&[u8]]) -> Vec<&'static str> {
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if wanted.is_empty() {
        return DEFAULT.to_vec();
    }
    ALL.iter()
        .copied()
        .filter(|s| {
            wanted.iter().any(|w| {
                w == s || w == "all" || w == "everything" || (w == "default" && DEFAULT.contains(s))
            })
        })
        .collect()
}

pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    const K: f64 = 1024.0;
    if n < K {
        format!("{n}B")
    } else if n < K * K {
        format!("{:.2}K", n / K)
    } else if n < K * K * K {
        format!("{:.2}M", n / K / K)
    } else if n < K * K * K * K {
        format!("{:.2}G", n / K / K / K)
    } else {
        format!("{:.2}T", n / K / K / K / K)
    }
}

pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn total_system_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// (user, system) CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    // utime and stime are the 14th and 15th fields; `fields` starts at the 3rd.
    (ticks(11), ticks(12))
}

fn os_name() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} {} {}",
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

/// Renders the selected sections; `caller` is the requesting client's
/// buffer bytes (see `MemoryUsage::measure`).
pub fn render(srv: &Server, sections: &[&str], now_ms: i64, caller: usize) -> String {
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let w = &mut out;
        match *section {
            "server" => server(w, srv, now_ms),
            "clients" => clients(w, srv),
            "memory" => memory(w, srv, caller),
            "persistence" => {
                let _ = write!(
                    w,
                    "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\naof_last_write_status:ok\r\n",
                    srv.start_ms / 1000
                );
            }
            "stats" => stats(w, srv),
            "replication" => {
                let _ = write!(
                    w,
                    "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nreplicas_waiting_psync:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                    srv.run_id
                );
            }
            "cpu" => {
                let (user, sys) = cpu_seconds();
                let _ = write!(
                    w,
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:{sys:.6}\r\nused_cpu_user_main_thread:{user:.6}\r\n"
                );
            }
            "commandstats" => commandstats(w, srv),
            "errorstats" => {
                w.push_str("# Errorstats\r\n");
                for (code, count) in &srv.stats.errors_by_code {
                    let _ = write!(w, "errorstat_{code}:count={count}\r\n");
                }
            }
            "cluster" => w.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" => {
                w.push_str("# Keyspace\r\n");
                for (i, db) in srv.dbs.iter().enumerate().filter(|(_, db)| !db.is_empty()) {
                    let _ = write!(
                        w,
                        "db{i}:keys={},expires={},avg_ttl=0,keys_with_volatile_items={}\r\n",
                        db.len(),
                        db.expires_len(),
                        db.volatile_hashes()
                    );
                }
            }
            _ => {}
        }
    }
    out
}

fn server(w: &mut String, srv: &Server, now_ms: i64) {
    let uptime = (now_ms - srv.start_ms) / 1000;
    // The TLS port when there is no plain one, as Valkey.
    let port = match srv.config.port {
        0 => srv.config.tls.port,
        p => p,
    };
    let _ = write!(
        w,
        "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:{compat}\r\nferrokv_version:{ver}\r\nvalkey_release_stage:ga\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nserver_mode:standalone\r\nos:{os}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\nprocess_id:{pid}\r\nprocess_supervised:no\r\nrun_id:{run_id}\r\ntcp_port:{port}\r\nserver_time_usec:{usec}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{days}\r\nhz:{hz}\r\nconfigured_hz:{hz}\r\nclients_hz:{hz}\r\nexecutable:{exe}\r\nconfig_file:{conf}\r\nio_threads_active:0\r\n",
        compat = crate::VALKEY_COMPAT_VERSION,
        ver = env!("CARGO_PKG_VERSION"),
        os = os_name(),
        pid = std::process::id(),
        run_id = srv.run_id,
        usec = crate::util::time::unix_us(),
        days = uptime / 86400,
        hz = srv.config.hz,
        exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        conf = srv.config.config_file,
    );
    // One line per transport, with the configured addresses, numbered by
    // transport as Valkey numbers its connection types (tcp, unix, tls,
    // rdma), whichever are open.
    let c = &srv.config;
    let binds =
        |specs: &[String]| -> String { specs.iter().map(|b| format!("bind={b},")).collect() };
    let lines = [
        (c.port != 0).then(|| format!("name=tcp,{}port={}", binds(&c.bind), c.port)),
        (!c.unixsocket.is_empty()).then(|| format!("name=unix,bind={}", c.unixsocket)),
        (c.tls.port != 0).then(|| format!("name=tls,{}port={}", binds(&c.bind), c.tls.port)),
        (c.rdma_port != 0)
            .then(|| format!("name=rdma,{}port={}", binds(&c.rdma_bind), c.rdma_port)),
    ];
    for (i, l) in lines.iter().enumerate() {
        if let Some(l) = l {
            let _ = write!(w, "listener{i}:{l}\r\n");
        }
    }
}

fn clients(w: &mut String, srv: &Server) {
    let (mut max_in, mut max_out) = (0, 0);
    for c in srv.clients.iter().flatten() {
        max_in = max_in.max(c.qbuf.len());
        max_out = max_out.max(c.pending_output());
    }
    let _ = write!(
        w,
        "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{max_in}\r\nclient_recent_max_output_buffer:{max_out}\r\nblocked_clients:{}\r\ntracking_clients:0\r\npubsub_clients:{}\r\nwatching_clients:{}\r\nclients_in_timeout_table:{}\r\ntotal_watched_keys:{}\r\ntotal_blocking_keys:{}\r\ntotal_blocking_keys_on_nokey:0\r\n",
        srv.client_count,
        srv.config.maxclients,
        srv.blocking.clients(),
        srv.pubsub.clients,
        srv.watches.clients(),
        srv.blocking.timed(),
        srv.watches.keys(),
        srv.blocking.keys()
    );
}

/// Valkey's memory fields, in its order. Scripting, replication, cluster
/// and AOF take nothing here (none exists yet); the allocator reports
/// what is allocated and resident, as Valkey's libc build does.
fn memory(w: &mut String, srv: &Server, caller: usize) {
    let u = MemoryUsage::measure(srv, caller);
    let config = &srv.config;
    let (used, rss, peak) = (u.total as u64, u.rss as u64, u.peak as u64);
    let _ = write!(
        w,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:{}\r\nused_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{used}\r\nallocator_active:{rss}\r\nallocator_resident:{rss}\r\nallocator_muzzy:0\r\ntotal_system_memory:{total}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:0\r\nused_memory_vm_eval:0\r\nused_memory_lua_human:0B\r\nused_memory_scripts_eval:0\r\nnumber_of_cached_scripts:0\r\nnumber_of_functions:0\r\nnumber_of_libraries:0\r\nused_memory_vm_functions:0\r\nused_memory_vm_total:0\r\nused_memory_vm_total_human:0B\r\nused_memory_functions:0\r\nused_memory_scripts:0\r\nused_memory_scripts_human:0B\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:1.00\r\nallocator_frag_bytes:0\r\nallocator_rss_ratio:1.00\r\nallocator_rss_bytes:0\r\nrss_overhead_ratio:1.00\r\nrss_overhead_bytes:0\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:0\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_replicas_repl_buffer:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:{}\r\nmem_cluster_links:0\r\nmem_cluster_slot_import:0\r\nmem_cluster_slot_export:0\r\nmem_aof_buffer:0\r\nmem_allocator:{}\r\nmem_overhead_db_hashtable_rehashing:0\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
        human_bytes(used),
        human_bytes(rss),
        human_bytes(peak),
        u.peak_percent(),
        u.overhead(),
        u.startup,
        u.dataset(),
        u.dataset_percent(),
        human_bytes(total_system_memory()),
        config.maxmemory,
        human_bytes(config.maxmemory as u64),
        config.maxmemory_policy,
        u.fragmentation(),
        u.fragmentation_bytes(),
        u.clients,
        super::alloc::name(),
        total = total_system_memory(),
    );
}

fn stats(w: &mut String, srv: &Server) {
    let s = &srv.stats;
    let (hits, misses, expired) = srv.dbs.iter().fold((0, 0, 0), |(h, m, e), db| {
        (h + db.stats.hits, m + db.stats.misses, e + db.stats.expired)
    });
    let ops_per_sec = match (s.ops_samples.first(), s.ops_samples.last()) {
        (Some(&(t0, c0)), Some(&(t1, c1))) if t1 > t0 => (c1 - c0) * 1000 / (t1 - t0) as u64,
        _ => 0,
    };
    let _ = write!(
        w,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{ops_per_sec}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{expired}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{hits}\r\nkeyspace_misses:{misses}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\ntotal_error_replies:{}\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n",
        s.connections_received,
        s.commands_processed,
        s.net_input_bytes,
        s.net_output_bytes,
        s.rejected_connections,
        s.expire_cycle_us / 1000,
        s.evicted_keys,
        srv.pubsub.active_count(Kind::Channel),
        srv.pubsub.active_count(Kind::Pattern),
        srv.pubsub.active_count(Kind::Shard),
        s.error_replies,
        s.reads_processed,
        s.writes_processed,
        s.query_buffer_limit_disconnections,
        s.output_buffer_limit_disconnections,
    );
}

fn commandstats(w: &mut String, srv: &Server) {
    w.push_str("# Commandstats\r\n");
    let t = &srv.commands;
    for (id, st) in t.stats.iter().enumerate() {
        if st.calls == 0 && st.rejected == 0 && st.failed == 0 {
            continue;
        }
        let per_call = if st.calls > 0 {
            st.usec as f64 / st.calls as f64
        } else {
            0.0
        };
        let _ = write!(
            w,
            "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            t.full_names[id], st.calls, st.usec, st.rejected, st.failed
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_selection() {
        assert_eq!(selected(&[]), DEFAULT.to_vec());
        assert_eq!(
            selected(&[b"KEYSPACE", b"server"]),
            vec!["server", "keyspace"]
        );
        assert!(selected(&[b"all"]).contains(&"commandstats"));
        assert!(selected(&[b"nosuch"]).is_empty());
    }

    #[test]
    fn human() {
        assert_eq!(human_bytes(100), "100B");
        assert_eq!(human_bytes(1_635_760), "1.56M");
    }
}
