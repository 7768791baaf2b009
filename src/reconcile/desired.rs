//! The desired IPVS table: what the kernel should hold for the virtual
//! services lvsd owns, given their definitions and the current health of
//! every real server.
//!
//! Pure: no I/O, no clock. The daemon builds [`VirtualSpec`]s from the
//! config and passes health as a lookup; [`desired`] returns a [`Desired`]
//! that [`super::diff`] compares with the kernel's table.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::model::{
    Forward, RealServer, ServiceKey, Table, TableEntry, VirtualService, WeightAdjust,
};

/// Identity of one real server inside one virtual service, as configured
/// (before the port normalisation the kernel table needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RealKey {
    /// The virtual service.
    pub service: ServiceKey,
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port as configured.
    pub port: u16,
}

/// One write of a fixed-size encoding of the key, not the derived
/// field-by-field hashing (a dozen writes of discriminants, lengths and
/// octets, about 590 instructions a key with SipHash): the daemon hashes
/// every real's key several times on each reload (10,000 reals in
/// docs/benchmarks.md "daemon"). Equal keys write equal bytes.
impl std::hash::Hash for RealKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        /// `a` as a family tag and its octets, into 17 bytes.
        fn put(b: &mut [u8], a: IpAddr) {
            let (tag, octets) = match a {
                IpAddr::V4(a) => (4, a.to_ipv6_compatible().octets()),
                IpAddr::V6(a) => (6, a.octets()),
            };
            b[0] = tag;
            b[1..17].copy_from_slice(&octets);
        }
        // service (7 bytes), its address (17), the real's address (17)
        let mut all = [0u8; 41];
        match self.service {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                all[0] = 1;
                all[1..3].copy_from_slice(&protocol.number().to_le_bytes());
                all[3..5].copy_from_slice(&port.to_le_bytes());
                put(&mut all[7..24], addr);
            }
            ServiceKey::Fwmark { family, mark } => {
                all[0] = 2 + u8::from(family == crate::model::Family::V6);
                all[1..5].copy_from_slice(&mark.to_le_bytes());
            }
        }
        all[5..7].copy_from_slice(&self.port.to_le_bytes());
        put(&mut all[24..41], self.addr);
        state.write(&all);
    }
}

impl RealKey {
    /// The key of `real` in `service`.
    pub fn of(service: ServiceKey, real: &RealServer) -> RealKey {
        RealKey {
            service,
            addr: real.addr,
            port: real.port,
        }
    }
}

/// One virtual service as the config defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualSpec {
    /// The service (scheduler, persistence, flags).
    pub service: VirtualService,
    /// Real servers with their configured weight and thresholds.
    pub reals: Vec<RealServer>,
    /// The "sorry server" inserted while no real is up.
    pub fallback: Option<RealServer>,
    /// `quiescent=yes`: a failed real keeps its slot with weight 0 so
    /// established connections drain; `no`: it is removed.
    pub quiescent: bool,
    /// Consistent hashing across directors (an announced `mh` virtual): a
    /// real that is down or unchecked is always quiesced (weight 0) and
    /// always present, never deleted, because a delete and re-add moves it
    /// to the head of the kernel's list and changes this director's mh
    /// table. False keeps ldirectord's behaviour.
    pub consistent: bool,
}

/// What a real server's health means for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealState {
    /// Passing its checks: in the table with its configured weight.
    Up,
    /// Failing (or in maintenance): quiesced or removed per `quiescent`.
    Down,
    /// Not checked yet: kept out like a down real, but it does not count
    /// as down for the fallback, so a start or reload does not flash the
    /// fallback server in and out before the first checks report.
    Unknown,
    /// Passing its checks, with an operator's weight instead of the
    /// configured one (`lvsd weight`; 0 for `lvsd drain`: the real stays
    /// in the table, whatever `quiescent` says, so its connections drain).
    /// Counts as up for the fallback.
    Weighted(u32),
    /// Passing its checks, with its configured weight changed by its check
    /// policy (lvsd.toml: a dynamic external check's weight, an agent's
    /// `NN%` or `drain`, a slow start). A result of 0 keeps the real in
    /// the table like a drain. Counts as up for the fallback.
    Adjusted(WeightAdjust),
}

