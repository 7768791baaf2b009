//! Acting on a role change: add or remove the VIPs (through
//! `kernel::addr`), announce them (GARP / unsolicited NA through
//! `kernel::announce`), and swap the IPVS sync daemon between master and
//! backup. Never touches the IPVS table itself (that is `reconcile`'s job).

use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::kernel::addr::{AddrError, Addrs};
use crate::kernel::announce::send_frames;
use crate::kernel::Ipvs;
use crate::model::{Announce, SyncDaemon, SyncState, Vip};
use crate::wire::announce::{garp, unsolicited_na};

/// Starts and stops IPVS connection-sync daemons. Implemented by the
/// daemon over `kernel`'s IPVS client (`Operation::StartDaemon` / `StopDaemon`);
/// [`NoSync`] when sync is not configured or IPVS is absent.
pub trait SyncDaemons: Send {
    /// Make `state` run with `cfg` and stop the other state's daemon.
    fn set(&mut self, state: SyncState, cfg: &SyncDaemon) -> Result<(), String>;
}

/// A [`SyncDaemons`] that does nothing.
pub struct NoSync;

impl SyncDaemons for NoSync {
    fn set(&mut self, _: SyncState, _: &SyncDaemon) -> Result<(), String> {
        Ok(())
    }
}

/// [`SyncDaemons`] over the kernel's IPVS client: the active node runs the
/// master daemon, the standby the backup one (as keepalived's
/// `lvs_sync_daemon` does), so connections survive a failover.
pub struct IpvsSync<I>(pub I);

impl<I: Ipvs + Send> SyncDaemons for IpvsSync<I> {
    fn set(&mut self, state: SyncState, cfg: &SyncDaemon) -> Result<(), String> {
        let other = match state {
            SyncState::Master => SyncState::Backup,
            SyncState::Backup => SyncState::Master,
        };
        let running = self
            .0
            .daemons()
            .map_err(|e| format!("list sync daemons: {e}"))?;
        if running.iter().any(|d| d.state == other) {
            self.0
                .stop_daemon(other)
                .map_err(|e| format!("stop {other:?} sync daemon: {e}"))?;
        }
        let mut want = cfg.clone();
        want.state = state;
        match running.iter().find(|d| d.state == state) {
            // The kernel reports its defaults, so only the identifying
            // fields are compared.
            Some(d) if d.mcast_ifn == want.mcast_ifn && d.syncid == want.syncid => Ok(()),
            Some(_) => {
                self.0
                    .stop_daemon(state)
                    .map_err(|e| format!("restart {state:?} sync daemon: {e}"))?;
                self.0
                    .start_daemon(&want)
                    .map_err(|e| format!("start {state:?} sync daemon: {e}"))
            }
            None => self
                .0
                .start_daemon(&want)
                .map_err(|e| format!("start {state:?} sync daemon: {e}")),
        }
    }
}

