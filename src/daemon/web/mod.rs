//! The operator's status page: a self-contained HTML page (no external
//! assets, no CDN) served at `/` by the metrics listener, and the JSON
//! snapshot it polls at `/status.json`, plus the ring buffer of recent
//! events (failures, recoveries, reloads, takeovers) it lists.
//!
//! Called by `daemon::service` (recorder task, renderer) and
//! `daemon::metrics` (routes). Reads snapshots only: it never touches the
//! engine's state or the kernel itself.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::ha;
use crate::model::{Forward, Role};

use super::status::{Shown, Status};

/// The page itself; it fetches `status.json` relative to its own URL and
/// rebuilds the tables in place (no full reload).
pub const PAGE: &str = include_str!("page.html");

/// How many events the page keeps.
pub const EVENTS_KEPT: usize = 200;

/// How often the recorder compares snapshots. A health flap shorter than
/// this can go unlisted (the counters still show it).
pub const RECORD_EVERY: Duration = Duration::from_millis(250);

/// What kind of thing happened, for the page's colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A real server failed its checks.
    Failure,
    /// A real server passes again.
    Recovery,
    /// The configuration was re-read (accepted or refused).
    Reload,
    /// HA role change (takeover, standby).
    Takeover,
    /// Anything else (phase changes, maintenance).
    Info,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Failure => "failure",
            Kind::Recovery => "recovery",
            Kind::Reload => "reload",
            Kind::Takeover => "takeover",
            Kind::Info => "info",
        }
    }
}

/// One entry of the event list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When the recorder saw it.
    pub at: SystemTime,
    /// Its kind.
    pub kind: Kind,
    /// One line for humans.
    pub text: String,
}

/// Recent events, newest last, plus the last snapshot they were diffed from.
#[derive(Debug, Default)]
pub struct Events {
    list: VecDeque<Event>,
    health: HashMap<String, String>,
    reloads: Option<(u64, u64)>,
    phase: Option<&'static str>,
    role: Option<Role>,
    seen: bool,
}

/// Shared handle on the event list.
pub type SharedEvents = Arc<Mutex<Events>>;

impl Events {
    /// An empty list.
    pub fn new() -> Events {
        Events::default()
    }

    /// The events, oldest first.
    pub fn list(&self) -> Vec<Event> {
        self.list.iter().cloned().collect()
    }

    fn push(&mut self, at: SystemTime, kind: Kind, text: String) {
        if self.list.len() >= EVENTS_KEPT {
            self.list.pop_front();
        }
        self.list.push_back(Event { at, kind, text });
    }

    /// Compare `st` (and the HA status, if any) with the previous
    /// snapshot and record what changed. The first call records only the
    /// start, so a restart does not list every real as a new failure.
    pub fn observe(&mut self, st: &Status, ha: Option<&ha::Status>, now: SystemTime) {
        let first = !self.seen;
        self.seen = true;
        if first {
            self.push(
                now,
                Kind::Info,
                format!("watching {} (pid {})", st.config, st.pid),
            );
        }
        let phase = st.phase.name();
        if self.phase.is_some_and(|p| p != phase) {
            self.push(now, Kind::Info, format!("daemon {phase}"));
        }
        self.phase = Some(phase);

        let mut health = HashMap::new();
        for v in &st.virtuals {
            for r in &v.reals {
                let id = format!("{} -> {}", v.key, hostport(r));
                let word = shown_word(&r.health).to_string();
                match (self.health.get(&id), &r.health) {
                    (Some(old), Shown::Down(why)) if old != "down" => {
                        self.push(now, Kind::Failure, format!("{id} down: {why}"))
                    }
                    (Some(old), Shown::Up) if old != "up" && old != "unknown" => {
                        self.push(now, Kind::Recovery, format!("{id} up again"))
                    }
                    (Some(old), Shown::Up) if old == "unknown" && !first => {
                        self.push(now, Kind::Recovery, format!("{id} up"))
                    }
                    (Some(old), Shown::Maintenance) if old != "maintenance" => {
                        self.push(now, Kind::Info, format!("{id} in maintenance"))
                    }
                    (None, Shown::Down(why)) if !first => {
                        self.push(now, Kind::Failure, format!("{id} down: {why}"))
                    }
                    _ => {}
                }
                health.insert(id, word);
            }
        }
        self.health = health;

        let reloads = (st.reloads, st.reload_failures);
        if let Some((ok, bad)) = self.reloads {
            if reloads.0 > ok {
                let what = st.last_reload.as_deref().unwrap_or("applied");
                self.push(now, Kind::Reload, format!("reload: {what}"));
            }
            if reloads.1 > bad {
                let what = st.last_reload.as_deref().unwrap_or("refused");
                self.push(now, Kind::Reload, format!("reload refused: {what}"));
            }
        }
        self.reloads = Some(reloads);

        if let Some(h) = ha {
            if let Some(old) = self.role.filter(|r| *r != h.role) {
                self.push(
                    now,
                    Kind::Takeover,
                    format!(
                        "{}: {} -> {}",
                        h.node,
                        ha::hooks::role_word(old),
                        ha::hooks::role_word(h.role)
                    ),
                );
            }
            self.role = Some(h.role);
        }
    }
}

