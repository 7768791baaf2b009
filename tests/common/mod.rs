//! Shared helpers for integration tests.
#![allow(dead_code)]

pub mod tbl;

/// Read a fixture file under `tests/data/ipvsadm/`.
pub fn fixture(rel: &str) -> String {
    let p = format!("{}/tests/data/ipvsadm/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Assert equality, printing both texts in full on failure.
#[track_caller]
pub fn eq_text(expected: &str, actual: &str) {
    if expected != actual {
        panic!("\n--- expected ---\n{expected}--- actual ---\n{actual}--- end ---");
    }
}
pub mod daemon;

/// Whether `pid` runs (a zombie waiting for its reaper, or a missing
/// process, does not count).
pub fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}
