//! `monitorfile`: a per-virtual log of check verdicts in ldirectord's line
//! format, `[localtime] [pid] <real id> [up|down] <message>`, so scripts
//! that parse ldirectord's monitor files keep working.
//!
//! The file is opened, appended to and closed for every line (as
//! ldirectord does), so logrotate needs no signal.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use crate::model::{CheckSpec, CheckType, Forward, Protocol, RealServer, ServiceKey};

/// ldirectord's real-server id (`get_real_id_str`) as it appears in a
/// monitor line: `check:protocol:server:port:virtualhost:checkport:weight:
/// forward:request:receive` with every run of `:` squeezed to one space
/// and backslashes removed.
pub fn real_id(service: &ServiceKey, real: &RealServer, check: &CheckSpec) -> String {
    let check_part = match check.checktype {
        CheckType::Negotiate => format!("negotiate:{}", check.service),
        CheckType::Combined(_) => format!("combined:{}", check.service),
        CheckType::External | CheckType::ExternalPerl => {
            format!("{}:{}", check.checktype.name(), check.checkcommand)
        }
        ref t => t.name(),
    };
    let protocol = match service {
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            ..
        } => "udp",
        ServiceKey::Addr {
            protocol: Protocol::Sctp,
            ..
        } => "sctp",
        ServiceKey::Addr { .. } => "tcp",
        ServiceKey::Fwmark { .. } => "fwm",
    };
    let forward = match real.forward {
        Forward::Masq => "masq",
        Forward::Tunnel => "ipip",
        _ => "gate",
    };
    let raw = format!(
        "{check_part}:{protocol}:{}:{}:{}:{}:{}:{forward}:{}:{}",
        real.addr,
        real.port,
        check.virtualhost.as_deref().unwrap_or(""),
        check.checkport.map(|p| p.to_string()).unwrap_or_default(),
        real.weight,
        check.request,
        check.receive,
    );
    // Perl: `tr/:/ /s` then `s/\\//g`.
    let mut out = String::with_capacity(raw.len());
    let mut in_colons = false;
    for c in raw.chars() {
        match c {
            ':' if in_colons => {}
            ':' => {
                out.push(' ');
                in_colons = true;
            }
            '\\' => {}
            c => {
                out.push(c);
                in_colons = false;
            }
        }
    }
    out
}

/// `%`, `|`, CR and LF as `%xx`; `-` for an empty message.
pub fn escape(msg: &str) -> String {
    if msg.is_empty() {
        return "-".into();
    }
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        match c {
            '%' | '|' | '\r' | '\n' => out.push_str(&format!("%{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// One monitor line (without the newline).
pub fn line(when: SystemTime, pid: u32, id: &str, up: bool, msg: &str) -> String {
    format!(
        "[{}] [{pid}] {id} [{}] {}",
        perl_localtime(when),
        if up { "up" } else { "down" },
        escape(msg)
    )
}

/// Append one verdict to `path`.
pub fn append(path: &Path, id: &str, up: bool, msg: &str) -> std::io::Result<()> {
    let l = line(SystemTime::now(), std::process::id(), id, up, msg);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(format!("{l}\n").as_bytes())
}

/// Perl's scalar `localtime`: `Tue Nov 24 05:01:39 2026` (day padded
/// with a space), in the local time zone.
pub fn perl_localtime(when: SystemTime) -> String {
    let secs = when
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = libc::time_t::try_from(secs).unwrap_or(0);
    // SAFETY: localtime_r only writes the tm we pass; tm is plain data.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return secs.to_string();
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = DAYS.get(tm.tm_wday as usize).copied().unwrap_or("???");
    let mon = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("???");
    format!(
        "{day} {mon} {:>2} {:02}:{:02}:{:02} {}",
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Service;
    use std::time::Duration;

    #[test]
    fn real_id_matches_ldirectord_observed_line() {
        // Observed with ldirectord 4.12: "negotiate http tcp 127.0.0.1 18081 3
        // masq /ok.html OK" (empty virtualhost and checkport squeezed).
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "127.0.0.1".parse().unwrap(),
            port: 8080,
        };
        let mut r = RealServer::new("127.0.0.1".parse().unwrap(), 18081);
        r.forward = Forward::Masq;
        r.weight = 3;
        let c = CheckSpec {
            checktype: CheckType::Negotiate,
            service: Service::Http,
            request: "/ok.html".into(),
            receive: "OK".into(),
            ..CheckSpec::defaults()
        };
        assert_eq!(
            real_id(&key, &r, &c),
            "negotiate http tcp 127.0.0.1 18081 3 masq /ok.html OK"
        );
        let c = CheckSpec {
            checktype: CheckType::Connect,
            checkport: Some(81),
            virtualhost: Some("www.example.org".into()),
            request: "/".into(),
            receive: String::new(),
            ..CheckSpec::defaults()
        };
        r.forward = Forward::Route;
        assert_eq!(
            real_id(&key, &r, &c),
            "connect tcp 127.0.0.1 18081 www.example.org 81 3 gate / "
        );
    }

    #[test]
    fn line_escapes_like_ldirectord() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let l = line(
            t,
            42,
            "connect tcp 10.0.0.2 80 1 gate / ",
            false,
            "a|b%c\r\n",
        );
        let stamp = perl_localtime(t);
        assert_eq!(
            l,
            format!("[{stamp}] [42] connect tcp 10.0.0.2 80 1 gate /  [down] a%7cb%25c%0d%0a")
        );
        assert!(line(t, 1, "x", true, "").ends_with("[up] -"));
        // "Mon Nov 24 16:00:00 2025"-like: weekday, month, padded day, time, year.
        let parts: Vec<&str> = stamp.split_whitespace().collect();
        assert_eq!(parts.len(), 5, "{stamp}");
        assert_eq!(parts[4], "2025");
        assert_eq!(stamp.len(), 24, "{stamp}");
    }

    #[test]
    fn append_adds_one_line_per_call() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mon.log");
        append(&p, "on tcp 10.0.0.2 80", true, "ok").unwrap();
        append(&p, "on tcp 10.0.0.2 80", false, "refused").unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].ends_with("on tcp 10.0.0.2 80 [up] ok"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with("[down] refused"), "{}", lines[1]);
        assert!(lines[1].contains(&format!("] [{}] ", std::process::id())));
    }
}
