//! Glob matching with exactly the semantics of Valkey's `stringmatchlen`
//! (KEYS, SCAN MATCH, CONFIG GET, CLIENT KILL patterns ...): `*`, `?`,
//! `[abc]`, `[^a-z]`, and backslash escapes.

/// Deepest `*` recursion tried before giving up (as Valkey).
const MAX_NESTING: u32 = 1000;

pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase { c.to_ascii_lowercase() } else { c }
}

fn match_impl(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    depth: u32,
) -> bool {
    if depth > MAX_NESTING {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&p[1..], s, nocase, skip_longer, depth + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // No suffix matched: a longer prefix for an outer '*' cannot help.
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let negate = p.first() == Some(&b'^');
                if negate {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    match p {
                        [b'\\', esc, ..] => {
                            p = &p[1..];
                            if *esc == s[0] {
                                matched = true;
                            }
                        }
                        [b']', ..] => break,
                        [] => {
                            // Unterminated class: step back so the outer advance lands at the end.
                            break;
                        }
                        [start, b'-', end, ..] => {
                            // C compares plain (signed) chars here.
                            let (mut lo, mut hi) = (*start as i8, *end as i8);
                            let mut c = s[0] as i8;
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            if nocase {
                                lo = (lo as u8).to_ascii_lowercase() as i8;
                                hi = (hi as u8).to_ascii_lowercase() as i8;
                                c = (c as u8).to_ascii_lowercase() as i8;
                            }
                            p = &p[2..];
                            if c >= lo && c <= hi {
                                matched = true;
                            }
                        }
                        [c, ..] => {
                            if fold(*c, nocase) == fold(s[0], nocase) {
                                matched = true;
                            }
                        }
                    }
                    p = &p[1..];
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // The class ran to the end of the pattern (unterminated).
                    if s.is_empty() {
                        return true;
                    }
                    return false;
                }
            }
            c => {
                let c = if c == b'\\' && p.len() >= 2 {
                    p = &p[1..];
                    p[0]
                } else {
                    c
                };
                if fold(c, nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn valkey_glob_cases() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "anything", true),
            // Observed in valkey-server 9.1 (KEYS special-cases a lone "*").
            ("*", "", false),
            ("**", "", false),
            ("a[", "a[", false),
            ("a\\", "a\\", true),
            ("a[\\", "a\\", true),
            ("[^]", "a", true),
            ("[]", "a", false),
            ("a[b-", "ab", true),
            ("", "", true),
            ("", "a", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("user:*", "user:1000", true),
            ("*:*", "nocolon", false),
            ("[abc", "a", true),
            ("[\\]]", "]", true),
            ("ab*", "ab", true),
            ("a**", "a", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(
                matches(p.as_bytes(), s.as_bytes(), false),
                *want,
                "{p} ~ {s}"
            );
        }
        assert!(matches(b"HELLO", b"hello", true));
        assert!(!matches(b"HELLO", b"hello", false));
    }

    #[test]
    fn pathological_pattern_terminates() {
        let pattern = "a*".repeat(30) + "b";
        let s = "a".repeat(60);
        assert!(!matches(pattern.as_bytes(), s.as_bytes(), false));
    }
}
