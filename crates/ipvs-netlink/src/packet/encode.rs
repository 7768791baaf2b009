//! One-pass request encoding: the bytes of `push_request(IpvsMessage::
//! request(op))` written straight into the send buffer, without the typed
//! attribute lists in between (a `Vec` per nest, a `String` copy of the
//! scheduler, and a second walk of every nest for its length). A restore
//! of 11,000 lines spent more on building and measuring those lists than
//! on the bytes. Nest lengths are patched in after their children are
//! written. The typed path stays the reference: the tests below compare
//! both on every kind of operation.

use netlink_packet_core::NLA_F_NESTED;

use super::service::addr_union;
use super::{push_request, IpvsMessage, IPVS_GENL_VERSION};
use crate::{Destination, Operation, Service, ServiceFlags, ServiceKey};

const NLMSG_HDRLEN: usize = 16;

const CMD_ATTR_SERVICE: u16 = 1;
const CMD_ATTR_DEST: u16 = 2;

const SVC_AF: u16 = 1;
const SVC_PROTOCOL: u16 = 2;
const SVC_ADDR: u16 = 3;
const SVC_PORT: u16 = 4;
const SVC_FWMARK: u16 = 5;
const SVC_SCHED_NAME: u16 = 6;
const SVC_FLAGS: u16 = 7;
const SVC_TIMEOUT: u16 = 8;
const SVC_NETMASK: u16 = 9;
const SVC_PE_NAME: u16 = 11;

const DEST_ADDR: u16 = 1;
const DEST_PORT: u16 = 2;
const DEST_FWD_METHOD: u16 = 3;
const DEST_WEIGHT: u16 = 4;
const DEST_U_THRESH: u16 = 5;
const DEST_L_THRESH: u16 = 6;
const DEST_ADDR_FAMILY: u16 = 11;
const DEST_TUN_TYPE: u16 = 13;
const DEST_TUN_PORT: u16 = 14;
const DEST_TUN_FLAGS: u16 = 15;

/// Pad `out` to the next multiple of 4 (`NLA_ALIGN`, `NLMSG_ALIGN`).
fn align(out: &mut Vec<u8>) {
    let pad = (4 - out.len() % 4) % 4;
    out.resize(out.len() + pad, 0);
}

/// One attribute of a fixed-size value (at most 20 bytes): header
/// (`nla_len` = 4 + value, unpadded), value, padding.
///
/// Why an array and not a slice: with the size known at compile time the
/// header, value and padding go out in one copy of a constant length (no
/// `memcpy` call, no separate padding step); a restore writes 16
/// attributes per line. `out` is 4-aligned here (`push_operation` sends
/// an unaligned buffer down the typed path).
#[inline(always)]
fn attr<const N: usize>(out: &mut Vec<u8>, kind: u16, value: [u8; N]) {
    let len = 4 + N;
    let mut buf = [0u8; 24];
    if let Some(whole) = buf.get_mut(..(len + 3) & !3) {
        if let Some((head, rest)) = whole.split_first_chunk_mut::<4>() {
            head[..2].copy_from_slice(&(len as u16).to_ne_bytes());
            head[2..].copy_from_slice(&kind.to_ne_bytes());
            if let Some(v) = rest.get_mut(..N) {
                v.copy_from_slice(&value);
            }
        }
        out.extend_from_slice(whole);
    }
}

/// A NUL-terminated string attribute.
fn attr_str(out: &mut Vec<u8>, kind: u16, s: &str) {
    let len = (4 + s.len() + 1) as u16;
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    align(out);
}

/// Open a nest; returns where its header is, for `end_nest`.
fn begin_nest(out: &mut Vec<u8>, kind: u16) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    at
}

/// Write the length of the nest opened at `at` (its children are padded,
/// so the nest needs none).
fn end_nest(out: &mut [u8], at: usize) {
    let len = (out.len() - at) as u16;
    if let Some(h) = out.get_mut(at..at + 2) {
        h.copy_from_slice(&len.to_ne_bytes());
    }
}

