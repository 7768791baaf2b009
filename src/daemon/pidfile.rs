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
    /// Write our pid to `path` atomically: a new temporary file with a
    /// random name beside it, created with `O_EXCL|O_NOFOLLOW` (a symlink
    /// planted under a guessable name cannot redirect the write), then
    /// renamed over `path` (rename replaces a symlink at `path` itself,
    /// it never writes through it).
    pub fn create(path: &Path) -> io::Result<PidFile> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lvsd.pid".into());
        let mut last = None;
        // A clash with an existing name is astronomically unlikely with
        // 64 random bits; bounded retries all the same.
        for _ in 0..16 {
            let tmp = path.with_file_name(format!(".{name}.{:016x}", rand::random::<u64>()));
            let opened = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp);
            let mut f = match opened {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let written = writeln!(f, "{}", std::process::id())
                .and_then(|()| f.sync_all())
                .and_then(|()| fs::rename(&tmp, path));
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            return Ok(PidFile {
                path: path.to_path_buf(),
            });
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
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
/// Reads at most 64 bytes of a regular file, opened non-blocking: a FIFO
/// or a device put there cannot hang or flood the verbs.
pub fn read_pid(path: &Path) -> Option<i32> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(64).read_to_string(&mut text).ok()?;
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

    /// Issue 13 defect 12: the temporary name was `PATH.tmpPID` and was
    /// opened following symlinks, so a link planted there made the daemon
    /// (root) overwrite any file. Now nothing is written through links
    /// and no temporary file is left.
    #[test]
    fn pid_file_write_does_not_follow_planted_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious\n").unwrap();
        let p = dir.path().join("x.pid");
        // The old predictable name, and the pid file itself, as links.
        let old_tmp = p.with_extension(format!("tmp{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &old_tmp).unwrap();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let f = PidFile::create(&p).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        assert_eq!(read_pid(&p), Some(std::process::id() as i32));
        drop(f);
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "victim" && !n.starts_with("x.tmp"))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn a_fifo_as_pid_file_reads_as_stopped_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(liveness(&p), Liveness::Stopped);
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
