//! Runtime overrides of real servers (`lvsd drain|enable|weight`): the
//! names operators type (`tcp:10.0.0.1:80 10.1.0.1:8080`, `fwm:7`), the
//! store, its state file, and what an override does to a real's desired
//! state. Pure apart from [`load`] and [`save`], which read and write the
//! state file.
//!
//! The state file (`STATE_DIR/overrides`, `[daemon] state_dir` in
//! lvsd.toml, default `/var/lib/lvsd`) is one override per line:
//!
//! ```text
//! drain tcp:10.0.0.1:80 10.1.0.1:8080
//! weight udp:[2001:db8::1]:53 [2001:db8::10]:53 5
//! ```
//!
//! It is written atomically (a new file with a random name in the same
//! directory, `O_EXCL|O_NOFOLLOW`, fsync, rename, fsync of the directory),
//! so a crash leaves the old or the new file, never half of one. What it
//! holds is untrusted: a bad line is reported with `file:line` and
//! skipped, the file is bounded in size and entries, and the original of
//! a file with bad lines is kept beside it (`overrides.rejected`) before
//! it is next written, so nothing the operator had is lost.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::model::text::sanitize;
use crate::model::{Family, ServiceKey, WeightAdjust};
use crate::reconcile::{kernel_port, RealKey, RealState};

use super::plan::Plan;

/// Default directory of the state file.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/lvsd";

/// Name of the state file inside the state directory.
pub const STATE_FILE: &str = "overrides";

/// Largest state file read; the rest is ignored (and reported).
pub const MAX_FILE: u64 = 1 << 20;

/// Most overrides kept (lines beyond are reported and ignored).
pub const MAX_ENTRIES: usize = 65_536;

/// Highest weight an override may set: what ipvsadm 1.31 (Debian) accepts
/// for `-w` and the kernel stores (`INT_MAX`).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// What an operator set on one real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    /// `lvsd drain`: weight 0, the real stays in the table so its
    /// established connections live on while new ones avoid it.
    Drain,
    /// `lvsd weight`: this weight instead of the configured one.
    Weight(u32),
}

impl Override {
    /// The weight the override puts in the kernel.
    pub fn weight(self) -> u32 {
        match self {
            Override::Drain => 0,
            Override::Weight(w) => w,
        }
    }
}

impl fmt::Display for Override {
    /// `drain` or `weight N`, as listed and stored.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Override::Drain => write!(f, "drain"),
            Override::Weight(w) => write!(f, "weight {w}"),
        }
    }
}

/// Why a name or a weight was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// VIRTUAL does not parse.
    #[error("invalid virtual service {0:?}: expected tcp:IP:PORT, udp:IP:PORT, sctp:IP:PORT (IPv6 in brackets) or fwm:MARK")]
    BadVirtual(String),
    /// REAL does not parse.
    #[error("invalid real server {0:?}: expected IP:PORT or IP (IPv6 in brackets)")]
    BadReal(String),
    /// N does not parse or is out of range.
    #[error("invalid weight {0:?}: expected 0 to 2147483647 (as ipvsadm -w)")]
    BadWeight(String),
    /// No configured virtual has this name.
    #[error("no virtual service {0} in the configuration")]
    NoVirtual(String),
    /// The virtual has no such real.
    #[error("virtual service {virt} has no real server {real}")]
    NoReal {
        /// The virtual as given.
        virt: String,
        /// The real as given.
        real: String,
    },
    /// A name without port or family matches more than one.
    #[error("{0} is ambiguous, it matches: {1}")]
    Ambiguous(String, String),
}

/// A virtual as typed: `model::VirtualName`, the syntax lvsd.toml's
/// `[virtual."..."]` keys use too.
pub use crate::model::VirtualName;

