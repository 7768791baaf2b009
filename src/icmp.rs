//! ICMP echo for the `ping` check and HA's ping nodes: one way to open the
//! socket and one echo, through surge-ping (IPv4 and IPv6).

use std::net::IpAddr;
use std::time::Duration;

use surge_ping::{Client, Config, PingIdentifier, PingSequence, Pinger, SurgeError, ICMP};

/// Which socket to try first. Either falls back to the other when the
/// kernel refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Socket {
    /// Unprivileged ICMP datagram socket (needs `ping_group_range`), then raw.
    Datagram,
    /// Raw socket (needs CAP_NET_RAW), then datagram: fresh network
    /// namespaces have `ping_group_range` off, and HA runs as root.
    Raw,
}

/// An ICMP socket for `addr`'s family. Errors name what could not be opened.
pub fn client(addr: IpAddr, socket: Socket) -> std::io::Result<Client> {
    let kind = if addr.is_ipv6() { ICMP::V6 } else { ICMP::V4 };
    let hint = match socket {
        Socket::Datagram => socket2::Type::DGRAM,
        Socket::Raw => socket2::Type::RAW,
    };
    Client::new(&Config::builder().kind(kind).sock_type_hint(hint).build())
}

/// A pinger of `addr` over `client` with a fresh random identifier, each
/// echo waiting at most `timeout`.
pub async fn pinger(client: &Client, addr: IpAddr, timeout: Duration) -> Pinger {
    let mut p = client.pinger(addr, PingIdentifier(rand::random())).await;
    p.timeout(timeout);
    p
}

/// How one echo ended.
#[derive(Debug)]
pub enum Echo {
    /// A reply came after this round-trip time.
    Reply(Duration),
    /// No reply within the pinger's timeout.
    Timeout,
    /// The send or the socket failed.
    Failed(SurgeError),
}

/// One echo request with a 56-byte payload (ping's default) and its reply.
pub async fn echo(pinger: &mut Pinger, seq: u16) -> Echo {
    match pinger.ping(PingSequence(seq), &[0u8; 56]).await {
        Ok((_, rtt)) => Echo::Reply(rtt),
        Err(SurgeError::Timeout { .. }) => Echo::Timeout,
        Err(e) => Echo::Failed(e),
    }
}