/// Poll the status every [`RECORD_EVERY`] and record changes until
/// `shutdown` flips. HA status comes from `ha_status` when the daemon
/// runs a pair.
pub async fn record(
    status: Arc<Mutex<Status>>,
    events: SharedEvents,
    ha_status: Option<watch::Receiver<Option<ha::Status>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(RECORD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let st = snapshot(&status);
        let ha = ha_status.as_ref().and_then(|r| r.borrow().clone());
        let mut ev = match events.lock() {
            Ok(e) => e,
            Err(p) => p.into_inner(),
        };
        ev.observe(&st, ha.as_ref(), SystemTime::now());
    }
}

/// How often the HA status is fetched for the page.
pub const HA_POLL_EVERY: Duration = Duration::from_millis(500);

/// Ask the HA runner for its status every [`HA_POLL_EVERY`] and publish
/// it for the page and the event recorder, until `shutdown` flips or the
/// runner is gone (then `None` is published: the pair is not running).
pub async fn poll_ha(
    ctl: tokio::sync::mpsc::Sender<ha::Control>,
    out: watch::Sender<Option<ha::Status>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(HA_POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if ctl.send(ha::Control::Status(tx)).await.is_err() {
            let _ = out.send(None);
            return;
        }
        // A runner busy for longer than this keeps the last status shown.
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), rx).await {
            let _ = out.send(Some(s));
        }
    }
}

