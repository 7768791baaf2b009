//! The lvsd peer heartbeat packet: a fixed binary header, the sender's node
//! name and an HMAC-SHA256 tag over everything before it.
//!
//! Pure bytes: no sockets, no clocks. Replay protection (generation and
//! sequence windows) is `ha::auth`'s job; this file only guarantees that a
//! packet that decodes was made by a holder of the key and is well formed.
//!
//! Layout (all integers big-endian), documented in `docs/ha-protocol.md`:
//!
//! ```text
//! off len field
//!   0   4 magic "LVHB"
//!   4   1 version (2)
//!   5   1 state: 0 init, 1 standby, 2 active
//!   6   1 flags: bit0 healthy, bit1 hold (manual standby), bit2 takeover request
//!   7   1 priority
//!   8   8 generation (per boot, increasing across restarts)
//!  16   8 sequence (per packet, increasing within a generation)
//!  24   8 active since: Unix ms when the sender's current active period
//!         began (0 = not active); the split-brain incumbency rule
//!  32   8 echo: the receiver's generation as last heard by the sender
//!         (0 = none); proves the packet was sent after the receiver started
//!  40   2 reachable ping nodes
//!  42   1 sender's link index (informational)
//!  43   1 node name length n (1..=64)
//!  44   n node name (UTF-8)
//! 44+n 32 HMAC-SHA256(key, bytes 0..44+n)
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const MAGIC: &[u8; 4] = b"LVHB";
const VERSION: u8 = 2;
const HEADER_LEN: usize = 44;
const TAG_LEN: usize = 32;
/// Longest node name carried on the wire.
pub const MAX_NAME_LEN: usize = 64;
/// Largest packet `encode` produces; receive buffers of this size suffice.
pub const MAX_PACKET_LEN: usize = HEADER_LEN + MAX_NAME_LEN + TAG_LEN;

const FLAG_HEALTHY: u8 = 1;
const FLAG_HOLD: u8 = 2;
const FLAG_TAKEOVER: u8 = 4;

/// Role a sender reports for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    /// Still inside initdead.
    Init,
    /// Not serving.
    Standby,
    /// Owns the VIPs.
    Active,
}

/// The decoded content of one heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Sender's role.
    pub state: PeerState,
    /// Sender can serve (table programmable, daemon healthy).
    pub healthy: bool,
    /// Sender was put in standby by an operator and will not take the VIPs
    /// unless its peer dies.
    pub hold: bool,
    /// Sender asks the receiver to stand down (`lvsd takeover`).
    pub takeover_request: bool,
    /// Sender's election priority.
    pub priority: u8,
    /// Sender's boot generation.
    pub generation: u64,
    /// Sender's packet sequence number.
    pub seq: u64,
    /// Unix ms at which the sender's current active period began; 0 when
    /// it is not active.
    pub active_since_ms: u64,
    /// The receiver's generation as last heard by the sender (0: none yet).
    pub echo_generation: u64,
    /// Ping nodes the sender currently reaches.
    pub ping_reach: u16,
    /// Index of the link the sender sent this copy on.
    pub link: u8,
    /// Sender's node name.
    pub node: String,
}

/// Why a datagram was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than its header, name and tag claim.
    #[error("truncated heartbeat: {len} bytes")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Longer than its name length says.
    #[error("heartbeat has {extra} trailing bytes")]
    Trailing {
        /// Bytes after the tag.
        extra: usize,
    },
    /// Not an lvsd heartbeat.
    #[error("bad heartbeat magic")]
    BadMagic,
    /// A version this build does not speak.
    #[error("unsupported heartbeat version {0}")]
    BadVersion(u8),
    /// HMAC mismatch: wrong key, forged or altered.
    #[error("heartbeat authentication failed")]
    BadTag,
    /// Unknown state byte (checked after the tag, so only a keyed peer can send it).
    #[error("bad heartbeat state {0}")]
    BadState(u8),
    /// Name empty, too long or not UTF-8.
    #[error("bad node name in heartbeat")]
    BadName,
}

