//! ldap and ldaps (Net::LDAP): bind (simple with login/passwd when both
//! are set, else anonymous), then a base-scope search of `request` (leading
//! `/` removed; empty = root DSE) with `(objectClass=*)`. Up iff exactly one
//! entry comes back and its DN matches `receive` (or `receive` is empty).
//!
//! The two LDAP operations are written by hand (BER of one BindRequest and
//! one SearchRequest, decoding of their responses) rather than with the
//! ldap3 crate: ldap3 0.12 opens its own socket and accepts no caller
//! stream, so its reads could not be counted against the check's read
//! budget ([`crate::check::limit`]), and it buffers a whole message of any
//! announced length. Here every read goes through [`super::wrap`], and every
//! BER length is checked against what is left of the message (and the
//! message length against [`MAX_READ`]) before anything is allocated.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{receive_matches, request_body, show, tls, Io};
use crate::check::limit::MAX_READ;
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// Run an LDAP check.
pub async fn check(spec: &CheckSpec, target: &Target, ldaps: bool) -> CheckResult {
    let addr = target.check_addr(spec);
    // Connect, TLS and the exchange all run inside the check's future, under
    // its deadline: a timeout drops the socket with it.
    let tcp = super::wrap(crate::check::connect::tcp_untimed(addr, true).await?);
    let mut io: Box<dyn Io> = if ldaps {
        Box::new(tls::connect(tcp, target.real).await?)
    } else {
        Box::new(tcp)
    };
    let (dn, pw) = if !spec.login.is_empty() && !spec.passwd.is_empty() {
        (spec.login.as_str(), spec.passwd.as_str())
    } else {
        ("", "")
    };
    send(&mut io, &bind_request(1, dn, pw)).await?;
    let (id, op, body) = read_message(&mut io).await?;
    expect_id(id, 1)?;
    if op != OP_BIND_RESPONSE {
        return Err(unexpected(op));
    }
    let r = LdapResult::parse(&body)?;
    if r.code != 0 {
        return Err(CheckError::Mismatch(format!("bind failed: {r}")));
    }

    let base = request_body(spec);
    send(&mut io, &search_request(2, base)).await?;
    // Entries are counted, not kept: only the first DN matters.
    let mut entries = 0u64;
    let mut first_dn = String::new();
    loop {
        let (id, op, body) = read_message(&mut io).await?;
        expect_id(id, 2)?;
        match op {
            OP_SEARCH_ENTRY => {
                if entries == 0 {
                    let mut r = Ber(&body);
                    first_dn = String::from_utf8_lossy(r.take(TAG_OCTETS)?).into_owned();
                }
                entries += 1;
            }
            // Continuation references (referrals) are not entries.
            OP_SEARCH_REFERENCE => {}
            OP_SEARCH_DONE => {
                let r = LdapResult::parse(&body)?;
                if r.code != 0 {
                    return Err(CheckError::Mismatch(format!(
                        "search of {base:?} failed: {r}"
                    )));
                }
                break;
            }
            other => return Err(unexpected(other)),
        }
    }
    if entries != 1 {
        return Err(CheckError::Mismatch(format!(
            "search returned {entries} entries, expected 1"
        )));
    }
    if receive_matches(&spec.receive, &first_dn)? {
        Ok(format!("found {first_dn:?}"))
    } else {
        Err(CheckError::Mismatch(format!(
            "DN {first_dn:?} does not match receive {:?}",
            spec.receive
        )))
    }
}

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTETS: u8 = 0x04;
const TAG_ENUM: u8 = 0x0a;
const TAG_SEQUENCE: u8 = 0x30;
const OP_BIND_REQUEST: u8 = 0x60;
const OP_BIND_RESPONSE: u8 = 0x61;
const OP_SEARCH_REQUEST: u8 = 0x63;
const OP_SEARCH_ENTRY: u8 = 0x64;
const OP_SEARCH_DONE: u8 = 0x65;
const OP_SEARCH_REFERENCE: u8 = 0x73;

fn unexpected(op: u8) -> CheckError {
    CheckError::Protocol(format!("unexpected LDAP message (tag {op:#04x})"))
}

