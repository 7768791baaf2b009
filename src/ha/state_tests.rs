//! Unit tests of the pure HA state machine, with injected time.

use super::*;

const MS: Duration = Duration::from_millis(1);
/// Unix ms at every test machine's start.
const EPOCH: u64 = 1_000_000;

/// Boot generation of test node `node` ("a" or "b").
fn gen(node: &str) -> u64 {
    1000 + node.bytes().map(u64::from).sum::<u64>()
}

/// The other node of the pair.
fn other(node: &str) -> &'static str {
    if node == "a" {
        "b"
    } else {
        "a"
    }
}

fn params(node: &str, priority: u8, auto_failback: bool) -> Params {
    Params {
        node: node.into(),
        priority,
        timings: Timings {
            keepalive: 100 * MS,
            warntime: 250 * MS,
            deadtime: 400 * MS,
            initdead: 1000 * MS,
        },
        auto_failback,
        failback_delay: 500 * MS,
        links: 2,
        generation: gen(node),
        epoch_ms: EPOCH,
    }
}

/// A current report from `node` (it echoes its peer's generation); when
/// active, active since EPOCH.
fn info(node: &str, state: PeerState, priority: u8) -> PeerInfo {
    PeerInfo {
        node: node.into(),
        state,
        healthy: true,
        hold: false,
        takeover_request: false,
        priority,
        ping_reach: 0,
        generation: gen(node),
        echo: gen(other(node)),
        active_since_ms: if state == PeerState::Active { EPOCH } else { 0 },
        seq: 1,
    }
}

/// The same report as sent before `node` heard this boot of its peer
/// (queued by the kernel while the receiver was away).
fn stale(mut i: PeerInfo) -> PeerInfo {
    i.echo = 0;
    i
}

fn split_rule_of(a: &[Action]) -> Option<&'static str> {
    a.iter().find_map(|x| match x {
        Action::Event(Event::SplitBrain { rule, .. }) => Some(*rule),
        _ => None,
    })
}

fn heard(link: usize, i: &PeerInfo) -> Input {
    Input::Heard {
        link,
        info: i.clone(),
    }
}

fn became_active(a: &[Action]) -> bool {
    a.iter().any(|x| matches!(x, Action::BecomeActive(_)))
}

fn became_standby(a: &[Action]) -> bool {
    a.iter().any(|x| matches!(x, Action::BecomeStandby(_)))
}

/// As if `a` and `b` had heard each other's (unproven) first heartbeat:
/// each now echoes the other's boot.
fn introduce(a: &mut Machine, b: &mut Machine) {
    a.peer_generation = b.p.generation;
    b.peer_generation = a.p.generation;
}

fn has_event(a: &[Action], f: impl Fn(&Event) -> bool) -> bool {
    a.iter().any(|x| matches!(x, Action::Event(e) if f(e)))
}

/// What machine `m` would put on the wire.
fn wire_info(m: &Machine, node: &str) -> PeerInfo {
    let mut hb = Heartbeat {
        state: PeerState::Init,
        healthy: false,
        hold: false,
        takeover_request: false,
        priority: 0,
        generation: 1,
        seq: 1,
        active_since_ms: 0,
        echo_generation: 0,
        ping_reach: 0,
        link: 0,
        node: node.into(),
    };
    m.stamp(&mut hb);
    PeerInfo::from(&hb)
}

#[test]
fn init_waits_initdead_then_goes_active() {
    let t0 = Instant::now();
    let mut m = Machine::new(params("a", 100, false), t0);
    assert_eq!(m.next_deadline(t0), Some(t0 + 1000 * MS));
    assert!(m.step(Input::Tick, t0 + 999 * MS).is_empty());
    assert_eq!(m.role(), Role::Init);
    let out = m.step(Input::Tick, t0 + 1000 * MS);
    assert!(became_active(&out));
    assert!(has_event(&out, |e| *e == Event::InitDeadExpired));
    assert_eq!(m.role(), Role::Active);
}

#[test]
fn init_defers_to_an_active_peer() {
    let t0 = Instant::now();
    let mut m = Machine::new(params("a", 200, true), t0);
    let out = m.step(heard(0, &info("b", PeerState::Active, 100)), t0 + 10 * MS);
    assert!(became_standby(&out));
    assert!(has_event(&out, |e| *e == Event::PeerUp("b".into())));
    assert_eq!(m.role(), Role::Standby);
}

