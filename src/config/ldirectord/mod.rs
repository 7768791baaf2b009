//! `ldirectord.cf` (ldirectord 4.12) into a typed, validated [`Config`].
//!
//! Layout: [`lexer`] finds lines and virtual blocks exactly as ldirectord
//! does, [`directives`] parses each directive's value, [`validate`] resolves
//! names, applies defaults and global-vs-virtual inheritance and collects
//! every error, [`table`](Config::table) turns the result into the IPVS
//! table ldirectord would program with every real server healthy.
//! Callers: `daemon` (load, reload, `check-config`), `check` (check specs),
//! `reconcile` (reals, weights, fallback). Reads the file and resolves names;
//! it never opens log or monitor files and never touches the kernel.

pub mod directives;
pub mod lexer;
pub mod resolve;
mod table;
pub mod validate;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::error::{Diagnostic, Error};
use crate::model::{CheckSpec, Forward, ServiceKey};

pub use resolve::{OfflineResolver, Resolver, SystemResolver};

/// Where `logfile=` sends ldirectord's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// A file (the value started with `/`).
    File(PathBuf),
    /// A syslog facility name (`local0`, `daemon`, ...).
    Syslog(String),
}

/// Daemon states in which e-mail alerts are sent (`emailalertstatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertStatus {
    /// While starting.
    pub starting: bool,
    /// While running.
    pub running: bool,
    /// While stopping.
    pub stopping: bool,
    /// While reloading.
    pub reloading: bool,
}

impl AlertStatus {
    /// `all`, the default.
    pub const ALL: AlertStatus = AlertStatus {
        starting: true,
        running: true,
        stopping: true,
        reloading: true,
    };
    /// `none`.
    pub const NONE: AlertStatus = AlertStatus {
        starting: false,
        running: false,
        stopping: false,
        reloading: false,
    };
}

/// E-mail alert settings of one virtual service (inherited from global).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerts {
    /// Recipients (`emailalert`, comma separated as given); None: off.
    pub emailalert: Option<String>,
    /// `emailalertfreq` in seconds (0: no repeats).
    pub emailalertfreq: u32,
    /// `emailalertstatus`.
    pub emailalertstatus: AlertStatus,
    /// `smtp` server (None: local mailer).
    pub smtp: Option<String>,
    /// `emailalertfrom` (global only).
    pub emailalertfrom: Option<String>,
}

/// A fallback ("sorry") server, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback {
    /// Address.
    pub addr: IpAddr,
    /// Port (the virtual's port when the directive gave none).
    pub port: u16,
    /// Forwarding method (default `gate`).
    pub forward: Forward,
}

/// Global settings (column-0 directives), with ldirectord's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// `autoreload` (default no).
    pub autoreload: bool,
    /// `callback` program, run with the config path when the file changes.
    pub callback: Option<String>,
    /// `checkinterval` seconds (default 10).
    pub checkinterval: u32,
    /// `checkcount` (default 1, deprecated).
    pub checkcount: u32,
    /// `checktimeout` as written (None: unset; see [`CheckSpec`] for the
    /// resolved value).
    pub checktimeout: Option<u32>,
    /// `negotiatetimeout` as written.
    pub negotiatetimeout: Option<u32>,
    /// `failurecount` (default 1).
    pub failurecount: u32,
    /// `fallbackcommand`, a shell command prefix.
    pub fallbackcommand: Option<String>,
    /// `fork` (default no).
    pub fork: bool,
    /// `logfile` (default `/var/log/ldirectord.log`).
    pub logfile: LogTarget,
    /// `emailalert`, `emailalertfreq`, `emailalertstatus`, `smtp`,
    /// `emailalertfrom` at global level.
    pub alerts: Alerts,
    /// `execute` (other ldirectord configurations to run alongside).
    pub execute: Vec<String>,
    /// `supervised` (default no).
    pub supervised: bool,
    /// `quiescent` (default **no**: the code's default, not the man page's).
    pub quiescent: bool,
    /// `readdquiescent` (default no).
    pub readdquiescent: bool,
    /// `cleanstop` (default yes).
    pub cleanstop: bool,
    /// `maintenancedir`.
    pub maintenancedir: Option<PathBuf>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            autoreload: false,
            callback: None,
            checkinterval: 10,
            checkcount: 1,
            checktimeout: None,
            negotiatetimeout: None,
            failurecount: 1,
            fallbackcommand: None,
            fork: false,
            logfile: LogTarget::File(PathBuf::from("/var/log/ldirectord.log")),
            alerts: Alerts {
                emailalert: None,
                emailalertfreq: 0,
                emailalertstatus: AlertStatus::ALL,
                smtp: None,
                emailalertfrom: None,
            },
            execute: Vec::new(),
            supervised: false,
            quiescent: false,
            readdquiescent: false,
            cleanstop: true,
            maintenancedir: None,
        }
    }
}

