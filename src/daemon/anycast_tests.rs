//! Tests of the announce decision, director health and the mh requirement.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::daemon::status::RealView;
use crate::model::{AnycastVip, Forward, Protocol};

fn cfg(vips: &[(&str, u32)]) -> AnycastConfig {
    AnycastConfig {
        table: 100,
        protocol: 100,
        drain: Duration::from_secs(5),
        bird_socket: None,
        sloppy: true,
        vips: vips
            .iter()
            .map(|(a, q)| AnycastVip {
                address: a.parse().unwrap(),
                quorum: *q,
            })
            .collect(),
    }
}

fn real(addr: &str, health: Shown, fallback: bool) -> RealView {
    RealView {
        addr: addr.parse().unwrap(),
        port: 80,
        forward: Forward::Route,
        weight: 1,
        health,
        last: None,
        checks: 0,
        failures: 0,
        kernel: None,
        fallback,
    }
}

fn virt(addr: &str, port: u16, health: &[Shown]) -> VirtualView {
    VirtualView {
        key: ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
            port,
        },
        scheduler: "mh".into(),
        reals: health
            .iter()
            .enumerate()
            .map(|(i, h)| real(&format!("10.1.0.{}", i + 1), h.clone(), false))
            .collect(),
    }
}

const OK: Result<(), String> = Ok(());
fn down() -> Shown {
    Shown::Down("connect refused".into())
}

#[test]
fn announces_only_while_every_virtual_meets_its_quorum() {
    let c = cfg(&[("10.90.0.100", 1), ("10.90.0.200", 2)]);
    let vs = vec![
        virt("10.90.0.100", 80, &[Shown::Up, down(), down()]),
        virt("10.90.0.100", 443, &[down(), Shown::Up, Shown::Unknown]),
        virt("10.90.0.200", 80, &[Shown::Up, down(), Shown::Maintenance]),
    ];
    let d = decide(&c, &vs, &OK, false);
    assert_eq!(d[0], ("10.90.0.100".parse().unwrap(), None));
    assert_eq!(
        d[1].1,
        Some(Withdrawn::Quorum {
            service: "TCP 10.90.0.200:80".into(),
            healthy: 1,
            total: 3,
            quorum: 2
        })
    );
    // One of the two virtuals of the first VIP loses all reals: withdrawn,
    // and the reason names that virtual.
    let mut vs2 = vs.clone();
    vs2[1] = virt("10.90.0.100", 443, &[down(), down(), Shown::Unknown]);
    let d = decide(&c, &vs2, &OK, false);
    let why = d[0].1.clone().unwrap();
    assert_eq!(
        why.to_string(),
        "quorum lost: TCP 10.90.0.100:443 has 0/3 healthy < 1"
    );
}

#[test]
fn fallback_server_does_not_count_towards_quorum() {
    let c = cfg(&[("10.90.0.100", 1)]);
    let mut v = virt("10.90.0.100", 80, &[down()]);
    v.reals.push(real("127.0.0.1", Shown::Up, true));
    let d = decide(&c, &[v], &OK, false);
    assert!(matches!(
        d[0].1,
        Some(Withdrawn::Quorum {
            healthy: 0,
            total: 1,
            ..
        })
    ));
}

#[test]
fn stopping_and_director_health_override_quorum() {
    let c = cfg(&[("10.90.0.100", 1)]);
    let vs = vec![virt("10.90.0.100", 80, &[Shown::Up])];
    assert_eq!(decide(&c, &vs, &OK, true)[0].1, Some(Withdrawn::Stopping));
    let bad = Err("kernel operations failing".to_string());
    assert_eq!(
        decide(&c, &vs, &bad, false)[0]
            .1
            .clone()
            .unwrap()
            .to_string(),
        "director unhealthy: kernel operations failing"
    );
    assert_eq!(decide(&c, &vs, &bad, true)[0].1, Some(Withdrawn::Stopping));
    // A VIP with no virtual on it is never announced.
    let c2 = cfg(&[("10.90.0.9", 1)]);
    assert_eq!(
        decide(&c2, &vs, &OK, false)[0].1,
        Some(Withdrawn::NoVirtual)
    );
}

