//! `FakeTable`: an in-memory IPVS that answers like the kernel does, for unit
//! tests of `cli`, `reconcile` and `daemon` on machines without IPVS.
//!
//! The checks and errnos follow `ip_vs_genl_set_cmd()` and its helpers in
//! net/netfilter/ipvs/ip_vs_ctl.c (Linux 6.1): ESRCH for a missing service
//! (any command but add), EEXIST for a duplicate service or real server,
//! ENOENT for a missing real server or an unknown scheduler / persistence
//! engine, ERANGE for a negative weight or lower > upper threshold, EINVAL
//! for a non-unicast real, a bad IPv6 prefix, GUE without port or a mixed
//! family real that is not a tunnel, EEXIST/ESRCH for daemons.

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use super::{Error, Ipvs, IpvsCmd, Operation};
use crate::model::{
    Family, Forward, RealServer, ServiceFlags, ServiceKey, Stats, SyncDaemon, Table, TableEntry,
    Timeouts, TunnelType, VersionInfo, VirtualService,
};

/// Schedulers a Debian kernel ships as modules (the kernel loads any of them
/// on demand, so all count as known).
const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// Persistence engines (`ip_vs_pe_sip` is the only one upstream).
const PERSISTENCE_ENGINES: &[&str] = &["sip"];

#[derive(Debug, Clone)]
struct State {
    entries: Vec<TableEntry>,
    timeouts: Timeouts,
    daemons: Vec<SyncDaemon>,
    schedulers: Vec<String>,
    /// Injected failures: the next op of that kind fails with that errno.
    faults: Vec<(IpvsCmd, i32)>,
    /// Injected failures by position: `(n, errno)` fails the op `n` ops
    /// from when it was set (0 = the next op of any kind).
    op_faults: Vec<(usize, i32)>,
    /// Number of `apply` calls (a batch counts once), for batching tests.
    batches: usize,
    /// Total number of ops applied or refused.
    ops: usize,
}

/// In-memory IPVS table with the kernel's semantics and errnos.
#[derive(Debug)]
pub struct FakeTable {
    state: Mutex<State>,
}

impl Default for FakeTable {
    fn default() -> Self {
        FakeTable::new()
    }
}

fn kerr(op: IpvsCmd, errno: i32) -> Error {
    Error::Kernel { op, errno }
}

impl FakeTable {
    /// An empty table with the kernel's default timeouts (900 120 300).
    pub fn new() -> FakeTable {
        FakeTable {
            state: Mutex::new(State {
                entries: Vec::new(),
                timeouts: Timeouts {
                    tcp: 900,
                    tcp_fin: 120,
                    udp: 300,
                },
                daemons: Vec::new(),
                schedulers: SCHEDULERS.iter().map(|s| s.to_string()).collect(),
                faults: Vec::new(),
                op_faults: Vec::new(),
                batches: 0,
                ops: 0,
            }),
        }
    }

