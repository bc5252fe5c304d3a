//! Command errors as types, mapped to Valkey's reply text in one place.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    Syntax,
    WrongType,
    NotInteger,
    NotFloat,
    Overflow,
    NoSuchKey,
    DbIndexOutOfRange,
    NoAuth,
    /// SET / GETEX / EXPIRE family: a non-positive or overflowing time.
    InvalidExpire(&'static str),
    WrongArity(String),
    /// Name and arguments are quoted byte for byte, as Valkey does.
    UnknownCommand {
        name: Vec<u8>,
        args: Vec<u8>,
    },
    UnknownSubcommand {
        sub: Vec<u8>,
        container: String,
    },
    /// A string that fails Valkey's HyperLogLog header checks.
    NotHll,
    /// An HLL whose sparse opcodes do not cover exactly its registers.
    CorruptHll,
    /// EXEC of a transaction a queued command was refused in.
    ExecAbort,
    /// A command MULTI may not queue (flag no_multi), by its full name.
    NotInMulti(String),
    /// A RESP2 client in subscribe mode ran something else.
    SubscribeMode(String),
    /// Any other error; the text starts with its code ("ERR ...").
    Other(Cow<'static, str>),
    /// The same, with client bytes quoted as they came (not UTF-8).
    OtherBytes(Vec<u8>),
}

/// Shorthand for a free-form "ERR ..." error.
pub fn err(text: impl Into<Cow<'static, str>>) -> CmdError {
    CmdError::Other(text.into())
}

impl CmdError {
    /// The reply text, without the leading '-'.
    pub fn text(&self) -> Cow<'static, [u8]> {
        let text: Cow<'static, str> = match self {
            Self::Syntax => "ERR syntax error".into(),
            Self::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            Self::NotInteger => "ERR value is not an integer or out of range".into(),
            Self::NotFloat => "ERR value is not a valid float".into(),
            Self::Overflow => "ERR increment or decrement would overflow".into(),
            Self::NotHll => "WRONGTYPE Key is not a valid HyperLogLog string value.".into(),
            Self::CorruptHll => "INVALIDOBJ Corrupted HLL object detected".into(),
            Self::NoSuchKey => "ERR no such key".into(),
            Self::DbIndexOutOfRange => "ERR DB index is out of range".into(),
            Self::NoAuth => "NOAUTH Authentication required.".into(),
            Self::InvalidExpire(cmd) => {
                format!("ERR invalid expire time in '{cmd}' command").into()
            }
            Self::WrongArity(cmd) => {
                format!("ERR wrong number of arguments for '{cmd}' command").into()
            }
            Self::UnknownCommand { name, args } => {
                let mut t = b"ERR unknown command '".to_vec();
                t.extend_from_slice(name);
                t.extend_from_slice(b"', with args beginning with: ");
                t.extend_from_slice(args);
                return t.into();
            }
            Self::UnknownSubcommand { sub, container } => {
                let mut t = b"ERR unknown subcommand '".to_vec();
                t.extend_from_slice(sub);
                t.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
                return t.into();
            }
            Self::ExecAbort => "EXECABORT Transaction discarded because of previous errors.".into(),
            Self::NotInMulti(cmd) => {
                format!("ERR Command '{cmd}' not allowed inside a transaction").into()
            }
            Self::SubscribeMode(cmd) => format!(
                "ERR Can't execute '{cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            )
            .into(),
            Self::Other(text) => text.clone(),
            Self::OtherBytes(text) => return text.clone().into(),
        };
        match text {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    }
}

pub type CmdResult = Result<(), CmdError>;