/// `service_attrs` of `svc` (add, edit), or `service_key_attrs` of `svc_key`
/// when `svc` is None.
fn service_nest(out: &mut Vec<u8>, svc_key: &ServiceKey, svc: Option<&Service>) {
    let at = begin_nest(out, CMD_ATTR_SERVICE);
    let family = svc_key.family();
    attr(out, SVC_AF, family.af().to_ne_bytes());
    match svc_key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            attr(out, SVC_PROTOCOL, protocol.number().to_ne_bytes());
            attr(out, SVC_ADDR, addr_union(addr));
            attr(out, SVC_PORT, port.to_be_bytes());
        }
        ServiceKey::Fwmark { mark, .. } => attr(out, SVC_FWMARK, mark.to_ne_bytes()),
    }
    // A key alone goes out as ipvsadm sends it: an empty scheduler and
    // `Service::new`'s defaults (no flags, timeout 0, a full netmask).
    let (sched, pe, flags, timeout, netmask) = match svc {
        Some(s) => (
            s.scheduler.as_str(),
            s.pe_name.as_deref(),
            s.flags.0,
            s.timeout,
            s.netmask,
        ),
        None => {
            let full = match family {
                crate::Family::V4 => 0xffff_ffff,
                crate::Family::V6 => 128,
            };
            ("", None, 0, 0, full)
        }
    };
    attr_str(out, SVC_SCHED_NAME, sched);
    if let Some(pe) = pe {
        attr_str(out, SVC_PE_NAME, pe);
    }
    let mut fl = [0u8; 8];
    let (f, m) = fl.split_at_mut(4);
    f.copy_from_slice(&(flags & !ServiceFlags::HASHED).to_ne_bytes());
    m.copy_from_slice(&u32::MAX.to_ne_bytes());
    attr(out, SVC_FLAGS, fl);
    attr(out, SVC_TIMEOUT, timeout.to_ne_bytes());
    let netmask = match family {
        // Network order on the wire, host-order value in the model.
        crate::Family::V4 => netmask.to_be_bytes(),
        crate::Family::V6 => netmask.to_ne_bytes(),
    };
    attr(out, SVC_NETMASK, netmask);
    end_nest(out, at);
}

/// `dest_attrs`.
fn dest_nest(out: &mut Vec<u8>, rs: &Destination) {
    let at = begin_nest(out, CMD_ATTR_DEST);
    attr(out, DEST_ADDR_FAMILY, rs.family().af().to_ne_bytes());
    attr(out, DEST_ADDR, addr_union(&rs.addr));
    attr(out, DEST_PORT, rs.port.to_be_bytes());
    attr(out, DEST_FWD_METHOD, rs.forward.value().to_ne_bytes());
    attr(out, DEST_WEIGHT, rs.weight.to_ne_bytes());
    attr(out, DEST_TUN_TYPE, [rs.tun_type.value()]);
    attr(out, DEST_TUN_PORT, rs.tun_port.to_be_bytes());
    attr(out, DEST_TUN_FLAGS, rs.tun_flags.0.to_ne_bytes());
    attr(out, DEST_U_THRESH, rs.u_threshold.to_ne_bytes());
    attr(out, DEST_L_THRESH, rs.l_threshold.to_ne_bytes());
    end_nest(out, at);
}

