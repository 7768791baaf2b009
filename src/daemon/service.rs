//! One daemon instance, mini-redis style: spawn the control socket, the
//! metrics listener and the engine, route signals, and on shutdown stop
//! every task and wait for it (bounded). Never flushes IPVS.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::ha;
use crate::kernel::NetlinkIpvs;
use crate::model::{AnycastConfig, EventHook, HaConfig, Role, SocketAccess};

use super::access;
use super::anycast;
use super::control;
use super::engine::{CheckReport, CheckRunner, Engine, EngineError, Loader, SharedIpvs};
use super::event_hooks;
use super::events::{Bus, EventData};
use super::metrics::{self, Page, Render};
use super::overrides;
use super::pidfile::PidFile;
use super::plan::Plan;
use super::status::Status;
use super::systemd;
use super::web;

/// Where the daemon listens and what it writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config file (already located).
    pub config: PathBuf,
    /// Pid file to write, if any.
    pub pid_file: Option<PathBuf>,
    /// Control socket.
    pub socket: PathBuf,
    /// Metrics and status HTTP listener (None: off).
    pub metrics: Option<SocketAddr>,
    /// Paired-director settings (`[ha]` of lvsd.toml), if any.
    pub ha: Option<HaConfig>,
    /// Period of the resync (`[daemon] resync_ms`; zero: off).
    pub resync: Duration,
    /// Announced VIPs (`[anycast]` of lvsd.toml), if any.
    pub anycast: Option<AnycastConfig>,
    /// `[[hook]]`s run on events.
    pub hooks: Vec<EventHook>,
    /// Mode, group and write group of the control socket.
    pub access: SocketAccess,
    /// Where runtime state is kept (`[daemon] state_dir`): the overrides
    /// of `lvsd drain|weight` in `STATE_DIR/overrides`.
    pub state_dir: PathBuf,
    /// `[virtual."..."]` sections of lvsd.toml.
    pub virtuals: Vec<crate::config::policy::VirtualPolicy>,
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The control socket could not be bound.
    #[error("control socket {path}: {source}")]
    Socket {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The pid file could not be written.
    #[error("pid file {path}: {source}")]
    PidFile {
        /// Pid file path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Installing a signal handler failed.
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    /// The engine stopped with an error (first table read failed); the
    /// kernel's errno is kept.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// `[ha]` is configured but cannot start (key file, link, interface):
    /// the daemon refuses to run rather than serve without its peer.
    #[error("HA cannot start: {0}")]
    Ha(#[from] ha::Error),
    /// The HA thread or its runtime could not be started.
    #[error("HA cannot start: {0}")]
    HaThread(std::io::Error),
    /// A group of the control socket's settings does not exist.
    #[error("{0}")]
    Access(#[from] access::Error),
}

/// Run the daemon until `shutdown` completes or SIGTERM/SIGINT arrives.
pub async fn run(
    opts: Options,
    plan: Plan,
    loader: Loader,
    ipvs: SharedIpvs,
    make_runner: impl FnOnce(mpsc::Sender<CheckReport>) -> Arc<dyn CheckRunner>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let socket_gid = match &opts.access.group {
        Some(g) => Some(access::resolve_group("socket_group", g)?),
        None => None,
    };
    let policy = access::Policy {
        daemon_uid: nix::unistd::geteuid().as_raw(),
        write_gid: match &opts.access.write_group {
            Some(g) => Some(access::resolve_group("write_group", g)?),
            None => None,
        },
    };
    let listener = control::bind_with(&opts.socket, opts.access.mode, socket_gid)
        .await
        .map_err(|source| Error::Socket {
            path: opts.socket.clone(),
            source,
        })?;
    let _pid = match &opts.pid_file {
        Some(p) => Some(PidFile::create(p).map_err(|source| Error::PidFile {
            path: p.clone(),
            source,
        })?),
        None => None,
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    // The event bus, with the [[hook]] runner as its sink.
    let bus = if opts.hooks.is_empty() {
        Bus::new(None)
    } else {
        let (sink, _hooks, task) = event_hooks::start(opts.hooks.clone(), stop_rx.clone());
        tasks.push(task);
        Bus::new(Some(sink))
    };
    // HA first: a broken [ha] (key file mode, missing key, bad interface)
    // must stop the daemon before it reports ready.
    let ha_started = match opts.ha.clone() {
        Some(cfg) => Some(spawn_ha(cfg, stop_rx.clone(), bus.clone()).await?),
        None => None,
    };
    let status = Arc::new(Mutex::new(Status::new(opts.config.display().to_string())));
    // Before the engine touches anything: clear routes a crashed run left.
    let announcer = match opts.anycast.clone() {
        Some(cfg) => {
            match anycast::start(
                cfg,
                opts.virtuals.clone(),
                status.clone(),
                stop_rx.clone(),
                bus.clone(),
            )
            .await
            {
                Some((a, task)) => {
                    tasks.push(task);
                    Some(a)
                }
                None => None,
            }
        }
        None => None,
    };
    // The engine's stop signal, created early so the quorum runner stops
    // with the engine: its commands drain while the engine drains its
    // hooks, instead of after.
    let (eng_stop_tx, eng_stop_rx) = watch::channel(false);
    if opts.virtuals.iter().any(|v| v.quorum.is_some()) {
        tasks.push(tokio::spawn(super::quorum::run(
            opts.virtuals.clone(),
            status.clone(),
            eng_stop_rx.clone(),
            bus.clone(),
        )));
    }
    let (req_tx, req_rx) = mpsc::channel(16);
    let (rep_tx, rep_rx) = mpsc::channel(4096);
    let (hup_tx, hup_rx) = mpsc::channel(1);

    let (ready_tx, ready_rx) = watch::channel(false);
    tasks.push(tokio::spawn(control::serve_with(
        listener,
        opts.socket.clone(),
        req_tx.clone(),
        ready_rx,
        stop_rx.clone(),
        policy,
    )));
    // The HA status for the status page (None: single director).
    let (ha_tx, ha_rx) = watch::channel(None);
    if let Some(addr) = opts.metrics {
        // A busy metrics port must not stop load balancing: log and go on.
        match metrics::bind(addr).await {
            Ok(l) => {
                let events: web::SharedEvents = Arc::default();
                tasks.push(tokio::spawn(web::record(
                    status.clone(),
                    events.clone(),
                    Some(ha_rx.clone()),
                    stop_rx.clone(),
                )));
                let render = renderer(status.clone(), ipvs.clone(), events, ha_rx);
                tasks.push(tokio::spawn(metrics::serve_full(
                    l,
                    render,
                    Some(bus.clone()),
                    stop_rx.clone(),
                    metrics::Limits::from_env(),
                )));
            }
            Err(e) => tracing::error!(%addr, error = %e, "metrics listener disabled"),
        }
    }

    let mut hup = signal(SignalKind::hangup()).map_err(Error::Signal)?;
    let mut term = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    let runner = make_runner(rep_tx);
    let state_file = opts.state_dir.join(overrides::STATE_FILE);
    let saved = load_overrides(&state_file).await;
    let mut engine = Engine::new(opts.config.clone(), loader, plan, ipvs, runner, status)
        .with_resync(opts.resync)
        .with_events(bus.clone())
        .with_quorum_policies(&opts.virtuals)
        .with_overrides(saved, Some(state_file))
        .with_requests(req_tx.clone());
    if let (Ok(exe), Some(dir)) = (std::env::current_exe(), opts.socket.parent()) {
        engine = engine.with_instances(exe, dir.to_path_buf());
    }
    let ha_thread = match ha_started {
        Some((ctl, thread, logger)) => {
            if opts.metrics.is_some() {
                tasks.push(tokio::spawn(web::poll_ha(
                    ctl.clone(),
                    ha_tx,
                    stop_rx.clone(),
                )));
            }
            engine = engine.with_ha(ctl);
            Some((thread, logger))
        }
        None => None,
    };
    let config = opts.config.display().to_string();
    let mut engine_task =
        tokio::spawn(engine.run(rep_rx, req_rx, hup_rx, eng_stop_rx, move || {
            tracing::info!(config = %config, "initial table applied; ready");
            systemd::ready("running");
            let _ = ready_tx.send(true);
        }));
    tokio::pin!(shutdown);
    // With announced VIPs a stop first withdraws them and keeps serving for
    // the drain time (routers move the flows away); a second signal during
    // the drain stops at once.
    let mut draining: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> = None;
    let announcer = announcer.map(Arc::new);
    let begin_stop = |draining: &mut Option<_>| match (&announcer, draining.is_some()) {
        (Some(a), false) => {
            let a = a.clone();
            *draining = Some(Box::pin(async move { a.withdraw_and_drain().await })
                as std::pin::Pin<Box<dyn Future<Output = ()> + Send>>);
        }
        _ => {
            let _ = eng_stop_tx.send(true);
        }
    };
    let engine_result = loop {
        tokio::select! {
            r = &mut engine_task => break r,
            _ = hup.recv() => {
                // A full queue means a reload is pending already.
                let _ = hup_tx.try_send(());
            }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); begin_stop(&mut draining); }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); begin_stop(&mut draining); }
            _ = &mut shutdown => { begin_stop(&mut draining); }
            _ = async { if let Some(d) = draining.as_mut() { d.await } }, if draining.is_some() => {
                draining = None;
                let _ = eng_stop_tx.send(true);
            }
        }
    };
    let _ = stop_tx.send(true);
    // One deadline for all tasks (not one each: the stop stays bounded
    // however many there are), longer than the hook and quorum runners'
    // own stop grace so they kill their process groups and log it first.
    let deadline = tokio::time::Instant::now() + TASK_STOP;
    for mut t in tasks {
        // A task that does not end in time is aborted, not detached: what
        // it owns (connections, process groups) goes with it now.
        if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
            t.abort();
            let _ = t.await;
        }
    }
    if let Some((t, mut logger)) = ha_thread {
        // The runner releases the VIPs on its way out; give it a moment.
        let join = tokio::task::spawn_blocking(move || t.join());
        if tokio::time::timeout(Duration::from_secs(10), join)
            .await
            .is_err()
        {
            tracing::warn!("HA runner did not stop in time");
        }
        // Its last role change is logged and emitted; then the logger ends.
        if tokio::time::timeout(Duration::from_secs(1), &mut logger)
            .await
            .is_err()
        {
            logger.abort();
        }
    }
    match engine_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::Engine(e)),
        Err(e) => Err(Error::Engine(EngineError::Task(e))),
    }
}

