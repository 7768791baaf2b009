//! `IPVS_DEST_ATTR_*`: the nested destination (real server) attribute, and
//! its mapping to the model's `Destination`.

use std::net::IpAddr;

use netlink_packet_core::{DecodeError, DefaultNla, Nla, NlaBuffer, NlasIterator, Parseable};

use super::nla::{addr16, put, u16_be, u16_ne, u32_ne, u8_};
use super::service::{addr_from_union, addr_union};
use super::stats::{stats_from_payload, StatsNest};
use crate::{Destination, Family, Forward, Stats, TunnelFlags, TunnelType};

const IPVS_DEST_ATTR_ADDR: u16 = 1;
const IPVS_DEST_ATTR_PORT: u16 = 2;
const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
const IPVS_DEST_ATTR_STATS: u16 = 10;
const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
const IPVS_DEST_ATTR_STATS64: u16 = 12;
const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

/// `IP_VS_CONN_F_FWD_MASK`: the kernel reports only these bits, but a
/// client may see more from an older kernel; mask on read.
const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;

/// One attribute of the destination nest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAttr {
    /// Real address as the 16-byte address union.
    Addr([u8; 16]),
    /// Real port, host order here, network order on the wire.
    Port(u16),
    /// Forwarding method (`IP_VS_CONN_F_*`).
    FwdMethod(u32),
    /// Weight (the kernel stores an int; negative is refused with ERANGE).
    Weight(i32),
    /// Upper connection threshold.
    UThresh(u32),
    /// Lower connection threshold.
    LThresh(u32),
    /// Active connections (reply only).
    ActiveConns(u32),
    /// Inactive connections (reply only).
    InactConns(u32),
    /// Persistent templates (reply only).
    PersistConns(u32),
    /// 32-bit stats nest.
    Stats(StatsNest),
    /// Address family of the real (Linux >= 4.4; may differ from the
    /// service's for tunnels).
    AddrFamily(u16),
    /// 64-bit stats nest.
    Stats64(StatsNest),
    /// Tunnel type (`IP_VS_CONN_F_TUNNEL_TYPE_*`, Linux >= 5.3).
    TunType(u8),
    /// Tunnel port, host order here, network order on the wire.
    TunPort(u16),
    /// Tunnel flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
    TunFlags(u16),
    /// Unknown attribute, kept.
    Other(DefaultNla),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        use DestAttr::*;
        match self {
            Addr(_) => 16,
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            TunType(_) => 1,
            FwdMethod(_) | Weight(_) | UThresh(_) | LThresh(_) | ActiveConns(_) | InactConns(_)
            | PersistConns(_) => 4,
            Stats(n) | Stats64(n) => n.payload_len(),
            Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DestAttr::*;
        match self {
            Addr(_) => IPVS_DEST_ATTR_ADDR,
            Port(_) => IPVS_DEST_ATTR_PORT,
            FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            UThresh(_) => IPVS_DEST_ATTR_U_THRESH,
            LThresh(_) => IPVS_DEST_ATTR_L_THRESH,
            ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            InactConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            Stats(_) => IPVS_DEST_ATTR_STATS,
            AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Stats64(_) => IPVS_DEST_ATTR_STATS64,
            TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use DestAttr::*;
        match self {
            Addr(a) => put(buf, a),
            Port(v) | TunPort(v) => put(buf, &v.to_be_bytes()),
            AddrFamily(v) | TunFlags(v) => put(buf, &v.to_ne_bytes()),
            TunType(v) => put(buf, &[*v]),
            Weight(v) => put(buf, &v.to_ne_bytes()),
            FwdMethod(v) | UThresh(v) | LThresh(v) | ActiveConns(v) | InactConns(v)
            | PersistConns(v) => put(buf, &v.to_ne_bytes()),
            Stats(n) | Stats64(n) => n.emit_payload(buf),
            Other(n) => n.emit_value(buf),
        }
    }
}

