//! Real servers (IPVS destinations) and how packets reach them.

use std::net::IpAddr;

use super::service::Family;
use super::stats::Stats;

/// Forwarding method (`IP_VS_CONN_F_FWD_MASK` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    /// `-m`, NAT (`IP_VS_CONN_F_MASQ`, 0).
    Masq,
    /// Local node (`IP_VS_CONN_F_LOCALNODE`, 1): the kernel reports it for local reals.
    Local,
    /// `-i`, IP tunnelling (`IP_VS_CONN_F_TUNNEL`, 2).
    Tunnel,
    /// `-g`, direct routing (`IP_VS_CONN_F_DROUTE`, 3).
    Route,
    /// A value this program does not know (4..=7), kept for listing.
    Other(u32),
}

impl Forward {
    /// The kernel's forwarding value.
    pub fn value(self) -> u32 {
        match self {
            Forward::Masq => 0,
            Forward::Local => 1,
            Forward::Tunnel => 2,
            Forward::Route => 3,
            Forward::Other(n) => n,
        }
    }

    /// From the kernel's forwarding value (already masked with 0x7).
    pub fn from_value(v: u32) -> Forward {
        match v {
            0 => Forward::Masq,
            1 => Forward::Local,
            2 => Forward::Tunnel,
            3 => Forward::Route,
            n => Forward::Other(n),
        }
    }
}

/// Encapsulation of a tunnel real server (`--tun-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelType {
    /// IP in IP (the default).
    #[default]
    Ipip,
    /// Generic UDP encapsulation (needs `--tun-port`).
    Gue,
    /// GRE.
    Gre,
}

impl TunnelType {
    /// The kernel's `IP_VS_CONN_F_TUNNEL_TYPE_*` value.
    pub fn value(self) -> u8 {
        match self {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
        }
    }

    /// From the kernel's value.
    pub fn from_value(v: u8) -> Option<TunnelType> {
        match v {
            0 => Some(TunnelType::Ipip),
            1 => Some(TunnelType::Gue),
            2 => Some(TunnelType::Gre),
            _ => None,
        }
    }
}

/// Tunnel checksum flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TunnelFlags(pub u16);

impl TunnelFlags {
    /// `IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM` (0): no checksum (the default).
    pub const NOCSUM: u16 = 0x0000;
    /// `IP_VS_TUNNEL_ENCAP_FLAG_CSUM`.
    pub const CSUM: u16 = 0x0001;
    /// `IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM`.
    pub const REMCSUM: u16 = 0x0002;
}

/// One real server of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Address; may differ in family from the service only for tunnels
    /// (kernel >= 5.2 has `IPVS_DEST_ATTR_ADDR_FAMILY`).
    pub addr: IpAddr,
    /// Port (ignored by the kernel for DR and tunnel, but kept as given).
    pub port: u16,
    /// Forwarding method.
    pub forward: Forward,
    /// Weight (`-w`, 0..=65535; 0 = quiescent).
    pub weight: i32,
    /// Upper connection threshold (`-x`, 0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold (`-y`, 0 = none).
    pub l_threshold: u32,
    /// Tunnel encapsulation type.
    pub tun_type: TunnelType,
    /// Tunnel destination port (GUE).
    pub tun_port: u16,
    /// Tunnel checksum flags.
    pub tun_flags: TunnelFlags,
    /// Active connections (read back from the kernel).
    pub active_conns: u32,
    /// Inactive connections (read back from the kernel).
    pub inact_conns: u32,
    /// Persistent connection templates (read back from the kernel).
    pub persist_conns: u32,
    /// Counters (read back from the kernel).
    pub stats: Stats,
}

impl Destination {
    /// A real server with ipvsadm's defaults: direct routing, weight 1.
    pub fn new(addr: IpAddr, port: u16) -> Destination {
        Destination {
            addr,
            port,
            forward: Forward::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunnelType::Ipip,
            tun_port: 0,
            tun_flags: TunnelFlags::default(),
            active_conns: 0,
            inact_conns: 0,
            persist_conns: 0,
            stats: Stats::default(),
        }
    }

    /// Address family of the real server.
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }
}
