//! Paired directors: authenticated heartbeats, the role state machine and
//! VIP takeover. May use: `model`, `wire`, `kernel`.
//!
//! [`run`] is the async runner: it owns the heartbeat links, feeds the pure
//! [`state::Machine`], performs its actions through [`takeover`] and
//! [`hooks`], and publishes the [`Role`] on a watch channel. The daemon
//! drives it with [`Control`] messages (`lvsd standby`, `lvsd takeover`,
//! health, status). `ha` decides who serves, never what the IPVS table holds.

pub mod auth;
pub mod hooks;
pub mod link;
pub mod ping_nodes;
pub mod state;
pub mod takeover;
pub mod track;

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::model::{HaConfig, Role, SyncState};
use crate::wire::heartbeat::{self, Heartbeat, PeerState};
use auth::{Authenticator, Counters, Reject};
use state::{Action, Command, Event, Input, Machine, Params, PeerInfo};
pub use takeover::{IpvsSync, NoSync, SyncDaemons};

/// Commands the daemon sends to a running HA runner.
#[derive(Debug)]
pub enum Control {
    /// `lvsd standby`: hand the VIPs to the peer and hold (hb_standby).
    Standby,
    /// `lvsd takeover`: take the VIPs from the peer (hb_takeover).
    Takeover,
    /// Local health (IPVS table programmable, daemon healthy); false hands
    /// the VIPs to a healthy peer.
    Health(bool),
    /// Report the current status.
    Status(oneshot::Sender<Status>),
}

/// Liveness of one heartbeat link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link name.
    pub name: String,
    /// The peer was heard on it within deadtime.
    pub alive: bool,
}

/// A snapshot for `lvsd status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// This node.
    pub node: String,
    /// Current role.
    pub role: Role,
    /// Operator standby in force.
    pub hold: bool,
    /// Healthy (daemon health and VIPs programmable).
    pub healthy: bool,
    /// Ping nodes reached.
    pub ping_reach: u16,
    /// Peer name once heard.
    pub peer: Option<String>,
    /// Peer alive on some link.
    pub peer_alive: bool,
    /// Per-link liveness.
    pub links: Vec<LinkStatus>,
    /// Packet counters (accepted, forged, replayed, ...).
    pub counters: Counters,
    /// Completed transitions since start.
    pub transitions: u64,
    /// Tracked objects at fault (`[ha] track_*`), each a sanitized
    /// reason; non-empty makes the node ineligible (not healthy).
    pub track_faults: Vec<String>,
}

/// Why the runner could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Key file missing, unreadable or too open.
    #[error(transparent)]
    Key(#[from] auth::KeyError),
    /// A link could not be opened.
    #[error("heartbeat link {name}{}: {source}", iface_note(interface.as_deref()))]
    Link {
        /// Link name.
        name: String,
        /// The interface it binds to, if any.
        interface: Option<String>,
        /// The socket error.
        source: std::io::Error,
    },
    /// A VIP names an interface this host does not have.
    #[error("VIP {vip}: interface {interface:?}: {source}")]
    VipInterface {
        /// The VIP.
        vip: String,
        /// The missing interface.
        interface: String,
        /// The lookup error.
        source: std::io::Error,
    },
    /// rtnetlink unavailable.
    #[error(transparent)]
    Addr(#[from] crate::kernel::addr::AddrError),
}

fn iface_note(i: Option<&str>) -> String {
    i.map(|i| format!(" (interface {i:?})")).unwrap_or_default()
}

/// Unix time in ms (0 if the clock is before 1970).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Most heartbeats handled before a due tick is judged (bounded so a flood
/// of forged packets cannot starve the timers).
const DRAIN_MAX: usize = 64;

/// Put the calling thread under SCHED_RR at `priority` (1..=99), as
/// heartbeat (`realtime on`) and keepalived (`vrrp_rt_priority`) do, so
/// heartbeats keep their rhythm on a saturated CPU. Run the HA runner on a
/// thread (or current-thread runtime) that called this. Needs CAP_SYS_NICE.
pub fn enter_realtime(priority: u8) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority.clamp(1, 99)),
    };
    // SCHED_RESET_ON_FORK: processes started from this thread (hooks,
    // track scripts) run at normal priority, so a spinning script cannot
    // starve the host at real-time priority.
    // SAFETY: nix wraps no sched_setscheduler (only affinity), so the
    // call is libc's: it reads a valid sched_param; pid 0 = this thread.
    let rc =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Channels to talk to a runner: give `control_rx`/`role_tx` to [`run`].
