//! A collection member (a set's `hashtable` encoding) in one allocation
//! behind a one-word pointer, as the table's slots want it: a length byte
//! (or 255 and a four-byte length for long members) and the bytes. A
//! ten-byte member takes 11 bytes, where a `Box<[u8]>` would also need a
//! slot twice as wide.
//!
//! `unsafe` is confined to this file: the layout is computed from the
//! length prefix, written once.

use std::alloc::{self, Layout};
use std::ptr::{self, NonNull};

use super::table::Keyed;

const LONG: u8 = u8::MAX;

pub struct Member(NonNull<u8>);

// SAFETY: a Member owns its bytes exclusively, like a Box<[u8]>.
unsafe impl Send for Member {}
// SAFETY: as above: shared references only read the bytes.
unsafe impl Sync for Member {}

impl Member {
    pub fn new(bytes: &[u8]) -> Member {
        let long = bytes.len() >= usize::from(LONG);
        let len = u32::try_from(bytes.len()).expect("members are at most 512 MB");
        let layout = Self::layout_of(bytes.len());
        // SAFETY: the layout has at least the length byte: never zero.
        let p = unsafe { alloc::alloc(layout) };
        let Some(p) = NonNull::new(p) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: the writes stay within `layout.size()`: the prefix (1 or
        // 5 bytes) and then the bytes.
        unsafe {
            let base = p.as_ptr();
            if long {
                *base = LONG;
                ptr::write_unaligned(base.add(1).cast::<u32>(), len);
            } else {
                *base = len as u8;
            }
            ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                base.add(Self::prefix(bytes.len())),
                bytes.len(),
            );
        }
        Member(p)
    }

    fn prefix(len: usize) -> usize {
        if len >= usize::from(LONG) { 5 } else { 1 }
    }

    fn layout_of(len: usize) -> Layout {
        Layout::from_size_align(Self::prefix(len) + len, 1).expect("a member's size")
    }

    fn len(&self) -> usize {
        // SAFETY: the prefix was written in `new` and lies within the
        // allocation (5 bytes when the first is LONG).
        unsafe {
            match *self.0.as_ptr() {
                LONG => ptr::read_unaligned(self.0.as_ptr().add(1).cast::<u32>()) as usize,
                n => usize::from(n),
            }
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        let len = self.len();
        // SAFETY: the bytes follow the prefix, written in `new`, and live
        // as long as `&self`.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().add(Self::prefix(len)), len) }
    }

    /// Bytes of the allocation (MEMORY USAGE).
    pub fn size(&self) -> usize {
        Self::layout_of(self.len()).size()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let layout = Self::layout_of(self.len());
        // SAFETY: allocated in `new` with this layout (the prefix it is
        // computed from never changes).
        unsafe { alloc::dealloc(self.0.as_ptr(), layout) }
    }
}

impl Clone for Member {
    fn clone(&self) -> Member {
        Member::new(self.as_slice())
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Keyed for Member {
    #[inline]
    fn key(&self) -> &[u8] {
        self.as_slice()
    }

    fn addr(&self) -> *const u8 {
        self.0.as_ptr()
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length reads back (the safe twin: the slice it was made of).
    #[test]
    fn members_hold_their_bytes() {
        for len in [0usize, 1, 10, 254, 255, 256, 70_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let m = Member::new(&bytes);
            assert_eq!(m.as_slice(), &bytes[..]);
            assert_eq!(m.size(), bytes.len() + if len >= 255 { 5 } else { 1 });
            let c = m.clone();
            drop(m);
            assert_eq!(c.as_slice(), &bytes[..]);
        }
    }
}