/// How long the daemon's tasks get to end after the stop signal before
/// they are aborted (hooks get 5 s of it, quorum commands 2 s).
const TASK_STOP: Duration = Duration::from_secs(6);

/// The overrides saved by an earlier run. A bad line is logged with
/// `file:line` and skipped; an unreadable file is logged and no override
/// applies (the config alone decides), but the daemon runs.
async fn load_overrides(path: &std::path::Path) -> overrides::Overrides {
    let p = path.to_path_buf();
    let res = tokio::task::spawn_blocking(move || overrides::load(&p)).await;
    match res {
        Ok(Ok(l)) => {
            for e in &l.errors {
                tracing::error!("overrides: {e}");
            }
            if !l.overrides.is_empty() {
                tracing::info!(
                    overrides = l.overrides.len(),
                    file = %path.display(),
                    "runtime overrides restored"
                );
            }
            l.overrides
        }
        Ok(Err(e)) => {
            tracing::error!("overrides: {e}; starting without overrides");
            Default::default()
        }
        Err(e) => {
            tracing::error!("overrides: {e}; starting without overrides");
            Default::default()
        }
    }
}

/// The metrics page: the engine's status plus fresh kernel counters.
fn renderer(
    status: Arc<Mutex<Status>>,
    ipvs: SharedIpvs,
    events: web::SharedEvents,
    ha: watch::Receiver<Option<crate::ha::Status>>,
) -> Render {
    Arc::new(move |page| {
        let status = status.clone();
        let ipvs = ipvs.clone();
        let events = events.clone();
        let ha = ha.borrow().clone();
        Box::pin(async move {
            let table = tokio::task::spawn_blocking(move || ipvs.table().ok())
                .await
                .ok()
                .flatten();
            let mut st = match status.lock() {
                Ok(s) => s.clone(),
                Err(p) => p.into_inner().clone(),
            };
            let now = SystemTime::now();
            // Record what this snapshot shows before serving it, so the
            // event list never lags the health it sits next to (the
            // recorder alone ticks every RECORD_EVERY).
            let ev = match page {
                Page::Json => {
                    let mut ev = match events.lock() {
                        Ok(e) => e,
                        Err(p) => p.into_inner(),
                    };
                    ev.observe(&st, ha.as_ref(), now);
                    ev.list()
                }
                _ => Vec::new(),
            };
            if let Some(t) = &table {
                st.merge_kernel(t);
            }
            match page {
                Page::Metrics => st.render_prometheus(),
                Page::Status | Page::Html => st.render_text(SystemTime::now()),
                Page::Json => web::render_json(&st, ha.as_ref(), &ev, now),
            }
        })
    })
}

