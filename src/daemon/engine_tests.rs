//! Engine behaviour against the in-memory kernel: adoption without
//! flushing, quiesce/restore, fallback, reload by diff, rejected reloads,
//! maintenance files, cleanstop.

use super::*;
use crate::daemon::plan::{Alerts, VirtualPlan};
use crate::kernel::FakeTable;
use crate::model::{CheckSpec, CheckType, Forward, Protocol, RealServer, Service, VirtualService};
use crate::reconcile::VirtualSpec;

struct NoChecks;

impl CheckRunner for NoChecks {
    fn update(&self, _: &Plan, _: &dyn Fn(&RealKey) -> bool) {}
    fn shutdown(&self) {}
}

fn check(ct: CheckType) -> CheckSpec {
    CheckSpec {
        checktype: ct,
        service: Service::Http,
        checktimeout: Duration::from_secs(1),
        negotiatetimeout: Duration::from_secs(1),
        checkinterval: Duration::from_secs(1),
        ..CheckSpec::defaults()
    }
}

fn vkey(n: u8) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: format!("10.0.0.{n}").parse().unwrap(),
        port: 80,
    }
}

fn real(a: &str, w: i32) -> RealServer {
    let mut r = RealServer::new(a.parse().unwrap(), 80);
    r.forward = Forward::Masq;
    r.weight = w;
    r
}

fn vplan(n: u8, reals: &[(&str, i32)], ct: CheckType, quiescent: bool) -> VirtualPlan {
    let mut service = VirtualService::new(vkey(n));
    service.scheduler = "wrr".into();
    let reals: Vec<RealServer> = reals.iter().map(|(a, w)| real(a, *w)).collect();
    VirtualPlan {
        checks: reals.iter().map(|_| check(ct).into()).collect(),
        spec: VirtualSpec {
            service,
            reals,
            fallback: None,
            quiescent,
            consistent: false,
        },
        cleanstop: false,
        fallbackcommand: None,
        alerts: Alerts::default(),
        monitorfile: None,
    }
}

struct Harness {
    fake: Arc<FakeTable>,
    reports: mpsc::Sender<CheckReport>,
    requests: mpsc::Sender<Request>,
    hup: mpsc::Sender<()>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), EngineError>>,
    next_plan: Arc<Mutex<Result<Plan, ConfigError>>>,
    /// The engine's status (counters of repairs, failed passes).
    state: Arc<Mutex<Status>>,
}

async fn start(fake: FakeTable, plan: Plan) -> Harness {
    let fake = Arc::new(fake);
    start_on(fake.clone(), fake, plan).await
}

/// The kernel as `ipvs` (a wrapper around `fake`, say) with `fake` for
/// the assertions.
async fn start_on(ipvs: SharedIpvs, fake: Arc<FakeTable>, plan: Plan) -> Harness {
    let path = PathBuf::from("/nonexistent/test.cf");
    start_full(ipvs, fake, plan, path, |e| e).await
}

/// An engine for the config file `path`, adjusted by `setup` (hook
/// programs, say) before it runs.
async fn start_full(
    ipvs: SharedIpvs,
    fake: Arc<FakeTable>,
    plan: Plan,
    path: PathBuf,
    setup: impl FnOnce(Engine) -> Engine,
) -> Harness {
    let next_plan = Arc::new(Mutex::new(Ok(plan.clone())));
    let np = next_plan.clone();
    let loader: Loader = Arc::new(move |_| np.lock().unwrap().clone());
    let (rtx, rrx) = mpsc::channel(64);
    let (qtx, qrx) = mpsc::channel(8);
    let (htx, hrx) = mpsc::channel(1);
    let (stx, srx) = watch::channel(false);
    let status = Arc::new(Mutex::new(Status::new("test.cf".into())));
    let state = status.clone();
    let engine = setup(Engine::new(
        path,
        loader,
        plan,
        ipvs,
        Arc::new(NoChecks),
        status,
    ));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(engine.run(rrx, qrx, hrx, srx, move || {
        let _ = ready_tx.send(());
    }));
    tokio::time::timeout(Duration::from_secs(5), ready_rx)
        .await
        .unwrap()
        .unwrap();
    Harness {
        fake,
        reports: rtx,
        requests: qtx,
        hup: htx,
        shutdown: stx,
        task,
        next_plan,
        state,
    }
}

impl Harness {
    fn weights(&self, n: u8) -> Vec<(String, i32)> {
        self.fake
            .snapshot()
            .get(&vkey(n))
            .map(|e| {
                // The kernel lists the newest real first; compare sorted.
                let mut v: Vec<_> = e
                    .reals
                    .iter()
                    .map(|r| (r.addr.to_string(), r.weight))
                    .collect();
                v.sort();
                v
            })
            .unwrap_or_default()
    }

    async fn report(&self, n: u8, a: &str, up: bool) {
        self.report_check(n, a, up, Some(up)).await
    }

    /// One check result; `verdict` is `Some` when the health changed.
    async fn report_check(&self, n: u8, a: &str, up: bool, verdict: Option<bool>) {
        self.reports
            .send(CheckReport {
                key: RealKey::of(vkey(n), &real(a, 1)),
                ok: up,
                detail: if up {
                    "200 OK".into()
                } else {
                    "connection refused".into()
                },
                latency: Duration::from_millis(3),
                verdict,
                weight: None,
                agent: None,
            })
            .await
            .unwrap();
    }

    /// Wait (bounded) until `f` holds.
    async fn until(&self, what: &str, f: impl Fn(&Harness) -> bool) {
        for _ in 0..200 {
            if f(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "timed out waiting for {what}; table: {:?}",
            self.fake.snapshot()
        );
    }

    async fn reload(&self) -> Result<String, String> {
        self.reload_typed().await.map_err(|e| e.to_string())
    }

    async fn reload_typed(&self) -> Result<String, ReloadError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.requests.send(Request::Reload(tx)).await.unwrap();
        rx.await.unwrap()
    }

    async fn status(&self) -> String {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.requests.send(Request::Status(tx)).await.unwrap();
        rx.await.unwrap()
    }

    async fn stop(self) -> Arc<FakeTable> {
        self.shutdown.send(true).unwrap();
        self.task.await.unwrap().unwrap();
        self.fake
    }
}

fn plan_of(v: Vec<VirtualPlan>) -> Plan {
    Plan {
        virtuals: v,
        checkinterval: Duration::from_secs(1),
        ..Default::default()
    }
}

