//! RESP, the Redis serialization protocol: requests in (multibulk or inline),
//! replies out (RESP2 or RESP3, chosen per connection by HELLO).

pub mod num;
pub mod parse;
pub mod reply;
pub mod write;
