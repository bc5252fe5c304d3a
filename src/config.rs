//! Configuration: the directives ferrokv implements, with Valkey's names,
//! defaults, value syntax and error texts. One table drives the config file
//! parser, `--directive value` arguments, CONFIG GET and CONFIG SET.

use std::fmt::Write as _;

use crate::util::{glob, parse_i64, parse_memory};

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: i64,
    pub tcp_backlog: i64,
    pub tcp_keepalive: i64,
    pub timeout: i64,
    pub maxclients: i64,
    pub unixsocket: String,
    pub unixsocketperm: u32,
    pub databases: i64,
    pub hz: i64,
    pub active_expire_effort: i64,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: i64,
    /// Largest sparse HyperLogLog (header included) before it turns dense.
    pub hll_sparse_max_bytes: i64,
    /// Hashes stay listpacks up to this many fields, each field and value
    /// up to this many bytes.
    pub hash_max_listpack_entries: i64,
    pub hash_max_listpack_value: i64,
    /// Sets stay intsets up to this many integers, listpacks up to this
    /// many members of at most this many bytes.
    pub set_max_intset_entries: i64,
    pub set_max_listpack_entries: i64,
    pub set_max_listpack_value: i64,
    /// Sorted sets stay listpacks up to this many members of at most this
    /// many bytes.
    pub zset_max_listpack_entries: i64,
    pub zset_max_listpack_value: i64,
    /// List node limit: entries if positive, else a size class (-2: 8 KB).
    pub list_max_listpack_size: i64,
    /// Quicklist nodes left uncompressed at each end of a list (0: none
    /// compressed); lists take it when they become quicklists.
    pub list_compress_depth: i64,
    pub requirepass: String,
    pub protected_mode: bool,
    pub loglevel: String,
    pub logfile: String,
    pub pidfile: String,
    pub daemonize: bool,
    pub dir: String,
    pub save: String,
    pub appendonly: bool,
    pub io_threads: i64,
    /// "no", "yes" or "local": who may run DEBUG.
    pub enable_debug_command: String,
    /// RDMA listener: addresses (empty: all), port (0: off), receive
    /// buffer size per connection, completion vector (-1: default).
    pub rdma_bind: Vec<String>,
    pub rdma_port: i64,
    pub rdma_rx_size: i64,
    pub rdma_completion_vector: i64,
    /// The config file given on the command line, if any (INFO config_file).
    pub config_file: String,
    /// Output buffer limits by client class (OBUF_NORMAL, OBUF_REPLICA,
    /// OBUF_PUBSUB).
    pub client_output_buffer_limit: [ObufLimit; 3],
    /// Keyspace event classes published (`notify-keyspace-events`).
    pub notify_keyspace_events: crate::keyspace::events::Classes,
    /// Memory limit in bytes (0: none), what happens at it, and how the
    /// eviction samples, persists, and counts accesses (see keyspace::evict).
    pub maxmemory: i64,
    pub maxmemory_policy: String,
    pub maxmemory_samples: i64,
    pub maxmemory_eviction_tenacity: i64,
    pub lfu_log_factor: i64,
    pub lfu_decay_time: i64,
    pub tls: Tls,
}

/// The `tls-*` directives. The client certificate, DH parameters,
/// replication and cluster ones are kept for CONFIG GET and for when
/// ferrokv has outgoing connections: rustls negotiates no finite-field DH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    /// 0: no TLS listener.
    pub port: i64,
    pub cert_file: String,
    pub key_file: String,
    pub key_file_pass: String,
    pub client_cert_file: String,
    pub client_key_file: String,
    pub client_key_file_pass: String,
    pub dh_params_file: String,
    pub ca_cert_file: String,
    pub ca_cert_dir: String,
    /// "yes", "no" or "optional".
    pub auth_clients: String,
    pub protocols: String,
    pub ciphers: String,
    pub ciphersuites: String,
    pub prefer_server_ciphers: bool,
    pub session_caching: bool,
    pub session_cache_size: i64,
    pub session_cache_timeout: i64,
    pub replication: bool,
    pub cluster: bool,
    pub max_new_connections_per_cycle: i64,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            port: 0,
            cert_file: String::new(),
            key_file: String::new(),
            key_file_pass: String::new(),
            client_cert_file: String::new(),
            client_key_file: String::new(),
            client_key_file_pass: String::new(),
            dh_params_file: String::new(),
            ca_cert_file: String::new(),
            ca_cert_dir: String::new(),
            auth_clients: "yes".into(),
            protocols: String::new(),
            ciphers: String::new(),
            ciphersuites: String::new(),
            prefer_server_ciphers: false,
            session_caching: true,
            session_cache_size: 20480,
            session_cache_timeout: 300,
            replication: false,
            cluster: false,
            max_new_connections_per_cycle: 1,
        }
    }
}

