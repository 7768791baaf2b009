//! Value grammar of each ldirectord.cf directive. Pure functions: text in,
//! typed value or "what was expected" out. Name resolution and inheritance
//! happen later, in `validate`.
//!
//! Where ldirectord 4.12's regexes are unanchored and silently drop text
//! (`real=1.2.3.4:80 gate junk 5`, `virtual=1.2.3.4` read as fwmark 1,
//! `scheduler=Wlc` read as `lc`), lvsd reports an error instead; where they
//! tolerate harmless trailing text (numbers like `5s`, trailing blanks or
//! CR), lvsd accepts it as ldirectord does.

use crate::model::{CheckType, Forward, HttpMethod, Service, ServiceFlags};

use super::AlertStatus;

/// Result of parsing one value: the value or what was expected.
pub type Parsed<T> = Result<T, String>;

/// Schedulers the Linux kernel ships (`ip_vs_*.ko`), as of 6.x.
pub const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// Drop a trailing ` # comment` and surrounding blanks (ldirectord has no
/// comments on global lines, but its yes/no and number regexes either
/// tolerate or choke on them; users mean a comment).
pub fn clean(v: &str) -> &str {
    let mut v = v;
    if let Some(i) = v.find(" #").or_else(|| v.find("\t#")) {
        v = v.get(..i).unwrap_or(v);
    }
    v.trim()
}

/// `yes` or `no`.
pub fn yes_no(v: &str) -> Parsed<bool> {
    match clean(v) {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(format!("expected 'yes' or 'no', found {other:?}")),
    }
}

/// The first run of digits anywhere in the value, as ldirectord's `(\d+)`
/// takes it (`5s` is 5).
pub fn number(v: &str) -> Parsed<u32> {
    let start = v
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| format!("expected a number, found {:?}", v.trim()))?;
    let rest = v.get(start..).unwrap_or("");
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let digits = rest.get(..end).unwrap_or("");
    digits
        .parse::<u32>()
        .map_err(|_| format!("number {digits} is too large"))
}

/// A number greater than 0.
pub fn positive(v: &str) -> Parsed<u32> {
    match number(v)? {
        0 => Err("expected a number greater than 0".into()),
        n => Ok(n),
    }
}

/// A number that must start the value (`emailalertfreq` reads `(\d*)`).
pub fn leading_number(v: &str) -> Parsed<u32> {
    if !v.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "expected a number of seconds, found {:?}",
            v.trim()
        ));
    }
    number(v)
}

/// `"..."`: the text between the first and the last double quote (Perl's
/// greedy `"(.*)"`); text after the closing quote is ignored as ldirectord
/// ignores it.
pub fn quoted(v: &str) -> Parsed<String> {
    let Some(rest) = v.strip_prefix('"') else {
        return Err(format!(
            "expected a double-quoted string, found {:?}",
            v.trim()
        ));
    };
    match rest.rfind('"') {
        Some(i) => Ok(rest.get(..i).unwrap_or("").to_string()),
        None => Err("unterminated quote: expected a closing \"".into()),
    }
}

/// A non-empty `"..."`.
pub fn quoted_nonempty(v: &str) -> Parsed<String> {
    let s = quoted(v)?;
    if s.is_empty() {
        return Err("expected a non-empty double-quoted string".into());
    }
    Ok(s)
}

/// Quotes optional: `"x"` gives `x`, anything else is taken as is.
pub fn maybe_quoted(v: &str) -> Parsed<String> {
    let s = match quoted(v) {
        Ok(s) => s,
        Err(_) => v.trim().to_string(),
    };
    if s.is_empty() {
        return Err("expected a value".into());
    }
    Ok(s)
}

