//! Small helpers shared by the server: glob matching, number text, clocks.

pub mod glob;
pub mod longdouble;
pub mod time;

pub use ferrokv_transport::resp::num::parse_i64;

/// ASCII-lowercases `name` into `buf`, for case-insensitive table lookups.
/// None when the name does not fit (no command or option is that long).
pub fn lowercase<'b>(name: &[u8], buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..name.len())?;
    for (o, c) in out.iter_mut().zip(name) {
        *o = c.to_ascii_lowercase();
    }
    Some(out)
}

/// Parses a memory amount the way valkey.conf does ("1gb", "512mb", "100k"):
/// k/m/g are powers of 1000, kb/mb/gb powers of 1024, case-insensitive.
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // Unsigned, as Valkey's memtoull: no sign; past i64::MAX it wraps
    // negative, which the range check then refuses.
    let v = num.parse::<u64>().ok()?.checked_mul(mul)?;
    Some(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("512MB"), Some(512 << 20));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1234"), Some(1234));
        assert_eq!(parse_memory("1xb"), None);
        assert_eq!(parse_memory(""), None);
        // Unsigned like Valkey's memtoull: no sign, and past i64::MAX the
        // value wraps so the range check refuses it.
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_memory("18446744073709551616"), None);
    }
}
