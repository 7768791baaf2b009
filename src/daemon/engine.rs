//! The daemon's one stateful task: it owns the plan, the health of every
//! real, and the only path to the kernel. Check reports, reload requests,
//! maintenance files and the config file's changes all arrive here; each
//! batch of them ends in one reconcile pass (desired vs kernel, diff,
//! apply).
//!
//! Kernel calls are synchronous and run on a blocking thread, one pass at a
//! time, so two passes never interleave their reads and writes. So do the
//! config loader (parsing, name resolution), the config file fingerprint
//! and the maintenance directory scan: the engine task itself never blocks,
//! so status requests, reports and the watchdog are served meanwhile.
//!
//! A pass that fails (a read refused, an op refused) is not dropped: its
//! services stay pending and are retried with a doubling backoff until a
//! pass succeeds. A periodic resync re-reads every owned service and
//! restores whatever someone else changed, logging each repair.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use crate::ha;
use crate::kernel::Ipvs;
use crate::kernel::Operation;
use crate::model::{ServiceKey, Table, TableEntry};
use crate::reconcile::{self, kernel_port, Applied, RealKey, RealState};

use super::control::Request;
pub use super::core::CheckReport;
use super::core::{self as core, show_real, Intent, RealHealth, Schedule, Scope};
use super::error::{ReloadError, RoleError};
use super::events::{self, EventData};
use super::hooks;
use super::load::ConfigError;
use super::monitor;
use super::plan::{Phase, Plan, VirtualPlan};
use super::status::{RealView, Shown, Status, VirtualView};
use super::systemd;

/// The kernel, shared between the engine and the metrics page.
pub type SharedIpvs = Arc<dyn Ipvs + Send + Sync>;

/// Parses the config file into a plan; `Err` holds the messages to log.
/// Runs on a blocking thread: it may resolve host names.
pub type Loader = Arc<dyn Fn(&Path) -> Result<Plan, ConfigError> + Send + Sync>;

/// Why the engine stopped before serving.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The first read of the IPVS table failed (errno kept).
    #[error("reading the IPVS table failed: {0}")]
    Kernel(#[from] crate::kernel::Error),
    /// A blocking kernel job panicked or was cancelled.
    #[error("kernel job failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Default period of the resync (`[daemon] resync` in lvsd.toml).
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(5);

/// What a pass is for: it decides how its changes are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassKind {
    /// Health, maintenance, reload or a retry: changes the engine wanted.
    Normal,
    /// Periodic resync: any change repairs something done behind lvsd's
    /// back.
    Resync,
}

/// A config load running on a blocking thread, with who waits for it.
struct Loading {
    job: tokio::task::JoinHandle<Result<Plan, ConfigError>>,
    why: &'static str,
    replies: Vec<ReloadReply>,
    /// Another reload was asked for after this load began reading.
    again: Option<(&'static str, Vec<ReloadReply>)>,
    /// When the load began (for the reload's timing line).
    started: std::time::Instant,
}

type ReloadReply = tokio::sync::oneshot::Sender<Result<String, ReloadError>>;

/// Runs the checks of a plan and reports results on the channel it was
/// built with.
pub trait CheckRunner: Send + Sync {
    /// Make the running checks those of `plan`: unchanged checks keep
    /// running, others start or stop. `known_up` says whether the engine
    /// already has a real up (it starts as up, so failurecount applies
    /// from its first failure). A lookup, not a map: a reload would
    /// otherwise copy the health of every real, checked or not.
    fn update(&self, plan: &Plan, known_up: &dyn Fn(&RealKey) -> bool);

    /// Stop every check.
    fn shutdown(&self);
}

/// Cadence of housekeeping: maintenance files, config file, watchdog.
const TICK: Duration = Duration::from_secs(1);

/// Most reports folded into one reconcile pass.
const MAX_BATCH: usize = 4096;

/// The engine.
pub struct Engine {
    path: PathBuf,
    loader: Loader,
    plan: Plan,
    ipvs: SharedIpvs,
    runner: Arc<dyn CheckRunner>,
    health: HashMap<RealKey, RealHealth>,
    maintenance: HashSet<RealKey>,
    placed: HashSet<RealKey>,
    /// Last fallbackcommand sent per virtual: true = start.
    fallback_cmd: HashMap<ServiceKey, bool>,
    status: Arc<Mutex<Status>>,
    phase: Phase,
    fingerprint: Option<core::Fingerprint>,
    host: String,
    /// The HA runner, when `lvsd.toml` has an `[ha]` table.
    ha: Option<mpsc::Sender<ha::Control>>,
    /// Last health told to the HA runner.
    ha_healthy: Option<bool>,
    /// The local MTA for alert mail without `smtp=`.
    sendmail: PathBuf,
    /// How `execute=` instances are run.
    instances: hooks::Instances,
    /// Duration of the last pass's kernel job (read, diff, apply).
    last_job: Duration,
    /// While set, change lines are collected here instead of logged: the
    /// first pass logs its (up to 11,000) lines after READY, so readiness
    /// is not delayed by writing them.
    deferred_log: Option<Vec<String>>,
    /// When passes run again: retries of failed passes, the resync.
    schedule: Schedule,
    /// Period of the resync; zero = off.
    resync: Duration,
    /// The config load in flight, if any.
    loading: Option<Loading>,
    /// Tasks the engine started (hooks, instances): awaited on stop.
    tasks: hooks::Tasks,
    /// The event stream (real up/down, quorum, reloads).
    events: events::Bus,
    /// Which virtuals have no real up (ldirectord's fallback case).
    quorum: events::QuorumTracker<ServiceKey>,
    /// Runtime overrides, `plan`, `reload --confirm` (`engine_ops.rs`).
    ops: operate::OpsState,
    /// The monitorfile writer thread, started at the first line; joined
    /// at stop.
    monitor: Option<monitor::Writer>,
    /// Virtuals with a configured `quorum` (lvsd.toml): their
    /// `quorum_lost`/`quorum_regained` come from the quorum runner alone.
    quorum_policies: Vec<crate::model::VirtualName>,
}

impl Engine {
    /// Connect the engine to a running HA runner: `standby`/`takeover`
    /// and status go there, and the engine reports whether it can program
    /// the kernel (an unhealthy director hands the VIPs to its peer).
    pub fn with_ha(mut self, control: mpsc::Sender<ha::Control>) -> Engine {
        self.ha = Some(control);
        self
    }

