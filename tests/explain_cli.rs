//! `lvsd explain` as a process: argument errors and a missing service. The
//! in-memory kernel (LVSD_TEST_FAKE_KERNEL=1) is empty in a fresh process,
//! so the table-reading path is covered by `daemon::explain`'s unit tests
//! and, against a real kernel, by tests/vm/52-mh-capture.sh.

use std::process::Command;

const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(LVSD)
        .arg("explain")
        .args(args)
        .env("LVSD_TEST_FAKE_KERNEL", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_service_is_a_clear_error() {
    let (code, out, err) = run(&["tcp", "10.0.0.1:80", "192.0.2.1:4000"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(
        err,
        "lvsd explain: service tcp 10.0.0.1:80 does not exist in the kernel's IPVS table\n"
    );
}

#[test]
fn bad_arguments_give_the_usage_and_exit_2() {
    for args in [
        &["tcp", "10.0.0.1:80"][..],
        &["tcp", "10.0.0.1:80", "x", "y"],
        &["gre", "10.0.0.1:80", "192.0.2.1"],
        &["tcp", "[::1]", "192.0.2.1"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("usage: lvsd explain"), "{err}");
    }
}

#[test]
fn explain_is_in_the_help_text() {
    let out = Command::new(LVSD).arg("--help").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("lvsd explain tcp|udp|sctp VIP:PORT CLIENT[:PORT]"),
        "{text}"
    );
}
