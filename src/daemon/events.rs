//! The daemon's one event stream: real up/down, quorum lost/regained,
//! drain finished, reload applied/rejected, HA role changes.
//!
//! Every event gets the next sequence number (1, 2, 3... per daemon run)
//! and a timestamp, is logged as one line, offered to the `[[hook]]`s
//! (a non-blocking sink, see `daemon::event_hooks`) and broadcast to the
//! `/events` subscribers. Memory stays bounded whatever the subscribers
//! do: the broadcast channel holds at most [`CAPACITY`] events shared by
//! all of them, and a subscriber that falls further behind is told how
//! many it lost ([`Item::Lagged`]) instead of holding the daemon's memory.
//! The last [`REPLAY`] events are kept for `Last-Event-ID` resumption.
//!
//! Emitters (the engine, the anycast announcer, the HA role watcher, the
//! drain command) call [`Bus::emit`]; it never blocks and never fails.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::model::text::sanitize;
use crate::model::{Role, ServiceKey};

pub use crate::model::EventKind;

/// Events the broadcast channel holds for its slowest subscriber.
pub const CAPACITY: usize = 1024;

/// Events kept for `Last-Event-ID` resumption.
pub const REPLAY: usize = 256;

/// What happened, before the bus numbers it. Text fields are sanitized
/// by [`Bus::emit`] (one line, no control characters, bounded), whoever
/// built them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventData {
    /// The kind.
    pub kind: EventKind,
    /// The virtual (`tcp:10.0.0.1:80`, `fwm:7`) or, for an announced
    /// VIP's quorum, the VIP address.
    pub virtual_service: Option<String>,
    /// The real (`10.1.0.1:80`, `[2001:db8::1]:80`).
    pub real: Option<String>,
    /// Why: a check's failure, the quorum shortfall, a reload's message or
    /// error, how a drain ended.
    pub reason: Option<String>,
    /// HA role after a role change (`active`, `standby`, `init`).
    pub role: Option<String>,
    /// HA role before a role change.
    pub previous_role: Option<String>,
}

/// One numbered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Sequence number: 1 for the first event of this daemon run, then +1
    /// for each.
    pub seq: u64,
    /// When it was emitted.
    pub at: SystemTime,
    /// What happened (sanitized).
    pub data: EventData,
}

// The names events carry are the ones the `lvsd` verbs take: one
// definition, in `overrides`, so that `fwm:7` and `fwm6:7` stay distinct
// here too (quorum state is keyed by these names).
pub use super::overrides::virtual_name;
/// `10.1.0.1:80`, `[2001:db8::1]:80`: a real as events name it.
pub use crate::model::host_port as real_name;

impl EventData {
    fn new(kind: EventKind) -> EventData {
        EventData {
            kind,
            virtual_service: None,
            real: None,
            reason: None,
            role: None,
            previous_role: None,
        }
    }

    /// A real failed (`up == false`, with the check's reason) or passes
    /// again.
    pub fn real(up: bool, service: &ServiceKey, addr: IpAddr, port: u16, reason: &str) -> Self {
        let mut d = EventData::new(if up {
            EventKind::RealUp
        } else {
            EventKind::RealDown
        });
        d.virtual_service = Some(virtual_name(service));
        d.real = Some(real_name(addr, port));
        if !up {
            d.reason = Some(reason.to_string());
        }
        d
    }

    /// `what` (a virtual's name or a VIP) lost its quorum (`reason`:
    /// Some) or regained it (None).
    pub fn quorum(what: &str, lost: Option<&str>) -> Self {
        let mut d = EventData::new(if lost.is_some() {
            EventKind::QuorumLost
        } else {
            EventKind::QuorumRegained
        });
        d.virtual_service = Some(what.to_string());
        d.reason = lost.map(str::to_string);
        d
    }

    /// A drain of `addr:port` in `service` ended; `how` says how
    /// (`no active connections`, `timeout with 3 active connections`).
    pub fn drain_finished(service: &ServiceKey, addr: IpAddr, port: u16, how: &str) -> Self {
        let mut d = EventData::new(EventKind::DrainFinished);
        d.virtual_service = Some(virtual_name(service));
        d.real = Some(real_name(addr, port));
        d.reason = Some(how.to_string());
        d
    }