#[test]
fn peer_dead_only_when_every_link_is_silent() {
    let t0 = Instant::now();
    let mut m = Machine::new(params("b", 100, false), t0);
    let a = info("a", PeerState::Active, 100);
    m.step(heard(0, &a), t0);
    m.step(heard(1, &a), t0);
    assert_eq!(m.role(), Role::Standby);
    // Link 0 goes silent; link 1 keeps beating every keepalive.
    let mut link0_dead_at = None;
    for i in 1..=20u32 {
        let now = t0 + i * 100 * MS;
        let out = m.step(heard(1, &a), now);
        if has_event(&out, |e| *e == Event::LinkDead(0)) {
            link0_dead_at = Some(i);
        }
        assert!(!became_active(&out), "failover at step {i}");
        assert!(!has_event(&out, |e| matches!(e, Event::PeerDead(_))));
    }
    assert_eq!(link0_dead_at, Some(4), "link 0 dead after deadtime");
    assert_eq!(m.links_alive(), vec![false, true]);
    // Now link 1 stops too: dead exactly deadtime after its last beat.
    let last = t0 + 2000 * MS;
    assert_eq!(m.next_deadline(last), Some(last + 250 * MS));
    let out = m.step(Input::Tick, last + 250 * MS);
    assert!(has_event(&out, |e| matches!(e, Event::LateHeartbeat(_))));
    // After the warning the next wake-up is the dead line itself.
    assert_eq!(m.next_deadline(last + 250 * MS), Some(last + 400 * MS));
    assert!(m.step(Input::Tick, last + 399 * MS).is_empty());
    let out = m.step(Input::Tick, last + 400 * MS);
    assert!(has_event(&out, |e| *e == Event::PeerDead("a".into())));
    assert!(became_active(&out));
    // A link coming back is reported.
    let out = m.step(
        heard(0, &info("a", PeerState::Standby, 100)),
        last + 500 * MS,
    );
    assert!(has_event(&out, |e| *e == Event::LinkUp(0)));
    assert!(has_event(&out, |e| *e == Event::PeerUp("a".into())));
}

#[test]
fn late_heartbeat_is_warned_once() {
    let t0 = Instant::now();
    let mut m = Machine::new(params("b", 100, false), t0);
    m.step(heard(0, &info("a", PeerState::Active, 100)), t0);
    let n = (1..=15u32)
        .map(|i| m.step(Input::Tick, t0 + i * 20 * MS))
        .filter(|o| has_event(o, |e| matches!(e, Event::LateHeartbeat(_))))
        .count();
    assert_eq!(n, 1);
    assert_eq!(m.role(), Role::Standby);
}

#[test]
fn split_brain_equal_incumbency_keeps_higher_priority_then_smaller_name() {
    let t0 = Instant::now();
    // "b" goes active at t0 + 1000 ms (Unix EPOCH + 1000); "a" reports the
    // same instant, so incumbency ties and priority decides.
    let since = EPOCH + 1000;
    for (mine, theirs, stay) in [(100, 200, false), (200, 100, true)] {
        let mut m = Machine::new(params("b", mine, false), t0);
        m.step(Input::Tick, t0 + 1000 * MS);
        assert_eq!(m.role(), Role::Active);
        assert_eq!(m.active_since_ms(), since);
        let mut a = info("a", PeerState::Active, theirs);
        a.active_since_ms = since;
        let out = m.step(heard(0, &a), t0 + 1100 * MS);
        assert_eq!(split_rule_of(&out), Some("higher priority"));
        assert_eq!(m.role() == Role::Active, stay);
        assert_eq!(out.contains(&Action::Reannounce), stay);
    }
    // Equal priority: "a" < "b", so "a" stays.
    let mut m = Machine::new(params("b", 100, false), t0);
    m.step(Input::Tick, t0 + 1000 * MS);
    let mut a = info("a", PeerState::Active, 100);
    a.active_since_ms = since;
    let out = m.step(heard(0, &a), t0 + 1100 * MS);
    assert!(has_event(&out, |e| *e
        == Event::SplitBrain {
            winner: "a".into(),
            loser: "b".into(),
            rule: "lexically smaller node name"
        }));
    assert_eq!(m.role(), Role::Standby);
}

