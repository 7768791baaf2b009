//! Adapter between the daemon engine and the check engine: turns the
//! plan's per-real `model::CheckSpec`s into `check::CheckEntry`s, feeds
//! them to `check::Engine::update` (unchanged checks keep running across a
//! reload), and maps the check engine's events back to [`CheckReport`]s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::check::{self, CheckEntry, Engine, EngineOptions, Target};
use crate::model::ServiceKey;
use crate::reconcile::RealKey;

use super::engine::{CheckReport, CheckRunner};
use super::plan::Plan;

/// Runs the checks of a plan through `check::Engine`.
pub struct CheckAdapter {
    engine: Mutex<Engine>,
    ids: Arc<Mutex<HashMap<String, RealKey>>>,
    /// The task forwarding check events as reports: ended at shutdown
    /// (the check engine keeps its sender, so it would wait forever).
    forwarder: tokio::task::JoinHandle<()>,
}

impl CheckAdapter {
    /// An adapter reporting to `tx`. Must be called inside a tokio runtime.
    pub fn new(tx: mpsc::Sender<CheckReport>) -> CheckAdapter {
        let (etx, mut erx) = mpsc::channel::<check::Event>(4096);
        let ids: Arc<Mutex<HashMap<String, RealKey>>> = Arc::default();
        let map = ids.clone();
        let forwarder = tokio::spawn(async move {
            while let Some(ev) = erx.recv().await {
                let key = map.lock().ok().and_then(|m| m.get(&ev.id).copied());
                let Some(key) = key else { continue };
                let up = ev.health.is_up();
                let report = CheckReport {
                    key,
                    ok: up,
                    // Where a real's text enters the daemon: every consumer
                    // (log, mail, hooks, status page) gets one clean line.
                    detail: crate::model::text::sanitize(&ev.reason),
                    latency: ev.latency,
                    verdict: ev.changed.then_some(up),
                    weight: ev.weight,
                    agent: ev.agent,
                };
                if tx.send(report).await.is_err() {
                    break;
                }
            }
        });
        CheckAdapter {
            engine: Mutex::new(Engine::new(etx, EngineOptions::default())),
            ids,
            forwarder,
        }
    }
}

impl CheckRunner for CheckAdapter {
    fn update(&self, plan: &Plan, known_up: &dyn Fn(&RealKey) -> bool) {
        let mut entries = Vec::new();
        let mut ids = HashMap::new();
        for v in &plan.virtuals {
            let report_every = v.monitorfile.is_some();
            let key = v.key();
            // Per virtual, not per real: its part of the ids and its
            // address as the checks' virtual host. A reload hands every
            // checked real to the engine again (10,000 with a large
            // file); formatting these per real was most of that.
            let (prefix, virtual_host, virtual_port) = virtual_parts(&key);
            for (real, spec) in v.spec.reals.iter().zip(&v.checks) {
                // checktype=on/off: the engine knows the health without a
                // check (ldirectord never checks them either); no task, so
                // 10,000 such reals cost nothing after the start. An agent
                // (lvsd.toml) still needs one beside checktype=on.
                if Plan::static_health(spec).is_some() && spec.policy.agent.is_none() {
                    continue;
                }
                let rk = RealKey::of(key, real);
                let id = check_id_in(&prefix, &rk);
                ids.insert(id.clone(), rk);
                entries.push(CheckEntry {
                    id,
                    // the virtual's one copy, shared (not a copy per real)
                    spec: Arc::clone(spec),
                    target: Target {
                        real: rk.addr,
                        real_port: rk.port,
                        virtual_host: virtual_host.clone(),
                        virtual_port,
                    },
                    assume_up: known_up(&rk),
                    report_every,
                });
            }
        }
        if let Ok(mut m) = self.ids.lock() {
            *m = ids;
        }
        if let Ok(mut e) = self.engine.lock() {
            let st = e.update(entries);
            tracing::debug!(
                started = st.started,
                stopped = st.stopped,
                kept = st.kept,
                "checks updated"
            );
        }
    }

    fn shutdown(&self) {
        if let Ok(mut e) = self.engine.lock() {
            e.shutdown();
        }
        self.forwarder.abort();
    }
}

/// A stable id per (virtual, real): one check and one state per pair
/// (ldirectord shares one state between virtuals, see its weakness 11).
/// (`prefix`: its virtual's, from [`virtual_parts`].)
fn check_id_in(prefix: &str, k: &RealKey) -> String {
    let mut id = String::with_capacity(prefix.len() + 48);
    id.push_str(prefix);
    crate::model::addr_text::push_ip(&mut id, k.addr, false);
    id.push('|');
    crate::model::addr_text::push_decimal(&mut id, k.port.into());
    id
}

