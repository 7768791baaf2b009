//! `checktype=connect`: a TCP connect within `checktimeout`. For UDP
//! virtuals ldirectord pings instead (a UDP "connect" proves nothing), and so
//! does lvsd. Also home of the connect helper the negotiate checks share.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};

use super::spec::{CheckSpec, Protocol, Target};
use super::{CheckError, CheckResult};

/// Run a connect check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    if spec.protocol == Protocol::Udp {
        return super::ping::check(spec, target).await;
    }
    let addr = target.check_addr(spec);
    tcp(addr, spec.checktimeout).await?;
    Ok(format!("connected to {addr}"))
}

/// A UDP socket bound to an ephemeral port of `addr`'s family on any
/// local address and connected to `addr`, so only `addr`'s datagrams reach
/// it (the dns, radius, sip and simpletcp checks over UDP). No timer: the
/// checks run under their overall deadline.
pub async fn udp(addr: SocketAddr) -> Result<UdpSocket, CheckError> {
    let any: std::net::IpAddr = if addr.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let sock = UdpSocket::bind(SocketAddr::new(any, 0))
        .await
        .map_err(CheckError::from_io)?;
    sock.connect(addr).await.map_err(CheckError::from_io)?;
    Ok(sock)
}

/// TCP connect with a timeout, errors classified for the reason text.
pub async fn tcp(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, CheckError> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(CheckError::Timeout(timeout)),
        Ok(Err(e)) => Err(CheckError::from_io(e)),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

/// TCP connect without a timer of its own, for checks that already run
/// under an overall deadline (one timer per check, not two). `nodelay` for
/// conversations of several writes (TLS); a single request write needs none.
pub async fn tcp_untimed(addr: SocketAddr, nodelay: bool) -> Result<TcpStream, CheckError> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(CheckError::from_io)?;
    if nodelay {
        let _ = s.set_nodelay(true);
    }
    Ok(s)
}