/// The HA runner once started: its control channel, its thread, and the
/// task logging its role changes.
type HaStarted = (
    mpsc::Sender<ha::Control>,
    std::thread::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
);

/// Run the HA subsystem on its own thread and runtime, so a busy check or
/// reconcile never delays a heartbeat (and it can run SCHED_RR with
/// `rt_priority`). Returns the control channel and the thread once the
/// runner is prepared, or why it could not start.
async fn spawn_ha(
    cfg: HaConfig,
    mut stop: watch::Receiver<bool>,
    bus: Bus,
) -> Result<HaStarted, Error> {
    let (ctl, ctl_rx, role_tx, mut role_rx) = ha::channels();
    let (prep_tx, prep_rx) = tokio::sync::oneshot::channel::<Result<(), ha::Error>>();
    let thread = std::thread::Builder::new()
        .name("lvsd-ha".into())
        .spawn(move || {
            if let Some(p) = cfg.rt_priority.filter(|p| *p > 0) {
                if let Err(e) = ha::enter_realtime(p) {
                    tracing::warn!(error = %e, "HA thread stays at normal priority");
                }
            }
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "HA runtime failed");
                    return;
                }
            };
            // The sync daemons follow the role on the director's own IPVS.
            let sync: Box<dyn ha::SyncDaemons> = match NetlinkIpvs::new() {
                Ok(n) => Box::new(ha::IpvsSync(n)),
                Err(e) => {
                    tracing::warn!(error = %e, "no IPVS for sync daemons");
                    Box::new(ha::NoSync)
                }
            };
            let res = rt.block_on(async move {
                let prepared = match ha::prepare(cfg) {
                    Ok(p) => {
                        let _ = prep_tx.send(Ok(()));
                        p
                    }
                    Err(e) => {
                        let _ = prep_tx.send(Err(e));
                        return Ok(());
                    }
                };
                prepared
                    .run(sync, ctl_rx, role_tx, async move {
                        let _ = stop.changed().await;
                    })
                    .await
            });
            if let Err(e) = res {
                tracing::error!("HA runner failed: {e}");
            }
        });
    let thread = match thread {
        Ok(t) => t,
        Err(e) => return Err(Error::HaThread(e)),
    };
    match prep_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            return Err(Error::Ha(e));
        }
        // The thread ended without a word (its runtime could not start).
        Err(_) => {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            return Err(Error::HaThread(std::io::Error::other(
                "HA thread ended during start",
            )));
        }
    }
    // Log role changes, show them in `systemctl status`, emit the event.
    // It ends with the HA runner (its sender goes); `run` awaits it after
    // the HA thread.
    let logger = tokio::spawn(async move {
        let mut old: Role = *role_rx.borrow();
        while role_rx.changed().await.is_ok() {
            let role: Role = *role_rx.borrow();
            tracing::info!(?role, "HA role changed");
            systemd::status(&format!("running, HA role {role:?}"));
            if role != old {
                bus.emit(EventData::role_changed(role, old));
                old = role;
            }
        }
    });
    Ok((ctl, thread, logger))
}