#[tokio::test]
async fn start_builds_table_in_one_batch_for_checktype_on() {
    let plan = plan_of(vec![
        vplan(1, &[("10.1.0.1", 1), ("10.1.0.2", 2)], CheckType::On, false),
        vplan(2, &[("10.2.0.1", 3)], CheckType::On, false),
    ]);
    let h = start(FakeTable::new(), plan).await;
    assert_eq!(
        h.weights(1),
        vec![("10.1.0.1".into(), 1), ("10.1.0.2".into(), 2)]
    );
    assert_eq!(h.weights(2), vec![("10.2.0.1".into(), 3)]);
    assert_eq!(h.fake.batches(), 1);
    assert_eq!(h.fake.ops(), 5);
    let fake = h.stop().await;
    // cleanstop=no: the table stays.
    assert_eq!(fake.snapshot().entries.len(), 2);
}

#[tokio::test]
async fn restart_adopts_the_table_without_any_kernel_op() {
    let plan = plan_of(vec![vplan(
        1,
        &[("10.1.0.1", 1), ("10.1.0.2", 2)],
        CheckType::Connect,
        true,
    )]);
    // What a previous lvsd left, plus a service someone else owns.
    let mut foreign = VirtualService::new(vkey(9));
    foreign.scheduler = "lc".into();
    let mut svc = VirtualService::new(vkey(1));
    svc.scheduler = "wrr".into();
    let pre = Table {
        entries: vec![
            TableEntry {
                service: foreign,
                reals: vec![real("10.9.0.1", 5)],
            },
            TableEntry {
                service: svc,
                reals: vec![real("10.1.0.1", 1), real("10.1.0.2", 2)],
            },
        ],
    };
    let h = start(FakeTable::with_table(pre.clone()), plan).await;
    assert_eq!(h.fake.ops(), 0, "adoption must not touch the kernel");
    assert_eq!(h.fake.snapshot(), pre);
    // A failing check then quiesces exactly one real.
    h.report(1, "10.1.0.2", false).await;
    h.until("quiesce", |h| {
        h.weights(1) == vec![("10.1.0.1".into(), 1), ("10.1.0.2".into(), 0)]
    })
    .await;
    assert_eq!(h.fake.ops(), 1);
    h.report(1, "10.1.0.2", true).await;
    h.until("restore", |h| {
        h.weights(1) == vec![("10.1.0.1".into(), 1), ("10.1.0.2".into(), 2)]
    })
    .await;
    assert_eq!(h.fake.ops(), 2);
    // The foreign service was never touched.
    assert_eq!(h.fake.snapshot().get(&vkey(9)), pre.get(&vkey(9)));
    let st = h.status().await;
    assert!(st.contains("  -> 10.1.0.2:80 masq up weight 2/2"), "{st}");
    h.stop().await;
}

#[tokio::test]
async fn unchecked_reals_wait_for_their_first_check() {
    let plan = plan_of(vec![vplan(
        1,
        &[("10.1.0.1", 4)],
        CheckType::Connect,
        false,
    )]);
    let h = start(FakeTable::new(), plan).await;
    // quiescent=no and health unknown: the service exists, the real not yet.
    assert!(h.weights(1).is_empty());
    assert!(h.fake.snapshot().get(&vkey(1)).is_some());
    h.report(1, "10.1.0.1", true).await;
    h.until("real added", |h| {
        h.weights(1) == vec![("10.1.0.1".into(), 4)]
    })
    .await;
    h.report(1, "10.1.0.1", false).await;
    h.until("real removed", |h| h.weights(1).is_empty()).await;
    h.stop().await;
}

