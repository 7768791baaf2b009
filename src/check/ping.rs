//! `checktype=ping`: ICMP echo, `checkcount` attempts of `checktimeout`
//! each (ldirectord's Net::Ping "icmp"), IPv4 and IPv6. Needs raw ICMP
//! sockets (root or CAP_NET_RAW) or unprivileged ICMP datagram sockets.

use std::net::IpAddr;

use surge_ping::{Client, Config, PingIdentifier, PingSequence, ICMP};

use super::spec::{CheckSpec, Target};
use super::{CheckError, CheckResult};

fn client(addr: IpAddr) -> Result<Client, CheckError> {
    // A socket per check run (as Net::Ping): a process-wide client would be
    // bound to the runtime that created it.
    let cfg = match addr {
        IpAddr::V4(_) => Config::default(),
        IpAddr::V6(_) => Config::builder().kind(ICMP::V6).build(),
    };
    Client::new(&cfg).map_err(|e| CheckError::Config(format!("cannot open ICMP socket: {e}")))
}

/// Run a ping check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let client = client(target.real)?;
    let ident = PingIdentifier(rand::random());
    let mut pinger = client.pinger(target.real, ident).await;
    pinger.timeout(spec.checktimeout);
    let attempts = spec.checkcount.max(1);
    let mut last = CheckError::Timeout(spec.checktimeout);
    for seq in 0..attempts {
        match pinger.ping(PingSequence(seq as u16), &[0u8; 56]).await {
            Ok((_, rtt)) => return Ok(format!("echo reply in {:.1} ms", rtt.as_secs_f64() * 1e3)),
            Err(surge_ping::SurgeError::Timeout { .. }) => {
                last = CheckError::Timeout(spec.checktimeout)
            }
            Err(e) => last = CheckError::Protocol(format!("ping: {e}")),
        }
    }
    if attempts > 1 {
        if let CheckError::Timeout(_) = last {
            return Err(CheckError::Protocol(format!(
                "no echo reply in {attempts} attempts of {}s",
                spec.checktimeout.as_secs_f64()
            )));
        }
    }
    Err(last)
}