pub fn channels() -> (
    mpsc::Sender<Control>,
    mpsc::Receiver<Control>,
    watch::Sender<Role>,
    watch::Receiver<Role>,
) {
    let (ctx, crx) = mpsc::channel(16);
    let (rtx, rrx) = watch::channel(Role::Init);
    (ctx, crx, rtx, rrx)
}

struct Runner {
    cfg: HaConfig,
    machine: Machine,
    auth: Authenticator,
    links: Vec<link::Link>,
    generation: u64,
    seq: u64,
    /// Wanted VIP state, applied by the takeover worker.
    want_tx: Option<watch::Sender<(u64, takeover::Want)>>,
    want: takeover::Want,
    /// Number of the latest wish (hooks wait until it is applied).
    want_seq: u64,
    /// Counts `Hold` wishes so each asks for a fresh announcement.
    holds: u64,
    /// Wanted sync-daemon state, applied by the sync worker.
    sync_tx: watch::Sender<Option<SyncState>>,
    role_tx: watch::Sender<Role>,
    hook_tx: mpsc::Sender<(Role, Role, u64)>,
    daemon_healthy: bool,
    vips_ok: bool,
    /// Tracked objects at fault (from the track shell).
    track_faults: Vec<String>,
    peer_name: Option<String>,
    ping_reach: u16,
    transitions: u64,
    last_reject_log: Option<Instant>,
    /// Counts received-but-unprocessed heartbeats drained before a tick.
    drained: u64,
}

/// The HA subsystem with everything that can fail at start done: key
/// loaded and checked, links open, VIP interfaces present, rtnetlink open.
/// The daemon prepares it before it reports ready, so a broken `[ha]`
/// makes it refuse to start instead of serving without HA.
pub struct Prepared {
    cfg: HaConfig,
    key: Vec<u8>,
    links: Vec<link::Link>,
    tk: takeover::Takeover,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Prepared")
            .field("node", &self.cfg.node)
            .finish_non_exhaustive()
    }
}

/// Do the start-up work of [`run`] that can fail. Must be called inside
/// the tokio runtime that will run [`Prepared::run`] (the sockets belong
/// to it).
pub fn prepare(cfg: HaConfig) -> Result<Prepared, Error> {
    let key = auth::load_key(&cfg.key_file)?;
    let mut links = Vec::new();
    for l in &cfg.links {
        let opened = link::open(l).map_err(|source| Error::Link {
            name: l.name.clone(),
            interface: l.interface.clone(),
            source,
        })?;
        links.push(opened);
    }
    for v in &cfg.vips {
        nix::net::if_::if_nametoindex(v.interface.as_str()).map_err(|e| Error::VipInterface {
            vip: v.address.to_string(),
            interface: v.interface.clone(),
            source: e.into(),
        })?;
    }
    let tk = takeover::Takeover::new(cfg.vips.clone(), cfg.announce)?;
    Ok(Prepared {
        cfg,
        key,
        links,
        tk,
    })
}

/// Run the HA subsystem until `shutdown` completes: [`prepare`] then
/// [`Prepared::run`].
pub async fn run(
    cfg: HaConfig,
    sync: Box<dyn SyncDaemons>,
    control: mpsc::Receiver<Control>,
    role_tx: watch::Sender<Role>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    prepare(cfg)?.run(sync, control, role_tx, shutdown).await
}

