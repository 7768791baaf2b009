//! dns (Net::DNS `search`): query `request` (leading `/` removed; an IP
//! address makes it a PTR query) at RIP:checkport, over TCP if the virtual is
//! TCP else UDP. Up iff some answer is an A record whose address matches
//! `receive`, or a PTR whose name matches it. Empty `receive` is always down
//! (as ldirectord); AAAA answers never match.

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{receive_matches, request_body};
use crate::check::spec::{CheckSpec, Protocol, Target};
use crate::check::{CheckError, CheckResult};

/// The query message for `request`.
pub fn query(request: &str, id: u16) -> Result<Message, CheckError> {
    let (name, rtype) = match request.parse::<IpAddr>() {
        Ok(ip) => (Name::from(ip), RecordType::PTR),
        Err(_) => {
            let mut n = Name::from_ascii(request)
                .map_err(|e| CheckError::Config(format!("bad DNS name {request:?}: {e}")))?;
            n.set_fqdn(true);
            (n, RecordType::A)
        }
    };
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, rtype));
    Ok(m)
}

/// Whether an answer satisfies `receive`; returns the matching value.
pub fn judge(answer: &Message, receive: &str) -> Result<Option<String>, CheckError> {
    if receive.is_empty() {
        return Ok(None);
    }
    for rr in answer.answers() {
        let text = match rr.data() {
            RData::A(a) => a.0.to_string(),
            RData::PTR(p) => {
                let s = p.0.to_string();
                s.strip_suffix('.').unwrap_or(&s).to_string()
            }
            _ => continue,
        };
        if receive_matches(receive, &text)? {
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// Run a DNS check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let addr = target.check_addr(spec);
    let id: u16 = rand::random();
    let msg = query(request_body(spec), id)?;
    let wire = msg
        .to_vec()
        .map_err(|e| CheckError::Config(format!("cannot encode DNS query: {e}")))?;
    let reply = if spec.protocol == Protocol::Tcp {
        let mut s = crate::check::connect::tcp_untimed(addr, true).await?;
        let mut framed = (wire.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&wire);
        s.write_all(&framed).await.map_err(CheckError::from_io)?;
        let len = s.read_u16().await.map_err(CheckError::from_io)?;
        let mut buf = vec![0u8; len as usize];
        s.read_exact(&mut buf).await.map_err(CheckError::from_io)?;
        buf
    } else {
        let sock = crate::check::connect::udp(addr).await?;
        sock.send(&wire).await.map_err(CheckError::from_io)?;
        let mut buf = vec![0u8; 65535];
        loop {
            let n = sock.recv(&mut buf).await.map_err(CheckError::from_io)?;
            // Skip stray datagrams that are not the answer to this query.
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                buf.truncate(n);
                break buf;
            }
        }
    };
    let answer = Message::from_vec(&reply)
        .map_err(|e| CheckError::Mismatch(format!("not a DNS answer: {e}")))?;
    match judge(&answer, &spec.receive)? {
        Some(v) => Ok(format!("answer {v}")),
        None => Err(CheckError::Mismatch(format!(
            "no A/PTR answer matches receive {:?} (rcode {}, {} answers)",
            spec.receive,
            answer.response_code(),
            answer.answers().len()
        ))),
    }
}
