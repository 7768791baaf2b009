//! ipvsadm's messages for kernel errors: libipvs 1.31's `ipvs_strerror`
//! table (message per command and errno), falling back to `strerror`.
//!
//! Called by `cli::command`. Pure.

use crate::kernel::{Error, IpvsCmd};

/// The per-command rows of libipvs's table, keyed by the IPVS command the
/// libipvs function sends; `None` (before any command: the socket and the
/// family lookup) has only the generic rows.
fn message_for(op: Option<IpvsCmd>, errno: i32) -> Option<&'static str> {
    use IpvsCmd::*;
    let specific = match (op, errno) {
        (Some(NewService), libc::EEXIST) => Some("Service already exists"),
        (Some(NewService), libc::ENOENT) => Some("Scheduler or persistence engine not found"),
        (Some(SetService), libc::ESRCH) => Some("No such service"),
        (Some(SetService), libc::ENOENT) => Some("Scheduler or persistence engine not found"),
        (Some(DelService), libc::ESRCH) => Some("No such service"),
        (Some(Zero), libc::ESRCH) => Some("No such service"),
        (Some(NewDest), libc::ESRCH) => Some("Service not defined"),
        (Some(NewDest), libc::EEXIST) => Some("Destination already exists"),
        (Some(SetDest), libc::ESRCH) => Some("Service not defined"),
        (Some(SetDest), libc::ENOENT) => Some("No such destination"),
        (Some(DelDest), libc::ESRCH) => Some("Service not defined"),
        (Some(DelDest), libc::ENOENT) => Some("No such destination"),
        (Some(NewDaemon), libc::EEXIST) => Some("Daemon has already run"),
        (Some(DelDaemon), libc::ESRCH) => Some("No daemon is running"),
        (Some(GetService), libc::ESRCH) | (Some(GetDest), libc::ESRCH) => Some("No such service"),
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
        Error::Io { source, .. } | Error::Socket { source } => {
            source.raw_os_error().unwrap_or(libc::EIO)
        }
        Error::Decode { .. } => libc::EINVAL,
    }
}

/// ipvsadm's text for `errno` after `op` failed (`None`: before any IPVS
/// command, as `ipvs_init`).
pub fn ipvs_strerror(op: Option<IpvsCmd>, errno: i32) -> String {
    message_for(op, errno)
        .map(str::to_string)
        .unwrap_or_else(|| strerror(errno))
}

/// ipvsadm's text for a kernel-layer error.
pub fn message(e: &Error) -> String {
    let op = match e {
        Error::Kernel { op, .. } | Error::Io { op, .. } => Some(*op),
        _ => None,
    };
    ipvs_strerror(op, errno_of(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_command_then_generic_then_strerror() {
        assert_eq!(
            ipvs_strerror(Some(IpvsCmd::NewDest), libc::ESRCH),
            "Service not defined"
        );
        assert_eq!(
            ipvs_strerror(Some(IpvsCmd::DelService), libc::ESRCH),
            "No such service"
        );
        assert_eq!(
            ipvs_strerror(Some(IpvsCmd::Flush), libc::EPERM),
            "Permission denied (you must be root)"
        );
        assert_eq!(
            ipvs_strerror(None, libc::ENOPROTOOPT),
            "Protocol not available"
        );
        assert_eq!(
            ipvs_strerror(Some(IpvsCmd::NewDest), libc::ERANGE),
            "Numerical result out of range"
        );
    }
}