    /// A reload was applied (`Ok(message)`) or refused (`Err(error)`).
    pub fn reload(result: Result<&str, &str>) -> Self {
        let (kind, text) = match result {
            Ok(m) => (EventKind::ReloadApplied, m),
            Err(e) => (EventKind::ReloadRejected, e),
        };
        let mut d = EventData::new(kind);
        d.reason = Some(text.to_string());
        d
    }

    /// The HA role went from `old` to `new`.
    pub fn role_changed(new: Role, old: Role) -> Self {
        let mut d = EventData::new(EventKind::RoleChanged);
        d.role = Some(crate::ha::hooks::role_word(new).to_string());
        d.previous_role = Some(crate::ha::hooks::role_word(old).to_string());
        d
    }

    /// Every text field made one clean, bounded line.
    fn sanitized(mut self) -> Self {
        for f in [
            &mut self.virtual_service,
            &mut self.real,
            &mut self.reason,
            &mut self.role,
            &mut self.previous_role,
        ] {
            if let Some(s) = f.as_mut() {
                *s = sanitize(s);
            }
        }
        self
    }
}

impl Event {
    /// The named fields, in a stable order, for the log line, the JSON
    /// and the hook environment.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        let d = &self.data;
        [
            ("virtual", &d.virtual_service),
            ("real", &d.real),
            ("reason", &d.reason),
            ("role", &d.role),
            ("previous_role", &d.previous_role),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    /// One log line: `real_down virtual=tcp:10.0.0.1:80 real=... reason="..."`.
    pub fn summary(&self) -> String {
        let mut s = self.data.kind.name().to_string();
        for (k, v) in self.fields() {
            let _ = write!(s, " {k}={v:?}");
        }
        s
    }

    /// The event as one JSON object.
    pub fn json(&self) -> String {
        let mut s = format!(
            "{{\"id\":{},\"event\":\"{}\",\"time\":{}",
            self.seq,
            self.data.kind.name(),
            super::web::js(&rfc3339(self.at))
        );
        for (k, v) in self.fields() {
            let _ = write!(s, ",\"{k}\":{}", super::web::js(v));
        }
        s.push('}');
        s
    }

    /// The event as one server-sent event: `id` is the sequence number,
    /// `event` the kind, `data` the JSON object.
    pub fn sse(&self) -> String {
        format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            self.seq,
            self.data.kind.name(),
            self.json()
        )
    }
}

/// `2026-12-05T19:30:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Receives every event, in order, inside the bus's lock: it must not
/// block (the hook queue uses `try_send`).
pub type Sink = Box<dyn Fn(&Arc<Event>) + Send + Sync>;

struct Ring {
    next: u64,
    kept: VecDeque<Arc<Event>>,
}

struct Inner {
    tx: broadcast::Sender<Arc<Event>>,
    ring: Mutex<Ring>,
    sink: Option<Sink>,
    clock: fn() -> SystemTime,
}

/// The event bus; cheap to clone (one shared stream).
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("subscribers", &self.inner.tx.receiver_count())
            .finish()
    }
}

impl Default for Bus {
    fn default() -> Bus {
        Bus::new(None)
    }
}

impl Bus {
    /// A bus; `sink` (the hooks) sees every event.
    pub fn new(sink: Option<Sink>) -> Bus {
        Bus::with_clock(sink, SystemTime::now)
    }

    /// A bus with its clock injected (tests).
    pub fn with_clock(sink: Option<Sink>, clock: fn() -> SystemTime) -> Bus {
        let (tx, _) = broadcast::channel(CAPACITY);
        Bus {
            inner: Arc::new(Inner {
                tx,
                ring: Mutex::new(Ring {
                    next: 1,
                    kept: VecDeque::with_capacity(REPLAY),
                }),
                sink,
                clock,
            }),
        }
    }

    /// Number, log, hand to the hooks and broadcast one event; returns
    /// its sequence number. Never blocks on a subscriber.
    pub fn emit(&self, data: EventData) -> u64 {
        let data = data.sanitized();
        let mut ring = match self.inner.ring.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        let seq = ring.next;
        ring.next += 1;
        let ev = Arc::new(Event {
            seq,
            at: (self.inner.clock)(),
            data,
        });
        if ring.kept.len() >= REPLAY {
            ring.kept.pop_front();
        }
        ring.kept.push_back(ev.clone());
        // Inside the lock: numbering, the hooks' queue and the broadcast
        // see events in one order. No subscriber is not an error.
        let _ = self.inner.tx.send(ev.clone());
        if let Some(sink) = &self.inner.sink {
            sink(&ev);
        }
        drop(ring);
        tracing::info!(seq, "event {}", ev.summary());
        seq
    }

