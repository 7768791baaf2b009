//! The one boundary between lvsd's model and the `ipvs-netlink` crate's
//! types. The two sets of types have the same fields on purpose (the crate
//! was extracted from lvsd), so every conversion here is field for field;
//! keeping them apart lets the crate stay free of lvsd types and lets
//! `model` stay free of the crate.

use ipvs_netlink as nl;

use super::{Error, Op, OpKind};
use crate::model::{
    Family, Forward, Protocol, RealServer, ServiceFlags, ServiceKey, Stats, SyncDaemon, SyncState,
    Timeouts, TunnelFlags, TunnelType, VersionInfo, VirtualService,
};

/// A crate error as lvsd's, for the op the caller was doing. The caller
/// knows the op exactly (the crate names commands, lvsd names ops), so
/// the crate's command is not mapped back; only the errors that come
/// before any command (socket set-up) become lvsd's `Resolve`.
pub(super) fn error(e: nl::Error, op: OpKind) -> Error {
    match e {
        nl::Error::Kernel { errno, .. } => Error::Kernel { op, errno },
        nl::Error::NoFamily => Error::NoFamily,
        nl::Error::Socket { source } => Error::Io {
            op: OpKind::Resolve,
            source,
        },
        nl::Error::Io { source, .. } => Error::Io { op, source },
        nl::Error::Decode { reason, .. } => Error::Decode { op, reason },
    }
}

fn family_to(f: Family) -> nl::Family {
    match f {
        Family::V4 => nl::Family::V4,
        Family::V6 => nl::Family::V6,
    }
}

fn family_from(f: nl::Family) -> Family {
    match f {
        nl::Family::V4 => Family::V4,
        nl::Family::V6 => Family::V6,
    }
}

fn protocol_to(p: Protocol) -> nl::Protocol {
    match p {
        Protocol::Tcp => nl::Protocol::Tcp,
        Protocol::Udp => nl::Protocol::Udp,
        Protocol::Sctp => nl::Protocol::Sctp,
        Protocol::Other(n) => nl::Protocol::Other(n),
    }
}

fn protocol_from(p: nl::Protocol) -> Protocol {
    match p {
        nl::Protocol::Tcp => Protocol::Tcp,
        nl::Protocol::Udp => Protocol::Udp,
        nl::Protocol::Sctp => Protocol::Sctp,
        nl::Protocol::Other(n) => Protocol::Other(n),
    }
}

/// A service key for the crate.
pub(super) fn key_to(k: &ServiceKey) -> nl::ServiceKey {
    match *k {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => nl::ServiceKey::Addr {
            protocol: protocol_to(protocol),
            addr,
            port,
        },
        ServiceKey::Fwmark { family, mark } => nl::ServiceKey::Fwmark {
            family: family_to(family),
            mark,
        },
    }
}

fn key_from(k: nl::ServiceKey) -> ServiceKey {
    match k {
        nl::ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => ServiceKey::Addr {
            protocol: protocol_from(protocol),
            addr,
            port,
        },
        nl::ServiceKey::Fwmark { family, mark } => ServiceKey::Fwmark {
            family: family_from(family),
            mark,
        },
    }
}

fn stats_to(s: &Stats) -> nl::Stats {
    nl::Stats {
        conns: s.conns,
        inpkts: s.inpkts,
        outpkts: s.outpkts,
        inbytes: s.inbytes,
        outbytes: s.outbytes,
        cps: s.cps,
        inpps: s.inpps,
        outpps: s.outpps,
        inbps: s.inbps,
        outbps: s.outbps,
    }
}

fn stats_from(s: nl::Stats) -> Stats {
    Stats {
        conns: s.conns,
        inpkts: s.inpkts,
        outpkts: s.outpkts,
        inbytes: s.inbytes,
        outbytes: s.outbytes,
        cps: s.cps,
        inpps: s.inpps,
        outpps: s.outpps,
        inbps: s.inbps,
        outbps: s.outbps,
    }
}

fn service_to(s: &VirtualService) -> nl::Service {
    nl::Service {
        key: key_to(&s.key),
        scheduler: s.scheduler.clone(),
        flags: nl::ServiceFlags(s.flags.0),
        timeout: s.timeout,
        netmask: s.netmask,
        pe_name: s.pe_name.clone(),
        stats: stats_to(&s.stats),
    }
}

/// A service from the crate.
pub(super) fn service_from(s: nl::Service) -> VirtualService {
    VirtualService {
        key: key_from(s.key),
        scheduler: s.scheduler,
        flags: ServiceFlags(s.flags.0),
        timeout: s.timeout,
        netmask: s.netmask,
        pe_name: s.pe_name,
        stats: stats_from(s.stats),
    }
}

fn forward_to(f: Forward) -> nl::Forward {
    match f {
        Forward::Masq => nl::Forward::Masq,
        Forward::Local => nl::Forward::Local,
        Forward::Tunnel => nl::Forward::Tunnel,
        Forward::Route => nl::Forward::Route,
        Forward::Other(v) => nl::Forward::Other(v),
    }
}

