//! The HA role state machine: pure, clock injected. `step(input, now)` moves
//! the machine and returns the actions the runner must perform (add or remove
//! VIPs, send a heartbeat now, log an event). No sockets, no tokio.
//!
//! Rules (documented in `docs/ha-protocol.md`):
//! - Freshness: only a report that echoes this node's current generation
//!   counts (it was sent after the peer heard this boot). Others (queued
//!   by the kernel while this node was away, replayed by an attacker after
//!   a restart, or sent over a link on which the peer cannot hear us) only
//!   teach us the peer's generation to echo; they never make the peer
//!   alive, keep a link up or change what we know of its state.
//! - The peer is alive while any link carried a fresh report within
//!   `deadtime`; a dead peer makes this node active (after `initdead` at
//!   start).
//! - Reports apply in sequence order: an older packet arriving late only
//!   proves its link is up.
//! - An active node keeps the VIPs unless its peer is better: eligible
//!   (healthy and not held) when it is not, reaches more ping nodes, asked
//!   for takeover, or (auto_failback) has a higher priority and has been a
//!   standby paired with us for `failback_delay`. The standby waits for the
//!   active to step down.
//! - Two non-active nodes elect by rank: eligible, ping reach, takeover
//!   request, priority, then the lexically smaller name.
//! - Two active nodes (split brain healed) keep the higher rank, where the
//!   incumbent (earlier `active since`, a wall-clock stamp both nodes see
//!   identically) ranks after takeover request and before priority; the
//!   loser steps down at once, the winner re-announces its VIPs, both log
//!   the rule once.

use std::cmp::{Ordering, Reverse};
use std::time::{Duration, Instant};

use crate::model::{Role, Timings};
use crate::wire::heartbeat::{Heartbeat, PeerState};

/// Fixed parameters of the machine.
#[derive(Debug, Clone)]
pub struct Params {
    /// This node's name.
    pub node: String,
    /// This node's priority.
    pub priority: u8,
    /// Heartbeat timings.
    pub timings: Timings,
    /// Return the VIPs to the higher-priority node.
    pub auto_failback: bool,
    /// How long the higher-priority node must be up before failback.
    pub failback_delay: Duration,
    /// Number of heartbeat links.
    pub links: usize,
    /// This boot's generation (what the peer echoes back).
    pub generation: u64,
    /// Unix ms at the machine's start instant: `active since` stamps are
    /// derived from it, so a later clock step cannot change them.
    pub epoch_ms: u64,
}

/// What the peer last told us about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its node name.
    pub node: String,
    /// Its role.
    pub state: PeerState,
    /// It can serve.
    pub healthy: bool,
    /// An operator put it in standby.
    pub hold: bool,
    /// It asks us to stand down.
    pub takeover_request: bool,
    /// Its priority.
    pub priority: u8,
    /// Ping nodes it reaches.
    pub ping_reach: u16,
    /// Its boot generation.
    pub generation: u64,
    /// Our generation as it last heard it (0: it has not heard us).
    pub echo: u64,
    /// Unix ms its current active period began (0: not active).
    pub active_since_ms: u64,
    /// The packet's sequence number (reports apply in this order).
    pub seq: u64,
}

impl From<&Heartbeat> for PeerInfo {
    fn from(h: &Heartbeat) -> Self {
        PeerInfo {
            node: h.node.clone(),
            state: h.state,
            healthy: h.healthy,
            hold: h.hold,
            takeover_request: h.takeover_request,
            priority: h.priority,
            ping_reach: h.ping_reach,
            generation: h.generation,
            echo: h.echo_generation,
            active_since_ms: h.active_since_ms,
            seq: h.seq,
        }
    }
}

/// An operator command (`lvsd standby`, `lvsd takeover`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Give the VIPs to the peer and do not take them back while it lives.
    Standby,
    /// Take the VIPs from the peer (the peer then holds in standby).
    Takeover,
}

