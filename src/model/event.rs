//! The vocabulary of the daemon's event stream: which kinds of event exist
//! (their names are what `lvsd.toml` `[[hook]] on = [...]` lists, what
//! `/events` sends as the SSE `event:` field and what hooks get as
//! `LVSD_EVENT`), a hook's settings, and who may use the control socket.

use std::fmt;
use std::time::Duration;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A real server failed its checks (failurecount applied).
    RealDown,
    /// A real server passes its checks again.
    RealUp,
    /// A virtual lost every real (ldirectord: the fallback takes over) or an
    /// announced VIP fell below its quorum.
    QuorumLost,
    /// The virtual or VIP is served by enough reals again.
    QuorumRegained,
    /// A drained real reached zero active connections (or its wait ended).
    DrainFinished,
    /// A reload was applied.
    ReloadApplied,
    /// A reload was refused (config errors); the running table is kept.
    ReloadRejected,
    /// The HA role of this director changed.
    RoleChanged,
}

impl EventKind {
    /// Every kind, in a stable order (docs, validation messages).
    pub const ALL: [EventKind; 8] = [
        EventKind::RealDown,
        EventKind::RealUp,
        EventKind::QuorumLost,
        EventKind::QuorumRegained,
        EventKind::DrainFinished,
        EventKind::ReloadApplied,
        EventKind::ReloadRejected,
        EventKind::RoleChanged,
    ];

    /// The name used in `lvsd.toml`, the SSE stream and `LVSD_EVENT`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::RealDown => "real_down",
            EventKind::RealUp => "real_up",
            EventKind::QuorumLost => "quorum_lost",
            EventKind::QuorumRegained => "quorum_regained",
            EventKind::DrainFinished => "drain_finished",
            EventKind::ReloadApplied => "reload_applied",
            EventKind::ReloadRejected => "reload_rejected",
            EventKind::RoleChanged => "role_changed",
        }
    }

    /// The kind named `name`, if any (exact, lower case).
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[[hook]]` of `lvsd.toml`: a program run directly (no shell) for
/// each event of the listed kinds, with the event in its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHook {
    /// The kinds it runs for (never empty, no duplicates).
    pub on: Vec<EventKind>,
    /// Program and arguments (the program is an absolute path).
    pub argv: Vec<String>,
    /// Longest run; its process group is killed then.
    pub timeout: Duration,
}

/// Who may use the control socket (`[daemon] socket_mode`, `socket_group`,
/// `write_group`). Group names are resolved when the daemon starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketAccess {
    /// Permission bits of the socket file (connecting needs write
    /// permission on it).
    pub mode: u32,
    /// Group owning the socket file (name or numeric id); None: the
    /// daemon's own group.
    pub group: Option<String>,
    /// Members of this group (name or numeric id) may run state-changing
    /// commands; None: only root and the daemon's own user may.
    pub write_group: Option<String>,
}

/// The socket's mode when lvsd.toml does not set one: root only.
pub const DEFAULT_SOCKET_MODE: u32 = 0o600;

impl Default for SocketAccess {
    fn default() -> SocketAccess {
        SocketAccess {
            mode: DEFAULT_SOCKET_MODE,
            group: None,
            write_group: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_name(k.name()), Some(k));
        }
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
        assert_eq!(EventKind::from_name("Real_Down"), None);
        assert_eq!(EventKind::from_name(""), None);
    }
}
