//! Health checks of real servers; emits health changes as typed events.
//! Never touches the IPVS table. May use: `model`, `config` (check specs).
