//! `lvsd`: the daemon and its verbs. All logic (and the verb table,
//! `lvsd::daemon::verbs`) lives in `lvsd::daemon`.

/// The system allocator, with tokio's cache-line-aligned blocks taken on
/// malloc's fast path (`lvsd::daemon::malloc::Allocator`).
#[global_allocator]
static ALLOCATOR: lvsd::daemon::malloc::Allocator = lvsd::daemon::malloc::Allocator;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(lvsd::daemon::entry::main(&args));
}
