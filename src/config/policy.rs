//! Per-virtual settings of `lvsd.toml`: sections keyed by the virtual,
//! `[virtual."tcp:192.0.2.10:80"]`, `[virtual."udp:[2001:db8::1]:53"]`,
//! `[virtual."fwm:7"]`. They hold what ldirectord.cf cannot say (its
//! language stays ldirectord's): today the quorum policy (keepalived's
//! `quorum`, `hysteresis`, `quorum_up`, `quorum_down`).
//!
//! Parsed by `config::toml` (which owns the file and its `file:line:col`
//! errors); the daemon matches the keys against the virtuals of
//! ldirectord.cf.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ::toml::Spanned;
use serde::Deserialize;

use super::toml::{Ctx, Error};
use crate::model::{Protocol, ServiceKey};

/// Which virtual a section is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VirtualId {
    /// `tcp:`, `udp:` or `sctp:` with the address and port.
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual address.
        addr: IpAddr,
        /// Virtual port.
        port: u16,
    },
    /// `fwm:N`: a firewall-mark virtual (either family).
    Fwmark(u32),
}

impl VirtualId {
    /// Parse `proto:ip:port` (IPv6 in brackets) or `fwm:N`.
    pub fn parse(s: &str) -> Option<VirtualId> {
        let (proto, rest) = s.split_once(':')?;
        let protocol = match proto {
            "fwm" => {
                // Marks are 32-bit; 0 is "no mark" to netfilter.
                let mark: u32 = rest.parse().ok().filter(|m| *m != 0)?;
                return (rest.bytes().all(|b| b.is_ascii_digit()))
                    .then_some(VirtualId::Fwmark(mark));
            }
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            _ => return None,
        };
        let (addr, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (a, p) = v6.split_once("]:")?;
            (a.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)?, p)
        } else {
            let (a, p) = rest.rsplit_once(':')?;
            (a.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)?, p)
        };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let port: u16 = port.parse().ok()?;
        Some(VirtualId::Addr {
            protocol,
            addr,
            port,
        })
    }

    /// Whether `key` (a virtual of ldirectord.cf) is this one.
    pub fn matches(&self, key: &ServiceKey) -> bool {
        match (self, key) {
            (
                VirtualId::Addr {
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
            (VirtualId::Fwmark(m), ServiceKey::Fwmark { mark, .. }) => m == mark,
            _ => false,
        }
    }
}

impl std::fmt::Display for VirtualId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VirtualId::Fwmark(m) => write!(f, "fwm:{m}"),
            VirtualId::Addr {
                protocol,
                addr,
                port,
            } => {
                let p = match protocol {
                    Protocol::Udp => "udp",
                    Protocol::Sctp => "sctp",
                    _ => "tcp",
                };
                match addr {
                    IpAddr::V4(a) => write!(f, "{p}:{a}:{port}"),
                    IpAddr::V6(a) => write!(f, "{p}:[{a}]:{port}"),
                }
            }
        }
    }
}

/// keepalived's quorum of a virtual server: the sum of the weights of its
/// healthy reals against `quorum`, with `hysteresis` around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// Weight sum the healthy reals need (keepalived `quorum`, default 1).
    pub quorum: u32,
    /// Margin: gained at `quorum + hysteresis`, lost below
    /// `quorum - hysteresis` (keepalived `hysteresis`, default 0).
    pub hysteresis: u32,
    /// Program and arguments run when the quorum is gained (no shell).
    pub up: Option<Vec<String>>,
    /// Program and arguments run when the quorum is lost (no shell).
    pub down: Option<Vec<String>>,
    /// Kill a quorum command (and its process group) after this long.
    pub timeout: Duration,
}

impl Default for Quorum {
    fn default() -> Self {
        Quorum {
            quorum: 1,
            hysteresis: 0,
            up: None,
            down: None,
            timeout: DEFAULT_QUORUM_TIMEOUT,
        }
    }
}

/// Default limit of a quorum command.
pub const DEFAULT_QUORUM_TIMEOUT: Duration = Duration::from_secs(10);

/// One `[virtual."..."]` section, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualPolicy {
    /// The virtual the section is about.
    pub id: VirtualId,
    /// 1-based line of the section in lvsd.toml (for messages).
    pub line: usize,
    /// Quorum policy; None when the section sets none of its keys.
    pub quorum: Option<Quorum>,
}

/// One `[virtual."..."]` section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVirtual {
    quorum: Option<Spanned<i64>>,
    hysteresis: Option<Spanned<i64>>,
    quorum_up: Option<Spanned<Vec<String>>>,
    quorum_down: Option<Spanned<Vec<String>>>,
    quorum_timeout_ms: Option<Spanned<u64>>,
}

