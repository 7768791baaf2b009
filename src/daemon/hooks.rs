//! Side effects ldirectord users rely on: `fallbackcommand`, `callback`
//! and alert mail through the local MTA. Each runs in its own task with a
//! time limit, so a hanging script or MTA never stalls reconciling (in
//! ldirectord they run synchronously inside the check loop).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::child::{self, Leftovers, Outcome};
use crate::model::ServiceKey;

use super::plan::{Alerts, Phase};

/// Longest a hook may run before it is killed.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// The MTA entry point every Debian MTA (exim, postfix, msmtp-mta, ...) provides.
pub const SENDMAIL: &str = "/usr/sbin/sendmail";

/// The set hook tasks run in: the caller owns it and waits for it at stop,
/// so no hook outlives the daemon unseen.
pub type Tasks = tokio::task::JoinSet<()>;

/// `VIP:VPORT PROTO` as ldirectord passes them to `fallbackcommand`
/// (`:0`-less mark for fwmark services, proto `fwm`).
pub fn fallback_args(key: &ServiceKey) -> (String, &'static str) {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            // ldirectord's words; a protocol it has none for is tcp.
            let proto = protocol.name().unwrap_or("tcp");
            let a = crate::model::host_port(*addr, *port);
            (a, proto)
        }
        // ldirectord has no server field for marks and prints ":0".
        ServiceKey::Fwmark { .. } => (":0".to_string(), "fwm"),
    }
}

/// Run `fallbackcommand start|stop VIP:VPORT PROTO` through the shell
/// (ldirectord uses `system()`, so the command may carry arguments).
/// The task runs in `tasks` (the engine's, awaited at stop).
pub fn spawn_fallbackcommand(tasks: &mut Tasks, cmd: &str, start: bool, key: &ServiceKey) {
    let (addr, proto) = fallback_args(key);
    let verb = if start { "start" } else { "stop" };
    let line = format!("{cmd} {verb} {addr} {proto}");
    spawn_shell(tasks, line);
}

/// Run `callback CONFIG` when the config file changed (ldirectord: only if
/// the program is executable).
/// The task runs in `tasks`.
pub fn spawn_callback(tasks: &mut Tasks, cmd: &str, config: &Path) {
    spawn_shell(
        tasks,
        format!("{cmd} {}", shell_quote(&config.display().to_string())),
    );
}

