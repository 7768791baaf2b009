//! `lvsd.toml`: lvsd's own configuration file (node identity and the paired
//! director settings), parsed with serde + toml and validated into
//! `model::HaConfig`. Every error names `file:line:col` and the key.
//!
//! Called by the daemon (and the `lvsd-ha` example). Reads one file; does not
//! check that interfaces or key files exist (that is run time's job).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::toml::Spanned;
use serde::Deserialize;

use crate::model::{
    Announce, AnycastConfig, AnycastVip, HaConfig, Hook, HookWhen, LinkConfig, PingConfig,
    SyncDaemon, SyncState, Timings, Vip, DEFAULT_HA_PORT,
};

/// Why `lvsd.toml` was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Could not read the file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Syntax, type or value error at a place in the file.
    #[error("{}:{line}:{col}: {key}{}{msg}", path.display(), if key.is_empty() { "" } else { ": " })]
    At {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// Dotted key at fault (may be empty for syntax errors).
        key: String,
        /// What is wrong.
        msg: String,
    },
}

/// The whole of `lvsd.toml`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LvsdToml {
    /// This node's name.
    pub node: String,
    /// Paired-director settings; None when `[ha]` is absent (single director).
    pub ha: Option<HaConfig>,
    /// `[metrics] listen`: the daemon's metrics and status HTTP listener.
    /// `None`: the key is absent (the daemon's default, loopback);
    /// `Some(None)`: `"off"`.
    pub metrics_listen: Option<Option<SocketAddr>>,
    /// `[anycast]`: VIPs announced by host routes; None when absent.
    pub anycast: Option<AnycastConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    node: Option<RawNode>,
    ha: Option<Spanned<RawHa>>,
    metrics: Option<RawMetrics>,
    anycast: Option<Spanned<RawAnycast>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnycast {
    table: Option<Spanned<i64>>,
    protocol: Option<Spanned<i64>>,
    drain: Option<Spanned<i64>>,
    bird_socket: Option<Spanned<String>>,
    sloppy: Option<bool>,
    #[serde(default)]
    vip: Vec<RawAnycastVip>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnycastVip {
    address: Spanned<String>,
    quorum: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Option<Spanned<String>>,
    priority: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHa {
    key_file: PathBuf,
    port: Option<u16>,
    keepalive_ms: Option<Spanned<u64>>,
    warntime_ms: Option<Spanned<u64>>,
    deadtime_ms: Option<Spanned<u64>>,
    initdead_ms: Option<Spanned<u64>>,
    auto_failback: Option<bool>,
    failback_delay_ms: Option<u64>,
    #[serde(default)]
    link: Vec<Spanned<RawLink>>,
    #[serde(default)]
    vip: Vec<RawVip>,
    announce: Option<RawAnnounce>,
    ping: Option<RawPing>,
    sync_daemon: Option<RawSync>,
    #[serde(default)]
    hook: Vec<RawHook>,
    rt_priority: Option<Spanned<u8>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    name: Option<String>,
    interface: Option<String>,
    bind: Option<Spanned<String>>,
    port: Option<u16>,
    #[serde(default)]
    peers: Vec<Spanned<String>>,
    multicast: Option<Spanned<String>>,
    broadcast: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVip {
    address: Spanned<String>,
    interface: Spanned<String>,
    label: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnnounce {
    count: Option<u32>,
    interval_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPing {
    #[serde(default)]
    nodes: Vec<Spanned<String>>,
    interval_ms: Option<u64>,
    deadping_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    interface: String,
    syncid: Option<Spanned<u32>>,
    maxlen: Option<u16>,
    group: Option<Spanned<String>>,
    port: Option<u16>,
    ttl: Option<u8>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum RawWhen {
    Active,
    Standby,
    Any,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    when: RawWhen,
    command: Spanned<Vec<String>>,
    timeout_ms: Option<u64>,
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, key: &str, msg: impl Into<String>) -> Error {
        let before = self.text.get(..span.start).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map_or(before.len(), |i| before.len() - i - 1)
            + 1;
        Error::At {
            path: self.path.to_path_buf(),
            line,
            col,
            key: key.to_string(),
            msg: msg.into(),
        }
    }

    fn ip(&self, s: &Spanned<String>, key: &str) -> Result<IpAddr, Error> {
        s.get_ref().parse().map_err(|_| {
            self.err(
                s.span(),
                key,
                format!("invalid IP address {:?}", s.get_ref()),
            )
        })
    }
}

/// Read and validate `lvsd.toml` at `path`.
pub fn load(path: &Path) -> Result<LvsdToml, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Validate `text` as `lvsd.toml`; `path` is used in messages only.
pub fn parse(text: &str, path: &Path) -> Result<LvsdToml, Error> {
    let cx = Ctx { path, text };
    let raw: RawFile = ::toml::from_str(text)
        .map_err(|e| cx.err(e.span().unwrap_or(0..0), "", e.message().to_string()))?;
    let node = raw.node.as_ref();
    let name = match node.and_then(|n| n.name.as_ref()) {
        Some(n) => {
            let len = n.get_ref().len();
            if len == 0 || len > crate_max_name() {
                return Err(cx.err(n.span(), "node.name", "must be 1 to 64 bytes"));
            }
            n.get_ref().clone()
        }
        None => hostname(),
    };
    let priority = node.and_then(|n| n.priority).unwrap_or(100);
    let ha = match raw.ha {
        Some(ha) => Some(ha_config(&cx, ha, name.clone(), priority)?),
        None => None,
    };
    let metrics_listen = match raw.metrics.as_ref().and_then(|m| m.listen.as_ref()) {
        None => None,
        Some(l) if l.get_ref() == "off" => Some(None),
        Some(l) => match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(Some(a)),
            Err(_) => {
                return Err(cx.err(
                    l.span(),
                    "metrics.listen",
                    format!("invalid address {:?} (IP:port or \"off\")", l.get_ref()),
                ))
            }
        },
    };
    let anycast = match raw.anycast {
        Some(a) => {
            let ha_vips: Vec<IpAddr> = ha
                .as_ref()
                .map(|h| h.vips.iter().map(|v| v.address).collect())
                .unwrap_or_default();
            Some(anycast_config(&cx, a, &ha_vips)?)
        }
        None => None,
    };
    Ok(LvsdToml {
        node: name,
        ha,
        metrics_listen,
        anycast,
    })
}

/// Same bound as the heartbeat's name field (64 bytes).
fn crate_max_name() -> usize {
    64
}

/// SCHED_RR priority used unless `ha.rt_priority` says otherwise: a missed
/// heartbeat under CPU load must not look like a dead peer.
const DEFAULT_RT_PRIORITY: u8 = 20;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn ha_config(
    cx: &Ctx<'_>,
    ha: Spanned<RawHa>,
    node: String,
    priority: u8,
) -> Result<HaConfig, Error> {
    let ha_span = ha.span();
    let ha = ha.into_inner();
    if node.is_empty() {
        return Err(cx.err(ha_span, "node.name", "not set and the hostname is unknown"));
    }
    let timings = timings(cx, &ha, ha_span.clone())?;
    let port = ha.port.unwrap_or(DEFAULT_HA_PORT);
    if ha.link.is_empty() {
        return Err(cx.err(
            ha_span,
            "ha.link",
            "at least one [[ha.link]] is required (no heartbeat media)",
        ));
    }
    let mut links = Vec::new();
    for (i, l) in ha.link.iter().enumerate() {
        links.push(link(cx, l, i, port)?);
    }
    let mut vips = Vec::new();
    for (i, v) in ha.vip.iter().enumerate() {
        vips.push(vip(cx, v, i)?);
    }
    let announce = {
        let d = Announce::default();
        let a = ha.announce.as_ref();
        Announce {
            count: a.and_then(|a| a.count).unwrap_or(d.count),
            interval: a.and_then(|a| a.interval_ms).map(ms).unwrap_or(d.interval),
        }
    };
    let ping = match &ha.ping {
        None => PingConfig {
            nodes: Vec::new(),
            interval: Duration::from_secs(1),
            deadping: timings.deadtime,
        },
        Some(p) => {
            let nodes = p
                .nodes
                .iter()
                .map(|n| cx.ip(n, "ha.ping.nodes"))
                .collect::<Result<Vec<_>, _>>()?;
            let interval = ms(p.interval_ms.unwrap_or(1000).max(1));
            let deadping = match &p.deadping_ms {
                Some(d) if ms(*d.get_ref()) <= interval * 2 => {
                    return Err(cx.err(
                        d.span(),
                        "ha.ping.deadping_ms",
                        "must exceed twice interval_ms",
                    ));
                }
                Some(d) => ms(*d.get_ref()),
                None => timings.deadtime.max(interval * 3),
            };
            PingConfig {
                nodes,
                interval,
                deadping,
            }
        }
    };
    let sync_daemon = match &ha.sync_daemon {
        None => None,
        Some(s) => {
            let syncid = match &s.syncid {
                Some(id) if *id.get_ref() > 255 => {
                    return Err(cx.err(id.span(), "ha.sync_daemon.syncid", "must be 0..=255"));
                }
                Some(id) => *id.get_ref(),
                None => 0,
            };
            Some(SyncDaemon {
                // The runner flips master/backup with the role.
                state: SyncState::Backup,
                mcast_ifn: s.interface.clone(),
                syncid,
                sync_maxlen: s.maxlen.unwrap_or(0),
                mcast_group: s
                    .group
                    .as_ref()
                    .map(|g| cx.ip(g, "ha.sync_daemon.group"))
                    .transpose()?,
                mcast_port: s.port.unwrap_or(0),
                mcast_ttl: s.ttl.unwrap_or(0),
            })
        }
    };
    let mut hooks = Vec::new();
    for h in &ha.hook {
        if h.command.get_ref().first().is_none_or(|p| p.is_empty()) {
            return Err(cx.err(h.command.span(), "ha.hook.command", "needs a program"));
        }
        hooks.push(Hook {
            when: match h.when {
                RawWhen::Active => HookWhen::Active,
                RawWhen::Standby => HookWhen::Standby,
                RawWhen::Any => HookWhen::Any,
            },
            argv: h.command.get_ref().clone(),
            timeout: ms(h.timeout_ms.unwrap_or(10_000)),
        });
    }
    let rt_priority = match &ha.rt_priority {
        Some(p) if *p.get_ref() > 99 => {
            return Err(cx.err(p.span(), "ha.rt_priority", "must be 0 (off) to 99"));
        }
        Some(p) => Some(*p.get_ref()).filter(|p| *p > 0),
        None => Some(DEFAULT_RT_PRIORITY),
    };
    Ok(HaConfig {
        node,
        rt_priority,
        priority,
        key_file: ha.key_file,
        timings,
        auto_failback: ha.auto_failback.unwrap_or(false),
        failback_delay: ms(ha.failback_delay_ms.unwrap_or(0)),
        links,
        vips,
        announce,
        ping,
        sync_daemon,
        hooks,
    })
}

fn timings(cx: &Ctx<'_>, ha: &RawHa, span: Range<usize>) -> Result<Timings, Error> {
    let get = |v: &Option<Spanned<u64>>| v.as_ref().map(|s| (*s.get_ref(), s.span()));
    let (keepalive, ka_span) = get(&ha.keepalive_ms).unwrap_or((1000, span.clone()));
    if keepalive == 0 {
        return Err(cx.err(ka_span, "ha.keepalive_ms", "must be positive"));
    }
    let (deadtime, dt_span) = get(&ha.deadtime_ms).unwrap_or((keepalive * 5, span.clone()));
    // heartbeat refuses deadtime <= 2 x keepalive (config.c): one lost
    // packet must not kill the peer.
    if deadtime <= 2 * keepalive {
        return Err(cx.err(
            dt_span,
            "ha.deadtime_ms",
            format!("must exceed twice keepalive_ms ({keepalive})"),
        ));
    }
    let (warntime, wt_span) = get(&ha.warntime_ms).unwrap_or((deadtime / 2, span.clone()));
    if warntime >= deadtime || warntime < keepalive {
        return Err(cx.err(
            wt_span,
            "ha.warntime_ms",
            "must be between keepalive_ms and deadtime_ms",
        ));
    }
    let (initdead, id_span) = get(&ha.initdead_ms).unwrap_or((deadtime * 2, span));
    if initdead < deadtime {
        return Err(cx.err(id_span, "ha.initdead_ms", "must be at least deadtime_ms"));
    }
    Ok(Timings {
        keepalive: ms(keepalive),
        warntime: ms(warntime),
        deadtime: ms(deadtime),
        initdead: ms(initdead),
    })
}

fn link(cx: &Ctx<'_>, l: &Spanned<RawLink>, i: usize, port: u16) -> Result<LinkConfig, Error> {
    let key = format!("ha.link[{i}]");
    let r = l.get_ref();
    let port = r.port.unwrap_or(port);
    let mut peers = Vec::new();
    for p in &r.peers {
        let s = p.get_ref();
        let addr = s
            .parse::<SocketAddr>()
            .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, port)))
            .map_err(|_| {
                cx.err(
                    p.span(),
                    &format!("{key}.peers"),
                    format!("invalid address {s:?} (IP or IP:port)"),
                )
            })?;
        peers.push(addr);
    }
    let bind = r
        .bind
        .as_ref()
        .map(|b| cx.ip(b, &format!("{key}.bind")))
        .transpose()?;
    let multicast = match &r.multicast {
        Some(m) => {
            let ip = cx.ip(m, &format!("{key}.multicast"))?;
            if !ip.is_multicast() {
                return Err(cx.err(
                    m.span(),
                    &format!("{key}.multicast"),
                    "not a multicast group",
                ));
            }
            if r.interface.is_none() {
                return Err(cx.err(
                    m.span(),
                    &format!("{key}.multicast"),
                    "multicast needs interface",
                ));
            }
            Some(ip)
        }
        None => None,
    };
    let broadcast = r
        .broadcast
        .as_ref()
        .map(|b| cx.ip(b, &format!("{key}.broadcast")))
        .transpose()?;
    if peers.is_empty() && multicast.is_none() && broadcast.is_none() {
        return Err(cx.err(l.span(), &key, "needs peers, multicast or broadcast"));
    }
    let v6 = bind
        .map(|b| b.is_ipv6())
        .or(peers.first().map(|p| p.is_ipv6()))
        .or(multicast.map(|m| m.is_ipv6()));
    let mixed = peers
        .iter()
        .map(|p| p.is_ipv6())
        .chain(multicast.map(|m| m.is_ipv6()))
        .chain(broadcast.map(|b| b.is_ipv6()))
        .any(|x| Some(x) != v6);
    if mixed {
        return Err(cx.err(
            l.span(),
            &key,
            "mixes IPv4 and IPv6; use one link per family",
        ));
    }
    Ok(LinkConfig {
        name: r
            .name
            .clone()
            .unwrap_or_else(|| r.interface.clone().unwrap_or_else(|| format!("link{i}"))),
        interface: r.interface.clone(),
        bind,
        port,
        peers,
        multicast,
        broadcast,
    })
}

fn vip(cx: &Ctx<'_>, v: &RawVip, i: usize) -> Result<Vip, Error> {
    let key = format!("ha.vip[{i}]");
    let s = v.address.get_ref();
    let bad = |m: String| cx.err(v.address.span(), &format!("{key}.address"), m);
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s.as_str(), None),
    };
    let address: IpAddr = addr
        .parse()
        .map_err(|_| bad(format!("invalid IP address {addr:?}")))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| bad(format!("invalid prefix length {p:?} (0..={max})")))?,
        None => max,
    };
    let interface = v.interface.get_ref().clone();
    // IFNAMSIZ is 16 including the NUL.
    if interface.is_empty() || interface.len() > 15 {
        return Err(cx.err(
            v.interface.span(),
            &format!("{key}.interface"),
            "must be 1 to 15 bytes",
        ));
    }
    let label = match &v.label {
        Some(l) => {
            let ok =
                address.is_ipv4() && l.get_ref().len() <= 15 && l.get_ref().starts_with(&interface);
            if !ok {
                return Err(cx.err(
                    l.span(),
                    &format!("{key}.label"),
                    "IPv4 only, at most 15 bytes, starting with the interface name",
                ));
            }
            Some(l.get_ref().clone())
        }
        None => None,
    };
    Ok(Vip {
        address,
        prefix,
        interface,
        label,
    })
}

