//! Gratuitous ARP and unsolicited neighbour advertisement frames, sent after
//! a takeover so switches and neighbours learn the VIP's new MAC at once.
//!
//! Pure bytes: `kernel::announce` puts them on a packet socket.
//! IPv4 copies Debian's `send_arp` (libnet build, resource-agents): an ARP
//! request then an ARP reply, both broadcast, sender and target IP = VIP.
//! IPv6 follows RFC 4861 §7.2.6: NA to ff02::1, Override set, Solicited
//! clear, with a target link-layer address option.

use std::net::{Ipv4Addr, Ipv6Addr};

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const BROADCAST: [u8; 6] = [0xff; 6];
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const ICMPV6_NA: u8 = 136;
const IPPROTO_ICMPV6: u8 = 58;
const NA_FLAG_OVERRIDE: u8 = 0x20;
const OPT_TARGET_LLADDR: u8 = 2;

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(86);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn arp(mac: [u8; 6], ip: Ipv4Addr, op: u16, target_mac: [u8; 6]) -> Vec<u8> {
    let mut f = ethernet(BROADCAST, mac, ETH_P_ARP);
    f.extend_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f.push(6);
    f.push(4);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&target_mac);
    f.extend_from_slice(&ip.octets());
    f
}

/// The gratuitous ARP pair `send_arp` sends per repetition: request, reply.
pub fn garp(mac: [u8; 6], vip: Ipv4Addr) -> [Vec<u8>; 2] {
    [
        arp(mac, vip, ARP_REQUEST, [0; 6]),
        arp(mac, vip, ARP_REPLY, mac),
    ]
}

/// RFC 4443 §2.3 checksum over the IPv6 pseudo-header and the ICMPv6 body.
fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, body: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair.first().copied().unwrap_or(0));
            let lo = u32::from(pair.get(1).copied().unwrap_or(0));
            sum += (hi << 8) | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // invariant: an NA body is 32 bytes, far below u32::MAX.
    add(&(body.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(body);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An unsolicited neighbour advertisement for `vip` from `mac`.
pub fn unsolicited_na(mac: [u8; 6], vip: Ipv6Addr) -> Vec<u8> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = vec![ICMPV6_NA, 0, 0, 0, NA_FLAG_OVERRIDE, 0, 0, 0];
    icmp.extend_from_slice(&vip.octets());
    icmp.extend_from_slice(&[OPT_TARGET_LLADDR, 1]);
    icmp.extend_from_slice(&mac);
    let ck = icmpv6_checksum(&vip, &all_nodes, &icmp);
    if let Some(c) = icmp.get_mut(2..4) {
        c.copy_from_slice(&ck.to_be_bytes());
    }
    // 33:33 + low 32 bits of ff02::1 (RFC 2464 §7).
    let mut f = ethernet([0x33, 0x33, 0, 0, 0, 1], mac, ETH_P_IPV6);
    f.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, no class/flow
                                           // invariant: icmp is 32 bytes.
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.push(IPPROTO_ICMPV6);
    f.push(255); // hop limit must be 255 (RFC 4861 §7.1.2)
    f.extend_from_slice(&vip.octets());
    f.extend_from_slice(&all_nodes.octets());
    f.extend_from_slice(&icmp);
    f
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0xaa, 0xbb, 0xcc];

    #[test]
    fn garp_pair_matches_send_arp() {
        let [req, rep] = garp(MAC, Ipv4Addr::new(192, 168, 1, 80));
        // Hand-decoded: dst ff*6, src MAC, type 0806, htype 1, ptype 0800,
        // hlen 6, plen 4, op, sha, spa, tha, tpa.
        let expect_req: Vec<u8> = [
            &[0xff; 6][..],
            &MAC,
            &[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1],
            &MAC,
            &[192, 168, 1, 80],
            &[0; 6],
            &[192, 168, 1, 80],
        ]
        .concat();
        assert_eq!(req, expect_req);
        assert_eq!(rep.len(), 42);
        assert_eq!(&rep[20..22], &[0, 2], "reply opcode");
        assert_eq!(&rep[32..38], &MAC, "reply target MAC is own MAC");
    }

    #[test]
    fn na_fields_and_checksum() {
        let vip: Ipv6Addr = "2001:db8::80".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let f = unsolicited_na(MAC, vip);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[14 + 6], 58, "next header ICMPv6");
        assert_eq!(f[14 + 7], 255, "hop limit");
        assert_eq!(&f[14 + 8..14 + 24], &vip.octets(), "source = VIP");
        let icmp = &f[54..];
        assert_eq!(icmp[0], 136);
        assert_eq!(icmp[4], 0x20, "override only");
        assert_eq!(&icmp[8..24], &vip.octets(), "target");
        assert_eq!(&icmp[24..26], &[2, 1], "target lladdr option");
        assert_eq!(&icmp[26..32], &MAC);
        // A correct checksum makes the sum over pseudo-header + body zero.
        let all = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        assert_eq!(icmpv6_checksum(&vip, &all, icmp), 0);
        // And it differs from a zeroed one.
        assert_ne!(&icmp[2..4], &[0, 0]);
    }
}
