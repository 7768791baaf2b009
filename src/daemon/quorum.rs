//! Per-virtual quorum (keepalived's `quorum`, `hysteresis`, `quorum_up`,
//! `quorum_down`): pure decisions on status snapshots.
//!
//! keepalived (check/ipwrapper.c) sums the weights of the alive reals of a
//! virtual server; the quorum is gained when the sum reaches
//! `quorum + hysteresis` and lost when it is zero or below
//! `quorum - hysteresis`. Its first state is set silently from the first
//! sum against `quorum + hysteresis` (no command runs at start). lvsd does
//! the same on the first snapshot after the first checks.
//!
//! [`run`] is the thin shell that runs `quorum_up`/`quorum_down`; the
//! announcer runs its own [`Tracker`] on its snapshots and withdraws the
//! VIP of a virtual in [`Tracker::lost`] (`anycast::decide_with_quorum`).

use std::collections::BTreeMap;

use crate::config::policy::{Quorum, VirtualPolicy};
use crate::model::ServiceKey;

use super::status::{Shown, VirtualView};

/// A change of a virtual's quorum state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Crossing {
    /// First evaluation: the state keepalived starts with (no command runs).
    Start {
        /// Quorum held.
        up: bool,
        /// Weight sum of the healthy reals.
        weight: u64,
    },
    /// The weight sum reached `quorum + hysteresis`: run `quorum_up`.
    Gained {
        /// Weight sum of the healthy reals.
        weight: u64,
        /// The threshold crossed.
        threshold: u64,
    },
    /// The weight sum fell below `quorum - hysteresis` (or to 0): run
    /// `quorum_down`.
    Lost {
        /// Weight sum of the healthy reals.
        weight: u64,
        /// The threshold crossed.
        threshold: u64,
    },
}

/// Sum of the configured weights of the healthy reals (not the fallback).
pub fn healthy_weight(v: &VirtualView) -> u64 {
    v.reals
        .iter()
        .filter(|r| !r.fallback && r.health == Shown::Up)
        .map(|r| u64::try_from(r.weight).unwrap_or(0))
        .sum()
}

/// One step of keepalived's `update_quorum_state`: `state` is None before
/// the first evaluation.
pub fn step(q: &Quorum, state: &mut Option<bool>, weight: u64) -> Option<Crossing> {
    let quorum = u64::from(q.quorum);
    let hyst = u64::from(q.hysteresis);
    match *state {
        None => {
            let up = weight >= quorum + hyst;
            *state = Some(up);
            Some(Crossing::Start { up, weight })
        }
        Some(false) if weight >= quorum + hyst => {
            *state = Some(true);
            Some(Crossing::Gained {
                weight,
                threshold: quorum + hyst,
            })
        }
        Some(true) if weight == 0 || weight < quorum.saturating_sub(hyst) => {
            *state = Some(false);
            Some(Crossing::Lost {
                weight,
                threshold: quorum.saturating_sub(hyst),
            })
        }
        Some(_) => None,
    }
}

/// The quorum state of every virtual with a quorum policy.
#[derive(Debug, Default)]
pub struct Tracker {
    states: BTreeMap<ServiceKey, bool>,
}

impl Tracker {
    /// Fold one snapshot (taken after the first checks): the crossings, in
    /// the order of `virtuals`. Virtuals gone from the snapshot are forgotten.
    pub fn observe(
        &mut self,
        policies: &[VirtualPolicy],
        virtuals: &[VirtualView],
    ) -> Vec<(ServiceKey, Crossing)> {
        let mut out = Vec::new();
        let mut seen = BTreeMap::new();
        for v in virtuals {
            let Some(q) = policies
                .iter()
                .find(|p| p.id.matches(&v.key))
                .and_then(|p| p.quorum.as_ref())
            else {
                continue;
            };
            let mut st = self.states.get(&v.key).copied();
            if let Some(c) = step(q, &mut st, healthy_weight(v)) {
                out.push((v.key, c));
            }
            if let Some(s) = st {
                seen.insert(v.key, s);
            }
        }
        self.states = seen;
        out
    }

