//! `IPVS_STATS_ATTR_*`: counters nested in a service or destination, in the
//! 32-bit set (`*_ATTR_STATS`: byte counters u64, the rest u32) or the
//! 64-bit set (`*_ATTR_STATS64`, Linux >= 4.1: everything u64).

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, Nla, NlaBuffer, NlasIterator, Parseable,
};

use super::nla::{counter, put};
use crate::Stats;

const IPVS_STATS_ATTR_CONNS: u16 = 1;
const IPVS_STATS_ATTR_INPKTS: u16 = 2;
const IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
const IPVS_STATS_ATTR_INBYTES: u16 = 4;
const IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
const IPVS_STATS_ATTR_CPS: u16 = 6;
const IPVS_STATS_ATTR_INPPS: u16 = 7;
const IPVS_STATS_ATTR_OUTPPS: u16 = 8;
const IPVS_STATS_ATTR_INBPS: u16 = 9;
const IPVS_STATS_ATTR_OUTBPS: u16 = 10;

/// One counter of a stats nest. Values are widened to u64 on parse; the
/// width on emit follows the nest (see [`StatsNest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAttr {
    /// Connections scheduled.
    Conns(u64),
    /// Incoming packets.
    InPkts(u64),
    /// Outgoing packets.
    OutPkts(u64),
    /// Incoming bytes (u64 in both sets).
    InBytes(u64),
    /// Outgoing bytes (u64 in both sets).
    OutBytes(u64),
    /// Connections per second.
    Cps(u64),
    /// Incoming packets per second.
    InPps(u64),
    /// Outgoing packets per second.
    OutPps(u64),
    /// Incoming bytes per second.
    InBps(u64),
    /// Outgoing bytes per second.
    OutBps(u64),
    /// Anything else (`IPVS_STATS_ATTR_PAD`, newer counters).
    Other(DefaultNla),
}

/// A stats nest with the width it is sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsNest {
    /// true for `*_ATTR_STATS64`.
    pub wide: bool,
    /// The counters, in wire order.
    pub attrs: Vec<StatsAttr>,
}

struct Wide<'a> {
    attr: &'a StatsAttr,
    wide: bool,
}

impl StatsAttr {
    fn value(&self) -> Option<u64> {
        use StatsAttr::*;
        match self {
            Conns(v) | InPkts(v) | OutPkts(v) | InBytes(v) | OutBytes(v) | Cps(v) | InPps(v)
            | OutPps(v) | InBps(v) | OutBps(v) => Some(*v),
            Other(_) => None,
        }
    }

    fn kind_of(&self) -> u16 {
        use StatsAttr::*;
        match self {
            Conns(_) => IPVS_STATS_ATTR_CONNS,
            InPkts(_) => IPVS_STATS_ATTR_INPKTS,
            OutPkts(_) => IPVS_STATS_ATTR_OUTPKTS,
            InBytes(_) => IPVS_STATS_ATTR_INBYTES,
            OutBytes(_) => IPVS_STATS_ATTR_OUTBYTES,
            Cps(_) => IPVS_STATS_ATTR_CPS,
            InPps(_) => IPVS_STATS_ATTR_INPPS,
            OutPps(_) => IPVS_STATS_ATTR_OUTPPS,
            InBps(_) => IPVS_STATS_ATTR_INBPS,
            OutBps(_) => IPVS_STATS_ATTR_OUTBPS,
            Other(n) => n.kind(),
        }
    }
}

impl Nla for Wide<'_> {
    fn value_len(&self) -> usize {
        match self.attr {
            StatsAttr::Other(n) => n.value_len(),
            StatsAttr::InBytes(_) | StatsAttr::OutBytes(_) => 8,
            _ if self.wide => 8,
            _ => 4,
        }
    }
    fn kind(&self) -> u16 {
        self.attr.kind_of()
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match (self.attr, self.attr.value()) {
            (StatsAttr::Other(n), _) => n.emit_value(buf),
            (_, Some(v)) if self.value_len() == 8 => put(buf, &v.to_ne_bytes()),
            // The 32-bit set truncates like the kernel's (u32) casts.
            (_, Some(v)) => put(buf, &(v as u32).to_ne_bytes()),
            (_, None) => {}
        }
    }
}

impl StatsNest {
    /// Parse the payload of a stats nest.
    pub fn parse(payload: &[u8], wide: bool) -> Result<StatsNest, DecodeError> {
        let mut attrs = Vec::new();
        for nla in NlasIterator::new(payload) {
            let nla = nla?;
            attrs.push(parse_stat(&nla)?);
        }
        Ok(StatsNest { wide, attrs })
    }

    /// Bytes of the nest's payload.
    pub fn payload_len(&self) -> usize {
        self.attrs
            .iter()
            .map(|a| {
                Wide {
                    attr: a,
                    wide: self.wide,
                }
                .buffer_len()
            })
            .sum()
    }

