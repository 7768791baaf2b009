//! The daemon's view of itself for `lvsd status`, the status page and the
//! Prometheus endpoint: every virtual, its reals, their health, weight,
//! last check result and reason, plus reconcile counters.
//!
//! The engine owns the only writer; readers take a snapshot under a short
//! lock, so a slow HTTP client never holds up reconciling.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::model::maglev::{MhDest, MhTable};
use crate::model::{Forward, RealServer, ServiceKey, Table};

use super::plan::Phase;

/// Health as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Not checked yet.
    Unknown,
    /// Passing.
    Up,
    /// Failing, with the reason.
    Down(String),
    /// Out of service while a maintenance file exists.
    Maintenance,
}

impl Shown {
    fn word(&self) -> &'static str {
        match self {
            Shown::Unknown => "unknown",
            Shown::Up => "up",
            Shown::Down(_) => "down",
            Shown::Maintenance => "maintenance",
        }
    }
}

/// The last check of a real.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastCheck {
    /// When it finished.
    pub at: SystemTime,
    /// Passed?
    pub ok: bool,
    /// The answer on success, the reason on failure.
    pub detail: String,
    /// How long it took.
    pub latency: Duration,
}

/// One real (or the fallback) of a virtual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealView {
    /// Address.
    pub addr: IpAddr,
    /// Port as configured.
    pub port: u16,
    /// Forwarding method.
    pub forward: Forward,
    /// Configured weight.
    pub weight: i32,
    /// Health.
    pub health: Shown,
    /// Last check, if any ran.
    pub last: Option<LastCheck>,
    /// Checks run and failed since start.
    pub checks: u64,
    /// Failed checks since start.
    pub failures: u64,
    /// What the kernel held at the last read (weight, conns, bytes).
    pub kernel: Option<RealServer>,
    /// This is the fallback server.
    pub fallback: bool,
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualView {
    /// Key.
    pub key: ServiceKey,
    /// Scheduler.
    pub scheduler: String,
    /// Reals then (if configured) the fallback.
    pub reals: Vec<RealView>,
}

/// Everything `lvsd status` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Config file in use.
    pub config: String,
    /// Daemon pid.
    pub pid: u32,
    /// Current phase.
    pub phase: Phase,
    /// Virtual services in config order.
    pub virtuals: Vec<VirtualView>,
    /// Reconcile passes run.
    pub reconciles: u64,
    /// Kernel operations issued.
    pub kernel_ops: u64,
    /// Kernel operations that failed.
    pub kernel_errors: u64,
    /// Reloads applied.
    pub reloads: u64,
    /// Reloads rejected (config errors).
    pub reload_failures: u64,
    /// Result of the last reload, for `lvsd status`.
    pub last_reload: Option<String>,
    /// Changes made by the periodic resync: each restores something
    /// changed behind lvsd's back.
    pub resync_repairs: u64,
    /// Reconcile passes that failed (and were retried).
    pub failed_passes: u64,
    /// Tasks the engine tracks (hooks, instance starts).
    pub tasks: u64,
    /// Announced VIPs (`[anycast]`); None when not configured.
    pub anycast: Option<super::anycast::AnycastView>,
    /// Fingerprint of the mh lookup table the kernel holds for each `mh`
    /// virtual (computed in user space from the kernel's list of reals):
    /// directors with equal fingerprints send every new flow to the same
    /// real. Filled by [`Status::merge_kernel`].
    pub mh_fingerprints: Vec<(ServiceKey, String)>,
    /// Runtime overrides in force (`lvsd drain|weight`).
    pub overrides: super::overrides::Overrides,
    /// A reload waits for `lvsd confirm` until then (`reload --confirm`).
    pub confirm_deadline: Option<SystemTime>,
}

impl Status {
    /// An empty status for a daemon starting with `config`.
    pub fn new(config: String) -> Status {
        Status {
            config,
            pid: std::process::id(),
            phase: Phase::Starting,
            virtuals: Vec::new(),
            reconciles: 0,
            kernel_ops: 0,
            kernel_errors: 0,
            reloads: 0,
            reload_failures: 0,
            last_reload: None,
            resync_repairs: 0,
            failed_passes: 0,
            tasks: 0,
            anycast: None,
            mh_fingerprints: Vec::new(),
            overrides: Default::default(),
            confirm_deadline: None,
        }
    }

