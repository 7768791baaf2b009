//! Host tier: the real `lvsd` binary in the foreground (`lvsd run`) on the
//! in-memory kernel (`LVSD_TEST_FAKE_KERNEL=1`, no IPVS needed), driven by
//! signals and file changes as an operator would: SIGHUP reloads by diff, a
//! broken file on SIGHUP keeps the table, `autoreload=yes` picks up a
//! changed file, `callback` runs with the file's path, `lvsd start` returns
//! only once the first table is applied. Nothing leaves the host: the
//! config only names addresses that are never contacted (checktype=on).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::daemon::{Daemon, LVSD};

fn config(head: &str, weight: u32) -> String {
    format!(
        "{head}virtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq {weight}\n\treal=10.1.0.2:80 masq 1\n\
         \tchecktype=on\n\tscheduler=wrr\nvirtual=10.0.0.2:80\n\treal=10.2.0.1:80 masq 1\n\
         \tchecktype=on\n"
    )
}

#[test]
fn sighup_reloads_by_diff_and_a_broken_file_keeps_the_table() {
    let d = Daemon::run(&config("", 1));
    d.wait_status("-> 10.1.0.1:80 masq up weight 1/1");
    d.write_config(&config("", 4));
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_status("-> 10.1.0.1:80 masq up weight 4/4");
    d.wait_log("trigger=\"SIGHUP\"");
    d.wait_log("configuration applied: 1 kernel operations");
    // A broken file: errors logged with file:line, table and daemon kept.
    d.write_config(&format!("{}bogus=1\n", config("", 9)));
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.wait_log("configuration rejected; the running table is kept");
    assert!(d.log().contains("l.cf:9"), "{}", d.log());
    let s = d.status();
    assert!(s.contains("-> 10.1.0.1:80 masq up weight 4/4"), "{s}");
    assert!(
        d.child.as_ref().map(|c| c.id()).is_some() && s.contains("is running"),
        "{s}"
    );
}

#[test]
fn autoreload_picks_up_a_changed_file_and_runs_the_callback() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cb.out");
    let cb = dir.path().join("cb");
    std::fs::write(
        &cb,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", out.display()),
    )
    .unwrap();
    std::fs::set_permissions(&cb, std::fs::Permissions::from_mode(0o755)).unwrap();
    let head = format!("autoreload=yes\ncallback=\"{}\"\n", cb.display());
    let d = Daemon::run(&config(&head, 1));
    d.wait_status("-> 10.1.0.1:80 masq up weight 1/1");
    d.write_config(&config(&head, 6));
    d.wait_status("-> 10.1.0.1:80 masq up weight 6/6");
    d.wait_log("trigger=\"autoreload\"");
    let t0 = Instant::now();
    // The file exists as soon as the shell opens it: wait for the line.
    let mut called = String::new();
    while t0.elapsed() < Duration::from_secs(10) && !called.ends_with('\n') {
        std::thread::sleep(Duration::from_millis(50));
        called = std::fs::read_to_string(&out).unwrap_or_default();
    }
    assert_eq!(called.trim(), d.path("l.cf").display().to_string());
}

#[test]
fn start_returns_once_the_table_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let cf = dir.path().join("l.cf");
    std::fs::write(&cf, config("", 1)).unwrap();
    let run = |verb: &str| {
        Command::new(LVSD)
            .env("LVSD_TEST_FAKE_KERNEL", "1")
            .arg("--socket")
            .arg(dir.path().join("s.sock"))
            .arg("--pid-file")
            .arg(dir.path().join("l.pid"))
            .arg("--log-file")
            .arg(dir.path().join("log"))
            .arg("--metrics")
            .arg("off")
            .arg("--toml")
            .arg("/dev/null")
            .arg(&cf)
            .arg(verb)
            .output()
            .unwrap()
    };
    let st = run("start");
    assert!(st.status.success(), "{st:?}");
    // No waiting: the table is there when start returns.
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(log.contains("initial table applied"), "{log}");
    let s = run("status");
    assert!(
        String::from_utf8_lossy(&s.stdout).contains("-> 10.2.0.1:80 masq up weight 1/1"),
        "{s:?}"
    );
    let st = run("stop");
    assert!(st.status.success(), "{st:?}");
    assert!(!Path::new(&dir.path().join("l.pid")).exists());
}

