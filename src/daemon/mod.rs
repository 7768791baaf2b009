//! The lvsd daemon: wiring, shutdown, signals, reload, control socket,
//! systemd notify, status and metrics, ldirectord's LSB verbs. Uses everything;
//! nothing uses it.

pub mod check_config;