impl Tls {
    /// What the TLS transport builds its configuration from.
    pub fn settings(&self) -> ferrokv_transport::tls::TlsSettings {
        use ferrokv_transport::tls::ClientAuth;
        ferrokv_transport::tls::TlsSettings {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            key_file_pass: self.key_file_pass.clone(),
            ca_cert_file: self.ca_cert_file.clone(),
            ca_cert_dir: self.ca_cert_dir.clone(),
            auth_clients: match self.auth_clients.as_str() {
                "no" => ClientAuth::No,
                "optional" => ClientAuth::Optional,
                _ => ClientAuth::Yes,
            },
            protocols: self.protocols.clone(),
            ciphers: self.ciphers.clone(),
            ciphersuites: self.ciphersuites.clone(),
            prefer_server_ciphers: self.prefer_server_ciphers,
            session_caching: self.session_caching,
            // 0 is "unlimited" in Valkey.
            session_cache_size: match self.session_cache_size {
                0 => usize::MAX >> 8,
                n => n as usize,
            },
            session_cache_timeout: std::time::Duration::from_secs(
                self.session_cache_timeout as u64,
            ),
        }
    }
}

/// One class's `client-output-buffer-limit`: bytes (0: none), and how long
/// a client may stay above the soft limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

pub const OBUF_NORMAL: usize = 0;
pub const OBUF_REPLICA: usize = 1;
pub const OBUF_PUBSUB: usize = 2;
const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: vec!["127.0.0.1".into(), "-::1".into()],
            port: 6379,
            tcp_backlog: 511,
            tcp_keepalive: 300,
            timeout: 0,
            maxclients: 10000,
            unixsocket: String::new(),
            unixsocketperm: 0,
            databases: 16,
            hz: 10,
            active_expire_effort: 1,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_output_buffer_limit: [
                ObufLimit {
                    hard: 0,
                    soft: 0,
                    soft_seconds: 0,
                },
                ObufLimit {
                    hard: 256 << 20,
                    soft: 64 << 20,
                    soft_seconds: 60,
                },
                ObufLimit {
                    hard: 32 << 20,
                    soft: 8 << 20,
                    soft_seconds: 60,
                },
            ],
            notify_keyspace_events: 0,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            hll_sparse_max_bytes: 3000,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            requirepass: String::new(),
            protected_mode: true,
            loglevel: "notice".into(),
            logfile: String::new(),
            pidfile: String::new(),
            daemonize: false,
            dir: ".".into(),
            save: String::new(),
            appendonly: false,
            io_threads: 1,
            enable_debug_command: "no".into(),
            rdma_bind: Vec::new(),
            rdma_port: 0,
            rdma_rx_size: 1024 * 1024,
            rdma_completion_vector: -1,
            config_file: String::new(),
            tls: Tls::default(),
        }
    }
}

type Field<T> = fn(&mut Config) -> &mut T;

enum Kind {
    Bool(Field<bool>),
    Int {
        min: i64,
        max: i64,
        field: Field<i64>,
    },
    Memory {
        min: i64,
        max: i64,
        field: Field<i64>,
    },
    Str(Field<String>),
    Enum {
        values: &'static [&'static str],
        field: Field<String>,
    },
    Special {
        get: fn(&Config) -> String,
        set: fn(&mut Config, &[String]) -> Result<(), String>,
    },
}