    /// A fake already holding `table` (stats and flags kept as given).
    pub fn with_table(table: Table) -> FakeTable {
        let fake = FakeTable::new();
        fake.lock().entries = table.entries;
        fake
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not poison other tests' view.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make the next op of `kind` fail with `errno` (positive), whatever the
    /// table holds: for testing error messages of every kernel errno.
    pub fn fail_next(&self, kind: IpvsCmd, errno: i32) {
        self.lock().faults.push((kind, errno));
    }

    /// Make the next `times` ops of `kind` fail with `errno`: a kernel
    /// that keeps refusing for a while (retry tests).
    pub fn fail_times(&self, kind: IpvsCmd, errno: i32, times: usize) {
        let mut st = self.lock();
        for _ in 0..times {
            st.faults.push((kind, errno));
        }
    }

    /// Make the op `n` ops from now (0 = the next one, of any kind and in
    /// any batch) fail with `errno`: a batch broken in its middle.
    pub fn fail_nth_op(&self, n: usize, errno: i32) {
        self.lock().op_faults.push((n, errno));
    }

    /// Injected failures not consumed yet (both kinds).
    pub fn pending_faults(&self) -> usize {
        let st = self.lock();
        st.faults.len() + st.op_faults.len()
    }

    /// Replace the set of schedulers the fake kernel can load.
    pub fn set_schedulers(&self, names: &[&str]) {
        self.lock().schedulers = names.iter().map(|s| s.to_string()).collect();
    }

    /// Overwrite the counters of a service (to test listings of stats).
    pub fn set_service_stats(&self, key: &ServiceKey, stats: Stats) -> bool {
        let mut st = self.lock();
        match st.entries.iter_mut().find(|e| e.service.key == *key) {
            Some(e) => {
                e.service.stats = stats;
                true
            }
            None => false,
        }
    }

    /// Set the active connection count of a real (as traffic would).
    pub fn set_active_conns(&self, key: &ServiceKey, addr: IpAddr, port: u16, n: u32) -> bool {
        let mut st = self.lock();
        match st
            .entries
            .iter_mut()
            .find(|e| e.service.key == *key)
            .and_then(|e| {
                e.reals
                    .iter_mut()
                    .find(|r| r.addr == addr && r.port == port)
            }) {
            Some(r) => {
                r.active_conns = n;
                true
            }
            None => false,
        }
    }

    /// Number of `apply` calls so far (one per batch).
    pub fn batches(&self) -> usize {
        self.lock().batches
    }

    /// Number of ops passed to `apply` so far.
    pub fn ops(&self) -> usize {
        self.lock().ops
    }

    /// The whole table as the kernel would list it.
    pub fn snapshot(&self) -> Table {
        Table {
            entries: self.lock().entries.clone(),
        }
    }
}

fn take_fault(st: &mut State, kind: IpvsCmd) -> Option<i32> {
    let pos = st.faults.iter().position(|(k, _)| *k == kind)?;
    Some(st.faults.remove(pos).1)
}

/// `inet_addr_type()` / `ipv6_addr_type()` as far as a fake can tell:
/// multicast, broadcast and unspecified addresses are not unicast.
fn is_unicast(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !(a.is_multicast() || a.is_broadcast() || a.is_unspecified()),
        IpAddr::V6(a) => !(a.is_multicast() || a.is_unspecified()),
    }
}

fn check_service(st: &State, svc: &VirtualService, op: IpvsCmd) -> Result<(), Error> {
    // ip_vs_add_service / ip_vs_edit_service: scheduler lookup first
    // ("none" is accepted since Linux 4.20 for schedulerless services).
    if svc.scheduler != "none" && !st.schedulers.contains(&svc.scheduler) {
        return Err(kerr(op, libc::ENOENT));
    }
    if let Some(pe) = svc.pe_name.as_deref() {
        if !pe.is_empty() && !PERSISTENCE_ENGINES.contains(&pe) {
            return Err(kerr(op, libc::ENOENT));
        }
    }
    if svc.key.family() == Family::V6 && !(1..=128).contains(&svc.netmask) {
        return Err(kerr(op, libc::EINVAL));
    }
    Ok(())
}

/// Checks shared by add and edit of a real server (ip_vs_add_dest and
/// ip_vs_edit_dest), after the service was found.
fn check_dest(svc: &VirtualService, rs: &RealServer, op: IpvsCmd) -> Result<(), Error> {
    // Mixed-family reals are only allowed for tunnels.
    if rs.family() != svc.key.family() && rs.forward != Forward::Tunnel {
        return Err(kerr(op, libc::EINVAL));
    }
    if rs.weight < 0 {
        return Err(kerr(op, libc::ERANGE));
    }
    if rs.l_threshold > rs.u_threshold {
        return Err(kerr(op, libc::ERANGE));
    }
    if rs.forward == Forward::Tunnel && rs.tun_type == TunnelType::Gue && rs.tun_port == 0 {
        return Err(kerr(op, libc::EINVAL));
    }
    Ok(())
}

/// What the kernel stores and reports for a real server given by a client:
/// counters start at zero, tunnel settings as given.
fn stored_dest(rs: &RealServer) -> RealServer {
    RealServer {
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
        stats: Stats::default(),
        ..rs.clone()
    }
}

/// Count down the positional faults; the one reaching this op fires.
fn take_op_fault(st: &mut State) -> Option<i32> {
    let mut hit = None;
    st.op_faults.retain_mut(|(n, errno)| {
        if *n == 0 {
            hit = hit.or(Some(*errno));
            false
        } else {
            *n -= 1;
            true
        }
    });
    hit
}