/// The incumbent (active longer) keeps the VIPs over a higher-priority
/// newcomer, whatever auto_failback says; the winner logs the split brain
/// once and re-announces once however many packets the loser sends before
/// its step-down arrives.
#[test]
fn split_brain_incumbent_beats_priority() {
    let t0 = Instant::now();
    for auto in [false, true] {
        // Incumbent "b" (priority 50) active since t0 + 1000 ms.
        let mut b = Machine::new(params("b", 50, auto), t0);
        b.step(Input::Tick, t0 + 1000 * MS);
        assert_eq!(b.role(), Role::Active);
        // Newcomer "a" (priority 200) active since 5 s later.
        let mut a = info("a", PeerState::Active, 200);
        a.active_since_ms = EPOCH + 6000;
        let mut events = 0;
        let mut reannounce = 0;
        for i in 0..5u32 {
            let out = b.step(heard(0, &a), t0 + (6100 + i * 10) * MS);
            events += usize::from(split_rule_of(&out).is_some());
            reannounce += out.iter().filter(|x| **x == Action::Reannounce).count();
            assert_eq!(b.role(), Role::Active, "auto_failback={auto}");
        }
        assert_eq!((events, reannounce), (1, 1), "auto_failback={auto}");
        // The newcomer's side of the same split brain: it steps down.
        let mut n = Machine::new(params("a", 200, auto), t0 + 5000 * MS);
        n.p.epoch_ms = EPOCH + 5000;
        n.step(Input::Tick, t0 + 6000 * MS);
        assert_eq!(n.role(), Role::Active);
        assert_eq!(n.active_since_ms(), EPOCH + 6000);
        let mut inc = info("b", PeerState::Active, 50);
        inc.active_since_ms = EPOCH + 1000;
        let out = n.step(heard(0, &inc), t0 + 6100 * MS);
        assert_eq!(split_rule_of(&out), Some("incumbent (active longer) stays"));
        assert!(
            out.contains(&Action::BecomeStandby("split brain resolved for the peer")),
            "auto_failback={auto}: {out:?}"
        );
        // A split brain after healing is logged again.
        b.step(
            heard(0, &info("a", PeerState::Standby, 200)),
            t0 + 6200 * MS,
        );
        let out = b.step(heard(0, &a), t0 + 6300 * MS);
        assert!(split_rule_of(&out).is_some());
    }
}

/// Both sides of a split brain, fed each other's reports, always agree:
/// exactly one stays active, for any pair of active-since stamps (equal,
/// close, far) and priorities.
#[test]
fn split_brain_sides_always_agree() {
    let t0 = Instant::now();
    for (sa, sb) in [(0, 0), (0, 1), (1, 0), (0, 3000), (3000, 0), (2999, 3000)] {
        for (pa, pb) in [(100, 100), (200, 100), (100, 200)] {
            for (auto, skew) in [(false, 0), (true, 0), (false, 10_000), (true, 10_000)] {
                let mut a = Machine::new(params("a", pa, auto), t0 + sa * MS);
                let mut b = Machine::new(params("b", pb, auto), t0 + sb * MS);
                // Each epoch is that node's wall clock at its start; b's
                // clock may run `skew` ms ahead.
                a.p.epoch_ms = EPOCH + u64::from(sa);
                b.p.epoch_ms = EPOCH + u64::from(sb) + skew;
                a.step(Input::Tick, t0 + (sa + 1000) * MS);
                b.step(Input::Tick, t0 + (sb + 1000) * MS);
                // They had paired before the partition.
                introduce(&mut a, &mut b);
                let now = t0 + 5000 * MS;
                let wa = wire_info(&a, "a");
                let wb = wire_info(&b, "b");
                a.step(heard(0, &wb), now);
                b.step(heard(0, &wa), now);
                let actives = [a.role(), b.role()]
                    .iter()
                    .filter(|r| **r == Role::Active)
                    .count();
                let case = format!("since=({sa},{sb}) prio=({pa},{pb}) auto={auto} skew={skew}");
                assert_eq!(actives, 1, "{case}");
                if sa != sb && skew == 0 {
                    let older = if sa < sb { Role::Active } else { Role::Standby };
                    assert_eq!(a.role(), older, "incumbent must win: {case}");
                }
            }
        }
    }
}