struct Directive {
    name: &'static str,
    /// Settable with CONFIG SET at run time.
    mutable: bool,
    kind: Kind,
}

const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];

fn set_bind(c: &mut Config, args: &[String]) -> Result<(), String> {
    if args.is_empty() || args.len() > 16 {
        return Err("Too many bind addresses specified.".into());
    }
    c.bind = args.to_vec();
    Ok(())
}

fn set_rdma_bind(c: &mut Config, args: &[String]) -> Result<(), String> {
    if args.len() > 16 {
        return Err("Too many bind addresses specified.".into());
    }
    c.rdma_bind = args.iter().filter(|a| !a.is_empty()).cloned().collect();
    Ok(())
}

fn set_unixsocketperm(c: &mut Config, args: &[String]) -> Result<(), String> {
    match u32::from_str_radix(&args[0], 8) {
        Ok(p) if p <= 0o777 => {
            c.unixsocketperm = p;
            Ok(())
        }
        _ => Err("Invalid socket file permissions".into()),
    }
}

/// Persistence is not implemented yet: only "no snapshots" is accepted, so a
/// config asking for snapshots fails loudly instead of silently not saving.
fn get_obuf_limits(c: &Config) -> String {
    let classes = OBUF_CLASSES.iter().zip(&c.client_output_buffer_limit);
    let parts: Vec<String> = classes
        .map(|(name, l)| format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds))
        .collect();
    parts.join(" ")
}

/// `class hard soft seconds` groups, from one string or many arguments.
fn set_obuf_limits(c: &mut Config, args: &[String]) -> Result<(), String> {
    let joined = args.join(" ");
    let words: Vec<&str> = joined.split_ascii_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = c.client_output_buffer_limit;
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => OBUF_NORMAL,
            "slave" | "replica" => OBUF_REPLICA,
            "pubsub" => OBUF_PUBSUB,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into());
            }
        };
        let bytes = |w: &str| parse_memory(w).filter(|&v| v >= 0).map(|v| v as u64);
        let seconds = |w: &str| {
            parse_i64(w.as_bytes())
                .filter(|&v| v >= 0)
                .map(|v| v as u64)
        };
        let (Some(hard), Some(soft), Some(soft_seconds)) =
            (bytes(group[1]), bytes(group[2]), seconds(group[3]))
        else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        limits[class] = ObufLimit {
            hard,
            soft,
            soft_seconds,
        };
    }
    c.client_output_buffer_limit = limits;
    Ok(())
}

fn set_notify_keyspace_events(c: &mut Config, args: &[String]) -> Result<(), String> {
    c.notify_keyspace_events = crate::keyspace::events::parse(&args[0])
        .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
    Ok(())
}

fn set_save(c: &mut Config, args: &[String]) -> Result<(), String> {
    let joined = args.join(" ");
    if joined.trim().is_empty() {
        c.save = String::new();
        Ok(())
    } else {
        Err("RDB snapshots are not supported by ferrokv yet; use save \"\"".into())
    }
}

