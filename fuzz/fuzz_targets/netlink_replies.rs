//! Fuzz target: any bytes as a receive buffer of netlink replies (dump
//! parts, acks, errors, nlctrl answers) must decode to replies or an error,
//! never a panic, and every IPVS data message's typed views likewise.
//! The first two bytes pick the IPVS family id, so data messages are
//! reached as often as control ones.
#![no_main]

use ipvs_netlink::packet::{dest_from_genl, parse_replies, parse_replies_with, Reply};
use ipvs_netlink::Family;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, buf)) = data.split_first_chunk::<2>() else {
        return;
    };
    let family = u16::from_ne_bytes(*head);
    if let Ok(replies) = parse_replies(buf, family) {
        for r in replies {
            if let Reply::Data { msg, .. } = r {
                let _ = msg.to_service();
                let _ = msg.to_dest(Family::V4);
                let _ = msg.to_dest(Family::V6);
                let _ = msg.to_daemon();
                let _ = msg.to_timeouts();
                let _ = msg.to_info();
            }
        }
    }
    // The listing fast path decodes destinations straight from the bytes.
    let _ = parse_replies_with(buf, family, &mut |p, _| dest_from_genl(p, Family::V4));
});
