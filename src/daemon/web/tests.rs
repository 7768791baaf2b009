//! Event recording, JSON shape and the page's self-containment.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::daemon::status::{LastCheck, RealView, VirtualView};
use crate::model::{Protocol, RealServer, ServiceKey};

fn real(addr: &str, health: Shown) -> RealView {
    RealView {
        addr: addr.parse::<IpAddr>().unwrap(),
        port: 80,
        forward: Forward::Route,
        weight: 2,
        health,
        last: None,
        checks: 0,
        failures: 0,
        kernel: None,
        fallback: false,
    }
}

fn status(h1: Shown, h2: Shown) -> Status {
    let mut st = Status::new("/etc/ha.d/ldirectord.cf".into());
    st.virtuals.push(VirtualView {
        key: ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        },
        scheduler: "wrr".into(),
        reals: vec![real("10.1.0.1", h1), real("10.1.0.2", h2)],
    });
    st
}

fn texts(e: &Events) -> Vec<String> {
    e.list().into_iter().map(|e| e.text).collect()
}

#[test]
fn records_failure_recovery_and_reload_but_not_the_initial_state() {
    let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut ev = Events::new();
    ev.observe(&status(Shown::Up, Shown::Down("refused".into())), None, t);
    assert_eq!(ev.list().len(), 1, "{:?}", texts(&ev));
    assert!(texts(&ev)[0].starts_with("watching /etc/ha.d/ldirectord.cf"));

    ev.observe(
        &status(
            Shown::Down("connect: refused".into()),
            Shown::Down("x".into()),
        ),
        None,
        t,
    );
    ev.observe(&status(Shown::Down("y".into()), Shown::Up), None, t);
    let mut st = status(Shown::Down("y".into()), Shown::Up);
    st.reloads = 1;
    st.last_reload = Some("ok, 2 changes".into());
    ev.observe(&st, None, t);
    let list = ev.list();
    let kinds: Vec<Kind> = list.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![Kind::Info, Kind::Failure, Kind::Recovery, Kind::Reload],
        "{:?}",
        texts(&ev)
    );
    assert_eq!(
        list[1].text,
        "TCP 10.0.0.1:80 -> 10.1.0.1:80 down: connect: refused"
    );
    assert_eq!(list[2].text, "TCP 10.0.0.1:80 -> 10.1.0.2:80 up again");
    assert_eq!(list[3].text, "reload: ok, 2 changes");
}

#[test]
fn records_role_changes_and_keeps_a_bounded_list() {
    let t = SystemTime::now();
    let mut ha = ha::Status {
        node: "d1".into(),
        role: Role::Standby,
        hold: false,
        healthy: true,
        ping_reach: 0,
        peer: Some("d2".into()),
        peer_alive: true,
        links: vec![],
        counters: Default::default(),
        transitions: 0,
        track_faults: vec![],
    };
    let mut ev = Events::new();
    let st = status(Shown::Up, Shown::Up);
    ev.observe(&st, Some(&ha), t);
    ha.role = Role::Active;
    ev.observe(&st, Some(&ha), t);
    assert_eq!(texts(&ev).last().unwrap(), "d1: standby -> active");
    for i in 0..(EVENTS_KEPT + 10) {
        let h = if i % 2 == 0 {
            Shown::Down("x".into())
        } else {
            Shown::Up
        };
        ev.observe(&status(h, Shown::Up), None, t);
    }
    assert_eq!(ev.list().len(), EVENTS_KEPT);
}

#[test]
fn json_carries_health_kernel_counters_and_escapes() {
    let mut st = status(Shown::Up, Shown::Down("said \"no\"\n".into()));
    let mut k = RealServer::new("10.1.0.1".parse().unwrap(), 80);
    k.weight = 2;
    k.active_conns = 7;
    k.inact_conns = 3;
    k.stats.cps = 11;
    st.virtuals[0].reals[0].kernel = Some(k);
    st.virtuals[0].reals[0].last = Some(LastCheck {
        at: UNIX_EPOCH + Duration::from_millis(5),
        ok: true,
        detail: "HTTP 200".into(),
        latency: Duration::from_millis(4),
    });
    let ev = vec![Event {
        at: UNIX_EPOCH,
        kind: Kind::Failure,
        text: "a\tb".into(),
    }];
    let j = render_json(&st, None, &ev, UNIX_EPOCH + Duration::from_secs(2));
    assert!(j.starts_with("{\"now_ms\":2000,"), "{j}");
    assert!(j.contains("\"ha\":null"), "{j}");
    assert!(
        j.contains(
            "\"addr\":\"10.1.0.1:80\",\"forward\":\"route\",\"fallback\":false,\"health\":\"up\""
        ),
        "{j}"
    );
    assert!(
        j.contains("\"kernel\":{\"weight\":2,\"active\":7,\"inactive\":3,\"conns\":0,\"cps\":11,"),
        "{j}"
    );
    assert!(
        j.contains(
            "\"last_check\":{\"ok\":true,\"detail\":\"HTTP 200\",\"latency_ms\":4,\"at_ms\":5}"
        ),
        "{j}"
    );
    assert!(
        j.contains("\"health\":\"down\",\"reason\":\"said \\\"no\\\"\\n\""),
        "{j}"
    );
    assert!(
        j.contains("\"events\":[{\"at_ms\":0,\"kind\":\"failure\",\"text\":\"a\\tb\"}]"),
        "{j}"
    );
    // Balanced braces and brackets outside strings: a cheap well-formedness check.
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for c in j.chars() {
        match (in_str, esc, c) {
            (true, true, _) => esc = false,
            (true, false, '\\') => esc = true,
            (true, false, '"') => in_str = false,
            (false, _, '"') => in_str = true,
            (false, _, '{' | '[') => depth += 1,
            (false, _, '}' | ']') => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "{j}");
    }
    assert_eq!(depth, 0, "{j}");
}

#[test]
fn page_is_self_contained() {
    for needle in ["http://", "https://", "<link", "src=", "@import", "url("] {
        assert!(
            !PAGE.contains(needle),
            "page references an external asset: {needle}"
        );
    }
    assert!(PAGE.contains("status.json"));
}
