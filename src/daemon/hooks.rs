//! Side effects ldirectord users rely on: `fallbackcommand`, `callback`
//! and alert mail through the local MTA. Each runs in its own task with a
//! time limit, so a hanging script or MTA never stalls reconciling (in
//! ldirectord they run synchronously inside the check loop).

use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::model::{Protocol, ServiceKey};

use super::plan::{Alerts, Phase};

/// Longest a hook may run before it is killed.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// The MTA entry point every Debian MTA (exim, postfix, msmtp-mta, ...) provides.
const SENDMAIL: &str = "/usr/sbin/sendmail";

/// `VIP:VPORT PROTO` as ldirectord passes them to `fallbackcommand`
/// (`:0`-less mark for fwmark services, proto `fwm`).
pub fn fallback_args(key: &ServiceKey) -> (String, &'static str) {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let proto = match protocol {
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
                _ => "tcp",
            };
            let a = match addr {
                IpAddr::V4(a) => format!("{a}:{port}"),
                IpAddr::V6(a) => format!("[{a}]:{port}"),
            };
            (a, proto)
        }
        // ldirectord has no server field for marks and prints ":0".
        ServiceKey::Fwmark { .. } => (":0".to_string(), "fwm"),
    }
}

/// Run `fallbackcommand start|stop VIP:VPORT PROTO` through the shell
/// (ldirectord uses `system()`, so the command may carry arguments).
pub fn spawn_fallbackcommand(cmd: &str, start: bool, key: &ServiceKey) {
    let (addr, proto) = fallback_args(key);
    let verb = if start { "start" } else { "stop" };
    let line = format!("{cmd} {verb} {addr} {proto}");
    spawn_shell(line);
}

/// Run `callback CONFIG` when the config file changed (ldirectord: only if
/// the program is executable).
pub fn spawn_callback(cmd: &str, config: &Path) {
    spawn_shell(format!(
        "{cmd} {}",
        shell_quote(&config.display().to_string())
    ));
}

fn spawn_shell(line: String) {
    tokio::spawn(async move {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(&line)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(HOOK_TIMEOUT, c.status()).await {
            Ok(Ok(st)) if st.success() => tracing::info!(command = %line, "ran command"),
            Ok(Ok(st)) => tracing::warn!(command = %line, status = %st, "command failed"),
            Ok(Err(e)) => tracing::warn!(command = %line, error = %e, "running command failed"),
            Err(_) => tracing::warn!(command = %line, "command timed out and was killed"),
        }
    });
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Whether alerts go out in `phase`.
pub fn alerts_enabled(alerts: &Alerts, phase: Phase) -> bool {
    !alerts.to.is_empty() && alerts.phases.contains(&phase)
}

/// The mail ldirectord sends: subject = the log message (prefixed with the
/// service name), body = host, message, daemon status, name and comment.
pub fn alert_message(alerts: &Alerts, subject: &str, phase: Phase, host: &str) -> String {
    let subj = match &alerts.servicename {
        Some(n) => format!("[{n}] {subject}"),
        None => subject.to_string(),
    };
    let mut m = String::new();
    if let Some(f) = &alerts.from {
        m.push_str(&format!("From: {f}\n"));
    }
    m.push_str(&format!("To: {}\n", alerts.to.join(", ")));
    m.push_str(&format!("Subject: {subj}\n\n"));
    m.push_str(&format!(
        "lvsd host: {host}\nLog-Message: {subject}\nDaemon-Status: {}\n",
        phase.name()
    ));
    if let Some(n) = &alerts.servicename {
        m.push_str(&format!("Service name: {n}\n"));
    }
    if let Some(c) = &alerts.comment {
        m.push_str(&format!("Comment: {c}\n"));
    }
    m
}

/// Hand a mail to the local MTA (`sendmail -t`).
pub fn spawn_mail(message: String) {
    tokio::spawn(async move {
        let child = Command::new(SENDMAIL)
            .arg("-t")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, mta = SENDMAIL, "cannot send alert mail");
                return;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            if let Err(e) = stdin.write_all(message.as_bytes()).await {
                tracing::warn!(error = %e, "writing alert mail failed");
            }
        }
        match tokio::time::timeout(HOOK_TIMEOUT, child.wait()).await {
            Ok(Ok(st)) if st.success() => {}
            Ok(Ok(st)) => tracing::warn!(status = %st, "sendmail failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "sendmail failed"),
            Err(_) => tracing::warn!("sendmail timed out"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Family;

    #[test]
    fn fallback_arguments_match_ldirectord() {
        let k = ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 53,
        };
        assert_eq!(fallback_args(&k), ("10.0.0.1:53".to_string(), "udp"));
        let k6 = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "2001:db8::1".parse().unwrap(),
            port: 80,
        };
        assert_eq!(fallback_args(&k6), ("[2001:db8::1]:80".to_string(), "tcp"));
        let f = ServiceKey::Fwmark {
            family: Family::V4,
            mark: 7,
        };
        assert_eq!(fallback_args(&f), (":0".to_string(), "fwm"));
    }

    #[test]
    fn alert_mail_has_ldirectord_layout() {
        let a = Alerts {
            to: vec!["ops@example.org".into(), "b@example.org".into()],
            from: Some("lvs@example.org".into()),
            servicename: Some("web".into()),
            comment: Some("front".into()),
            phases: [Phase::Running].into_iter().collect(),
            ..Default::default()
        };
        assert!(alerts_enabled(&a, Phase::Running));
        assert!(!alerts_enabled(&a, Phase::Starting));
        let m = alert_message(
            &a,
            "Deleted real server: 10.1.0.1:80 (10.0.0.1:80)",
            Phase::Running,
            "d1",
        );
        assert_eq!(
            m,
            "From: lvs@example.org\nTo: ops@example.org, b@example.org\n\
             Subject: [web] Deleted real server: 10.1.0.1:80 (10.0.0.1:80)\n\n\
             lvsd host: d1\nLog-Message: Deleted real server: 10.1.0.1:80 (10.0.0.1:80)\n\
             Daemon-Status: running\nService name: web\nComment: front\n"
        );
    }

    #[tokio::test]
    async fn fallbackcommand_gets_start_and_address() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let cmd = format!("echo >>{}", out.display());
        let k = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        spawn_fallbackcommand(&cmd, true, &k);
        for _ in 0..100 {
            if std::fs::read_to_string(&out).is_ok_and(|s| !s.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "start 10.0.0.1:80 tcp\n"
        );
    }
}