impl<'a> Parseable<NlaBuffer<&'a [u8]>> for DestAttr {
    fn parse(nla: &NlaBuffer<&'a [u8]>) -> Result<Self, DecodeError> {
        let p = nla.value();
        Ok(match nla.kind() {
            IPVS_DEST_ATTR_ADDR => DestAttr::Addr(addr16(p, "dest addr")?),
            IPVS_DEST_ATTR_PORT => DestAttr::Port(u16_be(p, "dest port")?),
            IPVS_DEST_ATTR_FWD_METHOD => DestAttr::FwdMethod(u32_ne(p, "dest fwd method")?),
            IPVS_DEST_ATTR_WEIGHT => DestAttr::Weight(u32_ne(p, "dest weight")? as i32),
            IPVS_DEST_ATTR_U_THRESH => DestAttr::UThresh(u32_ne(p, "dest u_thresh")?),
            IPVS_DEST_ATTR_L_THRESH => DestAttr::LThresh(u32_ne(p, "dest l_thresh")?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => DestAttr::ActiveConns(u32_ne(p, "dest activeconns")?),
            IPVS_DEST_ATTR_INACT_CONNS => DestAttr::InactConns(u32_ne(p, "dest inactconns")?),
            IPVS_DEST_ATTR_PERSIST_CONNS => DestAttr::PersistConns(u32_ne(p, "dest persistconns")?),
            IPVS_DEST_ATTR_STATS => DestAttr::Stats(StatsNest::parse(p, false)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => DestAttr::AddrFamily(u16_ne(p, "dest af")?),
            IPVS_DEST_ATTR_STATS64 => DestAttr::Stats64(StatsNest::parse(p, true)?),
            IPVS_DEST_ATTR_TUN_TYPE => DestAttr::TunType(u8_(p, "dest tun type")?),
            IPVS_DEST_ATTR_TUN_PORT => DestAttr::TunPort(u16_be(p, "dest tun port")?),
            IPVS_DEST_ATTR_TUN_FLAGS => DestAttr::TunFlags(u16_ne(p, "dest tun flags")?),
            _ => DestAttr::Other(DefaultNla::parse(nla)?),
        })
    }
}

/// Parse the payload of a destination nest.
pub fn parse_dest_attrs(payload: &[u8]) -> Result<Vec<DestAttr>, DecodeError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| DestAttr::parse(&nla)))
        .collect()
}

/// Attributes for add/edit, in ipvsadm 1.31's order.
pub fn dest_attrs(rs: &Destination) -> Vec<DestAttr> {
    vec![
        DestAttr::AddrFamily(rs.family().af()),
        DestAttr::Addr(addr_union(&rs.addr)),
        DestAttr::Port(rs.port),
        DestAttr::FwdMethod(rs.forward.value()),
        DestAttr::Weight(rs.weight),
        DestAttr::TunType(rs.tun_type.value()),
        DestAttr::TunPort(rs.tun_port),
        DestAttr::TunFlags(rs.tun_flags.0),
        DestAttr::UThresh(rs.u_threshold),
        DestAttr::LThresh(rs.l_threshold),
    ]
}

/// Attributes naming a real server for delete: ipvsadm fills the rest with
/// its defaults (direct routing, weight 1), and so do we.
pub fn dest_key_attrs(addr: IpAddr, port: u16) -> Vec<DestAttr> {
    dest_attrs(&Destination::new(addr, port))
}

/// Build a `Destination` from a kernel reply's destination nest; `svc_af` is
/// used when the kernel is too old to send `IPVS_DEST_ATTR_ADDR_FAMILY`.
pub fn dest_from_attrs(attrs: &[DestAttr], svc_af: Family) -> Result<Destination, DecodeError> {
    let mut af = svc_af;
    let mut addr = None;
    for a in attrs {
        match a {
            DestAttr::AddrFamily(v) => {
                af = Family::from_af(*v).ok_or_else(|| {
                    DecodeError::from(format!("real server with unknown family {v}"))
                })?;
            }
            DestAttr::Addr(v) => addr = Some(*v),
            _ => {}
        }
    }
    let raw = addr.ok_or_else(|| DecodeError::from("real server without address"))?;
    let mut rs = Destination::new(addr_from_union(af, &raw), 0);
    let (mut s32, mut s64) = (None::<Stats>, None::<Stats>);
    for a in attrs {
        match a {
            DestAttr::Port(v) => rs.port = *v,
            DestAttr::FwdMethod(v) => rs.forward = Forward::from_value(v & IP_VS_CONN_F_FWD_MASK),
            DestAttr::Weight(v) => rs.weight = *v,
            DestAttr::UThresh(v) => rs.u_threshold = *v,
            DestAttr::LThresh(v) => rs.l_threshold = *v,
            DestAttr::ActiveConns(v) => rs.active_conns = *v,
            DestAttr::InactConns(v) => rs.inact_conns = *v,
            DestAttr::PersistConns(v) => rs.persist_conns = *v,
            // An unknown tunnel type reads as the default rather than
            // failing the whole listing.
            DestAttr::TunType(v) => rs.tun_type = TunnelType::from_value(*v).unwrap_or_default(),
            DestAttr::TunPort(v) => rs.tun_port = *v,
            DestAttr::TunFlags(v) => rs.tun_flags = TunnelFlags(*v),
            DestAttr::Stats(n) => s32 = Some(n.to_stats()),
            DestAttr::Stats64(n) => s64 = Some(n.to_stats()),
            _ => {}
        }
    }
    rs.stats = s64.or(s32).unwrap_or_default();
    Ok(rs)
}