impl Prepared {
    /// Run until `shutdown` completes. Publishes every role change on
    /// `role_tx`. On shutdown an active node tells its peer it is leaving
    /// (standby, held) and removes its VIPs; sync daemons are left
    /// running, like the IPVS table.
    pub async fn run(
        self,
        sync: Box<dyn SyncDaemons>,
        mut control: mpsc::Receiver<Control>,
        role_tx: watch::Sender<Role>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let Prepared {
            cfg,
            key,
            links,
            tk,
        } = self;
        let mut tasks = JoinSet::new();
        let (pkt_tx, mut pkt_rx) = mpsc::channel::<(usize, Vec<u8>)>(256);
        for (i, l) in links.iter().enumerate() {
            let sock = l.socket.clone();
            let tx = pkt_tx.clone();
            tasks.spawn(async move {
                let mut buf = [0u8; heartbeat::MAX_PACKET_LEN + 64];
                loop {
                    match sock.recv_from(&mut buf).await {
                        Ok((n, _)) => {
                            let pkt = buf.get(..n).unwrap_or_default().to_vec();
                            if tx.send((i, pkt)).await.is_err() {
                                return;
                            }
                        }
                        // ICMP errors surface here (port unreachable); keep going
                        // but do not spin.
                        Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            });
        }
        let (reach_tx, mut reach_rx) = watch::channel(0u16);
        let ping_on = !cfg.ping.nodes.is_empty();
        if ping_on {
            let pcfg = cfg.ping.clone();
            tasks.spawn(async move {
                if let Err(e) = ping_nodes::run(pcfg, reach_tx).await {
                    tracing::error!(error = %e, "ping nodes stopped");
                }
            });
        }
        let track_on = !cfg.track.is_empty();
        let mut track_rx = if track_on {
            track::spawn(&cfg.track, &mut tasks)
        } else {
            watch::channel(Vec::new()).1
        };
        let (applied_tx, applied_rx) = watch::channel::<u64>(0);
        let (hook_tx, mut hook_rx) = mpsc::channel::<(Role, Role, u64)>(32);
        {
            let hooks = cfg.hooks.clone();
            let node = cfg.node.clone();
            let mut applied_rx = applied_rx;
            // One worker so hooks of successive transitions run in order, each
            // after the takeover worker has moved the VIPs for it (bounded).
            tasks.spawn(async move {
                while let Some((new, old, seq)) = hook_rx.recv().await {
                    let moved = applied_rx.wait_for(|a| *a >= seq);
                    if tokio::time::timeout(2 * takeover::NETLINK_TIMEOUT, moved)
                        .await
                        .is_err()
                    {
                        tracing::warn!(
                            role = hooks::role_word(new),
                            "vips not settled; running hooks anyway"
                        );
                    }
                    hooks::run_all(&hooks, &node, new, old).await;
                }
            });
        }
        // Sync-daemon changes go through the (synchronous) IPVS client and the
        // kernel may take seconds to stop a sync thread; a worker on the
        // blocking pool applies the latest wanted state so the heartbeat loop
        // never waits for it.
        let (sync_tx, mut sync_rx) = watch::channel::<Option<SyncState>>(None);
        if let Some(sd) = cfg.sync_daemon.clone() {
            tasks.spawn(async move {
                let mut sync = Some(sync);
                while sync_rx.changed().await.is_ok() {
                    let Some(state) = *sync_rx.borrow_and_update() else {
                        continue;
                    };
                    let Some(mut s) = sync.take() else { return };
                    let mut want = sd.clone();
                    want.state = state;
                    let done = tokio::task::spawn_blocking(move || {
                        let r = s.set(state, &want);
                        (s, r)
                    })
                    .await;
                    match done {
                        Ok((s, r)) => {
                            sync = Some(s);
                            match r {
                                Ok(()) => tracing::info!(?state, "sync daemon set"),
                                Err(e) => {
                                    tracing::error!(?state, error = %e, "sync daemon change failed")
                                }
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "sync daemon worker failed");
                            return;
                        }
                    }
                }
            });
        }
        // VIP changes go through rtnetlink, which can be slow or (rarely) lose
        // an answer; a worker applies the latest wish with timeouts so the
        // heartbeat loop never waits for it.
        let (want_tx, want_rx) = watch::channel((0, takeover::Want::Release));
        let (vip_tx, mut vip_rx) = mpsc::channel::<(takeover::Want, bool)>(16);
        let vip_worker = tokio::spawn(takeover::worker(
            tk,
            want_rx,
            vip_tx,
            applied_tx,
            Duration::from_secs(1),
            cfg.timings.keepalive,
        ));
        let generation = auth::boot_generation();
        let params = Params {
            node: cfg.node.clone(),
            priority: cfg.priority,
            timings: cfg.timings,
            auto_failback: cfg.auto_failback,
            failback_delay: cfg.failback_delay,
            links: cfg.links.len(),
            generation,
            epoch_ms: unix_ms(),
        };
        let mut r = Runner {
            machine: Machine::new(params, Instant::now()),
            auth: Authenticator::new(key, &cfg.node),
            links,
            generation,
            seq: 0,
            want_tx: Some(want_tx),
            want: takeover::Want::Release,
            want_seq: 0,
            holds: 0,
            sync_tx,
            role_tx,
            hook_tx,
            daemon_healthy: true,
            vips_ok: true,
            track_faults: track_rx.borrow_and_update().clone(),
            peer_name: None,
            ping_reach: 0,
            transitions: 0,
            last_reject_log: None,
            drained: 0,
            cfg,
        };
        tracing::info!(node = %r.cfg.node, generation = r.generation, "ha starting in init");
        // The worker starts by releasing: a crash may have left VIPs behind and
        // the peer may own them by now.
        r.set_sync(SyncState::Backup);
        let _ = r.role_tx.send(Role::Init);
        if !r.healthy() {
            // A tracked object already at fault: never eligible from the start.
            r.apply(Input::Health(false));
        }
        r.send_heartbeat();

        let keepalive = r.cfg.timings.keepalive;
        let mut next_send = tokio::time::Instant::now() + keepalive;
        tokio::pin!(shutdown);
        loop {
            let deadline = r
                .machine
                .next_deadline(Instant::now())
                .map(tokio::time::Instant::from_std);
            let (input, woke) = tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep_until(next_send) => {
                    let now = tokio::time::Instant::now();
                    let late = now.saturating_duration_since(next_send);
                    if late > keepalive {
                        tracing::warn!(late_ms = late.as_millis() as u64, "heartbeat send ran late (CPU starved?)");
                    }
                    r.send_heartbeat();
                    next_send += keepalive;
                    if next_send < now {
                        next_send = now + keepalive;
                    }
                    // Also tick on every send: timeouts are judged at least once
                    // per keepalive even if a deadline wake-up were lost.
                    (Some(Input::Tick), now)
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                    (Some(Input::Tick), tokio::time::Instant::now())
                }
                Some((i, buf)) = pkt_rx.recv() => (r.packet(i, &buf), tokio::time::Instant::now()),
                Some(c) = control.recv() => (r.control(c), tokio::time::Instant::now()),
                Some((want, ok)) = vip_rx.recv() => (r.vip_report(want, ok), tokio::time::Instant::now()),
                Ok(()) = track_rx.changed(), if track_on => {
                    let was = r.healthy();
                    r.track_faults = track_rx.borrow_and_update().clone();
                    ((was != r.healthy()).then(|| Input::Health(r.healthy())), tokio::time::Instant::now())
                }
                Ok(()) = reach_rx.changed(), if ping_on => {
                    r.ping_reach = *reach_rx.borrow();
                    tracing::info!(reach = r.ping_reach, "ping nodes reachable");
                    (Some(Input::PingReach(r.ping_reach)), tokio::time::Instant::now())
                }
            };
            if input == Some(Input::Tick) {
                // Judge timeouts only after what already arrived: a heartbeat
                // waiting in the queue must not be declared missing.
                for _ in 0..DRAIN_MAX {
                    let Ok((i, buf)) = pkt_rx.try_recv() else {
                        break;
                    };
                    r.drained += 1;
                    if let Some(heard) = r.packet(i, &buf) {
                        r.apply(heard);
                    }
                }
            }
            if let Some(input) = input {
                r.apply(input);
            }
            let took = woke.elapsed();
            if took > keepalive {
                tracing::warn!(
                    took_ms = took.as_millis() as u64,
                    "ha loop iteration took longer than keepalive"
                );
            }
        }
        r.leave();
        // The worker exits after applying the release `leave` asked for.
        if tokio::time::timeout(2 * takeover::NETLINK_TIMEOUT, vip_worker)
            .await
            .is_err()
        {
            tracing::error!("vip release at shutdown did not finish");
        }
        // Links, ping, track and the sync worker: stopped and awaited.
        tasks.shutdown().await;
        Ok(())
    }
}

impl Runner {
    fn set_sync(&mut self, state: SyncState) {
        // Only the latest wish matters; the worker catches up.
        let _ = self.sync_tx.send(Some(state));
    }

