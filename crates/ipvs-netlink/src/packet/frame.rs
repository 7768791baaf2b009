//! Netlink framing for IPVS requests and replies (netlink header, genl
//! header, attributes), and the walk over a receive buffer that holds
//! several messages (a dump part, or many acks of a batch).

use netlink_packet_core::{
    DecodeError, Emitable, NetlinkBuffer, ParseableParametrized, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlMessage};

use super::IpvsMessage;

/// `NLMSG_ERROR`: an ack (code 0) or an error.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: end of a dump.
const NLMSG_DONE: u16 = 3;
/// `NLMSG_NOOP`.
const NLMSG_NOOP: u16 = 1;
/// `NLMSG_OVERRUN`.
const NLMSG_OVERRUN: u16 = 4;
/// `GENL_ID_CTRL`: the fixed id of the nlctrl family.
const GENL_ID_CTRL: u16 = 0x10;
/// Size of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;

/// Flags of a change request: `NLM_F_REQUEST | NLM_F_ACK` (ipvsadm's 0x5).
pub const FLAGS_CHANGE: u16 = NLM_F_REQUEST | NLM_F_ACK;
/// Flags of a change request that wants no ack: the kernel then answers
/// only if it fails. A batch asks for an ack on its last request alone.
pub const FLAGS_CHANGE_QUIET: u16 = NLM_F_REQUEST;
/// Flags of a dump request: ipvsadm's 0x305 (`REQUEST | ACK | DUMP`).
pub const FLAGS_DUMP: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;

fn push_frame<F>(out: &mut Vec<u8>, family: u16, flags: u16, seq: u32, genl: &GenlMessage<F>)
where
    F: GenlFamily + Emitable + std::fmt::Debug,
{
    let body = genl.buffer_len();
    let len = NLMSG_HDRLEN + body;
    let start = out.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&family.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    // Port 0: the kernel fills in the sender's port id.
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.resize(start + len, 0);
    if let Some(dst) = out.get_mut(start + NLMSG_HDRLEN..) {
        genl.emit(dst);
    }
    // Messages in one buffer start 4-aligned (NLMSG_ALIGN); attribute
    // payloads already keep it so, this is a guard.
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Append one IPVS request to `out`.
pub fn push_request(out: &mut Vec<u8>, family: u16, flags: u16, seq: u32, msg: IpvsMessage) {
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family);
    push_frame(out, family, flags, seq, &genl);
}

/// Append a `CTRL_CMD_GETFAMILY` request for `name` to `out`.
pub fn push_family_request(out: &mut Vec<u8>, seq: u32, name: &str) {
    let genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
    });
    push_frame(out, GENL_ID_CTRL, FLAGS_CHANGE, seq, &genl);
}

/// One message of a receive buffer; `M` is what an IPVS data message
/// decodes to (the typed `IpvsMessage` unless a caller decodes straight
/// into the model, see `parse_replies_with`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<M = IpvsMessage> {
    /// An IPVS data message (dump part or get reply).
    Data {
        /// Sequence number it answers.
        seq: u32,
        /// Whether `NLM_F_MULTI` is set (part of a dump).
        multi: bool,
        /// The message.
        msg: M,
    },
    /// A nlctrl reply carrying a family id.
    Family {
        /// Sequence number.
        seq: u32,
        /// The resolved id, if the reply had one.
        id: Option<u16>,
    },
    /// `NLMSG_ERROR` with code 0: success of the request `seq`.
    Ack {
        /// Sequence number.
        seq: u32,
    },
    /// `NLMSG_ERROR` with a negative code: `errno` is positive.
    Error {
        /// Sequence number.
        seq: u32,
        /// Positive errno.
        errno: i32,
    },
    /// `NLMSG_DONE`; `errno` is nonzero when the dump itself failed.
    Done {
        /// Sequence number.
        seq: u32,
        /// Positive errno, 0 on success.
        errno: i32,
    },
    /// `NLMSG_OVERRUN`: the kernel dropped data.
    Overrun {
        /// Sequence number.
        seq: u32,
    },
    /// `NLMSG_NOOP` or another type this client never asked for.
    Ignored {
        /// Sequence number.
        seq: u32,
    },
}

fn code(payload: &[u8]) -> i32 {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .unwrap_or(0)
}

