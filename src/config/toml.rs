//! `lvsd.toml`: lvsd's own configuration file (node identity and the paired
//! director settings), parsed with serde + toml and validated into
//! `model::HaConfig`. Every error names `file:line:col` and the key.
//!
//! Called by the daemon. Reads one file; does not
//! check that interfaces or key files exist (that is run time's job).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::toml::Spanned;
use serde::Deserialize;

use crate::model::{
    Announce, AnycastConfig, AnycastVip, EventHook, EventKind, HaConfig, Hook, HookWhen,
    LinkConfig, PingConfig, SocketAccess, SyncDaemon, SyncState, Timings, Track, TrackScript, Vip,
    DEFAULT_HA_PORT, DEFAULT_SOCKET_MODE,
};

use super::policy::{self, RawVirtual, VirtualPolicy};

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
    /// `[daemon] resync_ms`: period of the resync that restores owned
    /// services changed behind lvsd's back; `None`: the key is absent (the
    /// daemon's default); zero: off.
    pub resync: Option<Duration>,
    /// `[daemon] state_dir`: where runtime state (the overrides of `lvsd
    /// drain|weight`) is kept; `None`: the daemon's default.
    pub state_dir: Option<PathBuf>,
    /// `[anycast]`: VIPs announced by host routes; None when absent.
    pub anycast: Option<AnycastConfig>,
    /// `[[hook]]`: programs run on events, in file order.
    pub hooks: Vec<EventHook>,
    /// `[daemon] socket_mode`, `socket_group`, `write_group`.
    pub access: SocketAccess,
    /// `[virtual."proto:ip:port"]` sections: per-virtual policy.
    pub virtuals: Vec<VirtualPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    node: Option<RawNode>,
    ha: Option<Spanned<RawHa>>,
    metrics: Option<RawMetrics>,
    daemon: Option<RawDaemon>,
    anycast: Option<Spanned<RawAnycast>>,
    #[serde(default)]
    hook: Vec<RawEventHook>,
    #[serde(rename = "virtual")]
    virtuals: Option<Spanned<BTreeMap<String, Spanned<RawVirtual>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEventHook {
    on: Spanned<Vec<Spanned<String>>>,
    command: Spanned<Vec<String>>,
    timeout_ms: Option<Spanned<u64>>,
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
struct RawDaemon {
    resync_ms: Option<Spanned<u64>>,
    socket_mode: Option<Spanned<String>>,
    socket_group: Option<Spanned<String>>,
    write_group: Option<Spanned<String>>,
    state_dir: Option<Spanned<String>>,
}

/// Shortest resync period (a full dump every few ms would load the kernel).
const MIN_RESYNC_MS: u64 = 100;

/// Longest resync period: one day.
const MAX_RESYNC_MS: u64 = 86_400_000;

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
    port: Option<Spanned<u16>>,
    keepalive_ms: Option<Spanned<u64>>,
    warntime_ms: Option<Spanned<u64>>,
    deadtime_ms: Option<Spanned<u64>>,
    initdead_ms: Option<Spanned<u64>>,
    auto_failback: Option<bool>,
    failback_delay_ms: Option<Spanned<u64>>,
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
    #[serde(default)]
    track_interface: Vec<Spanned<String>>,
    #[serde(default)]
    track_file: Vec<Spanned<String>>,
    #[serde(default)]
    track_script: Vec<Spanned<RawTrackScript>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrackScript {
    name: Option<Spanned<String>>,
    command: Spanned<Vec<String>>,
    interval_ms: Option<Spanned<u64>>,
    timeout_ms: Option<Spanned<u64>>,
    fall: Option<Spanned<i64>>,
    rise: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    name: Option<String>,
    interface: Option<Spanned<String>>,
    bind: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
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
    count: Option<Spanned<u32>>,
    interval_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPing {
    #[serde(default)]
    nodes: Vec<Spanned<String>>,
    interval_ms: Option<Spanned<u64>>,
    deadping_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    interface: Spanned<String>,
    syncid: Option<Spanned<u32>>,
    maxlen: Option<u16>,
    group: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
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
    timeout_ms: Option<Spanned<u64>>,
}

/// The file being validated, for `file:line:col` messages.
pub(super) struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    /// 1-based line of byte offset `at`.
    /// The file being parsed.
    pub(super) fn path(&self) -> &Path {
        self.path
    }

    pub(super) fn line_of(&self, at: usize) -> usize {
        self.text
            .get(..at)
            .unwrap_or(self.text)
            .matches('\n')
            .count()
            + 1
    }

    /// An error at `span` about `key`.
    pub(super) fn err(&self, span: Range<usize>, key: &str, msg: impl Into<String>) -> Error {
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

/// Largest configuration file read (`lvsd.toml`, `ldirectord.cf`): far
/// above any real file, small enough that `--toml /dev/zero`-like
/// mistakes end at once.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a configuration file was not read (wrapped in an `io::Error` of
/// kind `InvalidInput`, so callers keep their `Io { path, source }`).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A FIFO, device, socket or directory.
    #[error("not a regular file")]
    NotRegular,
    /// Over [`MAX_FILE_BYTES`].
    #[error("larger than {} bytes", MAX_FILE_BYTES)]
    TooLarge,
}

/// Read a configuration file: a regular file of at most
/// [`MAX_FILE_BYTES`]. Opened non-blocking so a FIFO cannot hang the open,
/// checked with fstat on the open descriptor (no race with a rename),
/// read through `take` so a growing file cannot make it read forever.
/// `/dev/null` reads as empty: it is the documented "no settings".
pub fn read_config_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        let null = std::fs::metadata("/dev/null").ok();
        let is_null = meta.file_type().is_char_device()
            && null.is_some_and(|n| n.file_type().is_char_device() && n.rdev() == meta.rdev());
        if is_null {
            return Ok(Vec::new());
        }
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            ReadError::NotRegular,
        ));
    }
    let mut out = Vec::new();
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            ReadError::TooLarge,
        ));
    }
    Ok(out)
}

