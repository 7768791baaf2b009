//! The engine's pure core: the decisions that need no I/O, taking events,
//! the current state and the current time and returning intents for the
//! shell (`daemon::engine`), which owns the channels, timers, kernel and
//! processes and performs them. What lives here: when a reconcile pass
//! runs again (retries of failed passes with backoff, the periodic
//! resync), what a check report does to a real's health and which alert,
//! event and monitorfile line it causes, when alert reminders are due
//! (`emailalertfreq`), when a `fallbackcommand` runs, which reals entered
//! or left maintenance, when a virtual lost or regained all its reals, what
//! an override command changes and answers, and what a config file change
//! triggers. Clock-injected (`now` is an argument), so it is tested
//! without sleeping, a runtime or a kernel.
//!
//! Reload diffs (`daemon::ops::reload_scope`) and the desired state of a
//! real (`daemon::overrides::desired_state`) are pure functions of their
//! own modules, called by the shell.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::kernel::Operation;
use crate::model::{AgentState, ServiceKey, Table, TableEntry};
use crate::reconcile::{kernel_port, RealKey};

use super::hooks;
use super::overrides::{self, Override, Overrides};
use super::plan::{Phase, Plan, VirtualPlan};
use super::status::LastCheck;

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
    /// This virtual needs a pass (folded into the next batch).
    Touch(ServiceKey),
    /// A `monitorfile` line for a check result of this real (written if
    /// its virtual has a monitorfile).
    Monitor {
        /// The real.
        real: RealKey,
        /// Up (the check passed) or down.
        up: bool,
        /// The check's answer or failure reason.
        msg: String,
    },
    /// A check set the real's weight (`dynamic_weight`; None: back to
    /// the configured one): log.
    WeightSet {
        /// The real.
        real: RealKey,
        /// The weight the check set.
        weight: Option<u32>,
        /// The check's answer.
        detail: String,
    },
    /// The real's agent reported a new state: log.
    AgentSaid {
        /// The real.
        real: RealKey,
        /// What it said.
        state: AgentState,
    },
    /// A failed check of a real still up (failurecount not reached): log.
    SoftFailure {
        /// The real.
        real: RealKey,
        /// The failure reason.
        detail: String,
    },
    /// A real came up or went down: log `subject` (a warning when down),
    /// and mail it when `mail`.
    Alert {
        /// The real.
        real: RealKey,
        /// Restored (true) or inaccessible.
        up: bool,
        /// The log line and mail subject.
        subject: String,
        /// Send the alert mail of its virtual.
        mail: bool,
    },
    /// Mail a reminder that a real is still down (`emailalertfreq`).
    Remind {
        /// The real.
        real: RealKey,
        /// The mail subject.
        subject: String,
    },
    /// Emit a `real_up` / `real_down` event.
    RealEvent {
        /// The real.
        real: RealKey,
        /// Up or down.
        up: bool,
        /// The check's detail (the reason of a `real_down`).
        detail: String,
    },
    /// A real entered (true) or left maintenance: log (and a monitorfile
    /// line when it entered).
    Maintenance(RealKey, bool),
    /// A virtual lost all its reals (`Some(reason)`) or got one back
    /// (`None`): fed to the quorum tracker of the event stream.
    AllRealsDown(ServiceKey, Option<String>),
    /// Publish the overrides (status page) and save them to the state
    /// file.
    PersistOverrides,
    /// The config file changed on disk: log it, and reload when
    /// `autoreload` (else log that it is ignored).
    ConfigChanged {
        /// `autoreload=yes`.
        autoreload: bool,
    },
    /// Run the `callback` with the config file's path.
    Callback,
}

/// Per-real state the engine keeps.
#[derive(Debug, Clone, Default)]
pub struct RealHealth {
    /// `None` until the first verdict.
    pub up: Option<bool>,
    /// Why it is down (the last failure, or `checktype off`).
    pub reason: String,
    /// The last check.
    pub last: Option<LastCheck>,
    /// Checks run.
    pub checks: u64,
    /// Checks failed.
    pub failures: u64,
    /// Last time an alert mail went out for this real.
    pub mailed: Option<std::time::Instant>,
    /// The weight its check set (`dynamic_weight`), None: configured.
    pub set_weight: Option<u32>,
    /// Its slow start, while it came back less than `slow_start` ago.
    pub ramp: Option<crate::model::Ramp>,
    /// What its agent last said (lvsd.toml `agent_port`).
    pub agent: Option<AgentState>,
}

impl RealHealth {
    /// How the check policy changes the real's configured weight at `now`.
    pub fn adjust(&self, now: std::time::Instant) -> crate::model::WeightAdjust {
        crate::model::WeightAdjust {
            set: self.set_weight,
            percent: self.agent.and_then(|a| a.percent()),
            ramp: self.ramp.and_then(|r| r.at(now)),
        }
    }

    /// Whether the real is in service: its checks' health, unless its
    /// agent says down or maint (then it counts as down everywhere: the
    /// table, the fallback, quorum events, the status page).
    pub fn serving(&self) -> Option<bool> {
        match self.up {
            Some(true) if self.agent.is_some_and(|a| a.takes_out()) => Some(false),
            up => up,
        }
    }
}

/// One finished check, as the check runner reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Which real of which virtual.
    pub key: RealKey,
    /// This check passed.
    pub ok: bool,
    /// Answer or failure reason.
    pub detail: String,
    /// Duration of the check.
    pub latency: Duration,
    /// `Some(up)` when the real's health changed (failurecount applied).
    pub verdict: Option<bool>,
    /// The weight the real's last passing check set (lvsd.toml
    /// `dynamic_weight`); None: its configured weight.
    pub weight: Option<u32>,
    /// Some: not a check result but the real's agent reporting a new
    /// state (lvsd.toml `agent_port`); the other fields say nothing then.
    pub agent: Option<AgentState>,
}