    /// Use `w` as the monitorfile writer (tests probe its thread).
    #[cfg(test)]
    pub(crate) fn with_monitor(mut self, w: monitor::Writer) -> Engine {
        self.monitor = Some(w);
        self
    }

    /// The virtuals of `policies` that set a `quorum`: the quorum runner
    /// (`daemon::quorum`) judges and reports their quorum, so the
    /// engine's all-reals-down rule emits no event for them (one
    /// `quorum_lost` per crossing, not two).
    pub fn with_quorum_policies(
        mut self,
        policies: &[crate::config::policy::VirtualPolicy],
    ) -> Engine {
        self.quorum_policies = policies
            .iter()
            .filter(|p| p.quorum.is_some())
            .map(|p| p.id)
            .collect();
        self
    }

    /// An engine for `plan` (already loaded from `path`).
    pub fn new(
        path: PathBuf,
        loader: Loader,
        plan: Plan,
        ipvs: SharedIpvs,
        runner: Arc<dyn CheckRunner>,
        status: Arc<Mutex<Status>>,
    ) -> Engine {
        let host = crate::model::hostname().unwrap_or("localhost").to_string();
        let fingerprint = fingerprint(&path);
        Engine {
            path,
            loader,
            plan,
            ipvs,
            runner,
            health: HashMap::new(),
            maintenance: HashSet::new(),
            placed: HashSet::new(),
            fallback_cmd: HashMap::new(),
            status,
            phase: Phase::Starting,
            fingerprint,
            host,
            ha: None,
            ha_healthy: None,
            sendmail: PathBuf::from(hooks::SENDMAIL),
            last_job: Duration::ZERO,
            deferred_log: None,
            schedule: Schedule::new(DEFAULT_RESYNC, tokio::time::Instant::now()),
            resync: DEFAULT_RESYNC,
            loading: None,
            tasks: hooks::Tasks::new(),
            events: events::Bus::default(),
            quorum: events::QuorumTracker::default(),
            ops: Default::default(),
            monitor: None,
            quorum_policies: Vec::new(),
            instances: hooks::Instances {
                exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("lvsd")),
                socket_dir: PathBuf::from("/run/lvsd"),
            },
        }
    }

    /// Emit real up/down, quorum and reload events on `bus`.
    pub fn with_events(mut self, bus: events::Bus) -> Engine {
        self.events = bus;
        self
    }

    /// Re-read every owned service each `period` and restore what someone
    /// else changed (zero turns the resync off).
    pub fn with_resync(mut self, period: Duration) -> Engine {
        self.resync = period;
        self
    }

    /// Run `execute=` instances with this program and control sockets in
    /// `socket_dir` (the directory of this instance's socket).
    pub fn with_instances(mut self, exe: PathBuf, socket_dir: PathBuf) -> Engine {
        self.instances = hooks::Instances { exe, socket_dir };
        self
    }

    /// Adopt the kernel's table, apply the first desired table, call
    /// `ready`, then serve events until `shutdown` flips.
    pub async fn run(
        mut self,
        mut reports: mpsc::Receiver<CheckReport>,
        mut requests: mpsc::Receiver<Request>,
        mut hup: mpsc::Receiver<()>,
        mut shutdown: watch::Receiver<bool>,
        ready: impl FnOnce(),
    ) -> Result<(), EngineError> {
        // Built here, not in `new`: `with_resync` may have set the period.
        // A failed first pass is retried like any other.
        self.schedule = Schedule::new(self.resync, tokio::time::Instant::now());
        let t0 = Instant::now();
        let actual = self.read_full().await?;
        let read = t0.elapsed();
        self.adopt(&actual);
        self.scan_maintenance().await;
        // The table just read is the one to diff against: reading it twice
        // costs one dump per service.
        let t1 = Instant::now();
        self.deferred_log = Some(Vec::new());
        // A failure is logged and retried by the pass itself.
        let _ = self
            .reconcile(None, &HashSet::new(), Some(actual), PassKind::Normal)
            .await;
        let applied = t1.elapsed();
        let t2 = Instant::now();
        self.spawn_checks();
        self.maybe_running();
        // Where a start spends its time (docs/benchmarks.md, daemon).
        tracing::info!(
            read_ms = read.as_millis() as u64,
            reconcile_ms = applied.as_millis() as u64,
            kernel_ms = self.last_job.as_millis() as u64,
            checks_ms = t2.elapsed().as_millis() as u64,
            kernel_ops = self.kernel_ops(),
            "first table"
        );
        ready();
        for line in self.deferred_log.take().unwrap_or_default() {
            tracing::info!("{line}");
        }
        // ldirectord starts its execute= instances once its own table is up.
        let instances = self.instances.clone();
        let names = self.plan.execute.clone();
        if !names.is_empty() {
            self.tasks.spawn(async move {
                for n in &names {
                    instances.run(n, "start").await;
                }
            });
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far = || tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
        loop {
            let mut dirty: HashSet<ServiceKey> = HashSet::new();
            let wake = self.schedule.next_wakeup();
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(r) = reports.recv() => {
                    self.on_report(r, &mut dirty);
                    // Fold whatever else is already queued into this pass.
                    for _ in 0..MAX_BATCH {
                        match reports.try_recv() {
                            Ok(r) => self.on_report(r, &mut dirty),
                            Err(_) => break,
                        }
                    }
                }
                Some(req) = requests.recv() => self.on_request(req).await,
                Some(()) = hup.recv() => self.start_reload("SIGHUP", None),
                res = wait_loading(&mut self.loading) => self.finish_reload(res).await,
                _ = tokio::time::sleep_until(wake.unwrap_or_else(far)), if wake.is_some() => {
                    if let Some(i) = self.schedule.on_time(tokio::time::Instant::now()) {
                        self.perform(i, &mut dirty).await;
                    }
                    self.maybe_running();
                }
                _ = tick.tick() => {
                    systemd::watchdog();
                    dirty.extend(self.ramping(Instant::now()));
                    if self.scan_maintenance().await {
                        dirty.extend(self.plan.keys());
                    }
                    self.watch_config().await;
                    self.resend_alerts();
                    self.reap_tasks();
                }
            }
            if !dirty.is_empty() {
                let _ = self
                    .reconcile(Some(&dirty), &HashSet::new(), None, PassKind::Normal)
                    .await;
                self.maybe_running();
            }
        }
        if let Some(l) = self.loading.take() {
            l.job.abort();
            for r in l.replies {
                let _ = r.send(Err(ReloadError::Stopping));
            }
        }
        self.drop_pending();
        self.stop().await;
        Ok(())
    }