fn spawn_shell(tasks: &mut Tasks, line: String) {
    tasks.spawn(async move {
        let mut c = Command::new("/bin/sh");
        // Nothing of the daemon's is inherited: a command left running
        // would otherwise hold lvsd's stdout/stderr (a supervisor's pipe)
        // open after lvsd ended.
        c.arg("-c")
            .arg(&line)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Own process group, killed whole on timeout (and if the daemon
        // drops the task at shutdown); what it leaves after a normal exit
        // is kept (a fallbackcommand may start a service on purpose).
        match child::run(c, HOOK_TIMEOUT, None, Leftovers::Keep).await {
            Ok(Outcome::Exited(st)) if st.success() => {
                tracing::info!(command = %line, "ran command")
            }
            Ok(Outcome::Exited(st)) => {
                tracing::warn!(command = %line, status = %st, "command failed")
            }
            Err(e) => tracing::warn!(command = %line, error = %e, "running command failed"),
            Ok(Outcome::TimedOut) => {
                tracing::warn!(command = %line, "command timed out and was killed")
            }
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
    // Defence in depth: the subject carries a real's check detail (already
    // sanitized where it enters the daemon), but a header value must never
    // hold a CR or LF whatever the caller passes, or `sendmail -t` would
    // read an injected header (Bcc:) from it.
    let subject = header_value(subject);
    let subj = match &alerts.servicename {
        Some(n) => format!("[{}] {subject}", header_value(n)),
        None => subject.clone(),
    };
    let mut m = String::new();
    if let Some(f) = &alerts.from {
        m.push_str(&format!("From: {}\n", header_value(f)));
    }
    m.push_str(&format!("To: {}\n", header_value(&alerts.to.join(", "))));
    m.push_str(&format!("Subject: {subj}\n\n"));
    m.push_str(&format!(
        "lvsd host: {}\nLog-Message: {subject}\nDaemon-Status: {}\n",
        header_value(host),
        phase.name()
    ));
    if let Some(n) = &alerts.servicename {
        m.push_str(&format!("Service name: {}\n", header_value(n)));
    }
    if let Some(c) = &alerts.comment {
        m.push_str(&format!("Comment: {}\n", header_value(c)));
    }
    m
}

/// Longest header value put in an alert mail (RFC 5322 allows 998 bytes
/// per line; the header name and the service name come on top).
const MAX_HEADER_VALUE: usize = 900;

/// One line of clean text for a mail header or body line.
fn header_value(s: &str) -> String {
    crate::model::text::sanitize_to(s, MAX_HEADER_VALUE)
}

/// Send an alert: through the `smtp` server when the virtual names one
/// (port 25, as ldirectord's Net::SMTP), else through the local MTA
/// (`sendmail -t`, the program at `sendmail`).
/// The task runs in `tasks`.
pub fn spawn_mail(tasks: &mut Tasks, message: String, alerts: &Alerts, sendmail: &Path) {
    match &alerts.smtp {
        Some(server) => {
            let server = server.clone();
            let to = alerts.to.clone();
            tasks.spawn(async move {
                let from = envelope_from();
                let work = send_smtp(&server, SMTP_PORT, &from, &to, &message);
                match tokio::time::timeout(HOOK_TIMEOUT, work).await {
                    Ok(Ok(())) => tracing::debug!(%server, "alert mail sent"),
                    Ok(Err(e)) => {
                        tracing::warn!(%server, error = %e, "failed to send SMTP email message")
                    }
                    Err(_) => tracing::warn!(%server, "SMTP server timed out"),
                }
            });
        }
        None => spawn_sendmail(tasks, message, sendmail.to_path_buf()),
    }
}

/// The SMTP port ldirectord's `smtp=` uses (Net::SMTP's default).
pub const SMTP_PORT: u16 = 25;

/// `user@hostname`, the envelope sender ldirectord uses with `smtp=`.
pub fn envelope_from() -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".into());
    let host = crate::model::hostname().unwrap_or("localhost");
    format!("{user}@{host}")
}

/// Deliver `message` (headers, blank line, body; `\n` line ends) to `to`
/// through the SMTP server at `server:port`: EHLO (HELO if refused), MAIL
/// FROM, one RCPT TO per recipient, DATA with dot-stuffing, QUIT.
pub async fn send_smtp(
    server: &str,
    port: u16,
    from: &str,
    to: &[String],
    message: &str,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let stream = tokio::net::TcpStream::connect((server, port)).await?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    // One reply, possibly multi-line ("250-..." continues, "250 ..." ends).
    async fn reply(rd: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<u16> {
        loop {
            let mut l = String::new();
            if rd.read_line(&mut l).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "SMTP server closed the connection",
                ));
            }
            let code = l
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("bad SMTP reply {l:?}"),
                    )
                })?;
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok(code);
            }
        }
    }
    fn expect(code: u16, ok: &[u16], what: &str) -> std::io::Result<()> {
        if ok.contains(&code) {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "SMTP {what}: server answered {code}"
            )))
        }
    }
    expect(reply(&mut rd).await?, &[220], "greeting")?;
    let helo = from.split('@').nth(1).unwrap_or("localhost").to_string();
    wr.write_all(format!("EHLO {helo}\r\n").as_bytes()).await?;
    if reply(&mut rd).await? != 250 {
        wr.write_all(format!("HELO {helo}\r\n").as_bytes()).await?;
        expect(reply(&mut rd).await?, &[250], "HELO")?;
    }
    wr.write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
        .await?;
    expect(reply(&mut rd).await?, &[250], "MAIL FROM")?;
    for rcpt in to {
        wr.write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
            .await?;
        expect(reply(&mut rd).await?, &[250, 251], "RCPT TO")?;
    }
    wr.write_all(b"DATA\r\n").await?;
    expect(reply(&mut rd).await?, &[354], "DATA")?;
    let mut data = String::with_capacity(message.len() + 64);
    if !message.starts_with("From:") {
        data.push_str(&format!("From: {from}\r\n"));
    }
    for l in message.lines() {
        if l.starts_with('.') {
            data.push('.');
        }
        data.push_str(l);
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    wr.write_all(data.as_bytes()).await?;
    expect(reply(&mut rd).await?, &[250], "end of data")?;
    wr.write_all(b"QUIT\r\n").await?;
    let _ = reply(&mut rd).await;
    Ok(())
}

/// Hand a mail to the local MTA (`sendmail -t`).
fn spawn_sendmail(tasks: &mut Tasks, message: String, sendmail: std::path::PathBuf) {
    tasks.spawn(async move {
        let mut c = Command::new(&sendmail);
        c.arg("-t").stdin(Stdio::piped()).stdout(Stdio::null());
        match child::run(c, HOOK_TIMEOUT, Some(message.as_bytes()), Leftovers::Keep).await {
            Ok(Outcome::Exited(st)) if st.success() => {}
            Ok(Outcome::Exited(st)) => tracing::warn!(status = %st, "sendmail failed"),
            Err(e) => {
                tracing::warn!(error = %e, mta = %sendmail.display(), "cannot send alert mail")
            }
            Ok(Outcome::TimedOut) => tracing::warn!("sendmail timed out"),
        }
    });
}