/// A restarted node hears its peer's packets queued by the kernel while it
/// was away (here: "b" standby, before b took over). It must not elect
/// itself on them; it waits for a packet echoing its generation.
#[test]
fn init_ignores_reports_that_predate_this_boot() {
    let t0 = Instant::now();
    let mut a = Machine::new(params("a", 200, false), t0);
    let old = stale(info("b", PeerState::Standby, 100));
    for i in 0..5u32 {
        let out = a.step(heard(0, &old), t0 + i * MS);
        assert!(!became_active(&out), "elected on a stale report: {out:?}");
    }
    assert_eq!(a.role(), Role::Init);
    // What a sends now tells b its generation.
    assert_eq!(wire_info(&a, "a").echo, gen("b"));
    // b's current report (active) arrives: a goes standby.
    let out = a.step(heard(0, &info("b", PeerState::Active, 100)), t0 + 10 * MS);
    assert!(became_standby(&out));
    assert_eq!(a.role(), Role::Standby);

    // A peer that never echoes (one-way link, or replays) never counts:
    // alone at initdead, the node serves.
    let mut a = Machine::new(params("a", 200, false), t0);
    a.step(heard(0, &stale(info("b", PeerState::Active, 100))), t0);
    a.step(
        heard(0, &stale(info("b", PeerState::Active, 100))),
        t0 + 900 * MS,
    );
    assert!(!a.peer_alive());
    assert!(a.step(Input::Tick, t0 + 999 * MS).is_empty());
    assert_eq!(a.role(), Role::Init);
    let out = a.step(Input::Tick, t0 + 1000 * MS);
    assert!(became_active(&out), "{out:?}");
}

/// Defect 7 of issue 13: heartbeats captured while the peer was active
/// (they echo this node's previous boot) and replayed after this node
/// restarts, with the peer dead. The replays must not make the peer look
/// alive: the restarted node takes over at initdead, whatever the replay
/// rate, and a node that is already active is not pushed to standby.
#[test]
fn replayed_reports_from_before_a_restart_never_fake_a_live_peer() {
    let t0 = Instant::now();
    // b's previous boot had generation gen("b"); the captures echo it.
    let mut captured = info("a", PeerState::Active, 200);
    assert_eq!(captured.echo, gen("b"));
    let mut b_params = params("b", 100, false);
    b_params.generation = gen("b") + 7; // this boot
    let mut b = Machine::new(b_params.clone(), t0);
    let mut became = None;
    for i in 0..=150u32 {
        let now = t0 + i * 10 * MS;
        captured.seq = u64::from(i) + 1;
        let mut out = b.step(heard(i as usize % 2, &captured), now);
        out.extend(b.step(Input::Tick, now));
        assert!(!became_standby(&out), "standby on a replay at {i}: {out:?}");
        assert!(!b.peer_alive(), "replay made the peer alive at {i}");
        if became_active(&out) && became.is_none() {
            became = Some(now - t0);
        }
    }
    assert_eq!(became, Some(1000 * MS), "must serve exactly at initdead");
    assert_eq!(b.links_alive(), vec![false, false]);
    // What b sends echoes a's generation learnt from the replays: harmless
    // (a is dead), and a live a proves itself with its next report.
    assert_eq!(wire_info(&b, "b").echo, gen("a"));
    let mut live = info("a", PeerState::Active, 200);
    live.echo = b_params.generation;
    live.seq = 1000;
    live.active_since_ms = EPOCH + 5;
    b.step(heard(0, &live), t0 + 1600 * MS);
    assert!(b.peer_alive(), "a fresh report counts");

    // A node active alone keeps serving under the same replays, even after
    // deadtime passes many times over.
    let mut b = Machine::new(b_params, t0);
    b.step(Input::Tick, t0 + 1000 * MS);
    assert_eq!(b.role(), Role::Active);
    for i in 0..100u32 {
        let now = t0 + 1000 * MS + i * 50 * MS;
        captured.seq = 500 + u64::from(i);
        let out = b.step(heard(0, &captured), now);
        assert!(!became_standby(&out), "{out:?}");
    }
    assert_eq!(b.role(), Role::Active);
}