    /// Carry out an intent of the core; `dirty` collects the virtuals
    /// that need a pass.
    async fn perform(&mut self, intent: Intent, dirty: &mut HashSet<ServiceKey>) {
        match intent {
            Intent::Reconcile {
                scope,
                removed,
                resync,
            } => {
                let scope = match scope {
                    Scope::All => None,
                    Scope::Some(k) => Some(k),
                };
                let kind = if resync {
                    PassKind::Resync
                } else {
                    tracing::info!(
                        services = scope
                            .as_ref()
                            .map_or("all".to_string(), |k| k.len().to_string()),
                        "retrying a failed reconcile pass"
                    );
                    PassKind::Normal
                };
                let _ = self.reconcile(scope.as_ref(), &removed, None, kind).await;
            }
            other => self.perform_now(other, dirty),
        }
    }

    /// Drop finished hook tasks (their results are logged by themselves)
    /// and publish how many still run.
    fn reap_tasks(&mut self) {
        while let Some(r) = self.tasks.try_join_next() {
            if let Err(e) = r {
                if e.is_panic() {
                    tracing::error!("a daemon task panicked: {e}");
                }
            }
        }
        let n = self.tasks.len() as u64;
        if let Ok(mut st) = self.status.lock() {
            st.tasks = n;
        }
    }

    /// Seed health from the kernel: a real the kernel serves with weight > 0
    /// is trusted as up until a check says otherwise (as ldirectord does), so
    /// a restart does not shuffle traffic.
    fn adopt(&mut self, actual: &Table) {
        (self.health, self.placed) = core::adopt(&self.plan, actual, &self.ops.overrides);
    }

    fn spawn_checks(&mut self) {
        let health = &self.health;
        self.runner.update(&self.plan, &|k| {
            health.get(k).and_then(|h| h.up) == Some(true)
        });
    }

    /// A check report: the core updates the real's health and decides
    /// what follows; the shell performs it.
    fn on_report(&mut self, r: CheckReport, dirty: &mut HashSet<ServiceKey>) {
        let mail = self
            .plan
            .virtuals
            .iter()
            .find(|v| v.key() == r.key.service)
            .is_some_and(|v| hooks::alerts_enabled(&v.alerts, self.phase));
        let slow_start = self.slow_start_of(&r.key);
        // Reports from a previous config generation may still be queued.
        let Some(h) = self.health.get_mut(&r.key) else {
            return;
        };
        for i in core::on_report(h, &r, mail, slow_start, SystemTime::now(), Instant::now()) {
            self.perform_now(i, dirty);
        }
    }

    /// Carry out an intent that needs no await (logs, mail, hooks,
    /// events); `dirty` collects the virtuals that need a pass.
    fn perform_now(&mut self, intent: Intent, dirty: &mut HashSet<ServiceKey>) {
        match intent {
            Intent::Touch(k) => {
                dirty.insert(k);
            }
            Intent::WeightSet {
                real,
                weight,
                detail,
            } => {
                tracing::info!(real = %show_real(&real), weight = ?weight, "weight set by the check: {detail}");
            }
            Intent::Fallback(key, start) => {
                let cmd = self
                    .plan
                    .virtuals
                    .iter()
                    .find(|v| v.key() == key)
                    .and_then(|v| v.fallbackcommand.clone());
                if let Some(cmd) = cmd {
                    hooks::spawn_fallbackcommand(&mut self.tasks, &cmd, start, &key);
                    self.fallback_cmd.insert(key, start);
                }
            }
            Intent::Monitor { real, up, msg } => self.monitor(&real, up, &msg),
            Intent::AgentSaid { real, state } => {
                tracing::info!(real = %show_real(&real), "agent says {state}");
            }
            Intent::SoftFailure { real, detail } => {
                tracing::info!(real = %show_real(&real), "soft failure: {detail}");
            }
            Intent::Alert {
                real,
                up,
                subject,
                mail,
            } => {
                if up {
                    tracing::info!("{subject}");
                } else {
                    tracing::warn!("{subject}");
                }
                if mail {
                    self.mail(&real.service, &subject);
                }
            }
            Intent::Remind { real, subject } => self.mail(&real.service, &subject),
            Intent::Maintenance(real, true) => {
                tracing::info!(real = %show_real(&real), "server in maintenance");
                self.monitor(&real, false, "Server in maintenance");
            }
            Intent::ConfigChanged { autoreload } => {
                tracing::info!(
                    "Configuration file '{}' has changed on disk",
                    self.path.display()
                );
                if autoreload {
                    self.start_reload("autoreload", None);
                } else {
                    tracing::info!("- ignore new configuration");
                }
            }
            Intent::Callback => {
                if let Some(cb) = self.plan.callback.clone() {
                    hooks::spawn_callback(&mut self.tasks, &cb, &self.path);
                }
            }
            Intent::Maintenance(real, false) => {
                tracing::info!(real = %show_real(&real), "server out of maintenance");
            }
            Intent::RealEvent { real, up, detail } => {
                self.events.emit(EventData::real(
                    up,
                    &real.service,
                    real.addr,
                    real.port,
                    &detail,
                ));
            }
            other => tracing::error!(intent = ?other, "intent not performed here"),
        }
    }

    /// Send the alert mail of virtual `service` with `subject`.
    fn mail(&mut self, service: &ServiceKey, subject: &str) {
        let Some(v) = self.plan.virtuals.iter().find(|v| v.key() == *service) else {
            return;
        };
        hooks::spawn_mail(
            &mut self.tasks,
            hooks::alert_message(&v.alerts, subject, self.phase, &self.host),
            &v.alerts,
            &self.sendmail,
        );
    }

