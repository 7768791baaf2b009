//! Tracking (keepalived's `track_interface`, `track_script`,
//! `track_file`): pure decisions on what the shells observe. A node with a
//! tracked object at fault is not eligible to hold the VIPs.
//!
//! Only keepalived's `weight 0` semantics are implemented (a fault makes
//! the node ineligible); keepalived's non-zero weights, which shift the
//! VRRP priority, have no equivalent (lvsd's priority only orders
//! failback). [`spawn`] is the thin shell: it polls interfaces and files,
//! runs the scripts and publishes the judged faults to the HA runner.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::child::{self, Leftovers};
use crate::model::text::sanitize;
use crate::model::{Track, TrackScript};

/// keepalived's `vrrp_script` counter (vrrp_scheduler.c): `result` runs
/// from 0 to `rise + fall - 1`; the script is good while `result >= rise`.
/// It starts at `rise - 1`: one success makes it good, one failure bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptState {
    result: u32,
    rise: u32,
    fall: u32,
    ran: bool,
}

impl ScriptState {
    /// A script never run (rise and fall at least 1).
    pub fn new(rise: u32, fall: u32) -> Self {
        let rise = rise.max(1);
        let fall = fall.max(1);
        ScriptState {
            result: rise - 1,
            rise,
            fall,
            ran: false,
        }
    }

    /// Whether the script has run at least once.
    pub fn ran(&self) -> bool {
        self.ran
    }

    /// Whether the script counts as passing.
    pub fn good(&self) -> bool {
        self.result >= self.rise
    }

    /// Fold one run's outcome; Some(new state) when it changed (for the
    /// log line).
    pub fn record(&mut self, success: bool) -> Option<bool> {
        let was = self.good();
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else {
                self.result = self.rise + self.fall - 1;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            self.result = 0;
        }
        let now = self.good();
        let first = !self.ran;
        self.ran = true;
        // The first failure of a never-run script is a change too: it was
        // not proven good, and is now known bad.
        (now != was || (first && !success)).then_some(now)
    }
}

/// The value of a track file as keepalived reads it: up to 127 bytes,
/// `strtol(buf, NULL, 0)` (leading blanks, sign, `0x` hex, `0` octal, the
/// longest numeric prefix; nothing numeric is 0). A missing or empty file
/// is 0. None: out of the 32-bit range, ignored (the previous value stays).
pub fn track_file_value(bytes: Option<&[u8]>) -> Option<i64> {
    let Some(b) = bytes else { return Some(0) };
    let b = b.get(..127).unwrap_or(b);
    let s = String::from_utf8_lossy(b);
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or("")),
        Some(b'+') => (false, t.get(1..).unwrap_or("")),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if h.starts_with(|c: char| c.is_ascii_hexdigit()) {
            (16, h)
        } else {
            (10, "0")
        }
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    let mut v: i64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        if v > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    (v >= i64::from(i32::MIN)).then_some(v)
}

/// What the file shell observed of one track file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSeen {
    /// Its value as [`track_file_value`] reads it (None: out of range).
    Value(Option<i64>),
    /// Missing, not a regular file, a symlink or unreadable (the reason).
    Unreadable(String),
}

/// What the shells observed, judged: the reasons this node is at fault
/// (empty: eligible). A track file that cannot be read is a fault (unlike
/// keepalived, which reads a missing file as 0): a deleted or replaced
/// file must not silently make a node eligible.
pub fn faults(
    interfaces: &[(String, Option<bool>)],
    files: &[(String, FileSeen)],
    scripts: &[(String, &ScriptState)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, up) in interfaces {
        match up {
            Some(true) => {}
            Some(false) => out.push(format!("interface {name} down")),
            None => out.push(format!("interface {name} missing")),
        }
    }
    for (path, v) in files {
        match v {
            FileSeen::Value(Some(0)) => {}
            FileSeen::Value(Some(v)) => out.push(format!("track file {path} holds {v}")),
            FileSeen::Value(None) => {
                out.push(format!("track file {path} holds an out-of-range value"))
            }
            FileSeen::Unreadable(why) => out.push(format!("track file {path} unreadable: {why}")),
        }
    }
    for (name, s) in scripts {
        if !s.good() {
            if s.ran() {
                out.push(format!("track script {name} failing"));
            } else {
                out.push(format!("track script {name} not passed yet"));
            }
        }
    }
    out
}

/// Largest part of a track file read (keepalived reads 127 bytes).
const FILE_READ_MAX: u64 = 128;