/// The desired table plus the reals that may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desired {
    /// Services and reals that must be in the kernel.
    pub table: Table,
    /// Quiesced reals (weight 0 in `table`) that are only set to weight 0
    /// when the kernel still has them: with `readdquiescent=no` a quiesced
    /// real that an operator deleted by hand stays deleted (ldirectord 4.12).
    pub only_if_present: HashSet<(ServiceKey, IpAddr, u16)>,
    /// Quiesced reals of consistent virtuals, with their configured weight:
    /// when such a real is missing from the kernel, [`super::diff`] adds it
    /// with this weight and sets it to 0 in the same batch, so the kernel's
    /// `last_weight` (which sizes the real's share of the mh table) is the
    /// configured weight whatever the real's health history. Directors then
    /// build the same table even when one of them saw a real down at start.
    pub prime_weight: HashMap<(ServiceKey, IpAddr, u16), i32>,
}

/// The port under which the kernel table holds a real server.
///
/// ipvsadm 1.31 (`ipvsadm.c`, "the destination port must be equal to service
/// port if the fwd method is TUN/DR") rewrites the real port to the virtual
/// port for direct routing and tunnelling, and for a real given without a
/// port. Doing the same keeps tables made by ipvsadm or ldirectord adoptable.
pub fn kernel_port(service: &ServiceKey, real: &RealServer) -> u16 {
    match service {
        ServiceKey::Addr { port, .. } if real.forward != Forward::Masq || real.port == 0 => *port,
        _ => real.port,
    }
}

/// Build the desired table.
///
/// `state` gives each real's health. `readd` says whether a quiesced real
/// missing from the kernel is put back with weight 0: true for
/// `readdquiescent=yes` and for reals this daemon has not placed yet (at
/// start ldirectord adds every down real once, then quiesces it).
pub fn desired(
    specs: &[VirtualSpec],
    state: &dyn Fn(&RealKey) -> RealState,
    readd: &dyn Fn(&RealKey) -> bool,
) -> Desired {
    let mut out = Desired::default();
    for spec in specs {
        let key = spec.service.key;
        let mut reals: Vec<RealServer> = Vec::with_capacity(spec.reals.len() + 1);
        let mut any_up = false;
        let mut any_unknown = false;
        for real in &spec.reals {
            let rk = RealKey::of(key, real);
            let mut r = desired_real(&key, real);
            let st = state(&rk);
            any_unknown |= st == RealState::Unknown;
            match st {
                RealState::Up => any_up = true,
                RealState::Weighted(_) | RealState::Adjusted(_) => {
                    any_up = true;
                    let w = match st {
                        RealState::Adjusted(a) => u32::try_from(a.apply(r.weight)).unwrap_or(0),
                        RealState::Weighted(w) => w,
                        _ => 0,
                    };
                    // A consistent virtual sizes a real's mh share by the
                    // kernel's last nonzero weight: a drained real missing
                    // from the kernel is primed like a quiesced one.
                    if spec.consistent && w == 0 && r.weight > 0 {
                        out.prime_weight.insert((key, r.addr, r.port), r.weight);
                    }
                    r.weight = i32::try_from(w).unwrap_or(i32::MAX);
                }
                RealState::Down | RealState::Unknown if spec.quiescent || spec.consistent => {
                    if spec.consistent && r.weight > 0 {
                        out.prime_weight.insert((key, r.addr, r.port), r.weight);
                    }
                    r.weight = 0;
                    if !spec.consistent && !readd(&rk) {
                        out.only_if_present.insert((key, r.addr, r.port));
                    }
                }
                RealState::Down | RealState::Unknown => continue,
            }
            push_unique(&mut reals, r);
        }
        if let (false, false, Some(fb)) = (any_up, any_unknown, &spec.fallback) {
            // The fallback is never quiesced, only added and deleted, and
            // always with weight 1 and no thresholds (ldirectord `fallback_on`).
            let mut fb = desired_real(&key, fb);
            fb.weight = 1;
            fb.u_threshold = 0;
            fb.l_threshold = 0;
            push_unique(&mut reals, fb);
        }
        let mut service = spec.service.clone();
        service.stats = Default::default();
        out.table.entries.push(TableEntry { service, reals });
    }
    out
}

/// A configured real as it should appear in the kernel: kernel port, and
/// none of the read-back counters.
fn desired_real(key: &ServiceKey, real: &RealServer) -> RealServer {
    let mut r = real.clone();
    r.port = kernel_port(key, real);
    r.active_conns = 0;
    r.inact_conns = 0;
    r.persist_conns = 0;
    r.stats = Default::default();
    r
}