/// `RIP:PORT (VIP:PORT)` as ldirectord logs a real.
pub fn show_real(k: &RealKey) -> String {
    let r = hooks::fallback_args(&ServiceKey::Addr {
        protocol: crate::model::Protocol::Tcp,
        addr: k.addr,
        port: k.port,
    })
    .0;
    format!("{r} ({})", hooks::fallback_args(&k.service).0)
}

/// A check report for a real whose state is `h`: updates the counters,
/// the last check and the health, and returns what follows, in order: the
/// monitorfile line, a pass of the virtual if the health changed, the
/// soft-failure log, the alert (mailed when `mail`, the alerts of its
/// virtual being on in this phase; `h.mailed` becomes `now`) and the event.
/// `at` is the wall-clock time of the report (shown on the status page).
pub fn on_report(
    h: &mut RealHealth,
    r: &CheckReport,
    mail: bool,
    slow_start: Duration,
    at: SystemTime,
    now: std::time::Instant,
) -> Vec<Intent> {
    if let Some(a) = r.agent {
        if h.agent == Some(a) {
            return Vec::new();
        }
        h.agent = Some(a);
        return vec![
            Intent::AgentSaid {
                real: r.key,
                state: a,
            },
            Intent::Touch(r.key.service),
        ];
    }
    h.checks += 1;
    if !r.ok {
        h.failures += 1;
        h.reason = r.detail.clone();
    }
    h.last = Some(LastCheck {
        at,
        ok: r.ok,
        detail: r.detail.clone(),
        latency: r.latency,
    });
    let mut out = vec![Intent::Monitor {
        real: r.key,
        up: r.ok,
        msg: r.detail.clone(),
    }];
    let step = health_step(h.up, r.ok, r.verdict);
    h.up = step.up;
    if step.reconcile {
        out.push(Intent::Touch(r.key.service));
    }
    if h.set_weight != r.weight {
        h.set_weight = r.weight;
        out.push(Intent::WeightSet {
            real: r.key,
            weight: r.weight,
            detail: r.detail.clone(),
        });
        // A real in service takes its new weight now; a down one when it
        // is back.
        if h.up == Some(true) {
            out.push(Intent::Touch(r.key.service));
        }
    }
    // A real back from down (not a first verdict) starts its slow start;
    // one that goes down ends it.
    match step.alert {
        Some(true) => h.ramp = crate::model::Ramp::start(now, slow_start),
        Some(false) => h.ramp = None,
        None => {}
    }
    if step.soft_failure {
        out.push(Intent::SoftFailure {
            real: r.key,
            detail: r.detail.clone(),
        });
    }
    if let Some(up) = step.alert {
        let subject = if up {
            format!("Restored real server: {}", show_real(&r.key))
        } else {
            format!(
                "Inaccessible real server: {} ({})",
                show_real(&r.key),
                r.detail
            )
        };
        if mail {
            h.mailed = Some(now);
        }
        out.push(Intent::Alert {
            real: r.key,
            up,
            subject,
            mail,
        });
        out.push(Intent::RealEvent {
            real: r.key,
            up,
            detail: r.detail.clone(),
        });
    }
    out
}

/// `emailalertfreq`: the reminders due at `now` for reals that stay down,
/// one per real every `freq` of its virtual (marks them mailed).
pub fn reminders(
    plan: &Plan,
    health: &mut HashMap<RealKey, RealHealth>,
    phase: Phase,
    now: std::time::Instant,
) -> Vec<Intent> {
    let mut out = Vec::new();
    for v in &plan.virtuals {
        if v.alerts.freq.is_zero() || !hooks::alerts_enabled(&v.alerts, phase) {
            continue;
        }
        for (rk, _, _) in v.reals() {
            let Some(h) = health.get_mut(&rk) else {
                continue;
            };
            let due = h
                .mailed
                .is_none_or(|t| now.duration_since(t) >= v.alerts.freq);
            if h.up == Some(false) && due {
                h.mailed = Some(now);
                out.push(Intent::Remind {
                    real: rk,
                    subject: format!("Inaccessible real server: {}", show_real(&rk)),
                });
            }
        }
    }
    out
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

/// How the reals of a virtual stand, reals in maintenance counted as
/// neither up nor unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Availability {
    /// Reals configured (maintenance included).
    pub total: usize,
    /// Reals up and not in maintenance.
    pub up: usize,
    /// Some real not in maintenance has no verdict yet.
    pub unknown: bool,
}

/// The availability of `v`'s reals.
pub fn availability(
    v: &VirtualPlan,
    health: &HashMap<RealKey, RealHealth>,
    maintenance: &HashSet<RealKey>,
) -> Availability {
    let mut a = Availability::default();
    for (rk, _, _) in v.reals() {
        a.total += 1;
        if maintenance.contains(&rk) {
            continue;
        }
        match health.get(&rk).and_then(|h| h.serving()) {
            Some(true) => a.up += 1,
            None => a.unknown = true,
            Some(false) => {}
        }
    }
    a
}

/// `fallbackcommand`s due after a pass over `scope` (None: all): for each
/// virtual with one, [`fallback_intent`] on its availability; `started` is
/// the last command sent per virtual.
pub fn fallbacks_due(
    plan: &Plan,
    health: &HashMap<RealKey, RealHealth>,
    maintenance: &HashSet<RealKey>,
    started: &HashMap<ServiceKey, bool>,
    scope: Option<&HashSet<ServiceKey>>,
) -> Vec<Intent> {
    plan.virtuals
        .iter()
        .filter(|v| v.fallbackcommand.is_some())
        .filter(|v| scope.is_none_or(|s| s.contains(&v.key())))
        .filter_map(|v| {
            let a = availability(v, health, maintenance);
            let key = v.key();
            let was = started.get(&key).copied().unwrap_or(false);
            fallback_intent(key, !a.unknown, a.up > 0, was)
        })
        .collect()
}