#[tokio::test]
async fn fallback_comes_and_goes_with_the_last_real() {
    let mut v = vplan(
        1,
        &[("10.1.0.1", 1), ("10.1.0.2", 1)],
        CheckType::Connect,
        false,
    );
    let mut fb = real("10.3.0.9", 1);
    fb.forward = Forward::Route;
    v.spec.fallback = Some(fb);
    let h = start(FakeTable::new(), plan_of(vec![v])).await;
    // Nothing checked yet: no reals, and no fallback flash either.
    assert!(h.weights(1).is_empty());
    h.report(1, "10.1.0.2", false).await;
    h.report(1, "10.1.0.1", false).await;
    h.until("fallback in", |h| {
        h.weights(1) == vec![("10.3.0.9".into(), 1)]
    })
    .await;
    h.report(1, "10.1.0.1", true).await;
    h.until("fallback gone", |h| {
        h.weights(1) == vec![("10.1.0.1".into(), 1)]
    })
    .await;
    h.report(1, "10.1.0.1", false).await;
    h.until("fallback back", |h| {
        h.weights(1) == vec![("10.3.0.9".into(), 1)]
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn reload_changing_one_weight_is_one_kernel_op() {
    let plan = plan_of(vec![
        vplan(1, &[("10.1.0.1", 1), ("10.1.0.2", 1)], CheckType::On, false),
        vplan(2, &[("10.2.0.1", 1)], CheckType::On, false),
    ]);
    let h = start(FakeTable::new(), plan.clone()).await;
    let before = h.fake.ops();
    let mut next = plan.clone();
    next.virtuals[0].spec.reals[1].weight = 5;
    *h.next_plan.lock().unwrap() = Ok(next);
    let msg = h.reload().await.unwrap();
    assert_eq!(msg, "configuration applied: 1 kernel operations");
    assert_eq!(h.fake.ops() - before, 1);
    assert_eq!(
        h.weights(1),
        vec![("10.1.0.1".into(), 1), ("10.1.0.2".into(), 5)]
    );
    // Dropping a virtual and adding a real, via SIGHUP this time.
    let mut next = plan.clone();
    next.virtuals.remove(1);
    next.virtuals[0].spec.reals.push(real("10.1.0.3", 1));
    next.virtuals[0].checks.push(check(CheckType::On).into());
    *h.next_plan.lock().unwrap() = Ok(next);
    let before = h.fake.ops();
    h.hup.send(()).await.unwrap();
    h.until("reload via hup", |h| {
        h.fake.snapshot().get(&vkey(2)).is_none()
    })
    .await;
    // weight 5 -> 1 back, one add, one service delete.
    assert_eq!(h.fake.ops() - before, 3);
    assert_eq!(h.weights(1).len(), 3);
    h.stop().await;
}

/// The fake kernel, recording which services are read.
struct CountingIpvs {
    fake: Arc<FakeTable>,
    /// Services whose reals were read (`GET_DEST`), in order.
    dest_reads: Mutex<Vec<ServiceKey>>,
    /// Dumps of the whole service list.
    service_dumps: Mutex<usize>,
}

impl CountingIpvs {
    fn reset(&self) {
        self.dest_reads.lock().unwrap().clear();
        *self.service_dumps.lock().unwrap() = 0;
    }
}

impl Ipvs for CountingIpvs {
    fn info(&self) -> Result<crate::model::VersionInfo, crate::kernel::Error> {
        self.fake.info()
    }
    fn services(&self) -> Result<Vec<VirtualService>, crate::kernel::Error> {
        *self.service_dumps.lock().unwrap() += 1;
        self.fake.services()
    }
    fn service(&self, key: &ServiceKey) -> Result<VirtualService, crate::kernel::Error> {
        self.fake.service(key)
    }
    fn dests(&self, key: &ServiceKey) -> Result<Vec<RealServer>, crate::kernel::Error> {
        self.dest_reads.lock().unwrap().push(*key);
        self.fake.dests(key)
    }
    fn timeouts(&self) -> Result<crate::model::Timeouts, crate::kernel::Error> {
        self.fake.timeouts()
    }
    fn daemons(&self) -> Result<Vec<crate::model::SyncDaemon>, crate::kernel::Error> {
        self.fake.daemons()
    }
    fn apply(&self, ops: &[crate::kernel::Operation]) -> Vec<Result<(), crate::kernel::Error>> {
        self.fake.apply(ops)
    }
}

#[tokio::test]
async fn reload_reads_only_the_virtuals_that_changed() {
    let plan = plan_of(
        (1..=20)
            .map(|n| {
                let a = format!("10.{n}.0.1");
                let b = format!("10.{n}.0.2");
                vplan(n, &[(&a, 1), (&b, 1)], CheckType::On, false)
            })
            .collect(),
    );
    let fake = Arc::new(FakeTable::new());
    let counting = Arc::new(CountingIpvs {
        fake: fake.clone(),
        dest_reads: Mutex::new(Vec::new()),
        service_dumps: Mutex::new(0),
    });
    let h = start_on(counting.clone(), fake, plan.clone()).await;
    assert_eq!(h.fake.snapshot().entries.len(), 20);
    // One weight of virtual 7 changes: only virtual 7 is read.
    counting.reset();
    let mut next = plan.clone();
    next.virtuals[6].spec.reals[0].weight = 3;
    *h.next_plan.lock().unwrap() = Ok(next.clone());
    let before = h.fake.ops();
    assert_eq!(
        h.reload().await.unwrap(),
        "configuration applied: 1 kernel operations"
    );
    assert_eq!(h.fake.ops() - before, 1);
    assert_eq!(*counting.dest_reads.lock().unwrap(), vec![vkey(7)]);
    assert_eq!(*counting.service_dumps.lock().unwrap(), 0);
    // The same file again: nothing read, nothing written.
    counting.reset();
    let before = h.fake.ops();
    h.reload().await.unwrap();
    assert!(counting.dest_reads.lock().unwrap().is_empty());
    assert_eq!(h.fake.ops(), before);
    // Virtual 20 dropped, virtual 21 added: 20 is read and deleted; 21 is
    // looked up (absent, so no reals to read) and added with its real.
    counting.reset();
    let mut next2 = next.clone();
    next2.virtuals.pop();
    next2
        .virtuals
        .push(vplan(21, &[("10.21.0.1", 1)], CheckType::On, false));
    *h.next_plan.lock().unwrap() = Ok(next2);
    let before = h.fake.ops();
    h.reload().await.unwrap();
    assert_eq!(*counting.dest_reads.lock().unwrap(), vec![vkey(20)]);
    assert_eq!(*counting.service_dumps.lock().unwrap(), 0);
    assert_eq!(h.fake.ops() - before, 3);
    assert!(h.fake.snapshot().get(&vkey(20)).is_none());
    assert_eq!(h.weights(21), vec![("10.21.0.1".into(), 1)]);
    assert_eq!(
        h.weights(7),
        vec![("10.7.0.1".into(), 3), ("10.7.0.2".into(), 1)]
    );
    h.stop().await;
}

#[tokio::test]
async fn rejected_reload_keeps_the_table_and_the_daemon() {
    let plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    let h = start(FakeTable::new(), plan).await;
    let before = h.fake.snapshot();
    let ops = h.fake.ops();
    *h.next_plan.lock().unwrap() = Err(ConfigError::one("test.cf:3: Unknown command foo"));
    let err = h.reload().await.unwrap_err();
    assert!(err.contains("test.cf:3"));
    assert_eq!(h.fake.snapshot(), before);
    assert_eq!(h.fake.ops(), ops);
    let st = h.status().await;
    assert!(
        st.contains("1 reloads rejected") || st.contains("(1 rejected)"),
        "{st}"
    );
    h.stop().await;
}

#[tokio::test]
async fn maintenance_file_takes_a_real_out_until_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = plan_of(vec![vplan(
        1,
        &[("10.1.0.1", 1), ("10.1.0.2", 1)],
        CheckType::On,
        true,
    )]);
    plan.maintenancedir = Some(dir.path().to_path_buf());
    let h = start(FakeTable::new(), plan).await;
    assert_eq!(
        h.weights(1),
        vec![("10.1.0.1".into(), 1), ("10.1.0.2".into(), 1)]
    );
    std::fs::write(dir.path().join("10.1.0.2:80"), "").unwrap();
    // The scan runs every second; allow a few.
    for _ in 0..50 {
        if h.weights(1) == vec![("10.1.0.1".into(), 1), ("10.1.0.2".into(), 0)] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        h.weights(1),
        vec![("10.1.0.1".into(), 1), ("10.1.0.2".into(), 0)]
    );
    std::fs::remove_file(dir.path().join("10.1.0.2:80")).unwrap();
    for _ in 0..50 {
        if h.weights(1)[1].1 == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        h.weights(1),
        vec![("10.1.0.1".into(), 1), ("10.1.0.2".into(), 1)]
    );
    h.stop().await;
}

#[tokio::test]
async fn cleanstop_deletes_only_its_own_services() {
    let mut v = vplan(1, &[("10.1.0.1", 1)], CheckType::On, false);
    v.cleanstop = true;
    let mut other = VirtualService::new(vkey(9));
    other.scheduler = "rr".into();
    let fake = FakeTable::with_table(Table {
        entries: vec![TableEntry {
            service: other,
            reals: vec![],
        }],
    });
    let h = start(fake, plan_of(vec![v])).await;
    assert!(h.fake.snapshot().get(&vkey(1)).is_some());
    let fake = h.stop().await;
    let t = fake.snapshot();
    assert!(t.get(&vkey(1)).is_none());
    assert!(t.get(&vkey(9)).is_some());
}

#[tokio::test]
async fn checktype_off_reals_stay_quiesced() {
    let plan = plan_of(vec![vplan(1, &[("10.1.0.1", 3)], CheckType::Off, true)]);
    let h = start(FakeTable::new(), plan).await;
    assert_eq!(h.weights(1), vec![("10.1.0.1".into(), 0)]);
    h.stop().await;
}

#[tokio::test]
async fn standby_and_takeover_go_to_the_ha_runner() {
    let plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    let fake = Arc::new(FakeTable::new());
    let loader: Loader = Arc::new(|_| Err(ConfigError::one("unused")));
    let (_rtx, rrx) = mpsc::channel(4);
    let (qtx, qrx) = mpsc::channel(4);
    let (_htx, hrx) = mpsc::channel(1);
    let (stx, srx) = watch::channel(false);
    let (ctl, mut ctl_rx) = mpsc::channel(8);
    let status = Arc::new(Mutex::new(Status::new("t.cf".into())));
    let engine = Engine::new(
        PathBuf::from("/nonexistent"),
        loader,
        plan,
        fake,
        Arc::new(NoChecks),
        status,
    )
    .with_ha(ctl);
    let task = tokio::spawn(engine.run(rrx, qrx, hrx, srx, || {}));
    // The first pass tells HA the kernel is programmable.
    let first = tokio::time::timeout(Duration::from_secs(5), ctl_rx.recv())
        .await
        .unwrap();
    assert!(matches!(first, Some(ha::Control::Health(true))));
    let (tx, rx) = tokio::sync::oneshot::channel();
    qtx.send(Request::Role("standby".into(), tx)).await.unwrap();
    assert_eq!(rx.await.unwrap(), Ok("standby requested".into()));
    assert!(matches!(ctl_rx.recv().await, Some(ha::Control::Standby)));
    let (tx, rx) = tokio::sync::oneshot::channel();
    qtx.send(Request::Role("takeover".into(), tx))
        .await
        .unwrap();
    assert_eq!(rx.await.unwrap(), Ok("takeover requested".into()));
    assert!(matches!(ctl_rx.recv().await, Some(ha::Control::Takeover)));
    stx.send(true).unwrap();
    task.await.unwrap().unwrap();
}

/// An executable shell script `name` in `dir` with `body`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Lines of `path` once `pred` holds for them (bounded wait: 10 s).
async fn lines_when(path: &Path, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut last = Vec::new();
    for _ in 0..500 {
        last = std::fs::read_to_string(path)
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default();
        if pred(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "timed out waiting for {what} in {}: {last:?}",
        path.display()
    );
}

#[tokio::test]
async fn fallbackcommand_runs_with_ldirectord_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fb.out");
    let cmd = script(
        dir.path(),
        "fb",
        &format!("echo \"$*\" >> {}", out.display()),
    );
    let mut v = vplan(
        1,
        &[("10.1.0.1", 1), ("10.1.0.2", 1)],
        CheckType::Connect,
        false,
    );
    v.fallbackcommand = Some(cmd.display().to_string());
    let h = start(FakeTable::new(), plan_of(vec![v])).await;
    h.report(1, "10.1.0.1", false).await;
    h.report(1, "10.1.0.2", false).await;
    lines_when(&out, "start", |l| l.len() == 1).await;
    h.report(1, "10.1.0.2", true).await;
    let l = lines_when(&out, "stop", |l| l.len() == 2).await;
    assert_eq!(l, vec!["start 10.0.0.1:80 tcp", "stop 10.0.0.1:80 tcp"]);
    // Another real up while one already is: no new command.
    h.report(1, "10.1.0.1", true).await;
    h.until("real back", |h| h.weights(1).len() == 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 2);
    h.stop().await;
}

#[tokio::test]
async fn emailalert_goes_to_the_local_sendmail() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail.out");
    let args = dir.path().join("args.out");
    let sendmail = script(
        dir.path(),
        "sendmail",
        &format!(
            "echo \"$*\" >> {}\ncat >> {}\necho ---- >> {}",
            args.display(),
            mail.display(),
            mail.display()
        ),
    );
    let mut v = vplan(1, &[("10.1.0.1", 1)], CheckType::Connect, false);
    v.alerts = Alerts {
        to: vec!["ops@example.invalid".into()],
        phases: [
            Phase::Starting,
            Phase::Running,
            Phase::Reloading,
            Phase::Stopping,
        ]
        .into_iter()
        .collect(),
        servicename: Some("web".into()),
        ..Default::default()
    };
    let fake = Arc::new(FakeTable::new());
    let sm = sendmail.clone();
    let h = start_full(
        fake.clone(),
        fake,
        plan_of(vec![v]),
        PathBuf::from("/nonexistent/test.cf"),
        move |mut e| {
            e.sendmail = sm;
            e
        },
    )
    .await;
    h.report(1, "10.1.0.1", true).await;
    h.report(1, "10.1.0.1", false).await;
    let m = lines_when(&mail, "down mail", |l| l.contains(&"----".to_string())).await;
    assert!(m.contains(&"To: ops@example.invalid".to_string()), "{m:?}");
    assert!(
        m.contains(
            &"Subject: [web] Inaccessible real server: 10.1.0.1:80 (10.0.0.1:80) (connection refused)"
                .to_string()
        ),
        "{m:?}"
    );
    // The first verdicts arrive while the daemon is still starting (the
    // real's up and down fold into one pass), as ldirectord tags them.
    assert!(m.contains(&"Daemon-Status: starting".to_string()), "{m:?}");
    assert!(m.contains(&"Service name: web".to_string()), "{m:?}");
    h.report(1, "10.1.0.1", true).await;
    let m = lines_when(&mail, "up mail", |l| {
        l.iter().filter(|x| x.as_str() == "----").count() == 2
    })
    .await;
    assert!(
        m.contains(&"Subject: [web] Restored real server: 10.1.0.1:80 (10.0.0.1:80)".to_string()),
        "{m:?}"
    );
    assert!(m.contains(&"Daemon-Status: running".to_string()), "{m:?}");
    // `sendmail -t`: recipients from the headers.
    let a = std::fs::read_to_string(&args).unwrap();
    assert_eq!(a, "-t\n-t\n");
    h.stop().await;
}

#[tokio::test]
async fn monitorfile_gets_one_line_per_check() {
    let dir = tempfile::tempdir().unwrap();
    let mon = dir.path().join("mon.log");
    let mut v = vplan(1, &[("10.1.0.1", 2)], CheckType::Connect, false);
    v.monitorfile = Some(mon.clone());
    let h = start(FakeTable::new(), plan_of(vec![v])).await;
    h.report(1, "10.1.0.1", true).await;
    h.report(1, "10.1.0.1", false).await;
    let l = lines_when(&mon, "two lines", |l| l.len() == 2).await;
    let id = "connect tcp 10.1.0.1 80 2 masq /";
    assert!(
        l[0].contains(&format!("] {id}")) && l[0].ends_with("[up] 200 OK"),
        "{l:?}"
    );
    assert!(l[1].ends_with("[down] connection refused"), "{l:?}");
    assert!(l[1].starts_with('[') && l[1].contains(&format!("] [{}] ", std::process::id())));
    // A check that changes nothing (a soft failure, a repeated "up") is
    // logged too, as ldirectord logs every check, and leaves the table.
    let before = h.fake.ops();
    h.report_check(1, "10.1.0.1", false, None).await;
    h.report_check(1, "10.1.0.1", true, None).await;
    let l = lines_when(&mon, "four lines", |l| l.len() == 4).await;
    assert!(l[2].ends_with("[down] connection refused"), "{l:?}");
    assert!(l[3].ends_with("[up] 200 OK"), "{l:?}");
    assert_eq!(h.fake.ops(), before);
    h.stop().await;
}

/// Issue 13: the monitorfile writer was a detached process-wide thread;
/// the engine now owns it and joins it at stop, so every line of a check
/// reported before the stop is in the file when the stop returns.
#[tokio::test]
async fn monitorfile_writer_is_joined_at_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mon = dir.path().join("mon.log");
    let mut v = vplan(1, &[("10.1.0.1", 2)], CheckType::Connect, false);
    v.monitorfile = Some(mon.clone());
    let w = super::monitor::Writer::start().unwrap();
    let probe = w.probe();
    let fake = Arc::new(FakeTable::new());
    let h = start_full(
        fake.clone(),
        fake,
        plan_of(vec![v]),
        "test.cf".into(),
        move |e| e.with_monitor(w),
    )
    .await;
    for i in 0..300 {
        h.report_check(1, "10.1.0.1", i % 2 == 0, None).await;
    }
    // Reports are handled in order: once the last one (the first verdict)
    // put the real in, all 301 lines were queued to the writer.
    h.report(1, "10.1.0.1", true).await;
    h.until("real added", |h| {
        h.weights(1) == vec![("10.1.0.1".into(), 2)]
    })
    .await;
    assert!(probe.running());
    h.stop().await;
    assert!(
        !probe.running(),
        "monitorfile writer still running after stop"
    );
    let n = std::fs::read_to_string(&mon)
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(n, 301, "lines written when the stop returned");
}

