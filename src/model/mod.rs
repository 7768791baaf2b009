//! Shared vocabulary of lvsd: IPVS services, real servers, sync daemons,
//! health and HA roles. No I/O (but for the host name, read once: see
//! `hostname`) and no async: every other module speaks in these types, so
//! peers (check, reconcile, ha, cli) never import each other.
//!
//! The IPVS values (services, reals, sync daemons, counters, timeouts)
//! are the `ipvs-netlink` crate's own types, re-exported under lvsd's
//! names (`VirtualService` is the crate's `Service`, `RealServer` its
//! `Destination`, ...): one definition, so the kernel layer hands them to
//! the crate as they are. They are plain data (std only); using them does
//! not reach any socket.

pub mod addr_text;
mod anycast;
mod check;
mod event;
mod ha;
mod health;
mod host;
pub mod maglev;
mod table;
pub mod text;
mod virtual_name;
mod weight;

pub use anycast::{
    AnycastConfig, AnycastVip, DEFAULT_ANYCAST_DRAIN, DEFAULT_ANYCAST_PROTOCOL,
    DEFAULT_ANYCAST_TABLE,
};
pub use check::{
    AgentAdmin, AgentSpec, AgentState, CaBundle, CheckPolicy, CheckSpec, CheckType, HttpMethod,
    Service, StatusCodes,
};
pub use event::{EventHook, EventKind, SocketAccess, DEFAULT_SOCKET_MODE};
pub use ha::{
    Announce, HaConfig, Hook, HookWhen, LinkConfig, PingConfig, Timings, Track, TrackScript, Vip,
    DEFAULT_HA_PORT,
};
pub use health::{Health, Role};
pub use host::{host_port, hostname};
pub use ipvs_netlink::{
    Daemon as SyncDaemon, DaemonState as SyncState, Destination as RealServer, Family, Forward,
    Info as VersionInfo, Protocol, Service as VirtualService, ServiceFlags, ServiceKey, Stats,
    Timeouts, TunnelFlags, TunnelType,
};
pub use table::{Table, TableEntry};
pub use virtual_name::VirtualName;
pub use weight::{slow_start_weight, Ramp, WeightAdjust, MAX_WEIGHT, RAMP_STEP};