/// Walk every message in `buf`; `ipvs_family` tells IPVS data apart from
/// nlctrl replies. A malformed message ends the walk with an error.
pub fn parse_replies(buf: &[u8], ipvs_family: u16) -> Result<Vec<Reply>, DecodeError> {
    parse_replies_with(buf, ipvs_family, &mut decode_typed)
}

/// The typed decoder of one IPVS data message (a [`DecodeFn`]): its generic
/// netlink payload and message type as an `IpvsMessage`.
pub fn decode_typed(payload: &[u8], ty: u16) -> Result<IpvsMessage, DecodeError> {
    Ok(GenlMessage::<IpvsMessage>::parse_with_param(payload, ty)?.payload)
}

/// Decodes one IPVS data message: its generic netlink payload (genl header
/// + attributes) and its message type.
pub type DecodeFn<'a, M> = dyn FnMut(&[u8], u16) -> Result<M, DecodeError> + 'a;

/// `parse_replies` with the IPVS data messages decoded by `decode`, which
/// gets the generic netlink payload (genl header + attributes) and the
/// message type.
pub fn parse_replies_with<M>(
    buf: &[u8],
    ipvs_family: u16,
    decode: &mut DecodeFn<'_, M>,
) -> Result<Vec<Reply<M>>, DecodeError> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off + NLMSG_HDRLEN <= buf.len() {
        let rest = buf.get(off..).unwrap_or_default();
        let nl = NetlinkBuffer::new_checked(rest)?;
        let len = nl.length() as usize;
        let seq = nl.sequence_number();
        let ty = nl.message_type();
        let payload = nl.payload();
        out.push(match ty {
            NLMSG_ERROR => match code(payload) {
                0 => Reply::Ack { seq },
                c => Reply::Error {
                    seq,
                    errno: c.saturating_neg(),
                },
            },
            NLMSG_DONE => Reply::Done {
                seq,
                errno: code(payload).saturating_neg(),
            },
            NLMSG_OVERRUN => Reply::Overrun { seq },
            NLMSG_NOOP => Reply::Ignored { seq },
            GENL_ID_CTRL => Reply::Family {
                seq,
                id: ctrl_family_id(payload)?,
            },
            t if t == ipvs_family && ipvs_family != 0 => Reply::Data {
                seq,
                // NLM_F_MULTI
                multi: nl.flags() & 2 != 0,
                msg: decode(payload, ty)?,
            },
            _ => Reply::Ignored { seq },
        });
        // NLMSG_ALIGN(len); a zero length would loop forever.
        let step = (len + 3) & !3;
        if step == 0 {
            return Err(DecodeError::from("netlink message of length 0"));
        }
        off += step;
    }
    Ok(out)
}

/// `CTRL_ATTR_FAMILY_ID` of an nlctrl answer (after the 4-byte generic
/// header). Read by hand rather than through netlink-packet-generic's
/// `GenlCtrl`: that parser decodes every attribute, policy ones included,
/// and panics on a truncated nested attribute (found by the
/// `netlink_replies` fuzz target); only the family id is needed here.
fn ctrl_family_id(payload: &[u8]) -> Result<Option<u16>, DecodeError> {
    const CTRL_ATTR_FAMILY_ID: u16 = 1;
    // The type's top two bits are the nested / byte-order flags.
    const NLA_TYPE_MASK: u16 = 0x3fff;
    let mut rest = payload
        .get(4..)
        .ok_or_else(|| DecodeError::from("nlctrl message shorter than its header"))?;
    while let [l0, l1, t0, t1, ..] = *rest {
        let len = usize::from(u16::from_ne_bytes([l0, l1]));
        let kind = u16::from_ne_bytes([t0, t1]) & NLA_TYPE_MASK;
        let value = rest
            .get(4..len)
            .ok_or_else(|| DecodeError::from("nlctrl attribute length out of bounds"))?;
        if kind == CTRL_ATTR_FAMILY_ID {
            return match value {
                [a, b, ..] => Ok(Some(u16::from_ne_bytes([*a, *b]))),
                _ => Err(DecodeError::from("nlctrl family id shorter than 2 bytes")),
            };
        }
        // NLA_ALIGN(len); len >= 4 here, so the walk always advances.
        let step = (len + 3) & !3;
        rest = rest.get(step..).unwrap_or_default();
    }
    Ok(None)
}
