//! ldirectord's command line, for lvsd:
//! `lvsd [-d] [OPTIONS] [--] [FILE] start|stop|restart|try-restart|reload|force-reload|status`
//! and `lvsd run [FILE]` (foreground, for systemd).
//!
//! Exit codes follow ldirectord 4.12 (which the LSB init-script codes
//! extend): 0 ok; 1 generic failure, config file not found, or (status)
//! stale pid file; 2 config error or bad arguments; 3 (status) not running.
//! Unlike ldirectord, `stop` waits for the daemon to be gone, `reload`
//! reports whether the new config was accepted, and `status` prints the
//! "running" line on stdout (heartbeat's ResourceManager greps stdout).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::control;
use super::pidfile::{liveness, Liveness};

/// Default control socket.
pub const DEFAULT_SOCKET: &str = "/run/lvsd/lvsd.sock";

/// Default metrics listener: loopback only.
pub const DEFAULT_METRICS: &str = "127.0.0.1:9612";

/// How long `start` waits for the daemon to answer, and `stop` for it to exit.
/// Generous: a big table under emulation takes tens of seconds.
const WAIT: Duration = Duration::from_secs(600);

/// Marks the re-executed child of `start`, so it knows stdio is set up.
pub(crate) const CHILD_ENV: &str = "LVSD_DAEMON_CHILD";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// `-d`: foreground, debug log to stderr.
    pub debug: bool,
    /// Config file as given (None: `ldirectord.cf`).
    pub file: Option<PathBuf>,
    /// The verb.
    pub verb: Verb,
    /// `--socket PATH`.
    pub socket: PathBuf,
    /// `--pid-file PATH` (None: `/run/lvsd/lvsd.CFGNAME.pid`).
    pub pid_file: Option<PathBuf>,
    /// `--metrics ADDR|off`.
    pub metrics: Option<SocketAddr>,
    /// `--metrics` was given (it then wins over lvsd.toml's `[metrics]`).
    pub metrics_given: bool,
    /// `--toml PATH`: lvsd's own settings (None: `/etc/lvsd/lvsd.toml` if
    /// it exists).
    pub toml: Option<PathBuf>,
    /// `--log-file PATH`: where a daemonised lvsd writes its log (None:
    /// the config's `logfile` when it names a file, else [`DEFAULT_LOG`]).
    pub log_file: Option<PathBuf>,
    /// Operands of `drain|enable|weight` (VIRTUAL REAL [N]).
    pub operands: Vec<String>,
    /// `drain --wait`: wait until no connection is active.
    pub wait: bool,
    /// `drain --wait --timeout S` (seconds).
    pub timeout: Option<u64>,
    /// `reload --confirm S`: roll back after S seconds unless confirmed.
    pub confirm: Option<u64>,
    /// `overrides --clear`.
    pub clear: bool,
}

/// Default log of a daemonised lvsd (foreground runs log to stderr).
pub const DEFAULT_LOG: &str = "/var/log/lvsd.log";

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Daemonise (or, with `-d`, run in the foreground).
    Start,
    /// Stop a running daemon.
    Stop,
    /// Stop then start.
    Restart,
    /// Restart only if running.
    TryRestart,
    /// Apply the config file again.
    Reload,
    /// Same as reload.
    ForceReload,
    /// Print the state.
    Status,
    /// Run in the foreground (systemd).
    Run,
    /// Hand the VIPs to the HA peer (hb_standby).
    Standby,
    /// Take the VIPs from the HA peer (hb_takeover).
    Takeover,
    /// `-h`.
    Help,
    /// `-v`.
    Version,
    /// `drain VIRTUAL REAL`: weight 0, connections drain.
    Drain,
    /// `enable VIRTUAL REAL`: back to the configured weight.
    Enable,
    /// `weight VIRTUAL REAL N`: override the configured weight.
    Weight,
    /// `overrides [--clear]`: list or clear the overrides.
    Overrides,
    /// `plan [FILE]`: what a reload would do to the kernel.
    Plan,
    /// `confirm`: keep a reload made with `--confirm`.
    Confirm,
}

impl Verb {
    /// The daemon verb named `s` in `verbs::VERBS`.
    fn parse(s: &str) -> Option<(Verb, bool)> {
        match super::verbs::find(s)? {
            super::verbs::VerbRow {
                form: super::verbs::Form::Daemon(v),
                lsb,
                ..
            } => Some((*v, !lsb)),
            _ => None,
        }
    }
}