/// How often interfaces and files are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Read one track file: no symlink followed, no FIFO or device opened for
/// reading (O_NONBLOCK, then fstat says regular), at most
/// [`FILE_READ_MAX`] bytes.
pub fn read_track_file(path: &Path) -> FileSeen {
    use std::io::Read;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let f = match f {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return FileSeen::Unreadable("is a symlink".into())
        }
        Err(e) => return FileSeen::Unreadable(sanitize(&e.to_string())),
    };
    match f.metadata() {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => return FileSeen::Unreadable("not a regular file".into()),
        Err(e) => return FileSeen::Unreadable(sanitize(&e.to_string())),
    }
    let mut buf = Vec::new();
    match f.take(FILE_READ_MAX).read_to_end(&mut buf) {
        Ok(_) => FileSeen::Value(track_file_value(Some(&buf))),
        Err(e) => FileSeen::Unreadable(sanitize(&e.to_string())),
    }
}

/// Whether each interface is up and running (IFF_UP and IFF_RUNNING);
/// None for an interface this host (namespace) does not have.
pub fn interfaces_up(names: &[String]) -> Vec<(String, Option<bool>)> {
    use nix::net::if_::InterfaceFlags;
    let mut seen: Vec<(String, Option<bool>)> = names.iter().map(|n| (n.clone(), None)).collect();
    // getifaddrs lists every interface (its AF_PACKET entry) with the
    // flags the kernel reports, IFF_RUNNING included.
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            if let Some(slot) = seen.iter_mut().find(|(n, _)| *n == a.interface_name) {
                let up = a
                    .flags
                    .contains(InterfaceFlags::IFF_UP | InterfaceFlags::IFF_RUNNING);
                slot.1 = Some(slot.1.unwrap_or(false) || up);
            }
        }
    }
    seen
}

