//! The only code that changes kernel state: IPVS over generic netlink,
//! addresses over rtnetlink, gratuitous ARP / unsolicited NA, sync daemons.
//! May use: `wire`, `model`, and the `ipvs-netlink` crate, which builds and
//! parses every IPVS message. One change to the table is the crate's
//! [`Operation`] (re-exported here), its errors are the crate's [`Error`]
//! (the [`IpvsCmd`] that failed and the kernel's errno). Callers (cli,
//! reconcile, ha, daemon) speak to IPVS through the [`Ipvs`] trait only,
//! so tests swap in [`FakeTable`].
//! Must not: decide what the table should hold (that is `reconcile`), nor
//! print anything (errors carry the errno; `cli` owns ipvsadm's texts).
//!
//! The trait is synchronous on purpose: `lvsadm` is a one-shot CLI and the
//! daemon calls it from a blocking thread (`tokio::task::spawn_blocking`).

pub mod addr;
pub mod announce;
mod fake;
mod ipvs;
mod listing;
pub mod route;
mod rtconn;
pub mod sysctl;

use std::net::IpAddr;

pub use fake::FakeTable;
pub use ipvs::NetlinkIpvs;
/// The crate's error: the [`IpvsCmd`] that failed and the kernel's errno
/// (`Error::Kernel`), a socket failure before any command
/// (`Error::Socket`), the missing family (`Error::NoFamily`), I/O or an
/// undecodable reply of one command.
pub use ipvs_netlink::Error;
/// An IPVS generic netlink command (`IPVS_CMD_*`), kept in every error.
pub use ipvs_netlink::IpvsCmd;
/// One change to the IPVS table: one IPVS command with its data, named
/// after the `ipvsadm` command that sends it. The only description of an
/// IPVS operation in lvsd (the reconcile plan, `lvsadm`'s commands and
/// `-R` batches, the HA sync daemons all speak it).
pub use ipvs_netlink::Operation;
pub use listing::place_reals;

/// The errno (positive) of an rtnetlink request the kernel refused; `None`
/// for any other failure. Shared by the address and route handles, whose
/// add/delete treat "already there" / "already gone" as success.
fn rtnl_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

use crate::model::{
    RealServer, ServiceKey, SyncDaemon, SyncState, Table, TableEntry, Timeouts, VersionInfo,
    VirtualService,
};

/// Read and change the IPVS table of the current network namespace.
///
/// Errors from the kernel come back as [`Error::Kernel`] with the errno the
/// kernel returned, so callers can print ipvsadm's exact message.
pub trait Ipvs {
    /// `IPVS_CMD_GET_INFO`: version and connection table size.
    fn info(&self) -> Result<VersionInfo, Error>;

    /// Every virtual service, with stats, in kernel order.
    fn services(&self) -> Result<Vec<VirtualService>, Error>;

    /// One virtual service (`Error::Kernel{errno: ESRCH}` if absent).
    fn service(&self, key: &ServiceKey) -> Result<VirtualService, Error>;

    /// Real servers of a service, with stats, in kernel order. Like the
    /// kernel, an absent service gives an empty list, not an error.
    fn dests(&self, key: &ServiceKey) -> Result<Vec<RealServer>, Error>;

    /// `IPVS_CMD_GET_CONFIG`: the global timeouts.
    fn timeouts(&self) -> Result<Timeouts, Error>;

    /// Running sync daemons (at most one master and one backup).
    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error>;

    /// Apply ops in order; one result per op, in the same order. A failed op
    /// does not stop the ones after it: the kernel handles each request of a
    /// batch on its own. Callers that must stop at the first error (`-R`
    /// does) send one op at a time or check results and stop themselves.
    fn apply(&self, ops: &[Operation]) -> Vec<Result<(), Error>>;

    /// Every service with its real servers.
    fn table(&self) -> Result<Table, Error> {
        let mut entries = Vec::new();
        for service in self.services()? {
            let reals = self.dests(&service.key)?;
            entries.push(TableEntry { service, reals });
        }
        Ok(Table { entries })
    }

    /// Every service with its reals, the reals filled in only as far as a
    /// plain listing (`-L`, `-Ln`) shows them: forwarding method, weight,
    /// active and inactive connections. For backends with a cheaper source
    /// than one dump per service; the default is [`Ipvs::table`].
    fn listing(&self) -> Result<Table, Error> {
        self.table()
    }

    /// Apply a single op.
    fn apply_one(&self, op: Operation) -> Result<(), Error> {
        let cmd = op.cmd();
        self.apply(std::slice::from_ref(&op))
            .into_iter()
            .next()
            .unwrap_or(Err(Error::Decode {
                op: cmd,
                reason: "no result for the op".to_string(),
            }))
    }

    /// `ipvsadm -A`.
    fn add_service(&self, svc: &VirtualService) -> Result<(), Error> {
        self.apply_one(Operation::AddService(svc.clone()))
    }

    /// `ipvsadm -E`.
    fn edit_service(&self, svc: &VirtualService) -> Result<(), Error> {
        self.apply_one(Operation::EditService(svc.clone()))
    }

    /// `ipvsadm -D`.
    fn del_service(&self, key: &ServiceKey) -> Result<(), Error> {
        self.apply_one(Operation::DelService(*key))
    }

    /// `ipvsadm -C`.
    fn flush(&self) -> Result<(), Error> {
        self.apply_one(Operation::Flush)
    }

    /// `ipvsadm -a`.
    fn add_dest(&self, key: &ServiceKey, rs: &RealServer) -> Result<(), Error> {
        self.apply_one(Operation::AddDest(*key, rs.clone()))
    }

    /// `ipvsadm -e`.
    fn edit_dest(&self, key: &ServiceKey, rs: &RealServer) -> Result<(), Error> {
        self.apply_one(Operation::EditDest(*key, rs.clone()))
    }

    /// `ipvsadm -d`.
    fn del_dest(&self, key: &ServiceKey, addr: IpAddr, port: u16) -> Result<(), Error> {
        self.apply_one(Operation::DelDest(*key, addr, port))
    }

    /// `ipvsadm -Z [service]`.
    fn zero(&self, key: Option<&ServiceKey>) -> Result<(), Error> {
        self.apply_one(Operation::Zero(key.copied()))
    }

    /// `ipvsadm --set`.
    fn set_timeouts(&self, t: Timeouts) -> Result<(), Error> {
        self.apply_one(Operation::SetTimeouts(t))
    }

    /// `ipvsadm --start-daemon`.
    fn start_daemon(&self, d: &SyncDaemon) -> Result<(), Error> {
        self.apply_one(Operation::StartDaemon(d.clone()))
    }

    /// `ipvsadm --stop-daemon`.
    fn stop_daemon(&self, state: SyncState) -> Result<(), Error> {
        self.apply_one(Operation::StopDaemon(state))
    }
}