    fn send_heartbeat(&mut self) {
        self.send_with(|_| {});
    }

    fn send_with(&mut self, tweak: impl Fn(&mut Heartbeat)) {
        for (i, l) in self.links.iter().enumerate() {
            self.seq += 1;
            let mut hb = Heartbeat {
                state: PeerState::Init,
                healthy: false,
                hold: false,
                takeover_request: false,
                priority: 0,
                generation: self.generation,
                seq: self.seq,
                active_since_ms: 0,
                echo_generation: 0,
                ping_reach: 0,
                link: u8::try_from(i).unwrap_or(u8::MAX),
                node: self.cfg.node.clone(),
            };
            self.machine.stamp(&mut hb);
            tweak(&mut hb);
            match heartbeat::encode(&hb, self.auth.key()) {
                Ok(pkt) => {
                    l.send(&pkt);
                }
                Err(e) => tracing::error!(error = %e, "cannot encode heartbeat"),
            }
        }
    }

    fn packet(&mut self, link: usize, buf: &[u8]) -> Option<Input> {
        match self.auth.check(buf) {
            Ok(hb) => {
                if self.peer_name.as_deref() != Some(hb.node.as_str()) {
                    self.peer_name = Some(hb.node.clone());
                }
                Some(Input::Heard {
                    link,
                    info: PeerInfo::from(&hb),
                })
            }
            Err(Reject::Own) => None,
            Err(e) => {
                let now = Instant::now();
                let quiet = self
                    .last_reject_log
                    .is_some_and(|t| now.duration_since(t) < Duration::from_secs(5));
                if !quiet {
                    self.last_reject_log = Some(now);
                    tracing::warn!(link = %self.cfg.links.get(link).map_or("?", |l| l.name.as_str()), error = %e, counters = ?self.auth.counters(), "heartbeat dropped");
                }
                None
            }
        }
    }