/// Usage text (`lvsd --help`), built from `verbs::VERBS`.
pub fn usage() -> String {
    super::verbs::usage()
}

/// Parse argv (without the program name).
pub fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut debug = false;
    let mut socket = PathBuf::from(DEFAULT_SOCKET);
    let mut pid_file = None;
    let mut metrics: Option<SocketAddr> = DEFAULT_METRICS.parse().ok();
    let mut metrics_given = false;
    let mut log_file = None;
    let mut toml = None;
    let mut wait = false;
    let mut timeout = None;
    let mut confirm = None;
    let mut clear = false;
    let mut pos: Vec<String> = Vec::new();
    let mut it = argv.iter();
    let mut opts_done = false;
    while let Some(a) = it.next() {
        if opts_done || !a.starts_with('-') || a == "-" {
            pos.push(a.clone());
            continue;
        }
        let mut value = |name: &str| -> Result<String, String> {
            it.next()
                .cloned()
                .ok_or_else(|| format!("option {name} needs a value"))
        };
        match a.as_str() {
            "--" => opts_done = true,
            "-d" | "--debug" => debug = true,
            "-h" | "-?" | "--help" => return Ok(simple(Verb::Help)),
            "-v" | "--version" => return Ok(simple(Verb::Version)),
            "--socket" => socket = PathBuf::from(value("--socket")?),
            "--pid-file" => pid_file = Some(PathBuf::from(value("--pid-file")?)),
            "--log-file" => log_file = Some(PathBuf::from(value("--log-file")?)),
            "--toml" => toml = Some(PathBuf::from(value("--toml")?)),
            "--wait" => wait = true,
            "--clear" => clear = true,
            "--timeout" => timeout = Some(super::ops::parse_seconds(&value("--timeout")?)?),
            "--confirm" => confirm = Some(super::ops::parse_seconds(&value("--confirm")?)?),
            "--metrics" => {
                let v = value("--metrics")?;
                metrics_given = true;
                metrics = if v == "off" {
                    None
                } else {
                    Some(
                        v.parse()
                            .map_err(|_| format!("--metrics: invalid address {v:?}"))?,
                    )
                };
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let mut operands = Vec::new();
    // The operations verbs come first, with their operands after them.
    let ops_verb = pos
        .first()
        .and_then(|v| Verb::parse(v))
        .map(|(v, _)| v)
        .filter(|v| {
            matches!(
                v,
                Verb::Drain
                    | Verb::Enable
                    | Verb::Weight
                    | Verb::Overrides
                    | Verb::Plan
                    | Verb::Confirm
            )
        });
    // `run [FILE]` (a row with operands) has the verb first; the
    // ldirectord verbs come last.
    let verb_first = |w: &str| Verb::parse(w).is_some_and(|(_, first)| first);
    let (file, verb) = match pos.as_slice() {
        [v, rest @ ..] if ops_verb.is_some() => {
            let verb = ops_verb.unwrap_or(Verb::Confirm);
            let want = match verb {
                Verb::Drain | Verb::Enable => 2,
                Verb::Weight => 3,
                Verb::Plan => rest.len().min(1),
                _ => 0,
            };
            if rest.len() != want {
                return Err(format!("{v}: wrong number of arguments"));
            }
            if verb == Verb::Plan {
                (rest.first().map(PathBuf::from), v.as_str())
            } else {
                operands = rest.to_vec();
                (None, v.as_str())
            }
        }
        [v] => (None, v.as_str()),
        [r, f] if verb_first(r) => (Some(PathBuf::from(f)), r.as_str()),
        [f, v] => (Some(PathBuf::from(f)), v.as_str()),
        [] => return Err("no command given".into()),
        _ => return Err("too many arguments".into()),
    };
    let verb = match Verb::parse(verb) {
        Some((v, _)) => v,
        None => return Err(format!("unknown command {verb:?}")),
    };
    check_operands(verb, &operands)?;
    if wait && verb != Verb::Drain {
        return Err("--wait goes with drain only".into());
    }
    if timeout.is_some() && !wait {
        return Err("--timeout goes with drain --wait only".into());
    }
    if confirm.is_some() && !matches!(verb, Verb::Reload | Verb::ForceReload) {
        return Err("--confirm goes with reload only".into());
    }
    if clear && verb != Verb::Overrides {
        return Err("--clear goes with overrides only".into());
    }
    Ok(Args {
        debug,
        file,
        verb,
        socket,
        pid_file,
        metrics,
        metrics_given,
        log_file,
        toml,
        operands,
        wait,
        timeout,
        confirm,
        clear,
    })
}

/// VIRTUAL, REAL and N must at least be well formed (whether they name a
/// configured real is for the daemon to say).
fn check_operands(verb: Verb, ops: &[String]) -> Result<(), String> {
    use super::overrides::{parse_virtual, parse_weight, RealName};
    if let [v, r, rest @ ..] = ops {
        parse_virtual(v).map_err(|e| e.to_string())?;
        RealName::parse(r).map_err(|e| e.to_string())?;
        if let ([w], Verb::Weight) = (rest, verb) {
            parse_weight(w).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn simple(verb: Verb) -> Args {
    Args {
        debug: false,
        file: None,
        verb,
        socket: PathBuf::from(DEFAULT_SOCKET),
        pid_file: None,
        metrics: None,
        metrics_given: false,
        log_file: None,
        toml: None,
        operands: Vec::new(),
        wait: false,
        timeout: None,
        confirm: None,
        clear: false,
    }
}

/// ldirectord's `$CFGNAME`: the file's basename, or `ldirectord` when no
/// file was named. Names the pid file.
pub fn cfgname(file: Option<&Path>) -> String {
    match file.and_then(|f| f.file_name()) {
        Some(n) => n.to_string_lossy().into_owned(),
        None => "ldirectord".into(),
    }
}

/// The pid file for these arguments.
pub fn pid_path(args: &Args) -> PathBuf {
    args.pid_file.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "/run/lvsd/lvsd.{}.pid",
            cfgname(args.file.as_deref())
        ))
    })
}

/// Runs the daemon in this process (provided by the binary's wiring so
/// this module stays testable); returns the exit code.
pub type Foreground<'a> = &'a dyn Fn(&Args, &Path) -> i32;

/// Locates the config (ldirectord's search) and reads what the verb
/// [`Need`]s of it: `Err((exit code, message))`.
pub type Check<'a> = &'a dyn Fn(Option<&Path>, Need) -> Result<Located, (i32, String)>;

/// What a verb needs of its config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Only where it is (stop, reload, standby, takeover).
    Path,
    /// Its `execute=` instances, if it can be read; a broken file is no
    /// error (status).
    Instances,
    /// A valid file (start, restart, run): an invalid one is an error.
    Valid,
}

