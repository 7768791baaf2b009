//! Per-virtual settings of `lvsd.toml`: sections keyed by the virtual,
//! `[virtual."tcp:192.0.2.10:80"]`, `[virtual."udp:[2001:db8::1]:53"]`,
//! `[virtual."fwm:7"]`, `[virtual."fwm6:7"]` (keys in `model::VirtualName`'s
//! syntax, shared with the control socket's commands). They hold what ldirectord.cf cannot say (its
//! language stays ldirectord's): today the quorum policy (keepalived's
//! `quorum`, `hysteresis`, `quorum_up`, `quorum_down`) and the check
//! policy of the virtual's reals (`rise`, `status_code`, `ca_file`,
//! `dynamic_weight`, `agent_*`, `slow_start`).
//!
//! Parsed by `config::toml` (which owns the file and its `file:line:col`
//! errors); the daemon matches the keys against the virtuals of
//! ldirectord.cf.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ::toml::Spanned;
use serde::Deserialize;

use super::toml::{Ctx, Error};
use crate::model::{AgentSpec, CaBundle, CheckPolicy, StatusCodes, VirtualName};

/// Largest CA file read for `ca_file`.
const MAX_CA_BYTES: u64 = 1024 * 1024;

/// Longest `rise`: more successes in a row than this is a typo.
const MAX_RISE: i64 = 1000;

/// Longest `slow_start`, in seconds (one hour).
const MAX_SLOW_START: i64 = 3600;

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
    pub id: VirtualName,
    /// 1-based line of the section in lvsd.toml (for messages).
    pub line: usize,
    /// `file:line:col` of the section, for messages about it.
    pub at: String,
    /// Quorum policy; None when the section sets none of its keys.
    pub quorum: Option<Quorum>,
    /// What it changes in the checks of the virtual's reals.
    pub check: CheckPolicy,
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
    rise: Option<Spanned<i64>>,
    slow_start: Option<Spanned<i64>>,
    status_code: Option<Spanned<Vec<Spanned<RawCode>>>>,
    ca_file: Option<Spanned<String>>,
    dynamic_weight: Option<bool>,
    agent_port: Option<Spanned<i64>>,
    agent_interval: Option<Spanned<i64>>,
    agent_timeout: Option<Spanned<i64>>,
}

/// A `status_code` element: `200` or `"300-399"`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawCode {
    One(i64),
    Range(String),
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
        let id = VirtualName::parse(&name).ok_or_else(|| {
            cx.err(
                span.clone(),
                &key,
                "not a virtual: use \"tcp:IP:PORT\", \"udp:IP:PORT\", \"sctp:IP:PORT\" (IPv6 in brackets), \"fwm:MARK\" or \"fwm6:MARK\"",
            )
        })?;
        // "tcp:192.0.2.1:080" and "tcp:192.0.2.1:80" are one virtual;
        // "fwm:7" and "fwm6:7" would both apply to the IPv6 mark 7.
        if let Some(o) = out.iter().find(|o| o.id.overlaps(&id)) {
            let msg = if o.id == id {
                format!("{id} has two sections")
            } else {
                format!("{id} and {} both name the IPv6 service", o.id)
            };
            return Err(cx.err(span, &key, msg));
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
        let at = match cx.err(span.clone(), "", "") {
            Error::At {
                path, line, col, ..
            } => format!("{}:{line}:{col}", path.display()),
            Error::Io { path, .. } => path.display().to_string(),
        };
        let err = |span: std::ops::Range<usize>, key: &str, msg: String| cx.err(span, key, msg);
        let check = check_policy(r, &key, cx.path(), &err)?;
        out.push(VirtualPolicy {
            id,
            line: cx.line_of(span.start),
            at,
            quorum,
            check,
        });
    }
    Ok(out)
}

