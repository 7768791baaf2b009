//! The engine's pure core, first part: the decisions that need no I/O,
//! taking events and the current time and returning intents for the shell
//! (`daemon::engine`), which owns the channels, timers, kernel and
//! processes. What lives here so far: when a reconcile pass runs again
//! (retries of failed passes with backoff, the periodic resync), what a
//! check report does to a real's health, and when a `fallbackcommand`
//! runs. Clock-injected (`now` is an argument), so it is
//! tested without sleeping.
//!
//! Health bookkeeping, alerts and reload diffs still live in the shell;
//! they move here in later steps.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::model::ServiceKey;

/// First retry delay of a failed pass; doubles up to [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_millis(100);

/// Longest delay between retries of a failed pass.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

/// Which services a pass covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every owned service (one dump of the table).
    All,
    /// These services.
    Some(HashSet<ServiceKey>),
}

/// What the shell is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Run a reconcile pass.
    Reconcile {
        /// Services to read and diff.
        scope: Scope,
        /// Services of an old config that must still be deleted.
        removed: HashSet<ServiceKey>,
        /// A resync: every change it makes repairs something done behind
        /// lvsd's back (logged and counted as such).
        resync: bool,
    },
    /// Run `fallbackcommand start` (true) or `stop` (false) for a virtual.
    Fallback(ServiceKey, bool),
}

/// Services whose last pass failed and must be tried again.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Pending {
    all: bool,
    keys: HashSet<ServiceKey>,
    removed: HashSet<ServiceKey>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.all && self.keys.is_empty() && self.removed.is_empty()
    }
}

/// When passes run again: retries of failed passes and the resync.
#[derive(Debug)]
pub struct Schedule {
    pending: Pending,
    retry_at: Option<Instant>,
    retry_delay: Duration,
    resync: Duration,
    next_resync: Option<Instant>,
}

impl Schedule {
    /// A schedule with a resync every `resync` (zero: off), the first one
    /// `resync` after `now`.
    pub fn new(resync: Duration, now: Instant) -> Schedule {
        Schedule {
            pending: Pending::default(),
            retry_at: None,
            retry_delay: RETRY_MIN,
            resync,
            next_resync: (!resync.is_zero()).then(|| now + resync),
        }
    }

    /// The earliest time [`Schedule::on_time`] has something to do.
    pub fn next_wakeup(&self) -> Option<Instant> {
        match (self.retry_at, self.next_resync) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Is work of a failed pass waiting for its retry?
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The passes due at `now`: a due resync covers everything (pending
    /// retries ride along); else a due retry runs the pending work.
    pub fn on_time(&mut self, now: Instant) -> Option<Intent> {
        if self.next_resync.is_some_and(|t| t <= now) {
            self.next_resync = Some(now + self.resync);
            self.retry_at = None;
            let p = std::mem::take(&mut self.pending);
            return Some(Intent::Reconcile {
                scope: Scope::All,
                removed: p.removed,
                resync: true,
            });
        }
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            let p = std::mem::take(&mut self.pending);
            if p.is_empty() {
                return None;
            }
            return Some(Intent::Reconcile {
                scope: if p.all {
                    Scope::All
                } else {
                    Scope::Some(p.keys)
                },
                removed: p.removed,
                resync: false,
            });
        }
        None
    }

    /// A pass over `scope` failed (for the services in `scope`; `removed`
    /// those of an old config it had to delete): keep them pending and
    /// schedule a retry, the delay doubling per failure up to
    /// [`RETRY_MAX`]. Returns the delay when a retry was newly scheduled.
    pub fn on_pass_failed(
        &mut self,
        scope: &Scope,
        removed: &HashSet<ServiceKey>,
        now: Instant,
    ) -> Option<Duration> {
        match scope {
            Scope::All => self.pending.all = true,
            Scope::Some(s) => self.pending.keys.extend(s.iter().copied()),
        }
        self.pending.removed.extend(removed.iter().copied());
        if self.retry_at.is_some() {
            return None;
        }
        let delay = self.retry_delay;
        self.retry_delay = (delay * 2).min(RETRY_MAX);
        self.retry_at = Some(now + delay);
        Some(delay)
    }

    /// A pass over `scope` went through: what it covered is no longer
    /// pending; with nothing left pending the backoff starts over.
    pub fn on_pass_succeeded(&mut self, scope: &Scope) {
        match scope {
            Scope::All => {
                self.pending.all = false;
                self.pending.keys.clear();
            }
            Scope::Some(s) if !self.pending.all => self.pending.keys.retain(|k| !s.contains(k)),
            Scope::Some(_) => {}
        }
        if self.pending.is_empty() {
            self.retry_at = None;
            self.retry_delay = RETRY_MIN;
        }
    }
}

/// `fallbackcommand`: start when no real of the virtual is up and every
/// real's health is known, stop once one is back, each once per change and
/// `stop` only after a `start`. `started` is the last command sent.
pub fn fallback_intent(
    key: ServiceKey,
    known: bool,
    any_up: bool,
    started: bool,
) -> Option<Intent> {
    if !any_up && known && !started {
        Some(Intent::Fallback(key, true))
    } else if any_up && started {
        Some(Intent::Fallback(key, false))
    } else {
        None
    }
}

/// What a check report does to a real's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthStep {
    /// The new health.
    pub up: Option<bool>,
    /// The health changed: the real's virtual needs a pass.
    pub reconcile: bool,
    /// News to log and mail: `Some(true)` restored, `Some(false)` down.
    /// A first "up" is not news; a first "down" is.
    pub alert: Option<bool>,
    /// A failed check of a real still up (failurecount not reached).
    pub soft_failure: bool,
}

