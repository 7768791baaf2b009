//! `lvsd explain PROTO VIP:PORT CLIENT[:PORT]`: which real this director's
//! mh table picks for a new flow, computed in user space from the service
//! and reals the kernel holds (see `model::maglev` for what is modelled).

use std::net::{IpAddr, SocketAddr};

use crate::kernel::Ipvs;
use crate::model::maglev::{MhTable, FLAG_FALLBACK, FLAG_PORT};
use crate::model::{Protocol, ServiceKey};

/// Usage line of the verb.
pub const USAGE: &str = "usage: lvsd explain tcp|udp|sctp VIP:PORT CLIENT[:PORT]";

/// What the verb prints and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code: 0 found, 1 no such service / not mh / no real, 2 usage.
    pub code: i32,
}

fn fail(code: i32, msg: String) -> Output {
    Output {
        stdout: String::new(),
        stderr: format!("lvsd explain: {msg}\n"),
        code,
    }
}

use crate::model::host_port as hostport;

/// Run the verb on `args` (after `explain`) against `ipvs`.
pub fn explain(args: &[String], ipvs: &dyn Ipvs) -> Output {
    let [proto, vip, client] = args else {
        return fail(2, USAGE.to_string());
    };
    // Arguments are echoed only after parsing, so no hostile text reaches
    // the terminal verbatim.
    let Some(protocol) = Protocol::from_name(proto) else {
        return fail(2, format!("unknown protocol (tcp, udp or sctp); {USAGE}"));
    };
    let Ok(vip) = vip.parse::<SocketAddr>() else {
        return fail(2, format!("VIP:PORT is not an address and port; {USAGE}"));
    };
    let client = match client.parse::<SocketAddr>() {
        Ok(sa) => sa,
        Err(_) => match client.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, 0),
            Err(_) => return fail(2, format!("CLIENT is not an address[:port]; {USAGE}")),
        },
    };
    let key = ServiceKey::Addr {
        protocol,
        addr: vip.ip(),
        port: vip.port(),
    };
    let name = format!("service {} {}", proto.to_ascii_lowercase(), vip);
    let services = match ipvs.services() {
        Ok(s) => s,
        Err(e) => return fail(1, format!("cannot read the IPVS table: {e}")),
    };
    let Some(svc) = services.into_iter().find(|s| s.key == key) else {
        return fail(
            1,
            format!("{name} does not exist in the kernel's IPVS table"),
        );
    };
    if svc.scheduler != "mh" {
        let sched: String = svc
            .scheduler
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(16)
            .collect();
        return fail(
            1,
            format!("{name} uses scheduler {sched}; explain needs mh"),
        );
    }
    let reals = match ipvs.dests(&key) {
        Ok(r) => r,
        Err(e) => return fail(1, format!("cannot read the reals of {name}: {e}")),
    };
    let table = match MhTable::from_reals(&reals, svc.flags.0) {
        Ok(t) => t,
        Err(e) => return fail(1, format!("{name}: {e}")),
    };
    let port_used = svc.flags.0 & FLAG_PORT != 0;
    let slot = table.slot_of(&client.ip(), client.port());
    let mut out = format!(
        "{name} mh{}{} table {} ({} reals)\nclient {} hashes to slot {slot}{}\n",
        if port_used { " mh-port" } else { "" },
        if svc.flags.0 & FLAG_FALLBACK != 0 {
            " mh-fallback"
        } else {
            ""
        },
        table.fingerprint(),
        reals.len(),
        if port_used {
            client.to_string()
        } else {
            client.ip().to_string()
        },
        if port_used || client.port() == 0 {
            ""
        } else {
            " (source port ignored: no mh-port)"
        },
    );
    let zero = reals.iter().filter(|r| r.weight <= 0).count();
    if zero > 0 {
        out.push_str(&format!(
            "note: {zero} real(s) at weight 0 counted with no slots; the kernel keeps a \
             quiesced real's last weight (and slots), which netlink does not report\n"
        ));
    }
    match table.lookup(&client.ip(), client.port()) {
        Some(d) => {
            out.push_str(&format!(
                "real {} weight {}\n",
                hostport(d.addr, d.port),
                d.weight
            ));
            Output {
                stdout: out,
                stderr: String::new(),
                code: 0,
            }
        }
        None => Output {
            stdout: out,
            stderr: "lvsd explain: no real: the kernel would not schedule this flow\n".into(),
            code: 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::FakeTable;
    use crate::model::maglev::MhDest;
    use crate::model::{Forward, RealServer, ServiceFlags, VirtualService};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn fake(sched: &str, flags: u32) -> FakeTable {
        let f = FakeTable::new();
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        };
        let mut s = VirtualService::new(key);
        s.scheduler = sched.into();
        s.flags = ServiceFlags(flags);
        f.add_service(&s).unwrap();
        for (a, w) in [("10.1.0.1", 1), ("10.1.0.2", 2), ("10.1.0.3", 0)] {
            let mut r = RealServer::new(a.parse().unwrap(), 80);
            r.forward = Forward::Route;
            r.weight = w;
            f.add_dest(&key, &r).unwrap();
        }
        f
    }

    #[test]
    fn picks_the_real_the_user_space_table_picks() {
        let f = fake("mh", FLAG_PORT);
        let reals = f
            .dests(&ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            })
            .unwrap();
        let t = MhTable::build(reals.iter().map(MhDest::from_real).collect(), FLAG_PORT).unwrap();
        let mut seen = std::collections::HashSet::new();
        for p in 1000..1040u16 {
            let c: IpAddr = "192.0.2.7".parse().unwrap();
            let want = t.lookup(&c, p).unwrap();
            let out = explain(
                &args(&["tcp", "10.0.0.1:80", &format!("192.0.2.7:{p}")]),
                &f,
            );
            assert_eq!(out.code, 0, "{out:?}");
            let line = format!("real {} weight", hostport(want.addr, want.port));
            assert!(out.stdout.contains(&line), "{}", out.stdout);
            seen.insert(want.addr);
        }
        // mh-port spreads one client's ports over both weighted reals.
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn clear_errors_for_other_schedulers_missing_services_and_bad_args() {
        let f = fake("wlc", 0);
        let out = explain(&args(&["tcp", "10.0.0.1:80", "192.0.2.7"]), &f);
        assert_eq!(out.code, 1);
        assert_eq!(
            out.stderr,
            "lvsd explain: service tcp 10.0.0.1:80 uses scheduler wlc; explain needs mh\n"
        );
        let out = explain(&args(&["udp", "10.0.0.1:80", "192.0.2.7"]), &f);
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
        for bad in [
            vec!["tcp", "10.0.0.1:80"],
            vec!["icmp", "10.0.0.1:80", "1.2.3.4"],
            vec!["tcp", "10.0.0.1", "1.2.3.4"],
            vec!["tcp", "10.0.0.1:80", "nope\x1b[2J"],
        ] {
            let out = explain(&args(&bad), &f);
            assert_eq!(out.code, 2, "{bad:?}");
            assert!(!out.stderr.contains('\x1b'));
        }
    }
}
