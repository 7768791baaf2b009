//! nntp: connect, read up to 64 bytes of banner; up iff it starts with `2`.

use tokio::io::AsyncReadExt;

use super::show;
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// Run an NNTP check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let addr = target.check_addr(spec);
    let mut s = crate::check::connect::tcp_untimed(addr, true).await?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.map_err(CheckError::from_io)?;
    if n == 0 {
        return Err(CheckError::Closed(" before the banner".into()));
    }
    let banner = String::from_utf8_lossy(&buf[..n]).into_owned();
    if banner.starts_with('2') {
        Ok(banner.trim_end().to_string())
    } else {
        Err(CheckError::Mismatch(format!("banner {}", show(&banner))))
    }
}