/// Upper bound of `anycast.drain`: a stop that waits longer looks hung to
/// systemd (its default stop timeout is 90 s; raise TimeoutStopSec to match).
const MAX_DRAIN_SECS: i64 = 600;

/// Upper bound of `[[anycast.vip]]` entries: each is a route and a check per
/// poll, and a typo'd generator must not make lvsd install millions.
const MAX_ANYCAST_VIPS: usize = 4096;

fn anycast_config(
    cx: &Ctx<'_>,
    a: Spanned<RawAnycast>,
    ha_vips: &[IpAddr],
) -> Result<AnycastConfig, Error> {
    let span = a.span();
    let a = a.into_inner();
    let table = match &a.table {
        None => crate::model::DEFAULT_ANYCAST_TABLE,
        Some(t) => {
            let v = *t.get_ref();
            // 0 is "unspecified"; 253-255 are the kernel's default, main and
            // local tables, which other programs own.
            match u32::try_from(v) {
                Ok(n) if n != 0 && !(253..=255).contains(&n) => n,
                _ => {
                    return Err(cx.err(
                        t.span(),
                        "anycast.table",
                        format!("{v}: must be 1 to 4294967295, not 253 (default), 254 (main) or 255 (local)"),
                    ))
                }
            }
        }
    };
    let protocol = match &a.protocol {
        None => crate::model::DEFAULT_ANYCAST_PROTOCOL,
        Some(p) => {
            let v = *p.get_ref();
            // rtm_protocol is one byte; 0-4 are the kernel's own
            // (unspec, redirect, kernel, boot, static).
            match u8::try_from(v) {
                Ok(n) if n >= 5 => n,
                _ => {
                    return Err(cx.err(
                        p.span(),
                        "anycast.protocol",
                        format!("{v}: must be 5 to 255 (0-4 are reserved by the kernel)"),
                    ))
                }
            }
        }
    };
    let drain = match &a.drain {
        None => crate::model::DEFAULT_ANYCAST_DRAIN,
        Some(d) if (0..=MAX_DRAIN_SECS).contains(d.get_ref()) => {
            Duration::from_secs(d.get_ref().unsigned_abs())
        }
        Some(d) => {
            return Err(cx.err(
                d.span(),
                "anycast.drain",
                format!("{}: must be 0 to {MAX_DRAIN_SECS} seconds", d.get_ref()),
            ))
        }
    };
    let bird_socket = match &a.bird_socket {
        None => None,
        Some(b) if b.get_ref().is_empty() || b.get_ref().contains('\0') => {
            return Err(cx.err(b.span(), "anycast.bird_socket", "must be a path"))
        }
        // sun_path holds 108 bytes including the NUL.
        Some(b) if b.get_ref().len() > 107 => {
            return Err(cx.err(
                b.span(),
                "anycast.bird_socket",
                "longer than a unix socket path may be (107 bytes)",
            ))
        }
        Some(b) => Some(PathBuf::from(b.get_ref())),
    };
    if a.vip.is_empty() {
        return Err(cx.err(
            span,
            "anycast.vip",
            "at least one [[anycast.vip]] is required",
        ));
    }
    if a.vip.len() > MAX_ANYCAST_VIPS {
        return Err(cx.err(
            span,
            "anycast.vip",
            format!("at most {MAX_ANYCAST_VIPS} entries"),
        ));
    }
    let mut vips: Vec<AnycastVip> = Vec::new();
    for (i, v) in a.vip.iter().enumerate() {
        let key = format!("anycast.vip[{i}]");
        let address = cx.ip(&v.address, &format!("{key}.address"))?;
        if vips.iter().any(|o| o.address == address) {
            return Err(cx.err(
                v.address.span(),
                &format!("{key}.address"),
                format!("{address} is listed twice"),
            ));
        }
        // The HA standby does not hold its pair's VIPs: it must not announce them.
        if ha_vips.contains(&address) {
            return Err(cx.err(
                v.address.span(),
                &format!("{key}.address"),
                format!("{address} is also an [[ha.vip]]; a VIP is either moved by [ha] or announced by [anycast]"),
            ));
        }
        let quorum = match &v.quorum {
            None => 1,
            Some(q) => match u32::try_from(*q.get_ref()) {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(cx.err(
                        q.span(),
                        &format!("{key}.quorum"),
                        format!("{}: must be at least 1", q.get_ref()),
                    ))
                }
            },
        };
        vips.push(AnycastVip { address, quorum });
    }
    Ok(AnycastConfig {
        table,
        protocol,
        drain,
        bird_socket,
        sloppy: a.sloppy.unwrap_or(true),
        vips,
    })
}

#[cfg(test)]
#[path = "toml_tests.rs"]
mod tests;
