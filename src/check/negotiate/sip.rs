//! sip: the OPTIONS request ldirectord sends (same headers, Via always
//! `SIP/2.0/UDP local:port`), over TCP or UDP per the virtual's protocol;
//! up iff the first response line starts with `SIP/2.0 200 OK`.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::show;
use crate::check::spec::{CheckSpec, Protocol, Target};
use crate::check::{CheckError, CheckResult};

/// The OPTIONS request for `login`, sent from `local`.
pub fn request(login: &str, local: SocketAddr) -> String {
    let call_id: String = (0..8)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let host = match local {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => a.ip().to_string(),
    };
    format!(
        "OPTIONS sip:{login} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bKhjhs8ass877\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:{login}>\r\n\
         From: <sip:{login}>;tag=1928301774\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 63104 OPTIONS\r\n\
         Contact: <sip:{login}>\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n",
        port = local.port()
    )
}

fn judge(first: &str) -> CheckResult {
    if first.starts_with("SIP/2.0 200 OK") {
        Ok(first.to_string())
    } else {
        Err(CheckError::Mismatch(format!("status {}", show(first))))
    }
}

/// Run a SIP check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let addr = target.check_addr(spec);
    if spec.protocol == Protocol::Udp {
        let sock = crate::check::connect::udp(addr).await?;
        let local = sock.local_addr().map_err(CheckError::from_io)?;
        sock.send(request(&spec.login, local).as_bytes())
            .await
            .map_err(CheckError::from_io)?;
        let mut buf = vec![0u8; 65536];
        let n = sock.recv(&mut buf).await.map_err(CheckError::from_io)?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
        return judge(first);
    }
    let mut s = super::wrap(crate::check::connect::tcp_untimed(addr, true).await?);
    let local = s.get_ref().local_addr().map_err(CheckError::from_io)?;
    s.write_all(request(&spec.login, local).as_bytes())
        .await
        .map_err(CheckError::from_io)?;
    let mut r = BufReader::new(s);
    // Only the status line matters: at most 64 KiB of it.
    let mut line = Vec::new();
    let n = (&mut r)
        .take(64 * 1024)
        .read_until(b'\n', &mut line)
        .await
        .map_err(CheckError::from_io)?;
    if n == 0 {
        return Err(CheckError::Closed(" before a SIP response".into()));
    }
    let line = String::from_utf8_lossy(&line);
    judge(line.trim_end_matches(['\r', '\n']))
}
