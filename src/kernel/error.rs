//! Typed errors of the kernel layer: the op that failed and the kernel's
//! errno, so `cli` can print ipvsadm's per-command message.

use std::fmt;

/// Which IPVS command an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `IPVS_CMD_NEW_SERVICE`.
    AddService,
    /// `IPVS_CMD_SET_SERVICE`.
    EditService,
    /// `IPVS_CMD_DEL_SERVICE`.
    DelService,
    /// `IPVS_CMD_GET_SERVICE` (one service, or the dump).
    GetService,
    /// `IPVS_CMD_NEW_DEST`.
    AddDest,
    /// `IPVS_CMD_SET_DEST`.
    EditDest,
    /// `IPVS_CMD_DEL_DEST`.
    DelDest,
    /// `IPVS_CMD_GET_DEST` (dump).
    GetDest,
    /// `IPVS_CMD_NEW_DAEMON`.
    StartDaemon,
    /// `IPVS_CMD_DEL_DAEMON`.
    StopDaemon,
    /// `IPVS_CMD_GET_DAEMON`.
    GetDaemon,
    /// `IPVS_CMD_SET_CONFIG`.
    SetTimeouts,
    /// `IPVS_CMD_GET_CONFIG`.
    GetTimeouts,
    /// `IPVS_CMD_GET_INFO`.
    GetInfo,
    /// `IPVS_CMD_ZERO`.
    Zero,
    /// `IPVS_CMD_FLUSH`.
    Flush,
    /// Resolving the "IPVS" generic netlink family (`CTRL_CMD_GETFAMILY`).
    Resolve,
}

impl OpKind {
    /// The IPVS generic netlink command number (`IPVS_CMD_*`), 0 for the
    /// family lookup (which is a `nlctrl` command, not an IPVS one).
    pub fn cmd(self) -> u8 {
        match self {
            OpKind::AddService => 1,
            OpKind::EditService => 2,
            OpKind::DelService => 3,
            OpKind::GetService => 4,
            OpKind::AddDest => 5,
            OpKind::EditDest => 6,
            OpKind::DelDest => 7,
            OpKind::GetDest => 8,
            OpKind::StartDaemon => 9,
            OpKind::StopDaemon => 10,
            OpKind::GetDaemon => 11,
            OpKind::SetTimeouts => 12,
            OpKind::GetTimeouts => 13,
            OpKind::GetInfo => 15,
            OpKind::Zero => 16,
            OpKind::Flush => 17,
            OpKind::Resolve => 0,
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            OpKind::AddService => "add service",
            OpKind::EditService => "edit service",
            OpKind::DelService => "delete service",
            OpKind::GetService => "get service",
            OpKind::AddDest => "add destination",
            OpKind::EditDest => "edit destination",
            OpKind::DelDest => "delete destination",
            OpKind::GetDest => "get destinations",
            OpKind::StartDaemon => "start daemon",
            OpKind::StopDaemon => "stop daemon",
            OpKind::GetDaemon => "get daemons",
            OpKind::SetTimeouts => "set timeouts",
            OpKind::GetTimeouts => "get timeouts",
            OpKind::GetInfo => "get info",
            OpKind::Zero => "zero",
            OpKind::Flush => "flush",
            OpKind::Resolve => "resolve IPVS family",
        };
        f.write_str(s)
    }
}

/// Failure of one kernel operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused the command; `errno` is positive (`libc::ESRCH`...).
    #[error("{op}: {}", std::io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// The command that failed.
        op: OpKind,
        /// The kernel's errno, positive.
        errno: i32,
    },
    /// The "IPVS" generic netlink family does not exist: `ip_vs` not loaded
    /// or not built (ipvsadm: "Protocol not available").
    #[error("IPVS generic netlink family not found (is ip_vs loaded?)")]
    NoFamily,
    /// Socket-level failure (open, send, receive).
    #[error("{op}: netlink I/O: {source}")]
    Io {
        /// The command being sent or read when it happened.
        op: OpKind,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel's reply did not parse.
    #[error("{op}: cannot decode kernel reply: {reason}")]
    Decode {
        /// The command whose reply failed to parse.
        op: OpKind,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// The kernel errno, if the kernel refused the op.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::NoFamily => Some(libc::ENOPROTOOPT),
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Decode { .. } => None,
        }
    }

    /// The op the error belongs to (`Resolve` for `NoFamily`).
    pub fn op(&self) -> OpKind {
        match self {
            Error::Kernel { op, .. } | Error::Io { op, .. } | Error::Decode { op, .. } => *op,
            Error::NoFamily => OpKind::Resolve,
        }
    }
}