/// Run a script once: no shell, stdio on /dev/null, its own process
/// group (`child::run`), the whole group killed at `timeout` (SIGTERM, then
/// SIGKILL after a short grace) or when the run is dropped (its task
/// aborted at stop). Ok(true) on exit 0.
pub async fn run_script(s: &TrackScript) -> Result<bool, std::io::Error> {
    let Some((prog, args)) = s.argv.split_first() else {
        return Ok(false);
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match child::run(cmd, s.timeout, None, Leftovers::Keep).await? {
        child::Outcome::Exited(st) => Ok(st.success()),
        child::Outcome::TimedOut => Ok(false),
    }
}

/// Start tracking `track` on `tasks` (aborted by the HA runner at stop).
/// The receiver holds the current faults (empty: eligible); its first
/// value is judged before this returns (scripts count as not passed yet).
pub fn spawn(track: &Track, tasks: &mut JoinSet<()>) -> watch::Receiver<Vec<String>> {
    let scripts: Vec<ScriptState> = track
        .scripts
        .iter()
        .map(|s| ScriptState::new(s.rise, s.fall))
        .collect();
    let mut judge = Judge {
        track: track.clone(),
        interfaces: interfaces_up(&track.interfaces),
        files: track
            .files
            .iter()
            .map(|p| (sanitize(&p.display().to_string()), read_track_file(p)))
            .collect(),
        scripts,
    };
    let first = judge.faults();
    for f in &first {
        tracing::warn!("track: {f}");
    }
    let (tx, rx) = watch::channel(first);
    let (res_tx, mut res_rx) = mpsc::channel::<(usize, bool)>(16);
    for (i, s) in track.scripts.iter().enumerate() {
        let s = s.clone();
        let res_tx = res_tx.clone();
        tasks.spawn(async move {
            let mut logged_spawn_error = false;
            loop {
                let start = tokio::time::Instant::now();
                let ok = match run_script(&s).await {
                    Ok(ok) => ok,
                    Err(e) => {
                        if !logged_spawn_error {
                            logged_spawn_error = true;
                            tracing::error!(script = %sanitize(&s.name), error = %e, "track script cannot start");
                        }
                        false
                    }
                };
                if res_tx.send((i, ok)).await.is_err() {
                    return;
                }
                tokio::time::sleep_until(start + s.interval).await;
            }
        });
    }
    drop(res_tx);
    let poll = !track.interfaces.is_empty() || !track.files.is_empty();
    // Without scripts the result channel is closed at once; not selected.
    let scripts_on = !track.scripts.is_empty();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick(), if poll => {
                    let t = judge.track.clone();
                    // File reads may block (NFS); off the runtime threads,
                    // one poll at a time.
                    let seen = tokio::task::spawn_blocking(move || {
                        let files: Vec<FileSeen> = t.files.iter().map(|p| read_track_file(p)).collect();
                        (interfaces_up(&t.interfaces), files)
                    })
                    .await;
                    let Ok((ifs, files)) = seen else { return };
                    judge.interfaces = ifs;
                    for (slot, f) in judge.files.iter_mut().zip(files) {
                        slot.1 = f;
                    }
                }
                r = res_rx.recv(), if scripts_on => {
                    let Some((i, ok)) = r else { return };
                    if let (Some(st), Some(s)) = (judge.scripts.get_mut(i), judge.track.scripts.get(i)) {
                        if let Some(good) = st.record(ok) {
                            tracing::info!(script = %sanitize(&s.name), good, "track script changed");
                        }
                    }
                }
            }
            let now = judge.faults();
            let before = tx.borrow().clone();
            if now != before {
                for f in now.iter().filter(|f| !before.contains(f)) {
                    tracing::warn!("track: {f}");
                }
                for f in before.iter().filter(|f| !now.contains(f)) {
                    tracing::info!("track: cleared: {f}");
                }
                if tx.send(now).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The shells' latest observations.
struct Judge {
    track: Track,
    interfaces: Vec<(String, Option<bool>)>,
    files: Vec<(String, FileSeen)>,
    scripts: Vec<ScriptState>,
}

impl Judge {
    fn faults(&self) -> Vec<String> {
        let scripts: Vec<(String, &ScriptState)> = self
            .track
            .scripts
            .iter()
            .zip(&self.scripts)
            .map(|(t, s)| (sanitize(&t.name), s))
            .collect();
        let ifs: Vec<(String, Option<bool>)> = self
            .interfaces
            .iter()
            .map(|(n, up)| (sanitize(n), *up))
            .collect();
        faults(&ifs, &self.files, &scripts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_counter_follows_keepalived() {
        // rise 2, fall 3: first success makes it good (starts at rise-1).
        let mut s = ScriptState::new(2, 3);
        assert!(!s.good());
        assert_eq!(s.record(true), Some(true));
        // Two failures: still good (fall 3), the third one fails it.
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(false), None);
        assert!(s.good());
        assert_eq!(s.record(false), Some(false));
        // Rise 2: one success is not enough, two are.
        assert_eq!(s.record(true), None);
        assert!(!s.good());
        assert_eq!(s.record(true), Some(true));
        // A never-run script that fails is reported bad at once.
        let mut s = ScriptState::new(1, 1);
        assert_eq!(s.record(false), Some(false));
        assert!(!s.good());
        // Further failures are no change (one log line per crossing).
        assert_eq!(s.record(false), None);
    }

    #[test]
    fn track_file_reads_like_strtol() {
        assert_eq!(track_file_value(None), Some(0));
        assert_eq!(track_file_value(Some(b"")), Some(0));
        assert_eq!(track_file_value(Some(b"0\n")), Some(0));
        assert_eq!(track_file_value(Some(b"  5abc")), Some(5));
        assert_eq!(track_file_value(Some(b"-3")), Some(-3));
        assert_eq!(track_file_value(Some(b"0x10")), Some(16));
        assert_eq!(track_file_value(Some(b"010")), Some(8));
        assert_eq!(track_file_value(Some(b"fault")), Some(0));
        assert_eq!(track_file_value(Some(b"99999999999")), None);
    }

    #[test]
    fn any_fault_makes_the_node_ineligible() {
        let good = {
            let mut s = ScriptState::new(1, 1);
            s.record(true);
            s
        };
        let ok0 = FileSeen::Value(Some(0));
        let none: Vec<(String, &ScriptState)> = vec![("chk".into(), &good)];
        assert!(faults(&[("eth0".into(), Some(true))], &[("/f".into(), ok0)], &none).is_empty());
        let mut failed = ScriptState::new(1, 1);
        failed.record(false);
        let f = faults(
            &[("eth0".into(), Some(false)), ("eth1".into(), None)],
            &[
                ("/f".into(), FileSeen::Value(Some(2))),
                ("/g".into(), FileSeen::Value(Some(-1))),
                ("/h".into(), FileSeen::Value(None)),
                ("/m".into(), FileSeen::Unreadable("missing".into())),
            ],
            &[
                ("new".into(), &ScriptState::new(1, 1)),
                ("chk".into(), &failed),
            ],
        );
        assert_eq!(
            f,
            vec![
                "interface eth0 down",
                "interface eth1 missing",
                "track file /f holds 2",
                "track file /g holds -1",
                "track file /h holds an out-of-range value",
                "track file /m unreadable: missing",
                "track script new not passed yet",
                "track script chk failing",
            ]
        );
    }

    #[test]
    fn script_fall_and_rise_over_a_run_sequence() {
        // fall 3, rise 2 fed a sequence of run outcomes: the node is
        // ineligible from the 3rd failure in a row until 2 successes.
        let mut s = ScriptState::new(2, 3);
        let mut eligible = Vec::new();
        for ok in [
            true, false, false, true, false, false, false, true, true, true,
        ] {
            s.record(ok);
            eligible.push(faults(&[], &[], &[("c".into(), &s)]).is_empty());
        }
        assert_eq!(
            eligible,
            [true, true, true, true, true, true, false, false, true, true]
        );
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("lvsd-track-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn track_files_are_read_bounded_and_never_through_links_or_fifos() {
        let d = tmp("files");
        let f = d.join("v");
        std::fs::write(&f, "1\n").unwrap();
        assert_eq!(read_track_file(&f), FileSeen::Value(Some(1)));
        std::fs::write(&f, "0").unwrap();
        assert_eq!(read_track_file(&f), FileSeen::Value(Some(0)));
        // Only the first bytes count: a huge file is not read whole.
        let mut big = b"0".to_vec();
        big.extend(std::iter::repeat_n(b'0', 1 << 20));
        big.extend(b"7");
        std::fs::write(&f, &big).unwrap();
        assert_eq!(read_track_file(&f), FileSeen::Value(Some(0)));
        assert!(matches!(
            read_track_file(&d.join("missing")),
            FileSeen::Unreadable(_)
        ));
        let l = d.join("link");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert_eq!(
            read_track_file(&l),
            FileSeen::Unreadable("is a symlink".into())
        );
        let fifo = d.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Returns at once (no writer): O_NONBLOCK, then not regular.
        assert_eq!(
            read_track_file(&fifo),
            FileSeen::Unreadable("not a regular file".into())
        );
        assert_eq!(
            read_track_file(&d),
            FileSeen::Unreadable("not a regular file".into())
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn script(argv: &[&str], timeout_ms: u64) -> TrackScript {
        TrackScript {
            name: "t".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(timeout_ms),
            fall: 1,
            rise: 1,
        }
    }

    #[tokio::test]
    async fn scripts_run_without_a_shell_and_their_group_dies_at_timeout() {
        assert!(run_script(&script(&["/bin/true"], 2000)).await.unwrap());
        assert!(!run_script(&script(&["/bin/false"], 2000)).await.unwrap());
        // No shell: a metacharacter is an argument, not an operator.
        assert!(
            !run_script(&script(&["/bin/false", ";", "/bin/true"], 2000))
                .await
                .unwrap()
        );
        assert!(run_script(&script(&["/nonexistent/x"], 2000))
            .await
            .is_err());
        // A script that leaves a child behind and hangs: both die at timeout.
        let d = tmp("group");
        let pidf = d.join("pid");
        let cmd = format!("sleep 30 & echo $! > {}; wait", pidf.display());
        let t0 = std::time::Instant::now();
        let ok = run_script(&script(&["/bin/sh", "-c", &cmd], 300))
            .await
            .unwrap();
        assert!(!ok);
        assert!(t0.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(&pidf)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The orphaned sleep (reparented, maybe a zombie briefly) is gone.
        let mut gone = false;
        for _ in 0..50 {
            let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if st.is_empty() || st.contains(") Z ") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "the script's child survived the timeout");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[tokio::test]
    async fn the_shell_publishes_faults_as_they_come_and_go() {
        let d = tmp("shell");
        let f = d.join("v");
        std::fs::write(&f, "0").unwrap();
        let mut bad = script(&["/bin/false"], 1000);
        bad.name = "chk".into();
        let track = Track {
            interfaces: vec!["lo".into(), "lvsdtrk-none0".into()],
            files: vec![f.clone()],
            scripts: vec![bad],
        };
        let mut tasks = JoinSet::new();
        let mut rx = spawn(&track, &mut tasks);
        // Judged before spawn returns: the script has not run yet.
        assert_eq!(
            *rx.borrow_and_update(),
            vec![
                "interface lvsdtrk-none0 missing",
                "track script chk not passed yet"
            ]
        );
        let want = |w: Vec<String>| {
            let mut rx = rx.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|v| *v == w))
                    .await
                    .expect("faults never became as wanted")
                    .unwrap();
            }
        };
        want(vec![
            "interface lvsdtrk-none0 missing".into(),
            "track script chk failing".into(),
        ])
        .await;
        std::fs::write(&f, "3").unwrap();
        want(vec![
            "interface lvsdtrk-none0 missing".into(),
            format!("track file {} holds 3", f.display()),
            "track script chk failing".into(),
        ])
        .await;
        tasks.abort_all();
        std::fs::remove_dir_all(&d).unwrap();
        // Only a file tracked (no script): polling goes on.
        let d = tmp("shell2");
        let f = d.join("v");
        std::fs::write(&f, "0").unwrap();
        let track = Track {
            interfaces: vec![],
            files: vec![f.clone()],
            scripts: vec![],
        };
        let mut tasks = JoinSet::new();
        let rx = spawn(&track, &mut tasks);
        assert!(rx.borrow().is_empty());
        std::fs::write(&f, "1").unwrap();
        let mut rx2 = rx.clone();
        tokio::time::timeout(Duration::from_secs(10), rx2.wait_for(|v| !v.is_empty()))
            .await
            .expect("file fault never seen")
            .unwrap();
        tasks.abort_all();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
