//! Health-check specifications: what the check engine must do for one real
//! server, as `config` resolved it from `ldirectord.cf` (every default and
//! global-vs-virtual inheritance already applied, so the engine never looks
//! anything up by name).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::{Family, Protocol};

/// `checktype=`: how a real server is checked (ldirectord 4.12 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckType {
    /// `connect`: TCP connect to the check port; ldirectord runs a ping
    /// check instead when the virtual service is UDP.
    Connect,
    /// `negotiate` (the default): the service-specific protocol check.
    Negotiate,
    /// `ping`: ICMP echo, `checkcount` attempts.
    Ping,
    /// `external`: run `checkcommand VIP|MARK VPORT RIP RPORT`.
    External,
    /// `external-perl`: the same command, run by ldirectord inside Perl;
    /// lvsd runs it as a program with the same four arguments.
    ExternalPerl,
    /// `on`: no check, the real is always up.
    On,
    /// `off`: no check, the real is never activated.
    Off,
    /// `N` (a number): negotiate, then connect checks, one negotiate after
    /// every N successful connects (ldirectord's "combined" check).
    Combined(u32),
}

impl CheckType {
    /// The `checktype=` word (`N` for combined).
    pub fn name(&self) -> String {
        match self {
            CheckType::Connect => "connect".into(),
            CheckType::Negotiate => "negotiate".into(),
            CheckType::Ping => "ping".into(),
            CheckType::External => "external".into(),
            CheckType::ExternalPerl => "external-perl".into(),
            CheckType::On => "on".into(),
            CheckType::Off => "off".into(),
            CheckType::Combined(n) => n.to_string(),
        }
    }
}

/// `service=`: the protocol a negotiate (or combined) check speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// DNS query (`request` = name, `receive` = address regex).
    Dns,
    /// FTP login and RETR.
    Ftp,
    /// HTTP GET/HEAD.
    Http,
    /// HTTPS GET/HEAD, any certificate accepted.
    Https,
    /// HTTP through the real server acting as a proxy.
    HttpProxy,
    /// IMAP greeting (and LOGIN).
    Imap,
    /// IMAP over TLS.
    Imaps,
    /// LDAP bind and base search.
    Ldap,
    /// LDAP over TLS.
    Ldaps,
    /// MySQL query.
    Mysql,
    /// NNTP banner.
    Nntp,
    /// No check: always up.
    None,
    /// Oracle query.
    Oracle,
    /// PostgreSQL query.
    Pgsql,
    /// POP3 banner (and USER/PASS).
    Pop,
    /// POP3 over TLS.
    Pops,
    /// RADIUS Access-Request.
    Radius,
    /// Send `request`, match `receive`, over TCP or UDP.
    SimpleTcp,
    /// SIP OPTIONS.
    Sip,
    /// SMTP banner and EHLO.
    Smtp,
    /// SMTP submission (as smtp).
    Submission,
}

impl Service {
    /// Every service, in ldirectord's documented order.
    pub const ALL: [Service; 21] = [
        Service::Dns,
        Service::Ftp,
        Service::Http,
        Service::Https,
        Service::HttpProxy,
        Service::Imap,
        Service::Imaps,
        Service::Ldap,
        Service::Ldaps,
        Service::Mysql,
        Service::Nntp,
        Service::None,
        Service::Oracle,
        Service::Pgsql,
        Service::Pop,
        Service::Pops,
        Service::Radius,
        Service::SimpleTcp,
        Service::Sip,
        Service::Smtp,
        Service::Submission,
    ];