/// `monitorfile`: a path (quotes optional) that can be appended to.
/// ldirectord opens (and so creates) it while parsing; checking without
/// creating keeps `check-config` free of side effects: an existing file
/// must be writable, a new one needs an existing directory.
pub fn monitorfile(v: &str) -> Parsed<std::path::PathBuf> {
    let p = std::path::PathBuf::from(maybe_quoted(v)?);
    let cannot =
        |e: &dyn std::fmt::Display| format!("unable to open monitorfile {}: {e}", p.display());
    // Not `exists()`/a plain open: both follow a symlink, and opening a
    // FIFO for writing blocks until a reader comes (check-config hung).
    if let Ok(meta) = std::fs::symlink_metadata(&p) {
        if meta.file_type().is_symlink() {
            return Err(cannot(&"is a symbolic link"));
        }
        if !meta.is_file() {
            return Err(cannot(&"not a regular file"));
        }
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .append(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&p)
            .map_err(|e| cannot(&e))?;
    } else {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        if !dir.is_dir() {
            return Err(cannot(&"No such file or directory"));
        }
    }
    Ok(p)
}

/// `checktype`: a word, or a number (combined check).
pub fn checktype(v: &str) -> Parsed<CheckType> {
    // ldirectord tests for digits first: any value with digits is "N".
    if v.contains(|c: char| c.is_ascii_digit()) {
        return number(v).map(CheckType::Combined);
    }
    let word: String = v
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    Ok(match word.as_str() {
        "connect" => CheckType::Connect,
        "negotiate" => CheckType::Negotiate,
        "ping" => CheckType::Ping,
        "external" => CheckType::External,
        "external-perl" => CheckType::ExternalPerl,
        "on" => CheckType::On,
        "off" => CheckType::Off,
        _ => {
            return Err(format!(
                "expected connect, negotiate, on, off, ping, external, external-perl or a number, found {:?}",
                v.trim()
            ))
        }
    })
}

fn first_word(v: &str) -> &str {
    let v = v.trim_start();
    let end = v
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(v.len());
    v.get(..end).unwrap_or("")
}

/// `service`.
pub fn service(v: &str) -> Parsed<Service> {
    Service::from_name(first_word(v)).ok_or_else(|| {
        let names: Vec<&str> = Service::ALL.iter().map(|s| s.name()).collect();
        format!(
            "unknown service {:?}: expected one of {}",
            v.trim(),
            names.join(", ")
        )
    })
}

/// `scheduler`: a known IPVS scheduler name.
pub fn scheduler(v: &str) -> Parsed<String> {
    let s = v.trim();
    if SCHEDULERS.contains(&s) {
        return Ok(s.to_string());
    }
    Err(format!(
        "unknown scheduler {s:?}: expected one of {}",
        SCHEDULERS.join(", ")
    ))
}

/// `schedflags` (ipvsadm `-b`): comma-separated flag names, as bits; the
/// scheduler they need (if any) is checked by the caller.
pub fn schedflags(v: &str) -> Parsed<(u32, Option<&'static str>)> {
    let mut bits = 0;
    let mut needs = None;
    let word = v.split_whitespace().next().unwrap_or("");
    for f in word.split(',') {
        let Some((bit, sched)) = ServiceFlags::from_word(f) else {
            return Err(format!(
                "unknown scheduler flag {f:?}: expected sh-fallback, sh-port, mh-fallback, mh-port or flag-1..flag-3"
            ));
        };
        bits |= bit;
        if sched.is_some() {
            needs = sched;
        }
    }
    Ok((bits, needs))
}

/// `netmask` of an IPv4 service: dotted quad, as a host-order u32.
pub fn netmask_v4(v: &str) -> Parsed<u32> {
    let a: std::net::Ipv4Addr = v
        .trim()
        .parse()
        .map_err(|_| format!("expected a dotted-quad netmask, found {:?}", v.trim()))?;
    Ok(u32::from(a))
}

/// `netmask` of an IPv6 service: prefix length 1..=128.
pub fn netmask_v6(v: &str) -> Parsed<u32> {
    match v.trim().parse::<u32>() {
        Ok(n) if (1..=128).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a prefix length between 1 and 128, found {:?}",
            v.trim()
        )),
    }
}

/// Transport named by `protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolWord {
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `fwm`.
    Fwm,
}

