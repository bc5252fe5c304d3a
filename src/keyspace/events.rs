//! Keyspace event classes (`notify-keyspace-events`), as Valkey's notify.c
//! names them: which events are published, to the `__keyspace@<db>__:<key>`
//! channel (K) or the `__keyevent@<db>__:<event>` channel (E).

/// A set of event classes, as a bit mask.
pub type Classes = u16;

pub const KEYSPACE: Classes = 1 << 0; // K
pub const KEYEVENT: Classes = 1 << 1; // E
pub const GENERIC: Classes = 1 << 2; // g
pub const STRING: Classes = 1 << 3; // $
pub const LIST: Classes = 1 << 4; // l
pub const SET: Classes = 1 << 5; // s
pub const HASH: Classes = 1 << 6; // h
pub const ZSET: Classes = 1 << 7; // z
pub const EXPIRED: Classes = 1 << 8; // x
pub const EVICTED: Classes = 1 << 9; // e
pub const STREAM: Classes = 1 << 10; // t
pub const KEY_MISS: Classes = 1 << 11; // m
pub const MODULE: Classes = 1 << 12; // d
pub const NEW: Classes = 1 << 13; // n
/// `A`: every class but key-miss and new-key events.
pub const ALL: Classes =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The class letters in the order CONFIG GET prints them.
const LETTERS: [(u8, Classes); 11] = [
    (b'g', GENERIC),
    (b'$', STRING),
    (b'l', LIST),
    (b's', SET),
    (b'h', HASH),
    (b'z', ZSET),
    (b'x', EXPIRED),
    (b'e', EVICTED),
    (b't', STREAM),
    (b'd', MODULE),
    (b'n', NEW),
];

/// Parses a `notify-keyspace-events` value; None on an unknown letter.
pub fn parse(s: &str) -> Option<Classes> {
    let mut flags = 0;
    for c in s.bytes() {
        flags |= match c {
            b'A' => ALL,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b'm' => KEY_MISS,
            _ => LETTERS.iter().find(|(l, _)| *l == c)?.1,
        };
    }
    Some(flags)
}

/// The value CONFIG GET shows: `A` for all of its classes (hiding `n`, as
/// Valkey does), else each class letter; then K, E and m.
pub fn format(flags: Classes) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        for &(l, c) in &LETTERS {
            if flags & c != 0 {
                s.push(l as char);
            }
        }
    }
    for (l, c) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS)] {
        if flags & c != 0 {
            s.push(l);
        }
    }
    s
}

/// Whether an event of `class` is published under `flags` at all.
pub fn wanted(flags: Classes, class: Classes) -> bool {
    flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_valkey_prints_them() {
        for (given, shown) in [
            ("KEA", "AKE"),
            ("Kg", "gK"),
            ("Elshz", "lshzE"),
            ("g$lshzxetd", "A"),
            ("Kgm", "gKm"),
            ("Exn", "xnE"),
            ("AKEmn", "AKEm"),
            ("", ""),
        ] {
            assert_eq!(format(parse(given).unwrap()), shown, "{given}");
        }
        assert_eq!(parse("Q"), None);
        assert!(wanted(parse("Kl").unwrap(), LIST));
        assert!(!wanted(parse("l").unwrap(), LIST));
        assert!(!wanted(parse("KA").unwrap(), NEW));
    }
}
