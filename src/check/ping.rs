//! `checktype=ping`: ICMP echo, `checkcount` attempts of `checktimeout`
//! each (ldirectord's Net::Ping "icmp"), IPv4 and IPv6. Needs raw ICMP
//! sockets (root or CAP_NET_RAW) or unprivileged ICMP datagram sockets.

use crate::icmp::{self, Echo};

use super::spec::{CheckSpec, Target};
use super::{CheckError, CheckResult};

/// Run a ping check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    // A socket per check run (as Net::Ping): a process-wide client would be
    // bound to the runtime that created it.
    let client = icmp::client(target.real, icmp::Socket::Datagram)
        .map_err(|e| CheckError::Config(format!("cannot open ICMP socket: {e}")))?;
    let mut pinger = icmp::pinger(&client, target.real, spec.checktimeout).await;
    let attempts = spec.checkcount.max(1);
    let mut last = CheckError::Timeout(spec.checktimeout);
    for seq in 0..attempts {
        match icmp::echo(&mut pinger, seq as u16).await {
            Echo::Reply(rtt) => {
                return Ok(format!("echo reply in {:.1} ms", rtt.as_secs_f64() * 1e3))
            }
            Echo::Timeout => last = CheckError::Timeout(spec.checktimeout),
            Echo::Failed(e) => last = CheckError::Protocol(format!("ping: {e}")),
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