/// Read and validate `lvsd.toml` at `path`.
pub fn load(path: &Path) -> Result<LvsdToml, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = read_config_file(path).map_err(io)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })?;
    parse(&text, path)
}

/// Longest accepted duration setting: an hour. Bounds every `*_ms` key so
/// arithmetic on them (deadtime = 5 x keepalive...) cannot overflow and a
/// typo cannot silence a timer for centuries.
const MAX_MS: u64 = 3_600_000;

/// Most announcements per VIP after a takeover.
const MAX_ANNOUNCE_COUNT: u32 = 100;

/// Longest pause between two announcements.
const MAX_ANNOUNCE_INTERVAL_MS: u64 = 10_000;

/// A port given in the file: 1..=65535 (0 would mean "any" to the kernel).
fn checked_port(cx: &Ctx<'_>, p: &Option<Spanned<u16>>, key: &str) -> Result<Option<u16>, Error> {
    match p {
        Some(v) if *v.get_ref() == 0 => Err(cx.err(v.span(), key, "must be 1 to 65535")),
        Some(v) => Ok(Some(*v.get_ref())),
        None => Ok(None),
    }
}

/// A `*_ms` setting bounded to `lo..=MAX_MS`.
fn millis(
    cx: &Ctx<'_>,
    v: &Option<Spanned<u64>>,
    key: &str,
    lo: u64,
) -> Result<Option<u64>, Error> {
    match v {
        Some(x) if !(lo..=MAX_MS).contains(x.get_ref()) => {
            Err(cx.err(x.span(), key, format!("must be {lo} to {MAX_MS}")))
        }
        Some(x) => Ok(Some(*x.get_ref())),
        None => Ok(None),
    }
}

