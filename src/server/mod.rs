//! The server: shared state owned by the executor thread, command dispatch,
//! and the event loop that feeds it.

pub mod blocking;
pub mod client;
pub mod dispatch;
pub mod event_loop;
pub mod listeners;
pub mod log;
mod memory;
mod prefetch;
pub mod pubsub;
pub mod watch;

use std::collections::BTreeMap;

use crate::commands::CommandTable;
use crate::config::Config;
use crate::keyspace::evict::{Lfu, Policy, Pool};
use crate::keyspace::{Db, events};
use crate::util::xorshift;
use client::Client;

/// Server-wide counters (INFO stats).
#[derive(Default, Debug)]
pub struct Stats {
    pub connections_received: u64,
    pub commands_processed: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub error_replies: u64,
    /// Error replies by error code ("ERR", "WRONGTYPE" ...).
    pub errors_by_code: BTreeMap<String, u64>,
    pub reads_processed: u64,
    pub writes_processed: u64,
    pub query_buffer_limit_disconnections: u64,
    pub output_buffer_limit_disconnections: u64,
    pub expire_cycle_us: u64,
    pub evicted_keys: u64,
    /// For instantaneous_ops_per_sec: (ms, commands) samples.
    pub ops_samples: Vec<(i64, u64)>,
}

/// Why the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Signal(&'static str),
    Command,
}

pub struct Server {
    pub config: Config,
    pub dbs: Vec<Db>,
    /// Connected clients by slot; the one running a command is taken out
    /// while it does (see [`Server::for_each_client`]).
    pub clients: Vec<Option<Box<Client>>>,
    pub client_count: usize,
    /// Slots of clients killed by CLIENT KILL, closed after this batch.
    pub kill_queue: Vec<usize>,
    pub commands: CommandTable,
    pub stats: Stats,
    pub start_ms: i64,
    pub run_id: String,
    pub next_client_id: u64,
    pub shutdown: Option<Shutdown>,
    pub active_expire_enabled: bool,
    pub listeners: listeners::Listeners,
    /// Clients blocked on keys, and keys that may serve them.
    pub blocking: blocking::Blocking,
    /// Keys watched for MULTI/EXEC.
    pub watches: watch::Watches,
    pub pubsub: pubsub::PubSub,
    /// Slots of other clients given output by this batch (published
    /// messages): the event loop flushes them.
    pub wrote: Vec<usize>,
    /// Messages for the client running a command, sent after its reply.
    pub own_pushes: ferrokv_transport::ReplyWriter,
    /// `maxmemory-policy`, parsed, and the eviction candidates it keeps.
    pub policy: Policy,
    evict_pool: Pool,
    /// Bytes allocated once the server was set up, listeners included
    /// (INFO used_memory_startup, MEMORY STATS).
    pub startup_allocated: usize,
    rng_state: u64,
}

impl Server {
    pub fn new(config: Config) -> Self {
        let start_ms = crate::util::time::unix_ms();
        let seed =
            (crate::util::time::unix_us() as u64) ^ (u64::from(std::process::id()) << 32) | 1;
        let mut srv = Self {
            dbs: (0..config.databases).map(|_| Db::default()).collect(),
            config,
            clients: Vec::new(),
            client_count: 0,
            kill_queue: Vec::new(),
            commands: CommandTable::new(),
            stats: Stats::default(),
            start_ms,
            run_id: String::new(),
            next_client_id: 1,
            shutdown: None,
            active_expire_enabled: true,
            listeners: listeners::Listeners::default(),
            blocking: blocking::Blocking::default(),
            watches: watch::Watches::default(),
            pubsub: pubsub::PubSub::default(),
            wrote: Vec::new(),
            own_pushes: ferrokv_transport::ReplyWriter::new(),
            policy: Policy::NoEviction,
            evict_pool: Pool::default(),
            startup_allocated: 0,
            rng_state: seed,
        };
        srv.config_changed();
        srv.run_id = (0..5)
            .map(|_| format!("{:08x}", srv.random_u64() as u32))
            .collect();
        srv
    }

    /// A fast non-cryptographic random number, for sampling.
    pub fn random_u64(&mut self) -> u64 {
        xorshift(&mut self.rng_state)
    }

