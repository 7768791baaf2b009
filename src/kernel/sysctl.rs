//! IPVS sysctls that several active directors need.
//!
//! `net.ipv4.vs.sloppy_tcp` (and `sloppy_sctp`) let IPVS create a connection
//! entry from a packet that is not a SYN (INIT). Behind ECMP a flow moves to
//! another director mid-stream when a director leaves; without sloppy mode
//! that director resets it, with it (and the same mh table) the flow keeps
//! its real. The knobs exist only while the `ip_vs` module is loaded.

use std::io;
use std::path::{Path, PathBuf};

/// The sysctls [`ensure_sloppy`] turns on, relative to the sysctl root.
pub const SLOPPY: [&str; 2] = ["net/ipv4/vs/sloppy_tcp", "net/ipv4/vs/sloppy_sctp"];

/// Why the sloppy sysctls could not be turned on.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// `net/ipv4/vs` is missing: IPVS is not loaded (or not in this netns).
    #[error("{0} does not exist: IPVS is not loaded (modprobe ip_vs)")]
    IpvsNotLoaded(PathBuf),
    /// Reading or writing one knob failed (read-only /proc/sys, no root).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Set `sloppy_tcp` and `sloppy_sctp` to 1 under `root` (`/proc/sys` in
/// production, a temporary directory in tests). Writes only knobs that are
/// not 1 already and returns the ones it changed.
pub fn ensure_sloppy(root: &Path) -> Result<Vec<&'static str>, SysctlError> {
    let dir = root.join("net/ipv4/vs");
    if !dir.is_dir() {
        return Err(SysctlError::IpvsNotLoaded(dir));
    }
    let mut changed = Vec::new();
    for knob in SLOPPY {
        let path = root.join(knob);
        let io = |source| SysctlError::Io {
            path: path.clone(),
            source,
        };
        // A sysctl file is a few bytes; read at most 64 whatever it holds.
        let mut buf = Vec::new();
        {
            use std::io::Read;
            std::fs::File::open(&path)
                .map_err(io)?
                .take(64)
                .read_to_end(&mut buf)
                .map_err(io)?;
        }
        if String::from_utf8_lossy(&buf).trim() == "1" {
            continue;
        }
        std::fs::write(&path, b"1\n").map_err(io)?;
        changed.push(knob);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ipvs_is_a_typed_error() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(
            ensure_sloppy(root.path()),
            Err(SysctlError::IpvsNotLoaded(p)) if p.ends_with("net/ipv4/vs")
        ));
    }

    #[test]
    fn turns_on_only_what_is_off() {
        let root = tempfile::tempdir().unwrap();
        let vs = root.path().join("net/ipv4/vs");
        std::fs::create_dir_all(&vs).unwrap();
        std::fs::write(vs.join("sloppy_tcp"), "0\n").unwrap();
        std::fs::write(vs.join("sloppy_sctp"), "1\n").unwrap();
        assert_eq!(
            ensure_sloppy(root.path()).unwrap(),
            vec!["net/ipv4/vs/sloppy_tcp"]
        );
        assert_eq!(
            std::fs::read_to_string(vs.join("sloppy_tcp")).unwrap(),
            "1\n"
        );
        assert!(ensure_sloppy(root.path()).unwrap().is_empty());
    }

    #[test]
    fn a_missing_knob_names_its_path() {
        let root = tempfile::tempdir().unwrap();
        let vs = root.path().join("net/ipv4/vs");
        std::fs::create_dir_all(&vs).unwrap();
        std::fs::write(vs.join("sloppy_tcp"), "1\n").unwrap();
        let e = ensure_sloppy(root.path()).unwrap_err();
        assert!(e.to_string().contains("sloppy_sctp"), "{e}");
    }
}
