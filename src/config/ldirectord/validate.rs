//! From lexed lines to a [`Config`]: dispatch every directive, resolve host
//! and service names, apply ldirectord's defaults and inheritance
//! (`read_config`, `ld_setup`, `fallback_find` in ldirectord 4.12), and
//! collect every error instead of stopping at the first.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::error::{Diagnostic, Error};
use crate::model::{CheckSpec, CheckType, Family, HttpMethod, Protocol, Service, ServiceKey};

use super::directives::{self as d, FallbackLine, Header, ProtocolWord, RealLine};
use super::lexer::{lex, Item};
use super::{Alerts, Config, Fallback, Global, LogTarget, Real, Resolver, Virtual};

/// Most addresses one `A->B` range may expand to (lvsd's limit; ldirectord
/// has none and would run ipvsadm once per address).
pub const MAX_RANGE: u32 = 65536;

/// Directives only valid at column 0.
const GLOBAL_ONLY: &[&str] = &[
    "autoreload",
    "callback",
    "logfile",
    "fork",
    "supervised",
    "execute",
    "readdquiescent",
    "emailalertfrom",
    "maintenancedir",
];

/// Directives only valid inside a virtual block.
const VIRTUAL_ONLY: &[&str] = &[
    "real",
    "real6",
    "checktype",
    "service",
    "checkcommand",
    "checkport",
    "request",
    "receive",
    "httpmethod",
    "virtualhost",
    "login",
    "passwd",
    "database",
    "secret",
    "scheduler",
    "persistent",
    "netmask",
    "protocol",
    "ops",
    "monitorfile",
    "servicename",
    "comment",
    "schedflags",
    "load",
];

/// Directive values of one virtual block, before resolution.
#[derive(Debug, Default)]
struct Block {
    line: usize,
    v6: bool,
    header: Option<Header>,
    checktype: Option<CheckType>,
    service: Option<Service>,
    checkcommand: Option<String>,
    checktimeout: Option<u32>,
    negotiatetimeout: Option<u32>,
    checkcount: Option<u32>,
    failurecount: Option<u32>,
    checkinterval: Option<u32>,
    checkport: Option<u16>,
    request: Option<String>,
    receive: Option<String>,
    login: Option<String>,
    passwd: Option<String>,
    database: Option<String>,
    secret: Option<String>,
    scheduler: Option<String>,
    persistent: Option<u32>,
    schedflags: Option<(usize, u32, Option<&'static str>)>,
    netmask: Option<(usize, u32)>,
    protocol: Option<ProtocolWord>,
    ops: Option<(usize, bool)>,
    httpmethod: Option<HttpMethod>,
    virtualhost: Option<String>,
    fallback: Option<(usize, FallbackLine)>,
    fallbackcommand: Option<String>,
    quiescent: Option<bool>,
    cleanstop: Option<bool>,
    emailalert: Option<String>,
    emailalertfreq: Option<u32>,
    emailalertstatus: Option<super::AlertStatus>,
    smtp: Option<String>,
    monitorfile: Option<PathBuf>,
    servicename: Option<String>,
    comment: Option<String>,
    reals: Vec<(usize, RealLine)>,
}

struct Builder<'r> {
    path: PathBuf,
    resolver: &'r dyn Resolver,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    global: Global,
    /// Global `fallback` (IPv4) and `fallback6`: address, optional port
    /// word, forwarding.
    gfallback: Option<(usize, IpAddr, Option<String>, crate::model::Forward)>,
    gfallback6: Option<(usize, IpAddr, Option<String>, crate::model::Forward)>,
    blocks: Vec<Block>,
}