fn forward_from(f: nl::Forward) -> Forward {
    match f {
        nl::Forward::Masq => Forward::Masq,
        nl::Forward::Local => Forward::Local,
        nl::Forward::Tunnel => Forward::Tunnel,
        nl::Forward::Route => Forward::Route,
        nl::Forward::Other(v) => Forward::Other(v),
    }
}

fn tun_type_to(t: TunnelType) -> nl::TunnelType {
    match t {
        TunnelType::Ipip => nl::TunnelType::Ipip,
        TunnelType::Gue => nl::TunnelType::Gue,
        TunnelType::Gre => nl::TunnelType::Gre,
    }
}

fn tun_type_from(t: nl::TunnelType) -> TunnelType {
    match t {
        nl::TunnelType::Ipip => TunnelType::Ipip,
        nl::TunnelType::Gue => TunnelType::Gue,
        nl::TunnelType::Gre => TunnelType::Gre,
    }
}

fn dest_to(r: &RealServer) -> nl::Destination {
    nl::Destination {
        addr: r.addr,
        port: r.port,
        forward: forward_to(r.forward),
        weight: r.weight,
        u_threshold: r.u_threshold,
        l_threshold: r.l_threshold,
        tun_type: tun_type_to(r.tun_type),
        tun_port: r.tun_port,
        tun_flags: nl::TunnelFlags(r.tun_flags.0),
        active_conns: r.active_conns,
        inact_conns: r.inact_conns,
        persist_conns: r.persist_conns,
        stats: stats_to(&r.stats),
    }
}

/// A real server from the crate.
pub(super) fn dest_from(d: nl::Destination) -> RealServer {
    RealServer {
        addr: d.addr,
        port: d.port,
        forward: forward_from(d.forward),
        weight: d.weight,
        u_threshold: d.u_threshold,
        l_threshold: d.l_threshold,
        tun_type: tun_type_from(d.tun_type),
        tun_port: d.tun_port,
        tun_flags: TunnelFlags(d.tun_flags.0),
        active_conns: d.active_conns,
        inact_conns: d.inact_conns,
        persist_conns: d.persist_conns,
        stats: stats_from(d.stats),
    }
}

fn state_to(s: SyncState) -> nl::DaemonState {
    match s {
        SyncState::Master => nl::DaemonState::Master,
        SyncState::Backup => nl::DaemonState::Backup,
    }
}

fn state_from(s: nl::DaemonState) -> SyncState {
    match s {
        nl::DaemonState::Master => SyncState::Master,
        nl::DaemonState::Backup => SyncState::Backup,
    }
}

fn daemon_to(d: &SyncDaemon) -> nl::Daemon {
    nl::Daemon {
        state: state_to(d.state),
        mcast_ifn: d.mcast_ifn.clone(),
        syncid: d.syncid,
        sync_maxlen: d.sync_maxlen,
        mcast_group: d.mcast_group,
        mcast_port: d.mcast_port,
        mcast_ttl: d.mcast_ttl,
    }
}

/// A sync daemon from the crate.
pub(super) fn daemon_from(d: nl::Daemon) -> SyncDaemon {
    SyncDaemon {
        state: state_from(d.state),
        mcast_ifn: d.mcast_ifn,
        syncid: d.syncid,
        sync_maxlen: d.sync_maxlen,
        mcast_group: d.mcast_group,
        mcast_port: d.mcast_port,
        mcast_ttl: d.mcast_ttl,
    }
}

/// The timeouts from the crate.
pub(super) fn timeouts_from(t: nl::Timeouts) -> Timeouts {
    Timeouts {
        tcp: t.tcp,
        tcp_fin: t.tcp_fin,
        udp: t.udp,
    }
}

/// The version and table size from the crate.
pub(super) fn info_from(i: nl::Info) -> VersionInfo {
    VersionInfo {
        version: i.version,
        conn_tab_size: i.conn_tab_size,
    }
}

/// One op as the crate's operation: the same IPVS request.
pub(super) fn op_to(op: &Op) -> nl::Operation {
    match op {
        Op::AddService(s) => nl::Operation::AddService(service_to(s)),
        Op::EditService(s) => nl::Operation::EditService(service_to(s)),
        Op::DelService(k) => nl::Operation::DelService(key_to(k)),
        Op::Flush => nl::Operation::Flush,
        Op::AddDest(k, r) => nl::Operation::AddDest(key_to(k), dest_to(r)),
        Op::EditDest(k, r) => nl::Operation::EditDest(key_to(k), dest_to(r)),
        Op::DelDest(k, a, p) => nl::Operation::DelDest(key_to(k), *a, *p),
        Op::Zero(k) => nl::Operation::Zero(k.as_ref().map(key_to)),
        Op::SetTimeouts(t) => nl::Operation::SetTimeouts(nl::Timeouts {
            tcp: t.tcp,
            tcp_fin: t.tcp_fin,
            udp: t.udp,
        }),
        Op::StartDaemon(d) => nl::Operation::StartDaemon(daemon_to(d)),
        Op::StopDaemon(s) => nl::Operation::StopDaemon(state_to(*s)),
    }
}