/// Which virtuals of `scope` (None: all) have no real up
/// (`AllRealsDown(key, Some(reason))`) or at least one (`None`), for the
/// `quorum_lost` / `quorum_regained` events. A virtual whose reals are not
/// all checked yet and none up is left out, as for the fallback.
pub fn all_reals_down(
    plan: &Plan,
    health: &HashMap<RealKey, RealHealth>,
    maintenance: &HashSet<RealKey>,
    scope: Option<&HashSet<ServiceKey>>,
) -> Vec<Intent> {
    let mut out = Vec::new();
    for v in &plan.virtuals {
        let key = v.key();
        if scope.is_some_and(|s| !s.contains(&key)) {
            continue;
        }
        let a = availability(v, health, maintenance);
        if a.unknown && a.up == 0 {
            continue;
        }
        let lost = (a.up == 0).then(|| format!("no real server is up (0/{})", a.total));
        out.push(Intent::AllRealsDown(key, lost));
    }
    out
}

/// The maintenance directory was read again and `new` are the reals in
/// maintenance now: which entered (`Maintenance(k, true)`) and which left.
/// Empty when nothing changed.
pub fn maintenance_step(old: &HashSet<RealKey>, new: &HashSet<RealKey>) -> Vec<Intent> {
    let mut entered: Vec<RealKey> = new.difference(old).copied().collect();
    let mut left: Vec<RealKey> = old.difference(new).copied().collect();
    // A stable order for the log.
    entered.sort();
    left.sort();
    entered
        .into_iter()
        .map(|k| Intent::Maintenance(k, true))
        .chain(left.into_iter().map(|k| Intent::Maintenance(k, false)))
        .collect()
}

/// The override store is full (`overrides::MAX_ENTRIES`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} overrides already: clear some first", overrides::MAX_ENTRIES)]
pub struct OverridesFull;

/// What `drain`, `weight` or `enable` of one real does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideStep {
    /// The answer's first line: the real and its override now, with
    /// `(unchanged)` when it was already so.
    pub reply: String,
    /// When it changed: [`Intent::PersistOverrides`] and a pass of its
    /// virtual ([`Intent::Touch`]), in that order; else nothing.
    pub intents: Vec<Intent>,
    /// A line the answer ends with: what the override does to a real that
    /// is down.
    pub note: Option<&'static str>,
}

/// Set (`Some`) or remove (`None`) the override of real `k` (`name` as
/// the operator wrote it), whose health is `up`.
pub fn set_override(
    store: &mut Overrides,
    k: RealKey,
    name: &str,
    ov: Option<Override>,
    up: Option<bool>,
) -> Result<OverrideStep, OverridesFull> {
    let before = store.get(&k);
    match ov {
        Some(o) => {
            if !store.set(k, o) {
                return Err(OverridesFull);
            }
        }
        None => {
            store.remove(&k);
        }
    }
    let now = store.get(&k);
    let mut reply = match now {
        Some(o) => format!("{name}: {o}"),
        None => format!("{name}: enabled (configured weight)"),
    };
    let intents = if before == now {
        reply.push_str(" (unchanged)");
        Vec::new()
    } else {
        vec![Intent::PersistOverrides, Intent::Touch(k.service)]
    };
    let note = match up {
        Some(false) if now.is_none_or(|o| o.weight() > 0) => {
            Some("the real is down: it stays out of the table until its checks pass")
        }
        Some(false) => Some("the real is down; the drain applies once it is back"),
        _ => None,
    };
    Ok(OverrideStep {
        reply,
        intents,
        note,
    })
}

/// A pass (reconcile, retry or resync) read a drained real, at weight 0,
/// with `active` connections: does its drain end now? Once per drain: `reported` holds the drains
/// already reported (an override change clears its real from it).
pub fn drain_finished(
    k: RealKey,
    active: u32,
    ov: Option<Override>,
    reported: &mut HashSet<RealKey>,
) -> bool {
    active == 0 && ov == Some(Override::Drain) && reported.insert(k)
}

/// The config file's mtime, length and content hash.
pub type Fingerprint = (SystemTime, u64, u64);

/// The config file was looked at again (`new`, None if unreadable): a
/// changed mtime or length with a changed content is a change, told as
/// [`Intent::ConfigChanged`] (with `autoreload`) then [`Intent::Callback`]
/// (when `callback`). `seen` is the last fingerprint taken; an unreadable
/// file keeps it, a touch without a content change updates it quietly.
pub fn config_watch(
    seen: &mut Option<Fingerprint>,
    new: Option<Fingerprint>,
    autoreload: bool,
    callback: bool,
) -> Vec<Intent> {
    let changed = match (&*seen, &new) {
        (Some(a), Some(b)) => a.0 != b.0 || a.1 != b.1 || a.2 != b.2,
        (None, Some(_)) => true,
        _ => false,
    };
    if !changed {
        return Vec::new();
    }
    let content_changed = seen.map(|f| f.2) != new.map(|f| f.2);
    *seen = new;
    if !content_changed {
        return Vec::new();
    }
    let mut out = vec![Intent::ConfigChanged { autoreload }];
    if callback {
        out.push(Intent::Callback);
    }
    out
}

/// The health and placement a start takes from the kernel's table: a
/// real the kernel serves with weight > 0 (or at 0 because an override
/// drains it) is trusted as up until a check says otherwise, as ldirectord
/// does, so a restart does not shuffle traffic; `checktype=on|off` reals
/// get their fixed health. Returns the health of every configured real and
/// the reals already in the kernel.
pub fn adopt(
    plan: &Plan,
    actual: &Table,
    overrides: &Overrides,
) -> (HashMap<RealKey, RealHealth>, HashSet<RealKey>) {
    let mut health: HashMap<RealKey, RealHealth> = HashMap::new();
    let mut placed = HashSet::new();
    let by_key: HashMap<ServiceKey, &TableEntry> =
        actual.entries.iter().map(|e| (e.service.key, e)).collect();
    for v in &plan.virtuals {
        let key = v.key();
        let entry = by_key.get(&key).copied();
        for (rk, real, check) in v.reals() {
            let kp = kernel_port(&key, real);
            let have =
                entry.and_then(|e| e.reals.iter().find(|r| r.addr == real.addr && r.port == kp));
            if have.is_some() {
                placed.insert(rk);
            }
            let drained = overrides.get(&rk).is_some_and(|o| o.weight() == 0);
            let up = Plan::static_health(check).or(match have {
                Some(r) if r.weight > 0 || drained => Some(true),
                _ => None,
            });
            let h = health.entry(rk).or_default();
            h.up = up;
            if up == Some(false) {
                h.reason = "checktype off".into();
            }
        }
    }
    (health, placed)
}