/// Most `[virtual."..."]` sections (each is polled by the daemon).
const MAX_VIRTUALS: usize = 4096;
/// Longest quorum command limit: 10 minutes.
const MAX_QUORUM_TIMEOUT_MS: u64 = 600_000;
/// Most arguments of a quorum command, and bytes of each.
const MAX_ARGS: usize = 64;
const MAX_ARG_BYTES: usize = 4096;

fn command(
    cx: &Ctx<'_>,
    c: &Option<Spanned<Vec<String>>>,
    key: &str,
) -> Result<Option<Vec<String>>, Error> {
    let Some(c) = c else { return Ok(None) };
    let argv = c.get_ref();
    let prog_ok = argv.first().is_some_and(|p| p.starts_with('/'));
    if !prog_ok {
        return Err(cx.err(
            c.span(),
            key,
            "needs a program given by its absolute path, then its arguments",
        ));
    }
    if argv.len() > MAX_ARGS
        || argv
            .iter()
            .any(|a| a.len() > MAX_ARG_BYTES || a.contains('\0'))
    {
        return Err(cx.err(
            c.span(),
            key,
            format!("at most {MAX_ARGS} arguments of at most {MAX_ARG_BYTES} bytes, no NUL"),
        ));
    }
    Ok(Some(argv.clone()))
}

/// Validate the `[virtual."..."]` sections.
pub(super) fn virtuals(
    cx: &Ctx<'_>,
    raw: BTreeMap<String, Spanned<RawVirtual>>,
    table_span: std::ops::Range<usize>,
) -> Result<Vec<VirtualPolicy>, Error> {
    if raw.len() > MAX_VIRTUALS {
        return Err(cx.err(
            table_span,
            "virtual",
            format!("at most {MAX_VIRTUALS} sections"),
        ));
    }
    let mut out: Vec<VirtualPolicy> = Vec::new();
    for (name, v) in raw {
        let span = v.span();
        let key = format!("virtual.{name:?}");
        let id = VirtualId::parse(&name).ok_or_else(|| {
            cx.err(
                span.clone(),
                &key,
                "not a virtual: use \"tcp:IP:PORT\", \"udp:IP:PORT\", \"sctp:IP:PORT\" (IPv6 in brackets) or \"fwm:MARK\"",
            )
        })?;
        // "tcp:192.0.2.1:080" and "tcp:192.0.2.1:80" are one virtual.
        if out.iter().any(|o| o.id == id) {
            return Err(cx.err(span, &key, format!("{id} has two sections")));
        }
        let r = v.get_ref();
        let any = r.quorum.is_some()
            || r.hysteresis.is_some()
            || r.quorum_up.is_some()
            || r.quorum_down.is_some()
            || r.quorum_timeout_ms.is_some();
        let quorum = if any {
            let mut q = Quorum::default();
            if let Some(n) = &r.quorum {
                q.quorum = u32::try_from(*n.get_ref())
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        cx.err(
                            n.span(),
                            &format!("{key}.quorum"),
                            format!("{}: must be 1 to {}", n.get_ref(), u32::MAX),
                        )
                    })?;
            }
            if let Some(h) = &r.hysteresis {
                // keepalived computes quorum - hysteresis in unsigned
                // arithmetic: a larger hysteresis wraps and loses the quorum
                // at once. Refused here rather than copied.
                q.hysteresis = u32::try_from(*h.get_ref())
                    .ok()
                    .filter(|h| *h <= q.quorum)
                    .ok_or_else(|| {
                        cx.err(
                            h.span(),
                            &format!("{key}.hysteresis"),
                            format!("{}: must be 0 to quorum ({})", h.get_ref(), q.quorum),
                        )
                    })?;
            }
            q.up = command(cx, &r.quorum_up, &format!("{key}.quorum_up"))?;
            q.down = command(cx, &r.quorum_down, &format!("{key}.quorum_down"))?;
            if let Some(t) = &r.quorum_timeout_ms {
                if !(1..=MAX_QUORUM_TIMEOUT_MS).contains(t.get_ref()) {
                    return Err(cx.err(
                        t.span(),
                        &format!("{key}.quorum_timeout_ms"),
                        format!("must be 1 to {MAX_QUORUM_TIMEOUT_MS}"),
                    ));
                }
                q.timeout = Duration::from_millis(*t.get_ref());
            }
            Some(q)
        } else {
            None
        };
        out.push(VirtualPolicy {
            id,
            line: cx.line_of(span.start),
            quorum,
        });
    }
    Ok(out)
}
