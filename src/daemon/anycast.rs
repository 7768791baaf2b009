//! The VIP announcer (`[anycast]` of lvsd.toml): per VIP, a host route in a
//! dedicated kernel table while this director should receive the VIP's
//! traffic, none otherwise. A routing daemon (BIRD's `protocol kernel {
//! learn; }`) turns the route into a BGP announcement; lvsd speaks no BGP.
//!
//! A VIP is announced while (a) the director is healthy (the engine is
//! running and its kernel operations succeed), (b) every virtual on the
//! VIP has at least `quorum` healthy reals and (c) the daemon is not
//! stopping. The decision is a pure function of a status snapshot
//! ([`decide`]); [`run`] is the thin shell that polls the engine's status,
//! writes routes and reads BIRD.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::config::ldirectord::Config;
use crate::kernel::route::Routes;
use crate::kernel::sysctl;
use crate::model::{AnycastConfig, ServiceKey};
use crate::reconcile::{self, ConsistentError};

use super::bird::{self, Session};
use super::load::plan_from_config;
use super::plan::{Phase, Plan};
use super::status::{Shown, Status, VirtualView};

/// How often the engine's status is read.
const POLL: Duration = Duration::from_millis(200);
/// How often the installed routes are read back from the kernel (someone
/// may delete or add ours by hand).
const RESYNC: Duration = Duration::from_secs(5);
/// How often BIRD is asked for its sessions, and how long it may take.
const BIRD_EVERY: Duration = Duration::from_secs(2);
const BIRD_LIMIT: Duration = Duration::from_secs(1);
/// After a failed kernel operation the director counts as unhealthy this
/// long: a director that cannot program IPVS must not attract traffic.
const KERNEL_HOLD: Duration = Duration::from_secs(10);

/// Why a VIP is not announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawn {
    /// A virtual on the VIP has fewer healthy reals than the quorum.
    Quorum {
        /// The virtual (`TCP 10.0.0.1:80`).
        service: String,
        /// Healthy reals.
        healthy: usize,
        /// Configured reals.
        total: usize,
        /// The VIP's quorum.
        quorum: u32,
    },
    /// A virtual on the VIP lost its own `[virtual."..."] quorum`
    /// (keepalived semantics: weight sum with hysteresis).
    VirtualQuorum {
        /// The virtual (`TCP 10.0.0.1:80`).
        service: String,
    },
    /// No virtual of ldirectord.cf is on this address.
    NoVirtual,
    /// This director fails its own health.
    Director(String),
    /// The daemon is stopping (draining).
    Stopping,
}

impl std::fmt::Display for Withdrawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Withdrawn::Quorum {
                service,
                healthy,
                total,
                quorum,
            } => write!(
                f,
                "quorum lost: {service} has {healthy}/{total} healthy < {quorum}"
            ),
            Withdrawn::VirtualQuorum { service } => {
                write!(f, "quorum lost: {service} is below its [virtual] quorum")
            }
            Withdrawn::NoVirtual => f.write_str("no virtual on this address"),
            Withdrawn::Director(why) => write!(f, "director unhealthy: {why}"),
            Withdrawn::Stopping => f.write_str("stopping (draining)"),
        }
    }
}

/// The director's own health, derived from the engine's status over time.
#[derive(Debug, Default)]
pub struct DirectorHealth {
    errors: u64,
    bad_until: Option<Instant>,
}

impl DirectorHealth {
    /// Fold one status snapshot taken at `now`; Err says why the director
    /// must not attract traffic.
    pub fn observe(
        &mut self,
        phase: Phase,
        kernel_errors: u64,
        now: Instant,
    ) -> Result<(), String> {
        if kernel_errors > self.errors {
            self.bad_until = Some(now + KERNEL_HOLD);
        }
        self.errors = kernel_errors;
        if phase == Phase::Starting {
            return Err("starting (first checks not done)".into());
        }
        match self.bad_until {
            Some(t) if now < t => Err(format!(
                "kernel operations failing ({kernel_errors} failed since start)"
            )),
            _ => Ok(()),
        }
    }
}

fn vaddr(key: &ServiceKey) -> Option<IpAddr> {
    match key {
        ServiceKey::Addr { addr, .. } => Some(*addr),
        ServiceKey::Fwmark { .. } => None,
    }
}

