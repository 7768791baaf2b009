//! `checktype=connect`: a TCP connect within `checktimeout`. For UDP
//! virtuals ldirectord pings instead (a UDP "connect" proves nothing), and so
//! does lvsd. Also home of the connect helper the negotiate checks share.

use std::net::SocketAddr;

use super::spec::{CheckSpec, Protocol, Target};
use super::Started;
use super::{CheckError, CheckResult};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

/// Run a connect check started at `started` (its timeout counts from there).
/// Nothing is written, so no TCP_NODELAY (a system call less per check).
pub async fn check(spec: &CheckSpec, target: &Target, started: Started) -> CheckResult {
    if spec.protocol == Protocol::Udp {
        return super::ping::check(spec, target).await;
    }
    let addr = target.check_addr(spec);
    let timeout = spec.checktimeout;
    match started.within(timeout, tcp_untimed(addr, false)).await {
        None => Err(CheckError::Timeout(timeout)),
        // Closed with a FIN, not a reset (see `reset_on_close`): the real's
        // application may not have accepted yet, and would then read a reset
        // where ldirectord's and keepalived's checks give it an end of file.
        Some(r) => r.map(|_| {
            let mut text = String::with_capacity(40);
            text.push_str("connected to ");
            crate::model::addr_text::push_socket_addr(&mut text, addr);
            text
        }),
    }
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

/// Close `s` with a reset (SO_LINGER 0) instead of a FIN, once the check
/// has read the real's whole answer and its application is done with the
/// connection (an http check): fewer packets than an orderly close, and no
/// TIME_WAIT socket left behind on the real (it closed first, `Connection:
/// close`) or on the director. HAProxy closes its health checks the same
/// way. Measured in docs/benchmarks.md ("checks"). Best effort: an error
/// only means an orderly close.
pub fn reset_on_close(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(std::time::Duration::ZERO));
}

/// TCP connect without a timer of its own, for checks that already run
/// under an overall deadline (one timer per check, not two). `nodelay` for
/// conversations of several writes (TLS); a single request write needs none.
pub async fn tcp_untimed(addr: SocketAddr, nodelay: bool) -> Result<TcpStream, CheckError> {
    // One address, known: `TcpSocket` skips `TcpStream::connect`'s
    // address-list machinery (same socket flags and system calls).
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(CheckError::from_io)?;
    let s = sock.connect(addr).await.map_err(CheckError::from_io)?;
    if nodelay {
        let _ = s.set_nodelay(true);
    }
    Ok(s)
}
