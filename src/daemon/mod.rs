//! The lvsd daemon: wiring, shutdown, signals, reload, control socket,
//! systemd notify, status and metrics, ldirectord's LSB verbs. Uses
//! everything; nothing uses it.

pub mod access;
pub mod admin;
pub mod anycast;
pub mod bird;
pub mod check_config;
pub mod checks;
pub mod control;
pub mod core;
pub mod engine;
pub mod entry;
pub mod error;
pub mod event_hooks;
pub mod events;
pub mod explain;
pub mod hooks;
pub mod load;
pub mod malloc;
pub mod metrics;
pub mod monitor;
pub mod ops;
pub mod opsctl;
pub mod overrides;
pub mod pidfile;
pub mod plan;
pub mod quorum;
pub mod service;
pub mod status;
pub mod systemd;
pub mod verbs;
pub mod web;
