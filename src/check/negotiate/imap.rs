//! imap and imaps (Net::IMAP::Simple): `* OK` or `* PREAUTH` greeting; with
//! a login, `LOGIN user pass` must be answered OK; then LOGOUT.

use super::{show, Lines};
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// IMAP quoted string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// Net::IMAP::Simple's test: `^\*\s+(?:OK|PREAUTH)`, case-insensitive.
pub fn greeting_ok(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('*') else {
        return false;
    };
    let trimmed = rest.trim_start();
    if trimmed.len() == rest.len() {
        return false;
    }
    let up = trimmed.to_ascii_uppercase();
    up.starts_with("OK") || up.starts_with("PREAUTH")
}

/// Run an IMAP check.
pub async fn check(spec: &CheckSpec, target: &Target, tls: bool) -> CheckResult {
    let mut c = Lines::connect(spec, target, tls).await?;
    let greeting = c.line().await?;
    if !greeting_ok(&greeting) {
        return Err(CheckError::Mismatch(format!(
            "greeting {}",
            show(&greeting)
        )));
    }
    if !spec.login.is_empty() {
        c.send(&format!(
            "a1 LOGIN {} {}\r\n",
            quote(&spec.login),
            quote(&spec.passwd)
        ))
        .await?;
        loop {
            let l = c.line().await?;
            if l.starts_with("a1 ") {
                if l.starts_with("a1 OK") {
                    break;
                }
                return Err(CheckError::Mismatch(format!("login failed: {}", show(&l))));
            }
        }
    }
    let _ = c.send("a2 LOGOUT\r\n").await;
    Ok(greeting)
}

#[cfg(test)]
mod tests {
    #[test]
    fn greetings() {
        assert!(super::greeting_ok("* OK ready"));
        assert!(super::greeting_ok("*  ok ready"));
        assert!(super::greeting_ok("* PREAUTH x"));
        assert!(!super::greeting_ok("*OK"));
        assert!(!super::greeting_ok("* BYE go away"));
        assert!(!super::greeting_ok("+OK pop"));
    }
}
