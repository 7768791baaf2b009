//! Desired table (config + health + role) against the kernel's table:
//! diff into the fewest operations and apply them. May use: `model`,
//! `kernel`, `config`. Never flushes the kernel table and never touches a
//! service it does not own.

pub mod consistent;
pub mod desired;
pub mod diff;

pub use consistent::{require_mh, ConsistentError};
pub use desired::{desired, kernel_port, Desired, RealKey, RealState, VirtualSpec};
pub use diff::diff;
pub mod apply;
pub use apply::{apply, Applied};