#[test]
fn director_health_follows_phase_and_kernel_errors() {
    let mut h = DirectorHealth::default();
    let t0 = Instant::now();
    assert!(h.observe(Phase::Starting, 0, t0).is_err());
    assert!(h.observe(Phase::Running, 0, t0).is_ok());
    assert!(h.observe(Phase::Reloading, 0, t0).is_ok());
    // A failed kernel operation: unhealthy for KERNEL_HOLD, then healthy
    // again unless more fail.
    let e = h.observe(Phase::Running, 2, t0 + Duration::from_secs(1));
    assert!(e.unwrap_err().contains("kernel operations failing"));
    assert!(h
        .observe(Phase::Running, 2, t0 + Duration::from_secs(10))
        .is_err());
    assert!(h
        .observe(Phase::Running, 2, t0 + Duration::from_secs(12))
        .is_ok());
    assert!(h
        .observe(Phase::Running, 3, t0 + Duration::from_secs(13))
        .is_err());
}

#[test]
fn announced_plan_names_the_virtual_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ldirectord.cf");
    std::fs::write(
        &path,
        "checktimeout=3\n\
         virtual=10.90.0.100:80\n\
         \treal=10.1.0.1:80 gate\n\
         \tscheduler=wrr\n\
         \tchecktype=connect\n\
         virtual=10.90.0.100:443\n\
         \treal=10.1.0.1:443 gate\n\
         \tscheduler=mh\n\
         virtual=10.90.0.7:80\n\
         \treal=10.1.0.1:80 gate\n\
         \tscheduler=rr\n",
    )
    .unwrap();
    let conf = Config::load(&path).unwrap();
    let e = announced_plan(&conf, &path, &cfg(&[("10.90.0.100", 1)])).unwrap_err();
    // Port 80 uses wrr; port 443 uses mh without mh-fallback.
    assert_eq!(e.lines().count(), 2, "{e}");
    let second = e.lines().nth(1).unwrap();
    assert!(
        second.starts_with(&format!(
            "{}:6: virtual TCP 10.90.0.100:443",
            path.display()
        )) && second.contains("schedflags=mh-fallback"),
        "{second}"
    );
    assert!(
        e.starts_with(&format!("{}:2: virtual TCP 10.90.0.100:80", path.display())),
        "{e}"
    );
    assert!(
        e.contains("\"wrr\"") && e.contains("scheduler=mh") && e.contains("consistent hashing"),
        "{e}"
    );
    assert!(announced_plan(&conf, &path, &cfg(&[("10.90.0.7", 1)])).is_err());
    assert!(announced_plan(&conf, &path, &cfg(&[("10.90.0.8", 1)])).is_ok());
    // mh with mh-fallback is accepted, and the plan marks it consistent
    // (quiesce, never delete; canonical order), the other virtual not.
    std::fs::write(
        &path,
        "checktimeout=3\n\
         virtual=10.90.0.100:80\n\
         \treal=10.1.0.1:80 gate\n\
         \tscheduler=mh\n\
         \tschedflags=mh-fallback\n\
         virtual=10.90.0.7:80\n\
         \treal=10.1.0.1:80 gate\n\
         \tscheduler=rr\n",
    )
    .unwrap();
    let conf = Config::load(&path).unwrap();
    let any = cfg(&[("10.90.0.100", 1)]);
    let plan = announced_plan(&conf, &path, &any).unwrap();
    let marks: Vec<bool> = plan.virtuals.iter().map(|v| v.spec.consistent).collect();
    assert_eq!(marks, [true, false]);
}

