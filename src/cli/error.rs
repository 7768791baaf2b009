//! ipvsadm's messages for kernel errors: libipvs 1.31's `ipvs_strerror`
//! table (message per command and errno), falling back to `strerror`.
//!
//! Called by `cli::command`. Pure.

use crate::kernel::{Error, OpKind};

/// The libipvs function an `OpKind` stands for, for the per-command rows.
fn message_for(op: OpKind, errno: i32) -> Option<&'static str> {
    use OpKind::*;
    let specific = match (op, errno) {
        (AddService, libc::EEXIST) => Some("Service already exists"),
        (AddService, libc::ENOENT) => Some("Scheduler or persistence engine not found"),
        (EditService, libc::ESRCH) => Some("No such service"),
        (EditService, libc::ENOENT) => Some("Scheduler or persistence engine not found"),
        (DelService, libc::ESRCH) => Some("No such service"),
        (Zero, libc::ESRCH) => Some("No such service"),
        (AddDest, libc::ESRCH) => Some("Service not defined"),
        (AddDest, libc::EEXIST) => Some("Destination already exists"),
        (EditDest, libc::ESRCH) => Some("Service not defined"),
        (EditDest, libc::ENOENT) => Some("No such destination"),
        (DelDest, libc::ESRCH) => Some("Service not defined"),
        (DelDest, libc::ENOENT) => Some("No such destination"),
        (StartDaemon, libc::EEXIST) => Some("Daemon has already run"),
        (StopDaemon, libc::ESRCH) => Some("No daemon is running"),
        (GetService, libc::ESRCH) | (GetDest, libc::ESRCH) => Some("No such service"),
        _ => None,
    };
    specific.or(match errno {
        libc::EPERM => Some("Permission denied (you must be root)"),
        libc::EINVAL => {
            Some("Invalid operation.  Possibly wrong module version, address not unicast, ...")
        }
        libc::ENOPROTOOPT => Some("Protocol not available"),
        libc::ENOMEM => Some("Memory allocation problem"),
        libc::EOPNOTSUPP => Some("Operation not supported with IPv6"),
        libc::EAFNOSUPPORT => Some("Operation not supported with specified address family"),
        libc::EMSGSIZE => Some("Module is wrong version"),
        _ => None,
    })
}

/// glibc's `strerror` text for an errno.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

/// The errno an error stands for (what libipvs would have left in errno).
pub fn errno_of(e: &Error) -> i32 {
    match e {
        Error::Kernel { errno, .. } => *errno,
        Error::NoFamily => libc::ENOPROTOOPT,
        Error::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
        _ => libc::EINVAL,
    }
}

/// ipvsadm's text for `errno` after `op` failed.
pub fn ipvs_strerror(op: OpKind, errno: i32) -> String {
    message_for(op, errno)
        .map(str::to_string)
        .unwrap_or_else(|| strerror(errno))
}

/// ipvsadm's text for a kernel-layer error.
pub fn message(e: &Error) -> String {
    let op = match e {
        Error::Kernel { op, .. } | Error::Io { op, .. } => *op,
        _ => OpKind::Resolve,
    };
    ipvs_strerror(op, errno_of(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_command_then_generic_then_strerror() {
        assert_eq!(
            ipvs_strerror(OpKind::AddDest, libc::ESRCH),
            "Service not defined"
        );
        assert_eq!(
            ipvs_strerror(OpKind::DelService, libc::ESRCH),
            "No such service"
        );
        assert_eq!(
            ipvs_strerror(OpKind::Flush, libc::EPERM),
            "Permission denied (you must be root)"
        );
        assert_eq!(
            ipvs_strerror(OpKind::AddDest, libc::ERANGE),
            "Numerical result out of range"
        );
    }
}