    /// The databases, and a sampler over `0..n` for picking random keys
    /// (RANDOMKEY, the active expire cycle).
    pub fn dbs_and_sampler(&mut self) -> (&mut [Db], impl FnMut(usize) -> usize + '_) {
        let state = &mut self.rng_state;
        let rng = move |n: usize| (xorshift(state) % n.max(1) as u64) as usize;
        (&mut self.dbs, rng)
    }

    /// Visits every connected client's session; `current` stands in for the
    /// slot of the client whose command is running.
    pub fn for_each_client(
        &self,
        current: (&client::Session, &client::IoSnapshot),
        mut f: impl FnMut(&client::Session, &client::IoSnapshot),
    ) {
        let mut sessions: Vec<(&client::Session, Option<client::IoSnapshot>)> = self
            .clients
            .iter()
            .flatten()
            .map(|c| (&c.session, Some(client::IoSnapshot::of(c))))
            .collect();
        sessions.push((current.0, None));
        sessions.sort_by_key(|(s, _)| s.id);
        for (s, io) in &sessions {
            f(s, io.as_ref().unwrap_or(current.1));
        }
    }

    pub fn count_error(&mut self, text: &[u8]) {
        let code = text.split(|&c| c == b' ').next().unwrap_or(b"ERR");
        let code = String::from_utf8_lossy(code);
        self.stats.error_replies += 1;
        *self
            .stats
            .errors_by_code
            .entry(code.to_string())
            .or_default() += 1;
    }

    /// Applies what a configuration change implies beyond the value
    /// itself: which events the databases record for notifications, the
    /// eviction policy, and whether accesses count for LFU.
    pub fn config_changed(&mut self) {
        let flags = self.config.notify_keyspace_events;
        let wanted = if flags & (events::KEYSPACE | events::KEYEVENT) != 0 {
            flags
        } else {
            0
        };
        self.policy = Policy::parse(&self.config.maxmemory_policy);
        let lfu = self.policy.lfu().then_some(Lfu {
            log_factor: self.config.lfu_log_factor as u32,
            decay_minutes: self.config.lfu_decay_time as u32,
        });
        for db in &mut self.dbs {
            db.events.wanted = wanted;
            db.events.pending.clear();
            db.lfu = lfu;
        }
    }

    /// A key was written (Valkey's signalModifiedKey): clients WATCHing it
    /// fail their EXEC.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if self.watches.is_empty() {
            return;
        }
        let exists = self.dbs[db].get_checked(key).is_some();
        self.watches.touch(db, key, exists);
    }

    /// Publishes a keyspace event (if its class is enabled), after the
    /// events the databases raised by themselves before it.
    pub fn notify(
        &mut self,
        running: Option<pubsub::Running>,
        db: usize,
        class: events::Classes,
        event: &str,
        key: &[u8],
    ) {
        let flags = self.config.notify_keyspace_events;
        if !events::wanted(flags, class) {
            return;
        }
        self.flush_db_events(running);
        self.publish_event(running, db, event, key);
    }

    /// Publishes the events the databases recorded (keys created, expired,
    /// missed; hash fields expired).
    pub fn flush_db_events(&mut self, running: Option<pubsub::Running>) {
        for db in 0..self.dbs.len() {
            if self.dbs[db].events.pending.is_empty() {
                continue;
            }
            for (_, event, key) in std::mem::take(&mut self.dbs[db].events.pending) {
                self.publish_event(running, db, event, &key);
            }
        }
    }

    fn publish_event(
        &mut self,
        running: Option<pubsub::Running>,
        db: usize,
        event: &str,
        key: &[u8],
    ) {
        // Nobody listens on any channel: no channel names to build.
        if !self.pubsub.listening() {
            return;
        }
        let flags = self.config.notify_keyspace_events;
        if flags & events::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            pubsub::publish(self, running, false, &channel, event.as_bytes());
        }
        if flags & events::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            pubsub::publish(self, running, false, channel.as_bytes(), key);
        }
    }

    pub fn needs_auth(&self) -> bool {
        !self.config.requirepass.is_empty()
    }
}