    fn control(&mut self, c: Control) -> Option<Input> {
        match c {
            Control::Standby => {
                tracing::info!("operator standby requested");
                Some(Input::Command(Command::Standby))
            }
            Control::Takeover => {
                tracing::info!("operator takeover requested");
                Some(Input::Command(Command::Takeover))
            }
            Control::Health(h) => {
                self.daemon_healthy = h;
                Some(Input::Health(self.healthy()))
            }
            Control::Status(tx) => {
                let _ = tx.send(self.status());
                None
            }
        }
    }

    fn healthy(&self) -> bool {
        self.daemon_healthy && self.vips_ok && self.track_faults.is_empty()
    }

    /// Status snapshot.
    fn status(&self) -> Status {
        Status {
            node: self.cfg.node.clone(),
            role: self.machine.role(),
            hold: self.machine.hold(),
            healthy: self.healthy(),
            ping_reach: self.ping_reach,
            peer: self.peer_name.clone(),
            peer_alive: self.machine.peer_alive(),
            links: self
                .cfg
                .links
                .iter()
                .zip(self.machine.links_alive())
                .map(|(l, alive)| LinkStatus {
                    name: l.name.clone(),
                    alive,
                })
                .collect(),
            counters: self.auth.counters(),
            transitions: self.transitions,
            track_faults: self.track_faults.clone(),
        }
    }

    /// The takeover worker's outcome for `want`; stale reports (for a wish
    /// since replaced) are ignored.
    fn vip_report(&mut self, want: takeover::Want, ok: bool) -> Option<Input> {
        if want != self.want || self.machine.role() != Role::Active {
            return None;
        }
        let was = self.healthy();
        self.vips_ok = ok;
        (was != self.healthy()).then(|| Input::Health(self.healthy()))
    }

    fn set_want(&mut self, want: takeover::Want) {
        self.want = want;
        self.want_seq += 1;
        if let Some(tx) = &self.want_tx {
            let _ = tx.send((self.want_seq, want));
        }
    }

