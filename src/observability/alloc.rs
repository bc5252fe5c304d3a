//! The global allocator: mimalloc, counting the live heap bytes it hands
//! out, so INFO's used_memory and maxmemory reflect what the data really
//! takes.
//!
//! mimalloc over glibc malloc: it keeps no header in front of a block, so
//! a block takes its size rounded up to 16 where glibc adds 8 bytes first
//! (a 30-byte keyspace node takes 32 bytes instead of 48). The count is of
//! usable sizes, as Valkey counts them (`zmalloc_size`), so it includes
//! what rounding costs.
//!
//! Built with `--cfg system_alloc` (the AddressSanitizer run), the system
//! allocator serves instead, so the sanitizer sees every block.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct CountingAllocator;

static USED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[cfg(not(system_alloc))]
mod backend {
    use libmimalloc_sys as mi;
    use std::alloc::Layout;
    use std::ffi::c_void;

    // SAFETY (for the functions below): each forwards to mimalloc's
    // aligned API with the caller's size and alignment; mimalloc returns
    // blocks of at least that size and alignment (or null) and frees or
    // resizes only blocks it returned, which is what the callers pass.

    pub unsafe fn alloc(layout: Layout) -> *mut u8 {
        // SAFETY: see above.
        unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()).cast() }
    }

    pub unsafe fn alloc_zeroed(layout: Layout) -> *mut u8 {
        // SAFETY: see above.
        unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()).cast() }
    }

    pub unsafe fn dealloc(p: *mut u8, _layout: Layout) {
        // SAFETY: see above.
        unsafe { mi::mi_free(p.cast()) }
    }

    pub unsafe fn realloc(p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see above.
        unsafe { mi::mi_realloc_aligned(p.cast(), new_size, layout.align()).cast() }
    }

    /// The usable size of a live block.
    pub fn size(p: *mut u8, _layout: Layout) -> usize {
        // SAFETY: only called with live blocks mimalloc returned.
        unsafe { mi::mi_usable_size(p as *const c_void) }
    }

    pub fn name() -> String {
        // SAFETY: mi_version only returns a constant.
        let v = unsafe { mi::mi_version() };
        format!("mimalloc-{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
    }

    pub fn purge() {
        // SAFETY: mi_collect only releases free memory; no live block moves.
        unsafe { mi::mi_collect(true) };
    }

    pub fn stats() -> String {
        extern "C" fn append(msg: *const std::ffi::c_char, arg: *mut c_void) {
            // SAFETY: `arg` is the String passed below, alive for the call;
            // `msg` is a NUL-terminated string from mimalloc.
            let (out, msg) = unsafe { (&mut *arg.cast::<String>(), std::ffi::CStr::from_ptr(msg)) };
            out.push_str(&msg.to_string_lossy());
        }
        let mut out = String::new();
        // SAFETY: `append` matches mi_output_fun and only uses `arg` as above.
        unsafe { mi::mi_stats_print_out(Some(append), (&mut out as *mut String).cast()) };
        out
    }
}

#[cfg(system_alloc)]
mod backend {
    use std::alloc::{GlobalAlloc, Layout, System};

    // SAFETY (for the functions below): each forwards to the system
    // allocator with the caller's arguments unchanged.

    pub unsafe fn alloc(layout: Layout) -> *mut u8 {
        // SAFETY: see above.
        unsafe { System.alloc(layout) }
    }

    pub unsafe fn alloc_zeroed(layout: Layout) -> *mut u8 {
        // SAFETY: see above.
        unsafe { System.alloc_zeroed(layout) }
    }

    pub unsafe fn dealloc(p: *mut u8, layout: Layout) {
        // SAFETY: see above.
        unsafe { System.dealloc(p, layout) }
    }

    pub unsafe fn realloc(p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see above.
        unsafe { System.realloc(p, layout, new_size) }
    }

    pub fn size(_p: *mut u8, layout: Layout) -> usize {
        layout.size()
    }

    pub fn name() -> String {
        "libc".into()
    }

    pub fn purge() {}

    pub fn stats() -> String {
        "Stats not supported for the current allocator".into()
    }
}

// SAFETY (for every method): each forwards to the backend, which upholds
// GlobalAlloc's contract (see there); the counters are plain atomics and
// touch no memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see above.
        let p = unsafe { backend::alloc(layout) };
        if !p.is_null() {
            grow(backend::size(p, layout));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see above.
        let p = unsafe { backend::alloc_zeroed(layout) };
        if !p.is_null() {
            grow(backend::size(p, layout));
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        USED.fetch_sub(backend::size(p, layout), Ordering::Relaxed);
        // SAFETY: see above.
        unsafe { backend::dealloc(p, layout) };
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let before = backend::size(p, layout);
        // SAFETY: see above.
        let q = unsafe { backend::realloc(p, layout, new_size) };
        if !q.is_null() {
            USED.fetch_sub(before, Ordering::Relaxed);
            // The new layout is valid: GlobalAlloc::realloc's contract.
            let new = Layout::from_size_align(new_size, layout.align()).expect("a valid layout");
            grow(backend::size(q, new));
        }
        q
    }
}

pub use backend::{name, purge, stats};

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
