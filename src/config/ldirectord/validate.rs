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
    /// Line of the block's `checktype=` (for errors about the check).
    checktype_line: Option<usize>,
    service: Option<Service>,
    /// Line of the block's `service=`.
    service_line: Option<usize>,
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

    /// Whether `name` (`real`/`real6`, `fallback`/`fallback6`, with `base`
    /// the IPv4 spelling) fits a `virtual` (`v6` false) or `virtual6` block;
    /// reports the error when it does not.
    fn family_matches(&mut self, line: usize, name: &str, base: &str, v6: bool) -> bool {
        if name.ends_with('6') == v6 {
            return true;
        }
        let want = if v6 {
            format!("{base}6")
        } else {
            base.to_string()
        };
        let vname = if v6 { "virtual6" } else { "virtual" };
        self.err(
            line,
            name,
            format!("not allowed in a {vname} block: use {want}"),
        );
        false
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
                if !self.family_matches(line, name, "real", b.v6) {
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
            "checktype" => {
                set!(checktype, d::checktype(value));
                b.checktype_line = Some(line);
            }
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
            "service" => {
                set!(service, d::service(value));
                b.service_line = Some(line);
            }
            "httpmethod" => set!(httpmethod, d::httpmethod(value)),
            "virtualhost" => {
                let v = value.trim();
                let v = v.strip_prefix('"').unwrap_or(v);
                let v = v.split('"').next().unwrap_or("").trim();
                b.virtualhost = (!v.is_empty()).then(|| v.to_string());
            }
            "fallback" | "fallback6" => {
                if !self.family_matches(line, name, "fallback", b.v6) {
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
            "monitorfile" => set!(monitorfile, d::monitorfile(value)),
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

    /// Reject a check lvsd cannot run, at load time rather than when the
    /// check first runs (the real would silently stay down). `line` is the
    /// block's `service=` line, else its `checktype=` line, else the block's.
    fn check_supported(&mut self, (line, directive): (usize, &str), check: &CheckSpec) {
        let negotiates = matches!(
            check.checktype,
            CheckType::Negotiate | CheckType::Combined(_)
        );
        if negotiates && check.service == Service::Oracle {
            self.err(
                line,
                directive,
                "service=oracle with a negotiate check is not supported by lvsd: no pure-Rust \
                 Oracle client exists (service oracle is also the default for port 1521); \
                 use checktype=connect or checktype=external with a checkcommand",
            );
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

#[path = "inherit.rs"]
mod inherit;

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
                // In place: a block is a few hundred bytes, moved out and
                // back for every line it was copied twice a line.
                if let Some(b) = current.as_mut() {
                    let before = bld.errors.len();
                    bld.directive(b, line, &name, &value);
                    if cut {
                        if let Some(e) = bld.errors.get_mut(before) {
                            e.message.push_str(
                                " (inside a virtual block everything from '#' on is a comment, even within quotes)",
                            );
                        }
                    }
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
        let check_at = match (b.service_line, b.checktype_line) {
            (Some(l), _) => (l, "service"),
            (None, Some(l)) => (l, "checktype"),
            (None, None) => (line, if b.v6 { "virtual6" } else { "virtual" }),
        };
        if let Some(v) = bld.finish_block(b, &mut seen) {
            bld.check_supported(check_at, &v.check);
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
#[path = "validate_tests.rs"]
mod tests;