    /// The `service=` word.
    pub fn name(self) -> &'static str {
        match self {
            Service::Dns => "dns",
            Service::Ftp => "ftp",
            Service::Http => "http",
            Service::Https => "https",
            Service::HttpProxy => "http_proxy",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
            Service::Ldap => "ldap",
            Service::Ldaps => "ldaps",
            Service::Mysql => "mysql",
            Service::Nntp => "nntp",
            Service::None => "none",
            Service::Oracle => "oracle",
            Service::Pgsql => "pgsql",
            Service::Pop => "pop",
            Service::Pops => "pops",
            Service::Radius => "radius",
            Service::SimpleTcp => "simpletcp",
            Service::Sip => "sip",
            Service::Smtp => "smtp",
            Service::Submission => "submission",
        }
    }

    /// Parse a `service=` word (exact, lower case).
    pub fn from_name(s: &str) -> Option<Service> {
        Service::ALL.iter().copied().find(|v| v.name() == s)
    }

    /// The well-known port (`ld_service_to_port`); `None` for `none` and
    /// `simpletcp`.
    pub fn default_port(self) -> Option<u16> {
        Some(match self {
            Service::Ftp => 21,
            Service::Smtp => 25,
            Service::Dns => 53,
            Service::Http => 80,
            Service::Pop => 110,
            Service::Nntp => 119,
            Service::Imap => 143,
            Service::Ldap => 389,
            Service::Https => 443,
            Service::Submission => 587,
            Service::Ldaps => 636,
            Service::Imaps => 993,
            Service::Pops => 995,
            Service::Oracle => 1521,
            Service::Radius => 1812,
            Service::HttpProxy => 3128,
            Service::Mysql => 3306,
            Service::Sip => 5060,
            Service::Pgsql => 5432,
            Service::None | Service::SimpleTcp => return None,
        })
    }

    /// The default service of a virtual port (`ld_port_to_service`):
    /// unknown ports (and fwmark services) get `none`, i.e. no check.
    pub fn for_port(port: u16) -> Service {
        Service::ALL
            .iter()
            .copied()
            .find(|s| s.default_port() == Some(port))
            .unwrap_or(Service::None)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `httpmethod=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpMethod {
    /// `GET` (the default).
    #[default]
    Get,
    /// `HEAD`: no body, so a non-empty `receive` can only match "".
    Head,
}

impl HttpMethod {
    /// The method as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
        }
    }
}

/// Everything the check engine needs to check one real server of one
/// virtual service. Built by `config`, consumed by `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// `checktype`.
    pub checktype: CheckType,
    /// `service` (explicit, or derived from the virtual port; `none` for
    /// fwmark services).
    pub service: Service,
    /// Transport the virtual service uses: TCP or UDP (TCP for fwmark
    /// services). Decides connect-vs-ping, and TCP-vs-UDP for dns, sip and
    /// simpletcp.
    pub protocol: Protocol,
    /// Address family of the virtual service.
    pub family: Family,
    /// `request`, as ldirectord stores it: always starts with `/` (strip it
    /// for DNS names, SQL, LDAP bases and simpletcp payloads).
    pub request: String,
    /// `receive`: a regular expression; empty means "not set".
    pub receive: String,
    /// True when `request`/`receive` come from the real's own
    /// `"request", "receive"` pair (then a request containing `http://` or
    /// `https://` is the full URL to fetch).
    pub request_from_real: bool,
    /// `httpmethod`.
    pub httpmethod: HttpMethod,
    /// `virtualhost`: the HTTP `Host:` header (None: the real's address).
    pub virtualhost: Option<String>,
    /// `login` (ftp defaults to `anonymous`, sip to `ldirectord@HOST`).
    pub login: String,
    /// `passwd` (ftp defaults to `ldirectord@HOST`).
    pub passwd: String,
    /// `database` (SQL checks).
    pub database: String,
    /// `secret` (RADIUS).
    pub secret: String,
    /// `checkport`: overrides the port checks connect to.
    pub checkport: Option<u16>,
    /// `checkcommand` for external checks (a program path; no arguments).
    pub checkcommand: String,
    /// Resolved `checktimeout` (connect, ping, external checks).
    pub checktimeout: Duration,
    /// Resolved `negotiatetimeout` (negotiate checks).
    pub negotiatetimeout: Duration,
    /// Interval between two checks of this real.
    pub checkinterval: Duration,
    /// Consecutive failures before the real is taken down.
    pub failurecount: u32,
    /// Ping attempts (deprecated `checkcount`).
    pub checkcount: u32,
    /// What `lvsd.toml`'s `[virtual."..."]` section adds to the check
    /// (default: nothing, ldirectord's behaviour).
    pub policy: CheckPolicy,
}