/// The check keys of one section (`key` is `virtual."..."` for messages;
/// `base` is lvsd.toml, against which a relative `ca_file` is read).
fn check_policy<E>(
    raw: &RawVirtual,
    key: &str,
    base: &std::path::Path,
    err: &dyn Fn(std::ops::Range<usize>, &str, String) -> E,
) -> Result<CheckPolicy, E> {
    let k = |name: &str| format!("{key}.{name}");
    let ranged =
        |v: &Option<Spanned<i64>>, key: &str, lo: i64, hi: i64| -> Result<Option<i64>, E> {
            match v {
                Some(x) if !(lo..=hi).contains(x.get_ref()) => Err(err(
                    x.span(),
                    &k(key),
                    format!("{}: must be {lo} to {hi}", x.get_ref()),
                )),
                Some(x) => Ok(Some(*x.get_ref())),
                None => Ok(None),
            }
        };
    let secs = |n: i64| Duration::from_secs(n.unsigned_abs());
    let mut check = CheckPolicy::default();
    if let Some(r) = ranged(&raw.rise, "rise", 1, MAX_RISE)? {
        check.rise = u32::try_from(r).unwrap_or(1);
    }
    if let Some(s) = ranged(&raw.slow_start, "slow_start", 0, MAX_SLOW_START)? {
        check.slow_start = secs(s);
    }
    if let Some(codes) = &raw.status_code {
        check.status_codes = Some(status_codes(codes, &k("status_code"), err)?);
    }
    if let Some(f) = &raw.ca_file {
        check.ca = Some(ca_file(f, base, &k("ca_file"), err)?);
    }
    check.dynamic_weight = raw.dynamic_weight.unwrap_or(false);
    let port = ranged(&raw.agent_port, "agent_port", 1, 65535)?;
    let interval = ranged(&raw.agent_interval, "agent_interval", 1, 3600)?;
    let timeout = ranged(&raw.agent_timeout, "agent_timeout", 1, 3600)?;
    match port {
        Some(p) => {
            check.agent = Some(AgentSpec {
                port: u16::try_from(p).unwrap_or(1),
                interval: secs(interval.unwrap_or(2)),
                timeout: secs(timeout.unwrap_or(2)),
            })
        }
        None => {
            if let Some(x) = raw.agent_interval.as_ref().or(raw.agent_timeout.as_ref()) {
                return Err(err(
                    x.span(),
                    &k("agent_port"),
                    "agent_interval and agent_timeout need agent_port".into(),
                ));
            }
        }
    }
    Ok(check)
}

fn status_codes<E>(
    codes: &Spanned<Vec<Spanned<RawCode>>>,
    key: &str,
    err: &dyn Fn(std::ops::Range<usize>, &str, String) -> E,
) -> Result<StatusCodes, E> {
    if codes.get_ref().is_empty() {
        return Err(err(
            codes.span(),
            key,
            "needs at least one code or range".into(),
        ));
    }
    let code = |n: i64| u16::try_from(n).ok().filter(|c| (100..=599).contains(c));
    let mut out = Vec::new();
    for c in codes.get_ref() {
        let bad = |what: String| {
            err(
                c.span(),
                key,
                format!("{what}: codes are 100 to 599, ranges \"LO-HI\" with LO <= HI"),
            )
        };
        let range = match c.get_ref() {
            RawCode::One(n) => code(*n).map(|c| (c, c)).ok_or_else(|| bad(n.to_string()))?,
            RawCode::Range(s) => {
                let parsed = match s.split_once('-') {
                    Some((lo, hi)) => lo
                        .trim()
                        .parse()
                        .ok()
                        .and_then(code)
                        .zip(hi.trim().parse().ok().and_then(code)),
                    None => s.trim().parse().ok().and_then(code).map(|c| (c, c)),
                };
                parsed
                    .filter(|(lo, hi)| lo <= hi)
                    .ok_or_else(|| bad(format!("{s:?}")))?
            }
        };
        out.push(range);
    }
    Ok(StatusCodes(out))
}

