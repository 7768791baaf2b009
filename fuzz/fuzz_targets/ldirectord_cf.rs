//! Fuzz target: any bytes as an ldirectord.cf must give a Config (and a
//! table) or a list of errors, never a panic. Names resolve offline.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lvsd::config::ldirectord::{Config, OfflineResolver};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = Config::parse(&text, Path::new("fuzz.cf"), &OfflineResolver) {
        let _ = c.table();
    }
});