/// Longest a single rtnetlink request may take before the socket is
/// presumed wedged and reopened. VIP changes normally take well under 1 ms.
pub const NETLINK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a VIP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TakeoverError {
    /// The kernel refused or the lookup failed.
    #[error(transparent)]
    Addr(#[from] AddrError),
    /// rtnetlink did not answer within [`NETLINK_TIMEOUT`].
    #[error("rtnetlink {0} timed out after {NETLINK_TIMEOUT:?}; socket reopened")]
    Timeout(&'static str),
}

/// What the state machine wants done with the VIPs; applied by [`worker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Own none of them.
    Release,
    /// Own all of them; a new number asks for a fresh announcement.
    Hold(u64),
}

/// Owns the VIPs while active.
pub struct Takeover {
    addrs: Addrs,
    vips: Vec<Vip>,
    announce: Announce,
    announcer: Option<JoinHandle<()>>,
}

impl Takeover {
    /// Prepare (opens the rtnetlink socket; needs a tokio runtime).
    pub fn new(vips: Vec<Vip>, announce: Announce) -> Result<Self, AddrError> {
        Ok(Takeover {
            addrs: Addrs::new()?,
            vips,
            announce,
            announcer: None,
        })
    }

    /// Run one rtnetlink request with a deadline; on timeout reopen the
    /// socket so the next request does not queue behind a lost one.
    async fn bounded<T>(
        &mut self,
        what: &'static str,
        f: impl std::future::Future<Output = Result<T, AddrError>>,
    ) -> Result<T, TakeoverError> {
        match tokio::time::timeout(NETLINK_TIMEOUT, f).await {
            Ok(r) => Ok(r?),
            Err(_) => {
                match Addrs::new() {
                    Ok(a) => self.addrs = a,
                    Err(e) => tracing::error!(error = %e, "cannot reopen rtnetlink"),
                }
                Err(TakeoverError::Timeout(what))
            }
        }
    }

    /// Add every VIP, then announce them in the background. Stops at the
    /// first VIP that cannot be added (the caller reports unhealthy).
    pub async fn acquire(&mut self) -> Result<(), TakeoverError> {
        let mut frames: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
        for v in self.vips.clone() {
            let addrs = self.addrs.clone();
            if self.bounded("add", async { addrs.add(&v).await }).await? {
                tracing::info!(vip = %v.address, prefix = v.prefix, ifname = %v.interface, "vip added");
            }
            let addrs = self.addrs.clone();
            let link = self
                .bounded("link lookup", async { addrs.link(&v.interface).await })
                .await?;
            let Some(mac) = link.mac else { continue };
            let f = match v.address {
                IpAddr::V4(a) => garp(mac, a).to_vec(),
                IpAddr::V6(a) => vec![unsolicited_na(mac, a)],
            };
            frames.push((link.index, f));
        }
        if let Some(old) = self.announcer.take() {
            old.abort();
        }
        let a = self.announce;
        self.announcer = Some(tokio::spawn(async move {
            for i in 0..a.count {
                if i > 0 {
                    tokio::time::sleep(a.interval).await;
                }
                for (index, f) in &frames {
                    if let Err(e) = send_frames(*index, f) {
                        tracing::warn!(ifindex = index, error = %e, "announce failed");
                    }
                }
            }
        }));
        Ok(())
    }

    /// Stop announcing and delete every VIP (all are tried; first error returned).
    pub async fn release(&mut self) -> Result<(), TakeoverError> {
        if let Some(a) = self.announcer.take() {
            a.abort();
        }
        let mut first = None;
        for v in self.vips.clone() {
            let addrs = self.addrs.clone();
            match self.bounded("del", async { addrs.del(&v).await }).await {
                Ok(true) => tracing::info!(vip = %v.address, ifname = %v.interface, "vip removed"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(vip = %v.address, error = %e, "vip removal failed");
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Stop announcing and close the rtnetlink socket; every task this
    /// owns (announcer, connection) has ended when this returns. The VIPs
    /// are left as they are (`release` first to remove them).
    pub async fn close(mut self) {
        if let Some(a) = self.announcer.take() {
            a.abort();
            let _ = a.await;
        }
        self.addrs.close().await;
    }

    /// Whether every VIP is present (for self-monitoring while active).
    pub async fn all_present(&mut self) -> Result<bool, TakeoverError> {
        for v in self.vips.clone() {
            let addrs = self.addrs.clone();
            if !self
                .bounded("lookup", async { addrs.has(&v).await })
                .await?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Apply the wanted VIP state off the heartbeat loop: the loop only sets
/// `want` and never waits for rtnetlink. While holding, checks about every
/// `check` that the VIPs are still there (someone may delete them) and
/// retries every `retry` after a failure. Each outcome of a `Hold` goes to
/// `report` as (want, VIPs all present); a release reports nothing (a
/// standby is not judged on VIPs). Wishes are numbered; `applied_tx`
/// carries the number of the last one acted on (hooks wait for it, so they
/// run after the VIPs moved). Ends when the `want` sender is dropped, after
/// applying its last value; then `t` is closed (its tasks have ended).
pub async fn worker(
    mut t: Takeover,
    want: watch::Receiver<(u64, Want)>,
    report: mpsc::Sender<(Want, bool)>,
    applied_tx: watch::Sender<u64>,
    check: Duration,
    retry: Duration,
) {
    work(&mut t, want, report, applied_tx, check, retry).await;
    t.close().await;
}

async fn work(
    t: &mut Takeover,
    mut want: watch::Receiver<(u64, Want)>,
    report: mpsc::Sender<(Want, bool)>,
    applied_tx: watch::Sender<u64>,
    check: Duration,
    retry: Duration,
) {
    let mut applied: Option<Want> = None;
    let mut ok = true;
    loop {
        let (seq, w) = *want.borrow_and_update();
        match w {
            Want::Release => {
                if applied != Some(w) {
                    if let Err(e) = t.release().await {
                        tracing::error!(error = %e, "release failed");
                    }
                    applied = Some(w);
                    ok = true;
                }
            }
            Want::Hold(_) => {
                let fresh = applied != Some(w);
                let present = if fresh || !ok {
                    false
                } else {
                    match t.all_present().await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(error = %e, "vip check failed");
                            false
                        }
                    }
                };
                if !present {
                    let now_ok = match t.acquire().await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::error!(error = %e, "vips cannot be added");
                            false
                        }
                    };
                    if !fresh && ok {
                        tracing::warn!("vips were missing while active; added again");
                    }
                    ok = now_ok;
                    applied = Some(w);
                    if report.send((w, ok)).await.is_err() {
                        return;
                    }
                }
            }
        }
        if *applied_tx.borrow() < seq {
            applied_tx.send_replace(seq);
        }
        let wait = if ok { check } else { retry };
        let holding = matches!(w, Want::Hold(_));
        tokio::select! {
            r = want.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wait), if holding => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::FakeTable;

    fn cfg() -> SyncDaemon {
        SyncDaemon {
            state: SyncState::Backup,
            mcast_ifn: "eth1".into(),
            syncid: 7,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        }
    }

    #[test]
    fn sync_daemon_swaps_between_master_and_backup() {
        let mut s = IpvsSync(FakeTable::default());
        let states = |s: &IpvsSync<FakeTable>| -> Vec<SyncState> {
            let mut v: Vec<_> =
                s.0.daemons()
                    .unwrap_or_default()
                    .iter()
                    .map(|d| d.state)
                    .collect();
            v.sort_by_key(|st| st.value());
            v
        };
        s.set(SyncState::Backup, &cfg())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(states(&s), vec![SyncState::Backup]);
        s.set(SyncState::Master, &cfg())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(states(&s), vec![SyncState::Master]);
        // Idempotent.
        s.set(SyncState::Master, &cfg())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(states(&s), vec![SyncState::Master]);
        let d = s.0.daemons().unwrap_or_default();
        assert_eq!(
            d.first().map(|d| (d.syncid, d.mcast_ifn.as_str())),
            Some((7, "eth1"))
        );
        s.set(SyncState::Backup, &cfg())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(states(&s), vec![SyncState::Backup]);
    }

    /// Issue 13: the worker owns the Takeover and, when its `want` sender
    /// goes (HA shutdown), ends only after the rtnetlink connection task
    /// ended (it used to be left to the runtime's drop).
    #[tokio::test]
    async fn worker_closes_its_rtnetlink_connection_when_it_ends() {
        let t = Takeover::new(Vec::new(), Announce::default()).unwrap();
        let probe = t.addrs.conn_running();
        let (want_tx, want_rx) = watch::channel((0, Want::Release));
        let (report_tx, _report_rx) = mpsc::channel(4);
        let (applied_tx, _applied_rx) = watch::channel(0);
        let w = tokio::spawn(worker(
            t,
            want_rx,
            report_tx,
            applied_tx,
            Duration::from_secs(1),
            Duration::from_secs(1),
        ));
        tokio::task::yield_now().await;
        assert!(probe.running());
        drop(want_tx);
        tokio::time::timeout(Duration::from_secs(5), w)
            .await
            .unwrap()
            .unwrap();
        assert!(!probe.running(), "rtnetlink connection left running");
    }
}
