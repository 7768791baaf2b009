//! Heartbeat links: one UDP socket per configured link, sending each
//! heartbeat to the link's unicast peers, multicast group and broadcast
//! address, and receiving the peer's. Liveness per link is judged by
//! `ha::state`; this file only moves datagrams.
//!
//! Sockets follow heartbeat's ucast/mcast/bcast media: bound to the link's
//! interface (SO_BINDTODEVICE) so a cut link really is silent, IP TOS
//! "low delay", multicast TTL 1 without loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::model::LinkConfig;

const IPTOS_LOWDELAY: u32 = 0x10;

/// An open link.
pub struct Link {
    /// Its name, for logs.
    pub name: String,
    /// The socket (shared with the receive task).
    pub socket: Arc<UdpSocket>,
    /// Where each heartbeat goes.
    pub dests: Vec<SocketAddr>,
}

/// Whether `ip` is an address of this host (bind to it succeeds). Used to
/// drop unicast peers that are ourselves, so both nodes can share a file.
fn is_local(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

fn ifindex(name: &str) -> std::io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(std::io::Error::from)
}

/// Open link `cfg`. Must be called inside a tokio runtime.
pub fn open(cfg: &LinkConfig) -> std::io::Result<Link> {
    let v6 = cfg
        .bind
        .map(|b| b.is_ipv6())
        .or(cfg.peers.first().map(|p| p.is_ipv6()))
        .or(cfg.multicast.map(|m| m.is_ipv6()))
        .unwrap_or(false);
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    if let Some(dev) = &cfg.interface {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    let group_or_bcast = cfg.multicast.is_some() || cfg.broadcast.is_some();
    // Broadcast and multicast datagrams only reach wildcard-bound sockets.
    let local = match (cfg.bind, group_or_bcast) {
        (Some(b), false) => b,
        _ if v6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    if v6 {
        s.set_only_v6(true)?;
    } else {
        s.set_tos_v4(IPTOS_LOWDELAY)?;
    }
    if let Some(group) = cfg.multicast {
        let dev = cfg.interface.as_deref().unwrap_or_default();
        let index = ifindex(dev)?;
        match group {
            IpAddr::V4(g) => {
                s.join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(index))?;
                s.set_multicast_loop_v4(false)?;
                s.set_multicast_ttl_v4(1)?;
            }
            IpAddr::V6(g) => {
                s.join_multicast_v6(&g, index)?;
                s.set_multicast_if_v6(index)?;
                s.set_multicast_loop_v6(false)?;
                s.set_multicast_hops_v6(1)?;
            }
        }
    }
    if cfg.broadcast.is_some() {
        s.set_broadcast(true)?;
    }
    s.bind(&SocketAddr::new(local, cfg.port).into())?;
    s.set_nonblocking(true)?;
    let socket = Arc::new(UdpSocket::from_std(s.into())?);
    let mut dests: Vec<SocketAddr> = cfg
        .peers
        .iter()
        .filter(|p| Some(p.ip()) != cfg.bind && !is_local(p.ip()))
        .copied()
        .collect();
    dests.extend(cfg.multicast.map(|g| SocketAddr::new(g, cfg.port)));
    dests.extend(cfg.broadcast.map(|b| SocketAddr::new(b, cfg.port)));
    Ok(Link {
        name: cfg.name.clone(),
        socket,
        dests,
    })
}

impl Link {
    /// Send one datagram to every destination; returns how many sends
    /// failed (a downed link fails, which is expected and not fatal).
    pub fn send(&self, pkt: &[u8]) -> usize {
        self.dests
            .iter()
            .filter(|d| self.socket.try_send_to(pkt, **d).is_err())
            .count()
    }
}
