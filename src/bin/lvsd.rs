//! `lvsd`: the daemon and its verbs. All logic lives in `lvsd::daemon`.

use std::io::Write;
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("check-config") {
        let file = match args.get(1..).unwrap_or(&[]) {
            [] => None,
            [f] => Some(PathBuf::from(f)),
            _ => {
                eprintln!("usage: lvsd check-config [FILE]");
                std::process::exit(2);
            }
        };
        let out = lvsd::daemon::check_config::check_config(file.as_deref());
        // A closed stdout (| head) is not an error worth a panic.
        let _ = std::io::stdout().write_all(out.stdout.as_bytes());
        let _ = std::io::stderr().write_all(out.stderr.as_bytes());
        std::process::exit(out.code);
    }
    if args.first().map(String::as_str) == Some("probe") {
        let file = match args.get(1..).unwrap_or(&[]) {
            [] => None,
            [f] => Some(PathBuf::from(f)),
            _ => {
                eprintln!("usage: lvsd probe [FILE]");
                std::process::exit(2);
            }
        };
        let out = lvsd::check::probe::probe_main(file.as_deref());
        let _ = std::io::stdout().write_all(out.stdout.as_bytes());
        let _ = std::io::stderr().write_all(out.stderr.as_bytes());
        std::process::exit(out.code);
    }
    if args.first().map(String::as_str) == Some("explain") {
        let out = explain(&args[1..]);
        let _ = std::io::stdout().write_all(out.stdout.as_bytes());
        let _ = std::io::stderr().write_all(out.stderr.as_bytes());
        std::process::exit(out.code);
    }
    std::process::exit(lvsd::daemon::entry::main(&args));
}

/// `lvsd explain`: reads the running kernel (or the empty in-memory table
/// under LVSD_TEST_FAKE_KERNEL=1, so tests never touch the host's IPVS).
fn explain(args: &[String]) -> lvsd::daemon::explain::Output {
    use lvsd::daemon::explain;
    if args.len() != 3 {
        return explain::explain(args, &lvsd::kernel::FakeTable::new());
    }
    if std::env::var_os(lvsd::daemon::entry::FAKE_KERNEL_ENV).is_some_and(|v| v == "1") {
        return explain::explain(args, &lvsd::kernel::FakeTable::new());
    }
    match lvsd::kernel::NetlinkIpvs::new() {
        Ok(k) => explain::explain(args, &k),
        Err(e) => explain::Output {
            stdout: String::new(),
            stderr: format!("lvsd explain: cannot open IPVS: {e}\n"),
            code: 1,
        },
    }
}