impl Builder<'_> {
    fn err(&mut self, line: usize, directive: &str, message: impl Into<String>) {
        self.errors.push(Diagnostic {
            path: self.path.clone(),
            line,
            directive: directive.to_string(),
            message: message.into(),
        });
    }

    fn warn(&mut self, line: usize, directive: &str, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            path: self.path.clone(),
            line,
            directive: directive.to_string(),
            message: message.into(),
        });
    }

    /// Store `r` or report its error.
    fn take<T>(&mut self, line: usize, name: &str, r: d::Parsed<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(line, name, e);
                None
            }
        }
    }

    fn global(&mut self, line: usize, name: &str, value: &str) {
        macro_rules! set {
            ($field:expr, $parse:expr) => {{
                let r = $parse;
                if let Some(v) = self.take(line, name, r) {
                    $field = v;
                }
            }};
        }
        match name {
            "checktimeout" => set!(self.global.checktimeout, d::positive(value).map(Some)),
            "negotiatetimeout" => {
                set!(self.global.negotiatetimeout, d::positive(value).map(Some))
            }
            "checkinterval" => set!(self.global.checkinterval, d::positive(value)),
            "checkcount" => {
                set!(self.global.checkcount, d::positive(value));
                self.warn(
                    line,
                    name,
                    "deprecated (only ping checks use it); see failurecount",
                );
            }
            "failurecount" => set!(self.global.failurecount, d::positive(value)),
            "connecttimeout" => self.err(
                line,
                name,
                "removed in ldirectord (deprecated in favour of negotiatetimeout)",
            ),
            "timeout" => self.err(
                line,
                name,
                "removed in ldirectord (deprecated in favour of checktimeout and negotiatetimeout)",
            ),
            "fallback" | "fallback6" => {
                let family = if name == "fallback6" {
                    Family::V6
                } else {
                    Family::V4
                };
                let Some(f) = self.take(line, name, d::fallback(value)) else {
                    return;
                };
                let Some(addr) = self.host(line, name, &f.at.host, family, "fallback server")
                else {
                    return;
                };
                if let Some(p) = &f.at.port {
                    // Resolved once per protocol by ldirectord; a port name
                    // must exist for tcp (fwmark services use tcp's).
                    if self.port(p, Some("tcp")).is_none() && self.port(p, Some("udp")).is_none() {
                        self.err(line, name, format!("unknown port or service name {p:?}"));
                        return;
                    }
                }
                let v = Some((line, addr, f.at.port.clone(), f.forward));
                if family == Family::V6 {
                    self.gfallback6 = v;
                } else {
                    self.gfallback = v;
                }
            }
            "fallbackcommand" => {
                let v = value.trim_end();
                if v.is_empty() {
                    self.err(line, name, "expected a command");
                } else {
                    // Kept verbatim: ldirectord passes it to sh, which strips quotes.
                    self.global.fallbackcommand = Some(v.to_string());
                }
            }
            "autoreload" => set!(self.global.autoreload, d::yes_no(value)),
            "callback" => set!(self.global.callback, d::quoted_nonempty(value).map(Some)),
            "logfile" => {
                if let Some(v) = self.take(line, name, d::quoted_nonempty(value)) {
                    self.global.logfile = if v.starts_with('/') {
                        LogTarget::File(PathBuf::from(v))
                    } else {
                        LogTarget::Syslog(v)
                    };
                }
            }
            "execute" => {
                let v = d::clean(value).trim_matches('"').to_string();
                if v.is_empty() {
                    self.err(line, name, "expected a configuration name");
                } else {
                    self.global.execute.push(v);
                }
            }
            "fork" => set!(self.global.fork, d::yes_no(value)),
            "supervised" => set!(self.global.supervised, d::yes_no(value)),
            "quiescent" => set!(self.global.quiescent, d::yes_no(value)),
            "readdquiescent" => set!(self.global.readdquiescent, d::yes_no(value)),
            "cleanstop" => set!(self.global.cleanstop, d::yes_no(value)),
            "emailalert" => set!(
                self.global.alerts.emailalert,
                d::emailalert(value).map(Some)
            ),
            "emailalertfreq" => set!(self.global.alerts.emailalertfreq, d::leading_number(value)),
            "emailalertstatus" => {
                set!(
                    self.global.alerts.emailalertstatus,
                    d::emailalertstatus(value)
                )
            }
            "emailalertfrom" => {
                let v = value.trim_end();
                if v.is_empty() {
                    self.err(line, name, "expected an e-mail address");
                } else {
                    self.global.alerts.emailalertfrom = Some(v.to_string());
                }
            }
            "smtp" => set!(self.global.alerts.smtp, d::smtp(value).map(Some)),
            "maintenancedir" => {
                let v = value.trim_end();
                if v.is_empty() {
                    self.err(line, name, "expected a directory");
                } else {
                    if !Path::new(v).is_dir() {
                        self.warn(line, name, format!("directory {v} does not exist"));
                    }
                    self.global.maintenancedir = Some(PathBuf::from(v));
                }
            }
            n if VIRTUAL_ONLY.contains(&n) => self.err(
                line,
                name,
                "only allowed inside a virtual block (indent it under a virtual= line)",
            ),
            _ => self.err(line, name, "unknown directive"),
        }
    }

    fn directive(&mut self, b: &mut Block, line: usize, name: &str, value: &str) {
        macro_rules! set {
            ($field:ident, $parse:expr) => {{
                let r = $parse;
                if let Some(v) = self.take(line, name, r) {
                    b.$field = Some(v);
                }
            }};
        }
        match name {
            "real" | "real6" => {
                if (name == "real6") != b.v6 {
                    let want = if b.v6 { "real6" } else { "real" };
                    let vname = if b.v6 { "virtual6" } else { "virtual" };
                    self.err(
                        line,
                        name,
                        format!("not allowed in a {vname} block: use {want}"),
                    );
                    return;
                }
                if let Some(r) = self.take(line, name, d::real(value)) {
                    b.reals.push((line, r));
                }
            }
            "request" => set!(
                request,
                d::quoted_nonempty(value).map(|r| if r.starts_with('/') {
                    r
                } else {
                    format!("/{r}")
                })
            ),
            "receive" => set!(receive, d::quoted_nonempty(value)),
            "checktype" => set!(checktype, d::checktype(value)),
            "checkcommand" => set!(checkcommand, d::maybe_quoted(value)),
            "checktimeout" => set!(checktimeout, d::positive(value)),
            "negotiatetimeout" => set!(negotiatetimeout, d::positive(value)),
            "connecttimeout" => self.err(
                line,
                name,
                "removed in ldirectord (deprecated in favour of negotiatetimeout)",
            ),
            "checkcount" => {
                set!(checkcount, d::positive(value));
                self.warn(
                    line,
                    name,
                    "deprecated (only ping checks use it); see failurecount",
                );
            }
            "failurecount" => set!(failurecount, d::positive(value)),
            "checkinterval" => set!(checkinterval, d::positive(value)),
            "checkport" => set!(
                checkport,
                d::number(value).and_then(|n| match u16::try_from(n) {
                    Ok(p) if p > 0 => Ok(p),
                    _ => Err(format!("port {n} out of range: expected 1..65535")),
                })
            ),
            "login" => set!(login, d::quoted_nonempty(value)),
            "passwd" => set!(passwd, d::quoted_nonempty(value)),
            "database" => set!(database, d::quoted_nonempty(value)),
            "secret" => set!(secret, d::quoted_nonempty(value)),
            "load" => {
                // Parsed and unused by ldirectord 4.12 (undocumented).
                let _ = self.take(line, name, d::quoted_nonempty(value));
            }
            "scheduler" => set!(scheduler, d::scheduler(value)),
            // ipvsadm's `-p` range (1..MAX_TIMEOUT = 31 days): ldirectord
            // accepts 0 and more, then every ipvsadm -A fails.
            "persistent" => set!(
                persistent,
                d::number(value).and_then(|n| match n {
                    1..=2_678_400 => Ok(n),
                    _ => Err(format!(
                        "persistence timeout {n} out of range: expected 1..2678400 seconds"
                    )),
                })
            ),
            "schedflags" => {
                if let Some((bits, needs)) = self.take(line, name, d::schedflags(value)) {
                    b.schedflags = Some((line, bits, needs));
                }
            }
            "netmask" => {
                let r = if b.v6 {
                    d::netmask_v6(value)
                } else {
                    d::netmask_v4(value)
                };
                if let Some(m) = self.take(line, name, r) {
                    b.netmask = Some((line, m));
                }
            }
            "protocol" => {
                let Some(p) = self.take(line, name, d::protocol(value)) else {
                    return;
                };
                match (&b.header, p) {
                    (Some(Header::Fwmark(_)), ProtocolWord::Fwm) => b.protocol = Some(p),
                    (Some(Header::Fwmark(_)), _) => self.err(
                        line,
                        name,
                        "expected fwm: the virtual service is a firewall mark",
                    ),
                    (_, ProtocolWord::Fwm) => self.err(
                        line,
                        name,
                        "expected tcp or udp: the virtual service is an address and port",
                    ),
                    _ => b.protocol = Some(p),
                }
            }
            "ops" => {
                if let Some(o) = self.take(line, name, d::yes_no(value)) {
                    b.ops = Some((line, o));
                }
            }
            "service" => set!(service, d::service(value)),
            "httpmethod" => set!(httpmethod, d::httpmethod(value)),
            "virtualhost" => {
                let v = value.trim();
                let v = v.strip_prefix('"').unwrap_or(v);
                let v = v.split('"').next().unwrap_or("").trim();
                b.virtualhost = (!v.is_empty()).then(|| v.to_string());
            }
            "fallback" | "fallback6" => {
                if (name == "fallback6") != b.v6 {
                    let want = if b.v6 { "fallback6" } else { "fallback" };
                    let vname = if b.v6 { "virtual6" } else { "virtual" };
                    self.err(
                        line,
                        name,
                        format!("not allowed in a {vname} block: use {want}"),
                    );
                    return;
                }
                if let Some(f) = self.take(line, name, d::fallback(value)) {
                    b.fallback = Some((line, f));
                }
            }
            "fallbackcommand" => set!(fallbackcommand, d::maybe_quoted(value)),
            "quiescent" => set!(quiescent, d::yes_no(value)),
            "cleanstop" => set!(cleanstop, d::yes_no(value)),
            "emailalert" => set!(emailalert, d::emailalert(value)),
            "emailalertfreq" => set!(emailalertfreq, d::leading_number(value)),
            "emailalertstatus" => set!(emailalertstatus, d::emailalertstatus(value)),
            "smtp" => set!(smtp, d::smtp(value)),
            "monitorfile" => set!(monitorfile, d::maybe_quoted(value).map(PathBuf::from)),
            "servicename" => b.servicename = Some(value.to_string()),
            "comment" => b.comment = Some(value.to_string()),
            "timeout" => self.err(
                line,
                name,
                "removed in ldirectord (deprecated in favour of checktimeout and negotiatetimeout)",
            ),
            n if GLOBAL_ONLY.contains(&n) => self.err(
                line,
                name,
                "only allowed at global level (column 0), not inside a virtual block",
            ),
            _ => self.err(line, name, "unknown directive"),
        }
    }

    /// Resolve a host of `family`; reports the error.
    fn host(
        &mut self,
        line: usize,
        directive: &str,
        host: &str,
        family: Family,
        what: &str,
    ) -> Option<IpAddr> {
        match self.resolver.host(host, family) {
            Some(a) => Some(a),
            None => {
                let fam = match family {
                    Family::V4 => "IPv4",
                    Family::V6 => "IPv6",
                };
                self.err(
                    line,
                    directive,
                    format!(
                        "{what} {host:?} is not a valid {fam} address and does not resolve to one"
                    ),
                );
                None
            }
        }
    }

    /// A port number (0..=65535) or a service name.
    fn port(&self, word: &str, proto: Option<&str>) -> Option<u16> {
        if word.chars().all(|c| c.is_ascii_digit()) {
            return word.parse::<u16>().ok();
        }
        self.resolver.service(word, proto)
    }
}

