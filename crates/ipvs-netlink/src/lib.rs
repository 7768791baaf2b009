//! Linux IPVS (IP Virtual Server) over generic netlink: typed services,
//! destinations, sync daemons, counters and timeouts; a codec that emits
//! the exact bytes `ipvsadm` 1.31 sends and reads what the kernel answers;
//! and a blocking [`Client`] with dumps and batched changes.
//!
//! Built on the rust-netlink crates (`netlink-packet-core`,
//! `netlink-packet-generic`, `netlink-sys`), no libnl, no C.
//!
//! ```no_run
//! use ipvs_netlink::{Client, Destination, Forward, Operation, Protocol, Service, ServiceKey};
//!
//! let ipvs = Client::new()?; // Error::NoFamily when ip_vs is not loaded
//! let key = ServiceKey::Addr {
//!     protocol: Protocol::Tcp,
//!     addr: "192.0.2.1".parse().unwrap(),
//!     port: 80,
//! };
//! let mut service = Service::new(key);
//! service.scheduler = "rr".into();
//! let mut real = Destination::new("198.51.100.10".parse().unwrap(), 80);
//! real.forward = Forward::Masq;
//! // One batch, one result per operation.
//! for result in ipvs.apply(&[Operation::AddService(service), Operation::AddDest(key, real)]) {
//!     result?;
//! }
//! for dest in ipvs.destinations(&key)? {
//!     println!("{}:{} weight {}", dest.addr, dest.port, dest.weight);
//! }
//! # Ok::<(), ipvs_netlink::Error>(())
//! ```
//!
//! Layers, as in rust-netlink: [`packet`] is the pure codec (no sockets,
//! no panic on any input; what a custom client or a test needs), the crate
//! root has the typed values, [`Operation`] and [`Client`].
#![deny(missing_docs)]

mod client;
mod daemon;
mod dest;
mod error;
mod operation;
pub mod packet;
mod service;
mod stats;

pub use client::Client;
pub use daemon::{Daemon, DaemonState, Info, Timeouts};
pub use dest::{Destination, Forward, TunnelFlags, TunnelType};
pub use error::Error;
pub use operation::{IpvsCmd, Operation};
pub use service::{Family, Protocol, Service, ServiceFlags, ServiceKey};
pub use stats::Stats;

/// The README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
