//! The engine's side of the operations commands (`daemon::ops`): runtime
//! overrides, `plan`, `reload --confirm` and `confirm`. A child module of
//! `engine`, so it reaches the engine's state without widening its API;
//! the decisions are the pure functions of `daemon::ops` and
//! `daemon::overrides`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use crate::model::ServiceKey;
use crate::reconcile::{self, kernel_port, RealKey, RealState};

use super::super::control::Request;
use super::super::core::{self, Intent};
use super::super::load::ConfigError;
use super::super::ops::{self, Internal, OpRequest, Reply};
use super::super::overrides::{self, Override, Overrides};
use super::super::plan::Plan;
use super::{read_scope, Engine, PassKind, RealHealth, MAX_MAINTENANCE_NAMES};

/// A reload applied with `--confirm`, waiting for `lvsd confirm`.
pub(super) struct Pending {
    /// The plan to go back to.
    previous: Plan,
    /// Number of the reload, so a stale timer does nothing.
    token: u64,
    /// The timer that sends [`Internal::ConfirmExpired`].
    timer: tokio::task::JoinHandle<()>,
}

/// Operations state of the engine.
#[derive(Default)]
pub(super) struct OpsState {
    /// Overrides in force.
    pub(super) overrides: Overrides,
    /// Where they are saved (None: kept in memory only, tests).
    state_file: Option<PathBuf>,
    /// The engine's own request channel, for tasks that report back.
    requests: Option<mpsc::Sender<Request>>,
    /// A reload waiting for confirmation.
    pending: Option<Pending>,
    /// Counter of `--confirm` reloads.
    tokens: u64,
    /// Drained reals whose `drain_finished` event was emitted (cleared
    /// when their override changes, so each drain reports once).
    drained: std::collections::HashSet<RealKey>,
}

impl Engine {
    /// Start with these overrides and save every change to `state_file`.
    pub fn with_overrides(mut self, overrides: Overrides, state_file: Option<PathBuf>) -> Engine {
        self.ops.overrides = overrides;
        self.ops.state_file = state_file;
        self.publish_overrides();
        self
    }

    /// The engine's own request channel: loads for `plan` and `reload
    /// --confirm` and the confirmation timer report back through it, so
    /// they never block the engine.
    pub fn with_requests(mut self, tx: mpsc::Sender<Request>) -> Engine {
        self.ops.requests = Some(tx);
        self
    }

    /// The desired state of a real (the one place it is decided): health,
    /// maintenance, then the operator's override.
    pub(super) fn desired_state_of(&self, k: &RealKey) -> RealState {
        let h = self.health.get(k);
        overrides::desired_state(
            h.and_then(|h| h.serving()),
            self.maintenance.contains(k),
            self.ops.overrides.get(k),
            h.map(|h| h.adjust(Instant::now())).unwrap_or_default(),
        )
    }

    fn publish_overrides(&self) {
        if let Ok(mut st) = self.status.lock() {
            st.overrides = self.ops.overrides.clone();
        }
    }

