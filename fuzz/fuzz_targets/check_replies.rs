//! Fuzz target: the health checks' hand-written readers of what a real
//! server answers (LDAP BER, the MySQL greeting / ERR / length-encoded
//! integers, a RADIUS reply's authenticator) accept or reject any bytes,
//! never a panic; what reaches a report is bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lvsd::check::negotiate::{ldap, mysql, radius};

fuzz_target!(|data: &[u8]| {
    if let Ok((_, _, text)) = ldap::decode_response(data) {
        // The server's text is quoted, escaped and cut at 80 characters
        // before it is shown: bounded, and no raw control characters.
        assert!(text.len() <= 1200, "unbounded report text: {}", text.len());
        assert!(!text.chars().any(char::is_control), "raw control character");
    }
    let (greeting, _, _) = mysql::decode_server_packet(data);
    if let Ok((_, scramble, _)) = greeting {
        assert!(scramble <= data.len());
    }
    let auth = [7u8; 16];
    let _ = radius::reply_valid(data, &auth, "secret");
});