/// Local host name, as ldirectord takes it for ftp/sip default logins
/// (`$ENV{HOSTNAME}`, else uname).
fn hostname() -> String {
    if let Ok(h) = std::env::var("HOSTNAME") {
        if !h.is_empty() {
            return h;
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

impl Builder<'_> {
    fn finish_block(&mut self, b: Block, seen: &mut Vec<(ServiceKey, usize)>) -> Option<Virtual> {
        let family = if b.v6 { Family::V6 } else { Family::V4 };
        let vname = if b.v6 { "virtual6" } else { "virtual" };
        let header = b.header.clone()?;
        // Protocol: explicit, else udp for port 53/domain, fwm for marks.
        let proto = match (&header, b.protocol) {
            (Header::Fwmark(_), _) => ProtocolWord::Fwm,
            (_, Some(p)) => p,
            (Header::Addr(hp), None) => {
                if matches!(hp.port.as_deref(), Some("53") | Some("domain")) {
                    ProtocolWord::Udp
                } else {
                    ProtocolWord::Tcp
                }
            }
        };
        let proto_name = match proto {
            ProtocolWord::Udp => "udp",
            _ => "tcp",
        };
        let key = match &header {
            Header::Fwmark(mark) => ServiceKey::Fwmark {
                family,
                mark: *mark,
            },
            Header::Addr(hp) => {
                let addr = self.host(b.line, vname, &hp.host, family, "virtual address");
                let pw = hp.port.clone().unwrap_or_default();
                let port = self.port(&pw, Some(proto_name));
                if port.is_none() {
                    self.err(
                        b.line,
                        vname,
                        format!("unknown port or service name {pw:?} for {proto_name}"),
                    );
                }
                ServiceKey::Addr {
                    protocol: if proto == ProtocolWord::Udp {
                        Protocol::Udp
                    } else {
                        Protocol::Tcp
                    },
                    addr: addr?,
                    port: port?,
                }
            }
        };
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            let first = *first;
            self.err(
                b.line,
                vname,
                format!("duplicate virtual server {key} (first defined at line {first})"),
            );
            return None;
        }
        seen.push((key, b.line));
        let vport = match key {
            ServiceKey::Addr { port, .. } => port,
            ServiceKey::Fwmark { .. } => 0,
        };
        let is_fwm = matches!(key, ServiceKey::Fwmark { .. });
        let service = match (b.service, is_fwm) {
            (Some(s), _) => s,
            (None, true) => Service::None,
            (None, false) => Service::for_port(vport),
        };
        let scheduler = b.scheduler.clone().unwrap_or_else(|| "wrr".into());
        let mut schedflags = 0;
        if let Some((line, bits, needs)) = b.schedflags {
            match needs {
                Some(s) if s != scheduler => self.err(
                    line,
                    "schedflags",
                    format!("these flags need scheduler {s}, but the scheduler is {scheduler}"),
                ),
                _ => schedflags = bits,
            }
        }
        if let (Some((line, _)), None) = (b.netmask, b.persistent) {
            self.warn(
                line,
                "netmask",
                "ignored without persistent (as in ldirectord)",
            );
        }
        let ops = match b.ops {
            Some((line, true)) if proto != ProtocolWord::Udp => {
                self.warn(
                    line,
                    "ops",
                    "ignored: one-packet scheduling is for UDP services only",
                );
                false
            }
            Some((_, o)) => o,
            None => false,
        };
        // Timeouts (`ld_setup`): check and negotiate timeouts default to
        // each other before falling back to 5 and 30 seconds.
        let g = &self.global;
        let checktimeout = b
            .checktimeout
            .or(b.negotiatetimeout)
            .or(g.checktimeout)
            .or(g.negotiatetimeout)
            .unwrap_or(5);
        let negotiatetimeout = b
            .negotiatetimeout
            .or(b.checktimeout)
            .or(g.negotiatetimeout)
            .or(g.checktimeout)
            .unwrap_or(30);
        // checkinterval in a virtual only counts with fork=yes.
        let checkinterval = match (b.checkinterval, g.fork) {
            (Some(n), true) => n,
            _ => g.checkinterval,
        };
        let host = hostname();
        let login = b.login.clone().unwrap_or_else(|| match service {
            Service::Ftp => "anonymous".into(),
            Service::Sip => format!("ldirectord@{host}"),
            _ => String::new(),
        });
        let passwd = b.passwd.clone().unwrap_or_else(|| match service {
            Service::Ftp => format!("ldirectord@{host}"),
            _ => String::new(),
        });
        let check = CheckSpec {
            checktype: b.checktype.unwrap_or(CheckType::Negotiate),
            service,
            protocol: if proto == ProtocolWord::Udp {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
            family,
            request: b.request.clone().unwrap_or_else(|| "/".into()),
            receive: b.receive.clone().unwrap_or_default(),
            request_from_real: false,
            httpmethod: b.httpmethod.unwrap_or_default(),
            virtualhost: b.virtualhost.clone(),
            login,
            passwd,
            database: b.database.clone().unwrap_or_default(),
            secret: b.secret.clone().unwrap_or_default(),
            checkport: b.checkport,
            checkcommand: b.checkcommand.clone().unwrap_or_else(|| "/bin/true".into()),
            checktimeout: secs(checktimeout),
            negotiatetimeout: secs(negotiatetimeout),
            checkinterval: secs(checkinterval),
            failurecount: b.failurecount.unwrap_or(g.failurecount),
            checkcount: b.checkcount.unwrap_or(g.checkcount),
        };
        let mut reals = Vec::new();
        for (line, r) in &b.reals {
            self.expand_real(*line, r, family, &check, &mut reals);
        }
        let fallback = self.fallback_for(&b, family, proto_name, vport);
        let g = &self.global;
        let alerts = Alerts {
            emailalert: b.emailalert.clone().or_else(|| g.alerts.emailalert.clone()),
            emailalertfreq: b.emailalertfreq.unwrap_or(g.alerts.emailalertfreq),
            emailalertstatus: b.emailalertstatus.unwrap_or(g.alerts.emailalertstatus),
            smtp: b.smtp.clone().or_else(|| g.alerts.smtp.clone()),
            emailalertfrom: g.alerts.emailalertfrom.clone(),
        };
        Some(Virtual {
            line: b.line,
            key,
            scheduler,
            persistent: b.persistent,
            netmask: b.netmask.map(|(_, m)| m),
            schedflags,
            ops,
            reals,
            check,
            fallback,
            fallbackcommand: b
                .fallbackcommand
                .clone()
                .or_else(|| g.fallbackcommand.clone()),
            quiescent: b.quiescent.unwrap_or(g.quiescent),
            cleanstop: b.cleanstop.unwrap_or(g.cleanstop),
            alerts,
            monitorfile: b.monitorfile.clone(),
            servicename: b.servicename.clone(),
            comment: b.comment.clone(),
        })
    }

    fn expand_real(
        &mut self,
        line: usize,
        r: &RealLine,
        family: Family,
        check: &CheckSpec,
        out: &mut Vec<Real>,
    ) {
        let name = if family == Family::V6 {
            "real6"
        } else {
            "real"
        };
        let first = self.host(line, name, &r.first.host, family, "real server address");
        let last = match &r.last {
            Some(h) => match self.host(line, name, h, family, "real server range end") {
                Some(a) => Some(a),
                None => return,
            },
            None => None,
        };
        let port = match &r.first.port {
            None => Some(0),
            Some(p) => {
                let v = self.port(p, None);
                if v.is_none() {
                    self.err(line, name, format!("unknown port or service name {p:?}"));
                }
                v
            }
        };
        let (Some(first), Some(port)) = (first, port) else {
            return;
        };
        let mut spec = check.clone();
        if let Some((req, recv)) = &r.request_receive {
            spec.request = req.clone();
            spec.receive = recv.clone();
            spec.request_from_real = true;
        }
        let mk = |addr: IpAddr| Real {
            line,
            addr,
            port,
            forward: r.forward,
            weight: r.weight,
            l_threshold: r.l_threshold,
            u_threshold: r.u_threshold,
            check: spec.clone(),
        };
        let Some(last) = last else {
            out.push(mk(first));
            return;
        };
        match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let (a, b) = (u32::from(a), u32::from(b));
                if a > b {
                    self.err(
                        line,
                        name,
                        "invalid range: the first address is greater than the last",
                    );
                } else if b - a >= MAX_RANGE {
                    self.err(
                        line,
                        name,
                        format!(
                            "range of {} addresses is too large (at most {MAX_RANGE})",
                            u64::from(b - a) + 1
                        ),
                    );
                } else {
                    for i in a..=b {
                        out.push(mk(IpAddr::V4(Ipv4Addr::from(i))));
                    }
                }
            }
            _ => self.err(line, name, "address ranges are only supported for IPv4"),
        }
    }

    fn fallback_for(
        &mut self,
        b: &Block,
        family: Family,
        proto: &str,
        vport: u16,
    ) -> Option<Fallback> {
        if let Some((line, f)) = &b.fallback {
            let name = if family == Family::V6 {
                "fallback6"
            } else {
                "fallback"
            };
            let addr = self.host(*line, name, &f.at.host, family, "fallback server")?;
            let port = match &f.at.port {
                Some(p) => match self.port(p, Some(proto)) {
                    Some(n) => n,
                    None => {
                        self.err(*line, name, format!("unknown port or service name {p:?}"));
                        return None;
                    }
                },
                None => vport,
            };
            return Some(Fallback {
                addr,
                port,
                forward: f.forward,
            });
        }
        let g = match family {
            Family::V4 => self.gfallback.clone(),
            Family::V6 => self.gfallback6.clone(),
        };
        let (_, addr, port, forward) = g?;
        let port = match port {
            Some(p) => self.port(&p, Some(proto)).or_else(|| self.port(&p, None))?,
            None => vport,
        };
        Some(Fallback {
            addr,
            port,
            forward,
        })
    }
}

