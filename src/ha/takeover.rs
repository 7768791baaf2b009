//! Acting on a role change: add or remove the VIPs (through
//! `kernel::addr`), announce them (GARP / unsolicited NA through
//! `kernel::announce`), and swap the IPVS sync daemon between master and
//! backup. Never touches the IPVS table itself (that is `reconcile`'s job).

use std::net::IpAddr;

use tokio::task::JoinHandle;

use crate::kernel::addr::{AddrError, Addrs};
use crate::kernel::announce::send_frames;
use crate::kernel::Ipvs;
use crate::model::{Announce, SyncDaemon, SyncState, Vip};
use crate::wire::announce::{garp, unsolicited_na};

/// Starts and stops IPVS connection-sync daemons. Implemented by the
/// daemon over `kernel`'s IPVS client (`Op::StartDaemon` / `StopDaemon`);
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

    /// Add every VIP, then announce them in the background. Stops at the
    /// first VIP that cannot be added (the caller reports unhealthy).
    pub async fn acquire(&mut self) -> Result<(), AddrError> {
        for v in &self.vips {
            if self.addrs.add(v).await? {
                tracing::info!(vip = %v.address, prefix = v.prefix, ifname = %v.interface, "vip added");
            }
        }
        let mut frames: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
        for v in &self.vips {
            let link = self.addrs.link(&v.interface).await?;
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
    pub async fn release(&mut self) -> Result<(), AddrError> {
        if let Some(a) = self.announcer.take() {
            a.abort();
        }
        let mut first = None;
        for v in &self.vips {
            match self.addrs.del(v).await {
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

    /// Whether every VIP is present (for self-monitoring while active).
    pub async fn all_present(&self) -> Result<bool, AddrError> {
        for v in &self.vips {
            if !self.addrs.has(v).await? {
                return Ok(false);
            }
        }
        Ok(true)
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
}