/// The reals of `scope` (None: all) in the kernel after a pass that read
/// `actual` and did `done`: there before and not deleted, or added.
/// (`readdquiescent=no` only re-adds reals this daemon never placed.)
pub fn placed_after(
    plan: &Plan,
    done: &[Operation],
    actual: &Table,
    scope: Option<&HashSet<ServiceKey>>,
) -> Vec<RealKey> {
    // Only the scope's virtuals are looked up below: a reload of one
    // virtual indexes its reals, not the whole table's.
    let in_scope = |k: &ServiceKey| scope.is_none_or(|s| s.contains(k));
    // (the kernel's table is by service already: one hash per service)
    let had = dests_by_service(
        actual
            .entries
            .iter()
            .filter(|e| in_scope(&e.service.key))
            .map(|e| (e.service.key, e.reals.iter().map(|r| (r.addr, r.port)))),
    );
    let added = dests_by_service(done.iter().filter_map(|c| match c {
        Operation::AddDest(k, r) => Some((*k, [(r.addr, r.port)])),
        _ => None,
    }));
    let deleted = dests_by_service(done.iter().filter_map(|c| match c {
        Operation::DelDest(k, a, p) => Some((*k, [(*a, *p)])),
        _ => None,
    }));
    let mut out = Vec::new();
    for v in &plan.virtuals {
        let key = v.key();
        if !in_scope(&key) {
            continue;
        }
        let (had, added, deleted) = (had.get(&key), added.get(&key), deleted.get(&key));
        let has = |set: Option<&Vec<(IpAddr, u16)>>, d: &(IpAddr, u16)| {
            set.is_some_and(|s| s.binary_search(d).is_ok())
        };
        for (rk, real, _) in v.reals() {
            let d = (real.addr, kernel_port(&key, real));
            if (has(had, &d) || has(added, &d)) && !has(deleted, &d) {
                out.push(rk);
            }
        }
    }
    out
}

/// Destinations by service (given in groups of one service's: one hash
/// per group), each service's sorted, for a binary search per real. The
/// periodic resync runs [`placed_after`] over the whole table every few
/// seconds, and a set of (service, address, port) triples
/// cost two SipHash passes over a triple per real (a quarter of an idle
/// daemon's work with 10,000 reals); a virtual of thousands of reals
/// stays O(n log n).
fn dests_by_service<D: IntoIterator<Item = (IpAddr, u16)>>(
    groups: impl Iterator<Item = (ServiceKey, D)>,
) -> HashMap<ServiceKey, Vec<(IpAddr, u16)>> {
    let mut by: HashMap<ServiceKey, Vec<(IpAddr, u16)>> = HashMap::new();
    for (k, dests) in groups {
        by.entry(k).or_default().extend(dests);
    }
    for d in by.values_mut() {
        d.sort_unstable();
    }
    by
}

/// Does a start end now? Once every real has a verdict the daemon leaves
/// `starting` (alert mail sent meanwhile is tagged starting, as in
/// ldirectord since PR #760).
pub fn started(phase: Phase, health: &HashMap<RealKey, RealHealth>) -> bool {
    phase == Phase::Starting && health.values().all(|h| h.up.is_some())
}

