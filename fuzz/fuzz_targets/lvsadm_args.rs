//! Fuzz target: any argv (NUL-separated words) gives lvsadm a checked
//! command or an exit with a message, never a panic; parsing is a pure
//! function of the words. The same bytes as `lvsadm -R` input (one
//! command per line) go through the restore reader too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsd::cli::command::parse_command;
use lvsd::cli::names::NoResolver;
use lvsd::cli::restore::ConfigStream;

fuzz_target!(|data: &[u8]| {
    let mut argv = vec!["lvsadm".to_string()];
    argv.extend(
        data.split(|b| *b == 0)
            .take(64)
            .map(|w| String::from_utf8_lossy(w).into_owned()),
    );
    let first = parse_command(&argv, &NoResolver);
    let second = parse_command(&argv, &NoResolver);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("parse_command is not deterministic"),
    }
    let mut stream = ConfigStream::new(data.to_vec());
    for _ in 0..1000 {
        let Some(words) = stream.read_line("lvsadm") else {
            break;
        };
        let mut argv = vec!["lvsadm".to_string()];
        argv.extend(words);
        let _ = parse_command(&argv, &NoResolver);
    }
});
