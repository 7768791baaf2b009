//! Host tier: lvsd.toml's `[virtual."KEY"]` sections through the real
//! `lvsd` binary on the in-memory kernel (`LVSD_TEST_FAKE_KERNEL=1`).
//! The external check script only touches files in the test's temp dir.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::daemon::Daemon;

/// `lvsd run` on the files the test put in `dir` (`l.cf`, `lvsd.toml`),
/// not waited for (a test expects it to exit).
fn start(dir: tempfile::TempDir) -> Daemon {
    let mut d = Daemon::at(dir);
    d.spawn();
    d
}

/// rise = 3: a real whose check starts passing comes back only after three
/// good checks in a row (each good check appends a line to `oks`).
#[test]
fn a_real_with_rise_3_returns_only_after_3_good_checks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = d.join("check.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ -e {down} ] && exit 1\necho ok >> {oks}\nexit 0\n",
            down = d.join("down").display(),
            oks = d.join("oks").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(d.join("down"), "").unwrap();
    std::fs::write(
        d.join("l.cf"),
        format!(
            "checkinterval=1\nvirtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq 2\n\
             \tchecktype=external\n\tcheckcommand={}\n\tscheduler=wrr\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("lvsd.toml"),
        "[virtual.\"tcp:10.0.0.1:80\"]\nrise = 3\n",
    )
    .unwrap();
    let dm = start(dir);
    let wait = |what: &str| -> String { wait_for(&dm, what) };
    wait("-> 10.1.0.1:80 masq down");
    std::fs::remove_file(dm.dir.path().join("down")).unwrap();
    wait("-> 10.1.0.1:80 masq up weight 2/2");
    let oks = std::fs::read_to_string(dm.dir.path().join("oks")).unwrap_or_default();
    assert!(
        oks.lines().count() >= 3,
        "up after {} good checks",
        oks.lines().count()
    );
    assert!(dm.log().contains("rising 2/3"), "{}", dm.log());
}

/// A section naming a virtual that ldirectord.cf does not define stops the
/// daemon with file:line:col.
#[test]
fn a_section_for_an_unknown_virtual_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("l.cf"),
        "virtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq\n\tchecktype=on\n",
    )
    .unwrap();
    std::fs::write(
        d.join("lvsd.toml"),
        "\n[virtual.\"tcp:10.0.0.9:80\"]\nrise = 2\n",
    )
    .unwrap();
    let mut dm = start(dir);
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = dm.child.as_mut().unwrap().try_wait().unwrap() {
            break s.code();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "still running: {}",
            dm.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(2), "{}", dm.log());
    let want = format!(
        "{}:2:1: virtual.\"tcp:10.0.0.9:80\": no such virtual in ldirectord.cf",
        dm.dir.path().join("lvsd.toml").display()
    );
    assert!(dm.log().contains(&want), "{}", dm.log());
}

/// Wait (bounded) until `lvsd status` shows `what`.
fn wait_for(dm: &Daemon, what: &str) -> String {
    dm.wait_status_every(what, Duration::from_millis(50))
}

/// An external check script in `d` that exits with the number in the file
/// `code` (0 when it is missing).
fn code_script(d: &Path) -> std::path::PathBuf {
    let script = d.join("check.sh");
    let code = d.join("code");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ -e {c} ] && exit $(cat {c})\nexit 0\n",
            c = code.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

/// dynamic_weight (keepalived misc_dynamic): the external check's exit
/// code sets the weight the kernel table holds: 0 the configured weight,
/// 2..255 weight code-2 (2: weight 0, the real stays in the table), 1 down.
#[test]
fn dynamic_weight_sets_the_kernel_weight_from_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = code_script(d);
    std::fs::write(d.join("code"), "7").unwrap();
    std::fs::write(
        d.join("l.cf"),
        format!(
            "checkinterval=1\nvirtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq 2\n\
             \treal=10.1.0.2:80 masq 4\n\tchecktype=external\n\tcheckcommand={}\n\tscheduler=wrr\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("lvsd.toml"),
        "[virtual.\"tcp:10.0.0.1:80\"]\ndynamic_weight = true\n",
    )
    .unwrap();
    let dm = start(dir);
    let code = dm.dir.path().join("code");
    let s = wait_for(&dm, "-> 10.1.0.1:80 masq up weight 5/2");
    assert!(s.contains("-> 10.1.0.2:80 masq up weight 5/4"), "{s}");
    std::fs::write(&code, "0").unwrap();
    let s = wait_for(&dm, "-> 10.1.0.1:80 masq up weight 2/2");
    assert!(s.contains("-> 10.1.0.2:80 masq up weight 4/4"), "{s}");
    std::fs::write(&code, "2").unwrap();
    wait_for(&dm, "-> 10.1.0.1:80 masq up weight 0/2");
    std::fs::write(&code, "1").unwrap();
    wait_for(&dm, "-> 10.1.0.1:80 masq down");
    std::fs::write(&code, "12").unwrap();
    wait_for(&dm, "-> 10.1.0.1:80 masq up weight 10/2");
    assert!(dm.log().contains("weight set by the check"), "{}", dm.log());
}