/// Apply a check report (`ok`, and `verdict` when the check engine
/// decided the health changed) to a real whose health was `was`.
pub fn health_step(was: Option<bool>, ok: bool, verdict: Option<bool>) -> HealthStep {
    match verdict {
        Some(up) if was != Some(up) => HealthStep {
            up: Some(up),
            reconcile: true,
            alert: (was.is_some() || !up).then_some(up),
            soft_failure: false,
        },
        Some(_) => HealthStep {
            up: was,
            reconcile: false,
            alert: None,
            soft_failure: false,
        },
        None => HealthStep {
            up: was,
            reconcile: false,
            alert: None,
            soft_failure: !ok && was == Some(true),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    fn key(n: u8) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: format!("10.0.0.{n}").parse().unwrap(),
            port: 80,
        }
    }

    fn some(keys: &[u8]) -> Scope {
        Scope::Some(keys.iter().map(|n| key(*n)).collect())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn failures_back_off_doubling_to_the_cap_and_reset_on_success() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Duration::ZERO, t0);
        assert_eq!(s.next_wakeup(), None);
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..8 {
            let d = s.on_pass_failed(&some(&[1]), &HashSet::new(), now).unwrap();
            delays.push(d.as_millis() as u64);
            now += d;
            assert_eq!(s.next_wakeup(), Some(now));
            // Not due a moment before.
            let Some(Intent::Reconcile { scope, resync, .. }) = s.on_time(now) else {
                panic!("no retry due at {now:?}");
            };
            assert_eq!(scope, some(&[1]));
            assert!(!resync);
        }
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        s.on_pass_failed(&some(&[1]), &HashSet::new(), now);
        assert_eq!(s.on_time(now + ms(4999)), None);
        s.on_pass_succeeded(&some(&[1]));
        assert!(!s.has_pending());
        assert_eq!(s.next_wakeup(), None);
        assert_eq!(
            s.on_pass_failed(&some(&[2]), &HashSet::new(), now),
            Some(RETRY_MIN)
        );
    }

    #[test]
    fn failures_while_a_retry_waits_join_it() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Duration::ZERO, t0);
        let removed: HashSet<ServiceKey> = [key(9)].into();
        assert!(s.on_pass_failed(&some(&[1]), &HashSet::new(), t0).is_some());
        assert!(s
            .on_pass_failed(&some(&[2]), &removed, t0 + ms(10))
            .is_none());
        assert_eq!(
            s.on_time(t0 + ms(100)),
            Some(Intent::Reconcile {
                scope: some(&[1, 2]),
                removed,
                resync: false
            })
        );
        // A failed full pass makes the retry a full one.
        s.on_pass_failed(&some(&[1]), &HashSet::new(), t0);
        s.on_pass_failed(&Scope::All, &HashSet::new(), t0);
        let Some(Intent::Reconcile { scope, .. }) = s.on_time(t0 + ms(1000)) else {
            panic!("no retry");
        };
        assert_eq!(scope, Scope::All);
    }

    #[test]
    fn a_pass_covering_the_pending_work_cancels_the_retry() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Duration::ZERO, t0);
        s.on_pass_failed(&some(&[1, 2]), &HashSet::new(), t0);
        s.on_pass_succeeded(&some(&[1]));
        assert!(s.has_pending());
        s.on_pass_succeeded(&some(&[2]));
        assert!(!s.has_pending());
        assert_eq!(s.on_time(t0 + ms(100)), None);
    }

    #[test]
    fn resync_is_periodic_and_takes_pending_work_along() {
        let t0 = Instant::now();
        let period = Duration::from_secs(5);
        let mut s = Schedule::new(period, t0);
        assert_eq!(s.next_wakeup(), Some(t0 + period));
        assert_eq!(s.on_time(t0 + ms(4999)), None);
        let removed: HashSet<ServiceKey> = [key(7)].into();
        s.on_pass_failed(&some(&[1]), &removed, t0 + ms(4990));
        assert_eq!(
            s.on_time(t0 + period),
            Some(Intent::Reconcile {
                scope: Scope::All,
                removed,
                resync: true
            })
        );
        assert!(!s.has_pending());
        assert_eq!(s.next_wakeup(), Some(t0 + period * 2));
    }

    #[test]
    fn health_steps() {
        // First verdicts: up is quiet, down is news.
        let s = health_step(None, true, Some(true));
        assert_eq!((s.up, s.reconcile, s.alert), (Some(true), true, None));
        let s = health_step(None, false, Some(false));
        assert_eq!(
            (s.up, s.reconcile, s.alert),
            (Some(false), true, Some(false))
        );
        // Changes are news both ways.
        assert_eq!(
            health_step(Some(true), false, Some(false)).alert,
            Some(false)
        );
        assert_eq!(health_step(Some(false), true, Some(true)).alert, Some(true));
        // Same verdict again: nothing.
        let s = health_step(Some(true), true, Some(true));
        assert!(!s.reconcile && s.alert.is_none());
        // A failure below failurecount: soft, no pass.
        let s = health_step(Some(true), false, None);
        assert!(s.soft_failure && !s.reconcile && s.up == Some(true));
        assert!(!health_step(Some(false), false, None).soft_failure);
    }

    #[test]
    fn fallback_runs_once_per_change_and_stop_only_after_start() {
        let k = key(1);
        assert_eq!(
            fallback_intent(k, true, false, false),
            Some(Intent::Fallback(k, true))
        );
        assert_eq!(fallback_intent(k, true, false, true), None);
        assert_eq!(
            fallback_intent(k, true, true, true),
            Some(Intent::Fallback(k, false))
        );
        assert_eq!(fallback_intent(k, true, true, false), None);
        // Health not known yet: no start.
        assert_eq!(fallback_intent(k, false, false, false), None);
    }
}
