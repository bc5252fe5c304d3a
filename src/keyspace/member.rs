//! A collection element (a set's member, or a hash's field and value, in
//! their `hashtable` encodings) in one allocation behind a six-byte
//! pointer (`Ptr48`), as the table's slots want it: each byte string after its
//! length (one byte, or 255 and four bytes for long ones). A ten-byte
//! set member takes 12 bytes, where a `Box<[u8]>` would also need a slot
//! more than twice as wide.
//!
//! `unsafe` is confined to this file: the layout is computed from the
//! length prefixes, written once.

use std::alloc::{self, Layout};
use std::ptr::{self, NonNull};

use super::table::Keyed;
use crate::util::ptr48::Ptr48;

const LONG: u8 = u8::MAX;

pub struct Member(Ptr48);

// SAFETY: a Member owns its bytes exclusively, like a Box<[u8]>.
unsafe impl Send for Member {}
// SAFETY: as above: shared references only read the bytes.
unsafe impl Sync for Member {}

/// Bytes a length prefix takes.
fn prefix(len: usize) -> usize {
    if len >= usize::from(LONG) { 5 } else { 1 }
}

/// Writes `bytes` after their length prefix at `at`; returns the end.
///
/// # Safety
/// `at` must have `prefix(bytes.len()) + bytes.len()` writable bytes.
unsafe fn put(at: *mut u8, bytes: &[u8]) -> *mut u8 {
    let len = u32::try_from(bytes.len()).expect("elements are at most 512 MB");
    // SAFETY: the caller provides the room for the prefix and the bytes.
    unsafe {
        if bytes.len() >= usize::from(LONG) {
            *at = LONG;
            ptr::write_unaligned(at.add(1).cast::<u32>(), len);
        } else {
            *at = len as u8;
        }
        let data = at.add(prefix(bytes.len()));
        ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
        data.add(bytes.len())
    }
}

/// The byte string whose length prefix is at `at`.
///
/// # Safety
/// `at` must point at a prefix written by `put`, in an allocation that
/// lives for `'a`.
unsafe fn get<'a>(at: *const u8) -> &'a [u8] {
    // SAFETY: as the caller promises, a prefix and its bytes are there.
    unsafe {
        let len = match *at {
            LONG => ptr::read_unaligned(at.add(1).cast::<u32>()) as usize,
            n => usize::from(n),
        };
        std::slice::from_raw_parts(at.add(prefix(len)), len)
    }
}

impl Member {
    /// A set member.
    pub fn new(key: &[u8]) -> Member {
        Self::pair(key, b"")
    }

    /// A hash field and its value.
    pub fn pair(key: &[u8], value: &[u8]) -> Member {
        let layout = Self::layout_of(key.len(), value.len());
        // SAFETY: the layout has at least the two length bytes: never zero.
        let p = unsafe { alloc::alloc(layout) };
        let Some(p) = NonNull::new(p) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: the layout counts both prefixes and both strings.
        unsafe { put(put(p.as_ptr(), key), value) };
        Member(Ptr48::new(p))
    }

    fn layout_of(key: usize, value: usize) -> Layout {
        let size = prefix(key) + key + prefix(value) + value;
        // 2-aligned: a `Ptr48` keeps its lowest bit.
        Layout::from_size_align(size, 2).expect("an element's size")
    }

    pub fn key(&self) -> &[u8] {
        // SAFETY: `pair` wrote the key's prefix first.
        unsafe { get(self.0.as_ptr()) }
    }

    pub fn value(&self) -> &[u8] {
        let key = self.key();
        // SAFETY: the value's prefix follows the key's bytes.
        unsafe { get(key.as_ptr().add(key.len())) }
    }

    /// Bytes of the allocation (MEMORY USAGE).
    pub fn size(&self) -> usize {
        Self::layout_of(self.key().len(), self.value().len()).size()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let layout = Self::layout_of(self.key().len(), self.value().len());
        // SAFETY: allocated in `pair` with this layout (the prefixes it is
        // computed from never change).
        unsafe { alloc::dealloc(self.0.as_ptr(), layout) }
    }
}

impl Clone for Member {
    fn clone(&self) -> Member {
        Member::pair(self.key(), self.value())
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key() && self.value() == other.value()
    }
}

impl Keyed for Member {
    #[inline]
    fn key(&self) -> &[u8] {
        Member::key(self)
    }

    fn addr(&self) -> *const u8 {
        self.0.as_ptr()
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        write!(f, "{:?}={:?}", text(self.key()), text(self.value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length reads back (the safe twin: the slices it was made of).
    #[test]
    fn members_hold_their_bytes() {
        let lens = [0usize, 1, 10, 254, 255, 256, 70_000];
        for klen in lens {
            for vlen in lens {
                let key: Vec<u8> = (0..klen).map(|i| (i * 7) as u8).collect();
                let value: Vec<u8> = (0..vlen).map(|i| (i * 3) as u8).collect();
                let m = Member::pair(&key, &value);
                assert_eq!((m.key(), m.value()), (&key[..], &value[..]));
                assert_eq!(m.size(), prefix(klen) + klen + prefix(vlen) + vlen);
                let c = m.clone();
                drop(m);
                assert_eq!((c.key(), c.value()), (&key[..], &value[..]));
            }
        }
        assert_eq!(Member::new(b"member:123").size(), 12);
    }
}
