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

    /// `/proc/net/ip_vs` of the `wrr10` table shape (every real address
    /// under four services) as a 6.1 kernel writes it in a namespace while
    /// another namespace also holds services: every restart of the
    /// seq_file (one per ~4 KiB read) lands past some of this namespace's
    /// services, so whole blocks are missing (here every other run of
    /// four). What is there is complete.
    fn wrr10_text_with_gaps(services: &[VirtualService]) -> String {
        let mut t = String::from("IP Virtual Server version 1.2.1 (size=4096)\nh\nh\n");
        for (i, s) in services.iter().enumerate() {
            if (i / 4) % 2 == 1 {
                continue;
            }
            let ServiceKey::Addr {
                addr: std::net::IpAddr::V4(a),
                ..
            } = s.key
            else {
                unreachable!()
            };
            t.push_str(&format!("TCP  {:08X}:0050 wrr  \n", u32::from(a)));
            let y = a.octets()[3];
            for r in (0..10u8).rev() {
                t.push_str(&format!(
                    "  -> 0A14{r:02X}{y:02X}:1F90      Masq    1      0          0         \n"
                ));
            }
        }
        t
    }

    #[test]
    fn wrr10_shaped_text_places_every_block_it_has_and_only_those() {
        // 40 services 10.10.X.Y:80, reals 10.20.R.Y:8080: the same ten
        // real addresses under four services each.
        let services: Vec<VirtualService> = (0..40u32)
            .map(|i| svc(&format!("10.10.{}.{}:80", i % 4, i / 4 + 1)))
            .collect();
        let text = wrr10_text_with_gaps(&services);
        let placed = place_reals(&services, parse_ip_vs(&text).unwrap());
        for (i, (s, p)) in services.iter().zip(&placed).enumerate() {
            if (i / 4) % 2 == 1 {
                assert!(p.is_none(), "{:?} is not in the text", s.key);
                continue;
            }
            let reals = p
                .as_ref()
                .unwrap_or_else(|| panic!("{:?} not placed", s.key));
            let ServiceKey::Addr {
                addr: std::net::IpAddr::V4(a),
                ..
            } = s.key
            else {
                unreachable!()
            };
            let y = a.octets()[3];
            let want: Vec<String> = (0..10u8).rev().map(|r| format!("10.20.{r}.{y}")).collect();
            let got: Vec<String> = reals.iter().map(|r| r.addr.to_string()).collect();
            assert_eq!(got, want);
            assert!(reals.iter().all(|r| r.port == 8080 && r.weight == 1));
        }
        assert_eq!(placed.iter().filter(|p| p.is_none()).count(), 20);
    }

    #[test]
    fn a_block_with_no_service_is_ignored() {
        let placed = place_reals(&[svc("fwm 7")], parse_ip_vs(TEXT).unwrap());
        assert_eq!(placed.len(), 1);
        assert!(placed[0].is_some());
    }
}