/// One input to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passed; check timers.
    Tick,
    /// An authenticated, fresh heartbeat arrived on link `link`.
    Heard {
        /// Index of the receiving link.
        link: usize,
        /// The sender's report.
        info: PeerInfo,
    },
    /// Local health changed (table programmable, daemon healthy).
    Health(bool),
    /// Number of reachable ping nodes changed.
    PingReach(u16),
    /// An operator command.
    Command(Command),
}

/// Something worth a log line (and a test assertion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer was heard after silence.
    PeerUp(String),
    /// Every link was silent for deadtime.
    PeerDead(String),
    /// A link carried a heartbeat after silence.
    LinkUp(usize),
    /// A link was silent for deadtime (others may still be up).
    LinkDead(usize),
    /// No heartbeat for warntime.
    LateHeartbeat(Duration),
    /// initdead passed without hearing the peer.
    InitDeadExpired,
    /// Both nodes were active; `winner` keeps the VIPs.
    SplitBrain {
        /// Node that stays active.
        winner: String,
        /// Node that steps down.
        loser: String,
        /// The rule that decided.
        rule: &'static str,
    },
    /// The peer asked us to stand down; we now hold in standby.
    PeerTakeover(String),
    /// Authentic reports that do not echo this boot arrive (one-way link,
    /// or packets from before our restart): the peer is not counted alive
    /// on them. Logged once until a fresh report arrives.
    PeerUnproven(String),
}

/// What the runner must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Take the VIPs (the reason is for the log).
    BecomeActive(&'static str),
    /// Release the VIPs (the reason is for the log).
    BecomeStandby(&'static str),
    /// Send a heartbeat at once (state or flags changed).
    SendNow,
    /// Announce the VIPs again (GARP / NA): this node won a split brain and
    /// the loser's announcements may have moved the neighbours' caches.
    Reannounce,
    /// Log it.
    Event(Event),
}

#[derive(Debug, Clone)]
struct Peer {
    info: PeerInfo,
    /// Last time each link heard it.
    last: Vec<Option<Instant>>,
    link_alive: Vec<bool>,
    alive: bool,
    /// Since when it has reported standby without a break (auto_failback
    /// needs a stable pairing for failback_delay).
    standby_since: Option<Instant>,
    warned: bool,
}

/// The comparable rank of a node; greater serves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rank<'a> {
    eligible: bool,
    ping_reach: u16,
    takeover_request: bool,
    /// Unix ms its active period began; 0 when not active.
    active_since_ms: u64,
    priority: u8,
    node: &'a str,
}

impl Rank<'_> {
    /// Earlier active periods rank higher; "not active" ranks lowest.
    fn incumbency(&self) -> Reverse<u64> {
        Reverse(match self.active_since_ms {
            0 => u64::MAX,
            t => t,
        })
    }
}

impl Ord for Rank<'_> {
    fn cmp(&self, o: &Self) -> Ordering {
        (
            self.eligible,
            self.ping_reach,
            self.takeover_request,
            self.incumbency(),
            self.priority,
        )
            .cmp(&(
                o.eligible,
                o.ping_reach,
                o.takeover_request,
                o.incumbency(),
                o.priority,
            ))
            // Smaller name wins the last tie: reverse the name order.
            .then_with(|| o.node.cmp(self.node))
    }
}

impl PartialOrd for Rank<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The state machine.
#[derive(Debug, Clone)]
pub struct Machine {
    p: Params,
    role: Role,
    started: Instant,
    healthy: bool,
    ping_reach: u16,
    hold: bool,
    takeover_request: bool,
    peer: Option<Peer>,
    /// When the current active period began.
    active_since: Option<Instant>,
    /// A split brain with the current peer was already logged.
    split: bool,
    /// The peer's newest generation seen in any authentic report: what our
    /// heartbeats echo, so the peer can prove its reports are fresh.
    peer_generation: u64,
    /// An unproven report was logged since the last fresh one.
    unproven_logged: bool,
}

impl Machine {
    /// A machine in `Init`, started at `now`, healthy, reaching no ping node.
    pub fn new(p: Params, now: Instant) -> Self {
        Machine {
            p,
            role: Role::Init,
            started: now,
            healthy: true,
            ping_reach: 0,
            hold: false,
            takeover_request: false,
            peer: None,
            active_since: None,
            split: false,
            peer_generation: 0,
            unproven_logged: false,
        }
    }

