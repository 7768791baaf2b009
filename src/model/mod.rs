//! Shared vocabulary of lvsd: IPVS services, real servers, sync daemons,
//! health and HA roles. No I/O (but for the host name, read once: see
//! `hostname`) and no async: every other module speaks in these types, so
//! peers (check, reconcile, ha, cli) never import each other.

mod anycast;
mod check;
mod daemon;
mod dest;
mod event;
mod ha;
mod health;
mod host;
pub mod maglev;
mod service;
mod stats;
mod table;
pub mod text;
mod weight;

pub use anycast::{
    AnycastConfig, AnycastVip, DEFAULT_ANYCAST_DRAIN, DEFAULT_ANYCAST_PROTOCOL,
    DEFAULT_ANYCAST_TABLE,
};
pub use check::{
    AgentAdmin, AgentSpec, AgentState, CaBundle, CheckPolicy, CheckSpec, CheckType, HttpMethod,
    Service, StatusCodes,
};
pub use daemon::{SyncDaemon, SyncState, Timeouts, VersionInfo};
pub use dest::{Forward, RealServer, TunnelFlags, TunnelType};
pub use event::{EventHook, EventKind, SocketAccess, DEFAULT_SOCKET_MODE};
pub use ha::{
    Announce, HaConfig, Hook, HookWhen, LinkConfig, PingConfig, Timings, Track, TrackScript, Vip,
    DEFAULT_HA_PORT,
};
pub use health::{Health, Role};
pub use host::{host_port, hostname};
pub use service::{Family, Protocol, ServiceFlags, ServiceKey, VirtualService};
pub use stats::Stats;
pub use table::{Table, TableEntry};
pub use weight::{slow_start_weight, Ramp, WeightAdjust, MAX_WEIGHT, RAMP_STEP};
