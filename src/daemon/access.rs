//! Who may do what over the control socket.
//!
//! Two gates, each enforced by the kernel's own data:
//!
//! 1. **Connecting** needs write permission on the socket file, so its
//!    mode and group (`[daemon] socket_mode`, `socket_group`; default
//!    `0600`, the daemon's group) decide who may talk to the daemon at all.
//! 2. **Changing state** (`reload`, `standby`, `takeover` and every other
//!    command that is not read-only) is decided per connection from the
//!    peer's credentials as the kernel recorded them at `connect()`
//!    (`SO_PEERCRED` for the uid, `SO_PEERGROUPS` for the supplementary
//!    groups; neither can be forged by the client): root, the daemon's own
//!    user, and members of `[daemon] write_group` (primary or
//!    supplementary) may; anyone else who could connect may only run the
//!    read-only commands (`ping`, `status`).
//!
//! So `socket_mode = "0660"`, `socket_group = "lvsview"`, `write_group =
//! "lvsadm"` lets the lvsview group read the status and the lvsadm group
//! (which must also be able to connect: make it the socket's group, or a
//! subgroup of its members) operate the director. Unknown commands count
//! as state-changing (fail closed).

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Commands anyone who can connect may run: they change nothing.
pub const READ_ONLY: &[&str] = &["ping", "status", "conns"];

/// The start of the answer to a refused command (clients match it to
/// exit with 4, LSB's "insufficient privilege").
pub const DENIED: &str = "permission denied";

/// A connected client, as the kernel saw it at `connect()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Effective uid.
    pub uid: u32,
    /// Effective (primary) gid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// The resolved write policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The daemon's own uid (it may always command itself).
    pub daemon_uid: u32,
    /// Members of this group may change state.
    pub write_gid: Option<u32>,
}

/// What a connection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every command.
    Write,
    /// Only [`READ_ONLY`] commands.
    Read,
}

/// The access of `peer` (None: its credentials could not be read, which
/// grants read only).
pub fn decide(peer: Option<&Peer>, policy: &Policy) -> Access {
    let Some(p) = peer else {
        return Access::Read;
    };
    let in_write_group = policy
        .write_gid
        .is_some_and(|g| p.gid == g || p.groups.contains(&g));
    if p.uid == 0 || p.uid == policy.daemon_uid || in_write_group {
        Access::Write
    } else {
        Access::Read
    }
}

/// Whether `access` allows the command line `cmd` (its first word is the
/// command).
pub fn permits(access: Access, cmd: &str) -> bool {
    match access {
        Access::Write => true,
        Access::Read => {
            let mut words = cmd.split_whitespace();
            match words.next() {
                // Listing the overrides reads; `overrides clear` writes.
                Some("overrides") => words.next().is_none(),
                Some(verb) => READ_ONLY.contains(&verb),
                None => false,
            }
        }
    }
}

/// The credentials of the process at the other end of `sock`.
pub fn peer_of(sock: &impl AsRawFd) -> io::Result<Peer> {
    let fd = sock.as_raw_fd();
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a
    // properly sized and aligned ucred, and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // NGROUPS_MAX is 65536; a buffer that size costs 256 KiB, so ask with
    // a small one first and grow once to what the kernel says it needs.
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    for _ in 0..2 {
        let mut len = std::mem::size_of_val(groups.as_slice()) as libc::socklen_t;
        // SAFETY: the buffer holds `len` bytes; the kernel writes at most
        // that and sets `len` to the bytes needed (ERANGE when larger).
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return Ok(Peer {
                uid: cred.uid,
                gid: cred.gid,
                groups,
            });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) || n <= groups.len() || n > 65_536 {
            return Err(e);
        }
        groups.resize(n, 0);
    }
    Err(io::Error::other("peer groups keep changing"))
}

/// Why the socket settings could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A group named in lvsd.toml does not exist.
    #[error("lvsd.toml [daemon] {key}: no group {name:?}")]
    UnknownGroup {
        /// `socket_group` or `write_group`.
        key: &'static str,
        /// The name given.
        name: String,
    },
    /// The group database could not be read.
    #[error("lvsd.toml [daemon] {key}: looking up {name:?}: {source}")]
    Lookup {
        /// `socket_group` or `write_group`.
        key: &'static str,
        /// The name given.
        name: String,
        /// The error.
        source: nix::Error,
    },
}

/// The gid of `name` (a numeric id is taken as is).
pub fn resolve_group(key: &'static str, name: &str) -> Result<u32, Error> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(Error::UnknownGroup {
            key,
            name: name.to_string(),
        }),
        Err(source) => Err(Error::Lookup {
            key,
            name: name.to_string(),
            source,
        }),
    }
}

/// Give the socket file its group (if any) and mode. The group first, so
/// the file is never open to a group it should not be.
pub fn apply(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<()> {
    if let Some(g) = gid {
        std::os::unix::fs::chown(path, None, Some(g))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer {
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn who_may_change_state() {
        let p = Policy {
            daemon_uid: 0,
            write_gid: Some(500),
        };
        assert_eq!(decide(Some(&peer(0, 0, &[])), &p), Access::Write);
        assert_eq!(decide(Some(&peer(1000, 500, &[])), &p), Access::Write);
        assert_eq!(decide(Some(&peer(1000, 100, &[7, 500])), &p), Access::Write);
        assert_eq!(decide(Some(&peer(1000, 100, &[7, 501])), &p), Access::Read);
        assert_eq!(decide(None, &p), Access::Read);
        // No write group: only root and the daemon's user.
        let p = Policy {
            daemon_uid: 123,
            write_gid: None,
        };
        assert_eq!(decide(Some(&peer(123, 5, &[])), &p), Access::Write);
        assert_eq!(decide(Some(&peer(1000, 0, &[0])), &p), Access::Read);
    }

    #[test]
    fn read_access_runs_only_read_only_commands() {
        for c in [
            "status",
            "ping",
            " status ",
            "overrides",
            "conns tcp:1.2.3.4:80 5.6.7.8:80",
        ] {
            assert!(permits(Access::Read, c), "{c}");
        }
        for c in [
            "reload",
            "standby",
            "takeover",
            "drain tcp:1.2.3.4:80 5.6.7.8:80",
            "enable tcp:1.2.3.4:80 5.6.7.8:80",
            "weight tcp:1.2.3.4:80 5.6.7.8:80 3",
            "overrides clear",
            "plan /etc/passwd",
            "reload-confirm 30",
            "confirm",
            "statusx",
            "",
            "STATUS",
        ] {
            assert!(!permits(Access::Read, c), "{c}");
            assert!(permits(Access::Write, c), "{c}");
        }
    }

    #[tokio::test]
    async fn peer_credentials_are_the_kernels() {
        let (a, _b) = tokio::net::UnixStream::pair().unwrap();
        let p = peer_of(&a).unwrap();
        assert_eq!(p.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(p.gid, nix::unistd::getegid().as_raw());
        let mine: Vec<u32> = nix::unistd::getgroups()
            .unwrap()
            .iter()
            .map(|g| g.as_raw())
            .collect();
        let mut got = p.groups.clone();
        got.sort();
        let mut want = mine;
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn groups_resolve_by_name_or_number() {
        assert_eq!(resolve_group("write_group", "4242").unwrap(), 4242);
        assert_eq!(resolve_group("write_group", "root").unwrap(), 0);
        let e = resolve_group("socket_group", "no-such-group-lvsd")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("socket_group") && e.contains("no-such-group-lvsd"),
            "{e}"
        );
    }
}
