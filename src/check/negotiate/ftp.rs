//! ftp (Net::FTP): login, `CWD /`, `TYPE I`, `PASV`, `RETR request`, QUIT;
//! up iff the downloaded file matches `receive`. The data connection goes to
//! the real's address with the port from the PASV reply.
//!
//! Difference: with an empty `receive` ldirectord's Perl empty pattern
//! reuses the last successful regex (undefined behaviour); lvsd then only
//! requires a successful download.

use std::net::SocketAddr;

use tokio::io::AsyncReadExt;

use super::{receive_matches, show, Lines};
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// Port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
pub fn pasv_port(line: &str) -> Option<u16> {
    let open = line.find('(')?;
    let close = line[open..].find(')')? + open;
    let nums: Vec<u16> = line[open + 1..close]
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    if nums.len() != 6 || nums.iter().any(|&n| n > 255) {
        return None;
    }
    Some(nums[4] * 256 + nums[5])
}

/// Run an FTP check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let mut c = Lines::connect(spec, target, false).await?;
    let (code, banner) = c.reply().await?;
    if !(200..300).contains(&code) {
        return Err(CheckError::Mismatch(format!("banner {}", show(&banner))));
    }
    c.send(&format!("USER {}\r\n", spec.login)).await?;
    let (mut code, mut line) = c.reply().await?;
    if code == 331 {
        c.send(&format!("PASS {}\r\n", spec.passwd)).await?;
        (code, line) = c.reply().await?;
    }
    if !(200..300).contains(&code) {
        return Err(CheckError::Mismatch(format!(
            "login failed: {}",
            show(&line)
        )));
    }
    c.send("CWD /\r\n").await?;
    c.reply().await?;
    c.send("TYPE I\r\n").await?;
    c.reply().await?;
    c.send("PASV\r\n").await?;
    let (code, line) = c.reply().await?;
    let port = match (code, pasv_port(&line)) {
        (227, Some(p)) => p,
        _ => {
            return Err(CheckError::Mismatch(format!(
                "PASV refused: {}",
                show(&line)
            )))
        }
    };
    let data_addr = SocketAddr::new(target.real, port);
    let mut data = super::wrap(crate::check::connect::tcp_untimed(data_addr, true).await?);
    let file = spec.request.as_str();
    c.send(&format!("RETR {file}\r\n")).await?;
    let (code, line) = c.reply().await?;
    if !(100..200).contains(&code) {
        return Err(CheckError::Mismatch(format!(
            "RETR {file} refused: {}",
            show(&line)
        )));
    }
    let mut content = Vec::new();
    data.read_to_end(&mut content)
        .await
        .map_err(CheckError::from_io)?;
    let (code, line) = c.reply().await?;
    let _ = c.send("QUIT\r\n").await;
    if !(200..300).contains(&code) {
        return Err(CheckError::Mismatch(format!(
            "transfer failed: {}",
            show(&line)
        )));
    }
    let text = String::from_utf8_lossy(&content);
    if receive_matches(&spec.receive, &text)? {
        Ok(format!("retrieved {file} ({} bytes)", content.len()))
    } else {
        Err(CheckError::Mismatch(format!(
            "{file} does not match receive {:?}",
            spec.receive
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pasv() {
        assert_eq!(
            super::pasv_port("227 Entering Passive Mode (127,0,0,1,195,80)."),
            Some(195 * 256 + 80)
        );
        assert_eq!(super::pasv_port("227 nonsense"), None);
        assert_eq!(super::pasv_port("227 (1,2,3,4,999,1)"), None);
    }
}