/// Parse, resolve and validate a whole file.
pub(crate) fn build(text: &str, path: &Path, resolver: &dyn Resolver) -> Result<Config, Error> {
    let mut bld = Builder {
        path: path.to_path_buf(),
        resolver,
        errors: Vec::new(),
        warnings: Vec::new(),
        global: Global::default(),
        gfallback: None,
        gfallback6: None,
        blocks: Vec::new(),
    };
    let mut current: Option<Block> = None;
    for item in lex(text) {
        match item {
            Item::Directive {
                line,
                name,
                value,
                cut,
            } => {
                if let Some(mut b) = current.take() {
                    let before = bld.errors.len();
                    bld.directive(&mut b, line, &name, &value);
                    if cut {
                        if let Some(e) = bld.errors.get_mut(before) {
                            e.message.push_str(
                                " (inside a virtual block everything from '#' on is a comment, even within quotes)",
                            );
                        }
                    }
                    current = Some(b);
                }
            }
            Item::DirectiveOther { line, raw } => {
                let word = raw
                    .split(|c: char| c.is_whitespace() || c == '=')
                    .next()
                    .unwrap_or("");
                bld.err(line, word, format!("expected NAME=VALUE, found {raw:?}"));
            }
            other => {
                if let Some(b) = current.take() {
                    bld.blocks.push(b);
                }
                match other {
                    Item::Virtual { line, v6, value } => {
                        let name = if v6 { "virtual6" } else { "virtual" };
                        let mut header = bld.take(line, name, d::header(value));
                        if let Some(Header::Addr(hp)) = &header {
                            let is_v6_literal = hp.host.contains(':');
                            if is_v6_literal && !v6 {
                                bld.err(line, name, "an IPv6 address needs virtual6=");
                                header = None;
                            } else if v6 && !is_v6_literal && hp.host.parse::<IpAddr>().is_ok() {
                                bld.err(line, name, "an IPv4 address needs virtual=");
                                header = None;
                            }
                        }
                        // A bad header still opens a block, so its lines are
                        // checked and not misread as global lines.
                        current = Some(Block {
                            line,
                            v6,
                            header,
                            ..Block::default()
                        });
                    }
                    Item::Global { line, name, value } => bld.global(line, name, value),
                    Item::GlobalOther { line, raw } => {
                        if raw.trim_end() == "supervised" {
                            bld.global.supervised = true;
                            bld.warn(
                                line,
                                "supervised",
                                "bare 'supervised' is deprecated: write supervised=yes",
                            );
                        } else if raw.starts_with([' ', '\t']) {
                            let word = raw
                                .trim()
                                .split(|c: char| c.is_whitespace() || c == '=')
                                .next()
                                .unwrap_or("")
                                .to_string();
                            bld.err(
                                line,
                                &word,
                                "indented line outside a virtual block (a blank line or a line indented by fewer than 4 spaces ends a block)",
                            );
                        } else {
                            let word = raw
                                .split(|c: char| c.is_whitespace() || c == '=')
                                .next()
                                .unwrap_or("")
                                .to_string();
                            bld.err(
                                line,
                                &word,
                                format!(
                                    "expected NAME=VALUE at global level, found {:?}",
                                    raw.trim_end()
                                ),
                            );
                        }
                    }
                    Item::Directive { .. } | Item::DirectiveOther { .. } => {}
                }
            }
        }
    }
    if let Some(b) = current.take() {
        bld.blocks.push(b);
    }
    let blocks = std::mem::take(&mut bld.blocks);
    let mut seen = Vec::new();
    let mut virtuals = Vec::new();
    for b in blocks {
        let line = b.line;
        let had_ci = b.checkinterval.is_some();
        if let Some(v) = bld.finish_block(b, &mut seen) {
            if had_ci && !bld.global.fork {
                bld.warn(
                    line,
                    "checkinterval",
                    "in a virtual service it is ignored when fork=no",
                );
            }
            virtuals.push(v);
        }
    }
    if !bld.errors.is_empty() {
        bld.errors.sort_by_key(|d| d.line);
        return Err(Error::Invalid(bld.errors));
    }
    bld.warnings.sort_by_key(|d| d.line);
    Ok(Config {
        path: path.to_path_buf(),
        global: bld.global,
        virtuals,
        warnings: bld.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::super::resolve::fake::FakeResolver;
    use super::*;
    use crate::model::Forward;

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(text, Path::new("t.cf"), &FakeResolver)
    }

    fn ok(text: &str) -> Config {
        match parse(text) {
            Ok(c) => c,
            Err(e) => panic!("unexpected error:\n{e}\n--- in:\n{text}"),
        }
    }

    fn errs(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.diagnostics(),
        }
    }

    fn one(text: &str) -> Virtual {
        let mut c = ok(text);
        assert_eq!(c.virtuals.len(), 1, "{text}");
        c.virtuals.remove(0)
    }

    /// A block with one real plus `extra` (one directive per line).
    fn block(extra: &str) -> String {
        let mut s = String::from("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 masq\n");
        for l in extra.lines() {
            s.push('\t');
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    #[test]
    fn defaults_of_a_minimal_virtual() {
        let c = ok("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 masq\n");
        assert_eq!(c.global, Global::default());
        let v = &c.virtuals[0];
        assert_eq!(v.key.to_string(), "TCP 10.0.0.1:80");
        assert_eq!(v.scheduler, "wrr");
        assert_eq!(
            (v.persistent, v.netmask, v.ops, v.schedflags),
            (None, None, false, 0)
        );
        assert!(!v.quiescent && v.cleanstop);
        assert_eq!(v.fallback, None);
        let k = &v.check;
        assert_eq!(k.checktype, CheckType::Negotiate);
        assert_eq!(k.service, Service::Http);
        assert_eq!(k.protocol, Protocol::Tcp);
        assert_eq!((k.request.as_str(), k.receive.as_str()), ("/", ""));
        assert_eq!(k.checkcommand, "/bin/true");
        assert_eq!(k.httpmethod, HttpMethod::Get);
        assert_eq!((k.checktimeout, k.negotiatetimeout), (secs(5), secs(30)));
        assert_eq!(
            (k.checkinterval, k.failurecount, k.checkcount),
            (secs(10), 1, 1)
        );
        assert_eq!(k.checkport, None);
        let r = &v.reals[0];
        assert_eq!(
            (r.addr.to_string(), r.port, r.forward, r.weight),
            ("10.0.1.1".into(), 80, Forward::Masq, 1)
        );
        assert_eq!((r.l_threshold, r.u_threshold), (0, 0));
        assert_eq!(r.check, v.check);
    }

    #[test]
    fn each_virtual_directive_in_isolation() {
        type Probe = fn(&Virtual) -> bool;
        let cases: &[(&str, Probe)] = &[
            ("checktype=connect", |v| {
                v.check.checktype == CheckType::Connect
            }),
            ("checktype=external", |v| {
                v.check.checktype == CheckType::External
            }),
            ("checktype=external-perl", |v| {
                v.check.checktype == CheckType::ExternalPerl
            }),
            ("checktype=negotiate", |v| {
                v.check.checktype == CheckType::Negotiate
            }),
            ("checktype=off", |v| v.check.checktype == CheckType::Off),
            ("checktype=on", |v| v.check.checktype == CheckType::On),
            ("checktype=ping", |v| v.check.checktype == CheckType::Ping),
            ("checktype=7", |v| {
                v.check.checktype == CheckType::Combined(7)
            }),
            ("checkcommand=\"/usr/bin/chk\"", |v| {
                v.check.checkcommand == "/usr/bin/chk"
            }),
            ("checkcommand=/usr/bin/chk2", |v| {
                v.check.checkcommand == "/usr/bin/chk2"
            }),
            ("checkcount=4", |v| v.check.checkcount == 4),
            ("checkinterval=3", |v| v.check.checkinterval == secs(10)),
            ("checkport=8080", |v| v.check.checkport == Some(8080)),
            ("checktimeout=7", |v| {
                v.check.checktimeout == secs(7) && v.check.negotiatetimeout == secs(7)
            }),
            ("negotiatetimeout=9", |v| {
                v.check.negotiatetimeout == secs(9) && v.check.checktimeout == secs(9)
            }),
            ("failurecount=3", |v| v.check.failurecount == 3),
            ("cleanstop=no", |v| !v.cleanstop),
            ("comment=call Bob", |v| {
                v.comment.as_deref() == Some("call Bob")
            }),
            ("servicename=Web Site", |v| {
                v.servicename.as_deref() == Some("Web Site")
            }),
            ("database=\"portal\"", |v| v.check.database == "portal"),
            ("emailalert=\"a@b\"", |v| {
                v.alerts.emailalert.as_deref() == Some("a@b")
            }),
            ("emailalertfreq=60", |v| v.alerts.emailalertfreq == 60),
            ("emailalertstatus=running", |v| {
                v.alerts.emailalertstatus.running && !v.alerts.emailalertstatus.starting
            }),
            ("fallback=127.0.0.1:8080 masq", |v| {
                v.fallback
                    == Some(Fallback {
                        addr: IpAddr::from([127, 0, 0, 1]),
                        port: 8080,
                        forward: Forward::Masq,
                    })
            }),
            ("fallback=127.0.0.1", |v| {
                v.fallback.map(|f| (f.port, f.forward)) == Some((80, Forward::Route))
            }),
            ("fallbackcommand=\"/bin/fb\"", |v| {
                v.fallbackcommand.as_deref() == Some("/bin/fb")
            }),
            ("httpmethod=head", |v| {
                v.check.httpmethod == HttpMethod::Head
            }),
            ("login=\"u\"", |v| v.check.login == "u"),
            ("passwd=\"p\"", |v| v.check.passwd == "p"),
            ("secret=\"s\"", |v| v.check.secret == "s"),
            ("monitorfile=\"/tmp/m.log\"", |v| {
                v.monitorfile.as_deref() == Some(Path::new("/tmp/m.log"))
            }),
            ("persistent=300", |v| v.persistent == Some(300)),
            ("netmask=255.255.0.0", |v| v.netmask == Some(0xffff_0000)),
            ("protocol=udp", |v| {
                matches!(
                    v.key,
                    ServiceKey::Addr {
                        protocol: Protocol::Udp,
                        ..
                    }
                ) && v.check.protocol == Protocol::Udp
            }),
            ("protocol=tcp", |v| {
                matches!(
                    v.key,
                    ServiceKey::Addr {
                        protocol: Protocol::Tcp,
                        ..
                    }
                )
            }),
            ("ops=no", |v| !v.ops),
            ("quiescent=yes", |v| v.quiescent),
            ("readdquiescent_is_global_only=1", |_| true),
            ("receive=\"OK\"", |v| v.check.receive == "OK"),
            ("request=\"index.html\"", |v| {
                v.check.request == "/index.html"
            }),
            ("request=\"/a b\"", |v| v.check.request == "/a b"),
            ("scheduler=sh", |v| v.scheduler == "sh"),
            ("schedflags=flag-1", |v| {
                v.schedflags == crate::model::ServiceFlags::SCHED1
            }),
            ("service=simpletcp", |v| {
                v.check.service == Service::SimpleTcp
            }),
            ("service=http_proxy", |v| {
                v.check.service == Service::HttpProxy
            }),
            ("service=none", |v| v.check.service == Service::None),
            ("smtp=mail.example.com", |v| {
                v.alerts.smtp.as_deref() == Some("mail.example.com")
            }),
            ("virtualhost=www.example.com", |v| {
                v.check.virtualhost.as_deref() == Some("www.example.com")
            }),
            ("virtualhost=\"www.example.org\"", |v| {
                v.check.virtualhost.as_deref() == Some("www.example.org")
            }),
            ("load=\"x\"", |_| true),
        ];
        for (line, probe) in cases {
            if line.starts_with("readdquiescent_is_global_only") {
                assert!(parse(&block("readdquiescent=yes")).is_err());
                continue;
            }
            let v = one(&block(line));
            assert!(probe(&v), "{line}: {v:#?}");
        }
    }

    #[test]
    fn each_global_directive_in_isolation() {
        type Probe = fn(&Config) -> bool;
        let cases: &[(&str, Probe)] = &[
            ("autoreload=yes", |c| c.global.autoreload),
            ("callback=\"/bin/cb\"", |c| {
                c.global.callback.as_deref() == Some("/bin/cb")
            }),
            ("checkcount=2", |c| {
                c.global.checkcount == 2 && c.virtuals[0].check.checkcount == 2
            }),
            ("checkinterval=4", |c| {
                c.global.checkinterval == 4 && c.virtuals[0].check.checkinterval == secs(4)
            }),
            ("checktimeout=3", |c| {
                c.virtuals[0].check.checktimeout == secs(3)
                    && c.virtuals[0].check.negotiatetimeout == secs(3)
            }),
            ("negotiatetimeout=12", |c| {
                c.virtuals[0].check.negotiatetimeout == secs(12)
                    && c.virtuals[0].check.checktimeout == secs(12)
            }),
            ("cleanstop=no", |c| {
                !c.global.cleanstop && !c.virtuals[0].cleanstop
            }),
            ("emailalert=\"x@y\"", |c| {
                c.virtuals[0].alerts.emailalert.as_deref() == Some("x@y")
            }),
            ("emailalertfreq=10", |c| {
                c.virtuals[0].alerts.emailalertfreq == 10
            }),
            ("emailalertstatus=none", |c| {
                c.virtuals[0].alerts.emailalertstatus == super::super::AlertStatus::NONE
            }),
            ("emailalertfrom=\"LVS\" <l@x>", |c| {
                c.virtuals[0].alerts.emailalertfrom.as_deref() == Some("\"LVS\" <l@x>")
            }),
            ("execute=other.cf", |c| {
                c.global.execute == vec!["other.cf".to_string()]
            }),
            ("failurecount=5", |c| c.virtuals[0].check.failurecount == 5),
            ("fallback=127.0.0.1:81 masq", |c| {
                c.virtuals[0].fallback.map(|f| (f.port, f.forward)) == Some((81, Forward::Masq))
            }),
            ("fallback6=[::1]:81", |c| c.virtuals[0].fallback.is_none()),
            ("fallbackcommand=\"/x.sh\" -v", |c| {
                c.virtuals[0].fallbackcommand.as_deref() == Some("\"/x.sh\" -v")
            }),
            ("fork=yes", |c| c.global.fork),
            ("logfile=\"local0\"", |c| {
                c.global.logfile == LogTarget::Syslog("local0".into())
            }),
            ("logfile=\"/tmp/ld.log\"", |c| {
                c.global.logfile == LogTarget::File("/tmp/ld.log".into())
            }),
            ("maintenancedir=/tmp", |c| {
                c.global.maintenancedir.as_deref() == Some(Path::new("/tmp"))
            }),
            ("quiescent=yes", |c| c.virtuals[0].quiescent),
            ("readdquiescent=yes", |c| c.global.readdquiescent),
            ("smtp=10.0.0.25", |c| {
                c.virtuals[0].alerts.smtp.as_deref() == Some("10.0.0.25")
            }),
            ("supervised=yes", |c| c.global.supervised),
            ("supervised", |c| {
                c.global.supervised && c.warnings.len() == 1
            }),
        ];
        for (line, probe) in cases {
            let c = ok(&format!("{line}\n{}", block("")));
            assert!(probe(&c), "{line}: {c:#?}");
        }
    }

    #[test]
    fn timeouts_resolve_like_ld_setup() {
        let t = |g: &str, v: &str| {
            let c = ok(&format!("{g}\n{}", block(v)));
            let k = &c.virtuals[0].check;
            (k.checktimeout.as_secs(), k.negotiatetimeout.as_secs())
        };
        assert_eq!(t("", ""), (5, 30));
        assert_eq!(t("checktimeout=3", ""), (3, 3));
        assert_eq!(t("negotiatetimeout=20", ""), (20, 20));
        assert_eq!(t("checktimeout=3\nnegotiatetimeout=20", ""), (3, 20));
        assert_eq!(
            t("checktimeout=3\nnegotiatetimeout=20", "negotiatetimeout=8"),
            (8, 8)
        );
        assert_eq!(
            t("checktimeout=3", "checktimeout=2\nnegotiatetimeout=9"),
            (2, 9)
        );
    }

    #[test]
    fn checkinterval_in_a_virtual_needs_fork() {
        let c = ok(&block("checkinterval=3"));
        assert_eq!(c.virtuals[0].check.checkinterval, secs(10));
        assert!(c.warnings.iter().any(|w| w.directive == "checkinterval"));
        let c = ok(&format!("fork=yes\n{}", block("checkinterval=3")));
        assert_eq!(c.virtuals[0].check.checkinterval, secs(3));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn globals_after_a_block_still_apply() {
        let c = ok(&format!("{}quiescent=yes\nfallback=127.0.0.1\n", block("")));
        assert!(c.virtuals[0].quiescent);
        assert_eq!(c.virtuals[0].fallback.map(|f| f.port), Some(80));
    }

    #[test]
    fn virtual_overrides_global() {
        let c = ok(&format!(
            "quiescent=yes\ncleanstop=no\nfallback=127.0.0.1:99\nfallbackcommand=/g\nemailalert=g@x\nsmtp=g\n{}",
            block("quiescent=no\ncleanstop=yes\nfallback=127.0.0.2\nfallbackcommand=/v\nemailalert=v@x\nsmtp=v")
        ));
        let v = &c.virtuals[0];
        assert!(!v.quiescent && v.cleanstop);
        assert_eq!(
            v.fallback.map(|f| (f.addr.to_string(), f.port)),
            Some(("127.0.0.2".into(), 80))
        );
        assert_eq!(v.fallbackcommand.as_deref(), Some("/v"));
        assert_eq!(v.alerts.emailalert.as_deref(), Some("v@x"));
        assert_eq!(v.alerts.smtp.as_deref(), Some("v"));
    }

    #[test]
    fn service_protocol_and_login_defaults() {
        let v = one("virtual=10.0.0.1:53\n\treal=10.0.1.1:53 masq\n");
        assert_eq!(
            (v.check.service, v.check.protocol),
            (Service::Dns, Protocol::Udp)
        );
        let v = one("virtual=10.0.0.1:domain\n");
        assert_eq!(v.key.to_string(), "UDP 10.0.0.1:53");
        let v = one("virtual=10.0.0.1:8080\n");
        assert_eq!(v.check.service, Service::None);
        let v = one("virtual=10.0.0.1:21\n");
        assert_eq!(v.check.login, "anonymous");
        assert!(v.check.passwd.starts_with("ldirectord@"));
        let v = one("virtual=10.0.0.1:21\n\tlogin=\"bob\"\n");
        assert_eq!(v.check.login, "bob");
        let v = one("virtual=10.0.0.1:5060\n\tprotocol=udp\n");
        assert!(v.check.login.starts_with("ldirectord@"));
        let v = one("virtual=42\n\tservice=http\n\tprotocol=fwm\n");
        assert_eq!(
            v.key,
            ServiceKey::Fwmark {
                family: Family::V4,
                mark: 42
            }
        );
        assert_eq!(v.check.service, Service::Http);
        let v = one("virtual=42\n");
        assert_eq!(v.check.service, Service::None);
        let v = one("virtual6=42\n");
        assert_eq!(
            v.key,
            ServiceKey::Fwmark {
                family: Family::V6,
                mark: 42
            }
        );
    }

    #[test]
    fn reals_in_every_form() {
        let v = one(
            "virtual=10.0.0.1:80\n\treal=web1.example:http gate\n\treal=10.0.2.1->10.0.2.3 ipip 4 l:1 u:9\n\treal=web2.example->web3.example:8080 masq \"/x\", \"y\"\n",
        );
        let got: Vec<String> = v
            .reals
            .iter()
            .map(|r| {
                format!(
                    "{}:{} {:?} {} {} {}",
                    r.addr, r.port, r.forward, r.weight, r.l_threshold, r.u_threshold
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "10.1.0.1:80 Route 1 0 0",
                "10.0.2.1:0 Tunnel 4 1 9",
                "10.0.2.2:0 Tunnel 4 1 9",
                "10.0.2.3:0 Tunnel 4 1 9",
                "10.1.0.2:8080 Masq 1 0 0",
                "10.1.0.3:8080 Masq 1 0 0",
            ]
        );
        let r = &v.reals[5];
        assert!(r.check.request_from_real);
        assert_eq!(
            (r.check.request.as_str(), r.check.receive.as_str()),
            ("/x", "y")
        );
        assert!(!v.reals[0].check.request_from_real);
        let v = one(
            "virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]:8080 masq\n\treal6=v6host gate\n",
        );
        assert_eq!(v.reals[1].addr.to_string(), "2001:db8::10");
    }

    #[test]
    fn errors_name_line_and_directive_and_are_all_reported() {
        let e = errs("checktimeout=x\nvirtual=10.0.0.1:80\n\treal=nosuch.host:80 gate\n\tscheduler=foo\nvirtual=10.0.0.1:80\n");
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(e[0].starts_with("t.cf:1: checktimeout: "), "{}", e[0]);
        assert!(
            e[1].starts_with("t.cf:3: real: real server address \"nosuch.host\""),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("t.cf:4: scheduler: unknown scheduler"),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with("t.cf:5: virtual: duplicate virtual server TCP 10.0.0.1:80"),
            "{}",
            e[3]
        );
    }

    #[test]
    fn rejections_match_ldirectord() {
        for (text, line, directive) in [
            (
                "virtual=10.0.0.1:80\n\tchecktype=sometimes\n",
                2,
                "checktype",
            ),
            (
                "virtual=10.0.0.1:80\n\tconnecttimeout=3\n",
                2,
                "connecttimeout",
            ),
            (
                "virtual=10.0.0.1:80\n\tfallback6=[::1]:80\n",
                2,
                "fallback6",
            ),
            ("virtual6=[::1]:80\n\tfallback=127.0.0.1\n", 2, "fallback"),
            ("virtual6=[::1]:80\n\tnetmask=255.0.0.0\n", 2, "netmask"),
            ("virtual=1\n\tprotocol=tcp\n", 2, "protocol"),
            ("virtual=10.0.0.1:80\n\tops=maybe\n", 2, "ops"),
            ("virtual=10.0.0.1:80\n\tlogin=\"\"\n", 2, "login"),
            ("virtual=10.0.0.1:80\n\thttpmethod=POST\n", 2, "httpmethod"),
            (
                "virtual=10.0.0.1:80\n\tschedflags=sh-port\n",
                2,
                "schedflags",
            ),
            (
                "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate \"/x\"\n",
                2,
                "real",
            ),
            ("virtual=10.0.0.1:80\n\treal=[::1]:80 gate\n", 2, "real"),
            (
                "virtual6=[::1]:80\n\treal6=[::1]->[::2]:80 gate\n",
                2,
                "real6",
            ),
            (
                "virtual=10.0.0.1:80\n\treal=10.0.0.0->10.2.0.0 gate\n",
                2,
                "real",
            ),
            (
                "virtual=10.0.0.1:80\n\temailalertstatus=none,all\n",
                2,
                "emailalertstatus",
            ),
            ("virtual=10.0.0.1:nosuch\n", 1, "virtual"),
            ("virtual6=10.0.0.1:80\n", 1, "virtual6"),
            ("fallback=nosuch.host\n", 1, "fallback"),
            ("Checktimeout=3\n", 1, "Checktimeout"),
            ("  checktimeout=3\n", 1, "checktimeout"),
            ("logfile=/var/log/x\n", 1, "logfile"),
            ("virtual=10.0.0.1:80\n\tchecktimeout=0\n", 2, "checktimeout"),
            ("virtual=10.0.0.1:80\n\tpersistent=0\n", 2, "persistent"),
        ] {
            let e = errs(text);
            let want = format!("t.cf:{line}: {directive}: ");
            assert!(
                e.iter().any(|m| m.starts_with(&want)),
                "{text:?}: want {want}, got {e:#?}"
            );
        }
    }

    #[test]
    fn blank_line_ends_block_and_the_next_virtual_is_fine() {
        let c = ok("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 gate\n\nvirtual=10.0.0.2:80\n\treal=10.0.1.2:80 gate\n");
        assert_eq!(c.virtuals.len(), 2);
        assert_eq!(c.virtuals[1].reals.len(), 1);
    }
}