#[tokio::test]
async fn callback_runs_and_autoreload_applies_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let cf = dir.path().join("lvsd.cf");
    std::fs::write(&cf, "# first\n").unwrap();
    let out = dir.path().join("cb.out");
    let cb = script(
        dir.path(),
        "cb",
        &format!("echo \"$*\" >> {}", out.display()),
    );
    let mut plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    plan.autoreload = true;
    plan.callback = Some(cb.display().to_string());
    let fake = Arc::new(FakeTable::new());
    let h = start_full(fake.clone(), fake, plan.clone(), cf.clone(), |e| e).await;
    let mut next = plan.clone();
    next.virtuals[0].spec.reals[0].weight = 7;
    *h.next_plan.lock().unwrap() = Ok(next);
    let before = h.fake.ops();
    std::fs::write(&cf, "# second, longer\n").unwrap();
    // Polled once a second.
    let l = lines_when(&out, "callback", |l| !l.is_empty()).await;
    assert_eq!(l, vec![cf.display().to_string()]);
    h.until("autoreload applied", |h| {
        h.weights(1) == vec![("10.1.0.1".into(), 7)]
    })
    .await;
    assert_eq!(h.fake.ops() - before, 1);
    h.stop().await;
}

#[tokio::test]
async fn without_autoreload_a_changed_file_runs_only_the_callback() {
    let dir = tempfile::tempdir().unwrap();
    let cf = dir.path().join("lvsd.cf");
    std::fs::write(&cf, "# first\n").unwrap();
    let out = dir.path().join("cb.out");
    let cb = script(
        dir.path(),
        "cb",
        &format!("echo \"$*\" >> {}", out.display()),
    );
    let mut plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    plan.callback = Some(cb.display().to_string());
    let fake = Arc::new(FakeTable::new());
    let h = start_full(fake.clone(), fake, plan.clone(), cf.clone(), |e| e).await;
    let mut next = plan.clone();
    next.virtuals[0].spec.reals[0].weight = 7;
    *h.next_plan.lock().unwrap() = Ok(next);
    let ops = h.fake.ops();
    std::fs::write(&cf, "# second, longer\n").unwrap();
    let l = lines_when(&out, "callback", |l| !l.is_empty()).await;
    assert_eq!(l, vec![cf.display().to_string()]);
    // Give a wrongly triggered reload time to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.fake.ops(), ops);
    assert_eq!(h.weights(1), vec![("10.1.0.1".into(), 1)]);
    h.stop().await;
}