/// A link that becomes one-way after pairing (the peer no longer hears
/// us) keeps the peer alive: its reports still echo this boot, which it
/// heard before. Only a one-way link from the start (the peer never heard
/// this boot) looks like a dead peer.
#[test]
fn one_way_link_after_pairing_keeps_the_peer_alive() {
    let mut p = Pair::new(params("a", 200, false), params("b", 100, false));
    p.run(5);
    assert_eq!((p.a.role(), p.b.role()), (Role::Active, Role::Standby));
    // b -> a is lost; a -> b still works. a goes on alone (b dead to it).
    for _ in 0..10 {
        p.now += 100 * MS;
        p.a.step(Input::Tick, p.now);
        let ia = wire_info(&p.a, "a");
        p.b.step(heard(0, &ia), p.now);
    }
    assert_eq!(p.a.role(), Role::Active);
    assert!(p.b.peer_alive());
    assert_eq!(p.b.role(), Role::Standby, "one active only");
}

#[test]
fn auto_failback_waits_for_delay_and_off_never_fails_back() {
    let t0 = Instant::now();
    for auto in [true, false] {
        // "b" (low priority) serves alone; "a" (high) comes back as standby.
        let mut m = Machine::new(params("b", 50, auto), t0);
        m.step(Input::Tick, t0 + 1000 * MS);
        assert_eq!(m.role(), Role::Active);
        let a = info("a", PeerState::Standby, 200);
        let back = t0 + 2000 * MS;
        let mut stepped_down = None;
        for i in 0..10u32 {
            let now = back + i * 100 * MS;
            if became_standby(&m.step(heard(0, &a), now)) {
                stepped_down = Some(i);
            }
        }
        assert_eq!(stepped_down, auto.then_some(5), "auto_failback={auto}");
        // Deadlines are never in the past (a runner would spin on them).
        let late = back + 2000 * MS;
        assert!(m.next_deadline(late).is_none_or(|d| d > late));
    }
}

#[test]
fn ping_reach_and_health_move_the_vips() {
    let t0 = Instant::now();
    let mut m = Machine::new(params("a", 200, false), t0);
    m.step(Input::PingReach(2), t0);
    m.step(Input::Tick, t0 + 1000 * MS);
    let mut b = info("b", PeerState::Standby, 100);
    b.ping_reach = 2;
    assert!(m.step(heard(0, &b), t0 + 1100 * MS).is_empty() || m.role() == Role::Active);
    assert_eq!(m.role(), Role::Active);
    let out = m.step(Input::PingReach(1), t0 + 1200 * MS);
    assert!(out.contains(&Action::BecomeStandby("peer reaches more ping nodes")));
    // Unhealthy active with a healthy peer hands over.
    let mut m = Machine::new(params("a", 200, false), t0);
    m.step(Input::Tick, t0 + 1000 * MS);
    m.step(
        heard(0, &info("b", PeerState::Standby, 100)),
        t0 + 1100 * MS,
    );
    let out = m.step(Input::Health(false), t0 + 1200 * MS);
    assert!(out.contains(&Action::BecomeStandby("local health failed")));
    // ...but alone it keeps serving.
    let out = m.step(Input::Tick, t0 + 1600 * MS);
    assert!(became_active(&out));
}

/// Two machines wired back to back: each round, a hears b, then b hears a.
struct Pair {
    a: Machine,
    b: Machine,
    now: Instant,
    flips: u32,
}

impl Pair {
    /// Two machines that have each heard the other's first heartbeat (so
    /// their reports echo each other's boot from the first round).
    fn new(a: Params, b: Params) -> Self {
        let now = Instant::now();
        let mut p = Pair {
            a: Machine::new(a, now),
            b: Machine::new(b, now),
            now,
            flips: 0,
        };
        introduce(&mut p.a, &mut p.b);
        p
    }