/// Decode a destination nest's payload straight into a `Destination`.
///
/// Why a second decoder: a listing decodes one nest per real, and building
/// the typed attribute list first (a `Vec` per nest and per stats nest,
/// then dropped) was most of `lvsadm -Ln`'s own CPU time on 10,000 reals.
/// The typed path stays for requests and round-trip tests; the tests check
/// that both decoders agree on every captured kernel reply.
pub fn dest_from_payload(payload: &[u8], svc_af: Family) -> Result<Destination, DecodeError> {
    let mut af = svc_af;
    let mut raw = None;
    let mut rs = Destination::new(IpAddr::from([0u8; 4]), 0);
    let (mut s32, mut s64) = (None::<Stats>, None::<Stats>);
    for nla in super::nla::attrs(payload) {
        let (kind, p) = nla?;
        match kind {
            IPVS_DEST_ATTR_ADDR => raw = Some(addr16(p, "dest addr")?),
            IPVS_DEST_ATTR_PORT => rs.port = u16_be(p, "dest port")?,
            IPVS_DEST_ATTR_FWD_METHOD => {
                let v = u32_ne(p, "dest fwd method")?;
                rs.forward = Forward::from_value(v & IP_VS_CONN_F_FWD_MASK);
            }
            IPVS_DEST_ATTR_WEIGHT => rs.weight = u32_ne(p, "dest weight")? as i32,
            IPVS_DEST_ATTR_U_THRESH => rs.u_threshold = u32_ne(p, "dest u_thresh")?,
            IPVS_DEST_ATTR_L_THRESH => rs.l_threshold = u32_ne(p, "dest l_thresh")?,
            IPVS_DEST_ATTR_ACTIVE_CONNS => rs.active_conns = u32_ne(p, "dest activeconns")?,
            IPVS_DEST_ATTR_INACT_CONNS => rs.inact_conns = u32_ne(p, "dest inactconns")?,
            IPVS_DEST_ATTR_PERSIST_CONNS => rs.persist_conns = u32_ne(p, "dest persistconns")?,
            IPVS_DEST_ATTR_STATS => s32 = Some(stats_from_payload(p)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => {
                let v = u16_ne(p, "dest af")?;
                af = Family::from_af(v).ok_or_else(|| {
                    DecodeError::from(format!("real server with unknown family {v}"))
                })?;
            }
            IPVS_DEST_ATTR_STATS64 => s64 = Some(stats_from_payload(p)?),
            IPVS_DEST_ATTR_TUN_TYPE => {
                rs.tun_type = TunnelType::from_value(u8_(p, "dest tun type")?).unwrap_or_default()
            }
            IPVS_DEST_ATTR_TUN_PORT => rs.tun_port = u16_be(p, "dest tun port")?,
            IPVS_DEST_ATTR_TUN_FLAGS => rs.tun_flags = TunnelFlags(u16_ne(p, "dest tun flags")?),
            _ => {}
        }
    }
    let raw = raw.ok_or_else(|| DecodeError::from("real server without address"))?;
    rs.addr = addr_from_union(af, &raw);
    rs.stats = s64.or(s32).unwrap_or_default();
    Ok(rs)
}
