//! Virtual services: the key that names one, and its settings.

use std::fmt;
use std::net::IpAddr;

use super::stats::Stats;

/// Address family of a service or real server (`AF_INET` / `AF_INET6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4, `AF_INET` (2).
    V4,
    /// IPv6, `AF_INET6` (10).
    V6,
}

impl Family {
    /// The kernel's `AF_*` number.
    pub fn af(self) -> u16 {
        match self {
            Family::V4 => 2,
            Family::V6 => 10,
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Parse the kernel's `AF_*` number.
    pub fn from_af(af: u16) -> Option<Family> {
        match af {
            2 => Some(Family::V4),
            10 => Some(Family::V6),
            _ => None,
        }
    }
}

/// Transport protocol of an address-based virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// `IPPROTO_TCP` (6).
    Tcp,
    /// `IPPROTO_UDP` (17).
    Udp,
    /// `IPPROTO_SCTP` (132).
    Sctp,
    /// Any other protocol number the kernel reports; kept so listing never fails.
    Other(u16),
}

impl Protocol {
    /// The `IPPROTO_*` number.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Other(n) => n,
        }
    }

    /// From an `IPPROTO_*` number.
    pub fn from_number(n: u16) -> Protocol {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            n => Protocol::Other(n),
        }
    }

    /// The lower-case name of a protocol IPVS balances (`tcp`, `udp`,
    /// `sctp`); `None` for any other number.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Protocol::Tcp => Some("tcp"),
            Protocol::Udp => Some("udp"),
            Protocol::Sctp => Some("sctp"),
            Protocol::Other(_) => None,
        }
    }

    /// From `tcp`, `udp` or `sctp`, in any case.
    pub fn from_name(s: &str) -> Option<Protocol> {
        [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
            .into_iter()
            .find(|p| p.name().is_some_and(|n| n.eq_ignore_ascii_case(s)))
    }
}

/// `tcp`, `udp`, `sctp`, or `protoN` for another protocol number.
impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "proto{}", self.number()),
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// `-t/-u/--sctp-service address:port`.
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual address; its family is the service's family.
        addr: IpAddr,
        /// Virtual port (0 for a persistent "all ports" service).
        port: u16,
    },
    /// `-f mark` (with `-6` for an IPv6 firewall-mark service).
    Fwmark {
        /// Address family of the fwmark service.
        family: Family,
        /// The netfilter mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// Address family of the service.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// Numeric ipvsadm-like notation: `TCP 10.0.0.1:80`, `UDP [::1]:53`, `FWM 7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => {
                let p = match protocol {
                    Protocol::Tcp => "TCP".to_string(),
                    Protocol::Udp => "UDP".to_string(),
                    Protocol::Sctp => "SCTP".to_string(),
                    Protocol::Other(n) => format!("PROTO{n}"),
                };
                match addr {
                    IpAddr::V4(a) => write!(f, "{p} {a}:{port}"),
                    IpAddr::V6(a) => write!(f, "{p} [{a}]:{port}"),
                }
            }
            ServiceKey::Fwmark {
                family: Family::V4,
                mark,
            } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark {
                family: Family::V6,
                mark,
            } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

/// Service flags (`IP_VS_SVC_F_*` in `linux/ip_vs.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// `IP_VS_SVC_F_PERSISTENT`.
    pub const PERSISTENT: u32 = 0x0001;
    /// `IP_VS_SVC_F_HASHED` (set by the kernel, never by a client).
    pub const HASHED: u32 = 0x0002;
    /// `IP_VS_SVC_F_ONEPACKET` (`-o`, UDP only).
    pub const ONEPACKET: u32 = 0x0004;
    /// `IP_VS_SVC_F_SCHED1` (`sh-fallback` / `mh-fallback`).
    pub const SCHED1: u32 = 0x0008;
    /// `IP_VS_SVC_F_SCHED2` (`sh-port` / `mh-port`).
    pub const SCHED2: u32 = 0x0010;
    /// `IP_VS_SVC_F_SCHED3`.
    pub const SCHED3: u32 = 0x0020;

    /// Whether all bits of `bit` are set.
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit == bit
    }

    /// An `ipvsadm -b` scheduler-flag word: its bit, and the scheduler the
    /// word belongs to (`sh-*` to `sh`, `mh-*` to `mh`; `flag-N` to any).
    /// `None` for a word ipvsadm does not know.
    pub fn from_word(word: &str) -> Option<(u32, Option<&'static str>)> {
        Some(match word {
            "flag-1" => (Self::SCHED1, None),
            "flag-2" => (Self::SCHED2, None),
            "flag-3" => (Self::SCHED3, None),
            "sh-fallback" => (Self::SCHED1, Some("sh")),
            "sh-port" => (Self::SCHED2, Some("sh")),
            "mh-fallback" => (Self::SCHED1, Some("mh")),
            "mh-port" => (Self::SCHED2, Some("mh")),
            _ => return None,
        })
    }
}

/// A virtual service as configured (and, when read back, with its stats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// What names the service.
    pub key: ServiceKey,
    /// Scheduler name (`rr`, `wrr`, `lc`, ...; the kernel accepts any loaded module's name).
    pub scheduler: String,
    /// `IP_VS_SVC_F_*` bits.
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (meaningful with `PERSISTENT`).
    pub timeout: u32,
    /// Persistence netmask: an IPv4 mask as a host-order u32 for IPv4 services,
    /// a prefix length (0..=128) for IPv6 services, as the kernel stores it.
    pub netmask: u32,
    /// Persistence engine (`--pe sip`), if any.
    pub pe_name: Option<String>,
    /// Counters (zero when describing desired state).
    pub stats: Stats,
}

impl Service {
    /// A service with ipvsadm's defaults: scheduler `wlc`, no persistence,
    /// netmask all-ones for IPv4 and /128 for IPv6.
    pub fn new(key: ServiceKey) -> Service {
        let netmask = match key.family() {
            Family::V4 => 0xffff_ffff,
            Family::V6 => 128,
        };
        Service {
            key,
            scheduler: "wlc".to_string(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask,
            pe_name: None,
            stats: Stats::default(),
        }
    }

    /// Whether the service is persistent (`-p`).
    pub fn persistent(&self) -> bool {
        self.flags.has(ServiceFlags::PERSISTENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip_and_other_numbers_print_as_proto_number() {
        for p in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            let name = p.name().unwrap();
            assert_eq!(Protocol::from_name(name), Some(p));
            assert_eq!(Protocol::from_name(&name.to_ascii_uppercase()), Some(p));
            assert_eq!(p.to_string(), name);
        }
        assert_eq!(Protocol::Other(47).name(), None);
        assert_eq!(Protocol::Other(47).to_string(), "proto47");
        assert_eq!(Protocol::from_name("fwm"), None);
        assert_eq!(Protocol::from_name(""), None);
    }

    #[test]
    fn scheduler_flag_words_are_ipvsadms() {
        assert_eq!(
            ServiceFlags::from_word("sh-fallback"),
            Some((ServiceFlags::SCHED1, Some("sh")))
        );
        assert_eq!(
            ServiceFlags::from_word("mh-port"),
            Some((ServiceFlags::SCHED2, Some("mh")))
        );
        assert_eq!(
            ServiceFlags::from_word("flag-3"),
            Some((ServiceFlags::SCHED3, None))
        );
        assert_eq!(ServiceFlags::from_word("flag-4"), None);
        assert_eq!(ServiceFlags::from_word("SH-PORT"), None);
    }
}