fn set_appendonly(c: &mut Config, args: &[String]) -> Result<(), String> {
    match args[0].to_ascii_lowercase().as_str() {
        "no" => {
            c.appendonly = false;
            Ok(())
        }
        "yes" => Err("the append only file is not supported by ferrokv yet".into()),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn set_daemonize(c: &mut Config, args: &[String]) -> Result<(), String> {
    match args[0].to_ascii_lowercase().as_str() {
        "no" => {
            c.daemonize = false;
            Ok(())
        }
        "yes" => Err("daemonize is not supported by ferrokv; run it under a supervisor".into()),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn set_io_threads(c: &mut Config, args: &[String]) -> Result<(), String> {
    match parse_i64(args[0].as_bytes()) {
        Some(1) => {
            c.io_threads = 1;
            Ok(())
        }
        Some(n) if (1..=256).contains(&n) => {
            Err("io-threads above 1 is not supported by ferrokv yet".into())
        }
        Some(_) => Err("argument must be between 1 and 256 inclusive".into()),
        None => Err("argument couldn't be parsed into an integer".into()),
    }
}

/// Runtime-settable (CONFIG SET) or start-up only.
const MUTABLE: bool = true;
const FIXED: bool = false;
const I32_MAX: i64 = i32::MAX as i64;
const I32_MIN: i64 = i32::MIN as i64;

const fn int(
    name: &'static str,
    mutable: bool,
    min: i64,
    max: i64,
    field: Field<i64>,
) -> Directive {
    Directive {
        name,
        mutable,
        kind: Kind::Int { min, max, field },
    }
}

const fn memory(name: &'static str, mutable: bool, min: i64, field: Field<i64>) -> Directive {
    Directive {
        name,
        mutable,
        kind: Kind::Memory {
            min,
            max: i64::MAX,
            field,
        },
    }
}

const fn flag(name: &'static str, mutable: bool, field: Field<bool>) -> Directive {
    Directive {
        name,
        mutable,
        kind: Kind::Bool(field),
    }
}

const fn string(name: &'static str, mutable: bool, field: Field<String>) -> Directive {
    Directive {
        name,
        mutable,
        kind: Kind::Str(field),
    }
}

const fn choice(
    name: &'static str,
    mutable: bool,
    values: &'static [&'static str],
    field: Field<String>,
) -> Directive {
    Directive {
        name,
        mutable,
        kind: Kind::Enum { values, field },
    }
}

const fn special(
    name: &'static str,
    mutable: bool,
    get: fn(&Config) -> String,
    set: fn(&mut Config, &[String]) -> Result<(), String>,
) -> Directive {
    Directive {
        name,
        mutable,
        kind: Kind::Special { get, set },
    }
}

const DIRECTIVES: &[Directive] = &[
    special("bind", MUTABLE, |c| c.bind.join(" "), set_bind),
    int("port", MUTABLE, 0, 65535, |c| &mut c.port),
    int("tcp-backlog", FIXED, 0, I32_MAX, |c| &mut c.tcp_backlog),
    int("tcp-keepalive", MUTABLE, 0, I32_MAX, |c| {
        &mut c.tcp_keepalive
    }),
    int("timeout", MUTABLE, 0, I32_MAX, |c| &mut c.timeout),
    int("maxclients", MUTABLE, 1, u32::MAX as i64, |c| {
        &mut c.maxclients
    }),
    string("unixsocket", FIXED, |c| &mut c.unixsocket),
    special(
        "unixsocketperm",
        FIXED,
        |c| format!("{:o}", c.unixsocketperm),
        set_unixsocketperm,
    ),
    int("databases", FIXED, 1, I32_MAX, |c| &mut c.databases),
    int("hz", MUTABLE, 0, I32_MAX, |c| &mut c.hz),
    int("active-expire-effort", MUTABLE, 1, 10, |c| {
        &mut c.active_expire_effort
    }),
    memory("proto-max-bulk-len", MUTABLE, 1024 * 1024, |c| {
        &mut c.proto_max_bulk_len
    }),
    memory("client-query-buffer-limit", MUTABLE, 1024 * 1024, |c| {
        &mut c.client_query_buffer_limit
    }),
    memory("hll-sparse-max-bytes", MUTABLE, 0, |c| {
        &mut c.hll_sparse_max_bytes
    }),
    int("hash-max-listpack-entries", MUTABLE, 0, i64::MAX, |c| {
        &mut c.hash_max_listpack_entries
    }),
    // The old names, aliases of the same settings.
    int("hash-max-ziplist-entries", MUTABLE, 0, i64::MAX, |c| {
        &mut c.hash_max_listpack_entries
    }),
    memory("hash-max-listpack-value", MUTABLE, 0, |c| {
        &mut c.hash_max_listpack_value
    }),
    memory("hash-max-ziplist-value", MUTABLE, 0, |c| {
        &mut c.hash_max_listpack_value
    }),
    int("set-max-intset-entries", MUTABLE, 0, i64::MAX, |c| {
        &mut c.set_max_intset_entries
    }),
    int("set-max-listpack-entries", MUTABLE, 0, i64::MAX, |c| {
        &mut c.set_max_listpack_entries
    }),
    int("set-max-listpack-value", MUTABLE, 0, i64::MAX, |c| {
        &mut c.set_max_listpack_value
    }),
    int("zset-max-listpack-entries", MUTABLE, 0, i64::MAX, |c| {
        &mut c.zset_max_listpack_entries
    }),
    int("zset-max-ziplist-entries", MUTABLE, 0, i64::MAX, |c| {
        &mut c.zset_max_listpack_entries
    }),
    memory("zset-max-listpack-value", MUTABLE, 0, |c| {
        &mut c.zset_max_listpack_value
    }),
    memory("zset-max-ziplist-value", MUTABLE, 0, |c| {
        &mut c.zset_max_listpack_value
    }),
    int("list-max-listpack-size", MUTABLE, I32_MIN, I32_MAX, |c| {
        &mut c.list_max_listpack_size
    }),
    // Its old name, an alias of the same setting.
    int("list-max-ziplist-size", MUTABLE, I32_MIN, I32_MAX, |c| {
        &mut c.list_max_listpack_size
    }),
    int("list-compress-depth", MUTABLE, 0, I32_MAX, |c| {
        &mut c.list_compress_depth
    }),
    memory("maxmemory", MUTABLE, 0, |c| &mut c.maxmemory),
    choice(
        "maxmemory-policy",
        MUTABLE,
        crate::keyspace::evict::POLICY_NAMES,
        |c| &mut c.maxmemory_policy,
    ),
    int("maxmemory-samples", MUTABLE, 1, 64, |c| {
        &mut c.maxmemory_samples
    }),
    int("maxmemory-eviction-tenacity", MUTABLE, 0, 100, |c| {
        &mut c.maxmemory_eviction_tenacity
    }),
    int("lfu-log-factor", MUTABLE, 0, I32_MAX, |c| {
        &mut c.lfu_log_factor
    }),
    int("lfu-decay-time", MUTABLE, 0, I32_MAX, |c| {
        &mut c.lfu_decay_time
    }),
    string("requirepass", MUTABLE, |c| &mut c.requirepass),
    flag("protected-mode", MUTABLE, |c| &mut c.protected_mode),
    choice("loglevel", MUTABLE, LOGLEVELS, |c| &mut c.loglevel),
    string("logfile", FIXED, |c| &mut c.logfile),
    string("pidfile", FIXED, |c| &mut c.pidfile),
    special("daemonize", FIXED, |c| yes_no(c.daemonize), set_daemonize),
    string("dir", MUTABLE, |c| &mut c.dir),
    special("save", MUTABLE, |c| c.save.clone(), set_save),
    special(
        "appendonly",
        MUTABLE,
        |c| yes_no(c.appendonly),
        set_appendonly,
    ),
    special(
        "io-threads",
        FIXED,
        |c| c.io_threads.to_string(),
        set_io_threads,
    ),
    choice(
        "enable-debug-command",
        FIXED,
        &["no", "yes", "local"],
        |c| &mut c.enable_debug_command,
    ),
    special(
        "rdma-bind",
        MUTABLE,
        |c| c.rdma_bind.join(" "),
        set_rdma_bind,
    ),
    int("rdma-port", MUTABLE, 0, 65535, |c| &mut c.rdma_port),
    special(
        "client-output-buffer-limit",
        MUTABLE,
        get_obuf_limits,
        set_obuf_limits,
    ),
    special(
        "notify-keyspace-events",
        MUTABLE,
        |c| crate::keyspace::events::format(c.notify_keyspace_events),
        set_notify_keyspace_events,
    ),
    Directive {
        name: "rdma-rx-size",
        mutable: FIXED,
        kind: Kind::Memory {
            min: 64 * 1024,
            max: 16 * 1024 * 1024,
            field: |c| &mut c.rdma_rx_size,
        },
    },
    int("rdma-completion-vector", FIXED, -1, 1024, |c| {
        &mut c.rdma_completion_vector
    }),
    int("tls-port", MUTABLE, 0, 65535, |c| &mut c.tls.port),
    string("tls-cert-file", MUTABLE, |c| &mut c.tls.cert_file),
    string("tls-key-file", MUTABLE, |c| &mut c.tls.key_file),
    string("tls-key-file-pass", MUTABLE, |c| &mut c.tls.key_file_pass),
    string("tls-client-cert-file", MUTABLE, |c| {
        &mut c.tls.client_cert_file
    }),
    string("tls-client-key-file", MUTABLE, |c| {
        &mut c.tls.client_key_file
    }),
    string("tls-client-key-file-pass", MUTABLE, |c| {
        &mut c.tls.client_key_file_pass
    }),
    string("tls-dh-params-file", MUTABLE, |c| &mut c.tls.dh_params_file),
    string("tls-ca-cert-file", MUTABLE, |c| &mut c.tls.ca_cert_file),
    string("tls-ca-cert-dir", MUTABLE, |c| &mut c.tls.ca_cert_dir),
    choice(
        "tls-auth-clients",
        MUTABLE,
        &["no", "yes", "optional"],
        |c| &mut c.tls.auth_clients,
    ),
    string("tls-protocols", MUTABLE, |c| &mut c.tls.protocols),
    string("tls-ciphers", MUTABLE, |c| &mut c.tls.ciphers),
    string("tls-ciphersuites", MUTABLE, |c| &mut c.tls.ciphersuites),
    flag("tls-prefer-server-ciphers", MUTABLE, |c| {
        &mut c.tls.prefer_server_ciphers
    }),
    flag("tls-session-caching", MUTABLE, |c| {
        &mut c.tls.session_caching
    }),
    int("tls-session-cache-size", MUTABLE, 0, I32_MAX, |c| {
        &mut c.tls.session_cache_size
    }),
    int("tls-session-cache-timeout", MUTABLE, 0, I32_MAX, |c| {
        &mut c.tls.session_cache_timeout
    }),
    flag("tls-replication", MUTABLE, |c| &mut c.tls.replication),
    flag("tls-cluster", MUTABLE, |c| &mut c.tls.cluster),
    int("max-new-tls-connections-per-cycle", MUTABLE, 1, 1000, |c| {
        &mut c.tls.max_new_connections_per_cycle
    }),
];

fn yes_no(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Why a directive was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    Unknown,
    Immutable,
    Invalid(String),
}

impl Directive {
    fn takes_many(&self) -> bool {
        matches!(
            self.name,
            "bind" | "save" | "rdma-bind" | "client-output-buffer-limit"
        )
    }

    fn apply(&self, c: &mut Config, args: &[String]) -> Result<(), String> {
        let one = || -> Result<&String, String> {
            match args {
                [a] => Ok(a),
                _ => Err("wrong number of arguments".into()),
            }
        };
        match &self.kind {
            Kind::Bool(f) => {
                *f(c) = match one()?.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err("argument must be 'yes' or 'no'".into()),
                }
            }
            Kind::Int { min, max, field } => {
                let v = parse_i64(one()?.as_bytes())
                    .ok_or("argument couldn't be parsed into an integer")?;
                if v < *min || v > *max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                *field(c) = v;
            }
            Kind::Memory { min, max, field } => {
                let v = parse_memory(one()?).ok_or("argument must be a memory value")?;
                if v < *min || v > *max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                *field(c) = v;
            }
            Kind::Str(f) => *f(c) = one()?.clone(),
            Kind::Enum { values, field } => {
                let v = one()?.to_ascii_lowercase();
                if !values.contains(&v.as_str()) {
                    return Err(format!(
                        "argument(s) must be one of the following: {}",
                        values.join(", ")
                    ));
                }
                *field(c) = v;
            }
            Kind::Special { set, .. } => {
                if !self.takes_many() {
                    one()?;
                }
                set(c, args)?
            }
        }
        Ok(())
    }

    fn get(&self, c: &Config) -> String {
        let mut c = c.clone();
        match &self.kind {
            Kind::Bool(f) => yes_no(*f(&mut c)),
            Kind::Int { field, .. } | Kind::Memory { field, .. } => field(&mut c).to_string(),
            Kind::Str(f) | Kind::Enum { field: f, .. } => f(&mut c).clone(),
            Kind::Special { get, .. } => get(&c),
        }
    }
}

impl Config {
    /// Applies one directive from a file or the command line.
    pub fn set_startup(&mut self, name: &str, args: &[String]) -> Result<(), ConfigError> {
        let d = find(name).ok_or(ConfigError::Unknown)?;
        if args.is_empty() || (args.len() > 1 && !d.takes_many()) {
            return Err(ConfigError::Unknown);
        }
        d.apply(self, args).map_err(ConfigError::Invalid)
    }

    /// CONFIG SET of one directive.
    pub fn set_runtime(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let d = find(name).ok_or(ConfigError::Unknown)?;
        if !d.mutable {
            return Err(ConfigError::Immutable);
        }
        let args: Vec<String> = if d.takes_many() {
            value.split_whitespace().map(String::from).collect()
        } else {
            vec![value.to_string()]
        };
        let args = if args.is_empty() {
            vec![String::new()]
        } else {
            args
        };
        d.apply(self, &args).map_err(ConfigError::Invalid)
    }

    /// CONFIG GET: (name, value) of every directive matching any pattern.
    pub fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = Vec::new();
        let mut add = |name: String, d: &Directive| {
            if !found.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                found.push((name, d.get(self)));
            }
        };
        for p in patterns {
            if p.iter().any(|c| b"[*?".contains(c)) {
                for d in DIRECTIVES
                    .iter()
                    .filter(|d| glob::matches(p, d.name.as_bytes(), true))
                {
                    add(d.name.to_string(), d);
                }
            } else if let Some(d) = find(&String::from_utf8_lossy(p)) {
                // Valkey echoes an exact name back as the client spelled it.
                add(String::from_utf8_lossy(p).into_owned(), d);
            }
        }
        found
    }

    /// Whether `name` is a directive (for CONFIG SET's error choice).
    pub fn is_known(name: &str) -> bool {
        find(name).is_some()
    }

    /// Loads a valkey.conf-style file, then `--name value ...` arguments,
    /// exactly as valkey-server takes them.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut text = String::new();
        let mut rest = args;
        if let Some(first) = args.first()
            && !first.starts_with("--")
        {
            config.config_file = std::fs::canonicalize(first)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| first.clone());
            text = load_file(first, 0)?;
            rest = &args[1..];
        }
        // Command-line options are appended as config lines, like Valkey.
        let mut line = String::new();
        for arg in rest {
            if let Some(name) = arg.strip_prefix("--") {
                if !line.is_empty() {
                    text.push_str(&line);
                    text.push('\n');
                }
                line = name.to_string();
            } else {
                if line.is_empty() {
                    return Err(format!(
                        "Invalid option '{arg}': options must start with --"
                    ));
                }
                line.push(' ');
                line.push_str(&quote_arg(arg));
            }
        }
        if !line.is_empty() {
            text.push_str(&line);
            text.push('\n');
        }
        config.load_text(&text)?;
        Ok(config)
    }

    /// Applies config text; errors read like Valkey's fatal config error.
    pub fn load_text(&mut self, text: &str) -> Result<(), String> {
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fail = |reason: &str| {
                let mut msg = String::new();
                let _ = write!(
                    msg,
                    "\n*** FATAL CONFIG FILE ERROR (ferrokv {}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
                    env!("CARGO_PKG_VERSION"),
                    i + 1,
                    trimmed,
                    reason
                );
                msg
            };
            let words = split_config_line(trimmed)
                .ok_or_else(|| fail("Unbalanced quotes in configuration line"))?;
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            match self.set_startup(name, args) {
                Ok(()) => {}
                Err(ConfigError::Unknown) => {
                    return Err(fail("Bad directive or wrong number of arguments"));
                }
                Err(ConfigError::Immutable) => unreachable!("start-up sets everything"),
                Err(ConfigError::Invalid(why)) => return Err(fail(&why)),
            }
        }
        Ok(())
    }
}

