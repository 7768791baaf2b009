//! Announced VIPs (`[anycast]` of lvsd.toml): several active directors
//! behind ECMP, each announcing a VIP by a host route in a dedicated kernel
//! table that a routing daemon (BIRD, FRR) learns and exports over BGP.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default kernel routing table for announced VIP routes.
pub const DEFAULT_ANYCAST_TABLE: u32 = 100;
/// Default `rtm_protocol` of announced VIP routes (BIRD's `krt_source`).
pub const DEFAULT_ANYCAST_PROTOCOL: u8 = 100;
/// Default drain time on a planned stop.
pub const DEFAULT_ANYCAST_DRAIN: Duration = Duration::from_secs(5);

/// `[anycast]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnycastConfig {
    /// Kernel routing table the host routes go into (not 0, 253, 254, 255).
    pub table: u32,
    /// Route protocol number of those routes (5..=255: 0-4 are the kernel's).
    pub protocol: u8,
    /// On a planned stop: withdraw, keep serving this long, then exit.
    pub drain: Duration,
    /// BIRD's control socket, read for the BGP session state.
    pub bird_socket: Option<PathBuf>,
    /// Turn on `net.ipv4.vs.sloppy_tcp` and `sloppy_sctp`.
    pub sloppy: bool,
    /// The announced VIPs.
    pub vips: Vec<AnycastVip>,
}

/// One `[[anycast.vip]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnycastVip {
    /// The address; a /32 or /128 host route to it is announced.
    pub address: IpAddr,
    /// Each virtual on this address needs at least this many healthy reals.
    pub quorum: u32,
}

impl AnycastConfig {
    /// The announced VIP with this address, if any.
    pub fn vip(&self, addr: IpAddr) -> Option<&AnycastVip> {
        self.vips.iter().find(|v| v.address == addr)
    }
}
