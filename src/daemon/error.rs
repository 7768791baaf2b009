//! Typed errors of the daemon's requests: what a reload or a role change
//! answers. They keep the kernel's errno and the failed operation; text is
//! made only at the wire edge (`control::handle` writes `Display`).

use std::sync::Arc;

use super::load::ConfigError;

/// Why a reload did not fully apply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReloadError {
    /// The new config was rejected; the running table is kept.
    #[error("{0}")]
    Rejected(#[from] ConfigError),
    /// The loader task panicked or was cancelled.
    #[error("config loader failed: {0}")]
    Loader(Arc<tokio::task::JoinError>),
    /// The config was taken, but kernel operations failed (they are
    /// retried with backoff); `first` keeps the op and the errno.
    #[error("configuration applied, but {failed} kernel operation(s) failed (retrying): {first}")]
    Kernel {
        /// How many operations failed.
        failed: usize,
        /// The first failure, errno and operation intact.
        first: Arc<crate::kernel::Error>,
    },
    /// Reading the IPVS table for the pass failed (retried with backoff).
    #[error("configuration applied, but reading the IPVS table failed (retrying): {0}")]
    Read(Arc<crate::kernel::Error>),
    /// The blocking kernel job of the pass panicked or was cancelled.
    #[error("configuration applied, but the kernel job failed (retrying): {0}")]
    Task(Arc<tokio::task::JoinError>),
    /// The daemon stops before the reload could finish.
    #[error("the daemon is stopping")]
    Stopping,
}

impl ReloadError {
    /// The kernel error behind this failure, if it is one.
    pub fn kernel(&self) -> Option<&crate::kernel::Error> {
        match self {
            ReloadError::Kernel { first, .. } => Some(first),
            ReloadError::Read(e) => Some(e),
            _ => None,
        }
    }
}

/// Why `standby`/`takeover` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// No `[ha]` table: there is no peer to hand over to.
    #[error("{0}: no [ha] section in lvsd.toml")]
    NoHa(String),
    /// The HA runner's channel is closed.
    #[error("{0}: the HA runner has stopped")]
    HaStopped(String),
}

/// Why a control-socket request failed; written as text on the socket.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    /// `ping` before the first table is in the kernel.
    #[error("starting: the first table is not applied yet")]
    Starting,
    /// The engine no longer answers.
    #[error("daemon is stopping")]
    Stopping,
    /// Not a command this daemon knows.
    #[error("unknown command {0:?}")]
    Unknown(String),
    /// A reload failed.
    #[error("{0}")]
    Reload(#[from] ReloadError),
    /// A role change failed.
    #[error("{0}")]
    Role(#[from] RoleError),
    /// An operations command (`drain`, `weight`, `plan`...) failed; the
    /// text names the virtual, real or `file:line` at fault.
    #[error("{0}")]
    Op(String),
    /// The peer has read-only access and the command changes state.
    #[error("{}: {verb:?} changes the daemon's state; it needs root or membership of lvsd.toml's [daemon] write_group", super::access::DENIED)]
    Denied {
        /// The refused command's first word, sanitized.
        verb: String,
    },
}

impl From<String> for RequestError {
    fn from(text: String) -> Self {
        RequestError::Op(text)
    }
}