#[tokio::test]
async fn execute_instances_start_reload_and_stop_with_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exe.out");
    let exe = script(
        dir.path(),
        "lvsd",
        &format!("echo \"$*\" >> {}", out.display()),
    );
    let mut plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    plan.execute = vec!["other.cf".into()];
    let fake = Arc::new(FakeTable::new());
    let (e2, d2) = (exe.clone(), dir.path().to_path_buf());
    let h = start_full(
        fake.clone(),
        fake,
        plan.clone(),
        PathBuf::from("/nonexistent/test.cf"),
        move |e| e.with_instances(e2, d2),
    )
    .await;
    let sock = |n: &str| {
        format!(
            "--socket {d}/lvsd.{n}.sock --pid-file {d}/lvsd.{n}.pid --metrics off --toml /dev/null",
            d = dir.path().display()
        )
    };
    lines_when(&out, "start", |l| l.len() == 1).await;
    // Kept instance reloaded, new one started.
    let mut next = plan.clone();
    next.execute = vec!["other.cf".into(), "/etc/ha.d/third.cf".into()];
    *h.next_plan.lock().unwrap() = Ok(next.clone());
    h.reload().await.unwrap();
    lines_when(&out, "reload", |l| l.len() == 3).await;
    // Removed instance stopped.
    let mut last = next.clone();
    last.execute = vec!["/etc/ha.d/third.cf".into()];
    *h.next_plan.lock().unwrap() = Ok(last);
    h.reload().await.unwrap();
    lines_when(&out, "second reload", |l| l.len() == 5).await;
    h.stop().await;
    let l = lines_when(&out, "stop", |l| l.len() == 6).await;
    assert_eq!(
        l,
        vec![
            format!("{} other.cf start", sock("other.cf")),
            format!("{} other.cf reload", sock("other.cf")),
            format!("{} /etc/ha.d/third.cf start", sock("third.cf")),
            format!("{} other.cf stop", sock("other.cf")),
            format!("{} /etc/ha.d/third.cf reload", sock("third.cf")),
            format!("{} /etc/ha.d/third.cf stop", sock("third.cf")),
        ]
    );
}