    fn round(&mut self) {
        self.now += 100 * MS;
        let ib = wire_info(&self.b, "b");
        let before = (self.a.role(), self.b.role());
        self.a.step(heard(0, &ib), self.now);
        let ia = wire_info(&self.a, "a");
        self.b.step(heard(0, &ia), self.now);
        if before != (self.a.role(), self.b.role()) {
            self.flips += 1;
        }
    }

    fn run(&mut self, n: u32) {
        for _ in 0..n {
            self.round();
        }
    }

    fn actives(&self) -> usize {
        [self.a.role(), self.b.role()]
            .iter()
            .filter(|r| **r == Role::Active)
            .count()
    }
}

#[test]
fn standby_and_takeover_commands() {
    let mut p = Pair::new(params("a", 200, true), params("b", 100, true));
    p.run(5);
    assert_eq!((p.a.role(), p.b.role()), (Role::Active, Role::Standby));
    // hb_standby on a: b takes over and a does not fail back.
    let now = p.now;
    p.a.step(Input::Command(Command::Standby), now);
    p.run(20);
    assert_eq!((p.a.role(), p.b.role()), (Role::Standby, Role::Active));
    assert!(p.a.hold());
    // hb_takeover on a: a serves again, b now holds.
    let now = p.now;
    p.a.step(Input::Command(Command::Takeover), now);
    p.run(5);
    assert_eq!((p.a.role(), p.b.role()), (Role::Active, Role::Standby));
    assert!(p.b.hold() && !p.a.hold());
    // b's hold ends when a dies: b serves.
    for i in 1..=5u32 {
        p.b.step(Input::Tick, p.now + i * 100 * MS);
    }
    assert_eq!(p.b.role(), Role::Active);
    assert!(!p.b.hold());
}

