//! Connection-sync daemons, global timeouts and version information.

use std::net::IpAddr;

/// Role of a sync daemon (`IP_VS_STATE_MASTER` / `IP_VS_STATE_BACKUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaemonState {
    /// Sends connection state.
    Master,
    /// Receives connection state.
    Backup,
}

impl DaemonState {
    /// The kernel's state bit.
    pub fn value(self) -> u32 {
        match self {
            DaemonState::Master => 1,
            DaemonState::Backup => 2,
        }
    }
}

/// One running (or requested) connection-sync daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// Master or backup.
    pub state: DaemonState,
    /// Multicast interface name.
    pub mcast_ifn: String,
    /// Sync id (0..=255).
    pub syncid: u32,
    /// Maximum sync message length (0 = kernel default).
    pub sync_maxlen: u16,
    /// Multicast group (None = kernel default 224.0.0.81).
    pub mcast_group: Option<IpAddr>,
    /// Multicast port (0 = kernel default 8848).
    pub mcast_port: u16,
    /// Multicast TTL (0 = kernel default 1).
    pub mcast_ttl: u8,
}

/// Global connection timeouts in seconds (`--set tcp tcpfin udp`; 0 = unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    /// Established TCP.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// `IPVS_CMD_GET_INFO`: the IPVS version and connection table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// Version as the kernel encodes it (`0x010201` = 1.2.1).
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}