fn apply_op(st: &mut State, op: &Operation) -> Result<(), Error> {
    let kind = op.cmd();
    if let Some(errno) = take_op_fault(st) {
        return Err(kerr(kind, errno));
    }
    if let Some(errno) = take_fault(st, kind) {
        return Err(kerr(kind, errno));
    }
    match op {
        Operation::Flush => {
            st.entries.clear();
            Ok(())
        }
        Operation::SetTimeouts(t) => {
            // ip_vs_set_timeout: a zero value leaves the current one.
            if t.tcp != 0 {
                st.timeouts.tcp = t.tcp;
            }
            if t.tcp_fin != 0 {
                st.timeouts.tcp_fin = t.tcp_fin;
            }
            if t.udp != 0 {
                st.timeouts.udp = t.udp;
            }
            Ok(())
        }
        Operation::Zero(None) => {
            for e in &mut st.entries {
                e.service.stats = Stats::default();
                for r in &mut e.reals {
                    r.stats = Stats::default();
                }
            }
            Ok(())
        }
        Operation::StartDaemon(d) => {
            if st.daemons.iter().any(|x| x.state == d.state) {
                return Err(kerr(kind, libc::EEXIST));
            }
            if d.mcast_ifn.is_empty() {
                return Err(kerr(kind, libc::ENODEV));
            }
            // The kernel fills in its defaults, and lists them.
            let mut d = d.clone();
            if d.mcast_port == 0 {
                d.mcast_port = 8848;
            }
            if d.mcast_ttl == 0 {
                d.mcast_ttl = 1;
            }
            if d.mcast_group.is_none() {
                d.mcast_group = Some(IpAddr::from([224, 0, 0, 81]));
            }
            // What 6.1 reports on a 1500-byte MTU link: the MTU minus the
            // IP and UDP headers (IPv4 1472, IPv6 1452).
            if d.sync_maxlen == 0 {
                d.sync_maxlen = match d.mcast_group {
                    Some(IpAddr::V6(_)) => 1452,
                    _ => 1472,
                };
            }
            st.daemons.push(d);
            Ok(())
        }
        Operation::StopDaemon(state) => match st.daemons.iter().position(|x| x.state == *state) {
            Some(i) => {
                st.daemons.remove(i);
                Ok(())
            }
            None => Err(kerr(kind, libc::ESRCH)),
        },
        Operation::AddService(svc) => {
            if st.entries.iter().any(|e| e.service.key == svc.key) {
                return Err(kerr(kind, libc::EEXIST));
            }
            check_service(st, svc, kind)?;
            let mut stored = svc.clone();
            // ip_vs_svc_hash() marks every listed service as hashed.
            stored.flags = ServiceFlags(svc.flags.0 | ServiceFlags::HASHED);
            stored.stats = Stats::default();
            if stored.pe_name.as_deref() == Some("") {
                stored.pe_name = None;
            }
            st.entries.push(TableEntry {
                service: stored,
                reals: Vec::new(),
            });
            Ok(())
        }
        Operation::EditService(svc) => {
            let Some(i) = st.entries.iter().position(|e| e.service.key == svc.key) else {
                return Err(kerr(kind, libc::ESRCH));
            };
            check_service(st, svc, kind)?;
            let Some(e) = st.entries.get_mut(i) else {
                return Err(kerr(kind, libc::ESRCH));
            };
            e.service.scheduler = svc.scheduler.clone();
            e.service.flags = ServiceFlags(svc.flags.0 | ServiceFlags::HASHED);
            e.service.timeout = svc.timeout;
            e.service.netmask = svc.netmask;
            e.service.pe_name = svc.pe_name.clone().filter(|p| !p.is_empty());
            Ok(())
        }
        Operation::DelService(key) => match st.entries.iter().position(|e| e.service.key == *key) {
            Some(i) => {
                st.entries.remove(i);
                Ok(())
            }
            None => Err(kerr(kind, libc::ESRCH)),
        },
        Operation::Zero(Some(key)) => match st.entries.iter_mut().find(|e| e.service.key == *key) {
            Some(e) => {
                e.service.stats = Stats::default();
                for r in &mut e.reals {
                    r.stats = Stats::default();
                }
                Ok(())
            }
            None => Err(kerr(kind, libc::ESRCH)),
        },
        Operation::AddDest(key, rs) => {
            let Some(e) = st.entries.iter_mut().find(|e| e.service.key == *key) else {
                return Err(kerr(kind, libc::ESRCH));
            };
            check_dest(&e.service, rs, kind)?;
            if e.reals
                .iter()
                .any(|r| r.addr == rs.addr && r.port == rs.port)
            {
                return Err(kerr(kind, libc::EEXIST));
            }
            if !is_unicast(&rs.addr) {
                return Err(kerr(kind, libc::EINVAL));
            }
            // ip_vs_new_dest() uses list_add_rcu: the newest real is listed
            // first by the kernel.
            e.reals.insert(0, stored_dest(rs));
            Ok(())
        }
        Operation::EditDest(key, rs) => {
            let Some(e) = st.entries.iter_mut().find(|e| e.service.key == *key) else {
                return Err(kerr(kind, libc::ESRCH));
            };
            check_dest(&e.service, rs, kind)?;
            let Some(r) = e
                .reals
                .iter_mut()
                .find(|r| r.addr == rs.addr && r.port == rs.port)
            else {
                return Err(kerr(kind, libc::ENOENT));
            };
            let keep = (r.active_conns, r.inact_conns, r.persist_conns, r.stats);
            *r = rs.clone();
            (r.active_conns, r.inact_conns, r.persist_conns, r.stats) = keep;
            Ok(())
        }
        Operation::DelDest(key, addr, port) => {
            let Some(e) = st.entries.iter_mut().find(|e| e.service.key == *key) else {
                return Err(kerr(kind, libc::ESRCH));
            };
            match e
                .reals
                .iter()
                .position(|r| r.addr == *addr && r.port == *port)
            {
                Some(i) => {
                    e.reals.remove(i);
                    Ok(())
                }
                None => Err(kerr(kind, libc::ENOENT)),
            }
        }
    }
}