/// Two config lines may name the same kernel destination (say DR reals with
/// different ports); the kernel holds one. ldirectord edits the first
/// entry with the later line's settings, so the last line wins in place.
fn push_unique(reals: &mut Vec<RealServer>, r: RealServer) {
    match reals
        .iter_mut()
        .find(|x| x.addr == r.addr && x.port == r.port)
    {
        Some(x) => *x = r,
        None => reals.push(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port,
        }
    }

    /// The one-write hash keeps Hash's contract (equal keys, equal
    /// hashes: the same key built twice) and tells apart keys that differ
    /// in any one field: services of each kind, protocol, port, mark and
    /// family, virtual and real addresses of both families, real ports.
    #[test]
    fn real_keys_hash_by_every_field() {
        use std::hash::BuildHasher;
        let h = std::collections::hash_map::RandomState::new();
        let addrs: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "::a00:1", "2001:db8::1", "::"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let mut services = Vec::new();
        for &addr in &addrs {
            for protocol in [
                Protocol::Tcp,
                Protocol::Udp,
                Protocol::Sctp,
                Protocol::Other(7),
            ] {
                for port in [0, 80, 8080] {
                    services.push(ServiceKey::Addr {
                        protocol,
                        addr,
                        port,
                    });
                }
            }
        }
        for family in [crate::model::Family::V4, crate::model::Family::V6] {
            for mark in [0, 1, 80, u32::MAX] {
                services.push(ServiceKey::Fwmark { family, mark });
            }
        }
        let mut keys = Vec::new();
        for &service in &services {
            for &addr in &addrs {
                for port in [0, 80, 65535] {
                    keys.push(RealKey {
                        service,
                        addr,
                        port,
                    });
                }
            }
        }
        let mut seen = HashMap::new();
        for k in &keys {
            let copy = RealKey { ..*k };
            assert_eq!(h.hash_one(k), h.hash_one(copy));
            if let Some(other) = seen.insert(h.hash_one(k), *k) {
                panic!("{k:?} and {other:?} hash alike");
            }
        }
        assert_eq!(seen.len(), keys.len());
    }

    fn real(a: &str, port: u16, fwd: Forward, w: i32) -> RealServer {
        let mut r = RealServer::new(a.parse().unwrap(), port);
        r.forward = fwd;
        r.weight = w;
        r
    }

    fn spec(quiescent: bool, fallback: bool) -> VirtualSpec {
        VirtualSpec {
            service: VirtualService::new(key(80)),
            reals: vec![
                real("10.1.0.1", 8080, Forward::Masq, 3),
                real("10.1.0.2", 8080, Forward::Masq, 2),
            ],
            fallback: fallback.then(|| real("127.0.0.1", 80, Forward::Route, 7)),
            quiescent,
            consistent: false,
        }
    }

    fn down_set(down: &'static [&'static str]) -> impl Fn(&RealKey) -> RealState {
        move |k: &RealKey| {
            if down.iter().any(|d| k.addr.to_string() == *d) {
                RealState::Down
            } else {
                RealState::Up
            }
        }
    }

    fn weights(d: &Desired) -> Vec<(String, u16, i32)> {
        d.table.entries[0]
            .reals
            .iter()
            .map(|r| (r.addr.to_string(), r.port, r.weight))
            .collect()
    }

    #[test]
    fn all_up_uses_configured_weights_and_no_fallback() {
        let d = desired(&[spec(false, true)], &down_set(&[]), &|_| true);
        assert_eq!(
            weights(&d),
            vec![("10.1.0.1".into(), 8080, 3), ("10.1.0.2".into(), 8080, 2)]
        );
    }

    #[test]
    fn down_real_is_removed_without_quiescent() {
        let d = desired(&[spec(false, true)], &down_set(&["10.1.0.1"]), &|_| true);
        assert_eq!(weights(&d), vec![("10.1.0.2".into(), 8080, 2)]);
    }

    #[test]
    fn down_real_gets_weight_zero_with_quiescent() {
        let d = desired(&[spec(true, true)], &down_set(&["10.1.0.2"]), &|_| true);
        assert_eq!(
            weights(&d),
            vec![("10.1.0.1".into(), 8080, 3), ("10.1.0.2".into(), 8080, 0)]
        );
        assert!(d.only_if_present.is_empty());
    }

    #[test]
    fn quiesced_real_without_readd_is_only_if_present() {
        let d = desired(&[spec(true, false)], &down_set(&["10.1.0.2"]), &|_| false);
        let ip: IpAddr = "10.1.0.2".parse().unwrap();
        assert!(d.only_if_present.contains(&(key(80), ip, 8080)));
        assert_eq!(d.only_if_present.len(), 1);
    }

    #[test]
    fn fallback_only_when_no_real_is_up() {
        let both = down_set(&["10.1.0.1", "10.1.0.2"]);
        let d = desired(&[spec(false, true)], &both, &|_| true);
        // Fallback: weight forced to 1, DR port rewritten to the virtual's.
        assert_eq!(weights(&d), vec![("127.0.0.1".into(), 80, 1)]);
        let d = desired(&[spec(true, true)], &both, &|_| true);
        assert_eq!(
            weights(&d),
            vec![
                ("10.1.0.1".into(), 8080, 0),
                ("10.1.0.2".into(), 8080, 0),
                ("127.0.0.1".into(), 80, 1)
            ]
        );
        let d = desired(&[spec(false, false)], &both, &|_| true);
        assert!(weights(&d).is_empty());
    }

    #[test]
    fn unchecked_reals_hold_back_the_fallback() {
        let st = |k: &RealKey| {
            if k.addr.to_string() == "10.1.0.1" {
                RealState::Down
            } else {
                RealState::Unknown
            }
        };
        let d = desired(&[spec(false, true)], &st, &|_| true);
        assert!(weights(&d).is_empty());
        let d = desired(&[spec(true, true)], &st, &|_| true);
        assert_eq!(
            weights(&d),
            vec![("10.1.0.1".into(), 8080, 0), ("10.1.0.2".into(), 8080, 0)]
        );
    }

    #[test]
    fn dr_and_tunnel_ports_follow_the_virtual_port() {
        let k = key(80);
        assert_eq!(
            kernel_port(&k, &real("10.1.0.1", 8080, Forward::Route, 1)),
            80
        );
        assert_eq!(
            kernel_port(&k, &real("10.1.0.1", 8080, Forward::Tunnel, 1)),
            80
        );
        assert_eq!(
            kernel_port(&k, &real("10.1.0.1", 8080, Forward::Masq, 1)),
            8080
        );
        assert_eq!(kernel_port(&k, &real("10.1.0.1", 0, Forward::Masq, 1)), 80);
        let fw = ServiceKey::Fwmark {
            family: crate::model::Family::V4,
            mark: 5,
        };
        assert_eq!(kernel_port(&fw, &real("10.1.0.1", 0, Forward::Route, 1)), 0);
    }

    #[test]
    fn duplicate_kernel_destinations_collapse_to_last_in_place() {
        let mut s = spec(false, false);
        s.reals = vec![
            real("10.1.0.1", 81, Forward::Route, 4),
            real("10.1.0.1", 82, Forward::Route, 9),
        ];
        let d = desired(&[s], &down_set(&[]), &|_| true);
        assert_eq!(weights(&d), vec![("10.1.0.1".into(), 80, 9)]);
    }

    #[test]
    fn weighted_real_keeps_its_slot_with_the_override_weight() {
        // Drain (weight 0) of an up real in a quiescent=no virtual: kept
        // in the table, and it still counts as up (no fallback).
        let st = |k: &RealKey| {
            if k.addr.to_string() == "10.1.0.1" {
                RealState::Weighted(0)
            } else {
                RealState::Weighted(7)
            }
        };
        let d = desired(&[spec(false, true)], &st, &|_| true);
        assert_eq!(
            weights(&d),
            vec![("10.1.0.1".into(), 8080, 0), ("10.1.0.2".into(), 8080, 7)]
        );
        assert!(d.only_if_present.is_empty());
        // A consistent virtual primes a drained real with its configured weight.
        let mut s = spec(false, false);
        s.consistent = true;
        let d = desired(&[s], &st, &|_| true);
        let ip: IpAddr = "10.1.0.1".parse().unwrap();
        assert_eq!(d.prime_weight.get(&(key(80), ip, 8080)), Some(&3));
    }
}
