//! `lvsd`: the daemon and its verbs. All logic lives in `lvsd::daemon`.

use std::io::Write;
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!("usage: lvsd check-config [FILE]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check-config") => {
            let file = match args.get(1..).unwrap_or(&[]) {
                [] => None,
                [f] => Some(PathBuf::from(f)),
                _ => usage(),
            };
            let out = lvsd::daemon::check_config::check_config(file.as_deref());
            // A closed stdout (| head) is not an error worth a panic.
            let _ = std::io::stdout().write_all(out.stdout.as_bytes());
            let _ = std::io::stderr().write_all(out.stderr.as_bytes());
            std::process::exit(out.code);
        }
        _ => usage(),
    }
}
