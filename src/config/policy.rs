//! `[virtual."KEY"]` sections of `lvsd.toml`: per-virtual settings beyond
//! ldirectord.cf's language (which stays exactly ldirectord's). KEY is the
//! virtual as `lvsd probe` names it: `tcp:192.0.2.10:80`, `udp:...`,
//! `sctp:...`, `tcp:[2001:db8::1]:80`, `fwm:7`, `fwm6:7`.
//!
//! One raw struct ([`RawVirtualPolicy`]) and one validated struct
//! ([`VirtualPolicy`]); new keys are a field in each plus a line in
//! [`validate`]. Every error names `file:line:col` and the dotted key.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ::toml::Spanned;
use serde::Deserialize;

use crate::model::{AgentSpec, CaBundle, CheckPolicy, Family, Protocol, ServiceKey, StatusCodes};

/// Largest CA file read for `ca_file`.
const MAX_CA_BYTES: u64 = 1024 * 1024;

/// Longest `rise`: more successes in a row than this is a typo.
const MAX_RISE: i64 = 1000;

/// Longest `slow_start`, in seconds (one hour).
const MAX_SLOW_START: i64 = 3600;

/// One `[virtual."KEY"]` section as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawVirtualPolicy {
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
enum RawCode {
    One(i64),
    Range(String),
}

/// A validated `[virtual."KEY"]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualPolicy {
    /// The virtual it applies to.
    pub key: ServiceKey,
    /// KEY as written (for messages).
    pub name: String,
    /// `file:line:col` of the section's key, for "no such virtual".
    pub at: String,
    /// What it changes in the checks of the virtual's reals.
    pub check: CheckPolicy,
}

/// Parse a section key (`tcp:VIP:PORT`, `fwm:MARK`, ...).
pub fn parse_key(s: &str) -> Option<ServiceKey> {
    let (proto, rest) = s.split_once(':')?;
    let mark = |r: &str, family| {
        r.parse::<u32>()
            .ok()
            .filter(|m| *m > 0)
            .map(|mark| ServiceKey::Fwmark { family, mark })
    };
    let protocol = match proto {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        "fwm" => return mark(rest, Family::V4),
        "fwm6" => return mark(rest, Family::V6),
        _ => return None,
    };
    let (addr, port) = rest.rsplit_once(':')?;
    let addr: IpAddr = match addr.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']')?.parse().ok().filter(IpAddr::is_ipv6)?,
        None => addr.parse().ok().filter(IpAddr::is_ipv4)?,
    };
    let port = port.parse::<u16>().ok()?;
    Some(ServiceKey::Addr {
        protocol,
        addr,
        port,
    })
}

/// Validate one section. `err(span, key, msg)` builds the positioned error;
/// `at(span)` renders `file:line:col`.
pub(crate) fn validate<E>(
    name: &Spanned<String>,
    raw: &RawVirtualPolicy,
    base: &std::path::Path,
    err: &dyn Fn(std::ops::Range<usize>, &str, String) -> E,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
) -> Result<VirtualPolicy, E> {
    let sect = format!("virtual.{:?}", name.get_ref());
    let k = |key: &str| format!("{sect}.{key}");
    let key = parse_key(name.get_ref()).ok_or_else(|| {
        err(
            name.span(),
            &sect,
            format!(
                "invalid virtual {:?} (tcp:IP:PORT, udp:IP:PORT, sctp:IP:PORT, [IPv6] in brackets, fwm:MARK, fwm6:MARK)",
                name.get_ref()
            ),
        )
    })?;
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
    Ok(VirtualPolicy {
        key,
        name: name.get_ref().clone(),
        at: at(name.span()),
        check,
    })
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

    #[test]
    fn keys_are_probe_names() {
        assert_eq!(
            parse_key("tcp:192.0.2.10:80"),
            Some(ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "192.0.2.10".parse().unwrap(),
                port: 80
            })
        );
        assert_eq!(
            parse_key("udp:[2001:db8::1]:53"),
            Some(ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: "2001:db8::1".parse().unwrap(),
                port: 53
            })
        );
        assert_eq!(
            parse_key("fwm:7"),
            Some(ServiceKey::Fwmark {
                family: Family::V4,
                mark: 7
            })
        );
        for bad in [
            "tcp:2001:db8::1:80",
            "tcp:[192.0.2.1]:80",
            "tcp:192.0.2.1",
            "tcp:192.0.2.1:70000",
            "icmp:192.0.2.1:1",
            "fwm:0",
            "fwm:x",
            "192.0.2.1:80",
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }

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
        let p = v.iter().find(|p| p.name == "tcp:192.0.2.10:80").unwrap();
        assert_eq!(p.at, "/etc/lvsd/lvsd.toml:1:10");
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
        let f = v.iter().find(|p| p.name == "fwm:7").unwrap();
        assert_eq!(f.check, CheckPolicy::default());
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
                "lvsd.toml:2:10: virtual.\"tcp:1.2.3.4\": invalid virtual",
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