/// How `execute=` instances are run: this program, with a control socket
/// and a pid file of their own next to our socket (`lvsd.CFGNAME.sock`,
/// `lvsd.CFGNAME.pid`: with the default socket that is ldirectord's
/// layout), no metrics listener and no `lvsd.toml` (HA belongs to the main
/// instance).
#[derive(Debug, Clone)]
pub struct Instances {
    /// The lvsd executable.
    pub exe: std::path::PathBuf,
    /// Directory of the control sockets.
    pub socket_dir: std::path::PathBuf,
}

impl Instances {
    /// The command line for `lvsd ... NAME VERB`.
    pub fn command(&self, name: &str, verb: &str) -> Command {
        let cfgname = Path::new(name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.to_string());
        let mut c = Command::new(&self.exe);
        c.arg("--socket")
            .arg(self.socket_dir.join(format!("lvsd.{cfgname}.sock")))
            .arg("--pid-file")
            .arg(self.socket_dir.join(format!("lvsd.{cfgname}.pid")))
            .arg("--metrics")
            .arg("off")
            .arg("--toml")
            .arg("/dev/null")
            .arg(name)
            .arg(verb)
            .stdin(Stdio::null())
            // We may be the re-executed child of `lvsd start`: without
            // this the instance would take the marker as its own, run in
            // the foreground and be killed by INSTANCE_TIMEOUT.
            .env_remove(super::admin::CHILD_ENV)
            .kill_on_drop(true);
        c
    }

    /// Run `lvsd NAME VERB` and wait (bounded); true on exit status 0.
    pub async fn run(&self, name: &str, verb: &str) -> bool {
        let mut c = self.command(name, verb);
        match tokio::time::timeout(INSTANCE_TIMEOUT, c.status()).await {
            Ok(Ok(st)) if st.success() => {
                tracing::info!(instance = name, verb, "execute: done");
                true
            }
            Ok(Ok(st)) => {
                tracing::warn!(instance = name, verb, status = %st, "execute: failed");
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(instance = name, verb, error = %e, "execute: cannot run");
                false
            }
            Err(_) => {
                tracing::warn!(instance = name, verb, "execute: timed out");
                false
            }
        }
    }

    /// What a reload does with the instances, as ldirectord's
    /// `reread_config`: removed ones `stop`, kept ones `reload` (`start`
    /// when that fails), new ones `start`. Runs in the background.
    /// The task runs in `tasks`.
    pub fn spawn_reload(&self, tasks: &mut Tasks, old: &[String], new: &[String]) {
        let me = self.clone();
        let stop: Vec<String> = old.iter().filter(|o| !new.contains(o)).cloned().collect();
        let keep: Vec<String> = new.iter().filter(|n| old.contains(n)).cloned().collect();
        let start: Vec<String> = new.iter().filter(|n| !old.contains(n)).cloned().collect();
        if stop.is_empty() && keep.is_empty() && start.is_empty() {
            return;
        }
        tasks.spawn(async move {
            for n in &stop {
                me.run(n, "stop").await;
            }
            for n in &keep {
                if !me.run(n, "reload").await {
                    me.run(n, "start").await;
                }
            }
            for n in &start {
                me.run(n, "start").await;
            }
        });
    }
}