/// A located (and possibly validated) config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Located {
    /// Where it is.
    pub path: PathBuf,
    /// `supervised=yes`: `start` stays in the foreground.
    pub supervised: bool,
    /// `logfile` when it names a file.
    pub logfile: Option<PathBuf>,
    /// `execute=` instances (empty when the file cannot be read).
    pub execute: Vec<String>,
}

/// Execute a verb; returns the process exit code.
///
/// Like ldirectord every verb first locates the config file (exit 1 when
/// there is none) and names it in its messages; only the verbs that use
/// it (start, restart, run) refuse an invalid one, so a broken file never
/// stops `lvsd stop` or `lvsd status` from working.
pub fn execute(args: &Args, check: Check, foreground: Foreground) -> i32 {
    let pid = pid_path(args);
    match args.verb {
        Verb::Help => {
            print!("{}", usage());
            return 0;
        }
        Verb::Version => {
            println!("lvsd {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        _ => {}
    }
    if let Some(code) = super::opsctl::execute(args, check) {
        return code;
    }
    let need = match args.verb {
        Verb::Start | Verb::Restart | Verb::TryRestart | Verb::Run => Need::Valid,
        Verb::Status => Need::Instances,
        _ => Need::Path,
    };
    let located = match check(args.file.as_deref(), need) {
        Ok(p) => p,
        Err((code, msg)) => return fail(code, &msg),
    };
    let path = located.path.clone();
    let name = path.display().to_string();
    match args.verb {
        Verb::Help | Verb::Version => 0,
        Verb::Run => foreground(args, &path),
        Verb::Start => start(args, &pid, &located, foreground),
        Verb::Stop => stop(&pid),
        Verb::Restart => match stop(&pid) {
            0 => start(args, &pid, &located, foreground),
            c => c,
        },
        Verb::TryRestart => match liveness(&pid) {
            Liveness::Running(_) => match stop(&pid) {
                0 => start(args, &pid, &located, foreground),
                c => c,
            },
            _ => 0,
        },
        Verb::Reload | Verb::ForceReload => reload(args, &pid, &name),
        // Handled by `opsctl::execute` above.
        Verb::Drain
        | Verb::Enable
        | Verb::Weight
        | Verb::Overrides
        | Verb::Plan
        | Verb::Confirm => 2,
        Verb::Status => status(args, &pid, &name, &located.execute),
        Verb::Standby => role(args, &pid, &name, "standby"),
        Verb::Takeover => role(args, &pid, &name, "takeover"),
    }
}

fn fail(code: i32, msg: &str) -> i32 {
    let mut e = std::io::stderr();
    for line in msg.lines() {
        let _ = writeln!(e, "lvsd: {line}");
    }
    code
}

fn start(args: &Args, pid: &Path, located: &Located, foreground: Foreground) -> i32 {
    if let Liveness::Running(p) = liveness(pid) {
        eprintln!("lvsd: already running with pid {p}");
        return 0;
    }
    // supervised=yes: a supervisor (daemontools, runit) keeps us in the
    // foreground, as ldirectord does.
    if args.debug || located.supervised || std::env::var_os(CHILD_ENV).is_some() {
        return foreground(args, &located.path);
    }
    let log = args
        .log_file
        .clone()
        .or_else(|| located.logfile.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOG));
    daemonize(args, &located.path, pid, &log)
}

/// Re-execute ourselves as `lvsd ... run FILE` in a new session with
/// stdio detached, then wait until the daemon answers on its socket.
fn daemonize(args: &Args, path: &Path, pid: &Path, log_file: &Path) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(1, &format!("cannot find own executable: {e}")),
    };
    let log = log_file.display().to_string();
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file);
    let (o, e) = match out.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
        Err(_) => (Stdio::null(), Stdio::null()),
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--socket").arg(&args.socket);
    cmd.arg("--pid-file").arg(pid);
    cmd.arg("--log-file").arg(log_file);
    if let Some(t) = &args.toml {
        cmd.arg("--toml").arg(t);
    }
    if args.metrics_given {
        match args.metrics {
            Some(m) => cmd.arg("--metrics").arg(m.to_string()),
            None => cmd.arg("--metrics").arg("off"),
        };
    }
    cmd.arg("run").arg(path);
    cmd.env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(o)
        .stderr(e);
    // SAFETY: setsid is async-signal-safe, as pre_exec requires. std's
    // safe `process_group` only changes the group; the daemon needs its
    // own session (no controlling terminal), which only pre_exec gives.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(1, &format!("cannot start daemon: {e}")),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("runtime: {e}")),
    };
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return fail(1, &format!("daemon exited during start ({st}); see {log}"));
        }
        let ping = rt.block_on(control::request(
            &args.socket,
            "ping",
            Duration::from_secs(2),
        ));
        if matches!(ping, Ok((true, _))) && matches!(liveness(pid), Liveness::Running(_)) {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fail(1, "daemon did not become ready in time")
}

