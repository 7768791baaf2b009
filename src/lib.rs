//! lvsd: a control plane for Linux Virtual Server.
//!
//! Crate map (one job per module; `docs/architecture.md` has the layer rule):
//! - [`model`]: shared vocabulary (services, reals, health, roles); no I/O.
//! - [`wire`]: byte formats (IPVS generic netlink, heartbeat, ARP/NA); no I/O.
//! - [`kernel`]: the only code that changes kernel state.
//! - [`sys`]: child processes with a time limit, ICMP echo; shared by
//!   checks, HA and the daemon.
//! - [`config`]: `ldirectord.cf` and `lvsd.toml` into a validated model.
//! - [`check`]: health checks of real servers.
//! - [`reconcile`]: desired table vs kernel table, applied by diff.
//! - [`ha`]: paired directors, heartbeats, VIP takeover.
//! - [`cli`]: `lvsadm`, the ipvsadm-compatible command line.
//! - [`daemon`]: the `lvsd` daemon and its verbs; wires everything together.

pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod ha;
pub mod kernel;
pub mod model;
pub mod reconcile;
pub mod sys;
pub mod wire;