#[test]
fn status_shows_vips_reasons_and_sessions() {
    let mut st = Status::new("x".into());
    st.anycast = Some(AnycastView {
        table: 100,
        protocol: 100,
        vips: vec![
            VipView {
                address: "10.90.0.100".parse().unwrap(),
                announced: true,
                reason: None,
                since: SystemTime::UNIX_EPOCH,
            },
            VipView {
                address: "10.90.0.200".parse().unwrap(),
                announced: false,
                reason: Some("quorum lost: TCP 10.90.0.200:80 has 0/3 healthy < 1".into()),
                since: SystemTime::UNIX_EPOCH,
            },
        ],
        withdrawals: 3,
        sessions: vec![Session {
            name: "rtr1".into(),
            up: true,
            info: "up Established".into(),
        }],
        bird_error: None,
    });
    let t = st.render_text(SystemTime::UNIX_EPOCH);
    assert!(t.contains("  vip 10.90.0.100 announced\n"), "{t}");
    assert!(
        t.contains(
            "  vip 10.90.0.200 withdrawn: quorum lost: TCP 10.90.0.200:80 has 0/3 healthy < 1\n"
        ),
        "{t}"
    );
    assert!(t.contains("  bgp rtr1 up (up Established)\n"), "{t}");
    let m = st.render_prometheus();
    assert!(
        m.contains("lvsd_anycast_announced{vip=\"10.90.0.100\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("lvsd_anycast_announced{vip=\"10.90.0.200\"} 0\n"),
        "{m}"
    );
    assert!(m.contains("lvsd_anycast_withdrawals_total 3\n"), "{m}");
    assert!(m.contains("lvsd_bgp_session_up{peer=\"rtr1\"} 1\n"), "{m}");
    assert!(!Status::new("x".into())
        .render_prometheus()
        .contains("anycast"));
}

/// Quorum events follow the quorum only: a withdrawal for another reason
/// (stopping, an unhealthy director) is neither a loss nor a recovery.
#[test]
fn quorum_events_only_for_quorum_changes() {
    use crate::daemon::events::{EventKind, QuorumTracker};
    let lost = Withdrawn::Quorum {
        service: "TCP 10.90.0.100:80".into(),
        healthy: 0,
        total: 3,
        quorum: 1,
    };
    let mut q = QuorumTracker::default();
    let mut seen = Vec::new();
    for why in [
        None,
        Some(Withdrawn::Director("starting".into())),
        Some(lost.clone()),
        Some(lost.clone()),
        Some(Withdrawn::Stopping),
        None,
    ] {
        if let Some(l) = quorum_judgement(why.as_ref()) {
            if let Some(ev) = q.observe("10.90.0.100", l.as_deref()) {
                seen.push((ev.kind, ev.reason));
            }
        }
    }
    assert_eq!(
        seen,
        [
            (
                EventKind::QuorumLost,
                Some("quorum lost: TCP 10.90.0.100:80 has 0/3 healthy < 1".to_string())
            ),
            (EventKind::QuorumRegained, None),
        ]
    );
}

/// A virtual below its `[virtual."..."]` quorum (the quorum tracker's
/// state, hysteresis included) withdraws its VIP even though the VIP's own
/// healthy-reals count is met; the other VIP stays announced.
#[test]
fn per_virtual_quorum_withdraws_its_vip() {
    use crate::config::policy::{Quorum, VirtualPolicy};
    use crate::daemon::quorum::Tracker;
    use crate::model::VirtualName;
    let c = cfg(&[("10.90.0.100", 1), ("10.90.0.200", 1)]);
    let vs = vec![
        virt("10.90.0.100", 80, &[Shown::Up, down(), down()]),
        virt("10.90.0.200", 80, &[Shown::Up, Shown::Up]),
    ];
    let pol = vec![VirtualPolicy {
        id: VirtualName::parse("tcp:10.90.0.100:80").unwrap(),
        line: 3,
        at: String::new(),
        check: Default::default(),
        quorum: Some(Quorum {
            quorum: 2,
            ..Quorum::default()
        }),
    }];
    let mut t = Tracker::default();
    t.observe(&pol, &vs);
    let d = decide_with_quorum(&c, &vs, &t.lost(), &OK, false);
    assert_eq!(
        d[0].1,
        Some(Withdrawn::VirtualQuorum {
            service: "TCP 10.90.0.100:80".into()
        })
    );
    assert_eq!(d[1].1, None);
    // Without the policy the same snapshot announces both (the old rule).
    assert_eq!(decide(&c, &vs, &OK, false)[0].1, None);
    // Two reals up again: quorum regained, announced.
    let vs2 = vec![
        virt("10.90.0.100", 80, &[Shown::Up, Shown::Up, down()]),
        vs[1].clone(),
    ];
    t.observe(&pol, &vs2);
    assert_eq!(
        decide_with_quorum(&c, &vs2, &t.lost(), &OK, false)[0].1,
        None
    );
}