    /// The override of real `r` of virtual `v`, if any (never for the
    /// fallback server).
    pub fn override_of(&self, v: &VirtualView, r: &RealView) -> Option<super::overrides::Override> {
        if r.fallback || self.overrides.is_empty() {
            return None;
        }
        self.overrides.get(&crate::reconcile::RealKey {
            service: v.key,
            addr: r.addr,
            port: r.port,
        })
    }

    /// Seconds until a reload waiting for confirmation rolls back.
    pub fn confirm_left(&self, now: SystemTime) -> Option<u64> {
        self.confirm_deadline
            .map(|d| d.duration_since(now).unwrap_or_default().as_secs())
    }

    /// The mh table fingerprint of virtual `key`, if it is an mh service.
    pub fn mh_fingerprint(&self, key: &ServiceKey) -> Option<&str> {
        self.mh_fingerprints
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, f)| f.as_str())
    }

    /// Copy the kernel's weights, connections and counters into the view.
    pub fn merge_kernel(&mut self, table: &Table) {
        self.mh_fingerprints.clear();
        for v in &mut self.virtuals {
            let entry = table.get(&v.key);
            if let Some(e) = entry.filter(|e| e.service.scheduler == "mh") {
                // The kernel lists reals in its list order, the order its
                // table is filled in. Netlink does not report last_weight:
                // a quiesced real counts with its configured weight, which
                // is what lvsd leaves there (a consistent virtual primes
                // every real with it; see reconcile::Desired::prime_weight).
                let dests: Vec<MhDest> = e
                    .reals
                    .iter()
                    .map(|k| {
                        let mut d = MhDest::from_real(k);
                        if d.weight == 0 {
                            if let Some(c) = v
                                .reals
                                .iter()
                                .find(|r| r.addr == k.addr && kport(&v.key, r) == k.port)
                            {
                                d.last_weight = c.weight;
                            }
                        }
                        d
                    })
                    .collect();
                let fp = match MhTable::build(dests, e.service.flags.0) {
                    Ok(t) => t.fingerprint(),
                    Err(_) => "invalid".to_string(),
                };
                self.mh_fingerprints.push((v.key, fp));
            }
            for r in &mut v.reals {
                let port = kport(&v.key, r);
                r.kernel = entry.and_then(|e| {
                    e.reals
                        .iter()
                        .find(|k| k.addr == r.addr && k.port == port)
                        .cloned()
                });
            }
        }
    }

    /// The text `lvsd status` prints after its "running" line.
    pub fn render_text(&self, now: SystemTime) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "phase {}, {} reconciles, {} kernel operations ({} failed), {} reloads ({} rejected)",
            self.phase.name(),
            self.reconciles,
            self.kernel_ops,
            self.kernel_errors,
            self.reloads,
            self.reload_failures
        );
        if let Some(r) = &self.last_reload {
            let _ = writeln!(s, "last reload: {r}");
        }
        if let Some(left) = self.confirm_left(now) {
            let _ = writeln!(
                s,
                "reload pending confirmation: rolls back in {left}s unless `lvsd confirm`"
            );
        }
        if let Some(a) = &self.anycast {
            render_anycast_text(&mut s, a);
        }
        for v in &self.virtuals {
            match self.mh_fingerprint(&v.key) {
                Some(fp) => {
                    let _ = writeln!(s, "{} {} table {fp}", v.key, v.scheduler);
                }
                None => {
                    let _ = writeln!(s, "{} {}", v.key, v.scheduler);
                }
            }
            for r in &v.reals {
                let name = if r.fallback { "fallback " } else { "" };
                let weight = match &r.kernel {
                    Some(k) => format!("weight {}/{}", k.weight, r.weight),
                    None => format!("weight -/{}", r.weight),
                };
                let conns = r
                    .kernel
                    .as_ref()
                    .map(|k| format!(" conns {}/{}", k.active_conns, k.inact_conns))
                    .unwrap_or_default();
                let _ = write!(
                    s,
                    "  -> {}{} {} {} {}{}",
                    name,
                    hostport(r.addr, r.port),
                    fwd_word(r.forward),
                    r.health.word(),
                    weight,
                    conns
                );
                if let Some(o) = self.override_of(v, r) {
                    let _ = write!(s, " override {o}");
                }
                if let Some(l) = &r.last {
                    let ago = now.duration_since(l.at).unwrap_or_default().as_secs();
                    let res = if l.ok { "ok" } else { "failed" };
                    let _ = write!(
                        s,
                        " last check {res} {}ms {ago}s ago: {}",
                        l.latency.as_millis(),
                        l.detail
                    );
                    // Down although its last check passed (rising, or its
                    // agent took it out): say why.
                    if let (true, Shown::Down(why)) = (l.ok, &r.health) {
                        let _ = write!(s, " ({why})");
                    }
                } else if let Shown::Down(why) = &r.health {
                    let _ = write!(s, " ({why})");
                }
                s.push('\n');
            }
        }
        s
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let mut s = String::new();
        let gauge = |s: &mut String, name: &str, help: &str, kind: &str| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        if !self.mh_fingerprints.is_empty() {
            // Info-style: the fingerprint is a label, so a query can count
            // distinct values per virtual across directors.
            gauge(
                &mut s,
                "lvsd_mh_table_info",
                "fingerprint of the kernel's mh lookup table; equal on two directors means equal choice of real",
                "gauge",
            );
            for (k, fp) in &self.mh_fingerprints {
                let virt = k.to_string().replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(
                    s,
                    "lvsd_mh_table_info{{virtual=\"{virt}\",fingerprint=\"{fp}\"}} 1"
                );
            }
        }
        gauge(
            &mut s,
            "lvsd_real_up",
            "1 if the real server passes its checks",
            "gauge",
        );
        for (v, r) in self.reals() {
            let up = u8::from(r.health == Shown::Up);
            let _ = writeln!(s, "lvsd_real_up{{{}}} {up}", labels(v, r));
        }
        gauge(
            &mut s,
            "lvsd_real_weight",
            "weight of the real server in the kernel",
            "gauge",
        );
        for (v, r) in self.reals() {
            if let Some(k) = &r.kernel {
                let _ = writeln!(s, "lvsd_real_weight{{{}}} {}", labels(v, r), k.weight);
            }
        }
        gauge(
            &mut s,
            "lvsd_real_override_weight",
            "weight set at run time by lvsd drain (0) or lvsd weight; absent without an override",
            "gauge",
        );
        for (v, r) in self.reals() {
            if let Some(o) = self.override_of(v, r) {
                let _ = writeln!(
                    s,
                    "lvsd_real_override_weight{{{}}} {}",
                    labels(v, r),
                    o.weight()
                );
            }
        }
        gauge(
            &mut s,
            "lvsd_reload_confirm_pending",
            "1 while a reload --confirm waits for lvsd confirm",
            "gauge",
        );
        let _ = writeln!(
            s,
            "lvsd_reload_confirm_pending {}",
            u8::from(self.confirm_deadline.is_some())
        );
        gauge(
            &mut s,
            "lvsd_real_active_connections",
            "active connections (kernel)",
            "gauge",
        );
        for (v, r) in self.reals() {
            if let Some(k) = &r.kernel {
                let _ = writeln!(
                    s,
                    "lvsd_real_active_connections{{{}}} {}",
                    labels(v, r),
                    k.active_conns
                );
            }
        }
        gauge(
            &mut s,
            "lvsd_real_inactive_connections",
            "inactive connections (kernel)",
            "gauge",
        );
        for (v, r) in self.reals() {
            if let Some(k) = &r.kernel {
                let _ = writeln!(
                    s,
                    "lvsd_real_inactive_connections{{{}}} {}",
                    labels(v, r),
                    k.inact_conns
                );
            }
        }
        gauge(
            &mut s,
            "lvsd_real_connections_total",
            "connections scheduled (kernel)",
            "counter",
        );
        for (v, r) in self.reals() {
            if let Some(k) = &r.kernel {
                let _ = writeln!(
                    s,
                    "lvsd_real_connections_total{{{}}} {}",
                    labels(v, r),
                    k.stats.conns
                );
            }
        }
        gauge(
            &mut s,
            "lvsd_real_bytes_in_total",
            "bytes received (kernel)",
            "counter",
        );
        for (v, r) in self.reals() {
            if let Some(k) = &r.kernel {
                let _ = writeln!(
                    s,
                    "lvsd_real_bytes_in_total{{{}}} {}",
                    labels(v, r),
                    k.stats.inbytes
                );
            }
        }
        gauge(
            &mut s,
            "lvsd_real_bytes_out_total",
            "bytes sent (kernel)",
            "counter",
        );
        for (v, r) in self.reals() {
            if let Some(k) = &r.kernel {
                let _ = writeln!(
                    s,
                    "lvsd_real_bytes_out_total{{{}}} {}",
                    labels(v, r),
                    k.stats.outbytes
                );
            }
        }
        gauge(
            &mut s,
            "lvsd_check_latency_seconds",
            "duration of the last check",
            "gauge",
        );
        for (v, r) in self.reals() {
            if let Some(l) = &r.last {
                let _ = writeln!(
                    s,
                    "lvsd_check_latency_seconds{{{}}} {}",
                    labels(v, r),
                    l.latency.as_secs_f64()
                );
            }
        }
        gauge(&mut s, "lvsd_checks_total", "checks run", "counter");
        for (v, r) in self.reals() {
            let _ = writeln!(s, "lvsd_checks_total{{{}}} {}", labels(v, r), r.checks);
        }
        gauge(
            &mut s,
            "lvsd_check_failures_total",
            "checks failed",
            "counter",
        );
        for (v, r) in self.reals() {
            let _ = writeln!(
                s,
                "lvsd_check_failures_total{{{}}} {}",
                labels(v, r),
                r.failures
            );
        }
        for (name, help, val) in [
            ("lvsd_reconciles_total", "reconcile passes", self.reconciles),
            (
                "lvsd_kernel_operations_total",
                "IPVS operations issued",
                self.kernel_ops,
            ),
            (
                "lvsd_kernel_errors_total",
                "IPVS operations that failed",
                self.kernel_errors,
            ),
            ("lvsd_reloads_total", "config reloads applied", self.reloads),
            (
                "lvsd_reload_failures_total",
                "config reloads rejected",
                self.reload_failures,
            ),
            (
                "lvsd_resync_repairs_total",
                "changes made behind lvsd's back that the resync restored",
                self.resync_repairs,
            ),
            (
                "lvsd_failed_passes_total",
                "reconcile passes that failed and were retried",
                self.failed_passes,
            ),
        ] {
            gauge(&mut s, name, help, "counter");
            let _ = writeln!(s, "{name} {val}");
        }
        gauge(
            &mut s,
            "lvsd_tasks",
            "background tasks the engine tracks (hooks, instance starts)",
            "gauge",
        );
        let _ = writeln!(s, "lvsd_tasks {}", self.tasks);
        if let Some(a) = &self.anycast {
            gauge(
                &mut s,
                "lvsd_anycast_announced",
                "1 while the VIP's host route is installed (announced)",
                "gauge",
            );
            for v in &a.vips {
                let _ = writeln!(
                    s,
                    "lvsd_anycast_announced{{vip=\"{}\"}} {}",
                    v.address,
                    u8::from(v.announced)
                );
            }
            gauge(
                &mut s,
                "lvsd_anycast_withdrawals_total",
                "VIP routes withdrawn since start",
                "counter",
            );
            let _ = writeln!(s, "lvsd_anycast_withdrawals_total {}", a.withdrawals);
            gauge(
                &mut s,
                "lvsd_bgp_session_up",
                "1 if the routing daemon's BGP session is established",
                "gauge",
            );
            for b in &a.sessions {
                // Names are restricted to [A-Za-z0-9_.:-] by daemon::bird.
                let _ = writeln!(
                    s,
                    "lvsd_bgp_session_up{{peer=\"{}\"}} {}",
                    b.name,
                    u8::from(b.up)
                );
            }
        }
        s
    }

    fn reals(&self) -> impl Iterator<Item = (&VirtualView, &RealView)> {
        self.virtuals
            .iter()
            .flat_map(|v| v.reals.iter().map(move |r| (v, r)))
    }
}