    /// lvsd.toml's `slow_start` for a real (zero: none).
    fn slow_start_of(&self, k: &RealKey) -> Duration {
        self.plan
            .virtuals
            .iter()
            .filter(|v| v.key() == k.service)
            .flat_map(|v| v.reals())
            .find(|(rk, _, _)| rk == k)
            .map_or(Duration::ZERO, |(_, _, check)| check.policy.slow_start)
    }

    /// The services of reals in a slow start: their weight steps up as
    /// time passes, so they need a pass each tick; a finished ramp is
    /// dropped (its pass sets the full weight).
    fn ramping(&mut self, now: Instant) -> HashSet<ServiceKey> {
        let mut out = HashSet::new();
        for (k, h) in self.health.iter_mut() {
            if let Some(r) = h.ramp {
                if r.at(now).is_none() {
                    h.ramp = None;
                }
                out.insert(k.service);
            }
        }
        out
    }

    async fn on_request(&mut self, req: Request) {
        match req {
            Request::Reload(reply) => self.start_reload("control socket", Some(reply)),
            Request::Status(reply) => {
                let table = self.read_full().await.ok();
                let mut st = self.snapshot();
                if let Some(t) = &table {
                    st.merge_kernel(t);
                }
                let mut text = st.render_text(SystemTime::now());
                if let Some(h) = self.ha_status().await {
                    text.insert_str(0, &h);
                }
                let _ = reply.send(text);
            }
            Request::Role(cmd, reply) => {
                let Some(ha) = &self.ha else {
                    let _ = reply.send(Err(RoleError::NoHa(cmd)));
                    return;
                };
                let ctl = if cmd == "standby" {
                    ha::Control::Standby
                } else {
                    ha::Control::Takeover
                };
                let res = match ha.send(ctl).await {
                    Ok(()) => Ok(format!("{cmd} requested")),
                    Err(_) => Err(RoleError::HaStopped(cmd.clone())),
                };
                let _ = reply.send(res);
            }
            Request::Op(op, reply) => self.on_op(op, reply).await,
            Request::Internal(msg) => self.on_internal(msg).await,
        }
    }

    /// Start re-reading the config on a blocking thread (the loader may
    /// resolve names for a long time); [`Engine::finish_reload`] applies
    /// it. A reload asked for while one loads runs after it, so a file
    /// changed in between is read again.
    fn start_reload(&mut self, why: &'static str, reply: Option<ReloadReply>) {
        if let Some(l) = self.loading.as_mut() {
            let again = l.again.get_or_insert((why, Vec::new()));
            again.1.extend(reply);
            return;
        }
        tracing::info!(config = %self.path.display(), trigger = why, "reloading configuration");
        self.set_phase(Phase::Reloading);
        systemd::reloading();
        let loader = self.loader.clone();
        let path = self.path.clone();
        self.loading = Some(Loading {
            job: tokio::task::spawn_blocking(move || loader(&path)),
            why,
            replies: reply.into_iter().collect(),
            again: None,
            started: std::time::Instant::now(),
        });
    }

    /// A load finished: apply it, answer who asked, start a queued one.
    async fn finish_reload(
        &mut self,
        res: Result<Result<Plan, ConfigError>, tokio::task::JoinError>,
    ) {
        let Some(l) = self.loading.take() else {
            return;
        };
        let loaded = match res {
            Ok(r) => r.map_err(ReloadError::from),
            Err(e) => Err(ReloadError::Loader(Arc::new(e))),
        };
        // Where a reload's time goes: reading and checking the file (on a
        // blocking thread) against diffing and applying it.
        let load_ms = l.started.elapsed().as_millis() as u64;
        let applying = std::time::Instant::now();
        let out = self.apply_loaded(loaded).await;
        tracing::info!(
            trigger = l.why,
            load_ms,
            apply_ms = applying.elapsed().as_millis() as u64,
            "reload done"
        );
        for r in l.replies {
            let _ = r.send(out.clone());
        }
        if let Some((why, replies)) = l.again {
            let mut replies = replies.into_iter();
            self.start_reload(why, replies.next());
            if let Some(cur) = self.loading.as_mut() {
                cur.replies.extend(replies);
            }
        }
    }

    /// Apply a loaded config by diff, or keep everything on error.
    async fn apply_loaded(
        &mut self,
        loaded: Result<Plan, ReloadError>,
    ) -> Result<String, ReloadError> {
        let new = match loaded {
            Ok(p) => p,
            Err(e) => {
                match &e {
                    ReloadError::Rejected(c) => {
                        for line in &c.diagnostics {
                            tracing::error!("{line}");
                        }
                    }
                    other => tracing::error!("{other}"),
                }
                tracing::error!("configuration rejected; the running table is kept");
                let first = match &e {
                    ReloadError::Rejected(c) => c.diagnostics.first().cloned().unwrap_or_default(),
                    other => other.to_string(),
                };
                if let Ok(mut st) = self.status.lock() {
                    st.reload_failures += 1;
                    st.last_reload = Some(format!("rejected: {first}"));
                }
                self.set_phase(Phase::Running);
                systemd::ready("running (reload rejected)");
                self.events.emit(EventData::reload(Err(&first)));
                return Err(e);
            }
        };
        let new_keys = new.keys();
        // The same scope and health rules as `lvsd plan` (engine_ops.rs).
        let operate_scope = super::ops::reload_scope(&self.plan, &new);
        let (scope, removed, global_change) = (
            operate_scope.scope,
            operate_scope.removed,
            operate_scope.global,
        );
        // Keep what is known about reals that stay; checks of new reals
        // start from scratch. A real whose check changed keeps its health
        // until its new check reports.
        self.health = operate::carry_health(&mut self.health, &new);
        self.instances
            .spawn_reload(&mut self.tasks, &self.plan.execute, &new.execute);
        let health = &self.health;
        self.placed.retain(|k| health.contains_key(k));
        self.fallback_cmd.retain(|k, _| new_keys.contains(k));
        self.plan = new;
        self.fingerprint = fingerprint_off_runtime(&self.path).await;
        let maintenance_changed = self.scan_maintenance().await;
        let before = self.kernel_ops();
        let pass = match core::reload_pass(global_change, maintenance_changed, &scope) {
            Some(Scope::All) => self.reconcile(None, &removed, None, PassKind::Normal).await,
            Some(Scope::Some(scope)) => {
                self.reconcile(Some(&scope), &removed, None, PassKind::Normal)
                    .await
            }
            None => Ok(()),
        };
        let ops = self.kernel_ops() - before;
        self.spawn_checks();
        let msg = format!("configuration applied: {ops} kernel operations");
        tracing::info!("{msg}");
        if let Ok(mut st) = self.status.lock() {
            st.reloads += 1;
            st.last_reload = Some(msg.clone());
        }
        self.set_phase(Phase::Running);
        self.maybe_running();
        systemd::ready("running");
        self.events.emit(EventData::reload(Ok(&msg)));
        // The config is in force either way; a kernel failure (retried)
        // is told to who asked, errno and operation intact.
        pass.map(|()| msg)
    }

