//! Operating a running director through the real `lvsd` binary on the
//! in-memory kernel (`LVSD_TEST_FAKE_KERNEL=1`): `drain`, `enable`,
//! `weight`, `overrides [--clear]` (kept across `reload` and a kill -9 +
//! restart in the state file of `[daemon] state_dir`), `plan` (exactly
//! the operations the following reload performs), `reload --confirm` with
//! and without `confirm`. Addresses are never contacted (checktype=on).

use std::process::Output;
use std::time::Duration;

mod common;
use common::daemon::Daemon;

/// `lvsd run` with `config` and an lvsd.toml keeping its state in the
/// directory's `state` (the overrides' state file), started.
fn start_daemon(config: &str) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("l.cf"), config).unwrap();
    std::fs::write(
        dir.path().join("lvsd.toml"),
        format!(
            "[daemon]\nstate_dir = \"{}\"\n",
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    Daemon::at(dir).started()
}

/// The `-> REAL` line of `status`.
fn real_line(d: &Daemon, real: &str) -> String {
    let s = d.status();
    s.lines()
        .find(|l| l.contains(&format!("-> {real} ")))
        .unwrap_or_else(|| panic!("no {real} in status:\n{s}"))
        .to_string()
}

fn config(w1: u32, extra: &str) -> String {
    format!(
        "virtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq {w1}\n\treal=10.1.0.2:80 masq 2\n\
         \tchecktype=on\n\tscheduler=wrr\n\tquiescent=no\n\
         virtual=10.0.0.2:80\n\tprotocol=udp\n\treal=10.2.0.1:53 masq 1\n\tchecktype=on\n{extra}"
    )
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const V: &str = "tcp:10.0.0.1:80";

#[test]
fn drain_weight_enable_and_overrides_survive_reload_and_kill_9() {
    let mut d = start_daemon(&config(5, ""));
    assert!(real_line(&d, "10.1.0.1:80").contains("weight 5/5"));

    // drain: weight 0, the real stays (quiescent=no would remove a failed one).
    let (code, out, err) = text(&d.lvsd(&["drain", V, "10.1.0.1:80", "--wait", "--timeout", "5"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no active connection left"), "{out}");
    // The drain's end is an event, emitted once.
    d.wait_log_count("event drain_finished", 1);
    let l = real_line(&d, "10.1.0.1:80");
    assert!(
        l.contains("weight 0/5") && l.contains("override drain"),
        "{l}"
    );
    // weight override on the other real.
    let (code, out, err) = text(&d.lvsd(&["weight", V, "10.1.0.2", "7"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(real_line(&d, "10.1.0.2:80").contains("weight 7/2"));
    let (code, out, _) = text(&d.lvsd(&["overrides"]));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "drain tcp:10.0.0.1:80 10.1.0.1:80\nweight tcp:10.0.0.1:80 10.1.0.2:80 7\n"
    );
    let saved = std::fs::read_to_string(d.path("state/overrides")).unwrap();
    assert!(
        saved.contains("drain tcp:10.0.0.1:80 10.1.0.1:80\n"),
        "{saved}"
    );

    // Names that match nothing: exit 1, a clear message; malformed: 2.
    let (code, _, err) = text(&d.lvsd(&["drain", V, "10.9.9.9:80"]));
    assert_eq!(code, 1);
    assert!(err.contains("has no real server 10.9.9.9:80"), "{err}");
    let (code, _, err) = text(&d.lvsd(&["drain", "udp:10.0.0.1:80", "10.1.0.1:80"]));
    assert_eq!(code, 1);
    assert!(err.contains("no virtual service udp:10.0.0.1:80"), "{err}");
    let (code, _, _) = text(&d.lvsd(&["weight", V, "10.1.0.1:80", "99999999999"]));
    assert_eq!(code, 2);

    // A reload (configured weight changed) keeps both overrides.
    std::fs::write(d.path("l.cf"), config(6, "")).unwrap();
    let (code, out, err) = text(&d.lvsd(&[d.path("l.cf").to_str().unwrap(), "reload"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(real_line(&d, "10.1.0.1:80").contains("weight 0/6"));
    assert!(real_line(&d, "10.1.0.2:80").contains("weight 7/2"));

    // kill -9 and start again: the state file brings them back.
    d.kill9();
    d.start();
    let l = real_line(&d, "10.1.0.1:80");
    assert!(
        l.contains("weight 0/6") && l.contains("override drain"),
        "{l}"
    );
    assert!(real_line(&d, "10.1.0.2:80").contains("weight 7/2"));

    // enable undoes one; overrides --clear the rest.
    let (code, _, _) = text(&d.lvsd(&["enable", V, "10.1.0.1:80"]));
    assert_eq!(code, 0);
    let l = real_line(&d, "10.1.0.1:80");
    assert!(l.contains("weight 6/6") && !l.contains("override"), "{l}");
    let (code, out, _) = text(&d.lvsd(&["overrides", "--clear"]));
    assert_eq!((code, out.as_str()), (0, "1 overrides cleared\n"));
    assert!(real_line(&d, "10.1.0.2:80").contains("weight 2/2"));
    let (_, out, _) = text(&d.lvsd(&["overrides"]));
    assert_eq!(out, "");
}

#[test]
fn a_corrupt_state_file_is_reported_and_the_config_still_applies() {
    // Plant the file between two runs of one daemon directory.
    let mut d = start_daemon(&config(5, ""));
    d.kill9();
    std::fs::create_dir_all(d.path("state")).unwrap();
    std::fs::write(
        d.path("state/overrides"),
        "weight tcp:10.0.0.1:80 10.1.0.2:80 3\ngarbage \x1b[2J line\n",
    )
    .unwrap();
    d.start();
    let log = d.log();
    let want = format!("{}:2: expected", d.path("state/overrides").display());
    assert!(log.contains(&want), "{log}");
    assert!(!log.contains('\x1b'), "escape reached the log");
    assert!(real_line(&d, "10.1.0.2:80").contains("weight 3/2"));
    assert!(real_line(&d, "10.1.0.1:80").contains("weight 5/5"));
    assert!(d.path("state/overrides.rejected").exists());
}

/// Operations a reload applied, from its "configuration applied" line.
fn applied_ops(log: &str) -> usize {
    let l = log
        .lines()
        .rev()
        .find(|l| l.contains("configuration applied: "))
        .unwrap();
    let n = l.split("configuration applied: ").nth(1).unwrap();
    n.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn plan_lists_exactly_what_the_reload_then_does() {
    let d = start_daemon(&config(5, ""));
    // Nothing changed: exit 0, no output.
    let (code, out, err) = text(&d.lvsd(&["plan"]));
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    // A drained real and a changed weight, a new and a removed virtual.
    assert_eq!(d.lvsd(&["drain", V, "10.1.0.2:80"]).status.code(), Some(0));
    let new = "virtual=10.0.0.1:80\n\treal=10.1.0.1:80 masq 9\n\treal=10.1.0.2:80 masq 4\n\
               \tchecktype=on\n\tscheduler=wrr\n\tquiescent=no\n\
               virtual=10.0.0.3:443\n\treal=10.3.0.1:443 masq 1\n\tchecktype=on\n";
    let cand = d.path("new.cf");
    std::fs::write(&cand, new).unwrap();
    let (code, out, err) = text(&d.lvsd(&["plan", cand.to_str().unwrap()]));
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"-e -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 9"),
        "{out}"
    );
    assert!(lines.contains(&"-A -t 10.0.0.3:443 -s wrr"), "{out}");
    assert!(lines.contains(&"-D -u 10.0.0.2:80"), "{out}");
    assert!(
        lines.contains(&"-a -t 10.0.0.3:443 -r 10.3.0.1:443 -m -w 1"),
        "{out}"
    );
    // The drained real stays at 0: no operation for it.
    assert!(!out.contains("10.1.0.2"), "{out}");
    // Nothing was done.
    assert!(real_line(&d, "10.1.0.1:80").contains("weight 5/5"));
    // The reload performs exactly as many operations.
    std::fs::write(d.path("l.cf"), new).unwrap();
    let (code, _, err) = text(&d.lvsd(&[d.path("l.cf").to_str().unwrap(), "reload"]));
    assert_eq!(code, 0, "{err}");
    // Unchecked reals of the new virtual come up in a later pass; the
    // reload itself is what plan describes.
    d.wait_log_count("configuration applied: ", 1);
    assert_eq!(applied_ops(&d.log()), lines.len(), "{out}\n{}", d.log());
    let (code, out, _) = text(&d.lvsd(&["plan"]));
    assert_eq!((code, out.as_str()), (0, ""));
    // A broken candidate: exit 2 with file:line.
    std::fs::write(&cand, "virtual=10.0.0.1:80\n\treal=nonsense\n").unwrap();
    let (code, _, err) = text(&d.lvsd(&["plan", cand.to_str().unwrap()]));
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{}:2", cand.display())), "{err}");
    // No daemon: 2 (trouble), as diff.
    let mut other = d.base();
    other.arg("--socket").arg(d.path("none.sock")).arg("plan");
    assert_eq!(other.output().unwrap().status.code(), Some(2));
}

#[test]
fn reload_confirm_rolls_back_unless_confirmed() {
    let d = start_daemon(&config(5, ""));
    let cf = d.path("l.cf");
    let cfs = cf.to_str().unwrap();
    std::fs::write(&cf, config(8, "")).unwrap();
    let (code, out, err) = text(&d.lvsd(&[cfs, "reload", "--confirm", "3"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rolls back"), "{out}");
    assert!(real_line(&d, "10.1.0.1:80").contains("weight 8/8"));
    let s = d.status();
    assert!(
        s.contains("reload pending confirmation: rolls back in "),
        "{s}"
    );
    // No confirm: back to weight 5 by diff (one edit), the file untouched.
    d.wait_log_count("rolled back (not confirmed)", 1);
    assert!(real_line(&d, "10.1.0.1:80").contains("weight 5/5"));
    assert_eq!(applied_ops(&d.log()), 1);
    assert!(!d.status().contains("pending confirmation"));
    let (code, _, err) = text(&d.lvsd(&["confirm"]));
    assert_eq!(code, 1);
    assert!(err.contains("no reload waits"), "{err}");
    // With confirm in time it stays.
    let (code, _, _) = text(&d.lvsd(&[cfs, "reload", "--confirm", "3"]));
    assert_eq!(code, 0);
    let (code, out, _) = text(&d.lvsd(&["confirm"]));
    assert_eq!((code, out.as_str()), (0, "reload confirmed\n"));
    std::thread::sleep(Duration::from_secs(4));
    assert!(real_line(&d, "10.1.0.1:80").contains("weight 8/8"));
    assert_eq!(d.count("rolled back"), 1);
}
