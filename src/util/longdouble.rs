//! Safe wrapper over the C long double shim (csrc/longdouble.c).

use std::ffi::c_char;

unsafe extern "C" {
    fn ferrokv_ld_incr(
        cur: *const c_char,
        cur_len: usize,
        incr: *const c_char,
        incr_len: usize,
        out: *mut c_char,
        out_cap: usize,
    ) -> std::ffi::c_long;
}

#[derive(Debug, PartialEq, Eq)]
pub enum IncrError {
    NotAFloat,
    NanOrInfinity,
}

/// `current + incr` in long double precision, as Valkey's INCRBYFLOAT text.
/// `current` is None for a missing key.
pub fn incr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, IncrError> {
    let mut out = vec![0u8; 5 * 1024 + 64];
    let (cur_ptr, cur_len) = match current {
        Some(c) => (c.as_ptr().cast::<c_char>(), c.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: every pointer is valid for the length passed with it (`cur_ptr`
    // may be null, which the shim treats as "missing"); the shim copies the
    // inputs before use and writes at most `out.len()` bytes into `out`.
    let n = unsafe {
        ferrokv_ld_incr(
            cur_ptr,
            cur_len,
            incr.as_ptr().cast(),
            incr.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    match n {
        -1 => Err(IncrError::NotAFloat),
        -2 => Err(IncrError::NanOrInfinity),
        n if n < 0 => Err(IncrError::NotAFloat),
        n => {
            out.truncate(n as usize);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_precision_like_valkey() {
        // Values observed from valkey-server 9.1.
        assert_eq!(incr_by_float(Some(b"10.5"), b"0.1").unwrap(), b"10.6");
        assert_eq!(incr_by_float(Some(b"3.0"), b"1").unwrap(), b"4");
        assert_eq!(
            incr_by_float(Some(b"5000"), b"1.1111111111111111111").unwrap(),
            b"5001.11111111111111116"
        );
        assert_eq!(incr_by_float(None, b"-0").unwrap(), b"0");
        assert_eq!(incr_by_float(Some(b"abc"), b"1"), Err(IncrError::NotAFloat));
        assert_eq!(incr_by_float(Some(b"1"), b" 1"), Err(IncrError::NotAFloat));
        assert_eq!(incr_by_float(Some(b"1"), b""), Err(IncrError::NotAFloat));
        assert_eq!(incr_by_float(Some(b"1"), b"nan"), Err(IncrError::NotAFloat));
        assert_eq!(
            incr_by_float(Some(b"1e4932"), b"1e4932"),
            Err(IncrError::NanOrInfinity)
        );
    }
}