fn stop(pid: &Path) -> i32 {
    let p = match liveness(pid) {
        Liveness::Running(p) => p,
        Liveness::Stale(_) => {
            let _ = std::fs::remove_file(pid);
            return 0;
        }
        Liveness::Stopped => return 0,
    };
    let target = nix::unistd::Pid::from_raw(p);
    if let Err(e) = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM) {
        return fail(1, &format!("cannot signal pid {p}: {e}"));
    }
    // Wait for the process itself, not just the pid file: cleanstop runs
    // before the file is removed, and a restart must not race it.
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if nix::sys::signal::kill(target, None).is_err() || !super::pidfile::is_lvsd(p) {
            return 0;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    fail(1, &format!("pid {p} did not stop"))
}

fn reload(args: &Args, pid: &Path, name: &str) -> i32 {
    let p = match liveness(pid) {
        Liveness::Running(p) => p,
        _ => {
            println!("lvsd is stopped for {name}");
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("runtime: {e}")),
    };
    match rt.block_on(control::request(&args.socket, "reload", WAIT)) {
        Ok((true, msg)) => {
            println!("{}", msg.trim_end());
            0
        }
        Ok((false, msg)) if control::is_denied(&msg) => fail(4, &msg),
        Ok((false, msg)) => fail(2, &format!("reload rejected, running config kept:\n{msg}")),
        Err(_) => {
            // No socket (older instance, or another path): fall back to HUP.
            match nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGHUP,
            ) {
                Ok(()) => 0,
                Err(e) => fail(1, &format!("cannot signal pid {p}: {e}")),
            }
        }
    }
}

