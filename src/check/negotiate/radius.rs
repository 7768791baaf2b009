//! radius (Authen::Radius `check_pwd`): an Access-Request with User-Name =
//! login, User-Password = passwd (RFC 2865 hiding with `secret`) and the
//! local NAS address, to RIP:checkport over UDP; up iff Access-Accept with a
//! valid response authenticator. A Message-Authenticator is included (RFC
//! 3579), which servers hardened against BlastRADIUS require.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

const ACCESS_REQUEST: u8 = 1;
const ACCESS_ACCEPT: u8 = 2;
const ACCESS_REJECT: u8 = 3;

fn attr(out: &mut Vec<u8>, t: u8, v: &[u8]) -> Result<(), CheckError> {
    if v.len() > 253 {
        return Err(CheckError::Config(format!("RADIUS attribute {t} too long")));
    }
    out.push(t);
    out.push(v.len() as u8 + 2);
    out.extend_from_slice(v);
    Ok(())
}

/// RFC 2865 §5.2 User-Password hiding.
pub fn hide_password(passwd: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let mut padded = passwd.to_vec();
    let len = padded.len().div_ceil(16).max(1) * 16;
    padded.resize(len, 0);
    let mut out = Vec::with_capacity(len);
    let mut prev: Vec<u8> = authenticator.to_vec();
    for chunk in padded.chunks(16) {
        let mut h = Md5::new();
        h.update(secret);
        h.update(&prev);
        let b = h.finalize();
        let c: Vec<u8> = chunk.iter().zip(b.iter()).map(|(p, k)| p ^ k).collect();
        out.extend_from_slice(&c);
        prev = c;
    }
    out
}

/// Build an Access-Request; returns the packet.
pub fn access_request(
    id: u8,
    authenticator: &[u8; 16],
    login: &str,
    passwd: &str,
    secret: &str,
    nas: IpAddr,
) -> Result<Vec<u8>, CheckError> {
    let mut attrs = Vec::new();
    // Message-Authenticator first, zeroed while computing its HMAC.
    attr(&mut attrs, 80, &[0u8; 16])?;
    attr(&mut attrs, 1, login.as_bytes())?;
    attr(
        &mut attrs,
        2,
        &hide_password(passwd.as_bytes(), secret.as_bytes(), authenticator),
    )?;
    match nas {
        IpAddr::V4(a) => attr(&mut attrs, 4, &a.octets())?,
        IpAddr::V6(a) => attr(&mut attrs, 95, &a.octets())?,
    }
    let len = 20 + attrs.len();
    let mut pkt = Vec::with_capacity(len);
    pkt.push(ACCESS_REQUEST);
    pkt.push(id);
    pkt.extend_from_slice(&(len as u16).to_be_bytes());
    pkt.extend_from_slice(authenticator);
    pkt.extend_from_slice(&attrs);
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(secret.as_bytes())
        .map_err(|e| CheckError::Config(format!("RADIUS secret: {e}")))?;
    mac.update(&pkt);
    let tag = mac.finalize().into_bytes();
    // attrs start at 20; the Message-Authenticator value at 22..38.
    pkt[22..38].copy_from_slice(&tag);
    Ok(pkt)
}

/// Check the response authenticator of a reply to a request with `req_auth`.
pub fn reply_valid(reply: &[u8], req_auth: &[u8; 16], secret: &str) -> bool {
    if reply.len() < 20 {
        return false;
    }
    let len = u16::from_be_bytes([reply[2], reply[3]]) as usize;
    if len < 20 || len > reply.len() {
        return false;
    }
    let mut h = Md5::new();
    h.update(&reply[..4]);
    h.update(req_auth);
    h.update(&reply[20..len]);
    h.update(secret.as_bytes());
    h.finalize().as_slice() == &reply[4..20]
}

/// Run a RADIUS check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let addr = target.check_addr(spec);
    let sock = crate::check::connect::udp(addr).await?;
    let nas = sock.local_addr().map_err(CheckError::from_io)?.ip();
    let id: u8 = rand::random();
    let auth: [u8; 16] = rand::random();
    let pkt = access_request(id, &auth, &spec.login, &spec.passwd, &spec.secret, nas)?;
    sock.send(&pkt).await.map_err(CheckError::from_io)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await.map_err(CheckError::from_io)?;
        let reply = &buf[..n];
        if n < 20 || reply[1] != id {
            continue;
        }
        if !reply_valid(reply, &auth, &spec.secret) {
            return Err(CheckError::Mismatch(
                "reply has a bad authenticator (wrong secret?)".into(),
            ));
        }
        return match reply[0] {
            ACCESS_ACCEPT => Ok("Access-Accept".into()),
            ACCESS_REJECT => Err(CheckError::Mismatch("Access-Reject".into())),
            c => Err(CheckError::Mismatch(format!("RADIUS reply code {c}"))),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hiding_roundtrips() {
        let auth = [7u8; 16];
        let hidden = hide_password(b"secret-password-longer-than-16", b"s3", &auth);
        assert_eq!(hidden.len(), 32);
        // Unhide (same XOR chain) and compare.
        let mut prev = auth.to_vec();
        let mut plain = Vec::new();
        for c in hidden.chunks(16) {
            let mut h = Md5::new();
            h.update(b"s3");
            h.update(&prev);
            let b = h.finalize();
            plain.extend(c.iter().zip(b.iter()).map(|(x, k)| x ^ k));
            prev = c.to_vec();
        }
        assert_eq!(&plain[..30], b"secret-password-longer-than-16");
        assert!(plain[30..].iter().all(|&b| b == 0));
    }

    #[test]
    fn request_layout() {
        let p = access_request(
            9,
            &[1; 16],
            "bob",
            "pw",
            "sec",
            "127.0.0.1".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(p[0], 1);
        assert_eq!(p[1], 9);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
        assert_eq!(p[20], 80);
        assert_ne!(&p[22..38], &[0u8; 16]);
    }
}