    /// Unix ms the current active period began (0: not active).
    pub fn active_since_ms(&self) -> u64 {
        match (self.role, self.active_since) {
            (Role::Active, Some(t)) => {
                let ms = u64::try_from(t.saturating_duration_since(self.started).as_millis())
                    .unwrap_or(u64::MAX);
                self.p.epoch_ms.saturating_add(ms).max(1)
            }
            _ => 0,
        }
    }

    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether an operator standby is in force.
    pub fn hold(&self) -> bool {
        self.hold
    }

    /// Whether the peer is currently considered alive.
    pub fn peer_alive(&self) -> bool {
        self.peer.as_ref().is_some_and(|p| p.alive)
    }

    /// Per-link liveness of the peer.
    pub fn links_alive(&self) -> Vec<bool> {
        match &self.peer {
            Some(p) => p.link_alive.clone(),
            None => vec![false; self.p.links],
        }
    }

    /// Fill the state fields of an outgoing heartbeat.
    pub fn stamp(&self, hb: &mut Heartbeat) {
        hb.state = match self.role {
            Role::Init => PeerState::Init,
            Role::Standby => PeerState::Standby,
            Role::Active => PeerState::Active,
        };
        hb.healthy = self.healthy;
        hb.hold = self.hold;
        hb.takeover_request = self.takeover_request;
        hb.priority = self.p.priority;
        hb.ping_reach = self.ping_reach;
        hb.generation = self.p.generation;
        hb.active_since_ms = self.active_since_ms();
        hb.echo_generation = self.peer_generation;
    }

