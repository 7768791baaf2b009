//! Fuzz target: any datagram given to the heartbeat decoder and the
//! authenticator (replay windows) is accepted or rejected, never a panic.
//! The same bytes, made into a well-framed packet and signed with the key,
//! reach the decoding after the MAC check: what decodes re-encodes to a
//! packet that decodes to the same heartbeat, and one flipped bit of a
//! signed packet is always rejected.
#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use lvsd::ha::auth::Authenticator;
use lvsd::wire::heartbeat::{decode, encode, DecodeError};
use sha2::Sha256;

const KEY: &[u8] = b"a shared secret of enough length";
const HEADER_LEN: usize = 44;

/// `data` as a packet with a valid magic, version, name length and tag.
fn signed(data: &[u8]) -> Option<Vec<u8>> {
    let mut body = data
        .get(..HEADER_LEN.max(data.len().min(HEADER_LEN + 255)))?
        .to_vec();
    body[..4].copy_from_slice(b"LVHB");
    body[4] = 2;
    body[HEADER_LEN - 1] = (body.len() - HEADER_LEN) as u8;
    let mut m = Hmac::<Sha256>::new_from_slice(KEY).ok()?;
    m.update(&body);
    body.extend_from_slice(&m.finalize().into_bytes());
    Some(body)
}

fuzz_target!(|data: &[u8]| {
    let mut auth = Authenticator::new(KEY.to_vec(), "me");
    let _ = decode(data, KEY);
    let _ = auth.check(data);
    let Some(pkt) = signed(data) else { return };
    match decode(&pkt, KEY) {
        Ok(hb) => {
            let again = encode(&hb, KEY).expect("a decoded heartbeat encodes");
            assert_eq!(decode(&again, KEY).as_ref(), Ok(&hb), "round trip");
            // The authenticator accepts it once (unless it claims to be us)
            // and drops the replay.
            let mut fresh = Authenticator::new(KEY.to_vec(), "me");
            if hb.node != "me" {
                assert!(fresh.check(&pkt).is_ok(), "an authentic packet is accepted");
            }
            assert!(
                fresh.check(&pkt).is_err(),
                "a replay (or our own) is dropped"
            );
        }
        Err(e) => assert!(
            matches!(e, DecodeError::BadState(_) | DecodeError::BadName),
            "a well-framed signed packet fails only on its content: {e:?}"
        ),
    }
    // One flipped bit anywhere: never accepted.
    let at = usize::from(data.first().copied().unwrap_or(0)) * 8 % (pkt.len() * 8);
    let mut bad = pkt.clone();
    bad[at / 8] ^= 1 << (at % 8);
    assert!(
        decode(&bad, KEY).is_err(),
        "altered packet accepted (bit {at})"
    );
    assert!(auth.check(&bad).is_err());
});