fn role(args: &Args, pid: &Path, name: &str, cmd: &str) -> i32 {
    if !matches!(liveness(pid), Liveness::Running(_)) {
        println!("lvsd is stopped for {name}");
        return 1;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("runtime: {e}")),
    };
    match rt.block_on(control::request(&args.socket, cmd, Duration::from_secs(30))) {
        Ok((true, msg)) => {
            println!("{}", msg.trim_end());
            0
        }
        Ok((false, msg)) if control::is_denied(&msg) => fail(4, &msg),
        Ok((false, msg)) => fail(1, &msg),
        Err(e) => fail(1, &format!("{}: {e}", args.socket.display())),
    }
}

fn status(args: &Args, pid: &Path, name: &str, execute: &[String]) -> i32 {
    match liveness(pid) {
        Liveness::Running(p) => {
            println!("lvsd for {name} is running with pid: {p}");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                match rt.block_on(control::request(
                    &args.socket,
                    "status",
                    Duration::from_secs(60),
                )) {
                    Ok((true, body)) => print!("{body}"),
                    Ok((false, e)) => eprintln!("lvsd: status: {e}"),
                    Err(e) => eprintln!("lvsd: status: {}: {e}", args.socket.display()),
                }
                // ldirectord follows its own status with the status of
                // each execute= instance; they print for themselves.
                let _ = std::io::stdout().flush();
                if !execute.is_empty() {
                    let instances = super::hooks::Instances {
                        exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("lvsd")),
                        socket_dir: args
                            .socket
                            .parent()
                            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                    };
                    for n in execute {
                        rt.block_on(instances.run(n, "status"));
                    }
                }
            }
            0
        }
        Liveness::Stale(_) => {
            eprintln!("lvsd stale pid file {} for {name}", pid.display());
            println!("lvsd is stopped for {name}");
            1
        }
        Liveness::Stopped => {
            println!("lvsd is stopped for {name}");
            3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Args, String> {
        parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn ldirectord_forms_parse() {
        let a = p(&["start"]).unwrap();
        assert_eq!((a.file, a.verb, a.debug), (None, Verb::Start, false));
        let a = p(&["-d", "my.cf", "status"]).unwrap();
        assert_eq!(
            (a.file, a.verb, a.debug),
            (Some("my.cf".into()), Verb::Status, true)
        );
        let a = p(&["--", "my.cf", "force-reload"]).unwrap();
        assert_eq!(a.verb, Verb::ForceReload);
        let a = p(&["run", "/etc/ha.d/x.cf"]).unwrap();
        assert_eq!((a.file, a.verb), (Some("/etc/ha.d/x.cf".into()), Verb::Run));
        assert_eq!(p(&["run"]).unwrap().verb, Verb::Run);
        let a = p(&["--socket", "/tmp/s", "--metrics", "off", "x.cf", "stop"]).unwrap();
        assert_eq!((a.socket, a.metrics), (PathBuf::from("/tmp/s"), None));
        assert!(p(&["x.cf", "frobnicate"]).is_err());
        assert!(p(&[]).is_err());
        assert!(p(&["--metrics", "nonsense", "start"]).is_err());
        assert_eq!(p(&["-v"]).unwrap().verb, Verb::Version);
    }

    #[test]
    fn operations_verbs_parse_with_their_operands_and_options() {
        let a = p(&[
            "drain",
            "tcp:10.0.0.1:80",
            "10.1.0.1:8080",
            "--wait",
            "--timeout",
            "30",
        ])
        .unwrap();
        assert_eq!(
            (a.verb, a.operands.as_slice(), a.wait, a.timeout),
            (
                Verb::Drain,
                &["tcp:10.0.0.1:80".to_string(), "10.1.0.1:8080".to_string()][..],
                true,
                Some(30)
            )
        );
        // Options may come first, as for the other verbs.
        let a = p(&["--socket", "/tmp/s", "enable", "fwm:7", "[2001:db8::1]:80"]).unwrap();
        assert_eq!((a.verb, a.socket), (Verb::Enable, PathBuf::from("/tmp/s")));
        let a = p(&["weight", "udp:[::1]:53", "10.1.0.1", "2147483647"]).unwrap();
        assert_eq!(
            (a.verb, a.operands[2].as_str()),
            (Verb::Weight, "2147483647")
        );
        let a = p(&["overrides", "--clear"]).unwrap();
        assert!(a.clear && a.verb == Verb::Overrides);
        let a = p(&["plan"]).unwrap();
        assert_eq!((a.verb, a.file), (Verb::Plan, None));
        let a = p(&["plan", "new.cf"]).unwrap();
        assert_eq!(a.file, Some(PathBuf::from("new.cf")));
        let a = p(&["my.cf", "reload", "--confirm", "60"]).unwrap();
        assert_eq!(
            (a.verb, a.confirm, a.file),
            (Verb::Reload, Some(60), Some("my.cf".into()))
        );
        assert_eq!(p(&["confirm"]).unwrap().verb, Verb::Confirm);
        for bad in [
            &["drain", "tcp:10.0.0.1:80"][..],
            &["drain", "tcp:10.0.0.1:80", "10.1.0.1:80", "extra"],
            &["drain", "10.0.0.1:80", "10.1.0.1:80"],
            &["drain", "tcp:10.0.0.1:80", "host:80"],
            &["weight", "tcp:10.0.0.1:80", "10.1.0.1:80", "2147483648"],
            &["weight", "tcp:10.0.0.1:80", "10.1.0.1:80", "-1"],
            &["weight", "tcp:10.0.0.1:80", "10.1.0.1:80"],
            &["drain", "tcp:10.0.0.1:80", "10.1.0.1:80", "--timeout", "5"],
            &[
                "drain",
                "tcp:10.0.0.1:80",
                "10.1.0.1:80",
                "--wait",
                "--timeout",
                "0",
            ],
            &["enable", "tcp:10.0.0.1:80", "10.1.0.1:80", "--wait"],
            &["status", "--confirm", "5"],
            &["reload", "--confirm", "x"],
            &["reload", "--confirm", "86401"],
            &["plan", "a.cf", "b.cf"],
            &["overrides", "x"],
            &["confirm", "now"],
            &["status", "--clear"],
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn pid_file_follows_ldirectord_cfgname() {
        let a = p(&["start"]).unwrap();
        assert_eq!(pid_path(&a), PathBuf::from("/run/lvsd/lvsd.ldirectord.pid"));
        let a = p(&["/etc/ha.d/web.cf", "start"]).unwrap();
        assert_eq!(pid_path(&a), PathBuf::from("/run/lvsd/lvsd.web.cf.pid"));
    }

    #[test]
    fn status_and_reload_of_a_stopped_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("x.pid");
        let mut a = p(&["x.cf", "status"]).unwrap();
        a.pid_file = Some(pid.clone());
        let never: Foreground = &|_, _| panic!("must not run");
        // A broken config only matters to the verbs that use it.
        let check: Check = &|_, need| {
            if need == Need::Valid {
                Err((2, "x.cf:1: bad".into()))
            } else {
                Ok(Located {
                    path: PathBuf::from("/etc/ha.d/x.cf"),
                    ..Default::default()
                })
            }
        };
        assert_eq!(execute(&a, check, never), 3);
        std::fs::write(&pid, "99999999\n").unwrap();
        assert_eq!(execute(&a, check, never), 1);
        a.verb = Verb::Reload;
        assert_eq!(execute(&a, check, never), 1);
        a.verb = Verb::Stop;
        assert_eq!(execute(&a, check, never), 0);
        assert!(!pid.exists(), "stale pid file removed by stop");
        a.verb = Verb::Start;
        assert_eq!(execute(&a, check, never), 2, "config error is exit 2");
        a.verb = Verb::TryRestart;
        assert_eq!(execute(&a, check, never), 2);
        let missing: Check = &|_, _| Err((1, "config file x.cf not found".into()));
        a.verb = Verb::Status;
        assert_eq!(execute(&a, missing, never), 1);
    }
}
