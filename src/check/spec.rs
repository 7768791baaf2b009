//! What to check and where: the engine's own description of one check.
//! Built from the configuration (see `from_model` once the config types land)
//! or by hand in tests and benchmarks. No I/O here.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How a real server is checked (ldirectord's `checktype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// TCP connect (ICMP echo for UDP virtuals, as ldirectord does).
    Connect,
    /// Service-specific conversation, see [`Service`].
    Negotiate,
    /// ICMP echo, `checkcount` attempts.
    Ping,
    /// Run `checkcommand VIP VPORT RIP RPORT`; exit 0 means up.
    External,
    /// Always up, never checked.
    On,
    /// Never checked; the real is reported down once.
    Off,
    /// The numeric form: negotiate, then N connect checks, then negotiate again.
    Combined(u32),
}

/// The negotiate protocol (ldirectord's `service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Service {
    Dns,
    Ftp,
    Http,
    Https,
    HttpProxy,
    Imap,
    Imaps,
    Ldap,
    Ldaps,
    Mysql,
    Nntp,
    None,
    Oracle,
    Pgsql,
    Pop,
    Pops,
    Radius,
    Sip,
    Simpletcp,
    Smtp,
    Submission,
}

impl Service {
    /// ldirectord's name of the service.
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
            Service::Sip => "sip",
            Service::Simpletcp => "simpletcp",
            Service::Smtp => "smtp",
            Service::Submission => "submission",
        }
    }

    /// Parse ldirectord's service name.
    pub fn from_name(s: &str) -> Option<Service> {
        const ALL: [Service; 21] = [
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
            Service::Sip,
            Service::Simpletcp,
            Service::Smtp,
            Service::Submission,
        ];
        ALL.into_iter().find(|x| x.name() == s)
    }

    /// Port checked when neither `checkport` nor the real's port is set
    /// (ldirectord's `ld_service_to_port`).
    pub fn default_port(self) -> u16 {
        match self {
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
            Service::None | Service::Simpletcp => 0,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HTTP request method of http/https checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpMethod {
    /// `GET` (the default).
    #[default]
    Get,
    /// `HEAD`: no body, so a non-empty `receive` can only match the empty string.
    Head,
}

/// Transport of the virtual service; decides TCP or UDP for dns, sip,
/// simpletcp and connect (UDP connect checks are pings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transport {
    /// TCP (also used for firewall-mark services).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// Every parameter of one check, already resolved against the globals
/// (timeouts, failurecount, checkcount: ldirectord's `ld_setup` rules).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckSpec {
    /// checktype.
    pub kind: Kind,
    /// service (negotiate and combined checks).
    pub service: Service,
    /// Protocol of the virtual service.
    pub transport: Transport,
    /// `request` as ldirectord stores it (with the leading `/`).
    pub request: String,
    /// `receive` regex (Perl syntax; the common subset is accepted).
    pub receive: String,
    /// `httpmethod`.
    pub http_method: HttpMethod,
    /// `virtualhost` (HTTP `Host:`); `None` means the real's address.
    pub virtualhost: Option<String>,
    /// `login`.
    pub login: String,
    /// `passwd`.
    pub passwd: String,
    /// `database`.
    pub database: String,
    /// `secret` (RADIUS).
    pub secret: String,
    /// `checkcommand` of external checks (a path; never run through a shell).
    pub checkcommand: String,
    /// `checkport`.
    pub checkport: Option<u16>,
    /// `checktimeout`: connect, ping, external (and the outer alarm of ldap/radius).
    pub check_timeout: Duration,
    /// `negotiatetimeout`: negotiate checks.
    pub negotiate_timeout: Duration,
    /// `checkinterval`.
    pub interval: Duration,
    /// `failurecount`: consecutive failures before an up real goes down.
    pub failurecount: u32,
    /// `checkcount`: ping attempts.
    pub checkcount: u32,
}

impl Default for CheckSpec {
    fn default() -> Self {
        CheckSpec {
            kind: Kind::Negotiate,
            service: Service::None,
            transport: Transport::Tcp,
            request: "/".into(),
            receive: String::new(),
            http_method: HttpMethod::Get,
            virtualhost: None,
            login: String::new(),
            passwd: String::new(),
            database: String::new(),
            secret: String::new(),
            checkcommand: "/bin/true".into(),
            checkport: None,
            check_timeout: Duration::from_secs(5),
            negotiate_timeout: Duration::from_secs(30),
            interval: Duration::from_secs(10),
            failurecount: 1,
            checkcount: 1,
        }
    }
}

impl CheckSpec {
    /// Reject what cannot be checked at all (today: `service=oracle`, for
    /// which no pure-Rust client exists).
    pub fn validate(&self) -> Result<(), String> {
        let negotiates = matches!(self.kind, Kind::Negotiate | Kind::Combined(_));
        if negotiates && self.service == Service::Oracle {
            return Err(
                "service=oracle is not supported by lvsd: no pure-Rust Oracle client \
                 exists; use checktype=connect or an external checkcommand"
                    .into(),
            );
        }
        if negotiates {
            if let Err(e) = regex::Regex::new(&self.receive) {
                return Err(format!("receive is not a valid regular expression: {e}"));
            }
        }
        Ok(())
    }
}

/// Where a check goes, and the virtual service it is done for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Real server address.
    pub real: IpAddr,
    /// Real server port as configured (0 for firewall-mark services).
    pub real_port: u16,
    /// Virtual address, or the firewall mark as a number (external checks' 1st argument).
    pub virtual_host: String,
    /// Virtual port (external checks' 2nd argument).
    pub virtual_port: u16,
}

impl Target {
    /// Port the check connects to (ldirectord's `ld_checkport`).
    pub fn check_port(&self, spec: &CheckSpec) -> u16 {
        if let Some(p) = spec.checkport {
            return p;
        }
        if self.real_port > 0 {
            return self.real_port;
        }
        spec.service.default_port()
    }

    /// Socket address the check connects to.
    pub fn check_addr(&self, spec: &CheckSpec) -> SocketAddr {
        SocketAddr::new(self.real, self.check_port(spec))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.real {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.real_port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.real_port),
        }
    }
}