/// Parse a VIRTUAL argument (`tcp:IP:PORT`, `fwm:MARK`, `fwm6:MARK`, ...:
/// see [`VirtualName`]), naming it, sanitized, when it is not one.
pub fn parse_virtual(s: &str) -> Result<VirtualName, NameError> {
    VirtualName::parse(s).ok_or_else(|| NameError::BadVirtual(sanitize(s)))
}

/// A real as typed: address, and the port if given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealName {
    /// Address.
    pub addr: IpAddr,
    /// Port (None: any port of this address, if only one matches).
    pub port: Option<u16>,
}

/// `IP:PORT` or `[IPv6]:PORT` into its parts.
fn split_hostport(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']')?;
        let addr: std::net::Ipv6Addr = ip.parse().ok()?;
        let port = match tail {
            "" => None,
            t => Some(parse_port(t.strip_prefix(':')?)?),
        };
        return Some((IpAddr::V6(addr), port));
    }
    // An unbracketed IPv6 address has no port.
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some((a, None));
    }
    let (ip, port) = s.rsplit_once(':')?;
    let addr: std::net::Ipv4Addr = ip.parse().ok()?;
    Some((IpAddr::V4(addr), Some(parse_port(port)?)))
}

/// A decimal port 0..=65535, digits only (no sign, no spaces).
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl RealName {
    /// Parse `IP:PORT`, `[IPv6]:PORT`, `IP` or `[IPv6]`.
    pub fn parse(s: &str) -> Result<RealName, NameError> {
        split_hostport(s)
            .map(|(addr, port)| RealName { addr, port })
            .ok_or_else(|| NameError::BadReal(sanitize(s)))
    }
}

/// Parse an override weight (0 to [`MAX_WEIGHT`], digits only).
pub fn parse_weight(s: &str) -> Result<u32, NameError> {
    let bad = || NameError::BadWeight(sanitize(s));
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let w: u64 = s.parse().map_err(|_| bad())?;
    if w > u64::from(MAX_WEIGHT) {
        return Err(bad());
    }
    Ok(w as u32)
}

/// The name of a virtual as typed and stored: `tcp:10.0.0.1:80`,
/// `udp:[::1]:53`, `fwm:7`, `fwm6:7`.
pub fn virtual_name(k: &ServiceKey) -> String {
    VirtualName::of(k).to_string()
}

/// `10.0.0.1:80`, `[::1]:80`.
pub use crate::model::host_port as real_addr;

/// `VIRTUAL REAL` of a real, as typed and stored.
pub fn real_name(k: &RealKey) -> String {
    format!("{} {}", virtual_name(&k.service), real_addr(k.addr, k.port))
}

/// Find the configured real that `virt` and `real` name. A real's port
/// matches its configured port or the port the kernel holds it under
/// (direct routing rewrites it to the virtual's).
pub fn resolve(plan: &Plan, virt: &str, real: &str) -> Result<RealKey, NameError> {
    let vn = parse_virtual(virt)?;
    let rn = RealName::parse(real)?;
    let vs: Vec<_> = plan
        .virtuals
        .iter()
        .filter(|v| vn.matches(&v.key()))
        .collect();
    let v = match vs.as_slice() {
        [] => return Err(NameError::NoVirtual(sanitize(virt))),
        [v] => *v,
        many => {
            let names: Vec<String> = many.iter().map(|v| virtual_name(&v.key())).collect();
            return Err(NameError::Ambiguous(sanitize(virt), names.join(", ")));
        }
    };
    let key = v.key();
    let mut found: Vec<RealKey> = Vec::new();
    for r in &v.spec.reals {
        let port_ok = rn
            .port
            .is_none_or(|p| p == r.port || p == kernel_port(&key, r));
        let rk = RealKey::of(key, r);
        if r.addr == rn.addr && port_ok && !found.contains(&rk) {
            found.push(rk);
        }
    }
    match found.as_slice() {
        [] => Err(NameError::NoReal {
            virt: sanitize(virt),
            real: sanitize(real),
        }),
        [k] => Ok(*k),
        many => {
            let names: Vec<String> = many.iter().map(|k| real_addr(k.addr, k.port)).collect();
            Err(NameError::Ambiguous(sanitize(real), names.join(", ")))
        }
    }
}

