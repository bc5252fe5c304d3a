//! A non-null pointer in six bytes, so a 64-byte hashtable bucket holds
//! eight of them beside their tags and a child pointer.
//!
//! User-space addresses fit in 48 bits on the platforms ferrokv runs on
//! (x86_64 and aarch64 with 4-level page tables; Linux hands out higher
//! addresses only to a process that asks for them), and the pointees are
//! at least 2-aligned, so the lowest bit is free to keep the value
//! non-zero: `Option<Ptr48>` is six bytes too. Both facts are checked
//! when a pointer is packed, so a violation stops the process rather than
//! corrupting it. The address goes through the exposed-provenance API,
//! which is what makes turning it back into a pointer sound.

use std::num::NonZeroU16;
use std::ptr::{self, NonNull};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(C)]
pub struct Ptr48 {
    /// Address bits 0-15, with bit 0 (always clear in the address) set.
    low: NonZeroU16,
    mid: u16,
    high: u16,
}

impl Ptr48 {
    /// Packs `p`, which must be 2-aligned and below 2^48 (else a panic).
    #[inline]
    pub fn new(p: NonNull<u8>) -> Ptr48 {
        let addr = p.as_ptr().expose_provenance();
        assert!(
            addr & 1 == 0 && addr >> 48 == 0,
            "a pointer that fits in 48 bits"
        );
        Ptr48 {
            low: NonZeroU16::MIN | addr as u16,
            mid: (addr >> 16) as u16,
            high: (addr >> 32) as u16,
        }
    }

    /// The pointer `new` packed.
    #[inline]
    pub fn as_ptr(self) -> *mut u8 {
        let addr = usize::from(self.low.get() & !1)
            | usize::from(self.mid) << 16
            | usize::from(self.high) << 32;
        ptr::with_exposed_provenance_mut(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_and_unpacks() {
        assert_eq!(size_of::<Option<Ptr48>>(), 6);
        let boxed = Box::new(0x1234_5678_u64);
        let p = NonNull::from(&*boxed).cast::<u8>();
        let packed = Ptr48::new(p);
        assert_eq!(packed.as_ptr(), p.as_ptr());
        // SAFETY: the pointer came from `boxed`, which is still alive.
        assert_eq!(unsafe { *packed.as_ptr().cast::<u64>() }, 0x1234_5678);
        for addr in [2usize, 0x10000, 0x7fff_ffff_fff8, 0xffff_ffff_fffe] {
            let p = NonNull::new(ptr::without_provenance_mut::<u8>(addr)).unwrap();
            assert_eq!(Ptr48::new(p).as_ptr().addr(), addr);
        }
    }

    #[test]
    #[should_panic(expected = "48 bits")]
    fn refuses_odd_addresses() {
        Ptr48::new(NonNull::new(ptr::without_provenance_mut::<u8>(3)).unwrap());
    }
}
