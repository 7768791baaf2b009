//! `checktype=external`: run `checkcommand VIP|FWMARK VPORT RIP RPORT`
//! directly (no shell, as ldirectord's `exec LIST`); exit status 0 = up.
//! At `checktimeout` the child gets SIGTERM (as ldirectord), then SIGKILL
//! if it lingers, and is reaped.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

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
    let mut child = Command::new(&spec.checkcommand)
        .args(arguments(target))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CheckError::Config(format!("cannot run {}: {e}", spec.checkcommand)))?;
    match tokio::time::timeout(spec.checktimeout, child.wait()).await {
        Ok(Ok(status)) => match status.code() {
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
        Ok(Err(e)) => Err(CheckError::Protocol(format!(
            "waiting for {}: {e}",
            spec.checkcommand
        ))),
        Err(_) => {
            if let Some(pid) = child.id() {
                // SIGTERM first, like ldirectord; a short grace, then SIGKILL.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
                if tokio::time::timeout(Duration::from_millis(500), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
            Err(CheckError::Timeout(spec.checktimeout))
        }
    }
}
