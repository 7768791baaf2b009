//! `monitorfile`: a per-virtual log of check verdicts in ldirectord's line
//! format, `[localtime] [pid] <real id> [up|down] <message>`, so scripts
//! that parse ldirectord's monitor files keep working.
//!
//! The file is opened, appended to and closed for every line (as
//! ldirectord does), so logrotate needs no signal. Lines are written by
//! one writer thread fed through a bounded queue ([`Writer::append`]
//! never blocks): a file on a slow or hung disk must not stall the
//! engine's runtime. The engine owns the thread and joins it at stop. The file is opened with `O_NOFOLLOW|O_NONBLOCK` and must be a
//! regular file: a symlink planted at its path or a FIFO is refused (and
//! logged), never written through or blocked on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::SystemTime;

use crate::model::{CheckSpec, CheckType, Forward, RealServer, ServiceKey};

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
    // ldirectord's words; a protocol it has none for is written as tcp.
    let protocol = match service {
        ServiceKey::Addr { protocol, .. } => protocol.name().unwrap_or("tcp"),
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

/// Why a monitor line was not written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path names a FIFO, device, directory... (or a symlink: the
    /// open fails with `ELOOP`, reported as [`Error::Io`]).
    #[error("not a regular file")]
    NotRegular,
    /// The writer's queue is full (the disk is slower than the checks):
    /// the line is dropped.
    #[error("monitorfile writer is behind; line dropped")]
    QueueFull,
    /// The writer thread could not be started.
    #[error("monitorfile writer thread unavailable")]
    NoWriter,
    /// open/write failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        match e {
            Error::Io(e) => e,
            Error::QueueFull => std::io::Error::new(std::io::ErrorKind::WouldBlock, e),
            e => std::io::Error::other(e),
        }
    }
}

/// Lines waiting for the writer thread at most.
pub const QUEUE_LINES: usize = 4096;

/// The monitorfile writer: one thread fed through a bounded queue, owned
/// by the engine, which [`Writer::stop`]s it at daemon stop (every queued
/// line is written, then the thread is joined).
#[derive(Debug)]
pub struct Writer {
    tx: SyncSender<(PathBuf, String)>,
    thread: std::thread::JoinHandle<()>,
    alive: std::sync::Weak<()>,
}

/// Whether a [`Writer`]'s thread still runs (for tests of its owner).
#[derive(Debug, Clone)]
pub struct Probe(std::sync::Weak<()>);

impl Probe {
    /// True while the writer thread has not ended.
    pub fn running(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl Writer {
    /// Start the writer thread.
    pub fn start() -> Result<Writer, Error> {
        let (tx, rx) = sync_channel::<(PathBuf, String)>(QUEUE_LINES);
        let token = std::sync::Arc::new(());
        let alive = std::sync::Arc::downgrade(&token);
        let thread = std::thread::Builder::new()
            .name("lvsd-monitor".into())
            .spawn(move || {
                let _token = token;
                // Ends when the owner drops the sender (stop), after the
                // lines already queued.
                for (path, line) in rx {
                    if let Err(e) = write_line(&path, &line) {
                        tracing::error!("Error writing to monitorfile '{}': {e}", path.display());
                    }
                }
            })
            .map_err(|_| Error::NoWriter)?;
        Ok(Writer { tx, thread, alive })
    }

    /// A probe telling whether the thread still runs.
    pub fn probe(&self) -> Probe {
        Probe(self.alive.clone())
    }

    /// Queue one verdict for `path` (timestamped now). Never blocks: the
    /// write happens on the writer thread, which logs its own failures;
    /// `Err` here means the line was not even queued.
    pub fn append(&self, path: &Path, id: &str, up: bool, msg: &str) -> std::io::Result<()> {
        let l = line(SystemTime::now(), std::process::id(), id, up, msg);
        match self.tx.try_send((path.to_path_buf(), l)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Error::QueueFull.into()),
            Err(TrySendError::Disconnected(_)) => Err(Error::NoWriter.into()),
        }
    }

    /// Close the queue and join the thread once it has written every
    /// queued line. Blocking (each line is an open and a write; the opens
    /// never block on a FIFO): call it off the async runtime.
    pub fn stop(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!("monitorfile writer panicked");
        }
    }
}