/// `lvsd status` lines of the announcer: one per VIP, one per BGP session.
fn render_anycast_text(s: &mut String, a: &super::anycast::AnycastView) {
    let _ = writeln!(
        s,
        "anycast: table {} protocol {}, {} withdrawals",
        a.table, a.protocol, a.withdrawals
    );
    for v in &a.vips {
        match (&v.reason, v.announced) {
            (None, true) => {
                let _ = writeln!(s, "  vip {} announced", v.address);
            }
            (Some(r), false) => {
                let _ = writeln!(s, "  vip {} withdrawn: {r}", v.address);
            }
            // The route does not (yet) match the decision: a kernel error.
            (None, false) => {
                let _ = writeln!(
                    s,
                    "  vip {} withdrawn: route not installed (kernel error?)",
                    v.address
                );
            }
            (Some(r), true) => {
                let _ = writeln!(s, "  vip {} announced, withdrawing: {r}", v.address);
            }
        }
    }
    for b in &a.sessions {
        let _ = writeln!(
            s,
            "  bgp {} {} ({})",
            b.name,
            if b.up { "up" } else { "down" },
            b.info
        );
    }
    if let Some(e) = &a.bird_error {
        let _ = writeln!(s, "  bird: {e}");
    }
}

/// The port under which the kernel holds `r` (see `reconcile::kernel_port`).
fn kport(key: &ServiceKey, r: &RealView) -> u16 {
    let mut rs = RealServer::new(r.addr, r.port);
    rs.forward = r.forward;
    crate::reconcile::kernel_port(key, &rs)
}

