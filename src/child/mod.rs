//! Run a child process in a process group of its own, with a time limit,
//! and kill the whole group (not just the child) on timeout or when the
//! caller gives up: a check script's `sleep 1000 &` must not outlive it.
//! The one runner of the programs lvsd starts: external checks (`check`),
//! `[[ha.hook]]`s and `track_script`s (`ha`), the daemon's hooks
//! (fallbackcommand, callback, sendmail, `[[hook]]`, quorum commands). A layer of its own, below all
//! of them, that uses no other module of lvsd.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Grace between SIGTERM and SIGKILL to the group on timeout.
pub const GRACE: Duration = Duration::from_millis(500);

/// What became of the child.
#[derive(Debug)]
pub enum Outcome {
    /// It exited (or was killed by someone else) within the limit.
    Exited(ExitStatus),
    /// It ran past the limit; its group got SIGTERM, then SIGKILL.
    TimedOut,
}

/// Kills the group when dropped, unless disarmed: a future dropped at
/// shutdown (or by an outer deadline) still leaves no process behind.
struct GroupGuard(Option<Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

/// When to kill what remains of the group after the child exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftovers {
    /// Kill them (a check leaves nothing running).
    Kill,
    /// Leave them (a hook may start a daemon on purpose).
    Keep,
}

/// Spawn `cmd` in a new process group, write `stdin` (if any) to it, wait at
/// most `limit`. On timeout the group gets SIGTERM, [`GRACE`], then SIGKILL,
/// and the child is reaped.
pub async fn run(
    mut cmd: Command,
    limit: Duration,
    stdin: Option<&[u8]>,
    leftovers: Leftovers,
) -> io::Result<Outcome> {
    cmd.process_group(0).kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pgid = child.id().map(|p| Pid::from_raw(p as i32));
    let mut guard = GroupGuard(pgid);
    let work = async {
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // a child that does not read its input fails the write: its status decides
            let _ = pipe.write_all(data).await;
        }
        child.wait().await
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(status)) => {
            if leftovers == Leftovers::Keep {
                guard.0 = None;
            }
            Ok(Outcome::Exited(status))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => {
            if let Some(pgid) = pgid {
                let _ = killpg(pgid, Signal::SIGTERM);
                if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                    let _ = killpg(pgid, Signal::SIGKILL);
                    let _ = child.wait().await;
                }
            }
            // the guard SIGKILLs whatever ignored SIGTERM in the group
            Ok(Outcome::TimedOut)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Processes (not zombies) whose process group is `pgid`.
    pub(crate) fn group_members(pgid: i32) -> Vec<i32> {
        let mut out = Vec::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return out;
        };
        for e in dir.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // after "(comm)": state ppid pgrp ...
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.first() != Some(&"Z") && f.get(2).and_then(|g| g.parse().ok()) == Some(pgid) {
                out.push(pid);
            }
        }
        out
    }

    /// Whether `pid` runs (a zombie does not count).
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('Z'))
            })
            == Some(false)
    }

    /// Wait (bounded) until none of `pids` runs; returns those still running.
    pub(crate) async fn all_gone(pids: &[i32]) -> Vec<i32> {
        let left = || {
            pids.iter()
                .copied()
                .filter(|&p| alive(p))
                .collect::<Vec<_>>()
        };
        for _ in 0..100 {
            if left().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        left()
    }

    /// Wait (bounded) until the group is empty.
    pub(crate) async fn group_gone(pgid: i32) -> Vec<i32> {
        let mut left = group_members(pgid);
        for _ in 0..100 {
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            left = group_members(pgid);
        }
        left
    }

    fn script(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
        let p = dir.join("s.sh");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidf = dir.path().join("pid");
        let s = script(
            dir.path(),
            &format!(
                "echo $$ > {}\nsleep 1000 &\nsleep 1000 &\ntrap '' TERM\nsleep 1000",
                pidf.display()
            ),
        );
        let r = run(
            Command::new(&s),
            Duration::from_millis(300),
            None,
            Leftovers::Keep,
        )
        .await
        .unwrap();
        assert!(matches!(r, Outcome::TimedOut), "{r:?}");
        let pgid: i32 = std::fs::read_to_string(&pidf)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(group_gone(pgid).await, Vec::<i32>::new());
    }

    #[tokio::test]
    async fn dropped_run_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidf = dir.path().join("pid");
        let s = script(
            dir.path(),
            &format!("echo $$ > {}\nsleep 1000 &\nsleep 1000", pidf.display()),
        );
        let f = run(
            Command::new(&s),
            Duration::from_secs(100),
            None,
            Leftovers::Keep,
        );
        let _ = tokio::time::timeout(Duration::from_millis(300), f).await;
        let pgid: i32 = std::fs::read_to_string(&pidf)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(group_gone(pgid).await, Vec::<i32>::new());
    }
}