/// One real server line (a `->` range gives one `Real` per address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Real {
    /// Line of the `real=` directive.
    pub line: usize,
    /// Address.
    pub addr: IpAddr,
    /// Port as written (0 when omitted: "use the virtual's port").
    pub port: u16,
    /// `gate`, `masq` or `ipip`.
    pub forward: Forward,
    /// Weight when healthy (default 1).
    pub weight: u32,
    /// `l:N` lower connection threshold (0: none).
    pub l_threshold: u32,
    /// `u:N` upper connection threshold (0: none).
    pub u_threshold: u32,
    /// The check to run for this real (the virtual's, with this real's
    /// `"request", "receive"` pair when it has one). Shared by the reals
    /// that run the virtual's own check: one copy per virtual, not per
    /// real, at every load and reload.
    pub check: Arc<CheckSpec>,
}

/// Firewall-mark or address virtual service, as IPVS knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Virtual {
    /// Line of the `virtual=` directive.
    pub line: usize,
    /// IPVS key (protocol, address, port or fwmark).
    pub key: ServiceKey,
    /// `scheduler` (default wrr).
    pub scheduler: String,
    /// `persistent` timeout in seconds.
    pub persistent: Option<u32>,
    /// `netmask`: IPv4 mask (host order) or IPv6 prefix length, used only
    /// with `persistent`.
    pub netmask: Option<u32>,
    /// `schedflags` (`-b`) as `IP_VS_SVC_F_SCHED*` bits.
    pub schedflags: u32,
    /// `ops` (one-packet scheduling; only UDP services use it).
    pub ops: bool,
    /// Real servers in file order.
    pub reals: Vec<Real>,
    /// The virtual's health check (before per-real request/receive).
    pub check: CheckSpec,
    /// Fallback server: the virtual's own, else the global one.
    pub fallback: Option<Fallback>,
    /// `fallbackcommand`: the virtual's own, else the global one.
    pub fallbackcommand: Option<String>,
    /// `quiescent` (inherited).
    pub quiescent: bool,
    /// `cleanstop` (inherited).
    pub cleanstop: bool,
    /// E-mail settings (inherited).
    pub alerts: Alerts,
    /// `monitorfile`.
    pub monitorfile: Option<PathBuf>,
    /// `servicename`.
    pub servicename: Option<String>,
    /// `comment`.
    pub comment: Option<String>,
}

/// A whole validated `ldirectord.cf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Global settings.
    pub global: Global,
    /// Virtual services in file order.
    pub virtuals: Vec<Virtual>,
    /// Warnings (deprecated directives, ignored settings).
    pub warnings: Vec<Diagnostic>,
}

impl Config {
    /// Parse and validate `text` as the contents of `path`.
    pub fn parse(text: &str, path: &Path, resolver: &dyn Resolver) -> Result<Config, Error> {
        validate::build(text, path, resolver)
    }

    /// Read, parse and validate the file at `path` with the system resolver.
    pub fn load(path: &Path) -> Result<Config, Error> {
        // Bounded and regular files only: a FIFO or /dev/zero must not
        // hang or exhaust `check-config` and the daemon.
        let bytes = crate::config::toml::read_config_file(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // Perl reads bytes; keep going on invalid UTF-8 rather than refuse.
        let text = String::from_utf8_lossy(&bytes);
        Config::parse(&text, path, &SystemResolver::new())
    }
}

/// The file ldirectord would read for `name` (`ldirectord [name] status`):
/// `/etc/ha.d/NAME`, `/etc/ha.d/conf/NAME`, then `NAME` itself; with no
/// name, `ldirectord.cf` in those places and finally `/etc/ldirectord.cf`
/// (the Debian init script's default).
pub fn find_config(name: Option<&Path>) -> Result<PathBuf, Error> {
    let given = name.unwrap_or(Path::new("ldirectord.cf"));
    let mut tried = vec![
        Path::new("/etc/ha.d").join(given),
        Path::new("/etc/ha.d/conf").join(given),
        given.to_path_buf(),
    ];
    if name.is_none() {
        tried.push(PathBuf::from("/etc/ldirectord.cf"));
    }
    // Path::join with an absolute path replaces the base: skip those.
    if given.is_absolute() {
        tried = vec![given.to_path_buf()];
    }
    for p in &tried {
        if p.is_file() {
            return Ok(p.clone());
        }
    }
    Err(Error::NotFound {
        name: given.display().to_string(),
        tried: tried
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order_matches_ldirectord() {
        let e = find_config(Some(Path::new("no-such-lvsd-test.cf")));
        match e {
            Err(Error::NotFound { tried, .. }) => assert_eq!(
                tried,
                "/etc/ha.d/no-such-lvsd-test.cf, /etc/ha.d/conf/no-such-lvsd-test.cf, no-such-lvsd-test.cf"
            ),
            other => panic!("{other:?}"),
        }
        let dir = std::env::temp_dir().join(format!("lvsd-find-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let f = dir.join("x.cf");
        let _ = std::fs::write(&f, "");
        assert_eq!(find_config(Some(&f)).ok(), Some(f.clone()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn load_reports_unreadable_files() {
        let e = Config::load(Path::new("/nonexistent-lvsd-dir/ldirectord.cf"));
        assert!(matches!(e, Err(Error::Io { .. })));
    }
}