/// Without dynamic_weight an exit code of 7 is down, as in ldirectord.
#[test]
fn without_dynamic_weight_a_non_zero_exit_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = code_script(d);
    std::fs::write(d.join("code"), "7").unwrap();
    std::fs::write(
        d.join("l.cf"),
        format!(
            "checkinterval=1\nvirtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq 2\n\
             \tchecktype=external\n\tcheckcommand={}\n\tscheduler=wrr\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(d.join("lvsd.toml"), "").unwrap();
    let dm = start(dir);
    wait_for(&dm, "-> 10.1.0.1:80 masq down");
    std::fs::write(dm.dir.path().join("code"), "0").unwrap();
    wait_for(&dm, "-> 10.1.0.1:80 masq up weight 2/2");
}

/// The kernel weight `lvsd status` shows for `real` (None when it is not
/// in the table or not up).
fn kernel_weight(status: &str, real: &str) -> Option<u32> {
    let line = status
        .lines()
        .find(|l| l.contains(&format!("-> {real} ")))?;
    let w = line.split(" up weight ").nth(1)?;
    w.split('/').next()?.parse().ok()
}

/// slow_start = 4: a real that comes back after being down ramps from
/// weight 1 to its weight 8 in 1 s steps (1, 2, 4, 6, 8), re-applied by
/// the daemon as time passes; at the first start it gets 8 at once.
#[test]
fn slow_start_ramps_a_returning_real_from_1_to_its_weight() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = code_script(d);
    std::fs::write(
        d.join("l.cf"),
        format!(
            "checkinterval=1\nvirtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq 8\n\
             \tchecktype=external\n\tcheckcommand={}\n\tscheduler=wrr\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("lvsd.toml"),
        "[virtual.\"tcp:10.0.0.1:80\"]\nslow_start = 4\n",
    )
    .unwrap();
    let dm = start(dir);
    // First start: no ramp.
    wait_for(&dm, "-> 10.1.0.1:80 masq up weight 8/8");
    std::fs::write(dm.dir.path().join("code"), "1").unwrap();
    wait_for(&dm, "-> 10.1.0.1:80 masq down");
    std::fs::remove_file(dm.dir.path().join("code")).unwrap();
    // Watch the weight until it is back at 8.
    let t0 = Instant::now();
    let mut seen: Vec<(Duration, u32)> = Vec::new();
    while t0.elapsed() < Duration::from_secs(20) {
        if let Some(w) = kernel_weight(&dm.status(), "10.1.0.1:80") {
            if seen.last().map(|s| s.1) != Some(w) {
                seen.push((t0.elapsed(), w));
            }
            if w == 8 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("weights seen: {seen:?}");
    let weights: Vec<u32> = seen.iter().map(|s| s.1).collect();
    assert_eq!(weights.first(), Some(&1), "{seen:?}\n{}", dm.log());
    assert_eq!(weights.last(), Some(&8), "{seen:?}");
    assert!(
        weights.windows(2).all(|w| w[0] < w[1]),
        "not a rising ramp: {seen:?}"
    );
    // Steps in between, and the whole ramp takes about 4 s (the daemon
    // re-applies the weight once a second).
    assert!(weights.len() >= 4, "{seen:?}");
    let (first, last) = (seen[0].0, seen[seen.len() - 1].0);
    let took = last - first;
    assert!(
        took >= Duration::from_millis(2500) && took <= Duration::from_secs(7),
        "{seen:?}"
    );
}

/// What the test's agent server does with each connection.
#[derive(Clone)]
enum Agent {
    /// Send this text, then close.
    Say(String),
    /// Send bytes without a line break until the client goes away.
    Endless,
    /// Accept and say nothing until the client goes away.
    Silent,
}

/// A HAProxy-style agent on 127.0.0.1:`port`, run on threads; it counts
/// connections and the most open at once. Stopped on drop.
struct AgentServer {
    mode: std::sync::Arc<std::sync::Mutex<Agent>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// (connections so far, open now, most open at once)
    counts: std::sync::Arc<std::sync::Mutex<(u32, u32, u32)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AgentServer {
    fn start(port: u16, first: Agent) -> AgentServer {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        l.set_nonblocking(true).unwrap();
        let mode = std::sync::Arc::new(std::sync::Mutex::new(first));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let counts = std::sync::Arc::new(std::sync::Mutex::new((0u32, 0u32, 0u32)));
        let (m, st, c) = (mode.clone(), stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
                let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
                {
                    let mut n = c.lock().unwrap();
                    n.0 += 1;
                    n.1 += 1;
                    n.2 = n.2.max(n.1);
                }
                let (what, c, st) = (m.lock().unwrap().clone(), c.clone(), st.clone());
                conns.push(std::thread::spawn(move || {
                    let t0 = Instant::now();
                    // Bounded: the client's timeout ends it long before.
                    let alive =
                        || !st.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(10);
                    match what {
                        Agent::Say(t) => {
                            let _ = s.write_all(t.as_bytes());
                        }
                        Agent::Endless => {
                            let junk = [b'x'; 1024];
                            while alive() {
                                match s.write(&junk) {
                                    Ok(_) => {}
                                    Err(e)
                                        if e.kind() == std::io::ErrorKind::WouldBlock
                                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                                    Err(_) => break,
                                }
                            }
                        }
                        Agent::Silent => {
                            let mut b = [0u8; 64];
                            while alive() {
                                match s.read(&mut b) {
                                    Ok(0) => break,
                                    Ok(_) => {}
                                    Err(e)
                                        if e.kind() == std::io::ErrorKind::WouldBlock
                                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                    c.lock().unwrap().1 -= 1;
                }));
            }
            for t in conns {
                let _ = t.join();
            }
        });
        AgentServer {
            mode,
            stop,
            counts,
            thread: Some(thread),
        }
    }

    fn set(&self, a: Agent) {
        *self.mode.lock().unwrap() = a;
    }

    fn counts(&self) -> (u32, u32, u32) {
        *self.counts.lock().unwrap()
    }
}

impl Drop for AgentServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn say(s: &str) -> Agent {
    Agent::Say(s.into())
}

/// agent_port: the real's agent is combined with its normal check:
/// `NN%` scales the weight, drain sets 0 (the real stays), down and maint
/// take it out, `ready` brings it back; a hostile agent (an endless line,
/// one that never answers) changes nothing, is asked one connection at a
/// time and is reported with a clean reason; a failing normal check wins
/// over an agent that says up.
#[test]
fn the_agent_check_is_combined_with_the_normal_check() {
    let agent = AgentServer::start(22320, say("up 50%\n"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = code_script(d);
    std::fs::write(
        d.join("l.cf"),
        format!(
            "checkinterval=1\nvirtual=10.0.0.1:80\n\treal=127.0.0.1:80 masq 8\n\
             \tchecktype=external\n\tcheckcommand={}\n\tscheduler=wrr\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("lvsd.toml"),
        "[virtual.\"tcp:10.0.0.1:80\"]\nagent_port = 22320\nagent_interval = 2\nagent_timeout = 1\n",
    )
    .unwrap();
    let dm = start(dir);
    wait_for(&dm, "-> 127.0.0.1:80 masq up weight 4/8");
    agent.set(say("drain\n"));
    wait_for(&dm, "-> 127.0.0.1:80 masq up weight 0/8");
    agent.set(say("maint\n"));
    let s = wait_for(&dm, "-> 127.0.0.1:80 masq down weight -/8");
    assert!(s.contains("exited 0 (agent: up maint 50%)\n"), "{s}");
    agent.set(say("ready 100%"));
    wait_for(&dm, "-> 127.0.0.1:80 masq up weight 8/8");
    agent.set(say("down #disk full\n"));
    wait_for(&dm, "(agent: down 100%)");
    agent.set(say("up 25%\n"));
    wait_for(&dm, "-> 127.0.0.1:80 masq up weight 2/8");
    // Hostile agents: the state stays as it was.
    agent.set(Agent::Endless);
    let t0 = Instant::now();
    while !dm.log().contains("answer longer than 512 bytes") {
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", dm.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.set(Agent::Silent);
    let t0 = Instant::now();
    while !dm
        .log()
        .contains("agent check failed (state kept): timed out after 1s")
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", dm.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.set(say("\x1b[2Jup\x07 nonsense\n"));
    let s = wait_for(&dm, "-> 127.0.0.1:80 masq up weight 2/8");
    agent.set(say("HTTP/1.1 400 Bad Request\r\n"));
    let t0 = Instant::now();
    while !dm
        .log()
        .contains("no agent keyword in \"HTTP/1.1 400 Bad Request\\r\"")
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", dm.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.contains("weight 2/8"), "{s}");
    let (total, _, most) = agent.counts();
    assert!(total >= 6, "{total} connections");
    // The interval (2 s) is well above the timeout (1 s): a second
    // connection while one is open can only come from the daemon, not
    // from the server noticing a close late.
    assert_eq!(most, 1, "the agent is asked one connection at a time");
    assert!(!dm.log().contains('\x1b'), "raw escape in the log");
    // The normal check still decides: down whatever the agent says.
    agent.set(say("up 100%\n"));
    wait_for(&dm, "-> 127.0.0.1:80 masq up weight 8/8");
    std::fs::write(dm.dir.path().join("code"), "1").unwrap();
    wait_for(&dm, "-> 127.0.0.1:80 masq down");
}
