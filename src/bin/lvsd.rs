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
    std::process::exit(lvsd::daemon::entry::main(&args));
}