/// Per VIP of `cfg`, in order: `None` to announce, or why not.
pub fn decide(
    cfg: &AnycastConfig,
    virtuals: &[VirtualView],
    director: &Result<(), String>,
    stopping: bool,
) -> Vec<(IpAddr, Option<Withdrawn>)> {
    decide_with_quorum(cfg, virtuals, &[], director, stopping)
}

/// [`decide`], where `lost` lists the virtuals below their per-virtual
/// quorum (`daemon::quorum::Tracker::lost`): a VIP carrying one of them is
/// withdrawn, after the per-VIP healthy-reals count.
pub fn decide_with_quorum(
    cfg: &AnycastConfig,
    virtuals: &[VirtualView],
    lost: &[ServiceKey],
    director: &Result<(), String>,
    stopping: bool,
) -> Vec<(IpAddr, Option<Withdrawn>)> {
    cfg.vips
        .iter()
        .map(|vip| {
            let why = if stopping {
                Some(Withdrawn::Stopping)
            } else if let Err(e) = director {
                Some(Withdrawn::Director(e.clone()))
            } else {
                let mine: Vec<&VirtualView> = virtuals
                    .iter()
                    .filter(|v| vaddr(&v.key) == Some(vip.address))
                    .collect();
                if mine.is_empty() {
                    Some(Withdrawn::NoVirtual)
                } else {
                    mine.iter().find_map(|v| {
                        let reals = v.reals.iter().filter(|r| !r.fallback);
                        let total = reals.clone().count();
                        let healthy = reals.filter(|r| r.health == Shown::Up).count();
                        if healthy < vip.quorum as usize {
                            Some(Withdrawn::Quorum {
                                service: v.key.to_string(),
                                healthy,
                                total,
                                quorum: vip.quorum,
                            })
                        } else if lost.contains(&v.key) {
                            Some(Withdrawn::VirtualQuorum {
                                service: v.key.to_string(),
                            })
                        } else {
                            None
                        }
                    })
                }
            };
            (vip.address, why)
        })
        .collect()
}

/// What a decision says about a VIP's quorum: `Some(None)` held,
/// `Some(Some(why))` lost, `None` not judged (a stopping or unhealthy
/// director, or no virtual, says nothing about the reals: no event).
pub fn quorum_judgement(why: Option<&Withdrawn>) -> Option<Option<String>> {
    match why {
        None => Some(None),
        Some(w @ (Withdrawn::Quorum { .. } | Withdrawn::VirtualQuorum { .. })) => {
            Some(Some(w.to_string()))
        }
        Some(_) => None,
    }
}

/// What the status shows of one VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipView {
    /// The VIP.
    pub address: IpAddr,
    /// The route is in the kernel table.
    pub announced: bool,
    /// Why it is not (or should not be) announced.
    pub reason: Option<String>,
    /// Since when it is in this state.
    pub since: SystemTime,
}

/// The announcer's part of the status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnycastView {
    /// Routing table and protocol in use.
    pub table: u32,
    /// Route protocol number.
    pub protocol: u8,
    /// One entry per configured VIP.
    pub vips: Vec<VipView>,
    /// Routes withdrawn since start (announced to withdrawn transitions).
    pub withdrawals: u64,
    /// BGP sessions read from BIRD (empty without `bird_socket`).
    pub sessions: Vec<Session>,
    /// Why BIRD could not be read, if it could not.
    pub bird_error: Option<String>,
}

