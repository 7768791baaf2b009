//! The kernel's `mh` (Maglev hashing) scheduler, computed in user space.
//!
//! This mirrors Linux 6.1 `net/netfilter/ipvs/ip_vs_mh.c` step for step, so
//! that `lvsd explain` and the table fingerprint say what the kernel does,
//! and so that a test can prove directors with the same reals build the same
//! table. Facts taken from that source (and `ip_vs_ctl.c`, `lib/siphash.c`):
//!
//! - the table has `primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]` slots; the Kconfig
//!   default (and Debian's kernel) is index 12, so 4093 slots;
//! - the hash is `hsiphash` with fixed keys (not per boot), which on 64-bit
//!   kernels is SipHash-1-3 truncated to 32 bits (on 32-bit kernels it is
//!   HalfSipHash-1-3: this module models the 64-bit kernels only);
//! - a destination's permutation comes from its address and port; the table
//!   is filled by walking the service's destination list in list order (the
//!   order the kernel lists them in, newest added first), each destination
//!   taking `(last_weight / gcd) >> shift` turns (at least 1 if non-zero);
//! - `last_weight` is the last non-zero weight (a real set to weight 0 keeps
//!   its slots); netlink does not report it, so callers that only have a
//!   kernel listing must assume it equals the current weight;
//! - a flow hashes its client address (plus source port with `mh-port`,
//!   `IP_VS_SVC_F_SCHED2`); a slot whose real has weight 0 gives no real,
//!   unless `mh-fallback` (`IP_VS_SVC_F_SCHED1`) walks on to the next
//!   available one.
//!
//! The kernel also treats a real over its upper connection threshold as
//! unavailable; that is load, not configuration, and is not modelled here.

use std::net::IpAddr;

use super::{RealServer, ServiceFlags};

/// Number of slots of the lookup table (`CONFIG_IP_VS_MH_TAB_INDEX` 12).
pub const TABLE_SIZE: u32 = 4093;
/// `IP_VS_MH_TAB_BITS` (`CONFIG_IP_VS_MH_TAB_INDEX / 2`): weights above
/// `2^6 * gcd` are shifted down so that no real takes too many turns.
const TAB_BITS: u32 = 6;
/// Service flag `mh-fallback` (`IP_VS_SVC_F_SCHED1`).
pub const FLAG_FALLBACK: u32 = ServiceFlags::SCHED1;
/// Service flag `mh-port` (`IP_VS_SVC_F_SCHED2`).
pub const FLAG_PORT: u32 = ServiceFlags::SCHED2;
/// First hash key of `generate_hash_secret` (both words).
const KEY1: u64 = 2_654_435_761;
/// Second hash key of `generate_hash_secret` (both words).
const KEY2: u64 = 2_654_446_892;

/// Why a table cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaglevError {
    /// The kernel refuses (EINVAL) a service with more reals than slots.
    #[error("{0} real servers is more than the mh table's {TABLE_SIZE} slots")]
    TooManyDests(usize),
}

/// One destination as the mh scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MhDest {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Current weight: 0 (or less) makes the real unavailable for lookups.
    pub weight: i32,
    /// Last non-zero weight, which decides how many slots the real fills.
    pub last_weight: i32,
}

impl MhDest {
    /// A destination from a kernel listing, assuming `last_weight == weight`
    /// (netlink does not report `last_weight`).
    pub fn from_real(r: &RealServer) -> MhDest {
        MhDest {
            addr: r.addr,
            port: r.port,
            weight: r.weight,
            last_weight: r.weight,
        }
    }

    fn available(&self) -> bool {
        self.weight > 0
    }
}

/// A computed mh lookup table: slot -> index into `dests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MhTable {
    dests: Vec<MhDest>,
    slots: Vec<Option<u16>>,
    flags: u32,
}