/// Every combination of health, hold, ping reach, priority, auto_failback
/// and starting role converges to exactly one active node, stays there, and
/// gives the VIPs to the only eligible node when there is one.
#[test]
fn exhaustive_pairs_converge_to_one_active() {
    let roles = [Role::Init, Role::Standby, Role::Active];
    let mut cases = 0;
    for auto in [false, true] {
        for (pa, pb) in [(100, 100), (200, 100), (100, 200)] {
            for flags in 0..64u32 {
                for (ra, rb) in roles
                    .iter()
                    .flat_map(|a| roles.iter().map(move |b| (*a, *b)))
                {
                    let bit = |i: u32| flags & (1 << i) != 0;
                    let mut p = Pair::new(params("a", pa, auto), params("b", pb, auto));
                    let t = p.now;
                    p.a.step(Input::Health(!bit(0)), t);
                    p.b.step(Input::Health(!bit(1)), t);
                    if bit(2) {
                        p.a.step(Input::Command(Command::Standby), t);
                    }
                    if bit(3) {
                        p.b.step(Input::Command(Command::Standby), t);
                    }
                    p.a.step(Input::PingReach(u16::from(bit(4))), t);
                    p.b.step(Input::PingReach(u16::from(bit(5))), t);
                    // Start from any pair of roles, as after a partition.
                    p.a.role = ra;
                    p.b.role = rb;
                    p.a.active_since = (ra == Role::Active).then_some(t);
                    p.b.active_since = (rb == Role::Active).then_some(t);
                    p.run(20);
                    let case = format!("auto={auto} prio=({pa},{pb}) flags={flags:06b} start=({ra:?},{rb:?}) end=({:?},{:?})", p.a.role(), p.b.role());
                    assert_eq!(p.actives(), 1, "{case}");
                    let settled = (p.a.role(), p.b.role());
                    let flips = p.flips;
                    p.run(20);
                    assert_eq!(settled, (p.a.role(), p.b.role()), "unstable: {case}");
                    assert_eq!(flips, p.flips, "flapping: {case}");
                    let el_a = !bit(0) && !bit(2);
                    let el_b = !bit(1) && !bit(3);
                    if el_a != el_b {
                        let want = if el_a { "a" } else { "b" };
                        let got = if p.a.role() == Role::Active { "a" } else { "b" };
                        assert_eq!(got, want, "eligible node must serve: {case}");
                    }
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 2 * 3 * 64 * 9);
}

/// auto_failback after a healed split brain: the incumbent (lower
/// priority) wins the split, then hands back only once the higher-priority
/// node has been its standby for failback_delay (500 ms = 5 rounds).
#[test]
fn auto_failback_needs_a_stable_pairing_after_split_brain() {
    let mut p = Pair::new(params("a", 200, true), params("b", 100, true));
    let t = p.now;
    p.b.role = Role::Active;
    p.b.active_since = Some(t);
    p.now += 3000 * MS;
    p.a.role = Role::Active;
    p.a.active_since = Some(p.now);
    p.round();
    assert_eq!((p.a.role(), p.b.role()), (Role::Standby, Role::Active));
    let mut b_down = None;
    let mut a_up = None;
    for r in 2..=15u32 {
        p.round();
        assert!(p.actives() <= 1, "round {r}: both active");
        if b_down.is_none() && p.b.role() == Role::Standby {
            b_down = Some(r);
        }
        if a_up.is_none() && p.a.role() == Role::Active {
            a_up = Some(r);
        }
    }
    assert_eq!(
        b_down,
        Some(6),
        "hand back exactly failback_delay after pairing"
    );
    assert_eq!(a_up, Some(7));
    assert_eq!((p.a.role(), p.b.role()), (Role::Active, Role::Standby));
}

/// The returning node of the netns suite: "a" dies, "b" takes over, "a"
/// restarts and first hears b's reports queued while it was away (b still
/// standby). With auto_failback off a stays standby; with it on a takes
/// the VIPs back only after failback_delay.
#[test]
fn returning_node_respects_auto_failback() {
    for auto in [false, true] {
        let mut p = Pair::new(params("a", 200, auto), params("b", 100, auto));
        p.run(5);
        assert_eq!((p.a.role(), p.b.role()), (Role::Active, Role::Standby));
        let queued = stale(wire_info(&p.b, "b"));
        // a dies: b alone.
        let mut took = false;
        for _ in 0..10 {
            p.now += 100 * MS;
            took |= became_active(&p.b.step(Input::Tick, p.now));
        }
        assert!(took && p.b.role() == Role::Active);
        // a restarts and drains the queued (stale) report first.
        p.a = Machine::new(params("a", 200, auto), p.now);
        p.a.p.generation += 1;
        let out = p.a.step(heard(0, &queued), p.now);
        assert!(!became_active(&out), "auto={auto}: {out:?}");
        let start = p.flips;
        let mut a_up = None;
        for r in 1..=20u32 {
            p.round();
            assert!(p.actives() <= 1, "auto={auto} round {r}: both active");
            if a_up.is_none() && p.a.role() == Role::Active {
                a_up = Some(r);
            }
        }
        if auto {
            // 1 round to pair (a standby), 5 to wait, 1 for a to elect.
            assert!(a_up.is_some_and(|r| r >= 6), "auto={auto}: {a_up:?}");
        } else {
            assert_eq!(a_up, None);
            assert_eq!(p.b.role(), Role::Active);
            // a went init -> standby only.
            assert_eq!(p.flips - start, 1);
        }
    }
}

/// A report older than one already applied (same boot, lower sequence)
/// arrives late, e.g. queued behind ARP on the link that was cut: it keeps
/// the link alive but does not roll the peer's state back.
#[test]
fn late_older_reports_do_not_roll_back_the_peer_state() {
    let t0 = Instant::now();
    let mut a = Machine::new(params("a", 200, false), t0);
    let mut old = info("b", PeerState::Standby, 100);
    old.seq = 10;
    let mut new = info("b", PeerState::Active, 100);
    new.seq = 11;
    a.step(heard(1, &new), t0);
    assert_eq!(a.role(), Role::Standby);
    // Link 0 comes back and delivers b's queued standby report.
    let out = a.step(heard(0, &old), t0 + 10 * MS);
    assert!(has_event(&out, |e| *e == Event::LinkUp(0)));
    assert!(!became_active(&out), "acted on a stale report: {out:?}");
    assert_eq!(a.links_alive(), vec![true, true]);
    // A newer standby report does count.
    let mut newer = old.clone();
    newer.seq = 12;
    let out = a.step(heard(1, &newer), t0 + 20 * MS);
    assert!(became_active(&out));
}
