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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_fixed_threshold() {
        assert!(bound_fragmentation());
    }
}
