//! Acting on a role change: add or remove the VIPs (through
//! `kernel::addr`), announce them (GARP / unsolicited NA through
//! `kernel::announce`), and swap the IPVS sync daemon between master and
//! backup. Never touches the IPVS table itself (that is `reconcile`'s job).

use std::net::IpAddr;

use tokio::task::JoinHandle;

use crate::kernel::addr::{AddrError, Addrs};
use crate::kernel::announce::send_frames;
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
