//! Typed errors: which IPVS command failed and how (the kernel's errno, a
//! socket failure, or a reply that did not decode).

use crate::IpvsCmd;

/// Failure of one IPVS request.
#[derive(Debug)]
pub enum Error {
    /// The kernel refused the command; `errno` is positive (`ESRCH`, ...).
    Kernel {
        /// The command that failed.
        op: IpvsCmd,
        /// The kernel's errno, positive.
        errno: i32,
    },
    /// The "IPVS" generic netlink family does not exist: `ip_vs` is not
    /// loaded or not built (ipvsadm says "Protocol not available").
    NoFamily,
    /// Opening the netlink socket or resolving the family failed.
    Socket {
        /// The underlying error.
        source: std::io::Error,
    },
    /// Sending a request or receiving its answer failed.
    Io {
        /// The command being sent or read when it happened.
        op: IpvsCmd,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The kernel's reply did not decode.
    Decode {
        /// The command whose reply failed to decode.
        op: IpvsCmd,
        /// What was wrong.
        reason: String,
    },
}

// Display and Error by hand: the crate depends on the rust-netlink crates
// (and libc, which netlink-sys already brings) and nothing else.
impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Kernel { op, errno } => {
                write!(f, "{op}: {}", std::io::Error::from_raw_os_error(*errno))
            }
            Error::NoFamily => {
                f.write_str("IPVS generic netlink family not found (is ip_vs loaded?)")
            }
            Error::Socket { source } => write!(f, "netlink socket: {source}"),
            Error::Io { op, source } => write!(f, "{op}: netlink I/O: {source}"),
            Error::Decode { op, reason } => write!(f, "{op}: cannot decode kernel reply: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Socket { source } | Error::Io { source, .. } => Some(source),
            Error::Kernel { .. } | Error::NoFamily | Error::Decode { .. } => None,
        }
    }
}

/// `ENOPROTOOPT`: what libipvs reports when the family is missing.
const ENOPROTOOPT: i32 = 92;

impl Error {
    /// The errno behind the error: the kernel's, the socket's, or
    /// `ENOPROTOOPT` for a missing family; `None` for a decode failure.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::NoFamily => Some(ENOPROTOOPT),
            Error::Socket { source } | Error::Io { source, .. } => source.raw_os_error(),
            Error::Decode { .. } => None,
        }
    }

    /// The command the error belongs to; `None` before any IPVS command
    /// (socket set-up and family lookup).
    pub fn op(&self) -> Option<IpvsCmd> {
        match self {
            Error::Kernel { op, .. } | Error::Io { op, .. } | Error::Decode { op, .. } => Some(*op),
            Error::NoFamily | Error::Socket { .. } => None,
        }
    }

    /// A copy of this error for the command `op`: one transport failure
    /// is handed to every operation of a batch (`std::io::Error` is not
    /// `Clone`, so its kind, errno and text are carried over).
    pub fn duplicate(&self, op: IpvsCmd) -> Error {
        let copy = |source: &std::io::Error| match source.raw_os_error() {
            Some(e) => std::io::Error::from_raw_os_error(e),
            None => std::io::Error::new(source.kind(), source.to_string()),
        };
        match self {
            Error::Kernel { errno, .. } => Error::Kernel { op, errno: *errno },
            Error::NoFamily => Error::NoFamily,
            Error::Socket { source } => Error::Socket {
                source: copy(source),
            },
            Error::Io { source, .. } => Error::Io {
                op,
                source: copy(source),
            },
            Error::Decode { reason, .. } => Error::Decode {
                op,
                reason: reason.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn messages_name_the_command_and_keep_the_cause() {
        let k = Error::Kernel {
            op: IpvsCmd::NewService,
            errno: 17,
        };
        assert_eq!(k.to_string(), "add service: File exists (os error 17)");
        assert!(k.source().is_none());
        let io = Error::Io {
            op: IpvsCmd::GetService,
            source: std::io::Error::from_raw_os_error(105),
        };
        assert!(io.to_string().contains(": netlink I/O: "), "{io}");
        assert_eq!(
            io.source()
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .and_then(|e| e.raw_os_error()),
            Some(105)
        );
        let s = Error::Socket {
            source: std::io::Error::from_raw_os_error(1),
        };
        assert!(s.to_string().starts_with("netlink socket: "), "{s}");
        assert!(s.source().is_some());
        assert_eq!(
            Error::NoFamily.to_string(),
            "IPVS generic netlink family not found (is ip_vs loaded?)"
        );
        let d = Error::Decode {
            op: IpvsCmd::GetDest,
            reason: "short".into(),
        };
        assert!(
            d.to_string()
                .ends_with(": cannot decode kernel reply: short"),
            "{d}"
        );
    }
}