/// A virtual's part of its reals' check ids, and its host and port as
/// its checks' [`Target`] has them.
fn virtual_parts(service: &ServiceKey) -> (String, String, u16) {
    let prefix = format!("{service}|");
    match *service {
        ServiceKey::Addr { addr, port, .. } => (prefix, ip_text(addr), port),
        ServiceKey::Fwmark { mark, .. } => (prefix, mark.to_string(), 0),
    }
}

fn ip_text(a: IpAddr) -> String {
    a.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckSpec, CheckType, Protocol, Service};
    use std::time::Duration;

    fn spec(ct: CheckType) -> CheckSpec {
        CheckSpec {
            checktype: ct,
            service: Service::Http,
            checktimeout: Duration::from_millis(300),
            negotiatetimeout: Duration::from_millis(300),
            checkinterval: Duration::from_millis(50),
            ..CheckSpec::defaults()
        }
    }

    /// The ids built from a virtual's part and the real read as the old
    /// `format!("{service}|{addr}|{port}")` did, for IPv4, IPv6 and
    /// fwmark virtuals (the forwarder maps events back through them).
    #[tokio::test]
    async fn check_ids_read_as_the_formatted_ones() {
        let services = [
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            },
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: "2001:db8::1".parse().unwrap(),
                port: 53,
            },
            ServiceKey::Fwmark {
                family: crate::model::Family::V4,
                mark: 7,
            },
        ];
        let reals = ["127.0.0.1", "::1"];
        let mut slow = spec(CheckType::Connect);
        slow.checkinterval = Duration::from_secs(3600);
        let slow: Arc<CheckSpec> = slow.into();
        let plan = Plan {
            virtuals: services
                .iter()
                .map(|k| super::super::plan::VirtualPlan {
                    spec: crate::reconcile::VirtualSpec {
                        service: crate::model::VirtualService::new(*k),
                        reals: reals
                            .iter()
                            .map(|r| crate::model::RealServer::new(r.parse().unwrap(), 8080))
                            .collect(),
                        fallback: None,
                        quiescent: false,
                        consistent: false,
                    },
                    checks: reals.iter().map(|_| slow.clone()).collect(),
                    cleanstop: false,
                    fallbackcommand: None,
                    alerts: Default::default(),
                    monitorfile: None,
                })
                .collect(),
            ..Default::default()
        };
        let (tx, _rx) = mpsc::channel(16);
        let a = CheckAdapter::new(tx);
        a.update(&plan, &|_| false);
        let ids = a.ids.lock().unwrap().clone();
        assert_eq!(ids.len(), 6);
        for (k, r) in services
            .iter()
            .flat_map(|k| reals.iter().map(move |r| (k, r)))
        {
            let rk = RealKey {
                service: *k,
                addr: r.parse().unwrap(),
                port: 8080,
            };
            let old = format!("{}|{}|{}", rk.service, rk.addr, rk.port);
            assert_eq!(ids.get(&old), Some(&rk), "{old}");
        }
        assert_eq!(a.engine.lock().unwrap().len(), 6);
        a.shutdown();
    }

    /// A real TCP listener on loopback goes up; closing it brings the real down.
    #[tokio::test]
    async fn connect_checks_report_up_then_down() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let accept = tokio::spawn(async move {
            loop {
                if l.accept().await.is_err() {
                    break;
                }
            }
        });
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let mut real = crate::model::RealServer::new("127.0.0.1".parse().unwrap(), port);
        real.forward = crate::model::Forward::Masq;
        let mut svc = crate::model::VirtualService::new(key);
        svc.scheduler = "rr".into();
        // checktype=off and on reals get no check task: the off one would
        // otherwise report "down" at once, before the connect check.
        let mut off = crate::model::RealServer::new("127.0.0.2".parse().unwrap(), port);
        off.forward = crate::model::Forward::Masq;
        let mut on = crate::model::RealServer::new("127.0.0.3".parse().unwrap(), port);
        on.forward = crate::model::Forward::Masq;
        let plan = Plan {
            virtuals: vec![super::super::plan::VirtualPlan {
                spec: crate::reconcile::VirtualSpec {
                    service: svc,
                    reals: vec![off, on, real.clone()],
                    fallback: None,
                    quiescent: false,
                    consistent: false,
                },
                checks: vec![
                    spec(CheckType::Off).into(),
                    spec(CheckType::On).into(),
                    spec(CheckType::Connect).into(),
                ],
                cleanstop: false,
                fallbackcommand: None,
                alerts: Default::default(),
                monitorfile: None,
            }],
            ..Default::default()
        };
        let (tx, mut rx) = mpsc::channel(16);
        let a = CheckAdapter::new(tx);
        a.update(&plan, &|_| false);
        assert_eq!(
            a.engine.lock().unwrap().len(),
            1,
            "only the connect check runs"
        );
        let r = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.key, RealKey::of(key, &real));
        assert_eq!(r.verdict, Some(true));
        accept.abort();
        let _ = accept.await;
        let r = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.verdict, Some(false));
        assert!(r.detail.contains("refused"), "{}", r.detail);
        a.shutdown();
    }
}
