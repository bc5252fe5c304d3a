//! Logging in Valkey's format: "pid:M 22 Nov 2026 03:10:51.123 * message".

use std::io::Write;
use std::sync::Mutex;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

struct Sink {
    min: Option<Level>,
    file: Option<std::fs::File>,
}

static SINK: Mutex<Sink> = Mutex::new(Sink {
    min: Some(Level::Notice),
    file: None,
});

/// Sets the level ("debug" ... "nothing") and the file ("" = stdout).
pub fn configure(level: &str, path: &str) -> std::io::Result<()> {
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    sink.min = level_from_name(level);
    if !path.is_empty() {
        sink.file = Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        );
    }
    Ok(())
}

pub fn set_level(level: &str) {
    SINK.lock().unwrap_or_else(|e| e.into_inner()).min = level_from_name(level);
}

fn level_from_name(name: &str) -> Option<Level> {
    match name {
        "debug" => Some(Level::Debug),
        "verbose" => Some(Level::Verbose),
        "notice" => Some(Level::Notice),
        "warning" => Some(Level::Warning),
        _ => None,
    }
}

pub fn log(level: Level, msg: &str) {
    let sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    if sink.min.is_none_or(|min| level < min) {
        return;
    }
    let mark = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    let line = format!(
        "{}:M {} {} {}\n",
        std::process::id(),
        crate::util::time::log_timestamp(crate::util::time::unix_ms()),
        mark,
        msg
    );
    match &sink.file {
        Some(f) => {
            let _ = (&*f).write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }
}

#[macro_export]
macro_rules! notice { ($($t:tt)*) => { $crate::server::log::log($crate::server::log::Level::Notice, &format!($($t)*)) } }
#[macro_export]
macro_rules! warning { ($($t:tt)*) => { $crate::server::log::log($crate::server::log::Level::Warning, &format!($($t)*)) } }
#[macro_export]
macro_rules! verbose { ($($t:tt)*) => { $crate::server::log::log($crate::server::log::Level::Verbose, &format!($($t)*)) } }
