//! Ping nodes (heartbeat's `ping` + ipfail, pacemaker's pingd): probe each
//! configured address with ICMP echo every interval and publish how many
//! answered within `deadping`. The node that reaches more serves.
//!
//! The echoes go through `icmp`, the same code as the `ping` check,
//! with raw ICMP sockets tried first (CAP_NET_RAW), because unprivileged
//! ICMP sockets depend on `ping_group_range`, which is off in fresh network
//! namespaces.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::icmp::{self, Echo};
use crate::model::PingConfig;

/// How many nodes in `last` answered within `deadping` of `now`.
pub fn reachable(
    nodes: &[IpAddr],
    last: &HashMap<IpAddr, Instant>,
    deadping: Duration,
    now: Instant,
) -> u16 {
    let n = nodes
        .iter()
        .filter(|n| {
            last.get(n)
                .is_some_and(|t| now.saturating_duration_since(*t) < deadping)
        })
        .count();
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Probe `cfg.nodes` until `reach_tx` is dropped by all receivers, publishing
/// the number of nodes reachable. Returns an error when an ICMP socket
/// cannot be opened.
pub async fn run(cfg: PingConfig, reach_tx: watch::Sender<u16>) -> std::io::Result<()> {
    // One socket per family, kept open for the whole run: the pingers below
    // share it, and dropping it ends its receive task.
    let v4 = match cfg.nodes.iter().find(|n| n.is_ipv4()) {
        Some(n) => Some(icmp::client(*n, icmp::Socket::Raw)?),
        None => None,
    };
    let v6 = match cfg.nodes.iter().find(|n| n.is_ipv6()) {
        Some(n) => Some(icmp::client(*n, icmp::Socket::Raw)?),
        None => None,
    };
    // Each node's prober sends its answers here; bounded: one reply per
    // node per interval at most.
    let (tx, mut rx) = mpsc::channel::<IpAddr>(cfg.nodes.len().max(1));
    // Declared after the sockets, so dropped (aborted) before them.
    let mut probers = JoinSet::new();
    for node in cfg.nodes.iter().copied() {
        let client = if node.is_ipv6() {
            v6.as_ref()
        } else {
            v4.as_ref()
        };
        let Some(client) = client else { continue };
        // An echo waits at most one interval: the next one is due then.
        let mut pinger = icmp::pinger(client, node, cfg.interval).await;
        let tx = tx.clone();
        let interval = cfg.interval;
        probers.spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq: u16 = 0;
            loop {
                tick.tick().await;
                seq = seq.wrapping_add(1);
                // An unreachable node, or an ICMP error, just stays unanswered.
                if let Echo::Reply(_) = icmp::echo(&mut pinger, seq).await {
                    if tx.send(node).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    let mut last: HashMap<IpAddr, Instant> = HashMap::new();
    // Re-count on every answer and every interval, so a silent node expires
    // `deadping` after its last answer even when nothing else happens.
    let mut recount = tokio::time::interval(cfg.interval);
    loop {
        tokio::select! {
            Some(node) = rx.recv() => {
                last.insert(node, Instant::now());
            }
            _ = recount.tick() => {}
            _ = reach_tx.closed() => return Ok(()),
        }
        let reach = reachable(&cfg.nodes, &last, cfg.deadping, Instant::now());
        reach_tx.send_if_modified(|r| std::mem::replace(r, reach) != reach);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_counts_until_deadping_after_its_last_answer() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        let t0 = Instant::now();
        let mut last = HashMap::new();
        last.insert(a, t0);
        last.insert(b, t0 + Duration::from_secs(2));
        let dead = Duration::from_secs(3);
        let nodes = [a, b, c];
        assert_eq!(
            reachable(&nodes, &last, dead, t0 + Duration::from_secs(1)),
            2
        );
        assert_eq!(
            reachable(&nodes, &last, dead, t0 + Duration::from_secs(3)),
            1
        );
        assert_eq!(
            reachable(&nodes, &last, dead, t0 + Duration::from_secs(5)),
            0
        );
        // An answer stamped after `now` (clock read order) still counts.
        assert_eq!(reachable(&[b], &last, dead, t0), 1);
    }

    /// Against loopback, both families (answers need a raw or datagram
    /// ICMP socket: root, or `ping_group_range` covering this group): the
    /// count reaches both nodes, and the run ends once nobody listens.
    #[tokio::test]
    async fn counts_the_nodes_that_answer() {
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        if icmp::client(v4, icmp::Socket::Raw).is_err()
            || icmp::client(v6, icmp::Socket::Raw).is_err()
        {
            eprintln!("skipped: no ICMP socket here");
            return;
        }
        let cfg = PingConfig {
            nodes: vec![v4, v6],
            interval: Duration::from_millis(100),
            deadping: Duration::from_millis(500),
        };
        let (tx, mut rx) = watch::channel(0u16);
        let run = tokio::spawn(run(cfg, tx));
        let seen = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                rx.changed().await.unwrap();
                if *rx.borrow() == 2 {
                    return;
                }
            }
        })
        .await;
        assert!(seen.is_ok(), "count stayed at {}", *rx.borrow());
        drop(rx);
        let ended = tokio::time::timeout(Duration::from_secs(2), run).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }
}
