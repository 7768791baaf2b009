use super::*;
use crate::daemon::events::{Bus, EventData};
use crate::model::{EventKind, Protocol, ServiceKey};
use std::os::unix::fs::PermissionsExt;
use std::time::{Instant, SystemTime};

fn key() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: "10.0.0.1".parse().unwrap(),
        port: 80,
    }
}

fn event(reason: &str) -> Event {
    Event {
        seq: 42,
        at: SystemTime::UNIX_EPOCH,
        data: EventData::real(false, &key(), "10.1.0.1".parse().unwrap(), 80, reason),
    }
}

#[test]
fn environment_names_every_field_and_is_sanitized() {
    let env = environment(&event("timeout\n\rLVSD_EVENT=real_up\0x\u{1b}[2J"));
    let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("LVSD_EVENT"), Some("real_down"));
    assert_eq!(get("LVSD_SEQ"), Some("42"));
    assert_eq!(get("LVSD_TIME"), Some("1970-01-01T00:00:00.000Z"));
    assert_eq!(get("LVSD_VIRTUAL"), Some("tcp:10.0.0.1:80"));
    assert_eq!(get("LVSD_REAL"), Some("10.1.0.1:80"));
    let reason = get("LVSD_REASON").unwrap();
    assert!(!reason.contains(['\n', '\r', '\0', '\u{1b}']), "{reason:?}");
    assert!(reason.starts_with("timeout\\n\\r"), "{reason:?}");
    assert_eq!(get("LVSD_ROLE"), None);
    // A role change has the roles and nothing about reals.
    let ev = Event {
        seq: 1,
        at: SystemTime::UNIX_EPOCH,
        data: EventData::role_changed(crate::model::Role::Standby, crate::model::Role::Active),
    };
    let env = environment(&ev);
    let names: Vec<&str> = env.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "LVSD_EVENT",
            "LVSD_SEQ",
            "LVSD_TIME",
            "LVSD_ROLE",
            "LVSD_PREV_ROLE"
        ]
    );
}

fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

async fn wait_for(path: &std::path::Path, what: &str) -> String {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        let s = std::fs::read_to_string(path).unwrap_or_default();
        if s.contains(what) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no {what:?} in {}", path.display());
}

/// Through the bus: only the listed kinds run the hook, with the event in
/// a clean environment, arguments passed without a shell.
#[tokio::test]
async fn hooks_run_for_their_events_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let s = script(
        dir.path(),
        "h",
        &format!(
            "{{ env | sort; echo \"ARGS=$1|$2\"; }} >> {}",
            out.display()
        ),
    );
    let hook = EventHook {
        on: vec![EventKind::RealDown],
        argv: vec![s, "a;b $(x)".into(), "c".into()],
        timeout: Duration::from_secs(5),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (sink, _h, task) = start(vec![hook], stop_rx);
    let bus = Bus::new(Some(sink));
    bus.emit(EventData::reload(Ok("applied")));
    bus.emit(EventData::real(
        false,
        &key(),
        "10.1.0.1".parse().unwrap(),
        80,
        "refused",
    ));
    let got = wait_for(&out, "ARGS=").await;
    assert!(got.contains("LVSD_EVENT=real_down\n"), "{got}");
    assert!(got.contains("LVSD_SEQ=2\n"), "{got}");
    assert!(got.contains("LVSD_REASON=refused\n"), "{got}");
    assert!(got.contains("ARGS=a;b $(x)|c\n"), "{got}");
    assert!(!got.contains("reload_applied"), "{got}");
    // The daemon's own environment is not passed on.
    assert!(!got.contains("CARGO"), "{got}");
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}

/// A hook that hangs is killed at its timeout with everything in its
/// process group.
#[tokio::test]
async fn a_hanging_hook_and_its_group_are_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let s = script(
        dir.path(),
        "hang",
        &format!("sleep 1000 & echo $! $$ > {}; wait", pids.display()),
    );
    let hook = EventHook {
        on: vec![EventKind::RealDown],
        argv: vec![s],
        timeout: Duration::from_millis(300),
    };
    let t0 = Instant::now();
    let ev = event("x");
    let run_it = run(&hook, &ev);
    let (_, got) = tokio::join!(run_it, wait_for(&pids, " "));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let pids: Vec<i32> = got.split_whitespace().map(|p| p.parse().unwrap()).collect();
    let left = crate::child::tests::all_gone(&pids).await;
    assert!(left.is_empty(), "still running: {left:?}");
}

/// More events than the queue and the slots take: the excess is dropped
/// and counted, never queued without bound.
#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "slow", "sleep 2");
    let hook = EventHook {
        on: vec![EventKind::RealDown],
        argv: vec![s],
        timeout: Duration::from_secs(5),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (sink, h, task) = start(vec![hook], stop_rx);
    let bus = Bus::new(Some(sink));
    let n = 500;
    for i in 0..n {
        bus.emit(EventData::real(
            false,
            &key(),
            "10.1.0.1".parse().unwrap(),
            i,
            "x",
        ));
    }
    let dropped = h.dropped();
    // At most the queue plus the runs the dispatcher already took.
    assert!(
        dropped >= u64::from(n) - (QUEUE + CONCURRENCY + 1) as u64,
        "dropped {dropped}"
    );
    // Stop: running hooks are waited for (bounded), then the task ends.
    let t0 = Instant::now();
    stop_tx.send(true).unwrap();
    task.await.unwrap();
    assert!(t0.elapsed() < STOP_GRACE + Duration::from_secs(2));
}
