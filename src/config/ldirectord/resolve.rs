//! Host and service name resolution at load time, as ldirectord does it
//! while parsing (`ld_gethostbyname`, `ld_getservbyname`). Behind a trait so
//! tests never touch DNS.

use std::net::{IpAddr, ToSocketAddrs};

use crate::model::Family;

/// Resolves names met in a config file.
pub trait Resolver {
    /// The first address of `name` in `family` (getaddrinfo), or None.
    fn host(&self, name: &str, family: Family) -> Option<IpAddr>;
    /// The port of a service name for `proto` ("tcp", "udp", or None for
    /// any), from `/etc/services`.
    fn service(&self, name: &str, proto: Option<&str>) -> Option<u16>;
}

/// Parse a literal address of the wanted family; also reports whether the
/// text looked like a literal at all (then no lookup must be tried: glibc
/// would send "999.1.1.1" to DNS).
pub(crate) fn literal(name: &str, family: Family) -> Result<Option<IpAddr>, ()> {
    if let Ok(a) = name.parse::<IpAddr>() {
        return if Family::of(&a) == family {
            Ok(Some(a))
        } else {
            Err(())
        };
    }
    let numeric = !name.is_empty() && name.chars().all(|c| c.is_ascii_digit() || c == '.');
    if numeric || name.contains(':') {
        return Err(());
    }
    Ok(None)
}

/// One `/etc/services` entry.
#[derive(Debug, Clone)]
struct ServEntry {
    names: Vec<String>,
    port: u16,
    proto: String,
}

/// The system resolver: getaddrinfo for hosts, `/etc/services` for ports
/// (with a small built-in table when the file is missing, so a bare
/// container still knows `http`).
#[derive(Debug, Clone)]
pub struct SystemResolver {
    services: Vec<ServEntry>,
}

/// Fallback when `/etc/services` cannot be read (names from netbase).
const BUILTIN_SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("nntp", 119),
    ("imap2", 143),
    ("imap", 143),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("radius", 1812),
    ("mysql", 3306),
    ("sip", 5060),
    ("postgresql", 5432),
];

impl SystemResolver {
    /// Load `/etc/services` once.
    pub fn new() -> SystemResolver {
        let text = std::fs::read_to_string("/etc/services").unwrap_or_default();
        let mut services = parse_services(&text);
        if services.is_empty() {
            for (n, p) in BUILTIN_SERVICES {
                for proto in ["tcp", "udp"] {
                    services.push(ServEntry {
                        names: vec![(*n).to_string()],
                        port: *p,
                        proto: proto.to_string(),
                    });
                }
            }
        }
        SystemResolver { services }
    }
}

impl Default for SystemResolver {
    fn default() -> Self {
        SystemResolver::new()
    }
}

fn parse_services(text: &str) -> Vec<ServEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(name), Some(pp)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        let mut names = vec![name.to_string()];
        names.extend(words.map(str::to_string));
        out.push(ServEntry {
            names,
            port,
            proto: proto.to_string(),
        });
    }
    out
}

impl Resolver for SystemResolver {
    fn host(&self, name: &str, family: Family) -> Option<IpAddr> {
        match literal(name, family) {
            Ok(Some(a)) => return Some(a),
            Err(()) => return None,
            Ok(None) => {}
        }
        let addrs = (name, 0u16).to_socket_addrs().ok()?;
        addrs.map(|s| s.ip()).find(|a| Family::of(a) == family)
    }

    fn service(&self, name: &str, proto: Option<&str>) -> Option<u16> {
        self.services
            .iter()
            .find(|e| proto.is_none_or(|p| e.proto == p) && e.names.iter().any(|n| n == name))
            .map(|e| e.port)
    }
}

/// A resolver that never leaves the process: address literals, `localhost`
/// and the built-in service table only. For fuzzing and property tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineResolver;

impl Resolver for OfflineResolver {
    fn host(&self, name: &str, family: Family) -> Option<IpAddr> {
        match literal(name, family) {
            Ok(a) => a.or_else(|| {
                (name == "localhost").then(|| match family {
                    Family::V4 => IpAddr::from([127, 0, 0, 1]),
                    Family::V6 => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
                })
            }),
            Err(()) => None,
        }
    }

    fn service(&self, name: &str, _proto: Option<&str>) -> Option<u16> {
        BUILTIN_SERVICES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A resolver with a fixed table, for tests.
    use super::*;

    /// Knows `localhost`, `web1..web3.example` (10.1.0.1-3), `v6host`
    /// (2001:db8::10), and the services http/www 80, https 443,
    /// domain 53, mysql 3306, smtp 25, sip 5060.
    pub struct FakeResolver;

    impl Resolver for FakeResolver {
        fn host(&self, name: &str, family: Family) -> Option<IpAddr> {
            match literal(name, family) {
                Ok(Some(a)) => return Some(a),
                Err(()) => return None,
                Ok(None) => {}
            }
            let v4 = match name {
                "localhost" => Some([127, 0, 0, 1]),
                "web1.example" => Some([10, 1, 0, 1]),
                "web2.example" => Some([10, 1, 0, 2]),
                "web3.example" => Some([10, 1, 0, 3]),
                _ => None,
            };
            match family {
                Family::V4 => v4.map(IpAddr::from),
                Family::V6 => match name {
                    "localhost" | "ip6-localhost" => {
                        Some(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]))
                    }
                    "v6host" => Some(IpAddr::from([0x2001u16, 0xdb8, 0, 0, 0, 0, 0, 0x10])),
                    _ => None,
                },
            }
        }

        fn service(&self, name: &str, _proto: Option<&str>) -> Option<u16> {
            match name {
                "http" | "www" => Some(80),
                "https" => Some(443),
                "domain" => Some(53),
                "mysql" => Some(3306),
                "smtp" => Some(25),
                "sip" => Some(5060),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_file_is_parsed_with_aliases_and_protocols() {
        let s = parse_services("http 80/tcp www # WWW\nsip 5060/udp\nbad line\n");
        let r = SystemResolver { services: s };
        assert_eq!(r.service("www", Some("tcp")), Some(80));
        assert_eq!(r.service("www", None), Some(80));
        assert_eq!(r.service("sip", Some("tcp")), None);
        assert_eq!(r.service("sip", None), Some(5060));
    }

    #[test]
    fn literals_never_go_to_dns() {
        assert!(literal("999.1.1.1", Family::V4).is_err());
        assert!(literal("::1", Family::V4).is_err());
        assert!(literal("10.0.0.1", Family::V6).is_err());
        assert_eq!(literal("host", Family::V4), Ok(None));
    }
}
