//! The VIP announcer against real BIRD 2 in network namespaces
//! (tests/anycast/run.sh): the router learns the VIP while the reals are
//! healthy, loses it when the quorum is lost, relearns it, loses it on
//! `lvsd stop` before the process exits (drain), and a restart after
//! kill -9 removes the stale route.
//!
//! Needs root, netns and bird2 (scripts/setup-checks.sh):
//! `cargo test --test anycast -- --ignored`. Skips (passes with a note)
//! when those are missing.

use std::process::Command;

#[test]
#[ignore = "needs root, network namespaces and bird2"]
fn bird_learns_and_loses_the_vip_route() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/anycast/run.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_lvsd"))
        .output()
        .expect("run tests/anycast/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    match out.status.code() {
        Some(0) => assert!(stdout.contains("PASS"), "no PASS line"),
        Some(77) => eprintln!("skipped: {}", stdout.trim()),
        c => panic!("tests/anycast/run.sh failed ({c:?})"),
    }
}