use crate::model::host_port as hostport;

fn fwd_word(f: Forward) -> &'static str {
    match f {
        Forward::Masq => "masq",
        Forward::Route => "gate",
        Forward::Tunnel => "ipip",
        Forward::Local => "local",
        Forward::Other(_) => "other",
    }
}

/// Prometheus label set of one real; label values escape `\`, `"` and newline.
fn labels(v: &VirtualView, r: &RealView) -> String {
    let esc = |x: &str| {
        x.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    format!(
        "virtual=\"{}\",real=\"{}\",fallback=\"{}\"",
        esc(&v.key.to_string()),
        esc(&hostport(r.addr, r.port)),
        r.fallback
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, TableEntry, VirtualService};

    fn sample() -> Status {
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let mut st = Status::new("/etc/ha.d/ldirectord.cf".into());
        st.virtuals.push(VirtualView {
            key,
            scheduler: "wrr".into(),
            reals: vec![
                RealView {
                    addr: "10.1.0.1".parse().unwrap(),
                    port: 8080,
                    forward: Forward::Masq,
                    weight: 3,
                    health: Shown::Up,
                    last: Some(LastCheck {
                        at: SystemTime::UNIX_EPOCH,
                        ok: true,
                        detail: "200 OK".into(),
                        latency: Duration::from_millis(12),
                    }),
                    checks: 4,
                    failures: 1,
                    kernel: None,
                    fallback: false,
                },
                RealView {
                    addr: "10.1.0.2".parse().unwrap(),
                    port: 9999,
                    forward: Forward::Route,
                    weight: 2,
                    health: Shown::Down("connection refused".into()),
                    last: None,
                    checks: 0,
                    failures: 0,
                    kernel: None,
                    fallback: false,
                },
            ],
        });
        st
    }

    #[test]
    fn kernel_merge_finds_dr_reals_under_the_virtual_port() {
        let mut st = sample();
        let mut k1 = RealServer::new("10.1.0.1".parse().unwrap(), 8080);
        k1.weight = 3;
        k1.active_conns = 7;
        k1.stats.inbytes = 1234;
        let mut k2 = RealServer::new("10.1.0.2".parse().unwrap(), 80);
        k2.weight = 0;
        let t = Table {
            entries: vec![TableEntry {
                service: VirtualService::new(st.virtuals[0].key),
                reals: vec![k1, k2],
            }],
        };
        st.merge_kernel(&t);
        assert_eq!(
            st.virtuals[0].reals[0]
                .kernel
                .as_ref()
                .unwrap()
                .active_conns,
            7
        );
        assert_eq!(st.virtuals[0].reals[1].kernel.as_ref().unwrap().weight, 0);
        let text = st.render_text(SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        assert!(text.contains("TCP 10.0.0.1:80 wrr\n"), "{text}");
        assert!(
            text.contains("  -> 10.1.0.1:8080 masq up weight 3/3 conns 7/0 last check ok 12ms 5s ago: 200 OK\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  -> 10.1.0.2:9999 gate down weight 0/2 conns 0/0 (connection refused)\n"
            ),
            "{text}"
        );
        let prom = st.render_prometheus();
        assert!(prom.contains(
            "lvsd_real_bytes_in_total{virtual=\"TCP 10.0.0.1:80\",real=\"10.1.0.1:8080\",fallback=\"false\"} 1234\n"
        ), "{prom}");
        assert!(prom.contains(
            "lvsd_real_up{virtual=\"TCP 10.0.0.1:80\",real=\"10.1.0.2:9999\",fallback=\"false\"} 0\n"
        ));
        assert!(prom.contains("lvsd_check_latency_seconds{virtual=\"TCP 10.0.0.1:80\",real=\"10.1.0.1:8080\",fallback=\"false\"} 0.012\n"));
    }
}

#[cfg(test)]
mod mh_tests {
    use super::*;
    use crate::model::{Protocol, ServiceFlags, TableEntry, VirtualService};

    fn status_for(reals: &[(&str, i32)], scheduler: &str) -> Status {
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let mut st = Status::new("x".into());
        st.virtuals.push(VirtualView {
            key,
            scheduler: scheduler.into(),
            reals: Vec::new(),
        });
        let mut service = VirtualService::new(key);
        service.scheduler = scheduler.into();
        service.flags = ServiceFlags(ServiceFlags::SCHED1);
        let reals = reals
            .iter()
            .map(|(a, w)| {
                let mut r = RealServer::new(a.parse().unwrap(), 80);
                r.weight = *w;
                r
            })
            .collect();
        st.merge_kernel(&Table {
            entries: vec![TableEntry { service, reals }],
        });
        st
    }

    #[test]
    fn mh_virtuals_show_a_table_fingerprint_that_tracks_the_table() {
        let a = status_for(&[("10.1.0.1", 1), ("10.1.0.2", 1)], "mh");
        let same = status_for(&[("10.1.0.1", 1), ("10.1.0.2", 1)], "mh");
        let swapped = status_for(&[("10.1.0.2", 1), ("10.1.0.1", 1)], "mh");
        let key = a.virtuals[0].key;
        let fp = a.mh_fingerprint(&key).unwrap().to_string();
        assert_eq!(fp.len(), 16);
        assert_eq!(same.mh_fingerprint(&key), Some(fp.as_str()));
        // Kernel list order decides the table: another order, another print.
        assert_ne!(swapped.mh_fingerprint(&key), Some(fp.as_str()));
        let text = a.render_text(SystemTime::UNIX_EPOCH);
        assert!(
            text.contains(&format!("TCP 10.0.0.1:80 mh table {fp}\n")),
            "{text}"
        );
        let prom = a.render_prometheus();
        assert!(
            prom.contains(&format!(
                "lvsd_mh_table_info{{virtual=\"TCP 10.0.0.1:80\",fingerprint=\"{fp}\"}} 1\n"
            )),
            "{prom}"
        );
        let wlc = status_for(&[("10.1.0.1", 1)], "wlc");
        assert!(wlc.mh_fingerprints.is_empty());
        assert!(!wlc.render_prometheus().contains("lvsd_mh_table_info"));
    }
}

#[cfg(test)]
mod mh_quiesce_tests {
    use super::*;
    use crate::model::maglev::FLAG_FALLBACK;
    use crate::model::{Protocol, ServiceFlags, TableEntry, VirtualService};

    #[test]
    fn a_quiesced_real_counts_with_its_configured_weight() {
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let view = |a: &str, w: i32| RealView {
            addr: a.parse().unwrap(),
            port: 80,
            forward: Forward::Route,
            weight: w,
            health: Shown::Up,
            last: None,
            checks: 0,
            failures: 0,
            kernel: None,
            fallback: false,
        };
        let mut st = Status::new("x".into());
        st.virtuals.push(VirtualView {
            key,
            scheduler: "mh".into(),
            reals: vec![view("10.1.0.1", 3), view("10.1.0.2", 2)],
        });
        let mut service = VirtualService::new(key);
        service.scheduler = "mh".into();
        service.flags = ServiceFlags(FLAG_FALLBACK);
        let kr = |a: &str, w: i32| {
            let mut r = RealServer::new(a.parse().unwrap(), 80);
            r.forward = Forward::Route;
            r.weight = w;
            r
        };
        st.merge_kernel(&Table {
            entries: vec![TableEntry {
                service,
                reals: vec![kr("10.1.0.1", 0), kr("10.1.0.2", 2)],
            }],
        });
        let want = MhTable::build(
            vec![
                MhDest {
                    addr: "10.1.0.1".parse().unwrap(),
                    port: 80,
                    weight: 0,
                    last_weight: 3,
                },
                MhDest {
                    addr: "10.1.0.2".parse().unwrap(),
                    port: 80,
                    weight: 2,
                    last_weight: 2,
                },
            ],
            FLAG_FALLBACK,
        )
        .unwrap();
        assert_eq!(st.mh_fingerprint(&key), Some(want.fingerprint().as_str()));
    }
}
