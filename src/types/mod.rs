//! Value types stored in the keyspace: strings and lists so far; hashes,
//! sets, sorted sets and streams join as their issues land.

pub mod hll;
pub mod list;
pub mod listpack;
pub mod string;

pub use list::List;
pub use string::{Bytes, StrValue};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
    List(List),
}

impl Value {
    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
        }
    }

    /// The name OBJECT ENCODING replies with.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
            Value::List(l) => l.encoding_name(),
        }
    }
}
