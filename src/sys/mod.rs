//! Operating-system helpers that more than one layer needs and that change
//! no kernel state: a child process run with a time limit in a process
//! group of its own ([`process`]), and ICMP echo ([`icmp`]). `check`, `ha`
//! and `daemon` use them; `sys` itself uses only `model`-free std, tokio,
//! nix and surge-ping, so it sits below all three (docs/architecture.md).

pub mod icmp;
pub mod process;