    /// Subscribe from now on; with `last_seen` (a `Last-Event-ID`), the
    /// kept events after it come first.
    pub fn subscribe(&self, last_seen: Option<u64>) -> Subscription {
        let ring = match self.inner.ring.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        // Under the lock: no event can fall between the backlog and the
        // receiver, nor be in both.
        let rx = self.inner.tx.subscribe();
        let mut sub = Subscription {
            rx,
            backlog: VecDeque::new(),
            notice: None,
            last: ring.next - 1,
        };
        if let Some(last) = last_seen {
            if last >= ring.next {
                // An id of an earlier run (numbers restart with the
                // daemon): say so and send what is kept.
                sub.notice = Some(Item::Reset);
                sub.backlog = ring.kept.iter().cloned().collect();
            } else {
                let oldest = ring.kept.front().map_or(ring.next, |e| e.seq);
                if last + 1 < oldest {
                    sub.notice = Some(Item::Lagged(oldest - last - 1));
                }
                sub.backlog = ring.kept.iter().filter(|e| e.seq > last).cloned().collect();
            }
            sub.last = 0;
        }
        sub
    }

    /// Subscribers connected now.
    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }
}

/// What a subscriber gets next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The next event.
    Event(Arc<Event>),
    /// This many events were lost: the subscriber fell more than
    /// [`CAPACITY`] behind, or resumed from an id older than the replay
    /// ring.
    Lagged(u64),
    /// The `Last-Event-ID` given is not from this daemon run (it
    /// restarted); the kept events follow.
    Reset,
}

/// One subscriber's view of the stream.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
    backlog: VecDeque<Arc<Event>>,
    notice: Option<Item>,
    last: u64,
}

impl Subscription {
    /// The next item; None once the bus is gone.
    pub async fn next(&mut self) -> Option<Item> {
        if let Some(n) = self.notice.take() {
            return Some(n);
        }
        if let Some(e) = self.backlog.pop_front() {
            self.last = e.seq;
            return Some(Item::Event(e));
        }
        loop {
            match self.rx.recv().await {
                // Defensive: never the same event twice.
                Ok(e) if e.seq <= self.last => continue,
                Ok(e) => {
                    self.last = e.seq;
                    return Some(Item::Event(e));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => return Some(Item::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Quorum transitions of named things (a virtual service, an announced
/// VIP): an event only when the state changes; the first observation of a
/// held quorum is no event (a start is not a recovery). The engine keys
/// its virtuals by [`ServiceKey`] and names one only for an event: every
/// pass observes every virtual (the periodic resync too), and formatting
/// 1,000 names twice a pass was a tenth of an idle daemon's work.
#[derive(Debug)]
pub struct QuorumTracker<K = String> {
    lost: HashMap<K, bool>,
}

impl<K> Default for QuorumTracker<K> {
    fn default() -> Self {
        QuorumTracker {
            lost: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> QuorumTracker<K> {
    /// `lost`: why `key` is below its quorum now, or None if it holds;
    /// the event names it `name(key)`. (`key` borrowed: a `&str` for a
    /// name-keyed tracker, copied in only when first seen.)
    pub fn observe_as<Q>(
        &mut self,
        key: &Q,
        lost: Option<&str>,
        name: impl FnOnce(&Q) -> String,
    ) -> Option<EventData>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = lost.is_some();
        let was = match self.lost.get_mut(key) {
            Some(v) => std::mem::replace(v, now),
            None => {
                self.lost.insert(key.to_owned(), now);
                false
            }
        };
        (was != now).then(|| EventData::quorum(&name(key), lost))
    }

    /// Forget keys that are gone (a reload removed the virtual).
    pub fn retain(&mut self, keep: impl Fn(&K) -> bool) {
        self.lost.retain(|k, _| keep(k));
    }
}

impl QuorumTracker<String> {
    /// `lost`: why `name` is below its quorum now, or None if it holds.
    pub fn observe(&mut self, name: &str, lost: Option<&str>) -> Option<EventData> {
        self.observe_as(name, lost, str::to_string)
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
