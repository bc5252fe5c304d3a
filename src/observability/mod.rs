//! What the server reports about itself: INFO, the allocation counter
//! behind its memory fields, and where the memory goes.

pub mod alloc;
pub mod info;
pub mod usage;