    fn hold_vips(&mut self) {
        self.holds += 1;
        self.set_want(takeover::Want::Hold(self.holds));
    }

    /// Step the machine and perform its actions. Never awaits: slow work
    /// (rtnetlink, sync daemons, hooks) belongs to the workers.
    fn apply(&mut self, input: Input) {
        let mut queue: VecDeque<Action> = self.machine.step(input, Instant::now()).into();
        // Bounded: each action yields at most one further input.
        let mut budget = 32;
        while let Some(a) = queue.pop_front() {
            budget -= 1;
            if budget == 0 {
                tracing::error!("ha action loop did not settle");
                break;
            }
            let more = self.act(a);
            if let Some(input) = more {
                queue.extend(self.machine.step(input, Instant::now()));
            }
        }
    }

    fn act(&mut self, a: Action) -> Option<Input> {
        match a {
            Action::SendNow => {
                self.send_heartbeat();
                None
            }
            Action::Event(e) => {
                log_event(&e);
                None
            }
            Action::Reannounce => {
                if self.machine.role() == Role::Active {
                    tracing::info!("announcing the VIPs again after winning a split brain");
                    self.hold_vips();
                }
                None
            }
            Action::BecomeActive(why) => {
                let old = *self.role_tx.borrow();
                tracing::warn!(reason = why, "becoming active: taking over VIPs");
                // The worker reports a failed add as unhealthy.
                self.hold_vips();
                self.set_sync(SyncState::Master);
                self.publish(Role::Active, old);
                None
            }
            Action::BecomeStandby(why) => {
                let old = *self.role_tx.borrow();
                tracing::warn!(reason = why, "becoming standby: releasing VIPs");
                self.set_want(takeover::Want::Release);
                // A failed add is not our problem any more.
                let was = self.healthy();
                self.vips_ok = true;
                self.set_sync(SyncState::Backup);
                self.publish(Role::Standby, old);
                (was != self.healthy()).then(|| Input::Health(self.healthy()))
            }
        }
    }

    fn publish(&mut self, new: Role, old: Role) {
        self.transitions += 1;
        let _ = self.role_tx.send(new);
        if self.hook_tx.try_send((new, old, self.want_seq)).is_err() {
            tracing::warn!("hook queue full; hooks for this transition skipped");
        }
    }

    fn leave(&mut self) {
        if self.machine.role() == Role::Active {
            // Tell the peer to take over now rather than after deadtime.
            self.send_with(|hb| {
                hb.state = PeerState::Standby;
                hb.hold = true;
                hb.healthy = false;
            });
            let _ = self.role_tx.send(Role::Standby);
        }
        // Release (the worker applies it, then ends as the sender drops).
        self.set_want(takeover::Want::Release);
        self.want_tx = None;
        tracing::info!(counters = ?self.auth.counters(), drained = self.drained, "ha stopped");
    }
}

fn log_event(e: &Event) {
    match e {
        Event::PeerUp(n) => tracing::info!(peer = %n, "peer up"),
        Event::PeerDead(n) => {
            tracing::warn!(peer = %n, "peer dead: no heartbeat on any link for deadtime")
        }
        Event::LinkUp(l) => tracing::info!(link = l, "link up"),
        Event::LinkDead(l) => tracing::warn!(link = l, "link dead"),
        Event::LateHeartbeat(d) => {
            tracing::warn!(silence_ms = d.as_millis() as u64, "late heartbeat")
        }
        Event::InitDeadExpired => tracing::info!("initdead expired without hearing the peer"),
        Event::SplitBrain {
            winner,
            loser,
            rule,
        } => tracing::warn!(
            %winner, %loser, rule,
            "split brain: both nodes were active; {winner} stays active, {loser} goes standby ({rule})"
        ),
        Event::PeerTakeover(n) => {
            tracing::warn!(peer = %n, "peer requested takeover; holding in standby")
        }
        Event::PeerUnproven(n) => tracing::warn!(
            peer = %n,
            "heartbeats from the peer do not echo this boot (it does not hear us, or they were sent before this restart): not counted as alive"
        ),
    }
}
