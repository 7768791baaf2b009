//! The IPVS generic netlink family ("IPVS", version 1): commands, the
//! top-level attributes and the nested service, destination, daemon and
//! stats attributes of `linux/ip_vs.h`, as typed values that parse from
//! and emit to the exact bytes the kernel and ipvsadm exchange.
//!
//! Shaped like netlink-packet-generic's `ctrl/`: [`IpvsMessage`] is a
//! `GenlFamily` payload, each attribute enum ends in `Other(DefaultNla)`
//! so a newer kernel's attributes are kept, not refused.
//! Pure encode/decode: no sockets here, and no panic on any input (the
//! fuzz target `netlink_replies` holds the decoders to that).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod daemon;
mod dest;
mod encode;
mod frame;
mod nla;
mod service;
mod stats;

#[cfg(test)]
mod tests;

pub use daemon::{daemon_attrs, daemon_from_attrs, daemon_stop_attrs, DaemonAttr};
pub use dest::{dest_attrs, dest_from_attrs, dest_from_payload, dest_key_attrs, DestAttr};
pub use encode::push_operation;
pub use frame::{
    decode_typed, parse_replies, parse_replies_with, push_family_request, push_request, DecodeFn,
    Reply, FLAGS_CHANGE, FLAGS_CHANGE_QUIET, FLAGS_DUMP,
};
pub use service::{
    service_attrs, service_from_attrs, service_from_payload, service_key_attrs, ServiceAttr,
};
pub use stats::{StatsAttr, StatsNest};

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable,
    ParseableParametrized, NLA_F_NESTED,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use self::nla::{put, u32_ne};
use crate::{Daemon, DaemonState, Destination, Info, Service, ServiceKey, Timeouts};
use crate::{IpvsCmd, Operation};

/// The real server of a destination reply, decoded from the generic
/// netlink payload (genl header + attributes) without building an
/// `IpvsMessage`: the listing fast path (see `dest_from_payload`).
pub fn dest_from_genl(
    genl_payload: &[u8],
    svc_family: crate::Family,
) -> Result<Destination, DecodeError> {
    let nest = first_nest(genl_payload, IPVS_CMD_ATTR_DEST, "destination")?;
    dest_from_payload(nest, svc_family).context("in IPVS_CMD_ATTR_DEST")
}

/// The service of a service reply, decoded from the generic netlink
/// payload without building an `IpvsMessage` (see `service_from_payload`).
pub fn service_from_genl(genl_payload: &[u8]) -> Result<Service, DecodeError> {
    let nest = first_nest(genl_payload, IPVS_CMD_ATTR_SERVICE, "service")?;
    service_from_payload(nest).context("in IPVS_CMD_ATTR_SERVICE")
}

/// The payload of the first top-level attribute of type `kind` (`what`
/// names it in the error when there is none).
fn first_nest<'a>(genl_payload: &'a [u8], kind: u16, what: &str) -> Result<&'a [u8], DecodeError> {
    let attrs = genl_payload
        .get(4..)
        .ok_or_else(|| DecodeError::from("generic netlink message shorter than its header"))?;
    for nla in nla::attrs(attrs) {
        let (k, value) = nla?;
        if k == kind {
            return Ok(value);
        }
    }
    Err(DecodeError::from(format!("reply without {what} attribute")))
}

