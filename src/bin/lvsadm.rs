//! `lvsadm`: drop-in for ipvsadm 1.31. All logic lives in `lvsd::cli`.
//!
//! The binary has its own C `main` instead of Rust's: std's start-up
//! (`lang_start`) asks glibc for the main thread's stack bounds to place a
//! stack-overflow guard, and glibc answers by reading and `sscanf`-parsing
//! `/proc/self/maps`: a quarter of the instructions of a whole `lvsadm -h`
//! (host callgrind, docs/benchmarks.md "lvsadm"), paid by every run of a
//! tool that scripts call once per table entry. Without it lvsadm also
//! keeps SIGPIPE's default action, as ipvsadm does: a listing piped into a
//! reader that quits early ends the way ipvsadm's does.
// (Not under `cargo test`: the test harness brings its own `main`.)
#![cfg_attr(not(test), no_main)]

/// C entry point; glibc's `.init_array` hands argv to `std::env` before it
/// runs (documented for `std::env::args` on glibc Linux).
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(
    _argc: std::os::raw::c_int,
    _argv: *const *const std::os::raw::c_char,
) -> std::os::raw::c_int {
    // Arguments that are not UTF-8 are passed on lossily; ipvsadm would
    // reject them as addresses or names anyway.
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // A panic must not unwind into C; 101 is what Rust's own main returns.
    let code = std::panic::catch_unwind(|| lvsd::cli::run(&argv)).unwrap_or(101);
    // `exit` flushes std's buffered stdout as a return from Rust's main would.
    std::process::exit(code)
}
