//! smtp and submission (Net::SMTP constructor): 2xx banner, then
//! `EHLO localhost.localdomain` (HELO if EHLO gets a 5xx) answered 2xx, then QUIT.

use super::{show, Lines};
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// Run an SMTP check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let mut c = Lines::connect(spec, target, false).await?;
    let (code, banner) = c.reply().await?;
    if !(200..300).contains(&code) {
        return Err(CheckError::Mismatch(format!("banner {}", show(&banner))));
    }
    c.send("EHLO localhost.localdomain\r\n").await?;
    let (mut code, mut line) = c.reply().await?;
    // Net::SMTP falls back to HELO only when EHLO gets a permanent error.
    if (500..600).contains(&code) {
        c.send("HELO localhost.localdomain\r\n").await?;
        (code, line) = c.reply().await?;
    }
    if !(200..300).contains(&code) {
        return Err(CheckError::Mismatch(format!(
            "HELO refused: {}",
            show(&line)
        )));
    }
    let _ = c.send("QUIT\r\n").await;
    let _ = c.reply().await;
    Ok(banner)
}
