//! Small helpers shared by the server: glob matching, number text, clocks,
//! LZF compression, six-byte pointers, a random stream.

pub mod glob;
pub mod longdouble;
pub mod lzf;
pub mod ptr48;
pub mod time;

pub use ferrokv_transport::resp::num::parse_i64;

/// xorshift64*: a fast, non-cryptographic random stream (sampling,
/// LFU's increments). `state` must not be zero.
pub fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

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

/// A number as C's strtod reads a whole string: decimal (with exponent,
/// "inf", "infinity", "nan") or hexadecimal ("0x1.8p3"), an optional sign;
/// nothing may follow it. (Leading space, which strtod skips, is each
/// caller's to refuse or allow.)
pub fn parse_f64_strtod(text: &str) -> Option<f64> {
    let (sign, body) = match text.as_bytes().first()? {
        b'-' => (-1.0, &text[1..]),
        b'+' => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    let value = match body.get(..2) {
        Some("0x" | "0X") => parse_hex_float(&body[2..])?,
        _ if body.starts_with(['+', '-']) => return None,
        _ => body.parse::<f64>().ok()?,
    };
    Some(sign * value)
}

/// The part of a hexadecimal float after "0x": digits, an optional
/// fraction, an optional binary exponent ("p-4").
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
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
