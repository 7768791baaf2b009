//! lvsd: a control plane for Linux Virtual Server.
//!
//! Crate map (one job per module; `docs/architecture.md` has the layer rule):
//! - [`model`]: shared vocabulary (services, reals, health, roles); no I/O.
//! - [`wire`]: byte formats (`/proc/net/ip_vs`, heartbeat, ARP/NA); no I/O.
//! - [`child`]: runs a program in its own process group with a time limit.
//! - [`kernel`]: the only code that changes kernel state.
//! - [`icmp`]: ICMP echo, shared by the ping check and HA's ping nodes.
//! - [`config`]: `ldirectord.cf` and `lvsd.toml` into a validated model.
//! - [`check`]: health checks of real servers.
//! - [`reconcile`]: desired table vs kernel table, applied by diff.
//! - [`ha`]: paired directors, heartbeats, VIP takeover.
//! - [`cli`]: `lvsadm`, the ipvsadm-compatible command line.
//! - [`daemon`]: the `lvsd` daemon and its verbs; wires everything together.

pub mod check;
pub mod child;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod ha;
pub mod icmp;
pub mod kernel;
pub mod model;
pub mod reconcile;
pub mod wire;