/// Why a heartbeat could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Node name empty or longer than [`MAX_NAME_LEN`].
    #[error("node name must be 1..={MAX_NAME_LEN} bytes")]
    BadName,
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long keys are hashed, RFC 2104 §3), so
    // the error branch is dead; it still must not panic.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()))
}

/// Encode and sign a heartbeat with `key`.
pub fn encode(hb: &Heartbeat, key: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let name = hb.node.as_bytes();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(EncodeError::BadName);
    }
    let mut out = Vec::with_capacity(HEADER_LEN + name.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(match hb.state {
        PeerState::Init => 0,
        PeerState::Standby => 1,
        PeerState::Active => 2,
    });
    let mut flags = 0;
    if hb.healthy {
        flags |= FLAG_HEALTHY;
    }
    if hb.hold {
        flags |= FLAG_HOLD;
    }
    if hb.takeover_request {
        flags |= FLAG_TAKEOVER;
    }
    out.push(flags);
    out.push(hb.priority);
    out.extend_from_slice(&hb.generation.to_be_bytes());
    out.extend_from_slice(&hb.seq.to_be_bytes());
    out.extend_from_slice(&hb.active_since_ms.to_be_bytes());
    out.extend_from_slice(&hb.echo_generation.to_be_bytes());
    out.extend_from_slice(&hb.ping_reach.to_be_bytes());
    out.push(hb.link);
    // invariant: name.len() <= MAX_NAME_LEN (64) was checked above.
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    let mut m = mac(key);
    m.update(&out);
    out.extend_from_slice(&m.finalize().into_bytes());
    Ok(out)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_be_bytes(a)
}