    /// One pass: desired vs kernel for `scope` (None = every owned
    /// service), diff, apply. `extra_owned` are services of an old config
    /// that must go. `known` is the kernel table when the caller has just
    /// read it (it must cover `scope`).
    ///
    /// A pass that fails (read refused, any op refused) leaves its services
    /// pending and schedules a retry; false then.
    async fn reconcile(
        &mut self,
        scope: Option<&HashSet<ServiceKey>>,
        extra_owned: &HashSet<ServiceKey>,
        known: Option<Table>,
        kind: PassKind,
    ) -> Result<(), ReloadError> {
        let specs: Vec<_> = self
            .plan
            .virtuals
            .iter()
            .filter(|v| scope.is_none_or(|s| s.contains(&v.key())))
            .map(|v| v.spec.clone())
            .collect();
        let state = |k: &RealKey| self.real_state(k);
        let readd = |k: &RealKey| self.plan.readdquiescent || !self.placed.contains(k);
        let desired = reconcile::desired(&specs, &state, &readd);
        let mut owned = self.plan.keys();
        owned.extend(extra_owned.iter().copied());
        let scope_keys: Option<HashSet<ServiceKey>> = scope.cloned();
        let ipvs = self.ipvs.clone();
        let job = tokio::task::spawn_blocking(
            move || -> Result<(Applied, Table), crate::kernel::Error> {
                let actual = match known {
                    Some(t) => t,
                    None => read_scope(ipvs.as_ref(), scope_keys.as_ref())?,
                };
                let changes = reconcile::diff(&desired, &actual, &|k| owned.contains(k));
                Ok((reconcile::apply(ipvs.as_ref(), changes), actual))
            },
        );
        let t0 = Instant::now();
        let res = job.await;
        self.last_job = t0.elapsed();
        let (applied, actual) = match res {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::error!("reading the IPVS table failed: {e}");
                self.report_health(false);
                self.pass_failed(scope, extra_owned);
                return Err(ReloadError::Read(Arc::new(e)));
            }
            Err(e) => {
                tracing::error!("reconcile task failed: {e}");
                self.pass_failed(scope, extra_owned);
                return Err(ReloadError::Task(Arc::new(e)));
            }
        };
        // The kernel answered: this director can serve. (A refused op is
        // retried with backoff; it is no reason to hand over the VIPs.)
        self.report_health(true);
        self.after_apply(&applied, &actual, scope, kind);
        if applied.failed.is_empty() {
            self.pass_succeeded(scope);
            Ok(())
        } else {
            // Retry only the services whose ops failed: the others are done.
            let failed: HashSet<ServiceKey> = applied
                .failed
                .iter()
                .filter_map(|(c, _)| c.service())
                .collect();
            let removed: HashSet<ServiceKey> = failed.intersection(extra_owned).copied().collect();
            self.pass_failed(Some(&failed), &removed);
            let n = applied.failed.len();
            match applied.failed.into_iter().next() {
                Some((_, first)) => Err(ReloadError::Kernel {
                    failed: n,
                    first: Arc::new(first),
                }),
                None => Ok(()),
            }
        }
    }

    /// Keep the work of a failed pass and schedule its retry (the core
    /// decides when).
    fn pass_failed(&mut self, scope: Option<&HashSet<ServiceKey>>, removed: &HashSet<ServiceKey>) {
        if let Ok(mut st) = self.status.lock() {
            st.failed_passes += 1;
        }
        let scope = to_scope(scope);
        if let Some(delay) =
            self.schedule
                .on_pass_failed(&scope, removed, tokio::time::Instant::now())
        {
            tracing::warn!(
                retry_ms = delay.as_millis() as u64,
                "reconcile pass failed; retrying"
            );
        }
    }

    /// A pass went through: what it covered is no longer pending.
    fn pass_succeeded(&mut self, scope: Option<&HashSet<ServiceKey>>) {
        self.schedule.on_pass_succeeded(&to_scope(scope));
    }

    /// What the table should do with a real: health, maintenance and the
    /// operator's override (`daemon::overrides::desired_state`).
    fn real_state(&self, k: &RealKey) -> RealState {
        self.desired_state_of(k)
    }

    fn after_apply(
        &mut self,
        applied: &Applied,
        actual: &Table,
        scope: Option<&HashSet<ServiceKey>>,
        kind: PassKind,
    ) {
        // Indexed once per pass: a start describes 11,000 changes.
        let fallbacks = self.fallbacks();
        let done: Vec<String> = applied
            .done
            .iter()
            .map(|c| match kind {
                PassKind::Normal => self.describe(c, &fallbacks),
                PassKind::Resync => repair_line(c),
            })
            .collect();
        for (c, e) in &applied.failed {
            tracing::error!("{} failed: {e}", self.describe(c, &fallbacks));
        }
        drop(fallbacks);
        match self.deferred_log.as_mut() {
            Some(d) => d.extend(done),
            None => {
                for line in done {
                    tracing::info!("{line}");
                }
            }
        }
        // Remember which reals are in the kernel now.
        self.placed
            .extend(core::placed_after(&self.plan, &applied.done, actual, scope));
        self.run_fallback_commands(scope);
        self.quorum_events(scope);
        self.drains_finished(actual);
        let mut views = self.views();
        if let Ok(mut st) = self.status.lock() {
            st.reconciles += 1;
            st.kernel_ops += (applied.done.len() + applied.failed.len()) as u64;
            st.kernel_errors += applied.failed.len() as u64;
            if kind == PassKind::Resync {
                st.resync_repairs += applied.done.len() as u64;
            }
            std::mem::swap(&mut st.virtuals, &mut views);
            st.phase = self.phase;
        }
    }

    /// `fallbackcommand start` when no real of a virtual is up, `stop` when
    /// one is back; each only once per change, and `stop` only after a
    /// `start` (ldirectord flaps both at every start and reload). The core
    /// decides ([`core::fallbacks_due`]).
    fn run_fallback_commands(&mut self, scope: Option<&HashSet<ServiceKey>>) {
        let due = core::fallbacks_due(
            &self.plan,
            &self.health,
            &self.maintenance,
            &self.fallback_cmd,
            scope,
        );
        let mut dirty = HashSet::new();
        for i in due {
            self.perform_now(i, &mut dirty);
        }
    }

    /// `quorum_lost` when no real of a virtual is up any more (ldirectord
    /// puts the fallback in), `quorum_regained` when one is back. Reals not
    /// checked yet count as neither, as for the fallback
    /// ([`core::all_reals_down`]). Not for a virtual with a configured
    /// `quorum`: the quorum runner emits those.
    fn quorum_events(&mut self, scope: Option<&HashSet<ServiceKey>>) {
        let mut out = Vec::new();
        for i in core::all_reals_down(&self.plan, &self.health, &self.maintenance, scope) {
            if let Intent::AllRealsDown(key, lost) = i {
                if self.quorum_policies.iter().any(|id| id.matches(&key)) {
                    continue;
                }
                if let Some(ev) =
                    self.quorum
                        .observe_as(&key, lost.as_deref(), events::virtual_name)
                {
                    out.push(ev);
                }
            }
        }
        let keys: HashSet<ServiceKey> = self.plan.virtuals.iter().map(|v| v.key()).collect();
        self.quorum.retain(|k| keys.contains(k));
        for ev in out {
            self.events.emit(ev);
        }
    }

    /// The virtuals that have a fallback server, by key.
    fn fallbacks(&self) -> HashMap<ServiceKey, &VirtualPlan> {
        self.plan
            .virtuals
            .iter()
            .filter(|v| v.spec.fallback.is_some())
            .map(|v| (v.key(), v))
            .collect()
    }

    /// ldirectord's log wording for a change.
    /// `fallbacks`: the virtuals that have a fallback, by key (see
    /// [`Engine::fallbacks`]).
    fn describe(&self, c: &Operation, fallbacks: &HashMap<ServiceKey, &VirtualPlan>) -> String {
        let is_fallback = |k: &ServiceKey, addr: IpAddr, port: u16| {
            fallbacks.get(k).is_some_and(|v| {
                v.spec
                    .fallback
                    .as_ref()
                    .is_some_and(|f| f.addr == addr && kernel_port(k, f) == port)
                    && !v
                        .spec
                        .reals
                        .iter()
                        .any(|x| x.addr == addr && kernel_port(k, x) == port)
            })
        };
        let vs = |k: &ServiceKey| crate::daemon::hooks::fallback_args(k).0;
        let rs = |addr: IpAddr, port: u16| {
            crate::daemon::hooks::fallback_args(&ServiceKey::Addr {
                protocol: crate::model::Protocol::Tcp,
                addr,
                port,
            })
            .0
        };
        match c {
            Operation::AddService(s) => format!("Added virtual server: {}", s.key),
            Operation::EditService(s) => format!("Changed virtual server: {}", s.key),
            Operation::DelService(k) => format!("Purged virtual server: {k}"),
            Operation::AddDest(k, r) if is_fallback(k, r.addr, r.port) => {
                format!("Added fallback server: {} ({})", rs(r.addr, r.port), vs(k))
            }
            Operation::DelDest(k, a, p) if is_fallback(k, *a, *p) => {
                format!("Deleted fallback server: {} ({})", rs(*a, *p), vs(k))
            }
            Operation::AddDest(k, r) => {
                format!(
                    "Added real server: {} ({}) (Weight set to {})",
                    rs(r.addr, r.port),
                    vs(k),
                    r.weight
                )
            }
            Operation::EditDest(k, r) if r.weight == 0 => {
                format!(
                    "Quiescent real server: {} ({}) (Weight set to 0)",
                    rs(r.addr, r.port),
                    vs(k)
                )
            }
            Operation::EditDest(k, r) => {
                format!(
                    "Restored real server: {} ({}) (Weight set to {})",
                    rs(r.addr, r.port),
                    vs(k),
                    r.weight
                )
            }
            Operation::DelDest(k, a, p) => {
                format!("Deleted real server: {} ({})", rs(*a, *p), vs(k))
            }
            // A pass plans service and real changes only.
            other => format!("{} ({other:?})", other.cmd()),
        }
    }

    /// Views of every virtual for the status page (kernel fields empty).
    fn views(&self) -> Vec<VirtualView> {
        let mut out = Vec::new();
        for v in &self.plan.virtuals {
            let mut reals = Vec::new();
            for (rk, real, _) in v.reals() {
                let h = self.health.get(&rk).cloned().unwrap_or_default();
                let health = if self.maintenance.contains(&rk) {
                    Shown::Maintenance
                } else {
                    match h.up {
                        None => Shown::Unknown,
                        Some(true) => match h.agent {
                            Some(a) if a.takes_out() => Shown::Down(format!("agent: {a}")),
                            _ => Shown::Up,
                        },
                        Some(false) => Shown::Down(h.reason.clone()),
                    }
                };
                reals.push(RealView {
                    addr: real.addr,
                    port: real.port,
                    forward: real.forward,
                    weight: real.weight,
                    health,
                    last: h.last.clone(),
                    checks: h.checks,
                    failures: h.failures,
                    kernel: None,
                    fallback: false,
                });
            }
            if let Some(fb) = &v.spec.fallback {
                reals.push(RealView {
                    addr: fb.addr,
                    port: fb.port,
                    forward: fb.forward,
                    weight: 1,
                    health: Shown::Up,
                    last: None,
                    checks: 0,
                    failures: 0,
                    kernel: None,
                    fallback: true,
                });
            }
            out.push(VirtualView {
                key: v.key(),
                scheduler: v.spec.service.scheduler.clone(),
                reals,
            });
        }
        out
    }

    /// One line about the HA role for `lvsd status`, if HA runs.
    async fn ha_status(&self) -> Option<String> {
        let ha = self.ha.as_ref()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        ha.send(ha::Control::Status(tx)).await.ok()?;
        let s = tokio::time::timeout(Duration::from_secs(2), rx)
            .await
            .ok()?
            .ok()?;
        let track = if s.track_faults.is_empty() {
            String::new()
        } else {
            format!(", ineligible: track: {}", s.track_faults.join("; "))
        };
        Some(format!(
            "ha: node {} role {:?}{}, peer {} {}, {} transitions{}\n",
            s.node,
            s.role,
            if s.hold { " (standby held)" } else { "" },
            s.peer.as_deref().unwrap_or("-"),
            if s.peer_alive { "alive" } else { "not heard" },
            s.transitions,
            track
        ))
    }

    /// Tell the HA runner whether this director can program its kernel.
    fn report_health(&mut self, healthy: bool) {
        if self.ha_healthy == Some(healthy) {
            return;
        }
        if let Some(ha) = &self.ha {
            if ha.try_send(ha::Control::Health(healthy)).is_ok() {
                self.ha_healthy = Some(healthy);
            }
        }
    }

    /// Kernel operations issued so far (without cloning the status).
    fn kernel_ops(&self) -> u64 {
        match self.status.lock() {
            Ok(s) => s.kernel_ops,
            Err(p) => p.into_inner().kernel_ops,
        }
    }

    fn snapshot(&self) -> Status {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_phase(&mut self, p: Phase) {
        self.phase = p;
        if let Ok(mut st) = self.status.lock() {
            st.phase = p;
        }
    }

    /// Leave "starting" once every real has a verdict (mail sent during the
    /// first checks is tagged starting, as in ldirectord since PR #760).
    fn maybe_running(&mut self) {
        if core::started(self.phase, &self.health) {
            self.set_phase(Phase::Running);
            systemd::status("running");
        }
    }

    /// `monitorfile`: one line for a check verdict of `key`.
    fn monitor(&mut self, key: &RealKey, up: bool, msg: &str) {
        let Some(v) = self
            .plan
            .virtuals
            .iter()
            .find(|v| v.monitorfile.is_some() && v.key() == key.service)
        else {
            return;
        };
        let Some((_, real, check)) = v.reals().find(|(rk, _, _)| rk == key) else {
            return;
        };
        let Some(path) = &v.monitorfile else {
            return;
        };
        let id = monitor::real_id(&key.service, real, check);
        if self.monitor.is_none() {
            match monitor::Writer::start() {
                Ok(w) => self.monitor = Some(w),
                Err(e) => {
                    tracing::error!("Error writing to monitorfile '{}': {e}", path.display());
                    return;
                }
            }
        }
        let Some(w) = &self.monitor else {
            return;
        };
        if let Err(e) = w.append(path, &id, up, msg) {
            tracing::error!("Error writing to monitorfile '{}': {e}", path.display());
        }
    }

    /// Re-read the maintenance directory; true if the set changed.
    async fn scan_maintenance(&mut self) -> bool {
        // One directory read per tick instead of a stat per real (the same
        // read `lvsd plan` does).
        let now = operate::maintenance_now(&self.plan).await;
        let changes = core::maintenance_step(&self.maintenance, &now);
        if changes.is_empty() {
            return false;
        }
        let mut dirty = HashSet::new();
        for i in changes {
            self.perform_now(i, &mut dirty);
        }
        self.maintenance = now;
        true
    }

    /// autoreload and callback: poll the config file's mtime, confirm a
    /// change by content hash.
    async fn watch_config(&mut self) {
        if !self.plan.autoreload && self.plan.callback.is_none() {
            return;
        }
        let fp = fingerprint_off_runtime(&self.path).await;
        let due = core::config_watch(
            &mut self.fingerprint,
            fp,
            self.plan.autoreload,
            self.plan.callback.is_some(),
        );
        let mut dirty = HashSet::new();
        for i in due {
            self.perform_now(i, &mut dirty);
        }
    }

    /// `emailalertfreq`: repeat the alert while a real stays down (the
    /// core decides which are due).
    fn resend_alerts(&mut self) {
        let due = core::reminders(&self.plan, &mut self.health, self.phase, Instant::now());
        let mut dirty = HashSet::new();
        for i in due {
            self.perform_now(i, &mut dirty);
        }
    }

    /// Stop checks; with `cleanstop` delete the virtuals from the kernel.
    async fn stop(&mut self) {
        self.set_phase(Phase::Stopping);
        systemd::stopping();
        self.runner.shutdown();
        for n in &self.plan.execute {
            // An instance stops within seconds (as this one does); the
            // bound keeps a wedged one from holding this stop for the
            // 600 s a `start` may take. Dropping the run kills it.
            if tokio::time::timeout(INSTANCE_STOP, self.instances.run(n, "stop"))
                .await
                .is_err()
            {
                tracing::warn!(instance = %n, "execute: stop timed out");
            }
        }
        // Hooks and instance starts still running get a bounded time to
        // end; the rest are aborted (their children die with them:
        // kill_on_drop).
        let tasks = &mut self.tasks;
        let drained = tokio::time::timeout(TASKS_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                tasks = self.tasks.len(),
                "daemon tasks still running at stop; aborting them"
            );
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
        self.reap_tasks();
        // The monitorfile writer finishes its queue and is joined (off the
        // runtime: its writes are blocking file I/O).
        if let Some(w) = self.monitor.take() {
            if tokio::task::spawn_blocking(move || w.stop()).await.is_err() {
                tracing::error!("monitorfile writer did not stop cleanly");
            }
        }
        let doomed: Vec<Operation> = self
            .plan
            .virtuals
            .iter()
            .filter(|v| v.cleanstop)
            .map(|v| Operation::DelService(v.key()))
            .collect();
        if doomed.is_empty() {
            return;
        }
        let ipvs = self.ipvs.clone();
        let job = tokio::task::spawn_blocking(move || -> Result<Applied, crate::kernel::Error> {
            // Only delete what is there, so a missing service is not an error.
            let present: HashSet<ServiceKey> =
                ipvs.services()?.into_iter().map(|s| s.key).collect();
            let doomed = doomed
                .into_iter()
                .filter(|c| c.service().is_some_and(|k| present.contains(&k)))
                .collect();
            Ok(reconcile::apply(ipvs.as_ref(), doomed))
        });
        match job.await {
            Ok(Ok(a)) => {
                // Every op here is a `DelService`, so each names its key.
                let key = |c: &Operation| c.service().map(|k| k.to_string()).unwrap_or_default();
                for c in &a.done {
                    tracing::info!("Purged virtual server (stop): {}", key(c));
                }
                for (c, e) in &a.failed {
                    tracing::error!("purging {} failed: {e}", key(c));
                }
            }
            Ok(Err(e)) => tracing::error!("cleanstop: reading the IPVS table failed: {e}"),
            Err(e) => tracing::error!("cleanstop task failed: {e}"),
        }
    }

    async fn read_full(&self) -> Result<Table, EngineError> {
        let ipvs = self.ipvs.clone();
        Ok(tokio::task::spawn_blocking(move || read_scope(ipvs.as_ref(), None)).await??)
    }
}

