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

/// How often the engine's status is read.
const POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// The thin shell: poll the engine's status, log one line per crossing and
/// run `quorum_up`/`quorum_down` (no shell, empty environment but a fixed
/// PATH and `LVSD_VIRTUAL`, own process group killed after the timeout).
pub async fn run(
    policies: Vec<VirtualPolicy>,
    status: std::sync::Arc<std::sync::Mutex<super::status::Status>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    bus: super::events::Bus,
) {
    let mut tracker = Tracker::default();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
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
            let Some(q) = policies
                .iter()
                .find(|p| p.id.matches(&key))
                .and_then(|p| p.quorum.clone())
            else {
                continue;
            };
            let argv = match &c {
                Crossing::Start { up, weight } => {
                    tracing::info!(virtual_ = %key, up, weight, quorum = q.quorum, hysteresis = q.hysteresis, "starting with quorum {}", if *up { "up" } else { "down" });
                    None
                }
                Crossing::Gained { weight, threshold } => {
                    tracing::warn!(virtual_ = %key, weight, threshold, "gained quorum");
                    bus.emit(super::events::EventData::quorum(
                        &super::events::virtual_name(&key),
                        None,
                    ));
                    q.up.clone()
                }
                Crossing::Lost { weight, threshold } => {
                    tracing::warn!(virtual_ = %key, weight, threshold, "lost quorum");
                    bus.emit(super::events::EventData::quorum(
                        &super::events::virtual_name(&key),
                        Some(&format!(
                            "quorum lost: healthy weight {weight} < {threshold}"
                        )),
                    ));
                    q.down.clone()
                }
            };
            let Some(argv) = argv else { continue };
            let Some((prog, args)) = argv.split_first() else {
                continue;
            };
            let mut cmd = tokio::process::Command::new(prog);
            cmd.args(args)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("LVSD_VIRTUAL", key.to_string())
                .stdin(std::process::Stdio::null());
            let timeout = q.timeout;
            tokio::spawn(async move {
                use crate::check::process::{self, Leftovers, Outcome};
                match process::run(cmd, timeout, None, Leftovers::Keep).await {
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
        }
    }
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
            id: crate::config::policy::VirtualId::parse("tcp:192.0.2.10:80").unwrap(),
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