/// The plan of `cfg` for a director with `[anycast]`. Every virtual on an
/// announced VIP must pass [`reconcile::require_mh`] (scheduler `mh` with
/// `mh-fallback`: directors behind ECMP must map a flow to the same real,
/// and only Maglev hashing gives the same answer on every director without
/// shared state; announced virtuals quiesce rather than delete, and
/// `mh-fallback` serves a quiesced real's slots from the next real). Those
/// virtuals are marked `consistent` (reals added in canonical order,
/// failed reals quiesced, never deleted). `Err`: one `file:line:` message
/// a line, naming the ldirectord.cf directive to set.
pub fn announced_plan(
    cfg: &Config,
    path: &std::path::Path,
    anycast: &AnycastConfig,
) -> Result<Plan, String> {
    let mut plan = plan_from_config(cfg);
    let mut errs = Vec::new();
    // plan_from_config keeps the file's order of virtuals.
    for (v, vp) in cfg.virtuals.iter().zip(plan.virtuals.iter_mut()) {
        if vaddr(&vp.key()).is_none_or(|a| anycast.vip(a).is_none()) {
            continue;
        }
        match reconcile::require_mh(&vp.spec.service) {
            Ok(()) => vp.spec.consistent = true,
            Err(ConsistentError::NotMh { scheduler, .. }) => errs.push(format!(
                "{}:{}: virtual {} is announced by [anycast] but uses scheduler {:?}: announced virtuals need scheduler=mh, \
                 so that every director behind ECMP sends a flow to the same real (consistent hashing)",
                path.display(),
                v.line,
                v.key,
                scheduler
            )),
            Err(ConsistentError::NoFallback { .. }) => errs.push(format!(
                "{}:{}: virtual {} is announced by [anycast] but lacks schedflags=mh-fallback: announced virtuals \
                 quiesce failed reals (weight 0) instead of deleting them, so the mh table keeps its order, and \
                 mh-fallback sends the flows of a quiesced real to the next one",
                path.display(),
                v.line,
                v.key,
            )),
        }
    }
    if errs.is_empty() {
        Ok(plan)
    } else {
        Err(errs.join("\n"))
    }
}

/// Turn on `sloppy_tcp`/`sloppy_sctp` ([`sysctl::ensure_sloppy`]): a
/// director that receives a flow mid-stream after an ECMP change must
/// schedule it (to the same real, mh) instead of dropping non-SYN packets.
/// A failure is logged, not fatal.
fn set_sloppy() {
    match sysctl::ensure_sloppy(std::path::Path::new("/proc/sys")) {
        Ok(changed) => {
            for knob in changed {
                tracing::info!("/proc/sys/{knob} = 1");
            }
        }
        Err(e) => tracing::warn!("cannot set sloppy mode: {e} (flows moved by ECMP may be reset)"),
    }
}

/// The running announcer, as the service sees it.
pub struct Announcer {
    stopping: watch::Sender<bool>,
    withdrawn: watch::Receiver<bool>,
    /// Drain time after withdrawal.
    pub drain: Duration,
}

impl Announcer {
    /// Withdraw every VIP (bounded wait for the routes to go), then wait the
    /// drain time while the engine keeps serving.
    pub async fn withdraw_and_drain(&self) {
        let _ = self.stopping.send(true);
        let mut rx = self.withdrawn.clone();
        let _ = tokio::time::timeout(Duration::from_secs(3), rx.wait_for(|w| *w)).await;
        tracing::info!(drain_s = self.drain.as_secs(), "VIPs withdrawn; draining");
        tokio::time::sleep(self.drain).await;
    }
}

