//! Heartbeat authentication: the shared key file, the per-boot generation and
//! the replay window. Wraps `wire::heartbeat` (which checks the HMAC) with the
//! state needed to drop replayed packets, and counts every drop.
//!
//! Called by the HA runner only; no sockets here.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::wire::heartbeat::{self, DecodeError, Heartbeat};

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Could not read it.
    #[error("{path}: {source}")]
    Read {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Group or other may read it (heartbeat: "Bad permissions on keyfile").
    #[error("{path}: key file is readable by group or others (mode {mode:o}); chmod 600 it")]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Too short to be a key.
    #[error("{path}: key must be at least 16 bytes, found {len}")]
    TooShort {
        /// The key file.
        path: PathBuf,
        /// Key length after trimming.
        len: usize,
    },
}

/// Read the shared key: the file's bytes minus trailing whitespace. Refuses a
/// file whose mode grants group or other any access.
pub fn load_key(path: &Path) -> Result<Vec<u8>, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let read = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut key = std::fs::read(path).map_err(read)?;
    while key.last().is_some_and(|b| b.is_ascii_whitespace()) {
        key.pop();
    }
    if key.len() < 16 {
        return Err(KeyError::TooShort {
            path: path.to_path_buf(),
            len: key.len(),
        });
    }
    Ok(key)
}

/// A generation number for this boot of the daemon: milliseconds since the
/// epoch in the high bits, so a restarted node outranks packets recorded
/// from its earlier boots (heartbeat's `hbgenmethod time`; the peer drops
/// lower generations), and 20 random bits below them, so a value never
/// repeats across restarts even if the clock stepped back (a reset RTC
/// before NTP). The peer echoes it; a report echoing the current value
/// proves it was sent after this boot (see `state`), which is what keeps
/// captured heartbeats replayed after a restart from faking a live peer.
/// Good until the year 10000 (ms < 2^44).
pub fn boot_generation() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let low: u64 = rand::random::<u64>() & GEN_RANDOM_MASK;
    (ms << GEN_RANDOM_BITS) | low | 1
}

/// Random low bits of a boot generation.
const GEN_RANDOM_BITS: u32 = 20;
const GEN_RANDOM_MASK: u64 = (1 << GEN_RANDOM_BITS) - 1;

/// Packets accepted and dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Authentic, fresh packets.
    pub accepted: u64,
    /// HMAC mismatch (forged, altered, wrong key).
    pub bad_auth: u64,
    /// Not a well-formed heartbeat.
    pub malformed: u64,
    /// Sequence number already seen or too old for the window.
    pub replayed: u64,
    /// Generation older than the newest seen from that node.
    pub old_generation: u64,
    /// Our own packets (multicast or broadcast echo, or reflected).
    pub own: u64,
}

/// Width of the sliding replay window; a packet this far behind the newest
/// is dropped. Copies each arrive once per link with distinct sequence
/// numbers, so reordering across links stays well inside it.
const WINDOW: u64 = 64;

#[derive(Debug, Clone, Copy)]
struct Window {
    generation: u64,
    highest: u64,
    /// Bit i set: sequence `highest - i` was seen.
    seen: u64,
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Failed to decode or authenticate.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Seen before (or older than the window).
    #[error("replayed heartbeat from {node} (generation {generation}, seq {seq})")]
    Replay {
        /// Claimed sender.
        node: String,
        /// Its generation.
        generation: u64,
        /// Its sequence number.
        seq: u64,
    },
    /// From an earlier boot of the sender.
    #[error("heartbeat from {node} has old generation {generation}")]
    OldGeneration {
        /// Claimed sender.
        node: String,
        /// Its generation.
        generation: u64,
    },
    /// Sent by this node.
    #[error("own heartbeat")]
    Own,
}

/// Verifies datagrams and keeps one replay window per sender.
pub struct Authenticator {
    key: Vec<u8>,
    me: String,
    windows: HashMap<String, Window>,
    counters: Counters,
}

impl Authenticator {
    /// A verifier for `key` that drops packets claiming to be from `me`.
    pub fn new(key: Vec<u8>, me: &str) -> Self {
        Authenticator {
            key,
            me: me.to_string(),
            windows: HashMap::new(),
            counters: Counters::default(),
        }
    }