    /// Virtuals whose quorum is lost (their VIP must not be announced).
    pub fn lost(&self) -> Vec<ServiceKey> {
        self.states
            .iter()
            .filter(|(_, up)| !**up)
            .map(|(k, _)| *k)
            .collect()
    }
}

/// The command slot of one virtual: at most one `quorum_up`/`quorum_down`
/// runs per virtual, and at most one waits behind it. Crossings come from
/// the checks of reals (outside input): a real that flaps every second
/// must not pile up commands that each may run for their whole timeout.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Direction of the running command (true: `quorum_up`).
    running: Option<bool>,
    /// Direction of the command to run once it ends.
    queued: Option<bool>,
}

impl Slot {
    /// A crossing to `up`: the command to start now, if any. While one
    /// runs, the newest crossing waits; a crossing back to the direction
    /// of the running command cancels the waiting one (the state it would
    /// undo never got its command).
    pub fn on_crossing(&mut self, up: bool) -> Option<bool> {
        match self.running {
            None => {
                self.running = Some(up);
                Some(up)
            }
            Some(r) if r == up => {
                self.queued = None;
                None
            }
            Some(_) => {
                self.queued = Some(up);
                None
            }
        }
    }

    /// The running command ended: the waiting one to start, if any.
    pub fn on_finished(&mut self) -> Option<bool> {
        self.running = self.queued.take();
        self.running
    }

    /// Nothing runs or waits.
    pub fn is_idle(&self) -> bool {
        self.running.is_none() && self.queued.is_none()
    }
}

/// How often the engine's status is read.
const POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// At stop, how long running quorum commands may go on before their
/// process groups are killed.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The thin shell: poll the engine's status, log one line per crossing and
/// run `quorum_up`/`quorum_down` (no shell, empty environment but a fixed
/// PATH and `LVSD_VIRTUAL`, stdin/stdout/stderr `/dev/null`, own process group killed after the timeout).
/// The commands run in a `JoinSet` owned here, at most one per virtual
/// ([`Slot`]); at stop they get [`STOP_GRACE`], then their groups are
/// killed, so none outlives the daemon.
pub async fn run(
    policies: Vec<VirtualPolicy>,
    status: std::sync::Arc<std::sync::Mutex<super::status::Status>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    bus: super::events::Bus,
) {
    let mut tracker = Tracker::default();
    let mut slots: BTreeMap<ServiceKey, Slot> = BTreeMap::new();
    let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    let mut ids: std::collections::HashMap<tokio::task::Id, ServiceKey> = Default::default();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                // A panicked run frees its slot too (found by its task id).
                let id = match &done {
                    Ok((id, _)) => *id,
                    Err(e) => e.id(),
                };
                if let Some(key) = ids.remove(&id) {
                    let next = slots.get_mut(&key).and_then(Slot::on_finished);
                    if let Some(up) = next {
                        start_command(&mut running, &mut ids, &policies, key, up);
                    }
                    slots.retain(|_, s| !s.is_idle());
                }
                continue;
            }
        }
        let (virtuals, phase) = match status.lock() {
            Ok(s) => (s.virtuals.clone(), s.phase),
            Err(p) => {
                let s = p.into_inner();
                (s.virtuals.clone(), s.phase)
            }
        };
        if phase == super::plan::Phase::Starting {
            continue;
        }
        for (key, c) in tracker.observe(&policies, &virtuals) {
            let Some(q) = quorum_of(&policies, &key) else {
                continue;
            };
            let up = match &c {
                Crossing::Start { up, weight } => {
                    tracing::info!(virtual_ = %key, up, weight, quorum = q.quorum, hysteresis = q.hysteresis, "starting with quorum {}", if *up { "up" } else { "down" });
                    continue;
                }
                Crossing::Gained { weight, threshold } => {
                    tracing::warn!(virtual_ = %key, weight, threshold, "gained quorum");
                    bus.emit(super::events::EventData::quorum(
                        &super::events::virtual_name(&key),
                        None,
                    ));
                    true
                }
                Crossing::Lost { weight, threshold } => {
                    tracing::warn!(virtual_ = %key, weight, threshold, "lost quorum");
                    bus.emit(super::events::EventData::quorum(
                        &super::events::virtual_name(&key),
                        Some(&format!(
                            "quorum lost: healthy weight {weight} < {threshold}"
                        )),
                    ));
                    false
                }
            };
            if (if up { &q.up } else { &q.down }).is_none() {
                continue;
            }
            match slots.entry(key).or_default().on_crossing(up) {
                Some(up) => start_command(&mut running, &mut ids, &policies, key, up),
                None => tracing::info!(
                    virtual_ = %key,
                    "a quorum command still runs; the newest crossing waits for it"
                ),
            }
        }
    }
    let drained = tokio::time::timeout(STOP_GRACE, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            commands = running.len(),
            "quorum commands still running at stop; killing them"
        );
        // Dropping a run kills its process group (`child`).
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
}