/// `protocol`.
pub fn protocol(v: &str) -> Parsed<ProtocolWord> {
    match first_word(v) {
        "tcp" => Ok(ProtocolWord::Tcp),
        "udp" => Ok(ProtocolWord::Udp),
        "fwm" => Ok(ProtocolWord::Fwm),
        _ => Err(format!("expected tcp, udp or fwm, found {:?}", v.trim())),
    }
}

/// `httpmethod` (case-insensitive).
pub fn httpmethod(v: &str) -> Parsed<HttpMethod> {
    match first_word(v).to_ascii_uppercase().as_str() {
        "GET" => Ok(HttpMethod::Get),
        "HEAD" => Ok(HttpMethod::Head),
        _ => Err(format!("expected GET or HEAD, found {:?}", v.trim())),
    }
}

/// `emailalertstatus`: comma list of all, none, starting, running,
/// stopping, reloading (`none` alone).
pub fn emailalertstatus(v: &str) -> Parsed<AlertStatus> {
    let words: Vec<&str> = clean(v).split(',').map(str::trim).collect();
    let none = words.contains(&"none");
    let mut st = AlertStatus::NONE;
    for w in &words {
        match *w {
            "none" => continue,
            "all" => st = AlertStatus::ALL,
            "starting" => st.starting = true,
            "running" => st.running = true,
            "stopping" => st.stopping = true,
            "reloading" => st.reloading = true,
            other => {
                return Err(format!(
                    "invalid status {other:?}: expected all, none, starting, running, stopping or reloading"
                ))
            }
        }
        if none {
            return Err(format!("{w:?} cannot be combined with \"none\""));
        }
    }
    Ok(st)
}

/// `emailalert`: enclosing quotes stripped, non-empty.
pub fn emailalert(v: &str) -> Parsed<String> {
    let t = v.trim_end();
    let s = t
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .filter(|x| !x.contains('"'))
        .unwrap_or(t);
    if s.is_empty() {
        return Err("expected an e-mail address".into());
    }
    Ok(s.to_string())
}

/// `smtp`: a host name or address (no quotes).
pub fn smtp(v: &str) -> Parsed<String> {
    let v = clean(v);
    let ok = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c));
    if !ok {
        return Err(format!(
            "expected an SMTP server host name or address, found {v:?}"
        ));
    }
    Ok(v.to_string())
}

/// Forwarding word of `real`/`fallback`.
pub fn forward(w: &str) -> Parsed<Forward> {
    match w {
        "gate" => Ok(Forward::Route),
        "masq" => Ok(Forward::Masq),
        "ipip" => Ok(Forward::Tunnel),
        other => Err(format!(
            "expected forwarding method gate, masq or ipip, found {other:?}"
        )),
    }
}

/// Host part of `real`, `fallback` or `virtual`: `[v6]`, an IPv4 address
/// or a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host without brackets.
    pub host: String,
    /// Port or service name, if given.
    pub port: Option<String>,
}

fn valid_port_word(p: &str) -> bool {
    !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' || c == '+')
}

/// `HOST[:PORT]` where HOST may be `[v6]`.
pub fn host_port(s: &str) -> Parsed<HostPort> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(format!("unterminated [ in address {s:?}"));
        };
        let host = rest.get(..end).unwrap_or("");
        let after = rest.get(end + 1..).unwrap_or("");
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("invalid IPv6 address {s:?}"));
        }
        let port = match after {
            "" => None,
            a => match a.strip_prefix(':') {
                Some(p) if valid_port_word(p) => Some(p.to_string()),
                _ => return Err(format!("expected [ADDRESS]:PORT, found {s:?}")),
            },
        };
        return Ok(HostPort {
            host: host.to_string(),
            port,
        });
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if !valid_host(host) {
        return Err(format!(
            "expected an IPv4 address or host name (IPv6 in brackets), found {host:?}"
        ));
    }
    if let Some(p) = port {
        if !valid_port_word(p) {
            return Err(format!(
                "expected a port number or service name after ':', found {p:?}"
            ));
        }
    }
    Ok(HostPort {
        host: host.to_string(),
        port: port.map(str::to_string),
    })
}