    /// The signing key (for outgoing packets).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Authenticate and de-duplicate one datagram.
    pub fn check(&mut self, buf: &[u8]) -> Result<Heartbeat, Reject> {
        let hb = match heartbeat::decode(buf, &self.key) {
            Ok(hb) => hb,
            Err(e) => {
                match e {
                    DecodeError::BadTag => self.counters.bad_auth += 1,
                    _ => self.counters.malformed += 1,
                }
                return Err(e.into());
            }
        };
        if hb.node == self.me {
            self.counters.own += 1;
            return Err(Reject::Own);
        }
        let fresh = Window {
            generation: hb.generation,
            highest: hb.seq,
            seen: 1,
        };
        let Some(w) = self.windows.get_mut(&hb.node) else {
            self.windows.insert(hb.node.clone(), fresh);
            self.counters.accepted += 1;
            return Ok(hb);
        };
        if hb.generation < w.generation {
            self.counters.old_generation += 1;
            return Err(Reject::OldGeneration {
                node: hb.node,
                generation: hb.generation,
            });
        }
        if hb.generation > w.generation {
            // The peer restarted: start a new window.
            *w = fresh;
        } else if hb.seq > w.highest {
            let shift = hb.seq - w.highest;
            w.seen = if shift >= WINDOW { 0 } else { w.seen << shift };
            w.seen |= 1;
            w.highest = hb.seq;
        } else {
            let back = w.highest - hb.seq;
            let bit = 1u64.checked_shl(u32::try_from(back).unwrap_or(u32::MAX));
            match bit {
                Some(bit) if back < WINDOW && w.seen & bit == 0 => {
                    w.seen |= bit;
                }
                _ => {
                    self.counters.replayed += 1;
                    return Err(Reject::Replay {
                        node: hb.node,
                        generation: hb.generation,
                        seq: hb.seq,
                    });
                }
            }
        }
        self.counters.accepted += 1;
        Ok(hb)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::wire::heartbeat::{encode, PeerState};
    use std::os::unix::fs::PermissionsExt;

    const KEY: &[u8] = b"a shared secret of enough length";

    fn pkt(node: &str, generation: u64, seq: u64) -> Vec<u8> {
        let hb = Heartbeat {
            state: PeerState::Standby,
            healthy: true,
            hold: false,
            takeover_request: false,
            priority: 100,
            generation,
            seq,
            active_since_ms: 0,
            echo_generation: 0,
            ping_reach: 0,
            link: 0,
            node: node.into(),
        };
        encode(&hb, KEY).unwrap()
    }

    #[test]
    fn replays_and_old_generations_are_dropped_and_counted() {
        let mut a = Authenticator::new(KEY.to_vec(), "me");
        assert!(a.check(&pkt("peer", 10, 1)).is_ok());
        assert!(a.check(&pkt("peer", 10, 2)).is_ok());
        assert!(matches!(
            a.check(&pkt("peer", 10, 2)),
            Err(Reject::Replay { seq: 2, .. })
        ));
        // Reordered but unseen: accepted once.
        assert!(a.check(&pkt("peer", 10, 5)).is_ok());
        assert!(a.check(&pkt("peer", 10, 4)).is_ok());
        assert!(a.check(&pkt("peer", 10, 4)).is_err());
        // Far behind the window: dropped.
        assert!(a.check(&pkt("peer", 10, 200)).is_ok());
        assert!(a.check(&pkt("peer", 10, 100)).is_err());
        // Peer restart: new generation accepted, old one then refused.
        assert!(a.check(&pkt("peer", 11, 1)).is_ok());
        assert!(matches!(
            a.check(&pkt("peer", 10, 300)),
            Err(Reject::OldGeneration { .. })
        ));
        let c = a.counters();
        assert_eq!(c.accepted, 6);
        assert_eq!(c.replayed, 3);
        assert_eq!(c.old_generation, 1);
    }

    #[test]
    fn forged_and_own_packets_are_counted() {
        let mut a = Authenticator::new(KEY.to_vec(), "me");
        let mut p = pkt("peer", 1, 1);
        if let Some(b) = p.get_mut(7) {
            *b ^= 1;
        }
        assert!(matches!(
            a.check(&p),
            Err(Reject::Decode(DecodeError::BadTag))
        ));
        assert!(a.check(&p[..10]).is_err());
        assert_eq!(a.check(&pkt("me", 1, 1)), Err(Reject::Own));
        let c = a.counters();
        assert_eq!((c.bad_auth, c.malformed, c.own, c.accepted), (1, 1, 1, 0));
        // A forged packet must not have advanced the window.
        assert!(a.check(&pkt("peer", 1, 1)).is_ok());
    }

    #[test]
    fn boot_generations_grow_and_never_repeat() {
        let a = boot_generation();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = boot_generation();
        assert!(b > a, "{a} then {b}");
        // Same millisecond: the random bits still tell boots apart.
        let many: std::collections::HashSet<u64> = (0..64).map(|_| boot_generation()).collect();
        assert!(many.len() > 60);
        assert_ne!(a, 0, "0 means 'not heard' in the echo field");
    }

    #[test]
    fn key_file_permissions_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_key(&path).unwrap_err();
        assert!(matches!(err, KeyError::Permissions { mode: 0o644, .. }));
        assert!(err.to_string().contains("readable by group or others"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_key(&path).unwrap(), b"0123456789abcdef0123");
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(load_key(&path), Err(KeyError::TooShort { .. })));
    }
}
