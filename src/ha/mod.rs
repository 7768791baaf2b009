//! Paired directors: authenticated heartbeats, the role state machine and
//! VIP takeover. May use: `model`, `wire`, `kernel`.

pub mod auth;
pub mod state;