/// Parsed `virtual=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// `ADDRESS:PORT` / `HOST:PORT` / `[V6]:PORT`.
    Addr(HostPort),
    /// `MARK`.
    Fwmark(u32),
}

/// `virtual=` / `virtual6=`.
pub fn header(v: &str) -> Parsed<Header> {
    let v = clean(v);
    // ldirectord ignores text after the address; lvsd accepts a trailing
    // comment only (see `clean`).
    let word = v.split_whitespace().next().unwrap_or("");
    if word.len() != v.len() {
        return Err(format!(
            "unexpected text after the address: {:?}",
            v.get(word.len()..).unwrap_or("").trim()
        ));
    }
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()) {
        return match word.parse::<u32>() {
            Ok(0) | Err(_) => Err(format!(
                "firewall mark must be between 1 and 4294967295, found {word}"
            )),
            Ok(n) => Ok(Header::Fwmark(n)),
        };
    }
    let hp = host_port(word).map_err(|e| {
        format!("{e}; expected ADDRESS:PORT, HOST:PORT, [IPV6]:PORT or a firewall mark")
    })?;
    if hp.port.is_none() {
        return Err(format!(
            "missing port in {word:?}: expected ADDRESS:PORT (or a firewall mark number)"
        ));
    }
    Ok(Header::Addr(hp))
}

/// Parsed `real=` value (before resolution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealLine {
    /// First (or only) host.
    pub first: HostPort,
    /// Last host of a `->` range.
    pub last: Option<String>,
    /// Forwarding method.
    pub forward: Forward,
    /// Weight (default 1).
    pub weight: u32,
    /// Per-real `"request", "receive"` pair (request gets a leading `/`).
    pub request_receive: Option<(String, String)>,
    /// `l:N`.
    pub l_threshold: u32,
    /// `u:N`.
    pub u_threshold: u32,
}

fn threshold(tok: &str, key: char) -> Option<Parsed<u32>> {
    let t = tok.trim_matches('"');
    let t = t
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(t);
    let n = t.strip_prefix(key)?.strip_prefix(':')?;
    Some(
        n.parse::<u32>()
            .ok()
            .filter(|n| *n <= i32::MAX as u32)
            .ok_or_else(|| {
                format!("expected {key}:N with N between 0 and 2147483647, found {tok:?}")
            }),
    )
}

/// Per-real request/receive pair: `"REQ"[, ]\s*"RECV"` with Perl's greedy
/// matching. Returns the pair and the rest.
fn request_pair(s: &str) -> Option<((String, String), &str)> {
    let rest = s.strip_prefix('"')?;
    // Greedy first group: try the longest candidate first.
    let bytes = rest.as_bytes();
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        if bytes.get(i) != Some(&b'"') {
            continue;
        }
        let after = rest.get(i + 1..).unwrap_or("");
        let Some(after) = after.strip_prefix([',', ' ']) else {
            continue;
        };
        let after = after.trim_start();
        let Some(recv_and_rest) = after.strip_prefix('"') else {
            continue;
        };
        let Some(j) = recv_and_rest.rfind('"') else {
            continue;
        };
        let req = rest.get(..i).unwrap_or("").to_string();
        let recv = recv_and_rest.get(..j).unwrap_or("").to_string();
        return Some(((req, recv), recv_and_rest.get(j + 1..).unwrap_or("")));
    }
    None
}

