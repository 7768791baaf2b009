//! How users name a virtual service in lvsd's own syntax: the keys of
//! lvsd.toml's `[virtual."..."]` sections and the `VIRTUAL` argument of
//! the control-socket commands (`lvsd drain`, `enable`, `weight`), also
//! what `lvsd status` prints. One parser, so a name that works in one
//! place works in the other.
//!
//! Syntax (the protocol word is case-insensitive):
//! `tcp:IP:PORT`, `udp:IP:PORT`, `sctp:IP:PORT` with an IPv6 address in
//! brackets (`tcp:[2001:db8::1]:80`); `fwm:MARK` for a firewall-mark
//! virtual of either family, `fwm6:MARK` for the IPv6 one only. Marks are
//! 1 to 4294967295 (0 is netfilter's "no mark", never a virtual).
//! Numbers are decimal digits only: no sign, no spaces, leading zeros
//! allowed (`tcp:192.0.2.1:080` is port 80).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Family, Protocol, ServiceKey};

/// A virtual service as written: protocol, address and port, or a mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VirtualName {
    /// `tcp:IP:PORT`, `udp:...`, `sctp:...`.
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual address.
        addr: IpAddr,
        /// Virtual port.
        port: u16,
    },
    /// `fwm:MARK` (`family` None: either family) or `fwm6:MARK` (`family`
    /// `Some(V6)`: the IPv6 mark service only).
    Fwmark {
        /// The mark, never 0.
        mark: u32,
        /// `Some` when the name is of one family only.
        family: Option<Family>,
    },
}

/// Decimal digits only (no sign, no space, not empty).
fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

impl VirtualName {
    /// Parse a name in the syntax of the module doc; `None` if it is not
    /// one.
    pub fn parse(s: &str) -> Option<VirtualName> {
        let (kind, rest) = s.split_once(':')?;
        let fwm = |family| {
            let mark: u32 = digits(rest)?.parse().ok()?;
            (mark != 0).then_some(VirtualName::Fwmark { mark, family })
        };
        let protocol = match kind.to_ascii_lowercase().as_str() {
            "fwm" => return fwm(None),
            "fwm6" => return fwm(Some(Family::V6)),
            other => Protocol::from_name(other)?,
        };
        let (addr, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (a, p) = v6.split_once("]:")?;
                (IpAddr::V6(a.parse::<Ipv6Addr>().ok()?), p)
            }
            None => {
                let (a, p) = rest.rsplit_once(':')?;
                (IpAddr::V4(a.parse::<Ipv4Addr>().ok()?), p)
            }
        };
        let port: u16 = digits(port)?.parse().ok()?;
        Some(VirtualName::Addr {
            protocol,
            addr,
            port,
        })
    }

    /// Whether `key` (a configured virtual) is the one this name names.
    pub fn matches(&self, key: &ServiceKey) -> bool {
        match (self, key) {
            (
                VirtualName::Addr {
                    protocol,
                    addr,
                    port,
                },
                ServiceKey::Addr {
                    protocol: p,
                    addr: a,
                    port: o,
                },
            ) => protocol == p && addr == a && port == o,
            (VirtualName::Fwmark { mark, family }, ServiceKey::Fwmark { family: f, mark: m }) => {
                mark == m && family.is_none_or(|x| x == *f)
            }
            _ => false,
        }
    }

    /// Whether some service matches both names: equal names, or `fwm:N`
    /// beside `fwm6:N` (both match the IPv6 mark service N).
    pub fn overlaps(&self, other: &VirtualName) -> bool {
        match (self, other) {
            (VirtualName::Fwmark { mark, family }, VirtualName::Fwmark { mark: m, family: f }) => {
                mark == m && (family.is_none() || f.is_none() || family == f)
            }
            _ => self == other,
        }
    }

    /// The exact name of a configured virtual: a mark service is named
    /// with its family (`fwm:7` for IPv4, `fwm6:7` for IPv6), so the
    /// name matches that service only when the other family has none.
    pub fn of(key: &ServiceKey) -> VirtualName {
        match *key {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => VirtualName::Addr {
                protocol,
                addr,
                port,
            },
            ServiceKey::Fwmark { family, mark } => VirtualName::Fwmark {
                mark,
                family: (family == Family::V6).then_some(Family::V6),
            },
        }
    }
}

