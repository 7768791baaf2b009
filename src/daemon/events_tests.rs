use super::*;
use crate::model::Protocol;
use std::time::Duration;

fn key() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: "10.0.0.1".parse().unwrap(),
        port: 80,
    }
}

fn down(i: u16) -> EventData {
    EventData::real(false, &key(), "10.1.0.1".parse().unwrap(), i, "refused")
}

fn fixed() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_733_425_800_123)
}

async fn next_event(s: &mut Subscription) -> Arc<Event> {
    match tokio::time::timeout(Duration::from_secs(5), s.next()).await {
        Ok(Some(Item::Event(e))) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn every_subscriber_gets_each_event_once_in_order() {
    let bus = Bus::new(None);
    let mut a = bus.subscribe(None);
    let mut b = bus.subscribe(None);
    for i in 0..100 {
        assert_eq!(bus.emit(down(i)), u64::from(i) + 1);
    }
    for s in [&mut a, &mut b] {
        for i in 0..100u16 {
            let e = next_event(s).await;
            assert_eq!(e.seq, u64::from(i) + 1);
            assert_eq!(
                e.data.real.as_deref(),
                Some(format!("10.1.0.1:{i}").as_str())
            );
        }
        // Nothing more: no duplicate.
        assert!(tokio::time::timeout(Duration::from_millis(50), s.next())
            .await
            .is_err());
    }
}

#[tokio::test]
async fn emitters_on_many_threads_keep_one_order() {
    let bus = Bus::new(None);
    let mut s = bus.subscribe(None);
    let mut threads = Vec::new();
    for t in 0..4u16 {
        let bus = bus.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..200u16 {
                bus.emit(down(t * 1000 + i));
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    for want in 1..=800u64 {
        assert_eq!(next_event(&mut s).await.seq, want);
    }
}

#[tokio::test]
async fn a_slow_subscriber_is_told_it_lagged_and_memory_stays_bounded() {
    let bus = Bus::new(None);
    let mut slow = bus.subscribe(None);
    let total = CAPACITY as u64 * 3;
    for i in 0..total {
        bus.emit(down(i as u16));
    }
    // The channel kept only CAPACITY events: the rest are reported lost.
    match slow.next().await {
        Some(Item::Lagged(n)) => assert_eq!(n, total - CAPACITY as u64),
        other => panic!("{other:?}"),
    }
    // Then the newest CAPACITY events, in order, and nothing else.
    for want in (total - CAPACITY as u64 + 1)..=total {
        assert_eq!(next_event(&mut slow).await.seq, want);
    }
    assert!(tokio::time::timeout(Duration::from_millis(50), slow.next())
        .await
        .is_err());
}

#[tokio::test]
async fn last_event_id_resumes_from_the_replay_ring() {
    let bus = Bus::new(None);
    for i in 0..10 {
        bus.emit(down(i));
    }
    let mut s = bus.subscribe(Some(7));
    assert_eq!(next_event(&mut s).await.seq, 8);
    assert_eq!(next_event(&mut s).await.seq, 9);
    assert_eq!(next_event(&mut s).await.seq, 10);
    bus.emit(down(99));
    assert_eq!(next_event(&mut s).await.seq, 11);
    // Resuming at the newest id replays nothing.
    let mut s = bus.subscribe(Some(11));
    bus.emit(down(100));
    assert_eq!(next_event(&mut s).await.seq, 12);
    // Older than the ring: a lag notice with the exact count, then the ring.
    for i in 0..REPLAY as u16 {
        bus.emit(down(i));
    }
    let newest = 12 + REPLAY as u64;
    let mut s = bus.subscribe(Some(1));
    let oldest = newest - REPLAY as u64 + 1;
    assert_eq!(s.next().await, Some(Item::Lagged(oldest - 2)));
    assert_eq!(next_event(&mut s).await.seq, oldest);
    // An id from a previous run (numbers restarted): reset, then the ring.
    let mut s = bus.subscribe(Some(newest + 1000));
    assert_eq!(s.next().await, Some(Item::Reset));
    assert_eq!(next_event(&mut s).await.seq, oldest);
}

#[test]
fn text_is_sanitized_and_rendered_as_sse() {
    let bus = Bus::with_clock(None, fixed);
    let mut s = bus.subscribe(Some(0));
    bus.emit(EventData::real(
        false,
        &key(),
        "10.1.0.1".parse().unwrap(),
        80,
        "bad\r\nid: 99\n\ndata: x\u{1b}[31m\"",
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt.block_on(next_event(&mut s));
    let reason = e.data.reason.as_deref().unwrap();
    assert!(!reason.contains(['\r', '\n', '\u{1b}']), "{reason:?}");
    let sse = e.sse();
    // One event: exactly three field lines and the blank line.
    assert_eq!(sse.matches('\n').count(), 4, "{sse:?}");
    assert!(sse.starts_with("id: 1\nevent: real_down\ndata: {"), "{sse}");
    let json: serde_json::Value =
        serde_json::from_str(sse.lines().nth(2).unwrap().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(json["id"], 1);
    assert_eq!(json["event"], "real_down");
    assert_eq!(json["virtual"], "tcp:10.0.0.1:80");
    assert_eq!(json["real"], "10.1.0.1:80");
    assert_eq!(json["time"], "2024-12-05T19:10:00.123Z");
    assert!(json["reason"].as_str().unwrap().contains("\\r\\nid: 99"));
    // A long reason is cut.
    bus.emit(EventData::reload(Err(&"x".repeat(100_000))));
    let e = rt.block_on(next_event(&mut s));
    assert!(e.data.reason.as_deref().unwrap().len() < 300);
    assert_eq!(e.data.kind, EventKind::ReloadRejected);
}

#[test]
fn names_of_virtuals_and_reals() {
    assert_eq!(virtual_name(&key()), "tcp:10.0.0.1:80");
    let v6 = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: "2001:db8::1".parse().unwrap(),
        port: 53,
    };
    assert_eq!(virtual_name(&v6), "udp:[2001:db8::1]:53");
    let fwm = ServiceKey::Fwmark {
        family: crate::model::Family::V4,
        mark: 7,
    };
    assert_eq!(virtual_name(&fwm), "fwm:7");
    // The v6 mark of the same number is another virtual: events (and the
    // quorum state keyed by these names) once called both "fwm:7".
    let fwm6 = ServiceKey::Fwmark {
        family: crate::model::Family::V6,
        mark: 7,
    };
    assert_eq!(virtual_name(&fwm6), "fwm6:7");
    assert_eq!(
        real_name("2001:db8::2".parse().unwrap(), 8080),
        "[2001:db8::2]:8080"
    );
    let r = EventData::role_changed(Role::Active, Role::Standby);
    assert_eq!(
        (r.role.as_deref(), r.previous_role.as_deref()),
        (Some("active"), Some("standby"))
    );
}

#[test]
fn quorum_tracker_reports_changes_only() {
    let mut q = QuorumTracker::default();
    // Held at start: no event.
    assert_eq!(q.observe("tcp:10.0.0.1:80", None), None);
    let lost = q.observe("tcp:10.0.0.1:80", Some("no real up")).unwrap();
    assert_eq!(lost.kind, EventKind::QuorumLost);
    assert_eq!(lost.reason.as_deref(), Some("no real up"));
    assert_eq!(q.observe("tcp:10.0.0.1:80", Some("no real up")), None);
    let back = q.observe("tcp:10.0.0.1:80", None).unwrap();
    assert_eq!(back.kind, EventKind::QuorumRegained);
    assert_eq!(q.observe("tcp:10.0.0.1:80", None), None);
    // Lost at the first observation is an event (a real state).
    assert!(q.observe("10.90.0.100", Some("0/3 < 1")).is_some());
    q.retain(|n| n != "10.90.0.100");
    assert!(q.observe("10.90.0.100", Some("0/3 < 1")).is_some());
}

#[test]
fn rfc3339_dates() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "2000-02-29T00:00:00.000Z"
    );
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_millis(4_102_444_799_999)),
        "2099-12-31T23:59:59.999Z"
    );
}

#[test]
fn the_sink_sees_every_event_in_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let bus = Bus::new(Some(Box::new(move |e: &Arc<Event>| {
        s2.lock().unwrap().push(e.seq)
    })));
    for i in 0..5 {
        bus.emit(down(i));
    }
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 4, 5]);
}

