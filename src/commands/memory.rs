//! MEMORY: what a key takes (USAGE), where the server's memory goes
//! (STATS), a diagnosis (DOCTOR), and the allocator (MALLOC-STATS, PURGE).

use super::{Command, Ctx, int_arg, is, ks, reply_help};
use crate::error::{CmdError, CmdResult};
use crate::observability::alloc;
use crate::observability::usage::MemoryUsage;

const SHARDS: &str = "nondeterministic_output request_policy:all_shards response_policy:special";

pub const COMMANDS: &[Command] = &[Command::container("memory", "@slow", MEMORY)];

const MEMORY: &[Command] = &[
    Command::new("doctor", 2, "", (0, 0, 0), "@slow", doctor).tips(SHARDS),
    Command::new("help", 2, "loading stale", (0, 0, 0), "@slow", help),
    Command::new(
        "malloc-stats",
        2,
        "loading",
        (0, 0, 0),
        "@slow",
        malloc_stats,
    )
    .tips(SHARDS),
    Command::new("purge", 2, "loading", (0, 0, 0), "@slow", purge)
        .tips("request_policy:all_shards response_policy:all_succeeded"),
    Command::new("stats", 2, "", (0, 0, 0), "@slow", stats).tips(SHARDS),
    Command::new("usage", -3, "readonly", (2, 2, 1), "@read @slow", usage)
        .keys(&[ks("RO", 2, 0, 1)]),
];

/// Nested values sampled by default (Valkey's).
const DEFAULT_SAMPLES: usize = 5;

fn usage(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut samples = DEFAULT_SAMPLES;
    let mut i = 3;
    while i < argv.len() {
        if !(is(argv[i], "samples") && i + 1 < argv.len()) {
            return Err(CmdError::Syntax);
        }
        // 0 samples every nested value.
        samples = usize::try_from(int_arg(argv[i + 1])?).map_err(|_| CmdError::Syntax)?;
        i += 2;
    }
    let now = ctx.now_ms;
    let db = ctx.db();
    let found = db.lookup_counted(argv[2], now).is_some();
    match found.then(|| db.memory_usage(argv[2], samples)).flatten() {
        Some(bytes) => ctx.out.int(bytes as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

fn stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let u = MemoryUsage::measure(ctx.srv, super::server::caller(ctx));
    let (overhead, dataset) = (u.overhead(), u.dataset());
    let net = u.total.saturating_sub(u.startup);
    let mut rows = vec![
        ("peak.allocated".to_string(), Row::Int(u.peak)),
        ("total.allocated".into(), Row::Int(u.total)),
        ("startup.allocated".into(), Row::Int(u.startup)),
        ("replication.backlog".into(), Row::Int(0)),
        ("replicas.repl.buffer".into(), Row::Int(0)),
        ("clients.slaves".into(), Row::Int(0)),
        ("clients.normal".into(), Row::Int(u.clients)),
        ("cluster.links".into(), Row::Int(0)),
        ("cluster.slot_import".into(), Row::Int(0)),
        ("cluster.slot_export".into(), Row::Int(0)),
        ("aof.buffer".into(), Row::Int(0)),
        ("lua.caches".into(), Row::Int(0)),
        ("functions.caches".into(), Row::Int(0)),
    ];
    for &(i, main, expires) in &u.dbs {
        rows.push((format!("db.{i}"), Row::Db(main, expires)));
    }
    // The allocator reports no more than what is allocated and resident,
    // as for Valkey built with libc malloc.
    rows.extend([
        ("overhead.db.hashtable.lut".into(), Row::Int(0)),
        ("overhead.db.hashtable.rehashing".into(), Row::Int(0)),
        ("overhead.total".into(), Row::Int(overhead)),
        ("db.dict.rehashing.count".into(), Row::Int(u.rehashing)),
        ("keys.count".into(), Row::Int(u.keys)),
        (
            "keys.bytes-per-key".into(),
            Row::Int(net.checked_div(u.keys).unwrap_or(0)),
        ),
        ("dataset.bytes".into(), Row::Int(dataset)),
        ("dataset.percentage".into(), Row::Float(u.dataset_percent())),
        ("peak.percentage".into(), Row::Float(u.peak_percent())),
        ("allocator.allocated".into(), Row::Int(u.total)),
        ("allocator.active".into(), Row::Int(u.rss)),
        ("allocator.resident".into(), Row::Int(u.rss)),
        ("allocator.muzzy".into(), Row::Int(0)),
        ("allocator-fragmentation.ratio".into(), Row::Float(1.0)),
        ("allocator-fragmentation.bytes".into(), Row::Int(0)),
        ("allocator-rss.ratio".into(), Row::Float(1.0)),
        ("allocator-rss.bytes".into(), Row::Int(0)),
        ("rss-overhead.ratio".into(), Row::Float(1.0)),
        ("rss-overhead.bytes".into(), Row::Int(0)),
        ("fragmentation".into(), Row::Float(u.fragmentation())),
        (
            "fragmentation.bytes".into(),
            Row::Int(u.fragmentation_bytes()),
        ),
    ]);
    let out = &mut *ctx.out;
    out.map(rows.len());
    for (name, row) in rows {
        out.simple(&name);
        match row {
            Row::Int(v) => out.int(v as i64),
            Row::Float(v) => out.double(v),
            Row::Db(main, expires) => {
                out.map(2);
                out.simple("overhead.hashtable.main");
                out.int(main as i64);
                out.simple("overhead.hashtable.expires");
                out.int(expires as i64);
            }
        }
    }
    Ok(())
}

/// One MEMORY STATS value.
enum Row {
    Int(usize),
    Float(f64),
    /// A database's key table and TTL list overheads.
    Db(usize, usize),
}

/// Below this, DOCTOR has nothing to say (Valkey's 5 MB).
const DOCTOR_MIN_USED: usize = 5 << 20;

fn doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let u = MemoryUsage::measure(ctx.srv, super::server::caller(ctx));
    let text = if u.total < DOCTOR_MIN_USED {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string()
    } else {
        let big_peak = u.peak as f64 > u.total as f64 * 1.5;
        let high_rss = u.fragmentation() > 1.4 && u.fragmentation_bytes() > 10 << 20;
        if !big_peak && !high_rss {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string()
        } else {
            let mut s = String::from(
                "Sam, I detected a few issues in this Valkey instance memory implants:\n\n",
            );
            if big_peak {
                s.push_str(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Valkey instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Valkey instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
            }
            if high_rss {
                s.push_str(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Valkey process is much larger than the sum of the logical allocations Valkey performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"");
                s.push_str(&alloc::name());
                s.push_str("\".\n\n");
            }
            s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
            s
        }
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn malloc_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.verbatim("txt", alloc::stats().as_bytes());
    Ok(())
}

/// Hands free heap pages back to the system.
fn purge(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    alloc::purge();
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx.out,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}