    /// The next instant after `now` at which `Tick` may change something
    /// (never one in the past, so a runner sleeping until it cannot spin).
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let t = &self.p.timings;
        let mut next: Option<Instant> = None;
        let mut consider = |i: Instant| {
            if i > now {
                next = Some(next.map_or(i, |n| n.min(i)));
            }
        };
        if self.role == Role::Init {
            consider(self.started + t.initdead);
        }
        if let Some(peer) = &self.peer {
            for (l, alive) in peer.last.iter().zip(&peer.link_alive) {
                if let (Some(l), true) = (l, alive) {
                    consider(*l + t.deadtime);
                }
            }
            if let (true, false, Some(last)) =
                (peer.alive, peer.warned, peer.last.iter().flatten().max())
            {
                consider(*last + t.warntime);
            }
            if let (true, true, Role::Active, Some(s)) = (
                peer.alive,
                self.p.auto_failback,
                self.role,
                peer.standby_since,
            ) {
                consider(s + self.p.failback_delay);
            }
        }
        next
    }

    /// This node's rank; `node` is its name (passed in so the rank does
    /// not borrow the machine).
    fn my_rank<'a>(&self, node: &'a str) -> Rank<'a> {
        Rank {
            eligible: self.healthy && !self.hold,
            ping_reach: self.ping_reach,
            takeover_request: self.takeover_request,
            active_since_ms: self.active_since_ms(),
            priority: self.p.priority,
            node,
        }
    }

    /// Advance the machine with one input observed at `now`.
    pub fn step(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let before = (
            self.healthy,
            self.ping_reach,
            self.hold,
            self.takeover_request,
        );
        match input {
            Input::Tick => {}
            Input::Heard { link, info } => self.heard(link, info, now, &mut out),
            Input::Health(h) => self.healthy = h,
            Input::PingReach(n) => self.ping_reach = n,
            Input::Command(Command::Standby) => {
                self.hold = true;
                self.takeover_request = false;
            }
            Input::Command(Command::Takeover) => {
                self.hold = false;
                // Only the peer can act on a request; alone we just serve.
                self.takeover_request = self.peer_alive();
            }
        }
        self.expire(now, &mut out);
        self.decide(now, &mut out);
        let after = (
            self.healthy,
            self.ping_reach,
            self.hold,
            self.takeover_request,
        );
        if before != after && !out.contains(&Action::SendNow) {
            out.push(Action::SendNow);
        }
        out
    }

    fn heard(&mut self, link: usize, info: PeerInfo, now: Instant, out: &mut Vec<Action>) {
        if info.generation > self.peer_generation {
            // A new boot of the peer (or the first we hear): echo it at
            // once so the peer can prove its next report fresh without
            // waiting a keepalive. Bounded: generations only grow.
            self.peer_generation = info.generation;
            if !out.contains(&Action::SendNow) {
                out.push(Action::SendNow);
            }
        }
        if info.echo != self.p.generation {
            // Not proven fresh: it may predate this boot (queued by the
            // kernel, or captured and replayed by an attacker after we
            // restarted), or the peer does not hear us (one-way link). A
            // live peer that hears us echoes this boot within a keepalive.
            if !self.unproven_logged {
                self.unproven_logged = true;
                out.push(Action::Event(Event::PeerUnproven(info.node.clone())));
            }
            return;
        }
        self.unproven_logged = false;
        let links = self.p.links.max(link + 1);
        let peer = self.peer.get_or_insert_with(|| Peer {
            info: info.clone(),
            last: vec![None; links],
            link_alive: vec![false; links],
            alive: false,
            standby_since: None,
            warned: false,
        });
        if peer.last.len() < links {
            peer.last.resize(links, None);
            peer.link_alive.resize(links, false);
        }
        if info.generation != peer.info.generation {
            // The peer restarted: a stable pairing starts over.
            peer.standby_since = None;
        }
        if !peer.alive {
            peer.alive = true;
            out.push(Action::Event(Event::PeerUp(info.node.clone())));
            // Tell a newcomer our state without waiting a keepalive.
            out.push(Action::SendNow);
        }
        if let (Some(last), Some(alive)) = (peer.last.get_mut(link), peer.link_alive.get_mut(link))
        {
            *last = Some(now);
            if !*alive {
                *alive = true;
                out.push(Action::Event(Event::LinkUp(link)));
            }
        }
        peer.warned = false;
        if info.generation == peer.info.generation && info.seq < peer.info.seq {
            // An older report arriving late (queued behind ARP on a link
            // that was down, or slower than the other link): it proves the
            // link works, but the newer report already applied stands.
            return;
        }
        if info.state == PeerState::Standby {
            peer.standby_since.get_or_insert(now);
        } else {
            peer.standby_since = None;
        }
        if info.takeover_request && !peer.info.takeover_request && !self.hold {
            out.push(Action::Event(Event::PeerTakeover(info.node.clone())));
        }
        if info.takeover_request {
            // hb_takeover on the peer runs hb_standby here.
            self.hold = true;
            self.takeover_request = false;
        }
        peer.info = info;
    }

    fn expire(&mut self, now: Instant, out: &mut Vec<Action>) {
        let t = self.p.timings;
        let Some(peer) = &mut self.peer else { return };
        for (i, (last, alive)) in peer.last.iter().zip(peer.link_alive.iter_mut()).enumerate() {
            if let (Some(l), true) = (last, *alive) {
                if now.saturating_duration_since(*l) >= t.deadtime {
                    *alive = false;
                    out.push(Action::Event(Event::LinkDead(i)));
                }
            }
        }
        let newest = peer.last.iter().flatten().max().copied();
        let silence = newest.map(|l| now.saturating_duration_since(l));
        if peer.alive {
            match silence {
                Some(s) if s >= t.deadtime => {
                    peer.alive = false;
                    peer.standby_since = None;
                    out.push(Action::Event(Event::PeerDead(peer.info.node.clone())));
                }
                Some(s) if s >= t.warntime && !peer.warned => {
                    peer.warned = true;
                    out.push(Action::Event(Event::LateHeartbeat(s)));
                }
                _ => {}
            }
        }
    }

    fn go(&mut self, role: Role, why: &'static str, now: Instant, out: &mut Vec<Action>) {
        if self.role == role {
            return;
        }
        self.role = role;
        self.active_since = (role == Role::Active).then_some(now);
        out.push(match role {
            Role::Active => Action::BecomeActive(why),
            _ => Action::BecomeStandby(why),
        });
        out.push(Action::SendNow);
    }

    fn decide(&mut self, now: Instant, out: &mut Vec<Action>) {
        let alive_peer = self.peer.as_ref().filter(|p| p.alive).cloned();
        let Some(peer) = alive_peer else {
            self.split = false;
            if self.role == Role::Init {
                if now.saturating_duration_since(self.started) >= self.p.timings.initdead {
                    out.push(Action::Event(Event::InitDeadExpired));
                    self.go(Role::Active, "no peer heard within initdead", now, out);
                }
                return;
            }
            // Alone: availability beats an operator's standby.
            self.hold = false;
            self.takeover_request = false;
            self.go(Role::Active, "peer dead", now, out);
            return;
        };
        let pi = &peer.info;
        let theirs = Rank {
            eligible: pi.healthy && !pi.hold,
            ping_reach: pi.ping_reach,
            takeover_request: pi.takeover_request,
            active_since_ms: if pi.state == PeerState::Active {
                pi.active_since_ms
            } else {
                0
            },
            priority: pi.priority,
            node: &pi.node,
        };
        let me = self.p.node.clone();
        let mine = self.my_rank(&me);
        let peer_active = pi.state == PeerState::Active;
        let i_win = mine > theirs;
        let was_split = std::mem::replace(&mut self.split, false);
        match (self.role, peer_active) {
            (Role::Active, true) => {
                // Split brain healed: exactly one keeps the VIPs. Both
                // nodes rank the same two reports, so they agree.
                if i_win {
                    self.split = true;
                }
                if !was_split {
                    let rule = split_rule(&mine, &theirs);
                    let (winner, loser) = if i_win {
                        (self.p.node.clone(), pi.node.clone())
                    } else {
                        (pi.node.clone(), self.p.node.clone())
                    };
                    out.push(Action::Event(Event::SplitBrain {
                        winner,
                        loser,
                        rule,
                    }));
                    if i_win {
                        out.push(Action::Reannounce);
                    }
                }
                if !i_win {
                    self.go(Role::Standby, "split brain resolved for the peer", now, out);
                }
            }
            (Role::Active, false) => {
                let why = if pi.takeover_request {
                    Some("peer requested takeover")
                } else if theirs.eligible && !mine.eligible {
                    Some(if self.hold {
                        "operator standby"
                    } else {
                        "local health failed"
                    })
                } else if theirs.eligible == mine.eligible && theirs.ping_reach > mine.ping_reach {
                    Some("peer reaches more ping nodes")
                } else if self.p.auto_failback
                    && theirs.eligible == mine.eligible
                    && theirs.ping_reach == mine.ping_reach
                    && theirs.priority > mine.priority
                    && peer
                        .standby_since
                        .is_some_and(|s| now.saturating_duration_since(s) >= self.p.failback_delay)
                {
                    Some("auto_failback to higher priority peer")
                } else {
                    None
                };
                if let Some(why) = why {
                    self.go(Role::Standby, why, now, out);
                }
            }
            (_, true) => self.go(Role::Standby, "peer is active", now, out),
            (_, false) => {
                if i_win {
                    self.takeover_request = false;
                    self.go(Role::Active, "elected: peer not active", now, out);
                } else {
                    self.go(Role::Standby, "peer elected", now, out);
                }
            }
        }
        if self.role == Role::Active {
            self.takeover_request = false;
        }
    }
}

fn split_rule(a: &Rank<'_>, b: &Rank<'_>) -> &'static str {
    if a.eligible != b.eligible {
        "eligible (healthy, not in standby) beats not"
    } else if a.ping_reach != b.ping_reach {
        "more ping nodes reached"
    } else if a.takeover_request != b.takeover_request {
        "operator takeover"
    } else if a.incumbency() != b.incumbency() {
        "incumbent (active longer) stays"
    } else if a.priority != b.priority {
        "higher priority"
    } else {
        "lexically smaller node name"
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