fn expect_id(id: i64, want: i64) -> Result<(), CheckError> {
    if id == want {
        Ok(())
    } else if id == 0 {
        // An unsolicited notification: the server is dropping us.
        Err(CheckError::Closed(" (LDAP notice of disconnection)".into()))
    } else {
        Err(CheckError::Protocol(format!(
            "LDAP answer to message {id}, expected {want}"
        )))
    }
}

async fn send<S: AsyncWrite + Unpin>(io: &mut S, msg: &[u8]) -> Result<(), CheckError> {
    io.write_all(msg).await.map_err(CheckError::from_io)?;
    io.flush().await.map_err(CheckError::from_io)
}

/// Append a BER length.
fn put_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// One BER element of `tag` around `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    put_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A small non-negative INTEGER or ENUMERATED.
fn small_int(tag: u8, v: u8) -> Vec<u8> {
    if v < 0x80 {
        vec![tag, 1, v]
    } else {
        vec![tag, 2, 0, v]
    }
}

fn message(id: u8, op: Vec<u8>) -> Vec<u8> {
    let mut c = small_int(TAG_INTEGER, id);
    c.extend(op);
    tlv(TAG_SEQUENCE, &c)
}

/// LDAPv3 simple BindRequest (RFC 4511 4.2).
fn bind_request(id: u8, dn: &str, pw: &str) -> Vec<u8> {
    let mut c = small_int(TAG_INTEGER, 3);
    c.extend(tlv(TAG_OCTETS, dn.as_bytes()));
    // authentication: simple [0] OCTET STRING
    c.extend(tlv(0x80, pw.as_bytes()));
    message(id, tlv(OP_BIND_REQUEST, &c))
}

/// Base-scope SearchRequest for `(objectClass=*)` asking for no attributes
/// ("1.1"), as Net::LDAP's check in ldirectord (RFC 4511 4.5.1).
fn search_request(id: u8, base: &str) -> Vec<u8> {
    let mut c = tlv(TAG_OCTETS, base.as_bytes());
    c.extend(small_int(TAG_ENUM, 0)); // scope baseObject
    c.extend(small_int(TAG_ENUM, 0)); // derefAliases never
    c.extend(small_int(TAG_INTEGER, 0)); // sizeLimit
    c.extend(small_int(TAG_INTEGER, 0)); // timeLimit
    c.extend([0x01, 1, 0]); // typesOnly FALSE
    c.extend(tlv(0x87, b"objectClass")); // filter: present [7]
    c.extend(tlv(TAG_SEQUENCE, &tlv(TAG_OCTETS, b"1.1")));
    message(id, tlv(OP_SEARCH_REQUEST, &c))
}

/// Read one BER length from the stream.
async fn read_len<S: AsyncRead + Unpin>(io: &mut S) -> Result<u64, CheckError> {
    let first = io.read_u8().await.map_err(CheckError::from_io)?;
    if first < 0x80 {
        return Ok(u64::from(first));
    }
    let n = first & 0x7f;
    if n == 0 || n > 8 {
        return Err(CheckError::Protocol(format!(
            "bad BER length in LDAP message ({first:#04x})"
        )));
    }
    let mut len = 0u64;
    for _ in 0..n {
        len = len << 8 | u64::from(io.read_u8().await.map_err(CheckError::from_io)?);
    }
    Ok(len)
}

/// Read one LDAPMessage: (messageID, protocolOp tag, protocolOp content).
async fn read_message<S: AsyncRead + Unpin>(io: &mut S) -> Result<(i64, u8, Vec<u8>), CheckError> {
    let tag = io.read_u8().await.map_err(CheckError::from_io)?;
    if tag != TAG_SEQUENCE {
        return Err(CheckError::Protocol(format!(
            "not an LDAP message (tag {tag:#04x})"
        )));
    }
    let len = read_len(io).await?;
    // A message longer than the whole read budget can never be read: say so
    // now instead of reading MAX_READ bytes of it first.
    if len > MAX_READ {
        return Err(CheckError::TooLong(MAX_READ));
    }
    // Grown as bytes arrive, never allocated from the announced length.
    let mut buf = Vec::new();
    let got = io
        .take(len)
        .read_to_end(&mut buf)
        .await
        .map_err(CheckError::from_io)?;
    if got as u64 != len {
        return Err(CheckError::Closed(
            " in the middle of an LDAP message".into(),
        ));
    }
    let mut r = Ber(&buf);
    let id = r.int()?;
    let (op, body) = r.any()?;
    Ok((id, op, body.to_vec()))
}