    /// Write the nest's payload (`buf` sized by `payload_len`).
    pub fn emit_payload(&self, buf: &mut [u8]) {
        let mut off = 0;
        for a in &self.attrs {
            let s = Wide {
                attr: a,
                wide: self.wide,
            };
            let len = s.buffer_len();
            if let Some(dst) = buf.get_mut(off..off + len) {
                s.emit(dst);
            }
            off += len;
        }
    }

    /// The counters as the model's `Stats`.
    pub fn to_stats(&self) -> Stats {
        let mut s = Stats::default();
        for a in &self.attrs {
            match *a {
                StatsAttr::Conns(v) => s.conns = v,
                StatsAttr::InPkts(v) => s.inpkts = v,
                StatsAttr::OutPkts(v) => s.outpkts = v,
                StatsAttr::InBytes(v) => s.inbytes = v,
                StatsAttr::OutBytes(v) => s.outbytes = v,
                StatsAttr::Cps(v) => s.cps = v,
                StatsAttr::InPps(v) => s.inpps = v,
                StatsAttr::OutPps(v) => s.outpps = v,
                StatsAttr::InBps(v) => s.inbps = v,
                StatsAttr::OutBps(v) => s.outbps = v,
                StatsAttr::Other(_) => {}
            }
        }
        s
    }

    /// A nest holding every counter of `s`, in the kernel's order.
    pub fn from_stats(s: &Stats, wide: bool) -> StatsNest {
        StatsNest {
            wide,
            attrs: vec![
                StatsAttr::Conns(s.conns),
                StatsAttr::InPkts(s.inpkts),
                StatsAttr::OutPkts(s.outpkts),
                StatsAttr::InBytes(s.inbytes),
                StatsAttr::OutBytes(s.outbytes),
                StatsAttr::Cps(s.cps),
                StatsAttr::InPps(s.inpps),
                StatsAttr::OutPps(s.outpps),
                StatsAttr::InBps(s.inbps),
                StatsAttr::OutBps(s.outbps),
            ],
        }
    }
}

/// Decode a stats nest's payload straight into `Stats` (the listing path;
/// see `dest::dest_from_payload`). Equal to `StatsNest::parse(..)?.to_stats()`.
pub fn stats_from_payload(payload: &[u8]) -> Result<Stats, DecodeError> {
    let mut s = Stats::default();
    for nla in super::nla::attrs(payload) {
        let (kind, value) = nla?;
        let slot = match kind {
            IPVS_STATS_ATTR_CONNS => &mut s.conns,
            IPVS_STATS_ATTR_INPKTS => &mut s.inpkts,
            IPVS_STATS_ATTR_OUTPKTS => &mut s.outpkts,
            IPVS_STATS_ATTR_INBYTES => &mut s.inbytes,
            IPVS_STATS_ATTR_OUTBYTES => &mut s.outbytes,
            IPVS_STATS_ATTR_CPS => &mut s.cps,
            IPVS_STATS_ATTR_INPPS => &mut s.inpps,
            IPVS_STATS_ATTR_OUTPPS => &mut s.outpps,
            IPVS_STATS_ATTR_INBPS => &mut s.inbps,
            IPVS_STATS_ATTR_OUTBPS => &mut s.outbps,
            _ => continue,
        };
        *slot = counter(value, "stats counter")?;
    }
    Ok(s)
}

fn parse_stat(nla: &NlaBuffer<&[u8]>) -> Result<StatsAttr, DecodeError> {
    let p = nla.value();
    let w = "stats counter";
    Ok(match nla.kind() {
        IPVS_STATS_ATTR_CONNS => StatsAttr::Conns(counter(p, w)?),
        IPVS_STATS_ATTR_INPKTS => StatsAttr::InPkts(counter(p, w)?),
        IPVS_STATS_ATTR_OUTPKTS => StatsAttr::OutPkts(counter(p, w)?),
        IPVS_STATS_ATTR_INBYTES => StatsAttr::InBytes(counter(p, w)?),
        IPVS_STATS_ATTR_OUTBYTES => StatsAttr::OutBytes(counter(p, w)?),
        IPVS_STATS_ATTR_CPS => StatsAttr::Cps(counter(p, w)?),
        IPVS_STATS_ATTR_INPPS => StatsAttr::InPps(counter(p, w)?),
        IPVS_STATS_ATTR_OUTPPS => StatsAttr::OutPps(counter(p, w)?),
        IPVS_STATS_ATTR_INBPS => StatsAttr::InBps(counter(p, w)?),
        IPVS_STATS_ATTR_OUTBPS => StatsAttr::OutBps(counter(p, w)?),
        _ => StatsAttr::Other(DefaultNla::parse(nla)?),
    })
}
