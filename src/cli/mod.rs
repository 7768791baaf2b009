//! `lvsadm`: ipvsadm 1.31's grammar, listings, messages and exit codes.
//! May use: `model`, `kernel`. Must not: keep state between runs, print
//! anything ipvsadm would not print.

pub mod conn;
pub mod list;
pub mod names;
pub mod save;
pub mod sort;
