//! What the server reports about itself: INFO, and the allocation counter
//! behind its memory fields.

pub mod alloc;
pub mod info;