/// Accepted HTTP status codes (keepalived `status_code`): inclusive
/// ranges; a single code is a range of one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusCodes(pub Vec<(u16, u16)>);

impl StatusCodes {
    /// Whether `code` is accepted.
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code))
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// The agent check (HAProxy `agent-check`): where and how often to ask the
/// real for its own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSpec {
    /// TCP port of the agent on the real's address.
    pub port: u16,
    /// Time between two agent queries.
    pub interval: Duration,
    /// Deadline of one query (connect and read).
    pub timeout: Duration,
}

/// What a real's agent said about taking traffic (HAProxy agent-check's
/// administrative words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AgentAdmin {
    /// `ready`, or nothing said yet: as the normal check says.
    #[default]
    Ready,
    /// `drain`: weight 0, connections in flight finish.
    Drain,
    /// `maint`: out of service, as if down.
    Maint,
}

/// The state a real's agent reported; each answer changes only what it
/// names (HAProxy: `up 50%` sets both, `75%` only the share).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentState {
    /// `ready` / `drain` / `maint`.
    pub admin: AgentAdmin,
    /// `down` (also `stopped`, `fail`): out of service; `up` clears it.
    pub down: bool,
    /// `NN%`: the share of the configured weight.
    pub percent: Option<u32>,
}

impl AgentState {
    /// Whether the agent takes the real out of service (down or maint).
    pub fn takes_out(&self) -> bool {
        self.down || self.admin == AgentAdmin::Maint
    }

    /// The weight share it asks for: 0 while draining, else `NN%`.
    pub fn percent(&self) -> Option<u32> {
        match self.admin {
            AgentAdmin::Drain => Some(0),
            _ => self.percent,
        }
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.down { "down" } else { "up" })?;
        match self.admin {
            AgentAdmin::Ready => {}
            AgentAdmin::Drain => f.write_str(" drain")?,
            AgentAdmin::Maint => f.write_str(" maint")?,
        }
        if let Some(p) = self.percent {
            write!(f, " {p}%")?;
        }
        Ok(())
    }
}

/// A CA bundle read from `ca_file` (PEM), kept as bytes so that a reload
/// that changes the file changes the spec (and restarts the check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// The file it was read from (for messages).
    pub path: std::path::PathBuf,
    /// Its PEM text.
    pub pem: std::sync::Arc<[u8]>,
}

/// Check settings beyond ldirectord.cf's language, from `lvsd.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckPolicy {
    /// HTTP(S) status codes counted as up; `None`: 2xx after redirects
    /// (ldirectord).
    pub status_codes: Option<StatusCodes>,
    /// Verify HTTPS certificates against this CA (name: `virtualhost`, else
    /// the real's address); `None`: any certificate (ldirectord).
    pub ca: Option<CaBundle>,
    /// Consecutive successes a down (or new) real needs to come up.
    pub rise: u32,
    /// External checks: exit 0 up, 1 down, 2..=255 up with weight code-2
    /// (keepalived `misc_dynamic`).
    pub dynamic_weight: bool,
    /// Agent check, combined with the normal check.
    pub agent: Option<AgentSpec>,
    /// Weight ramp after a down real comes back (zero: none).
    pub slow_start: Duration,
}

impl Default for CheckPolicy {
    fn default() -> Self {
        CheckPolicy {
            status_codes: None,
            ca: None,
            rise: 1,
            dynamic_weight: false,
            agent: None,
            slow_start: Duration::ZERO,
        }
    }
}