/// `execute=` runs another instance beside this one, and `status` reports
/// it after this one's own status, as ldirectord does; stopping this one
/// stops it.
#[test]
fn status_lists_execute_instances() {
    let child_dir = tempfile::tempdir().unwrap();
    let child_cf = child_dir.path().join("lvsd-test-child.cf");
    std::fs::write(
        &child_cf,
        "virtual=10.0.0.9:80\n\treal=10.9.0.1:80 masq 1\n\tchecktype=on\n",
    )
    .unwrap();
    let head = format!("execute={}\n", child_cf.display());
    let d = Daemon::run(&config(&head, 1));
    let s = d.wait_status(&format!(
        "lvsd for {} is running with pid",
        child_cf.display()
    ));
    // This instance first, then the other one's own table.
    let own = s.find("-> 10.1.0.1:80").expect("own table");
    let other = s
        .find("-> 10.9.0.1:80 masq up weight 1/1")
        .unwrap_or_else(|| {
            panic!(
                "the execute= instance's table is missing:\n{s}\nlog:\n{}",
                d.log()
            )
        });
    assert!(own < other, "{s}");
    let pid_line = s
        .lines()
        .find(|l| l.contains(&*child_cf.to_string_lossy()))
        .unwrap()
        .to_string();
    let child_pid: i32 = pid_line.rsplit(' ').next().unwrap().parse().unwrap();
    drop(d);
    // The other instance stops with this one (bounded wait).
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20)
        && nix::sys::signal::kill(nix::unistd::Pid::from_raw(child_pid), None).is_ok()
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child_pid), None).is_err(),
        "execute= instance {child_pid} still running"
    );
}

/// The session id of `pid` (field 6 of /proc/PID/stat), None once gone.
fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(3)?.parse().ok()
}

