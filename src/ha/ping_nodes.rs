//! Ping nodes (heartbeat's `ping` + ipfail, pacemaker's pingd): probe each
//! configured address with ICMP echo every interval and publish how many
//! answered within `deadping`. The node that reaches more serves.
//!
//! Uses raw ICMP sockets (CAP_NET_RAW), because unprivileged ICMP sockets
//! depend on `ping_group_range`, which is off in fresh network namespaces.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use crate::model::PingConfig;

const ICMP_ECHO: u8 = 8;
const ICMP_ECHOREPLY: u8 = 0;
const ICMPV6_ECHO: u8 = 128;
const ICMPV6_ECHOREPLY: u8 = 129;

/// RFC 1071 Internet checksum.
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| {
            (u32::from(c.first().copied().unwrap_or(0)) << 8)
                | u32::from(c.get(1).copied().unwrap_or(0))
        })
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request; ICMPv6 leaves the checksum to the kernel (RFC 3542 §3.1).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v6 { ICMPV6_ECHO } else { ICMP_ECHO }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"lvsd-ping");
    if !v6 {
        let c = checksum(&p);
        if let Some(s) = p.get_mut(2..4) {
            s.copy_from_slice(&c.to_be_bytes());
        }
    }
    p
}

/// The identifier of an echo reply in `buf` (IPv4 raw reads include the IP
/// header; IPv6 ones do not), or None if it is something else.
pub fn reply_id(v6: bool, buf: &[u8]) -> Option<u16> {
    let icmp = if v6 {
        buf
    } else {
        let ihl = usize::from(buf.first()? & 0x0f) * 4;
        buf.get(ihl..)?
    };
    let want = if v6 { ICMPV6_ECHOREPLY } else { ICMP_ECHOREPLY };
    if *icmp.first()? != want {
        return None;
    }
    Some(u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]))
}

struct Family {
    sock: AsyncFd<Socket>,
    v6: bool,
}

fn open(v6: bool) -> std::io::Result<Family> {
    let s = if v6 {
        Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?
    } else {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?
    };
    s.set_nonblocking(true)?;
    Ok(Family {
        // SAFETY: the AsyncFd takes ownership of the socket, which is
        // closed only when the AsyncFd (and its registration) is dropped.
        sock: unsafe { AsyncFd::register(s) }.map_err(|e| std::io::Error::other(e.to_string()))?,
        v6,
    })
}

async fn recv_reply(f: &Family, id: u16) -> std::io::Result<IpAddr> {
    loop {
        let mut guard = f.sock.readable().await?;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
        match guard.try_io(|s| s.get_ref().recv_from(&mut buf)) {
            Ok(Ok((n, from))) => {
                // SAFETY: recv_from initialised the first n bytes.
                let bytes: Vec<u8> = buf
                    .iter()
                    .take(n)
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                if reply_id(f.v6, &bytes) == Some(id) {
                    if let Some(sa) = from.as_socket() {
                        return Ok(sa.ip());
                    }
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}

/// Probe `cfg.nodes` until `reach_tx` is dropped by all receivers, publishing
/// the number of nodes reachable. Returns on socket errors.
pub async fn run(cfg: PingConfig, reach_tx: watch::Sender<u16>) -> std::io::Result<()> {
    let id = (std::process::id() as u16) ^ 0x4c56;
    let v4 = if cfg.nodes.iter().any(|n| n.is_ipv4()) {
        Some(open(false)?)
    } else {
        None
    };
    let v6 = if cfg.nodes.iter().any(|n| n.is_ipv6()) {
        Some(open(true)?)
    } else {
        None
    };
    let mut last: HashMap<IpAddr, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(cfg.interval);
    let mut seq: u16 = 0;
    let pending = std::future::pending::<std::io::Result<IpAddr>>;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                seq = seq.wrapping_add(1);
                for node in &cfg.nodes {
                    let fam = if node.is_ipv6() { v6.as_ref() } else { v4.as_ref() };
                    if let Some(f) = fam {
                        let pkt = echo_request(f.v6, id, seq);
                        // An unreachable node just stays unanswered.
                        let _ = f.sock.get_ref().send_to(&pkt, &SocketAddr::new(*node, 0).into());
                    }
                }
            }
            r = async { match &v4 { Some(f) => recv_reply(f, id).await, None => pending().await } } => {
                last.insert(r?, Instant::now());
            }
            r = async { match &v6 { Some(f) => recv_reply(f, id).await, None => pending().await } } => {
                last.insert(r?, Instant::now());
            }
            _ = reach_tx.closed() => return Ok(()),
        }
        let now = Instant::now();
        let reach = cfg
            .nodes
            .iter()
            .filter(|n| {
                last.get(n)
                    .is_some_and(|t| now.duration_since(*t) < cfg.deadping)
            })
            .count();
        let reach = u16::try_from(reach).unwrap_or(u16::MAX);
        reach_tx.send_if_modified(|r| std::mem::replace(r, reach) != reach);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_and_reply_parsing() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&p), 0, "valid checksum sums to zero");
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        // A reply with a 20-byte IPv4 header in front.
        let mut r = vec![0x45u8];
        r.extend_from_slice(&[0; 19]);
        r.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 7]);
        assert_eq!(reply_id(false, &r), Some(0x1234));
        r[20] = 8; // our own request looped back is not a reply
        assert_eq!(reply_id(false, &r), None);
        assert_eq!(reply_id(false, &r[..22]), None);
        assert_eq!(reply_id(true, &[129, 0, 0, 0, 0xab, 0xcd]), Some(0xabcd));
        assert_eq!(reply_id(true, &[]), None);
    }
}
