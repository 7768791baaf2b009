//! The HA role state machine: pure, clock injected. `step(input, now)` moves
//! the machine and returns the actions the runner must perform (add or remove
//! VIPs, send a heartbeat now, log an event). No sockets, no tokio.
//!
//! Rules (documented in `docs/ha-protocol.md`):
//! - The peer is alive while any link heard it within `deadtime`; a dead
//!   peer makes this node active (after `initdead` at start).
//! - An active node keeps the VIPs unless its peer is better: eligible
//!   (healthy and not held) when it is not, reaches more ping nodes, asked
//!   for takeover, or (auto_failback) has a higher priority and has been up
//!   for `failback_delay`. The standby waits for the active to step down.
//! - Two non-active nodes elect by rank: eligible, ping reach, takeover
//!   request, priority, then the lexically smaller name.
//! - Two active nodes (split brain healed) keep the higher rank; the loser
//!   steps down at once and logs why.

use std::cmp::Ordering;
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
    /// When it last came alive (for failback_delay).
    since: Instant,
    warned: bool,
}

/// The comparable rank of a node; greater serves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rank<'a> {
    eligible: bool,
    ping_reach: u16,
    takeover_request: bool,
    priority: u8,
    node: &'a str,
}

impl Ord for Rank<'_> {
    fn cmp(&self, o: &Self) -> Ordering {
        (
            self.eligible,
            self.ping_reach,
            self.takeover_request,
            self.priority,
        )
            .cmp(&(o.eligible, o.ping_reach, o.takeover_request, o.priority))
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
            if peer.alive && self.p.auto_failback && self.role == Role::Active {
                consider(peer.since + self.p.failback_delay);
            }
        }
        next
    }

    fn my_rank(&self) -> Rank<'_> {
        Rank {
            eligible: self.healthy && !self.hold,
            ping_reach: self.ping_reach,
            takeover_request: self.takeover_request,
            priority: self.p.priority,
            node: &self.p.node,
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
        let links = self.p.links.max(link + 1);
        let peer = self.peer.get_or_insert_with(|| Peer {
            info: info.clone(),
            last: vec![None; links],
            link_alive: vec![false; links],
            alive: false,
            since: now,
            warned: false,
        });
        if peer.last.len() < links {
            peer.last.resize(links, None);
            peer.link_alive.resize(links, false);
        }
        if !peer.alive {
            peer.alive = true;
            peer.since = now;
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

    fn go(&mut self, role: Role, why: &'static str, out: &mut Vec<Action>) {
        if self.role == role {
            return;
        }
        self.role = role;
        out.push(match role {
            Role::Active => Action::BecomeActive(why),
            _ => Action::BecomeStandby(why),
        });
        out.push(Action::SendNow);
    }

    fn decide(&mut self, now: Instant, out: &mut Vec<Action>) {
        let alive_peer = self.peer.as_ref().filter(|p| p.alive).cloned();
        let Some(peer) = alive_peer else {
            if self.role == Role::Init {
                if now.saturating_duration_since(self.started) >= self.p.timings.initdead {
                    out.push(Action::Event(Event::InitDeadExpired));
                    self.go(Role::Active, "no peer heard within initdead", out);
                }
                return;
            }
            // Alone: availability beats an operator's standby.
            self.hold = false;
            self.takeover_request = false;
            self.go(Role::Active, "peer dead", out);
            return;
        };
        let pi = &peer.info;
        let theirs = Rank {
            eligible: pi.healthy && !pi.hold,
            ping_reach: pi.ping_reach,
            takeover_request: pi.takeover_request,
            priority: pi.priority,
            node: &pi.node,
        };
        let mine = self.my_rank();
        let peer_active = pi.state == PeerState::Active;
        let i_win = mine > theirs;
        match (self.role, peer_active) {
            (Role::Active, true) => {
                // Split brain healed: exactly one keeps the VIPs.
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
                if !i_win {
                    self.go(Role::Standby, "split brain resolved for the peer", out);
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
                    && now.saturating_duration_since(peer.since) >= self.p.failback_delay
                {
                    Some("auto_failback to higher priority peer")
                } else {
                    None
                };
                if let Some(why) = why {
                    self.go(Role::Standby, why, out);
                }
            }
            (_, true) => self.go(Role::Standby, "peer is active", out),
            (_, false) => {
                if i_win {
                    self.takeover_request = false;
                    self.go(Role::Active, "elected: peer not active", out);
                } else {
                    self.go(Role::Standby, "peer elected", out);
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
    } else if a.priority != b.priority {
        "higher priority"
    } else {
        "lexically smaller node name"
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
