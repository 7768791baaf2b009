//! Validated configuration of the paired-director (HA) subsystem.
//!
//! `config::toml` builds it from `lvsd.toml`; `ha::run` consumes it. It lives
//! in `model` because `ha` may not import `config` (layer rule).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::SyncDaemon;

/// Default UDP port for heartbeats: heartbeat's `ha-cluster` port 694.
pub const DEFAULT_HA_PORT: u16 = 694;

/// Everything `ha::run` needs, already checked for consistency.
#[derive(Debug, Clone, PartialEq)]
pub struct HaConfig {
    /// This node's name; must differ from the peer's.
    pub node: String,
    /// Priority in elections (higher wins); ties break on the node name.
    pub priority: u8,
    /// File holding the shared HMAC key (must not be group/other readable).
    pub key_file: PathBuf,
    /// Heartbeat timings.
    pub timings: Timings,
    /// Whether the better node takes the VIPs back when it returns.
    pub auto_failback: bool,
    /// How long a returning better node waits before taking back the VIPs.
    pub failback_delay: Duration,
    /// Redundant heartbeat links; the peer is dead only when all are silent.
    pub links: Vec<LinkConfig>,
    /// Virtual addresses owned by the active node.
    pub vips: Vec<Vip>,
    /// Gratuitous ARP / unsolicited NA repetitions after takeover.
    pub announce: Announce,
    /// Ping nodes used to decide which node sees more of the network.
    pub ping: PingConfig,
    /// IPVS connection-sync daemon settings (None: leave sync daemons alone).
    pub sync_daemon: Option<SyncDaemon>,
    /// Commands run on role transitions.
    pub hooks: Vec<Hook>,
    /// SCHED_RR priority for the heartbeat thread (heartbeat's `realtime`,
    /// keepalived's `vrrp_rt_priority`); None runs at normal priority.
    pub rt_priority: Option<u8>,
    /// What makes this node ineligible (keepalived's `track_interface`,
    /// `track_script`, `track_file`).
    pub track: Track,
}

/// Tracked objects: while one is at fault this node is not eligible to
/// hold the VIPs (its heartbeat says unhealthy and it hands them over).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Track {
    /// Interfaces that must be up and running (IFF_UP and IFF_RUNNING).
    pub interfaces: Vec<String>,
    /// Files holding an integer: 0 is OK, anything else a fault.
    pub files: Vec<PathBuf>,
    /// Scripts run periodically: exit 0 is success.
    pub scripts: Vec<TrackScript>,
}

impl Track {
    /// Nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.interfaces.is_empty() && self.files.is_empty() && self.scripts.is_empty()
    }
}

/// One `[[ha.track_script]]` (keepalived's `vrrp_script`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackScript {
    /// Name in logs (default: the program).
    pub name: String,
    /// Program and arguments, run without a shell.
    pub argv: Vec<String>,
    /// Pause between two runs (from the start of one to the next).
    pub interval: Duration,
    /// Kill the run (and its process group) after this long; counts as a failure.
    pub timeout: Duration,
    /// Failures in a row that make it a fault.
    pub fall: u32,
    /// Successes in a row that clear the fault.
    pub rise: u32,
}

/// Heartbeat timings (heartbeat's `keepalive`, `warntime`, `deadtime`, `initdead`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Interval between heartbeats.
    pub keepalive: Duration,
    /// Silence after which a "late heartbeat" warning is logged.
    pub warntime: Duration,
    /// Silence on every link after which the peer is declared dead.
    pub deadtime: Duration,
    /// Time to wait for the peer after start before taking over.
    pub initdead: Duration,
}

/// One heartbeat link: a local endpoint plus where to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Name used in logs and counters.
    pub name: String,
    /// Interface to bind to (SO_BINDTODEVICE), if any.
    pub interface: Option<String>,
    /// Local address to bind (None: the wildcard of the peers' family).
    pub bind: Option<IpAddr>,
    /// UDP port to listen on and send to.
    pub port: u16,
    /// Unicast destinations (local addresses are skipped at run time).
    pub peers: Vec<SocketAddr>,
    /// Multicast group to join and send to.
    pub multicast: Option<IpAddr>,
    /// Broadcast address to send to.
    pub broadcast: Option<IpAddr>,
}

/// A virtual address with its interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Interface that carries it.
    pub interface: String,
    /// IPv4 label (`eth0:vip`), if any.
    pub label: Option<String>,
}

/// How to announce VIPs after takeover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce {
    /// Number of GARP pairs / NAs per VIP (IPaddr2 default 5).
    pub count: u32,
    /// Interval between them (IPaddr2 default 200 ms).
    pub interval: Duration,
}

impl Default for Announce {
    fn default() -> Self {
        Announce {
            count: 5,
            interval: Duration::from_millis(200),
        }
    }
}

/// Ping nodes (ipfail / pingd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    /// Addresses probed with ICMP echo.
    pub nodes: Vec<IpAddr>,
    /// Interval between probes.
    pub interval: Duration,
    /// A node with no reply for this long counts as unreachable.
    pub deadping: Duration,
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookWhen {
    /// After this node became active (VIPs added).
    Active,
    /// After this node became standby (VIPs removed).
    Standby,
    /// On every transition; gets `<new-role> <old-role>` appended.
    Any,
}

/// A user command run on a role transition, never through a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Which transitions trigger it.
    pub when: HookWhen,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Kill the command after this long.
    pub timeout: Duration,
}