/// Before anything else: remove our routes left by a previous run (a
/// crashed lvsd must not keep announcing a VIP whose virtual is now down),
/// then start the announcer. None when rtnetlink is unavailable.
pub async fn start(
    cfg: AnycastConfig,
    policies: Vec<crate::config::policy::VirtualPolicy>,
    status: Arc<Mutex<Status>>,
    stop: watch::Receiver<bool>,
    bus: super::events::Bus,
) -> Option<(Announcer, tokio::task::JoinHandle<()>)> {
    let routes = match Routes::new(cfg.table, cfg.protocol) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("anycast: {e}; no VIP will be announced");
            return None;
        }
    };
    match routes.flush().await {
        Ok(gone) if !gone.is_empty() => {
            tracing::warn!(
                ?gone,
                table = cfg.table,
                "anycast: removed stale routes of a previous run"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::error!("anycast: cannot clear stale routes: {e}"),
    }
    if cfg.sloppy {
        set_sloppy();
    }
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let (withdrawn_tx, withdrawn_rx) = watch::channel(false);
    let drain = cfg.drain;
    let task = tokio::spawn(run(
        Policy { cfg, policies },
        routes,
        status,
        stopping_rx,
        withdrawn_tx,
        stop,
        bus,
    ));
    Some((
        Announcer {
            stopping: stopping_tx,
            withdrawn: withdrawn_rx,
            drain,
        },
        task,
    ))
}

/// What decides the announcements: `[anycast]` and the `[virtual."..."]`
/// quorum policies.
struct Policy {
    cfg: AnycastConfig,
    policies: Vec<crate::config::policy::VirtualPolicy>,
}

async fn run(
    Policy { cfg, policies }: Policy,
    routes: Routes,
    status: Arc<Mutex<Status>>,
    stopping: watch::Receiver<bool>,
    withdrawn: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
    bus: super::events::Bus,
) {
    let mut health = DirectorHealth::default();
    let mut quorum = super::events::QuorumTracker::default();
    // The per-virtual quorum (`[virtual."..."] quorum`): the same pure
    // tracker as the quorum task, on this task's snapshots.
    let mut vquorum = super::quorum::Tracker::default();
    let mut installed: BTreeSet<IpAddr> = BTreeSet::new();
    let mut view = AnycastView {
        table: cfg.table,
        protocol: cfg.protocol,
        ..Default::default()
    };
    let mut last_resync = Instant::now();
    let mut last_bird: Option<Instant> = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = Instant::now();
        let (virtuals, phase, errors) = match status.lock() {
            Ok(s) => (s.virtuals.clone(), s.phase, s.kernel_errors),
            Err(p) => {
                let s = p.into_inner();
                (s.virtuals.clone(), s.phase, s.kernel_errors)
            }
        };
        let director = health.observe(phase, errors, now);
        let is_stopping = *stopping.borrow() || phase == Phase::Stopping;
        if now.duration_since(last_resync) >= RESYNC {
            last_resync = now;
            match routes.list().await {
                Ok(l) => installed = l.into_iter().collect(),
                Err(e) => tracing::warn!("anycast: reading routes: {e}"),
            }
        }
        if phase != Phase::Starting {
            vquorum.observe(&policies, &virtuals);
        }
        let decisions =
            decide_with_quorum(&cfg, &virtuals, &vquorum.lost(), &director, is_stopping);
        let mut vips = Vec::with_capacity(decisions.len());
        for (addr, why) in decisions {
            if let Some(lost) = quorum_judgement(why.as_ref()) {
                if let Some(ev) = quorum.observe(&addr.to_string(), lost.as_deref()) {
                    bus.emit(ev);
                }
            }
            let want = why.is_none();
            let have = installed.contains(&addr);
            if want && !have {
                match routes.add(addr).await {
                    Ok(_) => {
                        installed.insert(addr);
                        tracing::info!(vip = %addr, "anycast: announced");
                    }
                    Err(e) => tracing::error!("anycast: {e}"),
                }
            } else if !want && have {
                match routes.del(addr).await {
                    Ok(_) => {
                        installed.remove(&addr);
                        view.withdrawals += 1;
                        let reason = why.as_ref().map(ToString::to_string).unwrap_or_default();
                        tracing::warn!(vip = %addr, %reason, "anycast: withdrawn");
                    }
                    Err(e) => tracing::error!("anycast: {e}"),
                }
            }
            let announced = installed.contains(&addr);
            let reason = why.map(|w| w.to_string());
            let since = view
                .vips
                .iter()
                .find(|v| v.address == addr && v.announced == announced && v.reason == reason)
                .map_or_else(SystemTime::now, |v| v.since);
            vips.push(VipView {
                address: addr,
                announced,
                reason,
                since,
            });
        }
        view.vips = vips;
        if is_stopping && installed.is_empty() {
            let _ = withdrawn.send(true);
        }
        if let Some(sock) = &cfg.bird_socket {
            if last_bird.is_none_or(|t| now.duration_since(t) >= BIRD_EVERY) {
                last_bird = Some(now);
                match bird::sessions(sock, BIRD_LIMIT).await {
                    Ok(s) => {
                        view.sessions = s;
                        view.bird_error = None;
                    }
                    Err(e) => {
                        view.sessions.clear();
                        view.bird_error = Some(e.to_string());
                    }
                }
            }
        }
        match status.lock() {
            Ok(mut s) => s.anycast = Some(view.clone()),
            Err(p) => p.into_inner().anycast = Some(view.clone()),
        }
    }
    // The daemon is exiting: whatever happened, announce nothing.
    match routes.flush().await {
        Ok(gone) if !gone.is_empty() => tracing::info!(?gone, "anycast: withdrawn on exit"),
        Ok(_) => {}
        Err(e) => tracing::error!("anycast: withdrawing on exit: {e}"),
    }
    // Its rtnetlink connection task ends with it.
    routes.close().await;
}

#[cfg(test)]
#[path = "anycast_tests.rs"]
mod tests;
