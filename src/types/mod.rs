//! Value types stored in the keyspace. Strings for now; lists, hashes, sets,
//! sorted sets and streams join as their issues land.

pub mod hll;
pub mod string;

pub use string::{Bytes, StrValue};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
}

impl Value {
    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// The name OBJECT ENCODING replies with.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
        }
    }
}