fn quorum_of(policies: &[VirtualPolicy], key: &ServiceKey) -> Option<Quorum> {
    policies
        .iter()
        .find(|p| p.id.matches(key))
        .and_then(|p| p.quorum.clone())
}

/// Start `quorum_up` (`up`) or `quorum_down` of `key` in `set`; `ids`
/// maps the task to `key`, so its end frees the slot. Without such a
/// command the task ends at once.
fn start_command(
    set: &mut tokio::task::JoinSet<()>,
    ids: &mut std::collections::HashMap<tokio::task::Id, ServiceKey>,
    policies: &[VirtualPolicy],
    key: ServiceKey,
    up: bool,
) {
    let q = quorum_of(policies, &key);
    let argv = q
        .as_ref()
        .and_then(|q| if up { q.up.clone() } else { q.down.clone() });
    let timeout = q.map(|q| q.timeout).unwrap_or_default();
    let handle = set.spawn(async move {
        let Some(argv) = argv else { return };
        let Some((prog, args)) = argv.split_first() else {
            return;
        };
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LVSD_VIRTUAL", key.to_string())
            // Nothing of the daemon's is inherited: a leftover holding
            // lvsd's stdout/stderr would keep its readers (a pipe to a
            // supervisor or a test) open after lvsd ended.
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        use crate::child::{self, Leftovers, Outcome};
        match child::run(cmd, timeout, None, Leftovers::Keep).await {
            Ok(Outcome::Exited(st)) if st.success() => {
                tracing::info!(?argv, "quorum command done")
            }
            Ok(Outcome::Exited(st)) => {
                tracing::warn!(?argv, status = %st, "quorum command failed")
            }
            Ok(Outcome::TimedOut) => tracing::warn!(?argv, "quorum command timed out"),
            Err(e) => tracing::warn!(?argv, error = %e, "quorum command not started"),
        }
    });
    ids.insert(handle.id(), key);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(quorum: u32, hysteresis: u32) -> Quorum {
        Quorum {
            quorum,
            hysteresis,
            ..Quorum::default()
        }
    }

    #[test]
    fn one_command_per_virtual_the_newest_crossing_waits() {
        let mut s = Slot::default();
        assert!(s.is_idle());
        assert_eq!(s.on_crossing(false), Some(false));
        // Flapping while `quorum_down` runs: nothing more starts.
        assert_eq!(s.on_crossing(true), None);
        assert_eq!(s.on_crossing(false), None);
        assert_eq!(s.on_crossing(true), None);
        // The newest crossing (up) runs once the down command ends.
        assert_eq!(s.on_finished(), Some(true));
        assert!(!s.is_idle());
        assert_eq!(s.on_finished(), None);
        assert!(s.is_idle());
    }

    #[test]
    fn a_crossing_back_cancels_the_waiting_command() {
        let mut s = Slot::default();
        assert_eq!(s.on_crossing(true), Some(true));
        assert_eq!(s.on_crossing(false), None);
        // Back up while `quorum_up` still runs: `quorum_down` never ran,
        // so neither runs again.
        assert_eq!(s.on_crossing(true), None);
        assert_eq!(s.on_finished(), None);
        assert!(s.is_idle());
    }

    #[test]
    fn start_is_silent_and_uses_quorum_plus_hysteresis() {
        let mut s = None;
        assert_eq!(
            step(&q(3, 1), &mut s, 3),
            Some(Crossing::Start {
                up: false,
                weight: 3
            })
        );
        let mut s = None;
        assert_eq!(
            step(&q(3, 1), &mut s, 4),
            Some(Crossing::Start {
                up: true,
                weight: 4
            })
        );
    }

    #[test]
    fn hysteresis_band_holds_the_state() {
        let p = q(4, 1);
        let mut s = Some(true);
        // 3 = quorum - hysteresis: still up (lost only below it).
        assert_eq!(step(&p, &mut s, 3), None);
        assert_eq!(
            step(&p, &mut s, 2),
            Some(Crossing::Lost {
                weight: 2,
                threshold: 3
            })
        );
        // Once: a second low sample is no crossing.
        assert_eq!(step(&p, &mut s, 1), None);
        // 4 = quorum: not enough to regain with hysteresis 1.
        assert_eq!(step(&p, &mut s, 4), None);
        assert_eq!(
            step(&p, &mut s, 5),
            Some(Crossing::Gained {
                weight: 5,
                threshold: 5
            })
        );
        assert_eq!(step(&p, &mut s, 5), None);
    }

    #[test]
    fn zero_weight_always_loses_even_when_hysteresis_equals_quorum() {
        let p = q(2, 2);
        let mut s = Some(true);
        assert_eq!(step(&p, &mut s, 1), None);
        assert_eq!(
            step(&p, &mut s, 0),
            Some(Crossing::Lost {
                weight: 0,
                threshold: 0
            })
        );
    }

    #[test]
    fn sum_of_weights_not_count() {
        use crate::model::{Forward, Protocol};
        use std::net::IpAddr;
        let real = |w: i32, health: Shown, fallback: bool| super::super::status::RealView {
            addr: "10.1.0.1".parse::<IpAddr>().unwrap(),
            port: 80,
            forward: Forward::Masq,
            weight: w,
            health,
            last: None,
            checks: 0,
            failures: 0,
            kernel: None,
            fallback,
        };
        let v = VirtualView {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "192.0.2.10".parse().unwrap(),
                port: 80,
            },
            scheduler: "wrr".into(),
            reals: vec![
                real(5, Shown::Up, false),
                real(3, Shown::Down("x".into()), false),
                real(2, Shown::Up, false),
                real(9, Shown::Up, true),
            ],
        };
        assert_eq!(healthy_weight(&v), 7);
        let pol = vec![VirtualPolicy {
            id: crate::model::VirtualName::parse("tcp:192.0.2.10:80").unwrap(),
            line: 1,
            at: String::new(),
            check: Default::default(),
            quorum: Some(q(8, 0)),
        }];
        let mut t = Tracker::default();
        let c = t.observe(&pol, std::slice::from_ref(&v));
        assert_eq!(
            c,
            vec![(
                v.key,
                Crossing::Start {
                    up: false,
                    weight: 7
                }
            )]
        );
        assert_eq!(t.lost(), vec![v.key]);
        // Virtual removed (reload): forgotten.
        assert!(t.observe(&pol, &[]).is_empty());
        assert!(t.lost().is_empty());
    }
}
