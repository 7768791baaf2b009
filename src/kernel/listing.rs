//! The table as a plain listing shows it, read with one netlink dump of the
//! services plus one read of `/proc/net/ip_vs` for their real servers,
//! instead of one `IPVS_CMD_GET_DEST` dump per service (see
//! `wire::ipvs_proc` for why). Services the text cannot place (absent from
//! it, or a firewall mark used by both families, which the text does not
//! tell apart) are left for the caller to dump over netlink.

use std::collections::HashMap;

use crate::model::{RealServer, ServiceKey, VirtualService};
use crate::wire::ipvs_proc::{ProcKey, ProcService};

/// The `/proc/net/ip_vs` key of a service.
fn proc_key(key: &ServiceKey) -> ProcKey {
    match *key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => ProcKey::Addr(protocol, addr, port),
        ServiceKey::Fwmark { mark, .. } => ProcKey::Fwmark(mark),
    }
}

/// Pair each service (from netlink, in kernel order) with its real servers
/// from the parsed text: `None` where the text has no block for it or its
/// block is ambiguous.
pub fn place_reals(
    services: &[VirtualService],
    blocks: Vec<ProcService>,
) -> Vec<Option<Vec<RealServer>>> {
    // A key seen twice (a firewall mark of both families) names no block.
    let mut by_key: HashMap<ProcKey, Option<Vec<RealServer>>> =
        HashMap::with_capacity(blocks.len());
    for b in blocks {
        by_key
            .entry(b.key)
            .and_modify(|slot| *slot = None)
            .or_insert(Some(b.reals));
    }
    let mut wanted: HashMap<ProcKey, usize> = HashMap::with_capacity(services.len());
    for s in services {
        *wanted.entry(proc_key(&s.key)).or_default() += 1;
    }
    services
        .iter()
        .map(|s| {
            let k = proc_key(&s.key);
            if wanted.get(&k).copied().unwrap_or(0) > 1 {
                return None;
            }
            by_key.get_mut(&k).and_then(Option::take)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipvs_proc::parse_ip_vs;

    fn svc(key: &str) -> VirtualService {
        let key = match key.split_once(' ') {
            Some(("fwm", m)) => ServiceKey::Fwmark {
                family: crate::model::Family::V4,
                mark: m.parse().unwrap(),
            },
            Some(("fwm6", m)) => ServiceKey::Fwmark {
                family: crate::model::Family::V6,
                mark: m.parse().unwrap(),
            },
            _ => {
                let (a, p) = key.rsplit_once(':').unwrap();
                ServiceKey::Addr {
                    protocol: crate::model::Protocol::Tcp,
                    addr: a.trim_matches(|c| c == '[' || c == ']').parse().unwrap(),
                    port: p.parse().unwrap(),
                }
            }
        };
        VirtualService::new(key)
    }

    const TEXT: &str = "IP Virtual Server version 1.2.1 (size=4096)\nh\nh\n\
TCP  0A000001:0050 wlc  \n  -> C0A80102:1F90      Masq    1      0          0         \n\
FWM  00000007 rr \n  -> C0A80105:0000      Tunnel  1      0          0         \n\
FWM  00000008 rr \n  -> C0A80106:0000      Route   1      0          0         \n\
FWM  00000008 rr \n";

    #[test]
    fn blocks_go_to_their_services_and_ambiguous_or_absent_ones_to_none() {
        let services = [
            svc("10.0.0.1:80"),
            svc("fwm 7"),
            svc("fwm 8"),
            svc("fwm6 8"),
            svc("10.0.0.2:80"),
        ];
        let placed = place_reals(&services, parse_ip_vs(TEXT).unwrap());
        let lens: Vec<Option<usize>> = placed.iter().map(|p| p.as_ref().map(Vec::len)).collect();
        // mark 8 exists in both families: the text cannot tell its blocks
        // apart; 10.0.0.2:80 was added after the text was read.
        assert_eq!(lens, [Some(1), Some(1), None, None, None]);
        let first = placed[0].as_ref().unwrap();
        assert_eq!(first[0].port, 8080);
    }

    #[test]
    fn a_block_with_no_service_is_ignored() {
        let placed = place_reals(&[svc("fwm 7")], parse_ip_vs(TEXT).unwrap());
        assert_eq!(placed.len(), 1);
        assert!(placed[0].is_some());
    }
}
