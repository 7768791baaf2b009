//! Desired table (config + health + role) against the kernel's table:
//! diff into the fewest operations and apply them. May use: `model`, `kernel`, `config`.