/// The desired state of a real: maintenance, then health, then the
/// override, then what its checks say of its weight (`adjust`). Health
/// wins: a failed real stays out whatever its override (a drain of a down
/// real is kept and applies once it is back), and a real not checked yet
/// stays unknown. The operator's override beats the checks' weight.
pub fn desired_state(
    up: Option<bool>,
    maintenance: bool,
    ov: Option<Override>,
    adjust: WeightAdjust,
) -> RealState {
    if maintenance {
        return RealState::Down;
    }
    match (up, ov) {
        (Some(true), None) if adjust.is_identity() => RealState::Up,
        (Some(true), None) => RealState::Adjusted(adjust),
        (Some(true), Some(o)) => RealState::Weighted(o.weight()),
        (Some(false), _) => RealState::Down,
        (None, _) => RealState::Unknown,
    }
}

/// Every override in force, by real.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    map: BTreeMap<RealKey, Override>,
}

impl Overrides {
    /// The override of `k`, if any.
    pub fn get(&self, k: &RealKey) -> Option<Override> {
        self.map.get(k).copied()
    }

    /// Set (or replace) the override of `k`; false when the store is full
    /// and `k` is new.
    pub fn set(&mut self, k: RealKey, o: Override) -> bool {
        if self.map.len() >= MAX_ENTRIES && !self.map.contains_key(&k) {
            return false;
        }
        self.map.insert(k, o);
        true
    }

    /// Remove the override of `k`; what it was.
    pub fn remove(&mut self, k: &RealKey) -> Option<Override> {
        self.map.remove(k)
    }

    /// Remove every override; how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        n
    }

    /// Number of overrides.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No override.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every override, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&RealKey, &Override)> {
        self.map.iter()
    }

    /// The state file's text.
    pub fn to_text(&self) -> String {
        let mut s = String::from(
            "# lvsd runtime overrides (lvsd drain|enable|weight|overrides); written by lvsd\n",
        );
        for (k, o) in &self.map {
            let (v, r) = (virtual_name(&k.service), real_addr(k.addr, k.port));
            match o {
                Override::Drain => s.push_str(&format!("drain {v} {r}\n")),
                Override::Weight(w) => s.push_str(&format!("weight {v} {r} {w}\n")),
            }
        }
        s
    }

    /// Parse the state file's text; bad lines are returned as
    /// `FILE:LINE: why` and skipped.
    pub fn parse(text: &[u8], file: &Path) -> (Overrides, Vec<String>) {
        let mut out = Overrides::default();
        let mut errors = Vec::new();
        let name = file.display();
        for (i, raw) in text.split(|b| *b == b'\n').enumerate() {
            let n = i + 1;
            let Ok(line) = std::str::from_utf8(raw) else {
                errors.push(format!("{name}:{n}: not UTF-8 text"));
                continue;
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match parse_line(line) {
                Ok((k, o)) => {
                    if !out.set(k, o) {
                        errors.push(format!(
                            "{name}:{n}: more than {MAX_ENTRIES} overrides; the rest is ignored"
                        ));
                        break;
                    }
                }
                Err(e) => errors.push(format!("{name}:{n}: {e}")),
            }
        }
        (out, errors)
    }
}