/// Write one line (newline added) to `path` now: created `0640` if
/// missing, opened `O_APPEND|O_NOFOLLOW|O_NONBLOCK`, refused unless a
/// regular file. Blocking I/O: call it off the async runtime.
pub fn write_line(path: &Path, line: &str) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(Error::NotRegular);
    }
    f.write_all(format!("{line}\n").as_bytes())?;
    Ok(())
}

/// Perl's scalar `localtime`: `Tue Nov 24 05:01:39 2026` (day padded
/// with a space), in the local time zone.
pub fn perl_localtime(when: SystemTime) -> String {
    let secs = when
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = libc::time_t::try_from(secs).unwrap_or(0);
    // SAFETY: nix has no localtime_r (and std no time zones), so the
    // call is libc's. localtime_r only writes the tm we pass; tm is
    // plain data, all-zero valid.
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
    use crate::model::{Protocol, Service};
    use std::os::unix::fs::OpenOptionsExt;
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

    /// Wait (at most 5 s) until `p` holds `n` lines.
    fn lines_of(p: &Path, n: usize) -> String {
        let t0 = std::time::Instant::now();
        loop {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            if text.lines().count() >= n || t0.elapsed() > Duration::from_secs(5) {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Run `f` on a thread; None if it did not finish within 5 s (the
    /// thread is left behind, blocked: the test fails anyway).
    fn within_5s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(5)).ok()
    }

    /// Issue 13 defect 12: a FIFO as monitorfile blocked the writer in
    /// open(2) forever; a symlink planted at the path was written through.
    #[test]
    fn fifo_and_symlink_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let f2 = fifo.clone();
        let r = within_5s(move || write_line(&f2, "x").map_err(|e| e.to_string()));
        let r = r.expect("writing to a FIFO monitorfile blocked");
        assert!(r.is_err(), "{r:?}");
        // With a reader on the FIFO the open succeeds: fstat refuses it.
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let f2 = fifo.clone();
        let r = within_5s(move || write_line(&f2, "x").map_err(|e| e.to_string()));
        assert_eq!(r, Some(Err("not a regular file".to_string())));
        drop(reader);

        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let link = dir.path().join("mon.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(write_line(&link, "x").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }

    /// The engine's call returns at once even when the file cannot be
    /// written at all (the writer thread logs it).
    #[test]
    fn append_queues_without_blocking_on_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let w = Writer::start().unwrap();
        let t0 = std::time::Instant::now();
        for _ in 0..100 {
            let _ = w.append(&fifo, "on tcp 10.0.0.2 80", true, "ok");
        }
        assert!(t0.elapsed() < Duration::from_secs(1));
        // The writer is not stuck on the FIFO: a later line to a regular
        // file still arrives.
        let p = dir.path().join("after.log");
        w.append(&p, "on tcp 10.0.0.2 80", true, "ok").unwrap();
        assert_eq!(lines_of(&p, 1).lines().count(), 1);
        assert!(within_5s(move || w.stop()).is_some(), "stop did not return");
    }

    /// Issue 13: the writer thread was a process-wide static never joined;
    /// lines queued when the daemon stopped could be lost. `stop` writes
    /// every queued line, then the thread has ended.
    #[test]
    fn stop_writes_every_queued_line_and_ends_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mon.log");
        let w = Writer::start().unwrap();
        for i in 0..500 {
            w.append(&p, "on tcp 10.0.0.2 80", i % 2 == 0, "ok")
                .unwrap();
        }
        let probe = w.probe();
        assert!(probe.running());
        // stop returns once the thread has been joined.
        within_5s(move || w.stop()).expect("stop did not return");
        assert!(!probe.running());
        // Every line is there at once, no waiting for a detached thread.
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 500);
    }

    #[test]
    fn append_adds_one_line_per_call() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mon.log");
        let w = Writer::start().unwrap();
        w.append(&p, "on tcp 10.0.0.2 80", true, "ok").unwrap();
        w.append(&p, "on tcp 10.0.0.2 80", false, "refused")
            .unwrap();
        w.stop();
        let text = lines_of(&p, 2);
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
