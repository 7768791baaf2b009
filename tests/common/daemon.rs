//! The process-test harness for the real `lvsd` binary: `lvsd run` in the
//! foreground on the in-memory kernel (`LVSD_TEST_FAKE_KERNEL=1`, no IPVS
//! needed) in a private temporary directory (config `l.cf`, control socket
//! `s.sock`, pid file `l.pid`, log `log`), driven the way an operator
//! would (client verbs, signals, file changes). The daemon is stopped on
//! drop: SIGTERM, then SIGKILL if it has not exited within 10 s.
//!
//! Used by tests/daemon_process.rs, daemon_ops.rs, events_process.rs,
//! policy_process.rs and quorum_process.rs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

/// The binary under test, built by cargo for the integration tests.
pub const LVSD: &str = env!("CARGO_BIN_EXE_lvsd");

/// The log line of a started daemon.
pub const READY: &str = "initial table applied";

/// How long a wait for a log line or a status text may take.
const WAIT: Duration = Duration::from_secs(30);

/// One `lvsd run` and its directory.
pub struct Daemon {
    /// The daemon's directory (config, socket, pid file, log).
    pub dir: tempfile::TempDir,
    /// The running daemon, once started.
    pub child: Option<Child>,
    toml: PathBuf,
    metrics: String,
    in_dir: bool,
    env: Vec<(String, String)>,
}

impl Daemon {
    /// A daemon for the files the caller put in `dir` (`l.cf`, and
    /// `lvsd.toml`, which is passed with `--toml`); not started.
    pub fn at(dir: tempfile::TempDir) -> Daemon {
        let toml = dir.path().join("lvsd.toml");
        Daemon {
            dir,
            child: None,
            toml,
            metrics: "off".into(),
            in_dir: false,
            env: Vec::new(),
        }
    }

    /// A fresh directory holding `config` as `l.cf` and, if given, `toml`
    /// as `lvsd.toml` (else `--toml /dev/null`); not started.
    pub fn with_files(config: &str, toml: Option<&str>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("l.cf"), config).unwrap();
        match toml {
            Some(t) => {
                std::fs::write(dir.path().join("lvsd.toml"), t).unwrap();
                Daemon::at(dir)
            }
            None => Daemon::at(dir).toml_path("/dev/null"),
        }
    }

    /// `lvsd run CONFIG` without an lvsd.toml, started (waits for [`READY`]).
    pub fn run(config: &str) -> Daemon {
        Daemon::with_files(config, None).started()
    }

    /// Pass `path` with `--toml` instead of `lvsd.toml` in the directory.
    pub fn toml_path(mut self, path: impl AsRef<Path>) -> Daemon {
        self.toml = path.as_ref().to_path_buf();
        self
    }

    /// The status listener of `lvsd run` (`--metrics`; default "off").
    pub fn metrics(mut self, listen: &str) -> Daemon {
        self.metrics = listen.into();
        self
    }

    /// Set `key=value` in the environment of `lvsd run`.
    pub fn env(mut self, key: &str, value: &str) -> Daemon {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Run the daemon with its directory as working directory (its
    /// commands inherit it).
    pub fn cwd_in_dir(mut self) -> Daemon {
        self.in_dir = true;
        self
    }

    /// Start it and wait until it logs [`READY`].
    pub fn started(mut self) -> Daemon {
        self.start();
        self
    }

    /// A file in the daemon's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `lvsd` with this daemon's socket, pid file and toml, the in-memory
    /// kernel and `--metrics off` (for client verbs).
    pub fn base(&self) -> Command {
        self.command("off")
    }

    fn command(&self, metrics: &str) -> Command {
        let mut c = Command::new(LVSD);
        c.env("LVSD_TEST_FAKE_KERNEL", "1")
            .arg("--socket")
            .arg(self.path("s.sock"))
            .arg("--pid-file")
            .arg(self.path("l.pid"))
            .arg("--metrics")
            .arg(metrics)
            .arg("--toml")
            .arg(&self.toml);
        c
    }

    /// Spawn `lvsd run l.cf` (log appended to `log`) without waiting.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("log"))
            .unwrap();
        let mut c = self.command(&self.metrics);
        if self.in_dir {
            c.current_dir(self.dir.path());
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        // If the test process dies without running Drop (killed, or a
        // panic that aborts), the kernel ends the daemon with it: no test
        // leaves an lvsd behind. Daemons are spawned from the test's own
        // thread, which outlives them.
        // SAFETY: prctl is async-signal-safe, as pre_exec requires.
        unsafe {
            use std::os::unix::process::CommandExt;
            c.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let child = c
            .arg("run")
            .arg(self.path("l.cf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Spawn it and wait until the log shows one more [`READY`] than
    /// before (a restart in the same directory appends to the log).
    pub fn start(&mut self) {
        let n = self.count(READY);
        self.spawn();
        self.wait_log_count(READY, n + 1);
    }

    /// kill -9 and reap it; remove its socket (a restart binds it again).
    pub fn kill9(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
        let _ = std::fs::remove_file(self.path("s.sock"));
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Send `sig` to the daemon.
    pub fn signal(&self, sig: Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// `lvsd ARGS...` as a client of this daemon.
    pub fn lvsd(&self, args: &[&str]) -> Output {
        self.base().args(args).output().unwrap()
    }

    /// `lvsd l.cf status`'s stdout.
    pub fn status(&self) -> String {
        let out = self
            .base()
            .arg(self.path("l.cf"))
            .arg("status")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Poll `status` (every `every`, at most 30 s) until it contains
    /// `what`; returns it.
    pub fn wait_status_every(&self, what: &str, every: Duration) -> String {
        let t0 = Instant::now();
        let mut s = String::new();
        while t0.elapsed() < WAIT {
            s = self.status();
            if s.contains(what) {
                return s;
            }
            std::thread::sleep(every);
        }
        panic!("no {what:?} in status:\n{s}\nlog:\n{}", self.log());
    }

    /// [`Daemon::wait_status_every`] 100 ms.
    pub fn wait_status(&self, what: &str) -> String {
        self.wait_status_every(what, Duration::from_millis(100))
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    /// How often `what` occurs in the log.
    pub fn count(&self, what: &str) -> usize {
        self.log().matches(what).count()
    }

    /// Wait (at most 30 s) until the log contains `what` `n` times.
    pub fn wait_log_count(&self, what: &str, n: usize) {
        let t0 = Instant::now();
        while t0.elapsed() < WAIT {
            if self.count(what) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no {n}x {what:?} in the log:\n{}", self.log());
    }

    /// Wait (at most 30 s) until the log contains `what`.
    pub fn wait_log(&self, what: &str) {
        self.wait_log_count(what, 1);
    }

    /// Replace `l.cf`.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.path("l.cf"), text).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