impl Ipvs for FakeTable {
    fn info(&self) -> Result<VersionInfo, Error> {
        let mut st = self.lock();
        if let Some(errno) = take_fault(&mut st, IpvsCmd::GetInfo) {
            return Err(kerr(IpvsCmd::GetInfo, errno));
        }
        // What a 6.1 kernel with the default ip_vs conn_tab_bits=12 reports.
        Ok(VersionInfo {
            version: 0x010201,
            conn_tab_size: 4096,
        })
    }

    fn services(&self) -> Result<Vec<VirtualService>, Error> {
        let mut st = self.lock();
        if let Some(errno) = take_fault(&mut st, IpvsCmd::GetService) {
            return Err(kerr(IpvsCmd::GetService, errno));
        }
        Ok(st.entries.iter().map(|e| e.service.clone()).collect())
    }

    fn service(&self, key: &ServiceKey) -> Result<VirtualService, Error> {
        let mut st = self.lock();
        if let Some(errno) = take_fault(&mut st, IpvsCmd::GetService) {
            return Err(kerr(IpvsCmd::GetService, errno));
        }
        st.entries
            .iter()
            .find(|e| e.service.key == *key)
            .map(|e| e.service.clone())
            .ok_or(kerr(IpvsCmd::GetService, libc::ESRCH))
    }

    fn dests(&self, key: &ServiceKey) -> Result<Vec<RealServer>, Error> {
        let mut st = self.lock();
        if let Some(errno) = take_fault(&mut st, IpvsCmd::GetDest) {
            return Err(kerr(IpvsCmd::GetDest, errno));
        }
        Ok(st
            .entries
            .iter()
            .find(|e| e.service.key == *key)
            .map(|e| e.reals.clone())
            .unwrap_or_default())
    }

    fn timeouts(&self) -> Result<Timeouts, Error> {
        let mut st = self.lock();
        if let Some(errno) = take_fault(&mut st, IpvsCmd::GetConfig) {
            return Err(kerr(IpvsCmd::GetConfig, errno));
        }
        Ok(st.timeouts)
    }

    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error> {
        let mut st = self.lock();
        if let Some(errno) = take_fault(&mut st, IpvsCmd::GetDaemon) {
            return Err(kerr(IpvsCmd::GetDaemon, errno));
        }
        // The kernel dumps the master first, then the backup.
        let mut d = st.daemons.clone();
        d.sort_by_key(|x| x.state.value());
        Ok(d)
    }

    fn apply(&self, ops: &[Operation]) -> Vec<Result<(), Error>> {
        let mut st = self.lock();
        st.batches += 1;
        st.ops += ops.len();
        ops.iter().map(|op| apply_op(&mut st, op)).collect()
    }
}

#[cfg(test)]
mod tests;
