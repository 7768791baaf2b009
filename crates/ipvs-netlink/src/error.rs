//! Typed errors: which IPVS command failed and how (the kernel's errno, a
//! socket failure, or a reply that did not decode).

use crate::IpvsCmd;

/// Failure of one IPVS request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused the command; `errno` is positive (`ESRCH`, ...).
    #[error("{op}: {}", std::io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// The command that failed.
        op: IpvsCmd,
        /// The kernel's errno, positive.
        errno: i32,
    },
    /// The "IPVS" generic netlink family does not exist: `ip_vs` is not
    /// loaded or not built (ipvsadm says "Protocol not available").
    #[error("IPVS generic netlink family not found (is ip_vs loaded?)")]
    NoFamily,
    /// Opening the netlink socket or resolving the family failed.
    #[error("netlink socket: {source}")]
    Socket {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Sending a request or receiving its answer failed.
    #[error("{op}: netlink I/O: {source}")]
    Io {
        /// The command being sent or read when it happened.
        op: IpvsCmd,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel's reply did not decode.
    #[error("{op}: cannot decode kernel reply: {reason}")]
    Decode {
        /// The command whose reply failed to decode.
        op: IpvsCmd,
        /// What was wrong.
        reason: String,
    },
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