// ---- Retries of failed passes and the periodic resync (issue 13) ----
//
// These run on tokio's paused clock: backoff and resync periods pass in
// virtual time, so the tests are fast and deterministic.

use crate::kernel::{IpvsCmd, Operation};

/// Two virtuals with checked reals, both reals of each up.
async fn two_up_virtuals(fake: FakeTable) -> Harness {
    let plan = plan_of(vec![
        vplan(
            1,
            &[("10.1.0.1", 1), ("10.1.0.2", 2)],
            CheckType::Connect,
            false,
        ),
        vplan(
            2,
            &[("10.2.0.1", 3), ("10.2.0.2", 4)],
            CheckType::Connect,
            false,
        ),
    ]);
    let h = start(fake, plan).await;
    for (n, a) in [
        (1, "10.1.0.1"),
        (1, "10.1.0.2"),
        (2, "10.2.0.1"),
        (2, "10.2.0.2"),
    ] {
        h.report(n, a, true).await;
    }
    h.until("all reals up", |h| {
        h.weights(1).len() == 2 && h.weights(2).len() == 2
    })
    .await;
    h
}

fn counter(h: &Harness, f: impl Fn(&Status) -> u64) -> u64 {
    f(&h.state.lock().unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_failed_read_is_retried_until_it_succeeds() {
    let h = two_up_virtuals(FakeTable::new()).await;
    // The next three reads of the service fail (a netlink hiccup).
    h.fake.fail_times(IpvsCmd::GetService, libc::EIO, 3);
    h.report(1, "10.1.0.2", false).await;
    h.until("real removed after retries", |h| {
        h.weights(1) == vec![("10.1.0.1".into(), 1)]
    })
    .await;
    assert_eq!(h.fake.pending_faults(), 0);
    assert_eq!(counter(&h, |s| s.failed_passes), 3);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_dump_is_retried_until_it_succeeds() {
    let h = two_up_virtuals(FakeTable::new()).await;
    // Reading the reals fails twice in a row.
    h.fake.fail_times(IpvsCmd::GetDest, libc::ENOMEM, 2);
    h.report(2, "10.2.0.1", false).await;
    h.until("real removed after retries", |h| {
        h.weights(2) == vec![("10.2.0.2".into(), 4)]
    })
    .await;
    assert_eq!(counter(&h, |s| s.failed_passes), 2);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_op_is_retried_until_the_kernel_takes_it() {
    let h = two_up_virtuals(FakeTable::new()).await;
    h.fake.fail_times(IpvsCmd::DelDest, libc::EBUSY, 4);
    h.report(1, "10.1.0.1", false).await;
    h.until("real removed after retries", |h| {
        h.weights(1) == vec![("10.1.0.2".into(), 2)]
    })
    .await;
    assert_eq!(counter(&h, |s| s.failed_passes), 4);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_batch_broken_in_the_middle_is_retried() {
    let h = two_up_virtuals(FakeTable::new()).await;
    // One pass removes a real of each virtual; its second op fails.
    h.fake.fail_nth_op(1, libc::ENOBUFS);
    h.report(1, "10.1.0.1", false).await;
    h.report(2, "10.2.0.1", false).await;
    h.until("both reals removed", |h| {
        h.weights(1) == vec![("10.1.0.2".into(), 2)] && h.weights(2) == vec![("10.2.0.2".into(), 4)]
    })
    .await;
    assert!(counter(&h, |s| s.failed_passes) >= 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_first_table_is_retried() {
    let fake = FakeTable::new();
    fake.fail_next(IpvsCmd::NewService, libc::EIO);
    let plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    let h = start(fake, plan).await;
    h.until("service and real added", |h| {
        h.weights(1) == vec![("10.1.0.1".into(), 1)]
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn retries_back_off_and_stop_once_through() {
    let h = two_up_virtuals(FakeTable::new()).await;
    h.fake.fail_times(IpvsCmd::GetService, libc::EIO, 5);
    let t0 = tokio::time::Instant::now();
    h.report(1, "10.1.0.2", false).await;
    for _ in 0..1000 {
        if h.weights(1).len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(h.weights(1).len(), 1, "not converged");
    // 100 + 200 + 400 + 800 + 1600 ms of backoff before the sixth try.
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(3100), "{waited:?}");
    assert!(waited < Duration::from_millis(4000), "{waited:?}");
    let reads_then = h.fake.ops();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        h.fake.ops(),
        reads_then,
        "no retry once the pass went through"
    );
    h.stop().await;
}

/// Change the table behind the engine's back with `mutate`, then show the
/// resync (5 s by default) puts the owned services back as they were and
/// leaves the foreign one alone.
async fn drift_is_restored(what: &str, mutate: impl FnOnce(&FakeTable)) {
    let fake = FakeTable::new();
    // A service lvsd does not own.
    let mut foreign = VirtualService::new(vkey(99));
    foreign.scheduler = "lc".into();
    let _ = fake.apply(&[
        Operation::AddService(foreign),
        Operation::AddDest(vkey(99), real("10.99.0.1", 9)),
    ]);
    let h = two_up_virtuals(fake).await;
    let want = h.fake.snapshot();
    mutate(&h.fake);
    assert_ne!(
        h.fake.snapshot(),
        want,
        "{what}: the mutation changed nothing"
    );
    tokio::time::sleep(DEFAULT_RESYNC + Duration::from_secs(1)).await;
    let mut got = h.fake.snapshot();
    let mut want = want;
    // The kernel lists reals newest first: compare as sets.
    for t in [&mut got, &mut want] {
        t.entries.sort_by_key(|e| e.service.key.to_string());
        for e in &mut t.entries {
            e.reals.sort_by_key(|r| r.addr);
        }
    }
    if what != "foreign service added" {
        assert_eq!(got, want, "{what}: not restored");
    }
    assert!(
        counter(&h, |s| s.resync_repairs) >= 1 || what == "foreign service added",
        "{what}"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn resync_restores_a_deleted_real() {
    drift_is_restored("real deleted", |f| {
        let _ = f.apply(&[Operation::DelDest(vkey(1), "10.1.0.2".parse().unwrap(), 80)]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn resync_restores_a_changed_weight() {
    drift_is_restored("weight changed", |f| {
        let _ = f.apply(&[Operation::EditDest(vkey(2), real("10.2.0.1", 77))]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn resync_restores_a_changed_scheduler() {
    drift_is_restored("scheduler changed", |f| {
        let mut svc = f.snapshot().get(&vkey(1)).unwrap().service.clone();
        svc.scheduler = "sh".into();
        let _ = f.apply(&[Operation::EditService(svc)]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn resync_restores_a_deleted_service() {
    drift_is_restored("service deleted", |f| {
        let _ = f.apply(&[Operation::DelService(vkey(2))]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn resync_restores_a_flushed_table() {
    drift_is_restored("table flushed", |f| {
        let _ = f.apply(&[Operation::Flush]);
        // The foreign service is gone with the flush; whoever owns it
        // restores it: put it back so the comparison covers ours only.
        let mut foreign = VirtualService::new(vkey(99));
        foreign.scheduler = "lc".into();
        let _ = f.apply(&[
            Operation::AddService(foreign),
            Operation::AddDest(vkey(99), real("10.99.0.1", 9)),
        ]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn resync_never_touches_a_foreign_service() {
    let fake = FakeTable::new();
    let h = two_up_virtuals(fake).await;
    let mut foreign = VirtualService::new(vkey(98));
    foreign.scheduler = "rr".into();
    let _ = h.fake.apply(&[
        Operation::AddService(foreign),
        Operation::AddDest(vkey(98), real("10.98.0.1", 3)),
    ]);
    let with_foreign = h.fake.snapshot();
    let ops = h.fake.ops();
    tokio::time::sleep(DEFAULT_RESYNC * 3).await;
    assert_eq!(h.fake.snapshot(), with_foreign);
    assert_eq!(h.fake.ops(), ops, "the resync changed something");
    assert_eq!(counter(&h, |s| s.resync_repairs), 0);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn resync_of_an_unchanged_table_is_one_dump_and_no_op() {
    let plan = plan_of(
        (1..=30)
            .map(|n| vplan(n, &[(&format!("10.{n}.0.1"), 1)], CheckType::On, false))
            .collect(),
    );
    let fake = Arc::new(FakeTable::new());
    let counting = Arc::new(CountingIpvs {
        fake: fake.clone(),
        dest_reads: Mutex::new(Vec::new()),
        service_dumps: Mutex::new(0),
    });
    let h = start_on(counting.clone(), fake, plan).await;
    counting.reset();
    let ops = h.fake.ops();
    tokio::time::sleep(DEFAULT_RESYNC + Duration::from_millis(500)).await;
    assert_eq!(*counting.service_dumps.lock().unwrap(), 1);
    assert_eq!(counting.dest_reads.lock().unwrap().len(), 30);
    assert_eq!(h.fake.ops(), ops);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn resync_zero_is_off() {
    let plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    let fake = Arc::new(FakeTable::new());
    let h = start_full(
        fake.clone(),
        fake,
        plan,
        PathBuf::from("/nonexistent/test.cf"),
        |e| e.with_resync(Duration::ZERO),
    )
    .await;
    let _ = h.fake.apply(&[Operation::DelService(vkey(1))]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(h.fake.snapshot().get(&vkey(1)).is_none());
    h.stop().await;
}

/// A loader that takes long (a blackholed resolver) does not stall the
/// engine: a status request is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loader_does_not_block_status() {
    let plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    let fake = Arc::new(FakeTable::new());
    let h = start_on(fake.clone(), fake, plan.clone()).await;
    // Swap in a slow loader by making the shared plan slow: the loader
    // reads `next_plan`, so hold its lock for the loader's duration.
    let slow = h.next_plan.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let _g = slow.lock().unwrap();
        let _ = locked_tx.send(());
        std::thread::sleep(Duration::from_secs(3));
    });
    locked_rx.recv().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    h.requests.send(Request::Reload(tx)).await.unwrap();
    let t0 = std::time::Instant::now();
    let st = tokio::time::timeout(Duration::from_secs(10), h.status())
        .await
        .unwrap();
    let waited = t0.elapsed();
    assert!(st.contains("10.1.0.1"), "{st}");
    assert!(
        waited < Duration::from_secs(1),
        "status waited {waited:?} for the loader"
    );
    // The reload completes once the loader returns.
    let r = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .unwrap()
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
    holder.join().unwrap();
    h.stop().await;
}

/// A hook still running when the daemon stops is waited for (bounded):
/// no task outlives the engine unseen, and the task count is published.
#[tokio::test]
async fn hook_tasks_are_tracked_and_awaited_at_stop() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let done = dir.path().join("done");
    let cmd = script(
        dir.path(),
        "fb",
        &format!(
            "touch {}; sleep 1; touch {}",
            started.display(),
            done.display()
        ),
    );
    let mut v = vplan(1, &[("10.1.0.1", 1)], CheckType::Connect, false);
    v.fallbackcommand = Some(cmd.display().to_string());
    let h = start(FakeTable::new(), plan_of(vec![v])).await;
    h.report(1, "10.1.0.1", false).await;
    for _ in 0..500 {
        if started.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(started.exists(), "fallbackcommand did not start");
    // Published within a tick while the hook runs.
    for _ in 0..300 {
        if counter(&h, |s| s.tasks) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counter(&h, |s| s.tasks), 1);
    let state = h.state.clone();
    h.stop().await;
    assert!(done.exists(), "stop returned before the hook ended");
    assert_eq!(state.lock().unwrap().tasks, 0);
}

/// A kernel refusal during a reload reaches the reply typed: the failed
/// operation and its errno, not a flattened string.
#[tokio::test(start_paused = true)]
async fn a_kernel_errno_reaches_the_reload_reply() {
    let plan = plan_of(vec![vplan(1, &[("10.1.0.1", 1)], CheckType::On, false)]);
    let h = start(FakeTable::new(), plan).await;
    let next = plan_of(vec![
        vplan(1, &[("10.1.0.1", 1)], CheckType::On, false),
        vplan(2, &[("10.2.0.1", 1)], CheckType::On, false),
    ]);
    *h.next_plan.lock().unwrap() = Ok(next);
    h.fake.fail_next(IpvsCmd::NewService, libc::EEXIST);
    let err = h.reload_typed().await.unwrap_err();
    let k = err.kernel().expect("a kernel error");
    assert_eq!(k.errno(), Some(libc::EEXIST), "{err}");
    assert_eq!(k.op(), Some(IpvsCmd::NewService), "{err}");
    assert!(err.to_string().contains("File exists"), "{err}");
    // The failed op is retried: the new virtual arrives all the same.
    h.until("virtual 2 added by the retry", |h| {
        h.weights(2) == vec![("10.2.0.1".into(), 1)]
    })
    .await;
    h.stop().await;
}

/// Issue 13: `drain_finished` came only from the read-only `conns` query
/// (`drain --wait` polling); a drain nobody waited on never finished. Now
/// the engine's own pass (here the periodic resync) finds the drained real
/// at weight 0 with no active connection and emits it, once; `conns`
/// alone emits nothing.
#[tokio::test]
async fn drain_finished_comes_from_the_resync_without_any_query() {
    let bus = events::Bus::default();
    let mut sub = bus.subscribe(None);
    let b = bus.clone();
    let plan = plan_of(vec![vplan(
        1,
        &[("10.1.0.1", 2), ("10.1.0.2", 1)],
        CheckType::On,
        false,
    )]);
    let fake = Arc::new(FakeTable::new());
    let h = start_full(fake.clone(), fake, plan, "test.cf".into(), move |e| {
        e.with_events(b).with_resync(Duration::from_millis(100))
    })
    .await;
    h.until("table built", |h| h.weights(1).len() == 2).await;
    let a: std::net::IpAddr = "10.1.0.1".parse().unwrap();
    assert!(h.fake.set_active_conns(&vkey(1), a, 80, 3));
    let op = |op: crate::daemon::ops::OpRequest| {
        let tx = h.requests.clone();
        async move {
            let (otx, orx) = tokio::sync::oneshot::channel();
            tx.send(Request::Op(op, otx)).await.unwrap();
            orx.await.unwrap()
        }
    };
    let drain = || crate::daemon::ops::OpRequest::Drain {
        virt: "tcp:10.0.0.1:80".into(),
        real: "10.1.0.1".into(),
    };
    op(drain()).await.unwrap();
    h.until("drained", |h| {
        h.weights(1).contains(&("10.1.0.1".into(), 0))
    })
    .await;
    // Connections still open: several resyncs, no event.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let drained = |sub: &mut events::Subscription| {
        let mut n = 0;
        while let Some(Some(events::Item::Event(e))) = futures::FutureExt::now_or_never(sub.next())
        {
            if e.data.kind == crate::model::EventKind::DrainFinished {
                n += 1;
            }
        }
        n
    };
    assert_eq!(drained(&mut sub), 0);
    // The last connection ends; nobody asks `conns`: the resync sees it.
    assert!(h.fake.set_active_conns(&vkey(1), a, 80, 0));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(drained(&mut sub), 1, "one drain_finished from the resync");
    // More resyncs and a `conns` query: still once per drain.
    let c = op(crate::daemon::ops::OpRequest::Conns {
        virt: "tcp:10.0.0.1:80".into(),
        real: "10.1.0.1".into(),
    })
    .await
    .unwrap();
    assert_eq!(c, "0 0");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(drained(&mut sub), 0);
    h.stop().await;
}

/// Issue 13: a virtual with a configured `quorum` got `quorum_lost` twice
/// (the engine's all-reals-down rule and the quorum runner). The engine
/// leaves such virtuals to the runner; others keep the all-reals-down
/// event.
#[tokio::test]
async fn quorum_events_of_a_virtual_with_a_quorum_policy_are_left_to_the_runner() {
    use crate::config::policy::{Quorum, VirtualPolicy};
    use crate::model::VirtualName;
    let bus = events::Bus::default();
    let mut sub = bus.subscribe(None);
    let b = bus.clone();
    let policy = VirtualPolicy {
        id: VirtualName::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        },
        line: 1,
        at: "t.toml:1:1".into(),
        quorum: Some(Quorum {
            quorum: 1,
            hysteresis: 0,
            up: None,
            down: None,
            timeout: Duration::from_secs(1),
        }),
        check: Default::default(),
    };
    let plan = plan_of(vec![
        vplan(1, &[("10.1.0.1", 1)], CheckType::Connect, false),
        vplan(2, &[("10.2.0.1", 1)], CheckType::Connect, false),
    ]);
    let fake = Arc::new(FakeTable::new());
    let h = start_full(fake.clone(), fake, plan, "test.cf".into(), move |e| {
        e.with_events(b).with_quorum_policies(&[policy])
    })
    .await;
    for n in [1, 2] {
        let a = format!("10.{n}.0.1");
        h.report(n, &a, true).await;
        h.report(n, &a, false).await;
    }
    h.until("both reals out", |h| {
        h.weights(1).is_empty() && h.weights(2).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut lost = Vec::new();
    while let Some(Some(events::Item::Event(e))) = futures::FutureExt::now_or_never(sub.next()) {
        if e.data.kind == crate::model::EventKind::QuorumLost {
            lost.push(e.data.virtual_service.clone().unwrap_or_default());
        }
    }
    assert_eq!(lost, vec![events::virtual_name(&vkey(2))]);
    h.stop().await;
}