/// Defect 2 of issue 13: `execute=` instances started by a daemonised
/// `lvsd FILE start` inherited its "I am the re-executed child" marker,
/// ran in the foreground under the daemon and were SIGKILLed 600 s later
/// (the second instance never started before that). Each must daemonise
/// as its own `lvsd start` would: a session of its own, a pid file beside
/// the control socket, and `lvsd FILE stop` stops them all.
#[test]
fn execute_instances_of_a_started_daemon_daemonise_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let tag = std::process::id();
    let mut others = Vec::new();
    for (i, net) in [(1, 31), (2, 32)] {
        let cf = dir.path().join(format!("lvsd-exec{tag}-{i}.cf"));
        std::fs::write(
            &cf,
            format!(
                "logfile=\"{}\"\nvirtual=10.0.{net}.9:80\n\treal=10.{net}.0.1:80 masq 1\n\tchecktype=on\n",
                dir.path().join(format!("other{i}.log")).display()
            ),
        )
        .unwrap();
        others.push(cf);
    }
    let cf = dir.path().join("l.cf");
    let head: String = others
        .iter()
        .map(|o| format!("execute={}\n", o.display()))
        .collect();
    std::fs::write(&cf, config(&head, 1)).unwrap();
    let run = |verb: &str| {
        Command::new(LVSD)
            .env("LVSD_TEST_FAKE_KERNEL", "1")
            .arg("--socket")
            .arg(dir.path().join("s.sock"))
            .arg("--pid-file")
            .arg(dir.path().join("l.pid"))
            .arg("--log-file")
            .arg(dir.path().join("log"))
            .arg("--metrics")
            .arg("off")
            .arg("--toml")
            .arg("/dev/null")
            .arg(&cf)
            .arg(verb)
            .output()
            .unwrap()
    };
    // Whatever happens below, nothing this test started survives it.
    struct Reaper(Vec<i32>);
    impl Drop for Reaper {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let t0 = Instant::now();
    let st = run("start");
    assert!(st.status.success(), "{st:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "start took too long"
    );
    let main_pid: i32 = std::fs::read_to_string(dir.path().join("l.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut reaper = Reaper(vec![main_pid]);
    let log = || std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    // Both instances come up (the second only starts once the first
    // instance's `start` returned), each with its own pid file.
    let mut pids = Vec::new();
    for o in &others {
        let name = o.file_name().unwrap().to_string_lossy().into_owned();
        let pf = dir.path().join(format!("lvsd.{name}.pid"));
        let t0 = Instant::now();
        let mut pid = None;
        while t0.elapsed() < Duration::from_secs(30) && pid.is_none() {
            pid = std::fs::read_to_string(&pf)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok());
            std::thread::sleep(Duration::from_millis(100));
        }
        let pid = pid
            .unwrap_or_else(|| panic!("no pid file {} for {name}; log:\n{}", pf.display(), log()));
        reaper.0.push(pid);
        // Daemonised: a session leader of its own, not a child in the
        // daemon's session waiting to be killed.
        assert_eq!(session_of(pid), Some(pid), "{name} not daemonised");
        assert_ne!(session_of(pid), session_of(main_pid));
        pids.push((pid, pf));
    }
    let s = run("status");
    let out = String::from_utf8_lossy(&s.stdout).into_owned();
    for net in [31, 32] {
        assert!(
            out.contains(&format!("-> 10.{net}.0.1:80 masq up weight 1/1")),
            "{out}\nlog:\n{}",
            log()
        );
    }
    let st = run("stop");
    assert!(st.status.success(), "{st:?}");
    assert!(!dir.path().join("l.pid").exists());
    for (pid, pf) in &pids {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) && session_of(*pid).is_some() {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(session_of(*pid).is_none(), "instance {pid} still running");
        assert!(!pf.exists(), "{} left behind", pf.display());
    }
}

/// Open descriptors of `pid`.
fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One HTTP/1.1 GET with a 10 s budget; the whole answer.
fn http_get(port: u16, path: &str, host: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A server at its connection limit closes at once: the write may then
    // fail (EPIPE) and the answer is empty, which callers retry.
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the server closed `s` (EOF or reset) within `within`.
fn closed_by_peer(s: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

/// Defect 5 of issue 13: 200 idle connections to the status port used to
/// hold 200 descriptors forever (and starved the checks of descriptors).
/// Now the daemon keeps at most 64 connections, closes idle and slowloris
/// clients after their timeouts, and still answers an ordinary client.
/// Defect 12: a Host that is not a loopback name gets 421 and no data.
#[test]
fn status_port_stays_bounded_under_idle_and_slow_clients() {
    use std::io::Write;
    const PORT: u16 = 21211;
    let mut dm = Daemon::with_files(&config("", 1), None)
        .metrics(&format!("127.0.0.1:{PORT}"))
        // header 2 s, idle 3 s, lifetime 60 s
        .env("LVSD_TEST_HTTP_TIMEOUTS_MS", "2000,3000,60000");
    dm.spawn();
    let pid = dm.pid();
    let t0 = Instant::now();
    let mut up = false;
    while t0.elapsed() < Duration::from_secs(30) && !up {
        up = std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok();
        if let Ok(Some(st)) = dm.child.as_mut().unwrap().try_wait() {
            panic!("lvsd exited: {st}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "status port never opened");
    std::thread::sleep(Duration::from_millis(300));
    let base = fd_count(pid);

    // 20 slowloris connections (first, so they hold slots) and 200 idle.
    let mut slow: Vec<std::net::TcpStream> = (0..20)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", PORT)).ok())
        .collect();
    let mut idle: Vec<std::net::TcpStream> = (0..200)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", PORT)).ok())
        .collect();
    let mut peak = 0;
    for i in 0..5 {
        for s in &mut slow {
            let _ = s.write_all(&b"GET /status.json HTTP/1.1\r\nX"[i..i + 1]);
        }
        peak = peak.max(fd_count(pid));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        peak <= base + 64 + 8,
        "descriptors grew from {base} to {peak} with 220 idle clients"
    );
    // An ordinary client still gets its answer (once slots free up).
    let t0 = Instant::now();
    let mut body = String::new();
    while t0.elapsed() < Duration::from_secs(20) {
        body = http_get(PORT, "/status.json", "localhost");
        if body.starts_with("HTTP/1.1 200") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        body.starts_with("HTTP/1.1 200") && body.contains("\"virtuals\""),
        "{body}"
    );
    // DNS rebinding: a foreign Host gets 421 and none of the data.
    let r = http_get(PORT, "/status.json", "rebind.example:21211");
    assert!(r.starts_with("HTTP/1.1 421"), "{r}");
    assert!(!r.contains("10.1.0.1"), "{r}");
    // Every idle and slow client is closed by the server in time.
    for s in idle.iter_mut().chain(slow.iter_mut()) {
        assert!(
            closed_by_peer(s, Duration::from_secs(10)),
            "a client was kept open past the idle/header timeout"
        );
    }
    drop(idle);
    drop(slow);
    std::thread::sleep(Duration::from_millis(500));
    assert!(fd_count(pid) <= base + 2, "{} > {base}", fd_count(pid));
    drop(dm);
}

/// Run `cmd` with a deadline; its output, or a panic naming what hung
/// (the child is killed first).
fn output_within(mut cmd: Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{cmd:?} still running after {limit:?}");
}

/// Issue 13 defect 12: `--toml /dev/zero` read forever; a config that is
/// a FIFO hung the reader. Both now fail at once, naming the file.
#[test]
fn toml_and_config_files_that_are_not_regular_fail_promptly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("l.cf"), config("", 1)).unwrap();
    let mut c = Command::new(LVSD);
    c.env("LVSD_TEST_FAKE_KERNEL", "1")
        .arg("--socket")
        .arg(dir.path().join("s.sock"))
        .arg("--pid-file")
        .arg(dir.path().join("l.pid"))
        .arg("--metrics")
        .arg("off")
        .arg("--toml")
        .arg("/dev/zero")
        .arg("run")
        .arg(dir.path().join("l.cf"));
    let out = output_within(c, Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
    // ldirectord.cf as a FIFO: check-config answers instead of blocking.
    let fifo = dir.path().join("fifo.cf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut c = Command::new(LVSD);
    c.arg("check-config").arg(&fifo);
    let out = output_within(c, Duration::from_secs(20));
    assert!(!out.status.success(), "{out:?}");
}

/// Issue 13 defect 12: `monitorfile=` naming a FIFO hung `check-config`
/// (open for writing waits for a reader); a symlink was followed. Both
/// are refused with file:line, at once.
#[test]
fn check_config_refuses_a_fifo_or_symlink_monitorfile_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("mon.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "").unwrap();
    let link = dir.path().join("mon.link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    for (target, why) in [(&fifo, "not a regular file"), (&link, "symbolic link")] {
        let cf = dir.path().join("l.cf");
        std::fs::write(
            &cf,
            format!(
                "virtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq 1\n\tchecktype=on\n\tmonitorfile={}\n",
                target.display()
            ),
        )
        .unwrap();
        let mut c = Command::new(LVSD);
        c.arg("check-config").arg(&cf);
        let out = output_within(c, Duration::from_secs(20));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{text}");
        assert!(text.contains("l.cf:4") && text.contains(why), "{text}");
    }
}

/// Issue 13: every task ends at shutdown. With idle control-socket and
/// status-page clients connected, SIGTERM stops lvsd promptly with exit 0
/// (idle connections used to be detached tasks nobody ended).
#[test]
fn sigterm_with_idle_control_and_status_clients_exits_promptly() {
    const PORT: u16 = 22010;
    let mut dm = Daemon::with_files(&config("", 1), None).metrics(&format!("127.0.0.1:{PORT}"));
    dm.spawn();
    let sock = dm.path("s.sock");
    let pid = dm.pid();
    let t0 = Instant::now();
    let mut up = false;
    while t0.elapsed() < Duration::from_secs(30) && !up {
        up = std::net::TcpStream::connect(("127.0.0.1", PORT)).is_ok()
            && std::os::unix::net::UnixStream::connect(&sock).is_ok();
        if let Ok(Some(st)) = dm.child.as_mut().unwrap().try_wait() {
            panic!("lvsd exited: {st}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "lvsd never listened");
    let mut idle_unix = Vec::new();
    let mut idle_tcp = Vec::new();
    for _ in 0..5 {
        idle_unix.push(std::os::unix::net::UnixStream::connect(&sock).unwrap());
        idle_tcp.push(std::net::TcpStream::connect(("127.0.0.1", PORT)).unwrap());
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = dm.child.as_mut().unwrap().try_wait() {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(4),
            "lvsd did not stop within 4 s with idle clients connected"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    assert!(!sock.exists(), "the control socket is removed");
}

/// Pids recorded by the test's hook script, by tag (`TAG PID` lines).
fn recorded_pids(path: &Path, tag: &str) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(t, _)| *t == tag)
        .filter_map(|(_, p)| p.trim().parse().ok())
        .collect()
}

/// Issue 13: every task the daemon starts is tracked and ends at stop.
/// `quorum_up`/`quorum_down`, `fallbackcommand`, `callback` and a
/// `[[hook]]` all run a script that records its pid and a grandchild's
/// (`sleep 1000 &`) and then waits. A real flapping three times runs one
/// quorum command at a time (it used to start one per crossing, unbounded),
/// and SIGTERM stops lvsd promptly, exit 0, with none of those processes
/// left anywhere.
#[test]
fn sigterm_ends_long_hooks_quorum_commands_and_their_children() {
    let dir = tempfile::tempdir().unwrap();
    let d = &dir.path().to_path_buf();
    let pids = d.join("pids");
    let script = d.join("hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1 $$\" >> {p}\nsleep 1000 &\necho \"$1 $!\" >> {p}\nwait\n",
            p = pids.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let flag = d.join("up");
    std::fs::write(&flag, "").unwrap();
    let chk = d.join("chk.sh");
    std::fs::write(&chk, format!("#!/bin/sh\n[ -e {} ]\n", flag.display())).unwrap();
    std::fs::set_permissions(&chk, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cf = d.join("l.cf");
    let cf_text = format!(
        "checkinterval=1\nchecktimeout=1\ncallback=\"{s} callback\"\n\
         virtual=192.0.2.10:80\n\treal=10.1.0.1:80 masq 1\n\tchecktype=external\n\
         \tcheckcommand={c}\n\tfallbackcommand=\"{s} fallback\"\n",
        s = script.display(),
        c = chk.display()
    );
    std::fs::write(&cf, &cf_text).unwrap();
    std::fs::write(
        d.join("lvsd.toml"),
        format!(
            "[[hook]]\non = [\"real_down\"]\ncommand = [\"{s}\", \"event\"]\ntimeout_ms = 600000\n\
             [virtual.\"tcp:192.0.2.10:80\"]\nquorum = 1\nquorum_timeout_ms = 600000\n\
             quorum_up = [\"{s}\", \"quorum\"]\nquorum_down = [\"{s}\", \"quorum\"]\n",
            s = script.display()
        ),
    )
    .unwrap();
    let log = d.join("log");
    let mut dm = Daemon::at(dir);
    dm.spawn();
    // Kills every recorded process even when an assert fails (the daemon
    // itself is stopped by its own drop, after this one).
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for tag in ["quorum", "fallback", "callback", "event"] {
                for p in recorded_pids(&self.0, tag) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
    let _cleanup = Cleanup(pids.clone());
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_until = |what: &str, f: &dyn Fn() -> bool| {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what} never happened; log:\n{}", read_log());
    };
    wait_until("the first table", &|| {
        read_log().contains("initial table applied")
    });
    wait_until("the quorum start", &|| {
        read_log().contains("starting with quorum up")
    });
    // callback: the config file changes on disk.
    std::fs::write(&cf, format!("{cf_text}# changed\n")).unwrap();
    wait_until("callback", &|| recorded_pids(&pids, "callback").len() == 2);
    // Three flaps: lost, gained, lost, gained, lost, gained.
    for i in 1..=3 {
        std::fs::remove_file(&flag).unwrap();
        wait_until("quorum lost", &|| {
            read_log().matches("lost quorum").count() == i
        });
        std::fs::write(&flag, "").unwrap();
        wait_until("quorum gained", &|| {
            read_log().matches("gained quorum").count() == i
        });
    }
    wait_until("fallbackcommand", &|| {
        !recorded_pids(&pids, "fallback").is_empty()
    });
    wait_until("the event hook", &|| {
        !recorded_pids(&pids, "event").is_empty()
    });
    // One quorum command (the first quorum_down, still running) and its
    // grandchild: the crossings after it waited, the last ones cancelled.
    std::thread::sleep(Duration::from_millis(500));
    let quorum = recorded_pids(&pids, "quorum");
    assert_eq!(quorum.len(), 2, "quorum commands started: {quorum:?}");
    let all: Vec<i32> = ["quorum", "fallback", "callback", "event"]
        .iter()
        .flat_map(|t| recorded_pids(&pids, t))
        .collect();
    assert!(all.iter().all(|p| common::pid_alive(*p)), "{all:?} all run");
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dm.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = loop {
        if let Ok(Some(st)) = dm.child.as_mut().unwrap().try_wait() {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "lvsd did not stop within 15 s; log:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t0.elapsed();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        read_log()
    );
    // The kill is synchronous (SIGKILL to each group) but the kernel may
    // take a moment to tear the processes down.
    let t1 = Instant::now();
    let mut left: Vec<i32> = all.clone();
    while t1.elapsed() < Duration::from_secs(2) && !left.is_empty() {
        left.retain(|p| common::pid_alive(*p));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        left.is_empty(),
        "processes left after stop: {left:?} (of {all:?}); log:\n{}",
        read_log()
    );
    eprintln!("stopped in {took:?}");
}