/// One line of the state file.
fn parse_line(line: &str) -> Result<(RealKey, Override), String> {
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    let (o, v, r) = match words.as_slice() {
        ["drain", v, r] => (Override::Drain, *v, *r),
        ["weight", v, r, w] => (
            Override::Weight(parse_weight(w).map_err(|e| e.to_string())?),
            *v,
            *r,
        ),
        _ => {
            return Err(format!(
                "expected \"drain VIRTUAL REAL\" or \"weight VIRTUAL REAL N\", found {:?}",
                sanitize(line)
            ))
        }
    };
    let service = match parse_virtual(v).map_err(|e| e.to_string())? {
        VirtualName::Addr {
            protocol,
            addr,
            port,
        } => ServiceKey::Addr {
            protocol,
            addr,
            port,
        },
        VirtualName::Fwmark { mark, family } => ServiceKey::Fwmark {
            family: family.unwrap_or(Family::V4),
            mark,
        },
    };
    let real = RealName::parse(r).map_err(|e| e.to_string())?;
    let port = real
        .port
        .ok_or_else(|| format!("real server {:?} has no port", sanitize(r)))?;
    Ok((
        RealKey {
            service,
            addr: real.addr,
            port,
        },
        o,
    ))
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on this path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Something other than a regular file sits at the state file's path.
    #[error("{0}: not a regular file; overrides are not read from it")]
    NotRegular(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The overrides of the good lines.
    pub overrides: Overrides,
    /// `FILE:LINE: why` for each bad line (skipped).
    pub errors: Vec<String>,
}

/// Read the state file at `path`. A missing file is no override and no
/// error. The file is opened `O_NOFOLLOW|O_NONBLOCK` and must be a regular
/// file; at most [`MAX_FILE`] bytes are read. A file with bad lines is
/// copied to `PATH.rejected` (atomically) so the next write, which drops
/// them, loses nothing.
pub fn load(path: &Path) -> Result<Loaded, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::default()),
        // O_NOFOLLOW on a symlink: ELOOP.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(StoreError::NotRegular(path.to_path_buf()))
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let meta = f.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(StoreError::NotRegular(path.to_path_buf()));
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    let mut cut = false;
    if bytes.len() as u64 > MAX_FILE {
        bytes.truncate(MAX_FILE as usize);
        // Drop the partial last line.
        let end = bytes.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        bytes.truncate(end);
        cut = true;
    }
    let (overrides, mut errors) = Overrides::parse(&bytes, path);
    if cut {
        errors.push(format!(
            "{}: longer than {MAX_FILE} bytes; the rest is ignored",
            path.display()
        ));
    }
    if !errors.is_empty() {
        let mut keep = path.as_os_str().to_owned();
        keep.push(".rejected");
        let keep = PathBuf::from(keep);
        let mut all = Vec::new();
        if let Ok(f) = std::fs::File::open(path) {
            let _ = f.take(MAX_FILE).read_to_end(&mut all);
        }
        if let Err(e) = write_atomic(&keep, &all) {
            errors.push(format!("cannot keep a copy as {}: {e}", keep.display()));
        } else {
            errors.push(format!("the file as found is kept as {}", keep.display()));
        }
    }
    Ok(Loaded { overrides, errors })
}

/// Write `overrides` to `path` atomically (see [`write_atomic`]); the
/// directory is created (mode 0755) if missing.
pub fn save(path: &Path, overrides: &Overrides) -> Result<(), StoreError> {
    write_atomic(path, overrides.to_text().as_bytes())
}

/// Replace `path` with `bytes`: a new file with a random name in the same
/// directory (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600: a planted file or
/// symlink is never written through), written, fsynced, renamed over
/// `path`, then the directory fsynced so the rename itself is durable.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&dir)
        .map_err(io_err(&dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| STATE_FILE.into());
    let mut last = None;
    // 64 random bits: a clash is astronomically unlikely; bounded retries.
    for _ in 0..16 {
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        let mut f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(io_err(&tmp)(e)),
        };
        let res = f
            .write_all(bytes)
            .and_then(|()| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(path)(e));
        }
        // The rename is durable once the directory is synced.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        return Ok(());
    }
    Err(io_err(&dir)(last.unwrap_or_else(|| {
        io::Error::other("no free temporary name")
    })))
}

#[cfg(test)]
#[path = "overrides_tests.rs"]
mod tests;
