//! simpletcp: send `request` (leading `/` removed, literal `\n` turned into
//! newlines), half-close, then up iff some received line matches `receive`.
//! For UDP virtuals the request is one datagram and each reply datagram's
//! lines are matched.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::{receive_matches, request_body};
use crate::check::spec::{CheckSpec, Protocol, Target};
use crate::check::{CheckError, CheckResult};

/// The payload ldirectord sends.
pub fn payload(spec: &CheckSpec) -> String {
    request_body(spec).replace("\\n", "\n")
}

/// Run a simpletcp check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let addr = target.check_addr(spec);
    let data = payload(spec);
    if spec.protocol == Protocol::Udp {
        let sock = crate::check::connect::udp(addr).await?;
        sock.send(data.as_bytes())
            .await
            .map_err(CheckError::from_io)?;
        let mut buf = vec![0u8; 65536];
        for _ in 0..64 {
            let n = sock.recv(&mut buf).await.map_err(CheckError::from_io)?;
            let text = String::from_utf8_lossy(&buf[..n]);
            for line in text.split_inclusive('\n') {
                if receive_matches(&spec.receive, line)? {
                    return Ok(format!("received {}", super::show(line)));
                }
            }
        }
        return Err(CheckError::Mismatch("no reply matches receive".into()));
    }
    let mut s = super::wrap(crate::check::connect::tcp_untimed(addr, true).await?);
    s.write_all(data.as_bytes())
        .await
        .map_err(CheckError::from_io)?;
    let _ = s.shutdown().await;
    let mut r = BufReader::new(s);
    let mut got = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut r)
            .take(1 << 20)
            .read_until(b'\n', &mut line)
            .await
            .map_err(CheckError::from_io)?;
        if n == 0 {
            break;
        }
        got += n;
        let text = String::from_utf8_lossy(&line);
        if receive_matches(&spec.receive, &text)? {
            return Ok(format!("received {}", super::show(&text)));
        }
    }
    if got == 0 {
        return Err(CheckError::Closed(" without an answer".into()));
    }
    Err(CheckError::Mismatch(format!(
        "no line matches receive {:?}",
        spec.receive
    )))
}