fn ca_file<E>(
    f: &Spanned<String>,
    base: &std::path::Path,
    key: &str,
    err: &dyn Fn(std::ops::Range<usize>, &str, String) -> E,
) -> Result<CaBundle, E> {
    let path = PathBuf::from(f.get_ref());
    // A relative path is relative to lvsd.toml's directory, not to the
    // daemon's working directory (which is / under systemd).
    let path = if path.is_relative() {
        base.parent()
            .unwrap_or(std::path::Path::new("."))
            .join(path)
    } else {
        path
    };
    let fail = |m: String| err(f.span(), key, format!("{}: {m}", path.display()));
    let bytes = super::toml::read_config_file(&path).map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_CA_BYTES {
        return Err(fail(format!("larger than {MAX_CA_BYTES} bytes")));
    }
    use rustls::pki_types::pem::PemObject;
    let mut n = 0usize;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&bytes) {
        c.map_err(|e| fail(format!("not a PEM certificate file: {e:?}")))?;
        n += 1;
    }
    if n == 0 {
        return Err(fail("holds no PEM certificate".into()));
    }
    Ok(CaBundle {
        path,
        pem: bytes.into(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::model::{Family, ServiceKey};

    fn parse(text: &str) -> Result<Vec<VirtualPolicy>, String> {
        crate::config::toml::parse(text, std::path::Path::new("/etc/lvsd/lvsd.toml"))
            .map(|t| t.virtuals)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn sections_parse_into_check_policy() {
        let v = parse(
            "[virtual.\"tcp:192.0.2.10:80\"]\nrise = 3\nslow_start = 20\n\
             status_code = [200, \"300-399\", \"404\"]\ndynamic_weight = true\n\
             agent_port = 9999\nagent_interval = 5\n\n[virtual.\"fwm:7\"]\n",
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        let p = v
            .iter()
            .find(|p| p.id.to_string() == "tcp:192.0.2.10:80")
            .unwrap();
        assert_eq!(p.at, "/etc/lvsd/lvsd.toml:1:1");
        assert_eq!(p.check.rise, 3);
        assert_eq!(p.check.slow_start, Duration::from_secs(20));
        let codes = p.check.status_codes.as_ref().unwrap();
        assert_eq!(codes.to_string(), "200,300-399,404");
        assert!(codes.contains(302) && codes.contains(404) && !codes.contains(201));
        assert!(p.check.dynamic_weight);
        let a = p.check.agent.unwrap();
        assert_eq!(
            (a.port, a.interval, a.timeout),
            (9999, Duration::from_secs(5), Duration::from_secs(2))
        );
        let f = v.iter().find(|p| p.id.to_string() == "fwm:7").unwrap();
        assert_eq!(f.check, CheckPolicy::default());
    }

    /// The keys take the control socket's syntax: `fwm6:N` (the IPv6
    /// mark only), a protocol word in any case; and "TCP:..:080" is the
    /// same virtual as "tcp:..:80".
    #[test]
    fn keys_share_the_control_socket_syntax() {
        let v = parse("[virtual.\"fwm6:7\"]\n[virtual.\"TCP:192.0.2.10:80\"]\n").unwrap();
        let six = v.iter().find(|p| p.id.to_string() == "fwm6:7").unwrap();
        let mark = |family| ServiceKey::Fwmark { family, mark: 7 };
        assert!(six.id.matches(&mark(Family::V6)) && !six.id.matches(&mark(Family::V4)));
        assert!(v.iter().any(|p| p.id.to_string() == "tcp:192.0.2.10:80"));
        let e = parse("[virtual.\"tcp:192.0.2.10:80\"]\n[virtual.\"TCP:192.0.2.10:080\"]\n")
            .unwrap_err();
        assert!(e.contains("has two sections"), "{e}");
        let e = parse("[virtual.\"fwm:7\"]\n[virtual.\"fwm6:7\"]\n").unwrap_err();
        assert!(e.contains("both name the IPv6 service"), "{e}");
    }

    #[test]
    fn errors_name_file_line_col_and_key() {
        let cases = [
            (
                "[virtual.\"tcp:1.2.3.4:80\"]\nrise = 0\n",
                "lvsd.toml:2:8: virtual.\"tcp:1.2.3.4:80\".rise: 0: must be 1 to 1000",
            ),
            (
                "[virtual.\"tcp:1.2.3.4:80\"]\nstatus_code = [200, \"399-300\"]\n",
                "lvsd.toml:2:21: virtual.\"tcp:1.2.3.4:80\".status_code: \"399-300\"",
            ),
            (
                "[virtual.\"tcp:1.2.3.4:80\"]\nstatus_code = [99]\n",
                "lvsd.toml:2:16: virtual.\"tcp:1.2.3.4:80\".status_code: 99",
            ),
            (
                "\n[virtual.\"tcp:1.2.3.4\"]\n",
                "lvsd.toml:2:1: virtual.\"tcp:1.2.3.4\": not a virtual",
            ),
            (
                "[virtual.\"tcp:1.2.3.4:80\"]\nagent_port = 0\n",
                "virtual.\"tcp:1.2.3.4:80\".agent_port: 0: must be 1 to 65535",
            ),
            (
                "[virtual.\"tcp:1.2.3.4:80\"]\nagent_timeout = 3\n",
                "lvsd.toml:2:17: virtual.\"tcp:1.2.3.4:80\".agent_port: agent_interval and agent_timeout need agent_port",
            ),
            (
                "[virtual.\"tcp:1.2.3.4:80\"]\nca_file = \"/nonexistent/ca.pem\"\n",
                "lvsd.toml:2:11: virtual.\"tcp:1.2.3.4:80\".ca_file: /nonexistent/ca.pem:",
            ),
            (
                "[virtual.\"tcp:1.2.3.4:80\"]\nslow_start = 99999\n",
                "slow_start: 99999: must be 0 to 3600",
            ),
            ("[virtual.\"tcp:1.2.3.4:80\"]\nbogus = 1\n", "lvsd.toml:2:1"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn ca_file_must_hold_a_pem_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate\n").unwrap();
        let toml = dir.path().join("lvsd.toml");
        let text = "[virtual.\"tcp:1.2.3.4:443\"]\nca_file = \"bad.pem\"\n";
        let e = crate::config::toml::parse(text, &toml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        // A relative path is relative to lvsd.toml; a real PEM is kept as bytes.
        let pem = "-----BEGIN CERTIFICATE-----\nMAoGCCqGSM49BAMC\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
        let text = "[virtual.\"tcp:1.2.3.4:443\"]\nca_file = \"ca.pem\"\n";
        let t = crate::config::toml::parse(text, &toml).unwrap();
        let ca = t.virtuals[0].check.ca.as_ref().unwrap();
        assert_eq!(ca.path, dir.path().join("ca.pem"));
        assert_eq!(&*ca.pem, pem.as_bytes());
    }
}