impl CheckSpec {
    /// ldirectord's per-virtual defaults: negotiate, service none, request
    /// "/", checktimeout 5 s, negotiatetimeout 30 s, checkinterval 10 s,
    /// failurecount and checkcount 1. A base for hand-built checks and tests.
    pub fn defaults() -> CheckSpec {
        CheckSpec {
            checktype: CheckType::Negotiate,
            service: Service::None,
            protocol: Protocol::Tcp,
            family: Family::V4,
            request: "/".into(),
            receive: String::new(),
            request_from_real: false,
            httpmethod: HttpMethod::Get,
            virtualhost: None,
            login: String::new(),
            passwd: String::new(),
            database: String::new(),
            secret: String::new(),
            checkport: None,
            checkcommand: "/bin/true".into(),
            checktimeout: Duration::from_secs(5),
            negotiatetimeout: Duration::from_secs(30),
            checkinterval: Duration::from_secs(10),
            failurecount: 1,
            checkcount: 1,
            policy: CheckPolicy::default(),
        }
    }

    /// The port a check connects to (`ld_checkport`): `checkport`, else the
    /// real's port when non-zero, else the service's well-known port.
    pub fn port_for(&self, real_port: u16) -> Option<u16> {
        if let Some(p) = self.checkport {
            return Some(p);
        }
        if real_port > 0 {
            return Some(real_port);
        }
        self.service.default_port()
    }

    /// The URL an http, https or http_proxy check fetches (ldirectord's
    /// `ld_setup`): `scheme://RIP:PORT/request`, or the request itself when
    /// it is a full URL (per-real request containing `scheme://`, or any
    /// http_proxy request).
    pub fn url_for(&self, addr: IpAddr, real_port: u16) -> String {
        let scheme = match self.service {
            Service::Https => "https",
            _ => "http",
        };
        let uri = self.request.trim_start_matches('/');
        let full = if self.request_from_real {
            self.request.contains(&format!("{scheme}://"))
        } else {
            self.service == Service::HttpProxy
        };
        if full {
            return uri.to_string();
        }
        let port = self.port_for(real_port).unwrap_or(0);
        match addr {
            IpAddr::V4(a) => format!("{scheme}://{a}:{port}/{uri}"),
            IpAddr::V6(a) => format!("{scheme}://[{a}]:{port}/{uri}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(service: Service) -> CheckSpec {
        CheckSpec {
            service,
            request: "/index.html".into(),
            ..CheckSpec::defaults()
        }
    }

    #[test]
    fn service_names_round_trip_and_ports_match_ldirectord() {
        for s in Service::ALL {
            assert_eq!(Service::from_name(s.name()), Some(s));
        }
        assert_eq!(Service::for_port(80), Service::Http);
        assert_eq!(Service::for_port(3128), Service::HttpProxy);
        assert_eq!(Service::for_port(8080), Service::None);
        assert_eq!(Service::for_port(0), Service::None);
        assert_eq!(Service::from_name("HTTP"), None);
    }

    #[test]
    fn check_port_precedence() {
        let mut s = spec(Service::Http);
        assert_eq!(s.port_for(0), Some(80));
        assert_eq!(s.port_for(8080), Some(8080));
        s.checkport = Some(81);
        assert_eq!(s.port_for(8080), Some(81));
        assert_eq!(spec(Service::None).port_for(0), None);
    }

    #[test]
    fn urls() {
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(
            spec(Service::Http).url_for(a, 8080),
            "http://10.0.0.1:8080/index.html"
        );
        let mut s = spec(Service::Https);
        s.request = "/https://x/y".into();
        s.request_from_real = true;
        assert_eq!(s.url_for(a, 0), "https://x/y");
        let mut p = spec(Service::HttpProxy);
        p.request = "/http://example.com/".into();
        assert_eq!(p.url_for(a, 3128), "http://example.com/");
        let v6: IpAddr = "::1".parse().unwrap_or(a);
        assert_eq!(
            spec(Service::Http).url_for(v6, 0),
            "http://[::1]:80/index.html"
        );
    }
}
