//! A global allocator that counts live heap bytes, so INFO's used_memory
//! (and, later, maxmemory) reflects what the data really takes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct CountingAllocator;

static USED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY (for every method): each call forwards to the system allocator with
// the caller's arguments unchanged, so it upholds exactly the contract the
// caller relies on; the counters are plain atomics and touch no memory the
// allocator hands out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see above).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see above).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see above).
        unsafe { System.dealloc(ptr, layout) };
        USED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see above).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            USED.fetch_sub(layout.size(), Ordering::Relaxed);
            grow(new_size);
        }
        p
    }
}

fn grow(n: usize) {
    USED.fetch_add(n, Ordering::Relaxed);
}

/// Records the current use as the peak if it is one. Called from the cron
/// and INFO rather than on every allocation (Valkey samples its peak too).
pub fn sample_peak() -> usize {
    let used = used();
    PEAK.fetch_max(used, Ordering::Relaxed).max(used)
}

/// Live heap bytes.
pub fn used() -> usize {
    USED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_live_bytes() {
        // Tests run on several threads, so compare against a large block.
        let before = super::used();
        let block = vec![1u8; 8 << 20];
        assert!(super::used() >= before + (8 << 20) - (1 << 20));
        drop(block);
        assert!(super::used() < before + (8 << 20));
    }
}