/// `real=HOST[->HOST2][:PORT] gate|masq|ipip [WEIGHT] ["REQ", "RECV"]
/// [l:N] [u:N]`.
pub fn real(v: &str) -> Parsed<RealLine> {
    let v = v.trim();
    let (addr, rest) = match v.find(char::is_whitespace) {
        Some(i) => (v.get(..i).unwrap_or(""), v.get(i..).unwrap_or("")),
        None => (v, ""),
    };
    // (a range's arrow looked for only when there is a '>': a substring
    // search is set up per call, and most lines are single addresses)
    let arrow = addr.contains('>').then(|| addr.split_once("->")).flatten();
    let (first, last) = match arrow {
        Some((a, b)) => {
            let hp = host_port(b)?;
            let f = host_port(a)?;
            if f.port.is_some() {
                return Err(format!(
                    "the port goes after the last address of a range: {addr:?}"
                ));
            }
            (
                HostPort {
                    host: f.host,
                    port: hp.port,
                },
                Some(hp.host),
            )
        }
        None => (host_port(addr)?, None),
    };
    let rest = rest.trim_start();
    let fwd_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let fwd_word = rest.get(..fwd_end).unwrap_or("");
    if fwd_word.is_empty() {
        return Err(
            "missing forwarding method: expected gate, masq or ipip after the address".into(),
        );
    }
    let forward = forward(fwd_word)?;
    let mut rest = rest.get(fwd_end..).unwrap_or("");
    let mut weight = 1;
    let t = rest.trim_start();
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let w = t.get(..end).unwrap_or("");
        weight = match w.parse::<u32>() {
            Ok(n) if n <= 65535 => n,
            _ => return Err(format!("weight {w} out of range: expected 0..65535")),
        };
        rest = t.get(end..).unwrap_or("");
        if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
            return Err(format!(
                "expected a weight (a number), found {:?}",
                t.split_whitespace().next().unwrap_or("")
            ));
        }
    }
    let mut request_receive = None;
    let t = rest.trim_start();
    if t.starts_with('"') {
        match request_pair(t) {
            Some(((req, recv), after)) => {
                let lt = threshold(&format!("\"{req}\""), 'l');
                let ut = threshold(&format!("\"{recv}\""), 'u');
                if let (Some(Ok(_)), Some(Ok(_))) = (&lt, &ut) {
                    // `"l:10" "u:20"`: the man page quotes thresholds; ldirectord
                    // then silently uses them as request/receive. Users mean
                    // thresholds.
                    rest = t;
                } else {
                    let req = if req.starts_with('/') {
                        req
                    } else {
                        format!("/{req}")
                    };
                    request_receive = Some((req, recv));
                    rest = after;
                }
            }
            None => {
                if threshold(t.split_whitespace().next().unwrap_or(""), 'l').is_none()
                    && threshold(t.split_whitespace().next().unwrap_or(""), 'u').is_none()
                {
                    return Err(format!(
                        "expected \"REQUEST\", \"RECEIVE\" (two double-quoted strings), found {t:?}"
                    ));
                }
                rest = t;
            }
        }
    }
    let mut l_threshold = 0;
    let mut u_threshold = 0;
    let mut toks = rest.split_whitespace().peekable();
    if let Some(r) = toks.peek().and_then(|t| threshold(t, 'l')) {
        l_threshold = r?;
        toks.next();
    }
    if let Some(r) = toks.peek().and_then(|t| threshold(t, 'u')) {
        u_threshold = r?;
        toks.next();
    }
    let left: Vec<&str> = toks.collect();
    if !left.is_empty() {
        return Err(format!(
            "unexpected {:?}: expected [WEIGHT] [\"REQUEST\", \"RECEIVE\"] [l:N] [u:N] after the forwarding method",
            left.join(" ")
        ));
    }
    Ok(RealLine {
        first,
        last,
        forward,
        weight,
        request_receive,
        l_threshold,
        u_threshold,
    })
}

/// Parsed `fallback=` value (before resolution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackLine {
    /// Host and optional port.
    pub at: HostPort,
    /// Forwarding method (default gate).
    pub forward: Forward,
}