/// Verify and decode one datagram. The tag is checked (in constant time)
/// before any field other than the length is trusted.
pub fn decode(buf: &[u8], key: &[u8]) -> Result<Heartbeat, DecodeError> {
    let truncated = DecodeError::Truncated { len: buf.len() };
    let header = buf.get(..HEADER_LEN).ok_or(truncated.clone())?;
    if header.get(..4) != Some(MAGIC.as_slice()) {
        return Err(DecodeError::BadMagic);
    }
    let version = header.get(4).copied().unwrap_or_default();
    if version != VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    let name_len = usize::from(header.get(HEADER_LEN - 1).copied().unwrap_or_default());
    let body_len = HEADER_LEN + name_len;
    let total = body_len + TAG_LEN;
    if buf.len() < total {
        return Err(truncated);
    }
    if buf.len() > total {
        return Err(DecodeError::Trailing {
            extra: buf.len() - total,
        });
    }
    let body = buf.get(..body_len).ok_or(truncated.clone())?;
    let tag = buf.get(body_len..total).ok_or(truncated)?;
    let mut m = mac(key);
    m.update(body);
    m.verify_slice(tag).map_err(|_| DecodeError::BadTag)?;

    let byte = |i: usize| body.get(i).copied().unwrap_or_default();
    let state = match byte(5) {
        0 => PeerState::Init,
        1 => PeerState::Standby,
        2 => PeerState::Active,
        other => return Err(DecodeError::BadState(other)),
    };
    if name_len == 0 || name_len > MAX_NAME_LEN {
        return Err(DecodeError::BadName);
    }
    let node = body
        .get(HEADER_LEN..)
        .and_then(|n| std::str::from_utf8(n).ok())
        .ok_or(DecodeError::BadName)?
        .to_string();
    let flags = byte(6);
    Ok(Heartbeat {
        state,
        healthy: flags & FLAG_HEALTHY != 0,
        hold: flags & FLAG_HOLD != 0,
        takeover_request: flags & FLAG_TAKEOVER != 0,
        priority: byte(7),
        generation: be_u64(body, 8),
        seq: be_u64(body, 16),
        active_since_ms: be_u64(body, 24),
        echo_generation: be_u64(body, 32),
        ping_reach: u16::from_be_bytes([byte(40), byte(41)]),
        link: byte(42),
        node,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sample() -> Heartbeat {
        Heartbeat {
            state: PeerState::Active,
            healthy: true,
            hold: false,
            takeover_request: true,
            priority: 150,
            generation: 0x0102_0304_0506_0708,
            seq: 42,
            active_since_ms: 0x1112_1314_1516_1718,
            echo_generation: 0x2122_2324_2526_2728,
            ping_reach: 3,
            link: 1,
            node: "director1".into(),
        }
    }

    #[test]
    fn header_bytes_are_as_documented() {
        let b = encode(&sample(), KEY).unwrap();
        assert_eq!(b.len(), 44 + 9 + 32);
        assert_eq!(&b[..4], b"LVHB");
        assert_eq!(b[4], 2, "version");
        assert_eq!(b[5], 2, "state active");
        assert_eq!(b[6], 0b101, "healthy | takeover");
        assert_eq!(b[7], 150, "priority");
        assert_eq!(&b[8..16], &[1, 2, 3, 4, 5, 6, 7, 8], "generation");
        assert_eq!(&b[16..24], &[0, 0, 0, 0, 0, 0, 0, 42], "seq");
        assert_eq!(
            &b[24..32],
            &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18],
            "active since"
        );
        assert_eq!(
            &b[32..40],
            &[0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28],
            "echo"
        );
        assert_eq!(&b[40..42], &[0, 3], "ping reach");
        assert_eq!(b[42], 1, "link");
        assert_eq!(b[43], 9, "name length");
        assert_eq!(&b[44..53], b"director1");
        // Tag checked against an independent HMAC computation.
        let mut m = HmacSha256::new_from_slice(KEY).unwrap();
        m.update(&b[..53]);
        assert_eq!(&b[53..], m.finalize().into_bytes().as_slice());
    }

    #[test]
    fn round_trip_every_state_and_flag() {
        for state in [PeerState::Init, PeerState::Standby, PeerState::Active] {
            for flags in 0..8u8 {
                let mut hb = sample();
                hb.state = state;
                hb.healthy = flags & 1 != 0;
                hb.hold = flags & 2 != 0;
                hb.takeover_request = flags & 4 != 0;
                let b = encode(&hb, KEY).unwrap();
                assert_eq!(decode(&b, KEY).unwrap(), hb);
            }
        }
    }

    #[test]
    fn wrong_key_is_rejected() {
        let b = encode(&sample(), KEY).unwrap();
        assert_eq!(decode(&b, b"another key"), Err(DecodeError::BadTag));
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let b = encode(&sample(), KEY).unwrap();
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut t = b.clone();
                t[i] ^= 1 << bit;
                assert!(decode(&t, KEY).is_err(), "byte {i} bit {bit} accepted");
            }
        }
    }

    #[test]
    fn every_truncation_is_rejected_without_panic() {
        let b = encode(&sample(), KEY).unwrap();
        for len in 0..b.len() {
            assert!(decode(&b[..len], KEY).is_err(), "len {len} accepted");
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(decode(&long, KEY), Err(DecodeError::Trailing { extra: 1 }));
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(decode(b"", KEY), Err(DecodeError::Truncated { len: 0 }));
        assert_eq!(decode(&[0u8; 100], KEY), Err(DecodeError::BadMagic));
        let mut b = encode(&sample(), KEY).unwrap();
        b[4] = 9;
        assert_eq!(decode(&b, KEY), Err(DecodeError::BadVersion(9)));
    }

    #[test]
    fn names_are_bounded() {
        let mut hb = sample();
        hb.node = String::new();
        assert_eq!(encode(&hb, KEY), Err(EncodeError::BadName));
        hb.node = "x".repeat(65);
        assert_eq!(encode(&hb, KEY), Err(EncodeError::BadName));
        hb.node = "x".repeat(64);
        let b = encode(&hb, KEY).unwrap();
        assert_eq!(b.len(), MAX_PACKET_LEN);
        assert_eq!(decode(&b, KEY).unwrap().node.len(), 64);
    }
}