impl fmt::Display for VirtualName {
    /// The name as parsed: `tcp:10.0.0.1:80`, `udp:[::1]:53`, `fwm:7`,
    /// `fwm6:7` (a protocol without a word of its own as `protoN`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VirtualName::Addr {
                protocol,
                addr,
                port,
            } => {
                write!(f, "{protocol}:{}", super::host_port(*addr, *port))
            }
            VirtualName::Fwmark {
                mark,
                family: Some(Family::V6),
            } => write!(f, "fwm6:{mark}"),
            VirtualName::Fwmark { mark, .. } => write!(f, "fwm:{mark}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(protocol: Protocol, a: &str, port: u16) -> VirtualName {
        VirtualName::Addr {
            protocol,
            addr: a.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn parses_every_form_of_both_former_parsers() {
        let ok = [
            ("tcp:10.0.0.1:80", addr(Protocol::Tcp, "10.0.0.1", 80)),
            // Upper case (control socket) and leading zeros (lvsd.toml).
            (
                "UDP:[2001:db8::1]:53",
                addr(Protocol::Udp, "2001:db8::1", 53),
            ),
            ("sctp:10.0.0.1:9", addr(Protocol::Sctp, "10.0.0.1", 9)),
            ("tcp:192.0.2.1:080", addr(Protocol::Tcp, "192.0.2.1", 80)),
            ("tcp:192.0.2.1:000080", addr(Protocol::Tcp, "192.0.2.1", 80)),
            ("tcp:10.0.0.1:0", addr(Protocol::Tcp, "10.0.0.1", 0)),
            (
                "fwm:7",
                VirtualName::Fwmark {
                    mark: 7,
                    family: None,
                },
            ),
            (
                "fwm6:4294967295",
                VirtualName::Fwmark {
                    mark: u32::MAX,
                    family: Some(Family::V6),
                },
            ),
            (
                "FWM:007",
                VirtualName::Fwmark {
                    mark: 7,
                    family: None,
                },
            ),
        ];
        for (s, want) in ok {
            assert_eq!(VirtualName::parse(s), Some(want), "{s:?}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_name() {
        for bad in [
            "",
            "10.0.0.1:80",
            "tcp:10.0.0.1",
            "tcp:10.0.0.1:",
            "tcp:10.0.0.1:65536",
            "tcp:10.0.0.1:+80",
            "tcp:10.0.0.1: 80",
            "tcp:10.0.0.1:80\n",
            "tcp:2001:db8::1:80",
            "tcp:[2001:db8::1]80",
            "tcp:[2001:db8::1]",
            "tcp:[10.0.0.1]:80",
            "tcp:host.example:80",
            "icmp:10.0.0.1:80",
            "fwm:",
            "fwm:0",
            "fwm6:0",
            "fwm:-1",
            "fwm:+1",
            "fwm:4294967296",
            "fwm4:7",
            "fwm:7:80",
        ] {
            assert_eq!(VirtualName::parse(bad), None, "{bad:?} accepted");
        }
    }

    #[test]
    fn fwm_matches_either_family_and_fwm6_only_ipv6() {
        let v4 = ServiceKey::Fwmark {
            family: Family::V4,
            mark: 7,
        };
        let v6 = ServiceKey::Fwmark {
            family: Family::V6,
            mark: 7,
        };
        let any = VirtualName::parse("fwm:7").unwrap();
        let six = VirtualName::parse("fwm6:7").unwrap();
        assert!(any.matches(&v4) && any.matches(&v6));
        assert!(!six.matches(&v4) && six.matches(&v6));
        assert!(!VirtualName::parse("fwm:8").unwrap().matches(&v4));
        let tcp = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let name = VirtualName::parse("tcp:10.0.0.1:80").unwrap();
        assert!(name.matches(&tcp) && !name.matches(&v4));
        assert!(!VirtualName::parse("udp:10.0.0.1:80").unwrap().matches(&tcp));
    }

    #[test]
    fn fwm_and_fwm6_of_one_mark_overlap() {
        let n = |s: &str| VirtualName::parse(s).unwrap();
        assert!(n("fwm:7").overlaps(&n("fwm6:7")) && n("fwm6:7").overlaps(&n("fwm:7")));
        assert!(n("fwm:7").overlaps(&n("FWM:007")));
        assert!(!n("fwm:7").overlaps(&n("fwm6:8")));
        assert!(n("tcp:10.0.0.1:80").overlaps(&n("TCP:10.0.0.1:080")));
        assert!(!n("tcp:10.0.0.1:80").overlaps(&n("udp:10.0.0.1:80")));
    }

    #[test]
    fn display_is_parsed_back_and_of_names_the_key() {
        for s in [
            "tcp:10.0.0.1:80",
            "udp:[2001:db8::1]:53",
            "sctp:10.0.0.1:9",
            "fwm:7",
            "fwm6:7",
        ] {
            let n = VirtualName::parse(s).unwrap();
            assert_eq!(n.to_string(), s);
            assert_eq!(VirtualName::parse(&n.to_string()), Some(n));
        }
        let v6 = ServiceKey::Fwmark {
            family: Family::V6,
            mark: 7,
        };
        assert_eq!(VirtualName::of(&v6).to_string(), "fwm6:7");
        let v4 = ServiceKey::Fwmark {
            family: Family::V4,
            mark: 7,
        };
        assert_eq!(VirtualName::of(&v4).to_string(), "fwm:7");
        assert!(VirtualName::of(&v4).matches(&v4) && VirtualName::of(&v6).matches(&v6));
    }
}
