//! Number text exactly as Valkey reads and writes it.

/// Parses a signed 64-bit integer with Valkey's `string2ll` strictness: an
/// optional '-', then digits with no leading zero (except "0" itself), no
/// '+', no spaces, and no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [] => return None,
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v = u64::from(first - b'0');
    for &c in rest {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Appends the decimal text of `v`.
#[inline]
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A double Valkey prints as an integer: integral and within ±2^62.
#[inline]
pub fn integral_double(v: f64) -> Option<i64> {
    let half_range = (i64::MAX / 2) as f64;
    ((-half_range..=half_range).contains(&v) && v == (v as i64) as f64).then_some(v as i64)
}

/// Formats a double the way Valkey replies with one (`d2string`): "nan",
/// "inf", "-inf"; integral values within ±2^62 as integers; otherwise the
/// shortest round-trip digits laid out by fpconv's rules: plain digits when
/// the exponent is small, a decimal point when it fits, else `d.ddde±x`
/// (the exponent without padding).
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if let Some(i) = integral_double(v) {
        return i.to_string();
    }
    // `{:e}` gives the shortest round-trip digits as "d.ddde±x".
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    // value = digits × 10^k
    let k = exp.parse::<i32>().expect("exponent is an integer") - (n - 1);
    let abs_exp = (k + n - 1).abs();
    let mut out = String::with_capacity(32);
    if v < 0.0 {
        out.push('-');
    }
    if k >= 0 && abs_exp < n + 7 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
    } else if k < 0 && (k > -7 || abs_exp < 4) {
        let offset = n + k;
        if offset <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-offset) as usize));
            out.push_str(&digits);
        } else {
            out.push_str(&digits[..offset as usize]);
            out.push('.');
            out.push_str(&digits[offset as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if k + n - 1 < 0 { '-' } else { '+' });
        out.push_str(&abs_exp.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        for (s, v) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("123", Some(123)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("", None),
            ("-", None),
            ("-0", None),
            ("01", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("1a", None),
            ("99999999999999999999999", None),
        ] {
            assert_eq!(parse_i64(s.as_bytes()), v, "{s:?}");
        }
    }

    #[test]
    fn integer_round_trip() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 42, -1000] {
            let mut out = Vec::new();
            push_i64(&mut out, v);
            assert_eq!(parse_i64(&out), Some(v));
        }
    }

    #[test]
    fn doubles_like_valkey() {
        // (input, ZSCORE reply) observed from valkey-server 9.1.
        for (input, want) in [
            ("0.1", "0.1"),
            ("1.5", "1.5"),
            ("-2.25", "-2.25"),
            ("3", "3"),
            ("1e20", "1e+20"),
            ("1.5e-7", "1.5e-7"),
            ("0.0001", "0.0001"),
            ("0.00001", "0.00001"),
            ("123456.789", "123456.789"),
            ("1e16", "10000000000000000"),
            ("1e17", "100000000000000000"),
            ("1.2345678901234567e17", "123456789012345664"),
            ("12345678901234567", "12345678901234568"),
            ("-0", "0"),
            ("1e-300", "1e-300"),
            ("5e-324", "5e-324"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("2.5e15", "2500000000000000"),
            ("123456789012345680000", "123456789012345680000"),
            ("1e21", "1e+21"),
            ("1.0000000000000002", "1.0000000000000002"),
            ("33.333333333333336", "33.333333333333336"),
            ("-1e16", "-10000000000000000"),
            ("123e-7", "1.23e-5"),
            ("4503599627370496.5", "4503599627370496"),
        ] {
            let v: f64 = input.parse().unwrap();
            assert_eq!(format_double(v), want, "{input}");
        }
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(f64::NAN), "nan");
    }
}
