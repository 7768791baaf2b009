//! The pid file of a daemonised lvsd, and the liveness test the verbs use.
//!
//! ldirectord trusts a pid file when `/proc/<pid>/cmdline` contains its
//! name; lvsd does the same with `lvsd`, so a recycled pid held by another
//! program reads as a stale file, not as a running daemon.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A pid file this process wrote; removed again on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Write our pid to `path` (atomically: temp file, then rename).
    pub fn create(path: &Path) -> io::Result<PidFile> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        {
            let mut f = fs::File::create(&tmp)?;
            writeln!(f, "{}", std::process::id())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only remove the file if it still names us: a second instance may
        // have replaced it.
        if read_pid(&self.path) == Some(std::process::id() as i32) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The pid recorded in `path`, if the file exists and holds a number.
pub fn read_pid(path: &Path) -> Option<i32> {
    let text = fs::read_to_string(path).ok()?;
    text.trim().parse().ok().filter(|p| *p > 0)
}

/// What the pid file says about the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Running with this pid.
    Running(i32),
    /// The file names a process that is gone (or is not lvsd).
    Stale(i32),
    /// No pid file.
    Stopped,
}

/// Look at `path` and decide whether the daemon runs.
pub fn liveness(path: &Path) -> Liveness {
    match read_pid(path) {
        None => Liveness::Stopped,
        Some(pid) if is_lvsd(pid) => Liveness::Running(pid),
        Some(pid) => Liveness::Stale(pid),
    }
}

/// Whether `pid` is a live process whose command line mentions lvsd.
pub fn is_lvsd(pid: i32) -> bool {
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) => cmd.windows(4).any(|w| w == b"lvsd"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_file_reads_as_running_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        assert_eq!(liveness(&p), Liveness::Stopped);
        let f = PidFile::create(&p).unwrap();
        let me = std::process::id() as i32;
        assert_eq!(read_pid(&p), Some(me));
        // The test binary is named lvsd-<hash>, so it passes the cmdline test.
        assert_eq!(liveness(&p), Liveness::Running(me));
        drop(f);
        assert!(!p.exists());
    }

    #[test]
    fn dead_pid_is_stale_and_garbage_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        // pid_max is at most 2^22, so this pid cannot exist.
        fs::write(&p, "99999999\n").unwrap();
        assert_eq!(liveness(&p), Liveness::Stale(99999999));
        fs::write(&p, "not a pid").unwrap();
        assert_eq!(liveness(&p), Liveness::Stopped);
    }
}