/// `IPVS_GENL_NAME`.
pub const IPVS_GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`.
pub const IPVS_GENL_VERSION: u8 = 1;

const IPVS_CMD_ATTR_SERVICE: u16 = 1;
const IPVS_CMD_ATTR_DEST: u16 = 2;
const IPVS_CMD_ATTR_DAEMON: u16 = 3;
const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;
const IPVS_INFO_ATTR_VERSION: u16 = 1;
const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

/// A top-level attribute of an IPVS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsAttr {
    /// `IPVS_CMD_ATTR_SERVICE`, nested.
    Service(Vec<ServiceAttr>),
    /// `IPVS_CMD_ATTR_DEST`, nested.
    Dest(Vec<DestAttr>),
    /// `IPVS_CMD_ATTR_DAEMON`, nested.
    Daemon(Vec<DaemonAttr>),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP`, seconds.
    TimeoutTcp(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN`, seconds.
    TimeoutTcpFin(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP`, seconds.
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION` (info reply only).
    InfoVersion(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (info reply only).
    InfoConnTabSize(u32),
    /// Unknown attribute, kept.
    Other(DefaultNla),
}

fn nested_len<T: Nla>(v: &[T]) -> usize {
    v.iter().map(|a| a.buffer_len()).sum()
}

fn emit_nested<T: Nla>(v: &[T], buf: &mut [u8]) {
    let mut off = 0;
    for a in v {
        let len = a.buffer_len();
        if let Some(dst) = buf.get_mut(off..off + len) {
            a.emit(dst);
        }
        off += len;
    }
}

impl Nla for IpvsAttr {
    fn value_len(&self) -> usize {
        use IpvsAttr::*;
        match self {
            Service(v) => nested_len(v),
            Dest(v) => nested_len(v),
            Daemon(v) => nested_len(v),
            TimeoutTcp(_) | TimeoutTcpFin(_) | TimeoutUdp(_) | InfoVersion(_)
            | InfoConnTabSize(_) => 4,
            Other(n) => n.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use IpvsAttr::*;
        // Nests are flagged NLA_F_NESTED, as libnl (hence ipvsadm) sends
        // them; the kernel accepts both, and replies without the flag.
        match self {
            Service(_) => IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED,
            Dest(_) => IPVS_CMD_ATTR_DEST | NLA_F_NESTED,
            Daemon(_) => IPVS_CMD_ATTR_DAEMON | NLA_F_NESTED,
            TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            InfoVersion(_) => IPVS_INFO_ATTR_VERSION,
            InfoConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            Other(n) => n.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use IpvsAttr::*;
        match self {
            Service(v) => emit_nested(v, buf),
            Dest(v) => emit_nested(v, buf),
            Daemon(v) => emit_nested(v, buf),
            TimeoutTcp(v) | TimeoutTcpFin(v) | TimeoutUdp(v) | InfoVersion(v)
            | InfoConnTabSize(v) => put(buf, &v.to_ne_bytes()),
            Other(n) => n.emit_value(buf),
        }
    }
}

impl IpvsAttr {
    fn parse_in(nla: &NlaBuffer<&[u8]>, cmd: IpvsCmd) -> Result<IpvsAttr, DecodeError> {
        let p = nla.value();
        if cmd.carries_info() {
            return Ok(match nla.kind() {
                IPVS_INFO_ATTR_VERSION => IpvsAttr::InfoVersion(u32_ne(p, "info version")?),
                IPVS_INFO_ATTR_CONN_TAB_SIZE => {
                    IpvsAttr::InfoConnTabSize(u32_ne(p, "info conn_tab_size")?)
                }
                _ => IpvsAttr::Other(DefaultNla::parse(nla)?),
            });
        }
        Ok(match nla.kind() {
            IPVS_CMD_ATTR_SERVICE => IpvsAttr::Service(
                service::parse_service_attrs(p).context("in IPVS_CMD_ATTR_SERVICE")?,
            ),
            IPVS_CMD_ATTR_DEST => {
                IpvsAttr::Dest(dest::parse_dest_attrs(p).context("in IPVS_CMD_ATTR_DEST")?)
            }
            IPVS_CMD_ATTR_DAEMON => {
                IpvsAttr::Daemon(daemon::parse_daemon_attrs(p).context("in IPVS_CMD_ATTR_DAEMON")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP => IpvsAttr::TimeoutTcp(u32_ne(p, "timeout tcp")?),
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => IpvsAttr::TimeoutTcpFin(u32_ne(p, "timeout tcpfin")?),
            IPVS_CMD_ATTR_TIMEOUT_UDP => IpvsAttr::TimeoutUdp(u32_ne(p, "timeout udp")?),
            _ => IpvsAttr::Other(DefaultNla::parse(nla)?),
        })
    }
}

/// One IPVS generic netlink message (request or reply payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command.
    pub cmd: IpvsCmd,
    /// Top-level attributes in wire order.
    pub attrs: Vec<IpvsAttr>,
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.number()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        nested_len(&self.attrs)
    }

    fn emit(&self, buffer: &mut [u8]) {
        emit_nested(&self.attrs, buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from_number(header.cmd);
        let attrs = NlasIterator::new(buf)
            .map(|nla| nla.and_then(|nla| IpvsAttr::parse_in(&nla, cmd)))
            .collect::<Result<Vec<_>, _>>()
            .context(format!(
                "failed to parse IPVS command {} attributes",
                header.cmd
            ))?;
        Ok(IpvsMessage { cmd, attrs })
    }
}

impl IpvsMessage {
    fn new(cmd: IpvsCmd, attrs: Vec<IpvsAttr>) -> IpvsMessage {
        IpvsMessage { cmd, attrs }
    }

    /// The request that carries `op`, byte-identical to ipvsadm 1.31's.
    pub fn request(op: &Operation) -> IpvsMessage {
        match op {
            Operation::AddService(s) => IpvsMessage::new_service(s),
            Operation::EditService(s) => IpvsMessage::set_service(s),
            Operation::DelService(k) => IpvsMessage::del_service(k),
            Operation::Flush => IpvsMessage::flush(),
            Operation::AddDest(k, r) => IpvsMessage::new_dest(k, r),
            Operation::EditDest(k, r) => IpvsMessage::set_dest(k, r),
            Operation::DelDest(k, a, p) => IpvsMessage::del_dest(k, *a, *p),
            Operation::Zero(k) => IpvsMessage::zero(k.as_ref()),
            Operation::SetTimeouts(t) => IpvsMessage::set_config(t),
            Operation::StartDaemon(d) => IpvsMessage::new_daemon(d),
            Operation::StopDaemon(s) => IpvsMessage::del_daemon(*s),
        }
    }

    /// `ipvsadm -A`.
    pub fn new_service(svc: &Service) -> IpvsMessage {
        Self::new(
            IpvsCmd::NewService,
            vec![IpvsAttr::Service(service_attrs(svc))],
        )
    }

    /// `ipvsadm -E`.
    pub fn set_service(svc: &Service) -> IpvsMessage {
        Self::new(
            IpvsCmd::SetService,
            vec![IpvsAttr::Service(service_attrs(svc))],
        )
    }

    /// `ipvsadm -D`.
    pub fn del_service(key: &ServiceKey) -> IpvsMessage {
        Self::new(
            IpvsCmd::DelService,
            vec![IpvsAttr::Service(service_key_attrs(key))],
        )
    }

    /// Get one service.
    pub fn get_service(key: &ServiceKey) -> IpvsMessage {
        Self::new(
            IpvsCmd::GetService,
            vec![IpvsAttr::Service(service_key_attrs(key))],
        )
    }

    /// Dump all services (send with `NLM_F_DUMP`).
    pub fn get_services() -> IpvsMessage {
        Self::new(IpvsCmd::GetService, vec![])
    }

    /// `ipvsadm -a`.
    pub fn new_dest(key: &ServiceKey, rs: &Destination) -> IpvsMessage {
        Self::new(
            IpvsCmd::NewDest,
            vec![
                IpvsAttr::Service(service_key_attrs(key)),
                IpvsAttr::Dest(dest_attrs(rs)),
            ],
        )
    }

    /// `ipvsadm -e`.
    pub fn set_dest(key: &ServiceKey, rs: &Destination) -> IpvsMessage {
        Self::new(
            IpvsCmd::SetDest,
            vec![
                IpvsAttr::Service(service_key_attrs(key)),
                IpvsAttr::Dest(dest_attrs(rs)),
            ],
        )
    }

    /// `ipvsadm -d`.
    pub fn del_dest(key: &ServiceKey, addr: std::net::IpAddr, port: u16) -> IpvsMessage {
        Self::new(
            IpvsCmd::DelDest,
            vec![
                IpvsAttr::Service(service_key_attrs(key)),
                IpvsAttr::Dest(dest_key_attrs(addr, port)),
            ],
        )
    }

    /// Dump the real servers of a service (send with `NLM_F_DUMP`).
    pub fn get_dests(key: &ServiceKey) -> IpvsMessage {
        Self::new(
            IpvsCmd::GetDest,
            vec![IpvsAttr::Service(service_key_attrs(key))],
        )
    }

    /// `ipvsadm -Z [service]`.
    pub fn zero(key: Option<&ServiceKey>) -> IpvsMessage {
        let attrs = match key {
            Some(k) => vec![IpvsAttr::Service(service_key_attrs(k))],
            None => vec![],
        };
        Self::new(IpvsCmd::Zero, attrs)
    }

    /// `ipvsadm -C`.
    pub fn flush() -> IpvsMessage {
        Self::new(IpvsCmd::Flush, vec![])
    }

    /// `ipvsadm --set tcp tcpfin udp`.
    pub fn set_config(t: &Timeouts) -> IpvsMessage {
        Self::new(
            IpvsCmd::SetConfig,
            vec![
                IpvsAttr::TimeoutTcp(t.tcp),
                IpvsAttr::TimeoutTcpFin(t.tcp_fin),
                IpvsAttr::TimeoutUdp(t.udp),
            ],
        )
    }

    /// `ipvsadm -L --timeout`.
    pub fn get_config() -> IpvsMessage {
        Self::new(IpvsCmd::GetConfig, vec![])
    }

    /// `IPVS_CMD_GET_INFO`.
    pub fn get_info() -> IpvsMessage {
        Self::new(IpvsCmd::GetInfo, vec![])
    }

    /// `ipvsadm --start-daemon`.
    pub fn new_daemon(d: &Daemon) -> IpvsMessage {
        Self::new(IpvsCmd::NewDaemon, vec![IpvsAttr::Daemon(daemon_attrs(d))])
    }

    /// `ipvsadm --stop-daemon`.
    pub fn del_daemon(state: DaemonState) -> IpvsMessage {
        Self::new(
            IpvsCmd::DelDaemon,
            vec![IpvsAttr::Daemon(daemon_stop_attrs(state))],
        )
    }

    /// Dump the sync daemons (send with `NLM_F_DUMP`).
    pub fn get_daemons() -> IpvsMessage {
        Self::new(IpvsCmd::GetDaemon, vec![])
    }

    /// The service of a service reply.
    pub fn to_service(&self) -> Result<Service, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                IpvsAttr::Service(v) => Some(service_from_attrs(v)),
                _ => None,
            })
            .unwrap_or_else(|| Err(DecodeError::from("reply without service attribute")))
    }

    /// The real server of a destination reply (`svc_family` for kernels
    /// that do not send the real's own family).
    pub fn to_dest(&self, svc_family: crate::Family) -> Result<Destination, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                IpvsAttr::Dest(v) => Some(dest_from_attrs(v, svc_family)),
                _ => None,
            })
            .unwrap_or_else(|| Err(DecodeError::from("reply without destination attribute")))
    }

    /// The daemon of a daemon reply.
    pub fn to_daemon(&self) -> Result<Daemon, DecodeError> {
        self.attrs
            .iter()
            .find_map(|a| match a {
                IpvsAttr::Daemon(v) => Some(daemon_from_attrs(v)),
                _ => None,
            })
            .unwrap_or_else(|| Err(DecodeError::from("reply without daemon attribute")))
    }

    /// The timeouts of a config reply (missing ones read as 0).
    pub fn to_timeouts(&self) -> Timeouts {
        let mut t = Timeouts::default();
        for a in &self.attrs {
            match a {
                IpvsAttr::TimeoutTcp(v) => t.tcp = *v,
                IpvsAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
                IpvsAttr::TimeoutUdp(v) => t.udp = *v,
                _ => {}
            }
        }
        t
    }

    /// The version info of an info reply.
    pub fn to_info(&self) -> Result<Info, DecodeError> {
        let (mut version, mut size) = (None, None);
        for a in &self.attrs {
            match a {
                IpvsAttr::InfoVersion(v) => version = Some(*v),
                IpvsAttr::InfoConnTabSize(v) => size = Some(*v),
                _ => {}
            }
        }
        match (version, size) {
            (Some(version), Some(conn_tab_size)) => Ok(Info {
                version,
                conn_tab_size,
            }),
            _ => Err(DecodeError::from(
                "info reply without version or table size",
            )),
        }
    }
}