/// A reader of BER elements in a byte slice; every length is checked
/// against what is left.
struct Ber<'a>(&'a [u8]);

impl<'a> Ber<'a> {
    fn bad(what: &str) -> CheckError {
        CheckError::Protocol(format!("malformed LDAP message ({what})"))
    }

    /// The next element: its tag and content.
    fn any(&mut self) -> Result<(u8, &'a [u8]), CheckError> {
        let (&tag, rest) = self.0.split_first().ok_or_else(|| Self::bad("truncated"))?;
        let (&first, mut rest) = rest.split_first().ok_or_else(|| Self::bad("truncated"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 8 || n > rest.len() {
                return Err(Self::bad("length"));
            }
            let mut len = 0u64;
            for b in &rest[..n] {
                len = len << 8 | u64::from(*b);
            }
            rest = &rest[n..];
            usize::try_from(len).map_err(|_| Self::bad("length"))?
        };
        if len > rest.len() {
            return Err(Self::bad("length beyond the message"));
        }
        let (content, after) = rest.split_at(len);
        self.0 = after;
        Ok((tag, content))
    }

    /// The next element, which must have `tag`.
    fn take(&mut self, tag: u8) -> Result<&'a [u8], CheckError> {
        let (t, c) = self.any()?;
        if t == tag {
            Ok(c)
        } else {
            Err(Self::bad("unexpected element"))
        }
    }

    /// An INTEGER or ENUMERATED (both fit an i64 in LDAP).
    fn int(&mut self) -> Result<i64, CheckError> {
        let (t, c) = self.any()?;
        if (t != TAG_INTEGER && t != TAG_ENUM) || c.is_empty() || c.len() > 8 {
            return Err(Self::bad("integer"));
        }
        let mut v: i64 = if c[0] & 0x80 != 0 { -1 } else { 0 };
        for b in c {
            v = v << 8 | i64::from(*b);
        }
        Ok(v)
    }
}

/// The LDAPResult of a response (RFC 4511 4.1.9).
struct LdapResult {
    code: i64,
    text: String,
}

impl LdapResult {
    fn parse(body: &[u8]) -> Result<LdapResult, CheckError> {
        let mut r = Ber(body);
        let code = r.int()?;
        let _matched = r.take(TAG_OCTETS)?;
        let text = String::from_utf8_lossy(r.take(TAG_OCTETS)?).into_owned();
        Ok(LdapResult { code, text })
    }
}

impl std::fmt::Display for LdapResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rc={}", self.code)?;
        if let Some(name) = result_name(self.code) {
            write!(f, " ({name})")?;
        }
        if !self.text.trim().is_empty() {
            // Server text: quoted and shortened, never raw.
            write!(f, ", text: {}", show(&self.text))?;
        }
        Ok(())
    }
}

/// Names of the result codes a health check is likely to see.
fn result_name(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "operationsError",
        2 => "protocolError",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_request_is_rfc4511_ber() {
        // anonymous bind, message 1: 30 0c 02 01 01 60 07 02 01 03 04 00 80 00
        assert_eq!(
            bind_request(1, "", ""),
            [0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00]
        );
        let long = "x".repeat(300);
        let m = bind_request(1, &long, "");
        let mut r = Ber(&m);
        let (t, c) = r.any().unwrap();
        assert_eq!(t, TAG_SEQUENCE);
        assert_eq!(c.len(), m.len() - 4); // 30 82 LL LL
    }

    #[test]
    fn lengths_beyond_the_message_are_refused() {
        // OCTET STRING announcing 2^32-1 bytes with 2 present
        let mut r = Ber(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert!(r.any().is_err());
        let mut r = Ber(&[0x04, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(r.any().is_err());
        let mut r = Ber(&[0x02, 0x00]);
        assert!(r.int().is_err());
    }
}