/// Keyed by the service, the tracker names a virtual only for an event
/// (every pass observes every virtual); the event's name is the one the
/// name-keyed tracker gives.
#[test]
fn quorum_tracker_by_key_names_only_events() {
    let key: ServiceKey = ServiceKey::Addr {
        protocol: crate::model::Protocol::Tcp,
        addr: "10.0.0.1".parse().unwrap(),
        port: 80,
    };
    let mut q: QuorumTracker<ServiceKey> = QuorumTracker::default();
    let named = std::cell::Cell::new(0);
    let name = |k: &ServiceKey| {
        named.set(named.get() + 1);
        virtual_name(k)
    };
    assert_eq!(q.observe_as(&key, None, name), None);
    assert_eq!(q.observe_as(&key, None, name), None);
    assert_eq!(named.get(), 0);
    let lost = q.observe_as(&key, Some("no real up"), name).unwrap();
    let mut by_name = QuorumTracker::default();
    by_name.observe(&virtual_name(&key), None);
    assert_eq!(
        Some(lost),
        by_name.observe(&virtual_name(&key), Some("no real up"))
    );
    assert_eq!(named.get(), 1);
    assert_eq!(q.observe_as(&key, Some("no real up"), name), None);
    assert_eq!(named.get(), 1);
    q.retain(|_| false);
    assert!(q.observe_as(&key, Some("no real up"), name).is_some());
}
