//! Per-virtual quorum through the real `lvsd` binary on the in-memory
//! kernel (LVSD_TEST_FAKE_KERNEL=1): external checks driven by flag files;
//! dropping the healthy weight below `quorum - hysteresis` runs
//! `quorum_down` once, raising it to `quorum + hysteresis` runs `quorum_up`
//! once, and nothing runs inside the hysteresis band or at start.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

mod common;
use common::daemon::Daemon;

fn wait_for(path: &std::path::Path, want: &str, secs: u64) -> String {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = std::fs::read_to_string(path).unwrap_or_default();
        if got == want || Instant::now() > end {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn quorum_commands_run_once_per_crossing() {
    let dir = tempfile::tempdir().unwrap();
    let d = &dir.path().to_path_buf();
    let chk = d.join("chk.sh");
    std::fs::write(&chk, format!("#!/bin/sh\n[ -e {}/up-$3 ]\n", d.display())).unwrap();
    std::fs::set_permissions(&chk, std::fs::Permissions::from_mode(0o755)).unwrap();
    let up1 = d.join("up-10.1.0.1");
    let up2 = d.join("up-10.1.0.2");
    std::fs::write(&up1, "").unwrap();
    std::fs::write(&up2, "").unwrap();
    let cf = d.join("l.cf");
    std::fs::write(
        &cf,
        format!(
            "checkinterval=1\nchecktimeout=1\nvirtual=192.0.2.10:80\n\treal=10.1.0.1:80 masq 2\n\
             \treal=10.1.0.2:80 masq 2\n\tchecktype=external\n\tcheckcommand={}\n\tscheduler=wrr\n",
            chk.display()
        ),
    )
    .unwrap();
    let log = d.join("hooks");
    std::fs::write(
        d.join("lvsd.toml"),
        format!(
            "[node]\nname = \"q\"\n[virtual.\"tcp:192.0.2.10:80\"]\nquorum = 3\nhysteresis = 1\n\
             quorum_up = [\"/bin/sh\", \"-c\", \"echo up $LVSD_VIRTUAL >> {0}\"]\n\
             quorum_down = [\"/bin/sh\", \"-c\", \"echo down >> {0}\"]\n",
            log.display()
        ),
    )
    .unwrap();
    let mut dm = Daemon::at(dir);
    dm.spawn();
    // Start (weight 4 >= 3+1): up, silently.
    std::thread::sleep(Duration::from_secs(3));
    // Weight 2 = quorum - hysteresis: inside the band, nothing runs.
    std::fs::remove_file(&up2).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(std::fs::read_to_string(&log).unwrap_or_default(), "");
    // Weight 0: lost, quorum_down once.
    std::fs::remove_file(&up1).unwrap();
    assert_eq!(wait_for(&log, "down\n", 8), "down\n");
    // Weight 2 < 3+1: not regained.
    std::fs::write(&up1, "").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "down\n");
    // Weight 4: regained, quorum_up once.
    std::fs::write(&up2, "").unwrap();
    let want = "down\nup TCP 192.0.2.10:80\n";
    assert_eq!(wait_for(&log, want, 8), want);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), want);
    let err = dm.log();
    assert!(
        err.contains("lost quorum") && err.contains("gained quorum"),
        "{err}"
    );
    // Both crossings are events too (the /events stream and [[hook]]s).
    assert!(
        err.contains("event quorum_lost") && err.contains("quorum lost: healthy weight 0 <"),
        "{err}"
    );
    assert!(err.contains("event quorum_regained"), "{err}");
    // Once per crossing: the engine's all-reals-down rule leaves a virtual
    // with a configured quorum to the quorum runner (issue 13).
    assert_eq!(err.matches("event quorum_lost").count(), 1, "{err}");
    assert_eq!(err.matches("event quorum_regained").count(), 1, "{err}");
}

/// Pids of live `sleep 1000` processes whose working directory is `dir`:
/// lvsd runs in `dir`, its commands inherit it, so a concurrent test's
/// `sleep` (another directory) is never counted.
fn sleeps_in(dir: &std::path::Path) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let is_sleep = argv.len() >= 2 && argv[0].ends_with(b"sleep") && argv[1] == b"1000";
        if !is_sleep {
            continue;
        }
        if std::fs::read_link(format!("/proc/{pid}/cwd"))
            .ok()
            .as_deref()
            == Some(dir)
        {
            out.push(pid);
        }
    }
    out
}

#[test]
fn stop_kills_running_quorum_commands_and_hooks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    let d = dir.as_path();
    let chk = d.join("chk.sh");
    std::fs::write(&chk, format!("#!/bin/sh\n[ -e {}/up-$3 ]\n", d.display())).unwrap();
    std::fs::set_permissions(&chk, std::fs::Permissions::from_mode(0o755)).unwrap();
    let up1 = d.join("up-10.1.0.1");
    std::fs::write(&up1, "").unwrap();
    let cf = d.join("l.cf");
    std::fs::write(
        &cf,
        format!(
            "checkinterval=1\nchecktimeout=1\nvirtual=192.0.2.10:80\n\treal=10.1.0.1:80 masq 2\n\
             \tchecktype=external\n\tcheckcommand={}\n\tscheduler=wrr\n",
            chk.display()
        ),
    )
    .unwrap();
    // Both the quorum command and the hook outlive any sane stop grace.
    std::fs::write(
        d.join("lvsd.toml"),
        "[node]\nname = \"q\"\n[virtual.\"tcp:192.0.2.10:80\"]\nquorum = 1\nhysteresis = 0\n\
         quorum_timeout_ms = 60000\n\
         quorum_down = [\"/bin/sh\", \"-c\", \"sleep 1000; true\"]\n\
         [[hook]]\non = [\"quorum_lost\"]\ncommand = [\"/bin/sh\", \"-c\", \"sleep 1000; true\"]\n\
         timeout_ms = 60000\n",
    )
    .unwrap();
    let mut dm = Daemon::at(tmp).cwd_in_dir();
    dm.spawn();
    std::thread::sleep(Duration::from_secs(3));
    std::fs::remove_file(&up1).unwrap();
    // The quorum command starts, and the hook for the one quorum_lost
    // event: 2.
    let end = Instant::now() + Duration::from_secs(10);
    while sleeps_in(d).len() < 2 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = sleeps_in(d);
    dm.signal(nix::sys::signal::Signal::SIGTERM);
    let end = Instant::now() + Duration::from_secs(10);
    let mut status = None;
    while Instant::now() < end {
        if let Some(st) = dm.child.as_mut().unwrap().try_wait().unwrap() {
            status = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed =
        Duration::from_secs(10).saturating_sub(end.saturating_duration_since(Instant::now()));
    // Give the group kills a moment to land, then reap what is left (so a
    // failure never leaves a sleep behind) before asserting.
    std::thread::sleep(Duration::from_millis(300));
    let left = sleeps_in(d);
    for p in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let err = dm.log();
    assert!(
        before.len() >= 2,
        "quorum command and hook both running: {before:?}\n{err}"
    );
    assert!(
        err.contains("quorum commands still running at stop; killing them")
            && err.contains("hooks still running at stop; killing them"),
        "{err}"
    );
    assert!(
        status.is_some(),
        "lvsd still running 10 s after SIGTERM: {err}"
    );
    assert!(elapsed < Duration::from_secs(8), "stop took {elapsed:?}");
    assert!(left.is_empty(), "left behind after stop: {left:?}\n{err}");
}