/// Scopes up to this size are read service by service; larger ones with
/// one dump of every service.
const FEW_SERVICES: usize = 64;

/// Read the services in `scope` (all if None) with their reals.
fn read_scope(
    ipvs: &(dyn Ipvs + Send + Sync),
    scope: Option<&HashSet<ServiceKey>>,
) -> Result<Table, crate::kernel::Error> {
    let mut entries = Vec::new();
    if let Some(keys) = scope.filter(|s| s.len() <= FEW_SERVICES) {
        // A check verdict or a one-virtual reload: two small reads per
        // service instead of a dump of the whole service list.
        for key in keys {
            let service = match ipvs.service(key) {
                Ok(s) => s,
                Err(crate::kernel::Error::Kernel { errno, .. }) if errno == libc::ESRCH => continue,
                Err(e) => return Err(e),
            };
            let reals = ipvs.dests(key)?;
            entries.push(TableEntry { service, reals });
        }
        return Ok(Table { entries });
    }
    let services = ipvs.services()?;
    for service in services {
        if scope.is_some_and(|s| !s.contains(&service.key)) {
            continue;
        }
        let reals = ipvs.dests(&service.key)?;
        entries.push(TableEntry { service, reals });
    }
    Ok(Table { entries })
}

/// The core's scope of a pass (None: every owned service).
fn to_scope(scope: Option<&HashSet<ServiceKey>>) -> Scope {
    match scope {
        None => Scope::All,
        Some(k) => Scope::Some(k.clone()),
    }
}

