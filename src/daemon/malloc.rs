//! The daemon's allocator settings.
//!
//! A check reading a hostile answer (an endless body, a database claiming a
//! 2 GiB message) fills buffers of several MiB for a moment, on whichever
//! runtime thread runs it. glibc's malloc raises its mmap threshold each
//! time such a buffer is freed (the "dynamic threshold", up to 32 MiB), so
//! the next big buffers come from the threads' arenas instead of their own
//! mappings, and those arenas do not give the freed middle back: the 1-hour
//! soak (docs/benchmarks.md, "soak (daemon)") held 50-60 MiB of such
//! fragments with 20 MiB in use. A fixed threshold keeps every buffer of
//! 128 KiB or more in its own mapping, returned to the kernel on free.
//!
//! [`Allocator`], the daemon's global allocator, is the system one except
//! for small allocations aligned beyond malloc's own 16 bytes (see there).

use std::alloc::{GlobalAlloc, Layout, System};

/// Requests of this many bytes or more get their own mapping.
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Fix malloc's mmap threshold (and so turn off its dynamic adjustment).
/// Called once at daemon start, before any thread exists. Returns false
/// where the C library refused or is not glibc.
pub fn bound_fragmentation() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a malloc parameter; it is called before
        // the runtime starts any thread, and glibc serialises it with its
        // own lock anyway.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The daemon's global allocator: the system allocator, except that an
/// allocation aligned to 32-256 bytes is carved out of a plain `malloc` of
/// its size plus its alignment (the block's start is kept in the word
/// before the aligned pointer).
///
/// Why: tokio aligns each socket's readiness state (`ScheduledIo`) to a
/// cache line pair, 128 bytes, and the system allocator serves an
/// alignment above 16 with `posix_memalign`, which in glibc before 2.38
/// skips the per-thread cache and splits a larger chunk each time: about
/// 700 instructions per socket, a twentieth of an http check's whole cost
/// (issue 15, docs/benchmarks.md "checks"). A plain `malloc` of at most
/// 256 bytes more comes from that cache. No crate does only this; a
/// whole other allocator (jemalloc, mimalloc) would change the memory
/// behaviour the soak measured.
#[derive(Debug, Default, Clone, Copy)]
pub struct Allocator;

/// Largest alignment carved out of a plain malloc (larger ones would
/// waste more than they save; they go to the system allocator).
const MAX_CARVED_ALIGN: usize = 256;

/// Whether `layout` is carved out of a plain malloc (see [`Allocator`]).
fn carved(layout: Layout) -> bool {
    // up to 16, malloc's own alignment on the 64-bit targets, the system
    // allocator is a plain malloc already
    layout.align() > 16 && layout.align() <= MAX_CARVED_ALIGN
}

// SAFETY: every block comes from malloc (directly or through `System`) and
// goes back to free through the same path, chosen by the layout, which the
// caller passes unchanged to `dealloc` and `realloc`. A carved block is
// `size + align` bytes from malloc; malloc's pointer is aligned to at
// least a pointer's size, so the offset to the next multiple of `align`
// is between one pointer and `align` bytes: the aligned block fits, and
// the word before it (inside the malloc'd bytes) holds malloc's pointer.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !carved(layout) {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.alloc(layout) };
        }
        let Some(total) = layout.size().checked_add(layout.align()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: malloc has no precondition; null is handled below.
        let raw = unsafe { libc::malloc(total) }.cast::<u8>();
        if raw.is_null() {
            return raw;
        }
        let offset = layout.align() - (raw as usize & (layout.align() - 1));
        // SAFETY: offset <= align, so the pointer and `size` bytes after it
        // stay inside the `size + align` bytes malloc gave; the word before
        // it is inside them too (offset >= one pointer, see above) and
        // aligned (both `aligned` and the pointer size are powers of two).
        unsafe {
            let aligned = raw.add(offset);
            aligned.cast::<*mut u8>().sub(1).write(raw);
            aligned
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !carved(layout) {
            // SAFETY: the caller's contract; not carved, so from `System`.
            return unsafe { System.dealloc(ptr, layout) };
        }
        // SAFETY: a carved block: the word before it holds malloc's pointer.
        unsafe { libc::free(ptr.cast::<*mut u8>().sub(1).read().cast()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !carved(layout) {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.alloc_zeroed(layout) };
        }
        // SAFETY: the caller's contract, passed on; `size` bytes are ours.
        unsafe {
            let p = self.alloc(layout);
            if !p.is_null() {
                p.write_bytes(0, layout.size());
            }
            p
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !carved(layout) {
            // SAFETY: the caller's contract; not carved, so from `System`
            // (the new layout has the same alignment, so not carved either).
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size` with this alignment is
        // a valid layout; the old block is `layout.size()` bytes.
        unsafe {
            let new = Layout::from_size_align_unchecked(new_size, layout.align());
            let p = self.alloc(new);
            if !p.is_null() {
                std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any layout: the block is aligned, all of it can be written and
        /// read back, zeroed when asked, keeps its bytes through a realloc
        /// (grown or shrunk), and goes back without complaint (glibc's free
        /// aborts on a pointer it did not give out, so a wrong start
        /// pointer fails the test run).
        #[test]
        fn every_layout_gets_an_aligned_block_that_keeps_its_bytes(
            size in 1usize..5000,
            align_log in 0u32..10,
            new_size in 1usize..5000,
            zeroed in any::<bool>(),
        ) {
            let a = Allocator;
            let layout = Layout::from_size_align(size, 1 << align_log).unwrap();
            // SAFETY: a non-zero size; the block is used within its size
            // and freed with its layout.
            unsafe {
                let p = if zeroed { a.alloc_zeroed(layout) } else { a.alloc(layout) };
                prop_assert!(!p.is_null());
                prop_assert_eq!(p as usize % layout.align(), 0);
                if zeroed {
                    prop_assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                }
                for i in 0..size {
                    p.add(i).write(i as u8 ^ 0x5a);
                }
                let q = a.realloc(p, layout, new_size);
                prop_assert!(!q.is_null());
                prop_assert_eq!(q as usize % layout.align(), 0);
                for i in 0..size.min(new_size) {
                    prop_assert_eq!(q.add(i).read(), i as u8 ^ 0x5a);
                }
                for i in 0..new_size {
                    q.add(i).write(0xff);
                }
                a.dealloc(q, Layout::from_size_align(new_size, layout.align()).unwrap());
            }
        }
    }

    /// The layouts tokio aligns (its sockets' readiness state) are carved;
    /// malloc's own alignments and page-sized ones are not.
    #[test]
    fn only_small_extra_alignments_are_carved() {
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        assert!(carved(l(128, 128)));
        assert!(carved(l(8, 32)));
        assert!(carved(l(100_000, 256)));
        assert!(!carved(l(128, 16)));
        assert!(!carved(l(128, 8)));
        assert!(!carved(l(4096, 4096)));
        assert!(!carved(l(64, 512)));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_fixed_threshold() {
        assert!(bound_fragmentation());
    }
}