    /// Save the overrides; the message to add to the answer if that failed.
    async fn persist(&self) -> Option<String> {
        let path = self.ops.state_file.clone()?;
        let o = self.ops.overrides.clone();
        let res = tokio::task::spawn_blocking(move || overrides::save(&path, &o)).await;
        let err = match res {
            Ok(Ok(())) => return None,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::error!("saving the overrides failed: {err}");
        Some(format!(
            "\nwarning: not saved ({err}): the override is lost at the next restart"
        ))
    }

    /// Apply the table for `services` now (an override changed).
    async fn apply_services(&mut self, services: HashSet<ServiceKey>) -> bool {
        if services.is_empty() {
            return true;
        }
        let ok = self
            .reconcile(Some(&services), &HashSet::new(), None, PassKind::Normal)
            .await
            .is_ok();
        self.maybe_running();
        ok
    }

    /// An operations command from the control socket.
    pub(super) async fn on_op(&mut self, op: OpRequest, reply: Reply) {
        match op {
            OpRequest::Drain { virt, real } => {
                let r = self.set_override(&virt, &real, Some(Override::Drain)).await;
                let _ = reply.send(r);
            }
            OpRequest::Weight { virt, real, weight } => {
                let r = self
                    .set_override(&virt, &real, Some(Override::Weight(weight)))
                    .await;
                let _ = reply.send(r);
            }
            OpRequest::Enable { virt, real } => {
                let r = self.set_override(&virt, &real, None).await;
                let _ = reply.send(r);
            }
            OpRequest::Conns { virt, real } => {
                let r = self.conns(&virt, &real).await;
                let _ = reply.send(r);
            }
            OpRequest::List => {
                let _ = reply.send(Ok(self.list_overrides()));
            }
            OpRequest::Clear => {
                let services: HashSet<ServiceKey> =
                    self.ops.overrides.iter().map(|(k, _)| k.service).collect();
                let n = self.ops.overrides.clear();
                self.publish_overrides();
                let warn = self.persist().await.unwrap_or_default();
                let keys = self.plan.keys();
                let services = services.into_iter().filter(|k| keys.contains(k)).collect();
                self.apply_services(services).await;
                tracing::info!(overrides = n, "overrides cleared");
                let _ = reply.send(Ok(format!("{n} overrides cleared{warn}")));
            }
            OpRequest::Plan(path) => {
                let path = path.unwrap_or_else(|| self.path.clone());
                self.load_then(path, reply, |res, reply| {
                    Internal::PlanLoaded(Box::new(res), reply)
                });
            }
            OpRequest::ReloadConfirm(secs) => {
                if self.loading.is_some() {
                    let _ = reply.send(Err("a reload is in progress; try again".into()));
                    return;
                }
                let path = self.path.clone();
                self.load_then(path, reply, move |res, reply| {
                    Internal::ConfirmLoaded(Box::new(res), secs, reply)
                });
            }
            OpRequest::Confirm => {
                let r = match self.ops.pending.take() {
                    Some(p) => {
                        p.timer.abort();
                        self.set_confirm_deadline(None);
                        tracing::info!("reload confirmed");
                        Ok("reload confirmed".to_string())
                    }
                    None => Err("no reload waits for confirmation".to_string()),
                };
                let _ = reply.send(r);
            }
        }
    }

    /// Load `path` on a blocking thread and hand the result back to the
    /// engine as `make(result, reply)`.
    fn load_then(
        &mut self,
        path: PathBuf,
        reply: Reply,
        make: impl FnOnce(Result<Plan, ConfigError>, Reply) -> Internal + Send + 'static,
    ) {
        let Some(tx) = self.ops.requests.clone() else {
            let _ = reply.send(Err("not available in this daemon".into()));
            return;
        };
        let loader = self.loader.clone();
        self.tasks.spawn(async move {
            let res = tokio::task::spawn_blocking(move || loader(&path)).await;
            let res = match res {
                Ok(r) => r,
                Err(e) => Err(ConfigError::one(format!("config loader failed: {e}"))),
            };
            let _ = tx.send(Request::Internal(make(res, reply))).await;
        });
    }

    /// A task the engine started reports back.
    pub(super) async fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::PlanLoaded(res, reply) => {
                let out = match *res {
                    Ok(new) => self.plan_reload(&new).await,
                    Err(e) => Err(e.to_string()),
                };
                let _ = reply.send(out);
            }
            Internal::ConfirmLoaded(res, secs, reply) => {
                let previous = match self.ops.pending.take() {
                    // A second --confirm reload keeps the first one's way back.
                    Some(p) => {
                        p.timer.abort();
                        p.previous
                    }
                    None => self.plan.clone(),
                };
                let out = self
                    .apply_loaded((*res).map_err(crate::daemon::error::ReloadError::from))
                    .await;
                let out = match out {
                    Ok(msg) => {
                        self.arm_confirm(previous, secs);
                        tracing::warn!(
                            seconds = secs,
                            "reload applied; it rolls back unless `lvsd confirm` arrives in time"
                        );
                        Ok(format!(
                            "{msg}\nrolls back to the previous configuration in {secs}s unless `lvsd confirm`"
                        ))
                    }
                    Err(e) => Err(e.to_string()),
                };
                let _ = reply.send(out);
            }
            Internal::ConfirmExpired(token) => {
                let Some(p) = self.ops.pending.take_if(|p| p.token == token) else {
                    return;
                };
                self.set_confirm_deadline(None);
                tracing::warn!(
                    "reload not confirmed in time: rolling back to the previous configuration"
                );
                match self.apply_loaded(Ok(p.previous)).await {
                    Ok(msg) => {
                        let msg = format!("rolled back (not confirmed): {msg}");
                        tracing::warn!("{msg}");
                        if let Ok(mut st) = self.status.lock() {
                            st.last_reload = Some(msg);
                        }
                    }
                    Err(e) => tracing::error!("rollback failed: {e}"),
                }
            }
        }
    }

    fn arm_confirm(&mut self, previous: Plan, secs: u64) {
        self.ops.tokens += 1;
        let token = self.ops.tokens;
        let tx = self.ops.requests.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            if let Some(tx) = tx {
                let _ = tx
                    .send(Request::Internal(Internal::ConfirmExpired(token)))
                    .await;
            }
        });
        self.ops.pending = Some(Pending {
            previous,
            token,
            timer,
        });
        self.set_confirm_deadline(Some(SystemTime::now() + Duration::from_secs(secs)));
    }

    fn set_confirm_deadline(&self, d: Option<SystemTime>) {
        if let Ok(mut st) = self.status.lock() {
            st.confirm_deadline = d;
        }
    }

    /// Stop the confirmation timer (the engine stops).
    pub(super) fn drop_pending(&mut self) {
        if let Some(p) = self.ops.pending.take() {
            p.timer.abort();
        }
    }

    /// `drain`, `weight` (Some) and `enable` (None) of one real.
    async fn set_override(
        &mut self,
        virt: &str,
        real: &str,
        ov: Option<Override>,
    ) -> Result<String, String> {
        let k = overrides::resolve(&self.plan, virt, real).map_err(|e| e.to_string())?;
        let name = overrides::real_name(&k);
        // A changed override reports its drain again.
        self.ops.drained.remove(&k);
        let up = self.health.get(&k).and_then(|h| h.up);
        let step = core::set_override(&mut self.ops.overrides, k, &name, ov, up)
            .map_err(|e| e.to_string())?;
        let mut msg = step.reply;
        if !step.intents.is_empty() {
            let now = self.ops.overrides.get(&k);
            tracing::info!(real = %name, "override: {}", now.map_or("none".into(), |o| o.to_string()));
        }
        for i in step.intents {
            match i {
                Intent::PersistOverrides => {
                    self.publish_overrides();
                    if let Some(w) = self.persist().await {
                        msg.push_str(&w);
                    }
                }
                Intent::Touch(service) => {
                    if !self.apply_services(HashSet::from([service])).await {
                        msg.push_str("\nwarning: the kernel refused the change; it is retried");
                    }
                }
                other => tracing::error!(intent = ?other, "intent not performed here"),
            }
        }
        if let Some(note) = step.note {
            msg.push('\n');
            msg.push_str(note);
        }
        Ok(msg)
    }

    /// The configured real `k` names, if the running config has it.
    fn configured_real(&self, k: &RealKey) -> Option<&crate::model::RealServer> {
        self.plan
            .virtuals
            .iter()
            .find(|v| v.key() == k.service)
            .and_then(|v| {
                v.spec
                    .reals
                    .iter()
                    .find(|r| RealKey::of(k.service, r) == *k)
            })
    }

    /// After a pass (a reconcile, a retry or the periodic resync): each
    /// drained real that `actual` (the kernel table the pass read) shows
    /// at weight 0 with no active connection has finished its drain; the
    /// `drain_finished` event goes out once per drain, whether or not
    /// anyone runs `drain --wait`.
    pub(super) fn drains_finished(&mut self, actual: &crate::model::Table) {
        let pending: Vec<RealKey> = self
            .ops
            .overrides
            .iter()
            .filter(|(k, o)| **o == Override::Drain && !self.ops.drained.contains(*k))
            .map(|(k, _)| *k)
            .collect();
        for k in pending {
            let Some((raddr, kport)) = self
                .configured_real(&k)
                .map(|r| (r.addr, kernel_port(&k.service, r)))
            else {
                continue;
            };
            let Some(d) = actual
                .entries
                .iter()
                .find(|e| e.service.key == k.service)
                .and_then(|e| e.reals.iter().find(|d| d.addr == raddr && d.port == kport))
            else {
                continue;
            };
            // Weight still above 0: the drain is not in the kernel yet.
            if d.weight == 0
                && core::drain_finished(
                    k,
                    d.active_conns,
                    self.ops.overrides.get(&k),
                    &mut self.ops.drained,
                )
            {
                self.events.emit(super::events::EventData::drain_finished(
                    &k.service,
                    raddr,
                    kport,
                    "no active connections",
                ));
            }
        }
    }

    /// `conns`: `ACTIVE INACTIVE` of the real in the kernel, or `absent`.
    async fn conns(&mut self, virt: &str, real: &str) -> Result<String, String> {
        let k = overrides::resolve(&self.plan, virt, real).map_err(|e| e.to_string())?;
        let Some(r) = self.configured_real(&k) else {
            return Err("real server not found".into());
        };
        let kport = kernel_port(&k.service, r);
        let addr = r.addr;
        let ipvs = self.ipvs.clone();
        let service = k.service;
        let dests = tokio::task::spawn_blocking(move || ipvs.dests(&service))
            .await
            .map_err(|e| e.to_string())?;
        Ok(match dests {
            Ok(d) => match d.iter().find(|d| d.addr == addr && d.port == kport) {
                // Read-only: the drain's end is the engine's own pass's
                // finding (`drains_finished`), not this query's.
                Some(d) => format!("{} {}", d.active_conns, d.inact_conns),
                None => "absent".into(),
            },
            Err(crate::kernel::Error::Kernel { errno, .. }) if errno == libc::ESRCH => {
                "absent".into()
            }
            Err(e) => return Err(format!("reading the IPVS table failed: {e}")),
        })
    }

    fn list_overrides(&self) -> String {
        if self.ops.overrides.is_empty() {
            return String::new();
        }
        let configured: HashSet<RealKey> = self
            .plan
            .virtuals
            .iter()
            .flat_map(|v| v.reals().map(|(k, _, _)| k).collect::<Vec<_>>())
            .collect();
        let mut s = String::new();
        for (k, o) in self.ops.overrides.iter() {
            let (v, r) = (
                overrides::virtual_name(&k.service),
                overrides::real_addr(k.addr, k.port),
            );
            let line = match o {
                Override::Drain => format!("drain {v} {r}"),
                Override::Weight(w) => format!("weight {v} {r} {w}"),
            };
            s.push_str(&line);
            if !configured.contains(k) {
                s.push_str(" (not in the configuration)");
            }
            s.push('\n');
        }
        s
    }

    /// What a reload with `new` would send to the kernel: the same scope,
    /// health carried over, maintenance set, desired table and diff as
    /// [`Engine::apply_loaded`] and the pass it runs, without applying.
    async fn plan_reload(&self, new: &Plan) -> Result<String, String> {
        let rs = ops::reload_scope(&self.plan, new);
        let mut old = self.health.clone();
        let health = carry_health(&mut old, new);
        let maintenance = maintenance_now(new).await;
        // The same choice as the reload's pass (`core::reload_pass`).
        let scope = match core::reload_pass(rs.global, maintenance != self.maintenance, &rs.scope) {
            None => return Ok(String::new()),
            Some(core::Scope::All) => None,
            Some(core::Scope::Some(s)) => Some(s),
        };
        let specs: Vec<_> = new
            .virtuals
            .iter()
            .filter(|v| scope.as_ref().is_none_or(|s| s.contains(&v.key())))
            .map(|v| v.spec.clone())
            .collect();
        let state = |k: &RealKey| {
            let h = health.get(k);
            overrides::desired_state(
                h.and_then(|h| h.serving()),
                maintenance.contains(k),
                self.ops.overrides.get(k),
                h.map(|h| h.adjust(Instant::now())).unwrap_or_default(),
            )
        };
        let readd = |k: &RealKey| {
            new.readdquiescent || !(self.placed.contains(k) && health.contains_key(k))
        };
        let desired = reconcile::desired(&specs, &state, &readd);
        let mut owned = new.keys();
        owned.extend(rs.removed.iter().copied());
        let ipvs = self.ipvs.clone();
        let changes = tokio::task::spawn_blocking(move || {
            let actual = read_scope(ipvs.as_ref(), scope.as_ref())?;
            Ok::<_, crate::kernel::Error>(reconcile::diff(&desired, &actual, &|k| {
                owned.contains(k)
            }))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("reading the IPVS table failed: {e}"))?;
        Ok(ops::render_changes(&changes))
    }
}