/// A Linux interface name: 1 to 15 bytes (IFNAMSIZ with its NUL) of
/// letters, digits and `_ . : -`, not `.` or `..` (the kernel's
/// `dev_valid_name`, narrowed to what `ip` prints safely in logs).
fn ifname(cx: &Ctx<'_>, name: &str, span: Range<usize>, key: &str) -> Result<(), Error> {
    let ok = (1..=15).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(cx.err(
            span,
            key,
            format!("invalid interface name {name:?} (1 to 15 bytes of A-Z a-z 0-9 _ . : -)"),
        ))
    }
}

fn hostname() -> String {
    crate::model::hostname().unwrap_or_default().to_string()
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
            Ok(a) if a.port() == 0 => {
                return Err(cx.err(l.span(), "metrics.listen", "port must be 1 to 65535"))
            }
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
    let resync = match raw.daemon.as_ref().and_then(|d| d.resync_ms.as_ref()) {
        None => None,
        Some(v) => {
            let ms = *v.get_ref();
            if ms != 0 && !(MIN_RESYNC_MS..=MAX_RESYNC_MS).contains(&ms) {
                return Err(cx.err(
                    v.span(),
                    "daemon.resync_ms",
                    format!("must be 0 (off) or {MIN_RESYNC_MS} to {MAX_RESYNC_MS}"),
                ));
            }
            Some(Duration::from_millis(ms))
        }
    };
    let state_dir = match raw.daemon.as_ref().and_then(|d| d.state_dir.as_ref()) {
        None => None,
        Some(v) => {
            let p = PathBuf::from(v.get_ref());
            if !p.is_absolute() || v.get_ref().contains(['\n', '\r', '\0']) {
                return Err(cx.err(v.span(), "daemon.state_dir", "must be an absolute path"));
            }
            Some(p)
        }
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
    let hooks = event_hooks(&cx, &raw.hook)?;
    let access = socket_access(&cx, raw.daemon.as_ref())?;
    let virtuals = match raw.virtuals {
        Some(v) => {
            let span = v.span();
            policy::virtuals(&cx, v.into_inner(), span)?
        }
        None => Vec::new(),
    };
    Ok(LvsdToml {
        node: name,
        ha,
        metrics_listen,
        resync,
        state_dir,
        anycast,
        hooks,
        access,
        virtuals,
    })
}

/// Most `[[hook]]` tables: each event is offered to every hook.
const MAX_EVENT_HOOKS: usize = 64;

/// Most arguments of a hook command, and longest argument (bytes).
const MAX_HOOK_ARGS: usize = 64;
const MAX_HOOK_ARG_BYTES: usize = 4096;

/// Default `[[hook]] timeout_ms`.
const DEFAULT_HOOK_TIMEOUT_MS: u64 = 10_000;

fn event_hooks(cx: &Ctx<'_>, raw: &[RawEventHook]) -> Result<Vec<EventHook>, Error> {
    if let Some(extra) = raw.get(MAX_EVENT_HOOKS) {
        return Err(cx.err(
            extra.on.span(),
            "hook",
            format!("at most {MAX_EVENT_HOOKS} [[hook]] tables"),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, h) in raw.iter().enumerate() {
        let key = format!("hook[{i}]");
        let mut on = Vec::new();
        for n in h.on.get_ref() {
            let Some(k) = EventKind::from_name(n.get_ref()) else {
                let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
                return Err(cx.err(
                    n.span(),
                    &format!("{key}.on"),
                    format!(
                        "unknown event {:?} (one of {})",
                        crate::model::text::sanitize(n.get_ref()),
                        known.join(", ")
                    ),
                ));
            };
            if on.contains(&k) {
                return Err(cx.err(
                    n.span(),
                    &format!("{key}.on"),
                    format!("{k} is listed twice"),
                ));
            }
            on.push(k);
        }
        if on.is_empty() {
            return Err(cx.err(h.on.span(), &format!("{key}.on"), "lists no event"));
        }
        let argv = h.command.get_ref();
        let ckey = format!("{key}.command");
        let Some(prog) = argv.first() else {
            return Err(cx.err(h.command.span(), &ckey, "needs a program"));
        };
        // Run without a shell and without a PATH search: the program
        // the operator named, nothing a changed PATH could substitute.
        if !prog.starts_with('/') {
            return Err(cx.err(
                h.command.span(),
                &ckey,
                format!(
                    "the program must be an absolute path, not {:?}",
                    crate::model::text::sanitize(prog)
                ),
            ));
        }
        if argv.len() > MAX_HOOK_ARGS {
            return Err(cx.err(
                h.command.span(),
                &ckey,
                format!("at most {MAX_HOOK_ARGS} arguments"),
            ));
        }
        if argv
            .iter()
            .any(|a| a.contains('\0') || a.len() > MAX_HOOK_ARG_BYTES)
        {
            return Err(cx.err(
                h.command.span(),
                &ckey,
                format!("arguments must be at most {MAX_HOOK_ARG_BYTES} bytes without NUL"),
            ));
        }
        let timeout = millis(cx, &h.timeout_ms, &format!("{key}.timeout_ms"), 1)?
            .unwrap_or(DEFAULT_HOOK_TIMEOUT_MS);
        out.push(EventHook {
            on,
            argv: argv.clone(),
            timeout: ms(timeout),
        });
    }
    Ok(out)
}

/// A group name as `groupadd` accepts it (or a numeric id): what may be
/// looked up in the group database.
fn group_name(cx: &Ctx<'_>, g: &Spanned<String>, key: &str) -> Result<String, Error> {
    let s = g.get_ref();
    let ok = (1..=32).contains(&s.len())
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(s.clone())
    } else {
        Err(cx.err(
            g.span(),
            key,
            format!(
                "invalid group {:?} (a group name or numeric id)",
                crate::model::text::sanitize(s)
            ),
        ))
    }
}

fn socket_access(cx: &Ctx<'_>, d: Option<&RawDaemon>) -> Result<SocketAccess, Error> {
    let Some(d) = d else {
        return Ok(SocketAccess::default());
    };
    let mode = match &d.socket_mode {
        None => DEFAULT_SOCKET_MODE,
        Some(m) => {
            // A string, so "0660" reads as octal as in chmod (a TOML
            // integer 0660 is not valid TOML, and 660 would be decimal).
            let digits = m.get_ref();
            match u32::from_str_radix(digits, 8) {
                Ok(v) if (1..=4).contains(&digits.len()) && v <= 0o777 && v & 0o200 != 0 => v,
                _ => {
                    return Err(cx.err(
                        m.span(),
                        "daemon.socket_mode",
                        format!(
                            "{:?}: an octal mode from \"0200\" to \"0777\" that lets the owner write (e.g. \"0660\")",
                            crate::model::text::sanitize(digits)
                        ),
                    ))
                }
            }
        }
    };
    let group = d
        .socket_group
        .as_ref()
        .map(|g| group_name(cx, g, "daemon.socket_group"))
        .transpose()?;
    let write_group = d
        .write_group
        .as_ref()
        .map(|g| group_name(cx, g, "daemon.write_group"))
        .transpose()?;
    Ok(SocketAccess {
        mode,
        group,
        write_group,
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
    let port = checked_port(cx, &ha.port, "ha.port")?.unwrap_or(DEFAULT_HA_PORT);
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
        let count = match a.and_then(|a| a.count.as_ref()) {
            Some(c) if *c.get_ref() > MAX_ANNOUNCE_COUNT => {
                return Err(cx.err(
                    c.span(),
                    "ha.announce.count",
                    format!("must be 0 to {MAX_ANNOUNCE_COUNT}"),
                ));
            }
            Some(c) => *c.get_ref(),
            None => d.count,
        };
        let interval = match a.and_then(|a| a.interval_ms.as_ref()) {
            Some(i) if !(1..=MAX_ANNOUNCE_INTERVAL_MS).contains(i.get_ref()) => {
                return Err(cx.err(
                    i.span(),
                    "ha.announce.interval_ms",
                    format!("must be 1 to {MAX_ANNOUNCE_INTERVAL_MS}"),
                ));
            }
            Some(i) => ms(*i.get_ref()),
            None => d.interval,
        };
        Announce { count, interval }
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
            let interval =
                ms(millis(cx, &p.interval_ms, "ha.ping.interval_ms", 1)?.unwrap_or(1000));
            millis(cx, &p.deadping_ms, "ha.ping.deadping_ms", 1)?;
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
            ifname(
                cx,
                s.interface.get_ref(),
                s.interface.span(),
                "ha.sync_daemon.interface",
            )?;
            Some(SyncDaemon {
                // The runner flips master/backup with the role.
                state: SyncState::Backup,
                mcast_ifn: s.interface.get_ref().clone(),
                syncid,
                sync_maxlen: s.maxlen.unwrap_or(0),
                mcast_group: s
                    .group
                    .as_ref()
                    .map(|g| cx.ip(g, "ha.sync_daemon.group"))
                    .transpose()?,
                // Absent: 0, the kernel's default port (8848).
                mcast_port: checked_port(cx, &s.port, "ha.sync_daemon.port")?.unwrap_or(0),
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
            timeout: ms(millis(cx, &h.timeout_ms, "ha.hook.timeout_ms", 1)?.unwrap_or(10_000)),
        });
    }
    let rt_priority = match &ha.rt_priority {
        Some(p) if *p.get_ref() > 99 => {
            return Err(cx.err(p.span(), "ha.rt_priority", "must be 0 (off) to 99"));
        }
        Some(p) => Some(*p.get_ref()).filter(|p| *p > 0),
        None => Some(DEFAULT_RT_PRIORITY),
    };
    let track = track(cx, &ha)?;
    Ok(HaConfig {
        node,
        rt_priority,
        priority,
        key_file: ha.key_file,
        timings,
        auto_failback: ha.auto_failback.unwrap_or(false),
        failback_delay: ms(
            millis(cx, &ha.failback_delay_ms, "ha.failback_delay_ms", 0)?.unwrap_or(0),
        ),
        links,
        vips,
        announce,
        ping,
        sync_daemon,
        hooks,
        track,
    })
}

/// Most tracked objects of each kind.
const MAX_TRACKED: usize = 64;

/// `track_interface`, `track_file` and `[[ha.track_script]]`.
fn track(cx: &Ctx<'_>, ha: &RawHa) -> Result<Track, Error> {
    let mut t = Track::default();
    for (key, n) in [
        ("ha.track_interface", ha.track_interface.len()),
        ("ha.track_file", ha.track_file.len()),
        ("ha.track_script", ha.track_script.len()),
    ] {
        if n > MAX_TRACKED {
            let span = match key {
                "ha.track_interface" => ha.track_interface.get(MAX_TRACKED).map(|s| s.span()),
                "ha.track_file" => ha.track_file.get(MAX_TRACKED).map(|s| s.span()),
                _ => ha.track_script.get(MAX_TRACKED).map(|s| s.span()),
            };
            return Err(cx.err(
                span.unwrap_or(0..0),
                key,
                format!("at most {MAX_TRACKED} entries"),
            ));
        }
    }
    for i in &ha.track_interface {
        ifname(cx, i.get_ref(), i.span(), "ha.track_interface")?;
        if !t.interfaces.contains(i.get_ref()) {
            t.interfaces.push(i.get_ref().clone());
        }
    }
    for f in &ha.track_file {
        let s = f.get_ref();
        if !s.starts_with('/') || s.contains('\0') || s.len() > 4096 {
            return Err(cx.err(
                f.span(),
                "ha.track_file",
                format!("{s:?}: must be an absolute path"),
            ));
        }
        let p = PathBuf::from(s);
        if !t.files.contains(&p) {
            t.files.push(p);
        }
    }
    for (i, s) in ha.track_script.iter().enumerate() {
        let key = format!("ha.track_script[{i}]");
        let r = s.get_ref();
        let argv = r.command.get_ref();
        if !argv.first().is_some_and(|p| p.starts_with('/'))
            || argv.len() > 64
            || argv.iter().any(|a| a.contains('\0') || a.len() > 4096)
        {
            return Err(cx.err(
                r.command.span(),
                &format!("{key}.command"),
                "needs a program given by its absolute path, then at most 63 arguments",
            ));
        }
        let interval =
            ms(millis(cx, &r.interval_ms, &format!("{key}.interval_ms"), 10)?.unwrap_or(1000));
        // keepalived's default timeout is the interval: a run never overlaps the next.
        let timeout = match &r.timeout_ms {
            Some(t) if ms(*t.get_ref()) > interval || *t.get_ref() == 0 => {
                return Err(cx.err(
                    t.span(),
                    &format!("{key}.timeout_ms"),
                    format!("must be 1 to interval_ms ({})", interval.as_millis()),
                ))
            }
            Some(t) => ms(*t.get_ref()),
            None => interval,
        };
        let count = |v: &Option<Spanned<i64>>, k: &str| -> Result<u32, Error> {
            match v {
                None => Ok(1),
                Some(n) => u32::try_from(*n.get_ref())
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        cx.err(
                            n.span(),
                            &format!("{key}.{k}"),
                            format!("{}: must be 1 to 1000", n.get_ref()),
                        )
                    }),
            }
        };
        let fall = count(&r.fall, "fall")?;
        let rise = count(&r.rise, "rise")?;
        let name = match &r.name {
            Some(n) => {
                let v = n.get_ref();
                if v.is_empty() || v.len() > 64 || v.chars().any(|c| c.is_control()) {
                    return Err(cx.err(
                        n.span(),
                        &format!("{key}.name"),
                        "1 to 64 printable characters",
                    ));
                }
                v.clone()
            }
            None => argv.first().cloned().unwrap_or_default(),
        };
        t.scripts.push(TrackScript {
            name,
            argv: argv.clone(),
            interval,
            timeout,
            fall,
            rise,
        });
    }
    Ok(t)
}

fn timings(cx: &Ctx<'_>, ha: &RawHa, span: Range<usize>) -> Result<Timings, Error> {
    for (v, key) in [
        (&ha.keepalive_ms, "ha.keepalive_ms"),
        (&ha.warntime_ms, "ha.warntime_ms"),
        (&ha.deadtime_ms, "ha.deadtime_ms"),
        (&ha.initdead_ms, "ha.initdead_ms"),
    ] {
        millis(cx, v, key, 1)?;
    }
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
    let port = checked_port(cx, &r.port, &format!("{key}.port"))?.unwrap_or(port);
    if let Some(i) = &r.interface {
        ifname(cx, i.get_ref(), i.span(), &format!("{key}.interface"))?;
    }
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
        if addr.port() == 0 {
            return Err(cx.err(p.span(), &format!("{key}.peers"), "port must be 1 to 65535"));
        }
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
        name: r.name.clone().unwrap_or_else(|| {
            r.interface
                .as_ref()
                .map_or_else(|| format!("link{i}"), |n| n.get_ref().clone())
        }),
        interface: r.interface.as_ref().map(|i| i.get_ref().clone()),
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
    ifname(
        cx,
        &interface,
        v.interface.span(),
        &format!("{key}.interface"),
    )?;
    let label = match &v.label {
        Some(l) => {
            // A label is an interface name too (`eth0:vip`).
            let ok = address.is_ipv4()
                && ifname(cx, l.get_ref(), l.span(), "").is_ok()
                && l.get_ref().starts_with(&interface);
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