/// Longest an `execute=` instance verb may take (`start` waits until that
/// instance's table is applied).
const INSTANCE_TIMEOUT: Duration = Duration::from_secs(600);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Protocol};

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

    /// A real's error text with CR LF cannot add a header to the mail
    /// `sendmail -t` reads (defect: a `Bcc:` line was injected).
    #[tokio::test]
    async fn alert_mail_headers_cannot_be_injected() {
        let alerts = Alerts {
            to: vec!["ops@example.invalid".into()],
            servicename: Some("web\r\nCc: x@y".into()),
            ..Default::default()
        };
        let subject =
            "Inaccessible real server: 10.1.0.1:5432 (query failed: no\r\nBcc: evil@x\n\nbody)";
        let msg = alert_message(&alerts, subject, Phase::Running, "host\rX-A: b");
        let (head, body) = msg.split_once("\n\n").unwrap();
        let names: Vec<&str> = head.lines().map(|l| l.split_once(':').unwrap().0).collect();
        assert_eq!(names, ["To", "Subject"], "{msg:?}");
        assert!(!msg.contains('\r'), "{msg:?}");
        assert!(
            !msg.lines()
                .any(|l| l.starts_with("Bcc") || l.starts_with("Cc")),
            "{msg:?}"
        );
        assert!(!body.contains("\n\n"), "{msg:?}");
        // Through a fake `sendmail -t`: what it reads has the same header.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mail.out");
        let sm = dir.path().join("sendmail");
        std::fs::write(&sm, format!("#!/bin/sh\ncat > {}\n", out.display())).unwrap();
        std::fs::set_permissions(&sm, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let mut tasks = Tasks::new();
        spawn_mail(&mut tasks, msg, &alerts, &sm);
        let mut got = String::new();
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            got = std::fs::read_to_string(&out).unwrap_or_default();
            if got.contains("Daemon-Status") {
                break;
            }
        }
        let head = got.split("\n\n").next().unwrap();
        assert!(
            head.lines()
                .all(|l| l.starts_with("To: ") || l.starts_with("Subject: ")),
            "{got:?}"
        );
        assert!(head.contains("no\\r\\nBcc: evil@x"), "{got:?}");
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
        let mut tasks = Tasks::new();
        spawn_fallbackcommand(&mut tasks, &cmd, true, &k);
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

    /// A minimal SMTP server on loopback: answers every command, records
    /// the dialogue.
    async fn fake_smtp(reject_ehlo: bool) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (rd, mut wr) = s.into_split();
            let mut rd = BufReader::new(rd);
            let mut seen = Vec::new();
            wr.write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if rd.read_line(&mut line).await.unwrap() == 0 {
                    break;
                }
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                seen.push(line.clone());
                let answer: &[u8] = if in_data {
                    if line == "." {
                        in_data = false;
                        b"250 queued\r\n"
                    } else {
                        continue;
                    }
                } else if line.starts_with("EHLO") && reject_ehlo {
                    b"502 no\r\n"
                } else if line.starts_with("EHLO") {
                    b"250-fake\r\n250 8BITMIME\r\n"
                } else if line == "DATA" {
                    in_data = true;
                    b"354 go\r\n"
                } else if line == "QUIT" {
                    wr.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                } else {
                    b"250 ok\r\n"
                };
                wr.write_all(answer).await.unwrap();
            }
            seen
        });
        (port, h)
    }

    #[tokio::test]
    async fn smtp_alert_is_delivered_to_every_recipient() {
        let (port, server) = fake_smtp(false).await;
        let a = Alerts {
            to: vec!["a@example.invalid".into(), "b@example.invalid".into()],
            ..Default::default()
        };
        let msg = alert_message(&a, "Deleted real server: x", Phase::Running, "d1");
        let msg = format!("{msg}.leading dot\n");
        send_smtp("127.0.0.1", port, "root@d1", &a.to, &msg)
            .await
            .unwrap();
        let seen = server.await.unwrap();
        assert_eq!(seen[0], "EHLO d1");
        assert_eq!(seen[1], "MAIL FROM:<root@d1>");
        assert_eq!(seen[2], "RCPT TO:<a@example.invalid>");
        assert_eq!(seen[3], "RCPT TO:<b@example.invalid>");
        assert_eq!(seen[4], "DATA");
        // No emailalertfrom: the envelope sender is the From header too.
        assert_eq!(seen[5], "From: root@d1");
        assert!(seen.contains(&"Subject: Deleted real server: x".to_string()));
        assert!(seen.contains(&"Daemon-Status: running".to_string()));
        // Dot-stuffed, then the end-of-data dot and QUIT.
        assert!(seen.contains(&"..leading dot".to_string()), "{seen:?}");
        assert_eq!(
            &seen[seen.len() - 2..],
            &[".".to_string(), "QUIT".to_string()]
        );
    }

    #[tokio::test]
    async fn smtp_falls_back_to_helo() {
        let (port, server) = fake_smtp(true).await;
        send_smtp(
            "127.0.0.1",
            port,
            "root@d1",
            &["a@example.invalid".into()],
            "Subject: s\n\nbody\n",
        )
        .await
        .unwrap();
        let seen = server.await.unwrap();
        assert_eq!(
            &seen[..3],
            &[
                "EHLO d1".to_string(),
                "HELO d1".to_string(),
                "MAIL FROM:<root@d1>".to_string()
            ]
        );
    }

    #[tokio::test]
    async fn smtp_refusal_is_an_error() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(b"554 go away\r\n").await.unwrap();
        });
        let e = send_smtp(
            "127.0.0.1",
            port,
            "root@d1",
            &["a@example.invalid".into()],
            "x\n",
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("554"), "{e}");
        server.await.unwrap();
    }
}