/// The health a reload keeps: reals that stay keep theirs, new reals
/// start unknown, `checktype=on|off` reals get their fixed health. Takes
/// the entries it keeps out of `old`.
pub(super) fn carry_health(
    old: &mut HashMap<RealKey, RealHealth>,
    new: &Plan,
) -> HashMap<RealKey, RealHealth> {
    let mut health = HashMap::with_capacity(old.len());
    for v in &new.virtuals {
        for (rk, _, check) in v.reals() {
            let mut h = old.remove(&rk).unwrap_or_default();
            if let Some(s) = Plan::static_health(check) {
                h.up = Some(s);
            }
            // An agent no longer asked has no say any more.
            if check.policy.agent.is_none() {
                h.agent = None;
            }
            health.insert(rk, h);
        }
    }
    health
}

/// The reals of `plan` in maintenance now: one read of the maintenance
/// directory on a blocking thread (a hung NFS directory must not stall
/// the engine), bounded in names.
pub(super) async fn maintenance_now(plan: &Plan) -> HashSet<RealKey> {
    let Some(dir) = plan.maintenancedir.clone() else {
        return HashSet::new();
    };
    let names = tokio::task::spawn_blocking(move || read_names(&dir))
        .await
        .unwrap_or_default();
    ops::maintenance_set(&names, plan)
}

fn read_names(dir: &Path) -> HashSet<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .take(MAX_MAINTENANCE_NAMES)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(_) => HashSet::new(),
    }
}
