//! `checktype=external`: run `checkcommand VIP|FWMARK VPORT RIP RPORT`
//! directly (no shell, as ldirectord's `exec LIST`); exit status 0 = up.
//! At `checktimeout` its process group gets SIGTERM (as ldirectord), then
//! SIGKILL if it lingers, and the child is reaped; what the script left
//! running in its group is killed when it exits.

use std::process::Stdio;

use tokio::process::Command;

use super::spec::{CheckSpec, Target};
use super::{CheckError, CheckResult};
use crate::child::{self, Leftovers, Outcome};

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
    match run(spec, target).await {
        Ok(Outcome::Exited(status)) if status.code() == Some(0) => {
            Ok(format!("{} exited 0", spec.checkcommand))
        }
        other => outcome_error(spec, other),
    }
}

/// Run an external check with keepalived's `misc_dynamic` convention:
/// exit 0 up at the configured weight, 1 down, 2..=255 up with weight
/// `code - 2`. A signal or a timeout is down.
pub async fn check_dynamic(spec: &CheckSpec, target: &Target) -> super::Outcome {
    let up = |what: String, weight| super::Outcome {
        result: Ok(what),
        weight,
    };
    match run(spec, target).await {
        Ok(Outcome::Exited(status)) => match status.code() {
            Some(0) => up(format!("{} exited 0", spec.checkcommand), None),
            Some(n @ 2..=255) => {
                let w = u32::try_from(n - 2).unwrap_or(0);
                up(
                    format!("{} exited {n} (weight {w})", spec.checkcommand),
                    Some(w),
                )
            }
            _ => failed(spec, status).into(),
        },
        other => outcome_error(spec, other).into(),
    }
}

/// Spawn the command with the target's four arguments and wait for it.
async fn run(spec: &CheckSpec, target: &Target) -> std::io::Result<Outcome> {
    let mut cmd = Command::new(&spec.checkcommand);
    // No output is captured (stdout/stderr go nowhere): nothing the script
    // prints can grow the daemon.
    cmd.args(arguments(target))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own process group, killed whole at the timeout and after it
    // exits: grandchildren (`sleep 1000 &`) must not pile up.
    child::run(cmd, spec.checktimeout, None, Leftovers::Kill).await
}

/// A non-zero exit (or a signal) as a check failure.
fn failed(spec: &CheckSpec, status: std::process::ExitStatus) -> CheckResult {
    match status.code() {
        Some(n) => Err(CheckError::Mismatch(format!(
            "{} exited with status {n}",
            spec.checkcommand
        ))),
        None => Err(CheckError::Mismatch(format!(
            "{} killed by {status}",
            spec.checkcommand
        ))),
    }
}

/// A timeout or a command that could not run.
fn outcome_error(spec: &CheckSpec, r: std::io::Result<Outcome>) -> CheckResult {
    match r {
        Ok(Outcome::Exited(status)) => failed(spec, status),
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
    use crate::child::tests::all_gone;
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

    /// keepalived misc_dynamic: 0 up at the configured weight, 1 down,
    /// 2..=255 up with weight code-2; a signal or a timeout is down.
    /// Without dynamic_weight any non-zero exit is down (ldirectord).
    #[tokio::test]
    async fn dynamic_weight_follows_misc_dynamic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.sh");
        std::fs::write(
            &p,
            "#!/bin/sh
[ \"$5\" = kill ] && kill -9 $$
[ \"$5\" = hang ] && sleep 5
exit $5
",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        // The code rides in as a fifth word of the command: a wrapper
        // script per code keeps to ldirectord's four arguments.
        let run = |code: &'static str, dynamic: bool| {
            let dir = dir.path().to_path_buf();
            let p = p.clone();
            async move {
                let w = dir.join(format!("c{code}.sh"));
                std::fs::write(
                    &w,
                    format!(
                        "#!/bin/sh
exec {} \"$@\" {code}
",
                        p.display()
                    ),
                )
                .unwrap();
                std::fs::set_permissions(&w, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .unwrap();
                let mut spec = CheckSpec {
                    checktype: crate::model::CheckType::External,
                    checkcommand: w.display().to_string(),
                    checktimeout: Duration::from_millis(500),
                    ..crate::check::spec::base()
                };
                spec.policy.dynamic_weight = dynamic;
                let t = Target {
                    real: "127.0.0.1".parse().unwrap(),
                    real_port: 80,
                    virtual_host: "10.0.0.1".into(),
                    virtual_port: 80,
                };
                crate::check::run_once_weighted(&spec, &t).await
            }
        };
        let o = run("0", true).await;
        assert!(o.result.is_ok() && o.weight.is_none(), "{o:?}");
        let o = run("1", true).await;
        assert!(o
            .result
            .unwrap_err()
            .to_string()
            .ends_with("exited with status 1"));
        let o = run("2", true).await;
        assert_eq!((o.result.is_ok(), o.weight), (true, Some(0)));
        let o = run("7", true).await;
        assert!(
            o.result.as_ref().unwrap().ends_with("exited 7 (weight 5)"),
            "{o:?}"
        );
        assert_eq!(o.weight, Some(5));
        let o = run("255", true).await;
        assert_eq!(o.weight, Some(253));
        let o = run("kill", true).await;
        assert!(o.result.unwrap_err().to_string().contains("killed by"));
        let o = run("hang", true).await;
        assert!(matches!(o.result, Err(CheckError::Timeout(_))), "{o:?}");
        // ldirectord's rule without the key.
        let o = run("7", false).await;
        assert!(o
            .result
            .unwrap_err()
            .to_string()
            .ends_with("exited with status 7"));
        assert_eq!(o.weight, None);
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