fn snapshot(status: &Arc<Mutex<Status>>) -> Status {
    match status.lock() {
        Ok(s) => s.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn shown_word(s: &Shown) -> &'static str {
    match s {
        Shown::Unknown => "unknown",
        Shown::Up => "up",
        Shown::Down(_) => "down",
        Shown::Maintenance => "maintenance",
    }
}

fn hostport(r: &super::status::RealView) -> String {
    match r.addr {
        std::net::IpAddr::V4(a) => format!("{a}:{}", r.port),
        std::net::IpAddr::V6(a) => format!("[{a}]:{}", r.port),
    }
}

fn fwd_word(f: Forward) -> String {
    match f {
        Forward::Masq => "masq".into(),
        Forward::Local => "local".into(),
        Forward::Tunnel => "tunnel".into(),
        Forward::Route => "route".into(),
        Forward::Other(n) => format!("fwd{n}"),
    }
}

fn ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// A JSON string literal (RFC 8259 escaping).
pub(crate) fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The snapshot the page polls: daemon counters, every virtual with its
/// reals (health, weights, connections, rates, last check), HA state
/// (`null` on a single director) and the recent events, newest first.
pub fn render_json(
    st: &Status,
    ha: Option<&ha::Status>,
    events: &[Event],
    now: SystemTime,
) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"now_ms\":{},\"pid\":{},\"config\":{},\"phase\":{},\"reconciles\":{},\"kernel_ops\":{},\"kernel_errors\":{},\"reloads\":{},\"reload_failures\":{},\"last_reload\":{},",
        ms(now),
        st.pid,
        js(&st.config),
        js(st.phase.name()),
        st.reconciles,
        st.kernel_ops,
        st.kernel_errors,
        st.reloads,
        st.reload_failures,
        st.last_reload.as_deref().map_or("null".into(), js),
    );
    let _ = write!(
        s,
        "\"resync_repairs\":{},\"failed_passes\":{},\"tasks\":{},",
        st.resync_repairs, st.failed_passes, st.tasks
    );
    match st.confirm_left(now) {
        Some(left) => {
            let _ = write!(s, "\"confirm_left_s\":{left},");
        }
        None => s.push_str("\"confirm_left_s\":null,"),
    }
    s.push_str("\"ha\":");
    match ha {
        None => s.push_str("null"),
        Some(h) => {
            let links: Vec<String> = h
                .links
                .iter()
                .map(|l| format!("{{\"name\":{},\"alive\":{}}}", js(&l.name), l.alive))
                .collect();
            let c = h.counters;
            let _ = write!(
                s,
                "{{\"node\":{},\"role\":{},\"hold\":{},\"healthy\":{},\"peer\":{},\"peer_alive\":{},\"ping_reach\":{},\"transitions\":{},\"track_faults\":[{}],\"links\":[{}],\"counters\":{{\"accepted\":{},\"bad_auth\":{},\"malformed\":{},\"replayed\":{},\"old_generation\":{}}}}}",
                js(&h.node),
                js(ha::hooks::role_word(h.role)),
                h.hold,
                h.healthy,
                h.peer.as_deref().map_or("null".into(), js),
                h.peer_alive,
                h.ping_reach,
                h.transitions,
                h.track_faults.iter().map(|f| js(f)).collect::<Vec<_>>().join(","),
                links.join(","),
                c.accepted,
                c.bad_auth,
                c.malformed,
                c.replayed,
                c.old_generation,
            );
        }
    }
    s.push_str(",\"anycast\":");
    match &st.anycast {
        None => s.push_str("null"),
        Some(a) => {
            let vips: Vec<String> = a
                .vips
                .iter()
                .map(|v| {
                    format!(
                        "{{\"vip\":{},\"announced\":{},\"reason\":{},\"since_ms\":{}}}",
                        js(&v.address.to_string()),
                        v.announced,
                        v.reason.as_deref().map_or("null".into(), js),
                        ms(v.since)
                    )
                })
                .collect();
            let sessions: Vec<String> = a
                .sessions
                .iter()
                .map(|b| {
                    format!(
                        "{{\"peer\":{},\"up\":{},\"info\":{}}}",
                        js(&b.name),
                        b.up,
                        js(&b.info)
                    )
                })
                .collect();
            let _ = write!(
                s,
                "{{\"table\":{},\"protocol\":{},\"withdrawals\":{},\"vips\":[{}],\"sessions\":[{}],\"bird_error\":{}}}",
                a.table,
                a.protocol,
                a.withdrawals,
                vips.join(","),
                sessions.join(","),
                a.bird_error.as_deref().map_or("null".into(), js)
            );
        }
    }
    s.push_str(",\"virtuals\":[");
    for (i, v) in st.virtuals.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"key\":{},\"scheduler\":{},",
            js(&v.key.to_string()),
            js(&v.scheduler)
        );
        if let Some(fp) = st.mh_fingerprint(&v.key) {
            let _ = write!(s, "\"mh_fingerprint\":{},", js(fp));
        }
        s.push_str("\"reals\":[");
        for (j, r) in v.reals.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            let reason = match &r.health {
                Shown::Down(why) => why.as_str(),
                _ => "",
            };
            let _ = write!(
                s,
                "{{\"addr\":{},\"forward\":{},\"fallback\":{},\"health\":{},\"reason\":{},\"weight\":{},\"checks\":{},\"failures\":{},",
                js(&hostport(r)),
                js(&fwd_word(r.forward)),
                r.fallback,
                js(shown_word(&r.health)),
                js(reason),
                r.weight,
                r.checks,
                r.failures,
            );
            match st.override_of(v, r) {
                Some(o) => {
                    let _ = write!(s, "\"override\":{},", js(&o.to_string()));
                }
                None => s.push_str("\"override\":null,"),
            }
            match &r.kernel {
                Some(k) => {
                    let _ = write!(
                        s,
                        "\"kernel\":{{\"weight\":{},\"active\":{},\"inactive\":{},\"conns\":{},\"cps\":{},\"inpps\":{},\"outpps\":{},\"inbps\":{},\"outbps\":{}}},",
                        k.weight,
                        k.active_conns,
                        k.inact_conns,
                        k.stats.conns,
                        k.stats.cps,
                        k.stats.inpps,
                        k.stats.outpps,
                        k.stats.inbps,
                        k.stats.outbps,
                    );
                }
                None => s.push_str("\"kernel\":null,"),
            }
            match &r.last {
                Some(l) => {
                    let _ = write!(
                        s,
                        "\"last_check\":{{\"ok\":{},\"detail\":{},\"latency_ms\":{},\"at_ms\":{}}}}}",
                        l.ok,
                        js(&l.detail),
                        l.latency.as_millis(),
                        ms(l.at),
                    );
                }
                None => s.push_str("\"last_check\":null}"),
            }
        }
        s.push_str("]}");
    }
    s.push_str("],\"events\":[");
    for (i, e) in events.iter().rev().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"at_ms\":{},\"kind\":{},\"text\":{}}}",
            ms(e.at),
            js(e.kind.word()),
            js(&e.text)
        );
    }
    s.push_str("]}\n");
    s
}

#[cfg(test)]
mod tests;