/// `fallback=HOST[:PORT] [gate|masq|ipip]` (no quotes).
pub fn fallback(v: &str) -> Parsed<FallbackLine> {
    let words: Vec<&str> = clean(v).split_whitespace().collect();
    let (addr, fwd) = match words.as_slice() {
        [a] => (*a, None),
        [a, f] => (*a, Some(*f)),
        [] => return Err("expected HOST[:PORT] [gate|masq|ipip]".into()),
        _ => {
            return Err(format!(
                "expected HOST[:PORT] [gate|masq|ipip], found {:?}",
                clean(v)
            ))
        }
    };
    if addr.starts_with('"') {
        return Err("the fallback address must not be quoted".into());
    }
    Ok(FallbackLine {
        at: host_port(addr)?,
        forward: match fwd {
            Some(f) => forward(f)?,
            None => Forward::Route,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_forms() {
        let r = real("192.168.1.2:80 masq 3").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.first.host, "192.168.1.2");
        assert_eq!(r.first.port.as_deref(), Some("80"));
        assert_eq!(r.forward, Forward::Masq);
        assert_eq!(r.weight, 3);
        let r = real("10.0.0.1->10.0.0.4:http gate 2 \"/a.html\", \"ok\" l:5 u:9")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.last.as_deref(), Some("10.0.0.4"));
        assert_eq!(r.first.port.as_deref(), Some("http"));
        assert_eq!(r.request_receive, Some(("/a.html".into(), "ok".into())));
        assert_eq!((r.l_threshold, r.u_threshold), (5, 9));
        let r = real("[2001:db8::1]:80 gate \"x\" \"y\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.first.host, "2001:db8::1");
        assert_eq!(r.request_receive, Some(("/x".into(), "y".into())));
        let r = real("10.0.0.1 gate \"l:10\" \"u:20\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.l_threshold, r.u_threshold, r.request_receive),
            (10, 20, None)
        );
        let r = real("10.0.0.1:80 ipip u:7").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.l_threshold, r.u_threshold), (0, 7));
    }

    #[test]
    fn real_errors() {
        assert!(real("10.0.0.1:80").is_err());
        assert!(real("10.0.0.1:80 route").is_err());
        assert!(real("10.0.0.1:80 gate 70000").is_err());
        assert!(real("10.0.0.1:80 gate 1 junk").is_err());
        assert!(real("10.0.0.1::80 gate").is_err());
        assert!(real("10.0.0.1:80 gate \"/x\"").is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(header("7"), Ok(Header::Fwmark(7)));
        assert!(header("0").is_err());
        assert!(header("1.2.3.4").is_err());
        assert!(header("1.2.3.4:80 x").is_err());
        assert!(header("1.2.3.4:80 # web").is_ok());
        match header("[::1]:http") {
            Ok(Header::Addr(hp)) => {
                assert_eq!(hp.host, "::1");
                assert_eq!(hp.port.as_deref(), Some("http"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn small_values() {
        assert_eq!(yes_no("yes\r"), Ok(true));
        assert!(yes_no("Yes").is_err());
        assert_eq!(number("5s"), Ok(5));
        assert!(positive("0").is_err());
        assert_eq!(quoted("\"a\" b"), Ok("a".into()));
        assert!(quoted("\"a").is_err());
        assert!(quoted("a").is_err());
        assert_eq!(maybe_quoted("\"/bin/x\""), Ok("/bin/x".into()));
        assert_eq!(checktype("5"), Ok(CheckType::Combined(5)));
        assert_eq!(checktype("external-perl"), Ok(CheckType::ExternalPerl));
        assert!(checktype("tcp").is_err());
        assert!(scheduler("foo").is_err());
        assert_eq!(netmask_v4("255.255.255.0"), Ok(0xffff_ff00));
        assert!(netmask_v6("129").is_err());
        assert_eq!(httpmethod("head"), Ok(HttpMethod::Head));
        assert!(emailalertstatus("none,running").is_err());
        assert_eq!(
            emailalertstatus("starting, running").map(|s| (s.starting, s.stopping)),
            Ok((true, false))
        );
        assert_eq!(emailalert("\"a@b, c@d\""), Ok("a@b, c@d".into()));
        assert_eq!(schedflags("sh-fallback,sh-port"), Ok((0x18, Some("sh"))));
        let f = fallback("127.0.0.1:80 masq").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.forward, Forward::Masq);
        assert!(fallback("\"127.0.0.1:80\"").is_err());
    }
}
