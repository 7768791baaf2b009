//! `IPVS_DAEMON_ATTR_*`: the nested sync daemon attribute, and its mapping
//! to the model's `Daemon`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, NlasIterator, Parseable};

use super::nla::{put, put_str, string, u16_ne, u32_ne, u8_};
use crate::{Daemon, DaemonState};

const IPVS_DAEMON_ATTR_STATE: u16 = 1;
const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

/// One attribute of the daemon nest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAttr {
    /// `IP_VS_STATE_MASTER` (1) or `IP_VS_STATE_BACKUP` (2).
    State(u32),
    /// Multicast interface name.
    McastIfn(String),
    /// Sync id.
    SyncId(u32),
    /// Maximum sync message length (Linux >= 4.3 for this and below).
    SyncMaxlen(u16),
    /// IPv4 multicast group.
    McastGroup(Ipv4Addr),
    /// IPv6 multicast group.
    McastGroup6(Ipv6Addr),
    /// Multicast port. Host order on the wire too: the kernel reads it with
    /// nla_get_u16 and ipvsadm 1.31 sends 8848 as `90 22`.
    McastPort(u16),
    /// Multicast TTL.
    McastTtl(u8),
    /// Unknown attribute, kept.
    Other(DefaultNla),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        use DaemonAttr::*;
        match self {
            State(_) | SyncId(_) | McastGroup(_) => 4,
            McastIfn(s) => s.len() + 1,
            SyncMaxlen(_) | McastPort(_) => 2,
            McastGroup6(_) => 16,
            McastTtl(_) => 1,
            Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DaemonAttr::*;
        match self {
            State(_) => IPVS_DAEMON_ATTR_STATE,
            McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            SyncMaxlen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use DaemonAttr::*;
        match self {
            State(v) | SyncId(v) => put(buf, &v.to_ne_bytes()),
            McastIfn(s) => put_str(buf, s),
            SyncMaxlen(v) => put(buf, &v.to_ne_bytes()),
            McastGroup(a) => put(buf, &a.octets()),
            McastGroup6(a) => put(buf, &a.octets()),
            McastPort(v) => put(buf, &v.to_ne_bytes()),
            McastTtl(v) => put(buf, &[*v]),
            Other(n) => n.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for DaemonAttr {
    fn parse(nla: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        let p = nla.value();
        Ok(match nla.kind() {
            IPVS_DAEMON_ATTR_STATE => DaemonAttr::State(u32_ne(p, "daemon state")?),
            IPVS_DAEMON_ATTR_MCAST_IFN => DaemonAttr::McastIfn(string(p)),
            IPVS_DAEMON_ATTR_SYNC_ID => DaemonAttr::SyncId(u32_ne(p, "daemon syncid")?),
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => DaemonAttr::SyncMaxlen(u16_ne(p, "daemon maxlen")?),
            IPVS_DAEMON_ATTR_MCAST_GROUP => {
                let b: [u8; 4] = p
                    .try_into()
                    .map_err(|_| DecodeError::from("daemon mcast group: expected 4 bytes"))?;
                DaemonAttr::McastGroup(Ipv4Addr::from(b))
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                let b: [u8; 16] = p
                    .try_into()
                    .map_err(|_| DecodeError::from("daemon mcast group6: expected 16 bytes"))?;
                DaemonAttr::McastGroup6(Ipv6Addr::from(b))
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => DaemonAttr::McastPort(u16_ne(p, "daemon port")?),
            IPVS_DAEMON_ATTR_MCAST_TTL => DaemonAttr::McastTtl(u8_(p, "daemon ttl")?),
            _ => DaemonAttr::Other(DefaultNla::parse(nla)?),
        })
    }
}

/// Parse the payload of a daemon nest.
pub fn parse_daemon_attrs(payload: &[u8]) -> Result<Vec<DaemonAttr>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| DaemonAttr::parse(&nla)))
        .collect()
}

/// Attributes to start a daemon, in ipvsadm 1.31's order: optional
/// settings only when set (0 / None = kernel default).
pub fn daemon_attrs(d: &Daemon) -> Vec<DaemonAttr> {
    let mut v = vec![
        DaemonAttr::State(d.state.value()),
        DaemonAttr::McastIfn(d.mcast_ifn.clone()),
        DaemonAttr::SyncId(d.syncid),
    ];
    if d.sync_maxlen != 0 {
        v.push(DaemonAttr::SyncMaxlen(d.sync_maxlen));
    }
    if d.mcast_port != 0 {
        v.push(DaemonAttr::McastPort(d.mcast_port));
    }
    if d.mcast_ttl != 0 {
        v.push(DaemonAttr::McastTtl(d.mcast_ttl));
    }
    match d.mcast_group {
        Some(IpAddr::V4(a)) => v.push(DaemonAttr::McastGroup(a)),
        Some(IpAddr::V6(a)) => v.push(DaemonAttr::McastGroup6(a)),
        None => {}
    }
    v
}

/// Attributes to stop a daemon (ipvsadm sends an empty interface, syncid 0).
pub fn daemon_stop_attrs(state: DaemonState) -> Vec<DaemonAttr> {
    vec![
        DaemonAttr::State(state.value()),
        DaemonAttr::McastIfn(String::new()),
        DaemonAttr::SyncId(0),
    ]
}

/// Build a `Daemon` from a kernel reply's daemon nest.
pub fn daemon_from_attrs(attrs: &[DaemonAttr]) -> Result<Daemon, DecodeError> {
    let mut d = Daemon {
        state: DaemonState::Master,
        mcast_ifn: String::new(),
        syncid: 0,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    let mut state = None;
    for a in attrs {
        match a {
            DaemonAttr::State(v) => state = Some(*v),
            DaemonAttr::McastIfn(s) => d.mcast_ifn = s.clone(),
            DaemonAttr::SyncId(v) => d.syncid = *v,
            DaemonAttr::SyncMaxlen(v) => d.sync_maxlen = *v,
            DaemonAttr::McastGroup(a) => d.mcast_group = Some(IpAddr::V4(*a)),
            DaemonAttr::McastGroup6(a) => d.mcast_group = Some(IpAddr::V6(*a)),
            DaemonAttr::McastPort(v) => d.mcast_port = *v,
            DaemonAttr::McastTtl(v) => d.mcast_ttl = *v,
            DaemonAttr::Other(_) => {}
        }
    }
    d.state = match state {
        Some(1) => DaemonState::Master,
        Some(2) => DaemonState::Backup,
        Some(n) => return Err(DecodeError::from(format!("daemon with unknown state {n}"))),
        None => return Err(DecodeError::from("daemon without state")),
    };
    Ok(d)
}
