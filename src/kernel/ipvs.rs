//! `NetlinkIpvs`: the real IPVS client, the `ipvs-netlink` crate's
//! [`Client`] behind the [`Ipvs`] trait. Every byte sent to or read from
//! the kernel is produced and parsed by that crate (requests identical to
//! ipvsadm 1.31's, batching with one ack per chunk, `recvmmsg` draining);
//! lvsd's model uses the crate's value types, so nothing is converted.
//! This file keeps what is lvsd's own: listing strategies (dumps over
//! several sockets, reals from `/proc/net/ip_vs`).

use ipvs_netlink::Client;

use super::{Error, Ipvs, IpvsCmd, Operation};
use crate::model::{
    RealServer, ServiceKey, SyncDaemon, Table, TableEntry, Timeouts, VersionInfo, VirtualService,
};

/// IPVS client over generic netlink (family "IPVS", version 1), for the
/// network namespace the process is in.
#[derive(Debug)]
pub struct NetlinkIpvs {
    client: Client,
}

impl NetlinkIpvs {
    /// Open a netlink socket and resolve the IPVS family; `Error::NoFamily`
    /// when the kernel has no IPVS (module not loaded).
    pub fn new() -> Result<NetlinkIpvs, Error> {
        let client = Client::new()?;
        tracing::debug!("IPVS family resolved");
        Ok(NetlinkIpvs { client })
    }
}

/// Services below this many are listed on one socket: a second socket
/// (and its family lookup) costs more than it saves.
const PARALLEL_DUMP_MIN: usize = 64;
/// Most sockets (and threads) one listing uses.
const PARALLEL_DUMP_MAX: usize = 4;

impl NetlinkIpvs {
    /// The reals of each of `services`, in order, on this socket.
    fn dests_of(&self, services: &[VirtualService]) -> Result<Vec<Vec<RealServer>>, Error> {
        services.iter().map(|s| self.dests(&s.key)).collect()
    }

    /// The reals of each of `services`, in order, by GET_DEST dumps. The
    /// kernel runs one dump at a time per socket and this needs one dump
    /// per service, so with one socket 1,000 services are 1,000 strictly
    /// serial round trips; large lists are split over a few sockets on
    /// scoped threads (one per CPU, at most `PARALLEL_DUMP_MAX`). The
    /// result, and the first error in service order, are the same as the
    /// serial walk's.
    fn dests_parallel(&self, services: &[VirtualService]) -> Result<Vec<Vec<RealServer>>, Error> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let ways = if services.len() < PARALLEL_DUMP_MIN {
            1
        } else {
            cpus.clamp(1, PARALLEL_DUMP_MAX)
        };
        let per = services.len().div_ceil(ways).max(1);
        let mut chunks = services.chunks(per);
        let first = chunks.next().unwrap_or_default();
        std::thread::scope(|scope| -> Result<Vec<Vec<RealServer>>, Error> {
            let others: Vec<_> = chunks
                .map(|c| scope.spawn(move || NetlinkIpvs::new()?.dests_of(c)))
                .collect();
            let mut all = self.dests_of(first)?;
            for h in others {
                let part = h.join().map_err(|_| Error::Decode {
                    op: IpvsCmd::GetDest,
                    reason: "listing thread panicked".into(),
                })??;
                all.extend(part);
            }
            Ok(all)
        })
    }

    /// The reals of every service, by GET_DEST dumps (`dests_parallel`).
    fn table_of(&self, services: Vec<VirtualService>) -> Result<Table, Error> {
        let reals = self.dests_parallel(&services)?;
        let entries = services
            .into_iter()
            .zip(reals)
            .map(|(service, reals)| TableEntry { service, reals })
            .collect();
        Ok(Table { entries })
    }
}

/// Where the kernel writes the services and reals of the reader's network
/// namespace as text.
const PROC_IP_VS: &str = "/proc/net/ip_vs";

impl Ipvs for NetlinkIpvs {
    fn table(&self) -> Result<Table, Error> {
        let services = self.services()?;
        self.table_of(services)
    }

    /// Services by netlink (flags, persistence, pe: all of it), reals from
    /// one read of `/proc/net/ip_vs` instead of a dump per service; a
    /// service the text does not place (added since, or ambiguous) is
    /// dumped over netlink, and so is everything when the file cannot be
    /// read or parsed. ipvsadm's own listing is no snapshot either: it too
    /// reads the services first and each service's reals after.
    fn listing(&self) -> Result<Table, Error> {
        let services = self.services()?;
        let blocks = std::fs::read_to_string(PROC_IP_VS)
            .map_err(|e| e.to_string())
            .and_then(|text| crate::wire::ipvs_proc::parse_ip_vs(&text));
        let blocks = match blocks {
            Ok(b) => b,
            Err(why) => {
                tracing::debug!("listing without {PROC_IP_VS}: {why}");
                return self.table_of(services);
            }
        };
        let mut placed = super::place_reals(&services, blocks);
        // The services the text missed, dumped together (in parallel when
        // there are many): when another network namespace holds IPVS
        // services, the kernel's text skips about half of this one's (see
        // `wire::ipvs_proc`), and one serial dump each was most of the
        // listing's time.
        let missing: Vec<VirtualService> = services
            .iter()
            .zip(&placed)
            .filter(|(_, p)| p.is_none())
            .map(|(s, _)| s.clone())
            .collect();
        if !missing.is_empty() {
            tracing::debug!(
                "{PROC_IP_VS} placed {} of {} services; dumping the rest",
                services.len() - missing.len(),
                services.len()
            );
            let mut dumped = self.dests_parallel(&missing)?.into_iter();
            for slot in placed.iter_mut().filter(|p| p.is_none()) {
                *slot = dumped.next();
            }
        }
        let entries = services
            .into_iter()
            .zip(placed)
            .map(|(service, reals)| TableEntry {
                service,
                reals: reals.unwrap_or_default(),
            })
            .collect();
        Ok(Table { entries })
    }

    fn info(&self) -> Result<VersionInfo, Error> {
        self.client.info()
    }

    fn services(&self) -> Result<Vec<VirtualService>, Error> {
        self.client.services()
    }

    fn service(&self, key: &ServiceKey) -> Result<VirtualService, Error> {
        self.client.service(key)
    }

    fn dests(&self, key: &ServiceKey) -> Result<Vec<RealServer>, Error> {
        self.client.destinations(key)
    }

    fn timeouts(&self) -> Result<Timeouts, Error> {
        self.client.timeouts()
    }

    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error> {
        self.client.daemons()
    }

    fn apply(&self, ops: &[Operation]) -> Vec<Result<(), Error>> {
        let mut results = self.client.apply(ops);
        results.truncate(ops.len());
        // The crate answers once per operation; should it ever answer
        // fewer, the rest did not go out (never silently "succeeded").
        for op in ops.iter().skip(results.len()) {
            results.push(Err(Error::Decode {
                op: op.cmd(),
                reason: "op not sent".into(),
            }));
        }
        results
    }
}
