//! Host tier for the event stream, `[[hook]]`s and control-socket access:
//! the real `lvsd` binary in the foreground on the in-memory kernel
//! (`LVSD_TEST_FAKE_KERNEL=1`), with a real TCP server on loopback that the
//! test stops and starts so its connect check fails and passes.
//!
//! Ports (this suite's range, 22200-22299): 22210 status listener, 22211
//! the real server. Nothing leaves loopback; the virtual 10.0.0.1 is only
//! a key in the in-memory table.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::daemon::{Daemon, LVSD};

const STATUS_PORT: u16 = 22210;
const REAL_PORT: u16 = 22211;

/// `lvsd run` with `config` and `toml`, the status listener on `metrics`
/// ("off" for none), started.
fn run_daemon(config: &str, toml: &str, metrics: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    // Readable by the unprivileged client of the access test.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("l.cf"), config).unwrap();
    std::fs::write(dir.path().join("lvsd.toml"), toml).unwrap();
    Daemon::at(dir).metrics(metrics).started()
}

/// A TCP server on loopback that accepts and closes; stopped on drop.
struct Real {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Real {
    fn start(port: u16) -> Real {
        // The port was just released by a previous Real: retry briefly.
        let t0 = Instant::now();
        let l = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if t0.elapsed() > Duration::from_secs(10) => panic!("bind {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            // Bounded by the flag; each accepted connection is closed.
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => drop(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Real {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An `/events` client reading in a thread into a shared buffer; the
/// connection is closed when the reader is dropped (the daemon stops).
struct Stream {
    got: Arc<Mutex<String>>,
}

impl Stream {
    fn open(port: u16) -> Stream {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let got = Arc::new(Mutex::new(String::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends when the daemon closes the connection (or 60 s idle).
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                g.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Stream { got }
    }

    fn text(&self) -> String {
        self.got.lock().unwrap().clone()
    }

    fn wait(&self, what: &str) -> String {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            let t = self.text();
            if t.contains(what) {
                return t;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {what:?} in the stream:\n{}", self.text());
    }

    /// `(id, event)` of every event received, in order.
    fn events(&self) -> Vec<(u64, String)> {
        let t = self.text();
        let mut out = Vec::new();
        for block in t.split("\n\n") {
            let id = block.lines().find_map(|l| l.strip_prefix("id: "));
            let ev = block.lines().find_map(|l| l.strip_prefix("event: "));
            if let (Some(id), Some(ev)) = (id, ev) {
                out.push((id.parse().unwrap(), ev.to_string()));
            }
        }
        out
    }
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn wait_file(p: &Path, what: &str) -> String {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        let s = std::fs::read_to_string(p).unwrap_or_default();
        if s.contains(what) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "no {what:?} in {}:\n{}",
        p.display(),
        std::fs::read_to_string(p).unwrap_or_default()
    );
}

fn config(weight: u32) -> String {
    format!(
        "checkinterval=1\nchecktimeout=1\nquiescent=no\n\
         virtual=10.0.0.1:80\n\treal=127.0.0.1:{REAL_PORT} masq {weight}\n\
         \tchecktype=connect\n\tscheduler=wrr\n"
    )
}

/// Real down and up once each, in order, on `/events` with increasing
/// ids; the same events through a `[[hook]]` (its environment written to
/// a file); a hook that hangs killed at its timeout with its process
/// group; reload applied and rejected on the stream.
#[test]
fn events_reach_the_stream_and_the_hooks() {
    let tmp = tempfile::tempdir().unwrap();
    let envs = tmp.path().join("env.out");
    let pids = tmp.path().join("hang.pids");
    let writer = script(
        tmp.path(),
        "writer",
        &format!(
            "{{ env | sort; echo ARG=$1; echo ----; }} >> {}",
            envs.display()
        ),
    );
    let hang = script(
        tmp.path(),
        "hang",
        &format!("sleep 1000 & echo $$ $! >> {}; wait", pids.display()),
    );
    let toml = format!(
        "[[hook]]\non = [\"real_down\", \"real_up\", \"reload_applied\", \"reload_rejected\"]\n\
         command = [\"{}\", \"x;y\"]\n\n\
         [[hook]]\non = [\"real_down\"]\ncommand = [\"{}\"]\ntimeout_ms = 500\n",
        writer.display(),
        hang.display()
    );
    let real = Real::start(REAL_PORT);
    let d = run_daemon(&config(1), &toml, &format!("127.0.0.1:{STATUS_PORT}"));
    d.wait_status(&format!("-> 127.0.0.1:{REAL_PORT} masq up"));
    let stream = Stream::open(STATUS_PORT);
    stream.wait("retry:");

    // The real dies, then comes back.
    drop(real);
    stream.wait("event: real_down");
    let real = Real::start(REAL_PORT);
    stream.wait("event: real_up");
    stream.wait("event: quorum_regained");

    // A reload that applies, then one that is refused.
    std::fs::write(d.path("l.cf"), config(3)).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    stream.wait("event: reload_applied");
    std::fs::write(d.path("l.cf"), format!("{}bogus=1\n", config(3))).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    let text = stream.wait("event: reload_rejected");

    let evs = stream.events();
    let ids: Vec<u64> = evs.iter().map(|(i, _)| *i).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not increasing: {text}"
    );
    let names: Vec<&str> = evs.iter().map(|(_, e)| e.as_str()).collect();
    let real_events: Vec<&str> = names
        .iter()
        .copied()
        .filter(|e| e.starts_with("real_"))
        .collect();
    assert_eq!(real_events, ["real_down", "real_up"], "{text}");
    let pos = |n: &str| names.iter().position(|e| *e == n).unwrap();
    assert!(pos("real_down") < pos("quorum_lost"), "{text}");
    assert!(pos("quorum_lost") < pos("real_up"), "{text}");
    assert!(pos("real_up") < pos("quorum_regained"), "{text}");
    assert!(pos("reload_applied") < pos("reload_rejected"), "{text}");
    assert!(
        text.contains(&format!(
            "\"virtual\":\"tcp:10.0.0.1:80\",\"real\":\"127.0.0.1:{REAL_PORT}\""
        )),
        "{text}"
    );
    // The rejection names the file and line.
    let rejected = text
        .split("\n\n")
        .find(|b| b.contains("event: reload_rejected"))
        .unwrap();
    assert!(rejected.contains("l.cf:8: bogus"), "{rejected}");

    // The hook saw the same events, with the event in its environment and
    // its argument passed without a shell.
    let got = wait_file(&envs, "LVSD_EVENT=reload_rejected");
    let runs: Vec<&str> = got.split("----\n").filter(|r| !r.is_empty()).collect();
    let down = runs
        .iter()
        .find(|r| r.contains("LVSD_EVENT=real_down\n"))
        .unwrap();
    assert!(down.contains("LVSD_VIRTUAL=tcp:10.0.0.1:80\n"), "{down}");
    assert!(
        down.contains(&format!("LVSD_REAL=127.0.0.1:{REAL_PORT}\n")),
        "{down}"
    );
    assert!(down.contains("LVSD_REASON="), "{down}");
    assert!(down.contains("ARG=x;y\n"), "{down}");
    let seq = down
        .lines()
        .find_map(|l| l.strip_prefix("LVSD_SEQ="))
        .unwrap();
    let down_id = evs.iter().find(|(_, e)| e == "real_down").unwrap().0;
    assert_eq!(seq, down_id.to_string(), "{down}");
    // Only the daemon's event and PATH: nothing of its own environment.
    assert!(!down.contains("LVSD_TEST_FAKE_KERNEL"), "{down}");
    assert!(
        runs.iter().any(|r| r.contains("LVSD_EVENT=real_up\n")),
        "{got}"
    );
    assert!(
        runs.iter()
            .any(|r| r.contains("LVSD_EVENT=reload_applied\n")),
        "{got}"
    );

    // The hanging hook was killed at its timeout, its background child too.
    d.wait_log("hook timed out");
    let hung = wait_file(&pids, " ");
    let pids: Vec<i32> = hung
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let t0 = Instant::now();
    while pids.iter().any(|p| common::pid_alive(*p)) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !pids.iter().any(|p| common::pid_alive(*p)),
        "hook processes left: {pids:?}"
    );
    // One log line per event.
    let log = d.log();
    assert!(
        log.contains(&format!(
            "event real_down virtual=\"tcp:10.0.0.1:80\" real=\"127.0.0.1:{REAL_PORT}\""
        )),
        "{log}"
    );
    drop(real);
}

/// The socket gets lvsd.toml's mode and group; an unprivileged peer that
/// may connect runs `status` but is refused `reload` (exit 4); a member of
/// the write group may reload.
#[test]
fn socket_access_follows_lvsd_toml() {
    if !nix::unistd::geteuid().is_root()
        || Command::new("setpriv").arg("--version").output().is_err()
    {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let cf = "virtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq 1\n\tchecktype=on\n";
    let toml =
        "[daemon]\nsocket_mode = \"0666\"\nsocket_group = \"4242\"\nwrite_group = \"4243\"\n";
    let d = run_daemon(cf, toml, "off");
    let meta = std::fs::metadata(d.path("s.sock")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o666);
    assert_eq!(meta.gid(), 4242);
    let as_nobody = |groups: &str, verb: &str| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534"]);
        if groups.is_empty() {
            c.arg("--clear-groups");
        } else {
            c.arg(format!("--groups={groups}"));
        }
        c.arg(LVSD)
            .arg("--socket")
            .arg(d.path("s.sock"))
            .arg("--pid-file")
            .arg(d.path("l.pid"))
            .arg("--metrics")
            .arg("off")
            .arg("--toml")
            .arg("/dev/null")
            .arg(d.path("l.cf"))
            .arg(verb);
        c.output().unwrap()
    };
    let st = as_nobody("", "status");
    assert_eq!(st.status.code(), Some(0), "{st:?}");
    assert!(
        String::from_utf8_lossy(&st.stdout).contains("-> 10.1.0.1:80 masq up"),
        "{st:?}"
    );
    let r = as_nobody("", "reload");
    assert_eq!(r.status.code(), Some(4), "{r:?}");
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("permission denied"),
        "{r:?}"
    );
    let r = as_nobody("", "takeover");
    assert_eq!(r.status.code(), Some(4), "{r:?}");
    d.wait_log("state-changing command refused");
    assert!(!d.log().contains("reloading configuration"), "{}", d.log());
    // A member of the write group (supplementary) may.
    let r = as_nobody("4243", "reload");
    assert_eq!(r.status.code(), Some(0), "{r:?}");
    assert!(
        String::from_utf8_lossy(&r.stdout).contains("configuration applied"),
        "{r:?}"
    );
    // Root may, too.
    let r = d.base().arg(d.path("l.cf")).arg("reload").output().unwrap();
    assert_eq!(r.status.code(), Some(0), "{r:?}");
}
