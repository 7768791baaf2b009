//! `checktype=external`: run `checkcommand VIP|FWMARK VPORT RIP RPORT`
//! directly (no shell, as ldirectord's `exec LIST`); exit status 0 = up.
//! At `checktimeout` its process group gets SIGTERM (as ldirectord), then
//! SIGKILL if it lingers, and the child is reaped; what the script left
//! running in its group is killed when it exits.

use std::process::Stdio;

use tokio::process::Command;

use super::process::{self, Leftovers, Outcome};
use super::spec::{CheckSpec, Target};
use super::{CheckError, CheckResult};

/// The four arguments ldirectord passes.
pub fn arguments(target: &Target) -> [String; 4] {
    [
        target.virtual_host.clone(),
        target.virtual_port.to_string(),
        target.real.to_string(),
        target.real_port.to_string(),
    ]
}

/// Run an external check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let mut cmd = Command::new(&spec.checkcommand);
    // No output is captured (stdout/stderr go nowhere): nothing the script
    // prints can grow the daemon.
    cmd.args(arguments(target))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own process group, killed whole at the timeout and after it
    // exits: grandchildren (`sleep 1000 &`) must not pile up.
    match process::run(cmd, spec.checktimeout, None, Leftovers::Kill).await {
        Ok(Outcome::Exited(status)) => match status.code() {
            Some(0) => Ok(format!("{} exited 0", spec.checkcommand)),
            Some(n) => Err(CheckError::Mismatch(format!(
                "{} exited with status {n}",
                spec.checkcommand
            ))),
            None => Err(CheckError::Mismatch(format!(
                "{} killed by {status}",
                spec.checkcommand
            ))),
        },
        Ok(Outcome::TimedOut) => Err(CheckError::Timeout(spec.checktimeout)),
        Err(e) => Err(CheckError::Config(format!(
            "cannot run {}: {e}",
            spec.checkcommand
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::process::tests::all_gone;
    use std::time::Duration;

    /// Run `body` (`{pids}` names a file for the pids of what it starts)
    /// as a check; returns the result and every pid the script wrote.
    async fn run_script(body: &str, timeout: Duration) -> (CheckResult, Vec<i32>) {
        let dir = tempfile::tempdir().unwrap();
        let pidf = dir.path().join("pid");
        let body = body.replace("{pids}", &pidf.display().to_string());
        let p = dir.path().join("check.sh");
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho $$ > {}\n{body}\n", pidf.display()),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let spec = CheckSpec {
            checktype: crate::model::CheckType::External,
            checkcommand: p.display().to_string(),
            checktimeout: timeout,
            ..crate::check::spec::base()
        };
        let t = Target {
            real: "127.0.0.1".parse().unwrap(),
            real_port: 80,
            virtual_host: "10.0.0.1".into(),
            virtual_port: 80,
        };
        let r = check(&spec, &t).await;
        let pids = std::fs::read_to_string(&pidf)
            .unwrap()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        (r, pids)
    }

    /// Defect 9: a check script that starts `sleep 1000` grandchildren and
    /// runs past its timeout leaves no process of its group behind.
    #[tokio::test]
    async fn timed_out_check_leaves_no_grandchild() {
        let (r, pids) = run_script(
            "sleep 1000 &\necho $! >> {pids}\nsleep 1000 &\necho $! >> {pids}\nsleep 1000",
            Duration::from_millis(300),
        )
        .await;
        assert!(matches!(r, Err(CheckError::Timeout(_))), "{r:?}");
        assert_eq!(pids.len(), 3);
        assert_eq!(all_gone(&pids).await, Vec::<i32>::new());
    }

    /// A script that exits 0 at once but leaves a `sleep 1000 &` behind:
    /// up, and the leftover is killed.
    #[tokio::test]
    async fn finished_check_leaves_no_grandchild() {
        let (r, pids) = run_script(
            "sleep 1000 &\necho $! >> {pids}\nexit 0",
            Duration::from_secs(5),
        )
        .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(pids.len(), 2);
        assert_eq!(all_gone(&pids).await, Vec::<i32>::new());
    }
}