/// SipHash with `c` compression and `d` finalization rounds over `msg`, keys
/// as the kernel's `PREAMBLE` uses them (k0, k1 are the key's two words).
fn siphash(k0: u64, k1: u64, msg: &[u8], c: usize, d: usize) -> u64 {
    let mut v = [
        0x736f_6d65_7073_6575 ^ k0,
        0x646f_7261_6e64_6f6d ^ k1,
        0x6c79_6765_6e65_7261 ^ k0,
        0x7465_6462_7974_6573 ^ k1,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = msg.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let m = u64::from_le_bytes(w);
        v[3] ^= m;
        for _ in 0..c {
            round(&mut v);
        }
        v[0] ^= m;
    }
    let mut b = (msg.len() as u64) << 56;
    for (i, byte) in chunks.remainder().iter().enumerate() {
        b |= u64::from(*byte) << (8 * i);
    }
    v[3] ^= b;
    for _ in 0..c {
        round(&mut v);
    }
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..d {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The kernel's `hsiphash` on 64-bit: SipHash-1-3, low 32 bits.
fn hsiphash(msg: &[u8], key: u64) -> u32 {
    siphash(key, key, msg, 1, 3) as u32
}

/// `ip_vs_mh_hashkey`: fold the address to 32 bits (IPv6: XOR of its four
/// words), add the port and offset, hash the 32-bit value as the kernel
/// stores it in memory (x86-64: little-endian).
fn hashkey(addr: &IpAddr, port: u16, key: u64, offset: u32) -> u32 {
    let fold = match addr {
        IpAddr::V4(a) => u32::from(*a),
        IpAddr::V6(a) => {
            let o = a.octets();
            (0..4).fold(0u32, |acc, i| {
                acc ^ u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            })
        }
    };
    let v = offset.wrapping_add(u32::from(port)).wrapping_add(fold);
    hsiphash(&v.to_le_bytes(), key)
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `fls`: 1-based index of the highest set bit, 0 for 0.
fn fls(x: i64) -> u32 {
    if x <= 0 {
        0
    } else {
        64 - (x as u64).leading_zeros()
    }
}

impl MhTable {
    /// Compute the table the kernel builds for `dests` in the service's
    /// list order (the order a kernel listing shows) and service `flags`.
    pub fn build(dests: Vec<MhDest>, flags: u32) -> Result<MhTable, MaglevError> {
        let size = TABLE_SIZE as usize;
        if dests.len() > size {
            return Err(MaglevError::TooManyDests(dests.len()));
        }
        let mut slots = vec![None; size];
        // ip_vs_mh_gcd_weight / ip_vs_mh_shift_weight, over last_weight.
        let g = dests
            .iter()
            .map(|d| i64::from(d.last_weight))
            .filter(|w| *w > 0)
            .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
        if g < 1 {
            return Ok(MhTable {
                dests,
                slots,
                flags,
            });
        }
        let max = dests
            .iter()
            .map(|d| i64::from(d.last_weight))
            .fold(0, i64::max);
        let shift = fls(max / g).saturating_sub(TAB_BITS);
        // ip_vs_mh_permutate.
        struct Setup {
            skip: u32,
            perm: u32,
            turns: i64,
        }
        let mut setup: Vec<Setup> = dests
            .iter()
            .map(|d| {
                let offset = hashkey(&d.addr, d.port, KEY1, 0) % TABLE_SIZE;
                let skip = hashkey(&d.addr, d.port, KEY2, 0) % (TABLE_SIZE - 1) + 1;
                let lw = i64::from(d.last_weight);
                let t = (lw / g) >> shift;
                let turns = if t != 0 { t } else { i64::from(lw != 0) };
                Setup {
                    skip,
                    perm: offset,
                    turns,
                }
            })
            .collect();
        // ip_vs_mh_populate: round robin over the list, each destination
        // claiming `turns` free slots along its permutation per round.
        let mut taken = vec![false; size];
        let mut filled = 0usize;
        'fill: loop {
            for (i, ds) in setup.iter_mut().enumerate() {
                if ds.turns < 1 {
                    continue;
                }
                for _ in 0..ds.turns {
                    while taken[ds.perm as usize] {
                        ds.perm += ds.skip;
                        if ds.perm >= TABLE_SIZE {
                            ds.perm -= TABLE_SIZE;
                        }
                    }
                    taken[ds.perm as usize] = true;
                    // Fits: dests.len() <= TABLE_SIZE < u16::MAX.
                    slots[ds.perm as usize] = Some(i as u16);
                    filled += 1;
                    if filled == size {
                        break 'fill;
                    }
                }
            }
        }
        Ok(MhTable {
            dests,
            slots,
            flags,
        })
    }

    /// The table for a kernel listing's reals (list order) and service flags.
    pub fn from_reals(reals: &[RealServer], flags: u32) -> Result<MhTable, MaglevError> {
        MhTable::build(reals.iter().map(MhDest::from_real).collect(), flags)
    }

    /// The destinations, in list order.
    pub fn dests(&self) -> &[MhDest] {
        &self.dests
    }

    /// Which destination slot `i` holds (None: empty table).
    pub fn slot(&self, i: usize) -> Option<&MhDest> {
        self.slots
            .get(i)
            .copied()
            .flatten()
            .map(|d| &self.dests[usize::from(d)])
    }

    /// The slot a client hashes to (the source port counts only with
    /// `mh-port`).
    pub fn slot_of(&self, client: &IpAddr, client_port: u16) -> u32 {
        let port = if self.flags & FLAG_PORT != 0 {
            client_port
        } else {
            0
        };
        hashkey(client, port, KEY1, 0) % TABLE_SIZE
    }

    /// The real the kernel schedules a new flow from `client:client_port`
    /// to, or None when it finds none (the packet is then not scheduled).
    pub fn lookup(&self, client: &IpAddr, client_port: u16) -> Option<&MhDest> {
        let port = if self.flags & FLAG_PORT != 0 {
            client_port
        } else {
            0
        };
        let ihash = hashkey(client, port, KEY1, 0) % TABLE_SIZE;
        let first = self.slot(ihash as usize)?;
        if first.available() {
            return Some(first);
        }
        if self.flags & FLAG_FALLBACK == 0 {
            return None;
        }
        // ip_vs_mh_get_fallback: rehash with growing offsets.
        for offset in 0..TABLE_SIZE {
            let roffset = (offset + ihash) % TABLE_SIZE;
            let h = hashkey(client, port, KEY1, roffset) % TABLE_SIZE;
            let d = self.slot(h as usize)?;
            if d.available() {
                return Some(d);
            }
        }
        None
    }

    /// A short stable digest of everything that decides lookups: the flags
    /// that matter to mh, each slot's real and whether each real is
    /// available. Two directors with equal fingerprints send every new flow
    /// to the same real. SipHash-2-4 with a fixed key: stable across hosts,
    /// builds and versions (not a security boundary).
    pub fn fingerprint(&self) -> String {
        let mut bytes = Vec::with_capacity(TABLE_SIZE as usize * 19 + 8);
        bytes.extend_from_slice(&(self.flags & (FLAG_FALLBACK | FLAG_PORT)).to_le_bytes());
        for slot in &self.slots {
            match slot.map(|i| &self.dests[usize::from(i)]) {
                None => bytes.push(0),
                Some(d) => {
                    match d.addr {
                        IpAddr::V4(a) => {
                            bytes.push(4);
                            bytes.extend_from_slice(&a.octets());
                        }
                        IpAddr::V6(a) => {
                            bytes.push(6);
                            bytes.extend_from_slice(&a.octets());
                        }
                    }
                    bytes.extend_from_slice(&d.port.to_be_bytes());
                    bytes.push(u8::from(d.available()));
                }
            }
        }
        format!(
            "{:016x}",
            siphash(0x6c76_7364_6d68_6670, 0x7072_696e_7431_0000, &bytes, 2, 4)
        )
    }
}

#[cfg(test)]
#[path = "maglev_tests.rs"]
mod tests;