/// The pass a reload runs: every owned service when a global setting or
/// the maintenance set changed, else the virtuals the reload touched
/// (`scope`), or none.
pub fn reload_pass(
    global: bool,
    maintenance_changed: bool,
    scope: &HashSet<ServiceKey>,
) -> Option<Scope> {
    if global || maintenance_changed {
        Some(Scope::All)
    } else if !scope.is_empty() {
        Some(Scope::Some(scope.clone()))
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

    fn rk(n: u8) -> RealKey {
        RealKey {
            service: key(1),
            addr: format!("10.1.0.{n}").parse().unwrap(),
            port: 80,
        }
    }

    #[test]
    fn a_check_set_weight_and_a_return_start_the_weight_policy() {
        let t = std::time::Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let mut h = RealHealth {
            up: Some(true),
            ..RealHealth::default()
        };
        let mut r = report(1, true, None);
        r.weight = Some(7);
        let out = on_report(&mut h, &r, false, Duration::ZERO, wall, t);
        assert_eq!(h.set_weight, Some(7));
        assert!(out.iter().any(|i| matches!(
            i,
            Intent::WeightSet {
                weight: Some(7),
                ..
            }
        )));
        assert!(out.iter().any(|i| matches!(i, Intent::Touch(_))));
        // Unchanged weight: no new intent.
        let out = on_report(&mut h, &r, false, Duration::ZERO, wall, t);
        assert!(!out.iter().any(|i| matches!(i, Intent::WeightSet { .. })));
        // Down, then back: the slow start begins at the return only.
        let down = on_report(
            &mut h,
            &report(1, false, Some(false)),
            false,
            ms(10_000),
            wall,
            t,
        );
        assert!(down
            .iter()
            .any(|i| matches!(i, Intent::Alert { up: false, .. })));
        assert!(h.ramp.is_none());
        let mut back = report(1, true, Some(true));
        back.weight = Some(7);
        on_report(&mut h, &back, false, ms(10_000), wall, t);
        assert!(h.ramp.is_some());
        assert!(h.adjust(t).ramp.is_some());
    }

    fn report(n: u8, ok: bool, verdict: Option<bool>) -> CheckReport {
        CheckReport {
            key: rk(n),
            ok,
            detail: if ok { "ok".into() } else { "refused".into() },
            latency: ms(3),
            verdict,
            weight: None,
            agent: None,
        }
    }

    /// An agent report is not a check: it changes the agent state only,
    /// once per new state; down/maint take a real out, drain and NN%
    /// adjust its weight, and the availability counts it as down.
    #[test]
    fn agent_reports_combine_with_the_health() {
        use crate::model::{AgentAdmin, AgentState};
        let t = std::time::Instant::now();
        let mut h = RealHealth {
            up: Some(true),
            ..Default::default()
        };
        let mut r = report(1, true, None);
        let down = AgentState {
            down: true,
            ..Default::default()
        };
        r.agent = Some(down);
        let i = on_report(&mut h, &r, false, Duration::ZERO, SystemTime::now(), t);
        assert_eq!(
            i,
            vec![
                Intent::AgentSaid {
                    real: rk(1),
                    state: down
                },
                Intent::Touch(rk(1).service)
            ]
        );
        assert_eq!((h.checks, h.up, h.serving()), (0, Some(true), Some(false)));
        assert!(on_report(&mut h, &r, false, Duration::ZERO, SystemTime::now(), t).is_empty());
        let drain = AgentState {
            admin: AgentAdmin::Drain,
            percent: Some(50),
            ..Default::default()
        };
        r.agent = Some(drain);
        on_report(&mut h, &r, false, Duration::ZERO, SystemTime::now(), t);
        assert_eq!(h.serving(), Some(true));
        assert_eq!(h.adjust(t).apply(8), 0);
        r.agent = Some(AgentState {
            percent: Some(50),
            ..Default::default()
        });
        on_report(&mut h, &r, false, Duration::ZERO, SystemTime::now(), t);
        assert_eq!(h.adjust(t).apply(8), 4);
        // A down check is down whatever the agent says.
        h.up = Some(false);
        assert_eq!(h.serving(), Some(false));
    }

    /// A plan of virtual 1 with reals 1..=n, checked, alerts to `to`.
    fn plan(n: u8, to: &[&str], freq: Duration) -> Plan {
        use crate::model::{CheckSpec, RealServer, VirtualService};
        let reals: Vec<RealServer> = (1..=n)
            .map(|i| RealServer::new(format!("10.1.0.{i}").parse().unwrap(), 80))
            .collect();
        let mut alerts = super::super::plan::Alerts {
            to: to.iter().map(|s| s.to_string()).collect(),
            freq,
            ..Default::default()
        };
        alerts.phases.insert(Phase::Running);
        Plan {
            virtuals: vec![super::super::plan::VirtualPlan {
                checks: reals.iter().map(|_| CheckSpec::defaults().into()).collect(),
                spec: crate::reconcile::VirtualSpec {
                    service: VirtualService::new(key(1)),
                    reals,
                    fallback: None,
                    quiescent: false,
                    consistent: false,
                },
                cleanstop: false,
                fallbackcommand: None,
                alerts,
                monitorfile: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_report_counts_and_its_verdict_alerts_mails_and_emits_in_order() {
        let t = std::time::Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let mut h = RealHealth {
            up: Some(true),
            ..Default::default()
        };
        // A soft failure: counted, logged, no pass, no alert.
        let out = on_report(
            &mut h,
            &report(1, false, None),
            true,
            Duration::ZERO,
            wall,
            t,
        );
        assert_eq!(
            out,
            vec![
                Intent::Monitor {
                    real: rk(1),
                    up: false,
                    msg: "refused".into()
                },
                Intent::SoftFailure {
                    real: rk(1),
                    detail: "refused".into()
                },
            ]
        );
        assert_eq!((h.checks, h.failures, h.up), (1, 1, Some(true)));
        assert_eq!(h.reason, "refused");
        assert_eq!(h.last.as_ref().map(|l| (l.at, l.ok)), Some((wall, false)));
        assert_eq!(h.mailed, None);
        // The verdict: down. A pass, the alert (mailed), the event.
        let out = on_report(
            &mut h,
            &report(1, false, Some(false)),
            true,
            Duration::ZERO,
            wall,
            t,
        );
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out[1], Intent::Touch(key(1)));
        assert_eq!(
            out[2],
            Intent::Alert {
                real: rk(1),
                up: false,
                subject: "Inaccessible real server: 10.1.0.1:80 (10.0.0.1:80) (refused)".into(),
                mail: true
            }
        );
        assert_eq!(
            out[3],
            Intent::RealEvent {
                real: rk(1),
                up: false,
                detail: "refused".into()
            }
        );
        assert_eq!((h.up, h.mailed), (Some(false), Some(t)));
        // Back up with alerts off in this phase: logged, not mailed, and
        // the last mail time stays.
        let later = t + Duration::from_secs(9);
        let out = on_report(
            &mut h,
            &report(1, true, Some(true)),
            false,
            Duration::ZERO,
            wall,
            later,
        );
        assert!(out.contains(&Intent::Alert {
            real: rk(1),
            up: true,
            subject: "Restored real server: 10.1.0.1:80 (10.0.0.1:80)".into(),
            mail: false
        }));
        assert_eq!((h.up, h.mailed, h.failures), (Some(true), Some(t), 2));
        // A first "up" is no news: a pass, no alert, no event.
        let mut fresh = RealHealth::default();
        let out = on_report(
            &mut fresh,
            &report(2, true, Some(true)),
            true,
            Duration::ZERO,
            wall,
            t,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], Intent::Touch(key(1)));
    }

    #[test]
    fn reminders_repeat_every_freq_while_down_only_when_mail_is_on() {
        let freq = Duration::from_secs(60);
        let p = plan(3, &["ops@example.org"], freq);
        let t = std::time::Instant::now();
        let mut health: HashMap<RealKey, RealHealth> = HashMap::new();
        // Real 1 down and mailed at t, real 2 down never mailed, real 3 up.
        for (n, up, mailed) in [(1, false, Some(t)), (2, false, None), (3, true, None)] {
            health.insert(
                rk(n),
                RealHealth {
                    up: Some(up),
                    mailed,
                    ..Default::default()
                },
            );
        }
        let subjects = |v: Vec<Intent>| -> Vec<String> {
            v.into_iter()
                .map(|i| match i {
                    Intent::Remind { real, subject } => {
                        assert_eq!(
                            subject,
                            format!("Inaccessible real server: {}", show_real(&real))
                        );
                        real.addr.to_string()
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(
            subjects(reminders(&p, &mut health, Phase::Running, t)),
            ["10.1.0.2"]
        );
        assert!(reminders(&p, &mut health, Phase::Running, t + ms(59_999)).is_empty());
        assert_eq!(
            subjects(reminders(&p, &mut health, Phase::Running, t + freq)),
            ["10.1.0.1", "10.1.0.2"]
        );
        // Not in a mailing phase, no recipients, or no frequency: nothing.
        let later = t + freq * 5;
        assert!(reminders(&p, &mut health, Phase::Starting, later).is_empty());
        assert!(reminders(&plan(3, &[], freq), &mut health, Phase::Running, later).is_empty());
        assert!(reminders(
            &plan(3, &["a@b"], Duration::ZERO),
            &mut health,
            Phase::Running,
            later
        )
        .is_empty());
    }

    fn healths(states: &[(u8, Option<bool>)]) -> HashMap<RealKey, RealHealth> {
        states
            .iter()
            .map(|(n, up)| {
                (
                    rk(*n),
                    RealHealth {
                        up: *up,
                        ..Default::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn availability_counts_maintenance_as_neither_up_nor_unknown() {
        let p = plan(3, &[], Duration::ZERO);
        let v = &p.virtuals[0];
        let h = healths(&[(1, Some(true)), (2, None), (3, Some(false))]);
        let none = HashSet::new();
        assert_eq!(
            availability(v, &h, &none),
            Availability {
                total: 3,
                up: 1,
                unknown: true
            }
        );
        let m: HashSet<RealKey> = [rk(1), rk(2)].into();
        assert_eq!(
            availability(v, &h, &m),
            Availability {
                total: 3,
                up: 0,
                unknown: false
            }
        );
    }

    #[test]
    fn fallbacks_due_only_for_virtuals_with_a_command_in_scope() {
        let mut p = plan(2, &[], Duration::ZERO);
        let none = HashSet::new();
        let down = healths(&[(1, Some(false)), (2, Some(false))]);
        let started = HashMap::new();
        // No fallbackcommand: nothing.
        assert!(fallbacks_due(&p, &down, &none, &started, None).is_empty());
        p.virtuals[0].fallbackcommand = Some("/bin/true".into());
        assert_eq!(
            fallbacks_due(&p, &down, &none, &started, None),
            vec![Intent::Fallback(key(1), true)]
        );
        // Out of scope: nothing.
        let other: HashSet<ServiceKey> = [key(2)].into();
        assert!(fallbacks_due(&p, &down, &none, &started, Some(&other)).is_empty());
        // A real unknown and none up: not yet.
        let unknown = healths(&[(1, Some(false)), (2, None)]);
        assert!(fallbacks_due(&p, &unknown, &none, &started, None).is_empty());
        // ... unless the unknown one is in maintenance.
        let m: HashSet<RealKey> = [rk(2)].into();
        assert_eq!(
            fallbacks_due(&p, &unknown, &m, &started, None),
            vec![Intent::Fallback(key(1), true)]
        );
        // One back after a start: stop.
        let up = healths(&[(1, Some(true)), (2, Some(false))]);
        let started: HashMap<ServiceKey, bool> = [(key(1), true)].into();
        assert_eq!(
            fallbacks_due(&p, &up, &none, &started, None),
            vec![Intent::Fallback(key(1), false)]
        );
        // A real up but in maintenance is not up.
        let m: HashSet<RealKey> = [rk(1)].into();
        assert!(fallbacks_due(&p, &up, &m, &started, None).is_empty());
    }

    #[test]
    fn all_reals_down_says_why_and_waits_for_first_verdicts() {
        let p = plan(2, &[], Duration::ZERO);
        let none = HashSet::new();
        assert_eq!(
            all_reals_down(
                &p,
                &healths(&[(1, Some(false)), (2, Some(false))]),
                &none,
                None
            ),
            vec![Intent::AllRealsDown(
                key(1),
                Some("no real server is up (0/2)".into())
            )]
        );
        assert_eq!(
            all_reals_down(&p, &healths(&[(1, Some(true)), (2, None)]), &none, None),
            vec![Intent::AllRealsDown(key(1), None)]
        );
        assert!(
            all_reals_down(&p, &healths(&[(1, Some(false)), (2, None)]), &none, None).is_empty()
        );
        let other: HashSet<ServiceKey> = [key(2)].into();
        assert!(all_reals_down(&p, &healths(&[(1, Some(true))]), &none, Some(&other)).is_empty());
    }

    #[test]
    fn maintenance_step_lists_entries_and_exits_in_order() {
        let old: HashSet<RealKey> = [rk(1), rk(2)].into();
        let new: HashSet<RealKey> = [rk(2), rk(4), rk(3)].into();
        assert_eq!(
            maintenance_step(&old, &new),
            vec![
                Intent::Maintenance(rk(3), true),
                Intent::Maintenance(rk(4), true),
                Intent::Maintenance(rk(1), false),
            ]
        );
        assert!(maintenance_step(&new, &new).is_empty());
    }

    #[test]
    fn overrides_change_persist_and_apply_and_say_what_a_down_real_gets() {
        let mut store = Overrides::default();
        let n = "tcp:10.0.0.1:80 10.1.0.1:80";
        let s = set_override(&mut store, rk(1), n, Some(Override::Drain), Some(true)).unwrap();
        assert_eq!(s.reply, format!("{n}: drain"));
        assert_eq!(
            s.intents,
            vec![Intent::PersistOverrides, Intent::Touch(key(1))]
        );
        assert_eq!(s.note, None);
        assert_eq!(store.get(&rk(1)), Some(Override::Drain));
        // Again: unchanged, nothing to do.
        let s = set_override(&mut store, rk(1), n, Some(Override::Drain), Some(false)).unwrap();
        assert_eq!(s.reply, format!("{n}: drain (unchanged)"));
        assert!(s.intents.is_empty());
        assert_eq!(
            s.note,
            Some("the real is down; the drain applies once it is back")
        );
        // A weight on a down real: it stays out until its checks pass.
        let s = set_override(&mut store, rk(1), n, Some(Override::Weight(5)), Some(false)).unwrap();
        assert_eq!(s.reply, format!("{n}: weight 5"));
        assert!(s.note.is_some_and(|t| t.contains("stays out")));
        // enable: back to the configured weight.
        let s = set_override(&mut store, rk(1), n, None, None).unwrap();
        assert_eq!(s.reply, format!("{n}: enabled (configured weight)"));
        assert_eq!(s.intents.len(), 2);
        assert!(store.is_empty());
        let s = set_override(&mut store, rk(1), n, None, None).unwrap();
        assert!(s.reply.ends_with("(unchanged)") && s.intents.is_empty());
    }

    #[test]
    fn a_full_override_store_refuses_new_reals_but_not_known_ones() {
        let mut store = Overrides::default();
        let mut n = 0u32;
        'fill: for a in 0..=255u8 {
            for b in 0..=255u8 {
                if n as usize == overrides::MAX_ENTRIES {
                    break 'fill;
                }
                let k = RealKey {
                    service: key(1),
                    addr: std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 9, a, b)),
                    port: 80,
                };
                assert!(store.set(k, Override::Drain));
                n += 1;
            }
        }
        let err = set_override(&mut store, rk(1), "x", Some(Override::Drain), None).unwrap_err();
        assert_eq!(err, OverridesFull);
        assert!(err.to_string().contains("clear some first"));
        let known = RealKey {
            service: key(1),
            addr: "10.9.0.0".parse().unwrap(),
            port: 80,
        };
        assert!(set_override(&mut store, known, "x", Some(Override::Weight(2)), None).is_ok());
    }

    #[test]
    fn a_drain_finishes_once_when_idle() {
        let mut seen = HashSet::new();
        let d = Some(Override::Drain);
        assert!(!drain_finished(rk(1), 3, d, &mut seen));
        assert!(!drain_finished(
            rk(1),
            0,
            Some(Override::Weight(0)),
            &mut seen
        ));
        assert!(!drain_finished(rk(1), 0, None, &mut seen));
        assert!(drain_finished(rk(1), 0, d, &mut seen));
        assert!(!drain_finished(rk(1), 0, d, &mut seen));
        seen.remove(&rk(1));
        assert!(drain_finished(rk(1), 0, d, &mut seen));
    }

    #[test]
    fn config_watch_needs_a_new_content_and_keeps_the_last_readable_fingerprint() {
        let t = SystemTime::UNIX_EPOCH;
        let t2 = t + Duration::from_secs(1);
        let mut seen = Some((t, 10, 1));
        // Same file: nothing.
        assert!(config_watch(&mut seen, Some((t, 10, 1)), true, true).is_empty());
        // Unreadable: nothing, the old fingerprint stays.
        assert!(config_watch(&mut seen, None, true, true).is_empty());
        assert_eq!(seen, Some((t, 10, 1)));
        // Touched, same content: quietly taken.
        assert!(config_watch(&mut seen, Some((t2, 10, 1)), true, true).is_empty());
        assert_eq!(seen, Some((t2, 10, 1)));
        // New content: reload and callback.
        assert_eq!(
            config_watch(&mut seen, Some((t2, 11, 2)), true, true),
            vec![Intent::ConfigChanged { autoreload: true }, Intent::Callback]
        );
        assert_eq!(
            config_watch(&mut seen, Some((t, 11, 3)), false, false),
            vec![Intent::ConfigChanged { autoreload: false }]
        );
        // A file that appears counts as changed.
        let mut none = None;
        assert_eq!(
            config_watch(&mut none, Some((t, 1, 1)), true, false).len(),
            1
        );
    }

    /// The kernel table: virtual 1 with these (real, weight).
    fn table(reals: &[(u8, i32)]) -> Table {
        use crate::model::{RealServer, VirtualService};
        Table {
            entries: vec![TableEntry {
                service: VirtualService::new(key(1)),
                reals: reals
                    .iter()
                    .map(|(n, w)| {
                        let mut r = RealServer::new(format!("10.1.0.{n}").parse().unwrap(), 80);
                        r.weight = *w;
                        r
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn a_start_trusts_served_reals_and_drained_ones_and_fixed_checks() {
        use crate::model::CheckType;
        let mut p = plan(4, &[], Duration::ZERO);
        std::sync::Arc::make_mut(&mut p.virtuals[0].checks[3]).checktype = CheckType::Off;
        let mut ov = Overrides::default();
        ov.set(rk(2), Override::Drain);
        // Real 1 served, 2 drained at 0, 3 quiesced at 0, 4 checktype off
        // (and served: its fixed health wins).
        let (h, placed) = adopt(&p, &table(&[(1, 5), (2, 0), (3, 0), (4, 1)]), &ov);
        let up = |n| h.get(&rk(n)).and_then(|h| h.up);
        assert_eq!(
            [up(1), up(2), up(3), up(4)],
            [Some(true), Some(true), None, Some(false)]
        );
        assert_eq!(h[&rk(4)].reason, "checktype off");
        assert_eq!(placed, [rk(1), rk(2), rk(3), rk(4)].into());
        // Nothing in the kernel: nothing known, nothing placed.
        let (h, placed) = adopt(&p, &Table::default(), &Overrides::default());
        assert_eq!(h.len(), 4);
        assert!(h.values().filter(|x| x.up.is_none()).count() == 3 && placed.is_empty());
    }

    #[test]
    fn placed_after_a_pass_follows_adds_and_deletes_in_scope() {
        use crate::model::RealServer;
        let p = plan(3, &[], Duration::ZERO);
        let r = |n: u8| RealServer::new(format!("10.1.0.{n}").parse().unwrap(), 80);
        let before = table(&[(1, 1), (2, 1)]);
        let done = vec![
            Operation::DelDest(key(1), r(2).addr, 80),
            Operation::AddDest(key(1), r(3)),
        ];
        assert_eq!(placed_after(&p, &done, &before, None), vec![rk(1), rk(3)]);
        let other: HashSet<ServiceKey> = [key(2)].into();
        assert!(placed_after(&p, &done, &before, Some(&other)).is_empty());
    }

    /// The per-service index reads as the sets of triples it replaced,
    /// on tables of three virtuals (masq reals with their own port, gate
    /// reals on the virtual's, two reals on one address), every mix of a
    /// generated kernel table, adds and deletes, and each scope.
    #[test]
    fn placed_after_agrees_with_a_set_of_every_destination() {
        use crate::model::{Forward, RealServer, VirtualService};
        fn reference(
            plan: &Plan,
            done: &[Operation],
            actual: &Table,
            scope: Option<&HashSet<ServiceKey>>,
        ) -> Vec<RealKey> {
            type Dest = (ServiceKey, IpAddr, u16);
            let mut added: HashSet<Dest> = HashSet::new();
            let mut deleted: HashSet<Dest> = HashSet::new();
            for c in done {
                match c {
                    Operation::AddDest(k, r) => {
                        added.insert((*k, r.addr, r.port));
                    }
                    Operation::DelDest(k, a, p) => {
                        deleted.insert((*k, *a, *p));
                    }
                    _ => {}
                }
            }
            let had: HashSet<Dest> = actual
                .entries
                .iter()
                .flat_map(|e| e.reals.iter().map(move |r| (e.service.key, r.addr, r.port)))
                .collect();
            let mut out = Vec::new();
            for v in &plan.virtuals {
                let key = v.key();
                if scope.is_some_and(|s| !s.contains(&key)) {
                    continue;
                }
                for (rk, real, _) in v.reals() {
                    let d = (key, real.addr, kernel_port(&key, real));
                    if (had.contains(&d) || added.contains(&d)) && !deleted.contains(&d) {
                        out.push(rk);
                    }
                }
            }
            out
        }
        let mut p = plan(1, &[], Duration::ZERO);
        let template = p.virtuals[0].clone();
        p.virtuals.clear();
        // every real: (address, port, forward) as the kernel holds it
        let mut kernel: Vec<(ServiceKey, RealServer)> = Vec::new();
        for v in 1..=3u8 {
            let mut vp = template.clone();
            vp.spec.service = VirtualService::new(key(v));
            vp.spec.reals = (0..6u8)
                .map(|i| {
                    let mut r = RealServer::new(format!("10.1.{v}.{}", i / 2).parse().unwrap(), 0);
                    (r.forward, r.port) = match i % 3 {
                        0 => (Forward::Masq, 8080 + u16::from(i)),
                        1 => (Forward::Route, 0),
                        _ => (Forward::Masq, 0),
                    };
                    let mut k = r.clone();
                    k.port = kernel_port(&key(v), &r);
                    kernel.push((key(v), k));
                    r
                })
                .collect();
            vp.checks = vp.spec.reals.iter().map(|_| vp.checks[0].clone()).collect();
            p.virtuals.push(vp);
        }
        let scopes: Vec<Option<HashSet<ServiceKey>>> = vec![
            None,
            Some([key(2)].into()),
            Some([key(1), key(3)].into()),
            Some(HashSet::new()),
        ];
        let mut seed = 0x2545_f491_u32;
        let mut bits = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let mut compared = 0;
        for _ in 0..300 {
            let (h, a, d) = (bits(), bits(), bits());
            let mut actual = Table::default();
            let mut done = Vec::new();
            for (i, (k, r)) in kernel.iter().enumerate() {
                if h & (1 << i) != 0 {
                    match actual.entries.iter_mut().find(|e| e.service.key == *k) {
                        Some(e) => e.reals.push(r.clone()),
                        None => actual.entries.push(TableEntry {
                            service: VirtualService::new(*k),
                            reals: vec![r.clone()],
                        }),
                    }
                }
                if a & (1 << i) != 0 {
                    done.push(Operation::AddDest(*k, r.clone()));
                }
                if d & (1 << i) != 0 {
                    done.push(Operation::DelDest(*k, r.addr, r.port));
                }
            }
            for s in &scopes {
                assert_eq!(
                    placed_after(&p, &done, &actual, s.as_ref()),
                    reference(&p, &done, &actual, s.as_ref())
                );
                compared += 1;
            }
        }
        assert_eq!(compared, 1200);
    }

    #[test]
    fn a_start_ends_when_every_real_has_a_verdict() {
        let h = healths(&[(1, Some(true)), (2, None)]);
        assert!(!started(Phase::Starting, &h));
        let h = healths(&[(1, Some(true)), (2, Some(false))]);
        assert!(started(Phase::Starting, &h));
        assert!(!started(Phase::Running, &h));
    }

    #[test]
    fn a_reload_passes_over_all_what_it_touched_or_nothing() {
        let some_keys: HashSet<ServiceKey> = [key(1)].into();
        let none = HashSet::new();
        assert_eq!(reload_pass(true, false, &some_keys), Some(Scope::All));
        assert_eq!(reload_pass(false, true, &none), Some(Scope::All));
        assert_eq!(
            reload_pass(false, false, &some_keys),
            Some(Scope::Some(some_keys.clone()))
        );
        assert_eq!(reload_pass(false, false, &none), None);
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