/// Append the request that carries `op` to `out`: the same bytes as
/// `push_request(out, family, flags, seq, IpvsMessage::request(op))`.
pub fn push_operation(out: &mut Vec<u8>, family: u16, flags: u16, seq: u32, op: &Operation) {
    // Timeouts and daemons are rare: the typed path is fast enough. So is
    // a buffer that does not end on a 4-byte boundary (never one of whole
    // messages): the one-pass writers below pad as if it did.
    if out.len() % 4 != 0
        || matches!(
            op,
            Operation::SetTimeouts(_) | Operation::StartDaemon(_) | Operation::StopDaemon(_)
        )
    {
        push_request(out, family, flags, seq, IpvsMessage::request(op));
        return;
    }
    let start = out.len();
    out.extend_from_slice(&[0u8; 4]); // length, patched below
    out.extend_from_slice(&family.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    // Port 0: the kernel fills in the sender's port id.
    out.extend_from_slice(&0u32.to_ne_bytes());
    // Generic netlink header: command, version, reserved.
    out.push(op.cmd().number());
    out.push(IPVS_GENL_VERSION);
    out.extend_from_slice(&[0, 0]);
    match op {
        Operation::AddService(s) | Operation::EditService(s) => service_nest(out, &s.key, Some(s)),
        Operation::DelService(k) | Operation::Zero(Some(k)) => service_nest(out, k, None),
        Operation::AddDest(k, rs) | Operation::EditDest(k, rs) => {
            service_nest(out, k, None);
            dest_nest(out, rs);
        }
        Operation::DelDest(k, addr, port) => {
            service_nest(out, k, None);
            dest_nest(out, &Destination::new(*addr, *port));
        }
        Operation::Flush | Operation::Zero(None) => {}
        Operation::SetTimeouts(_) | Operation::StartDaemon(_) | Operation::StopDaemon(_) => {}
    }
    let len = (out.len() - start) as u32;
    if let Some(h) = out.get_mut(start..start + 4) {
        h.copy_from_slice(&len.to_ne_bytes());
    }
    debug_assert!(len as usize >= NLMSG_HDRLEN + 4);
    align(out);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::{Daemon, DaemonState, Forward, Protocol, Timeouts, TunnelFlags, TunnelType};
    use std::net::IpAddr;

    fn typed(op: &Operation, family: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut v = Vec::new();
        push_request(&mut v, family, flags, seq, IpvsMessage::request(op));
        v
    }

    /// Operations of every kind over both families, fwmarks, persistence,
    /// PEs, tunnels and odd names: a varied stream, deterministic.
    fn ops() -> Vec<Operation> {
        let mut out = Vec::new();
        let mut x: u32 = 12345;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let scheds = ["", "rr", "wrr", "wlc", "mh", "sh", "fifteen-chars-x", "sed"];
        for i in 0..3000u32 {
            let r = rnd();
            let addr: IpAddr = if r % 3 == 0 {
                std::net::Ipv6Addr::from(u128::from(r) << 64 | u128::from(i)).into()
            } else {
                std::net::Ipv4Addr::from(r).into()
            };
            let key = match r % 7 {
                0 => ServiceKey::Fwmark {
                    family: if r % 2 == 0 {
                        crate::Family::V4
                    } else {
                        crate::Family::V6
                    },
                    mark: rnd(),
                },
                1 => ServiceKey::Addr {
                    protocol: Protocol::Udp,
                    addr,
                    port: rnd() as u16,
                },
                2 => ServiceKey::Addr {
                    protocol: Protocol::Sctp,
                    addr,
                    port: rnd() as u16,
                },
                3 => ServiceKey::Addr {
                    protocol: Protocol::Other(rnd() as u16),
                    addr,
                    port: 0,
                },
                _ => ServiceKey::Addr {
                    protocol: Protocol::Tcp,
                    addr,
                    port: rnd() as u16,
                },
            };
            let mut svc = Service::new(key);
            svc.scheduler = scheds[(rnd() % 8) as usize].to_string();
            svc.flags = ServiceFlags(rnd());
            svc.timeout = rnd();
            svc.netmask = rnd();
            if rnd() % 3 == 0 {
                svc.pe_name = Some(if rnd() % 2 == 0 { "sip" } else { "" }.to_string());
            }
            let raddr: IpAddr = if rnd() % 4 == 0 {
                std::net::Ipv6Addr::from(u128::from(rnd())).into()
            } else {
                std::net::Ipv4Addr::from(rnd()).into()
            };
            let mut rs = Destination::new(raddr, rnd() as u16);
            rs.forward = Forward::from_value(rnd() % 5);
            rs.weight = rnd() as i32;
            rs.u_threshold = rnd();
            rs.l_threshold = rnd();
            rs.tun_type = TunnelType::from_value((rnd() % 3) as u8).unwrap_or_default();
            rs.tun_port = rnd() as u16;
            rs.tun_flags = TunnelFlags(rnd() as u16);
            out.push(match i % 9 {
                0 => Operation::AddService(svc),
                1 => Operation::EditService(svc),
                2 => Operation::DelService(key),
                3 => Operation::AddDest(key, rs),
                4 => Operation::EditDest(key, rs),
                5 => Operation::DelDest(key, raddr, rnd() as u16),
                6 => Operation::Zero(Some(key)),
                7 => Operation::Zero(None),
                _ => Operation::Flush,
            });
        }
        out.push(Operation::SetTimeouts(Timeouts {
            tcp: 1,
            tcp_fin: 2,
            udp: 3,
        }));
        out.push(Operation::StopDaemon(DaemonState::Backup));
        out.push(Operation::StartDaemon(Daemon {
            state: DaemonState::Master,
            mcast_ifn: "eth0".into(),
            syncid: 9,
            sync_maxlen: 1400,
            mcast_group: Some("224.0.0.81".parse().unwrap()),
            mcast_port: 8848,
            mcast_ttl: 2,
        }));
        out
    }

    #[test]
    fn every_operation_encodes_to_the_typed_bytes() {
        for (i, op) in ops().iter().enumerate() {
            let flags = [0x1u16, 0x5][i % 2];
            let mut fast = Vec::new();
            push_operation(&mut fast, 0x24, flags, i as u32, op);
            assert_eq!(fast, typed(op, 0x24, flags, i as u32), "{op:?}");
        }
    }

    #[test]
    fn an_unaligned_buffer_gets_the_same_bytes() {
        for (i, op) in ops().iter().enumerate() {
            let (mut fast, mut slow) = (vec![7u8; 3], vec![7u8; 3]);
            push_operation(&mut fast, 0x1f, 0x1, i as u32, op);
            push_request(&mut slow, 0x1f, 0x1, i as u32, IpvsMessage::request(op));
            assert_eq!(fast, slow, "{op:?}");
        }
    }

    #[test]
    fn a_batch_is_the_concatenation_of_its_requests() {
        let ops = ops();
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        for (i, op) in ops.iter().enumerate() {
            push_operation(&mut fast, 0x1f, 0x1, i as u32 + 1, op);
            push_request(&mut slow, 0x1f, 0x1, i as u32 + 1, IpvsMessage::request(op));
        }
        assert_eq!(fast, slow);
    }
}
