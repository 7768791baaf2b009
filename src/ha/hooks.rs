//! Transition hooks: user commands run after a role change, like
//! haresources scripts or keepalived's notify. Each runs without a shell
//! (argv as configured), with LVSD_ROLE / LVSD_PREV_ROLE / LVSD_NODE in its
//! environment, and is killed after its timeout. Failures are logged, never
//! fatal: the VIPs have already moved.
//!
//! Each runs in a process group of its own (`child::run`, the runner of
//! every program lvsd starts): on timeout the group gets SIGTERM, then
//! SIGKILL after a short grace, and when the run is dropped (the HA runner
//! stops) it is killed, so a hook's `sleep 1000 &` does not outlive it.
//! What a hook leaves after a normal exit is kept (it may start a service
//! on purpose).

use std::process::Stdio;

use crate::child::{self, Leftovers};
use crate::model::{Hook, HookWhen, Role};

/// The word for a role in hook arguments and environment.
pub fn role_word(r: Role) -> &'static str {
    match r {
        Role::Init => "init",
        Role::Standby => "standby",
        Role::Active => "active",
    }
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this status code (None: killed by a signal).
    Exited(Option<i32>),
    /// Killed after its timeout.
    TimedOut,
    /// Could not be started.
    SpawnFailed(String),
}

/// The argv a hook runs with for a transition, or None if it does not apply.
pub fn argv_for(hook: &Hook, new: Role, old: Role) -> Option<Vec<String>> {
    let applies = match hook.when {
        HookWhen::Active => new == Role::Active,
        HookWhen::Standby => new == Role::Standby,
        HookWhen::Any => true,
    };
    if !applies {
        return None;
    }
    let mut argv = hook.argv.clone();
    if hook.when == HookWhen::Any {
        argv.push(role_word(new).into());
        argv.push(role_word(old).into());
    }
    Some(argv)
}

/// Run one hook to completion or timeout.
pub async fn run_one(hook: &Hook, argv: &[String], node: &str, new: Role, old: Role) -> Outcome {
    let Some((prog, args)) = argv.split_first() else {
        return Outcome::SpawnFailed("empty command".into());
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .env("LVSD_ROLE", role_word(new))
        .env("LVSD_PREV_ROLE", role_word(old))
        .env("LVSD_NODE", node)
        .stdin(Stdio::null());
    match child::run(cmd, hook.timeout, None, Leftovers::Keep).await {
        Ok(child::Outcome::Exited(st)) => Outcome::Exited(st.code()),
        Ok(child::Outcome::TimedOut) => Outcome::TimedOut,
        Err(e) => Outcome::SpawnFailed(format!("{prog}: {e}")),
    }
}

/// Run every applicable hook in order, logging each outcome.
pub async fn run_all(hooks: &[Hook], node: &str, new: Role, old: Role) {
    for hook in hooks {
        let Some(argv) = argv_for(hook, new, old) else {
            continue;
        };
        let out = run_one(hook, &argv, node, new, old).await;
        match &out {
            Outcome::Exited(Some(0)) => tracing::info!(?argv, "hook done"),
            _ => tracing::warn!(?argv, outcome = ?out, "hook failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn hook(when: HookWhen, argv: &[&str], ms: u64) -> Hook {
        Hook {
            when,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_millis(ms),
        }
    }

    /// The pid written to `f` names no running process (bounded wait).
    async fn assert_gone(f: &std::path::Path) {
        let pid: i32 = std::fs::read_to_string(f)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("no pid in {}: {e}", f.display()));
        let left = crate::child::tests::all_gone(&[pid]).await;
        assert!(left.is_empty(), "pid {pid} outlived its hook");
    }

    #[test]
    fn argv_selection() {
        let h = hook(HookWhen::Any, &["/bin/n", "x"], 10);
        assert_eq!(
            argv_for(&h, Role::Active, Role::Standby),
            Some(vec![
                "/bin/n".into(),
                "x".into(),
                "active".into(),
                "standby".into()
            ])
        );
        let h = hook(HookWhen::Active, &["/bin/a"], 10);
        assert_eq!(argv_for(&h, Role::Standby, Role::Active), None);
        assert_eq!(
            argv_for(&h, Role::Active, Role::Init),
            Some(vec!["/bin/a".into()])
        );
    }

    #[tokio::test]
    async fn runs_without_shell_with_env_and_timeout() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("out");
        let o = out.to_string_lossy().to_string();
        // A shell metacharacter in an argument stays literal: no shell.
        let h = hook(
            HookWhen::Any,
            &[
                "/bin/sh",
                "-c",
                "printf '%s|%s|%s|%s' \"$LVSD_ROLE\" \"$LVSD_NODE\" \"$0\" \"$1\" > \"$2\"",
                "a;b",
                "c",
                &o,
            ],
            2000,
        );
        let argv = argv_for(&h, Role::Active, Role::Standby).unwrap_or_default();
        // argv: sh -c script a;b c OUT active standby -> $0=a;b $1=c $2=OUT
        assert_eq!(
            run_one(&h, &argv, "n1", Role::Active, Role::Standby).await,
            Outcome::Exited(Some(0))
        );
        let got = std::fs::read_to_string(&out).unwrap_or_default();
        assert_eq!(got, "active|n1|a;b|c");
        let slow = hook(HookWhen::Active, &["/bin/sleep", "5"], 100);
        let t = Instant::now();
        let r = run_one(&slow, &slow.argv, "n1", Role::Active, Role::Standby).await;
        assert_eq!(r, Outcome::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(2));
        // A timed-out hook's background child dies with it.
        let pidf = dir.path().join("pid");
        let script = format!("sleep 1000 & echo $! > {}; wait", pidf.display());
        let bg = hook(HookWhen::Active, &["/bin/sh", "-c", &script], 300);
        let r = run_one(&bg, &bg.argv, "n1", Role::Active, Role::Standby).await;
        assert_eq!(r, Outcome::TimedOut);
        assert_gone(&pidf).await;
        // So does a dropped run's (the HA runner stopped).
        let long = hook(HookWhen::Active, &["/bin/sh", "-c", &script], 60_000);
        let _ = std::fs::remove_file(&pidf);
        let run = run_one(&long, &long.argv, "n1", Role::Active, Role::Standby);
        let cut = tokio::time::timeout(Duration::from_millis(500), run).await;
        assert!(cut.is_err(), "the hook ran to its end");
        assert_gone(&pidf).await;
        let bad = hook(HookWhen::Active, &["/nonexistent/prog"], 100);
        assert!(matches!(
            run_one(&bad, &bad.argv, "n", Role::Active, Role::Init).await,
            Outcome::SpawnFailed(_)
        ));
    }
}