/// Longest `lvsd NAME stop` of an `execute=` instance at this one's stop.
const INSTANCE_STOP: Duration = Duration::from_secs(10);

/// Longest wait for hook tasks at stop.
const TASKS_GRACE: Duration = Duration::from_secs(5);

/// Most names read from the maintenance directory per scan.
const MAX_MAINTENANCE_NAMES: usize = 65_536;

/// The config load in flight, or never (a `select!` branch).
async fn wait_loading(
    loading: &mut Option<Loading>,
) -> Result<Result<Plan, ConfigError>, tokio::task::JoinError> {
    match loading.as_mut() {
        Some(l) => (&mut l.job).await,
        None => std::future::pending().await,
    }
}

/// [`fingerprint`] on a blocking thread: it reads the whole file.
async fn fingerprint_off_runtime(path: &Path) -> Option<(SystemTime, u64, u64)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || fingerprint(&path))
        .await
        .ok()
        .flatten()
}

/// The log line of a resync repair: what was wrong and what was restored.
fn repair_line(c: &Operation) -> String {
    // "tcp 10.0.0.1:80", "fwmark 7": the protocol tells a TCP and a UDP
    // service on one address apart.
    let vs = |k: &ServiceKey| match k {
        ServiceKey::Addr { .. } => {
            let (addr, proto) = hooks::fallback_args(k);
            format!("{proto} {addr}")
        }
        _ => k.to_string(),
    };
    let rs = |k: &ServiceKey, addr: IpAddr, port: u16| {
        format!(
            "{} of {}",
            hooks::fallback_args(&ServiceKey::Addr {
                protocol: crate::model::Protocol::Tcp,
                addr,
                port,
            })
            .0,
            vs(k)
        )
    };
    match c {
        Operation::AddService(s) => format!(
            "resync: restored virtual server {} (deleted behind lvsd's back)",
            vs(&s.key)
        ),
        Operation::EditService(s) => format!(
            "resync: restored scheduler {}, flags and persistence of virtual server {} (changed behind lvsd's back)",
            s.scheduler,
            vs(&s.key)
        ),
        Operation::DelService(k) => format!("resync: removed virtual server {} (no longer configured)", vs(k)),
        Operation::AddDest(k, r) => format!(
            "resync: restored real {} with weight {} (deleted behind lvsd's back)",
            rs(k, r.addr, r.port),
            r.weight
        ),
        Operation::EditDest(k, r) => format!(
            "resync: restored weight {} of real {} (changed behind lvsd's back)",
            r.weight,
            rs(k, r.addr, r.port)
        ),
        Operation::DelDest(k, a, p) => format!(
            "resync: removed real {} (added behind lvsd's back)",
            rs(k, *a, *p)
        ),
        // A resync plans service and real changes only.
        other => format!("resync: {}", other.cmd()),
    }
}

/// mtime, length and content hash of the config file.
fn fingerprint(path: &Path) -> Option<(SystemTime, u64, u64)> {
    use std::hash::{Hash, Hasher};
    let meta = std::fs::metadata(path).ok()?;
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some((meta.modified().ok()?, meta.len(), h.finish()))
}

#[path = "engine_ops.rs"]
mod operate;

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