/// Reads a config file, expanding `include` lines (nested at most 16 deep).
fn load_file(path: &str, depth: usize) -> Result<String, String> {
    if depth > 16 {
        return Err(format!("Too many nested includes at '{path}'"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Fatal error, can't open config file '{path}': {e}"))?;
    let mut out = String::new();
    for line in text.lines() {
        let words = split_config_line(line.trim()).unwrap_or_default();
        if words.len() == 2 && words[0].eq_ignore_ascii_case("include") {
            out.push_str(&load_file(&words[1], depth + 1)?);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    Ok(out)
}

/// Splits a config line like Valkey's sdssplitargs (shared with inline
/// requests); None on unbalanced quotes.
fn split_config_line(line: &str) -> Option<Vec<String>> {
    let mut parser = ferrokv_transport::RequestParser::new();
    let mut input = line.as_bytes().to_vec();
    input.push(b'\n');
    let limits = ferrokv_transport::Limits {
        max_bulk_len: u64::MAX,
        unauthenticated: false,
    };
    match parser.parse(&input, &limits) {
        ferrokv_transport::Parsed::Command { .. } => Some(
            parser
                .args
                .iter()
                .map(|&(s, l)| String::from_utf8_lossy(&parser.inline_buf[s..s + l]).into_owned())
                .collect(),
        ),
        ferrokv_transport::Parsed::Empty { .. } => Some(Vec::new()),
        _ => None,
    }
}

/// Quotes a command-line value so the config line splitter reads it back.
fn quote_arg(arg: &str) -> String {
    if !arg.is_empty()
        && !arg
            .bytes()
            .any(|c| c.is_ascii_whitespace() || c == b'"' || c == b'\'' || c == b'\\')
    {
        return arg.to_string();
    }
    let mut out = String::from("\"");
    for c in arg.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line_like_valkey() {
        let c = Config::from_args(&args(&[
            "--port",
            "7000",
            "--bind",
            "127.0.0.1",
            "::1",
            "--save",
            "",
            "--requirepass",
            "a b",
        ]))
        .unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.requirepass, "a b");
        assert!(
            Config::from_args(&args(&["--port", "x"]))
                .unwrap_err()
                .contains("couldn't be parsed")
        );
        assert!(
            Config::from_args(&args(&["--nosuch", "1"]))
                .unwrap_err()
                .contains("Bad directive")
        );
        assert!(Config::from_args(&args(&["--save", "60 1"])).is_err());
    }

    #[test]
    fn config_file_with_include_and_quotes() {
        let dir = std::env::temp_dir().join(format!("ferrokv-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inc = dir.join("inc.conf");
        std::fs::write(&inc, "maxclients 5\n").unwrap();
        let main = dir.join("main.conf");
        std::fs::write(
            &main,
            format!(
                "# comment\nport 7001\nrequirepass \"p w\"\ninclude {}\n",
                inc.display()
            ),
        )
        .unwrap();
        let c = Config::from_args(&args(&[main.to_str().unwrap(), "--port", "7002"])).unwrap();
        assert_eq!(
            (c.port, c.maxclients, c.requirepass.as_str()),
            (7002, 5, "p w")
        );
        std::fs::write(&main, "port 1\nport 99999\n").unwrap();
        let e = Config::from_args(&args(&[main.to_str().unwrap()])).unwrap_err();
        assert!(
            e.contains("at line 2") && e.contains("between 0 and 65535"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn runtime_get_set() {
        let mut c = Config::default();
        assert_eq!(c.set_runtime("databases", "1"), Err(ConfigError::Immutable));
        assert_eq!(c.set_runtime("nosuch", "1"), Err(ConfigError::Unknown));
        c.set_runtime("MAXCLIENTS", "10").unwrap();
        c.set_runtime("proto-max-bulk-len", "2mb").unwrap();
        let got = c.get_matching(&[b"maxcl*", b"proto-max-bulk-len"]);
        assert_eq!(
            got,
            vec![
                ("maxclients".into(), "10".into()),
                ("proto-max-bulk-len".into(), "2097152".into())
            ]
        );
        let typed = c.get_matching(&[b"MaxClients"]);
        assert_eq!(typed, vec![("MaxClients".into(), "10".into())]);
    }
}
