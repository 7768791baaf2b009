//! pop and pops (Mail::POP3Client): `+OK` greeting; with a login, USER and
//! PASS must both be answered `+OK`; then QUIT.
//!
//! Deliberate difference: Mail::POP3Client's constructor never fails, so
//! ldirectord reports a POP real without `login` as up even when nothing
//! listens. lvsd requires the greeting.

use super::{show, Lines};
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// Run a POP3 check.
pub async fn check(spec: &CheckSpec, target: &Target, tls: bool) -> CheckResult {
    let mut c = Lines::connect(spec, target, tls).await?;
    let greeting = c.line().await?;
    if !greeting.starts_with("+OK") {
        return Err(CheckError::Mismatch(format!(
            "greeting {}",
            show(&greeting)
        )));
    }
    if !spec.login.is_empty() {
        c.send(&format!("USER {}\r\n", spec.login)).await?;
        let l = c.line().await?;
        if !l.starts_with("+OK") {
            return Err(CheckError::Mismatch(format!("USER refused: {}", show(&l))));
        }
        c.send(&format!("PASS {}\r\n", spec.passwd)).await?;
        let l = c.line().await?;
        if !l.starts_with("+OK") {
            return Err(CheckError::Mismatch(format!("login failed: {}", show(&l))));
        }
    }
    let _ = c.send("QUIT\r\n").await;
    Ok(greeting)
}
