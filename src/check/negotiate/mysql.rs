//! mysql (DBI + DBD::mysql): connect with login/passwd/database, run the
//! `request` query (leading `/` removed); up iff it returns at least one row.
//! Like ldirectord, an empty login or query is down without connecting.
//! Unlike ldirectord (no timeout at all), the negotiate timeout applies.
//!
//! The MySQL client protocol is written here by hand, on purpose: no
//! well-kept crate runs it over a caller-supplied stream without spawning
//! tasks. mysql_async opened its own socket (so the check's read budget did
//! not apply) and, when a timeout dropped a connection, spawned a cleanup
//! task with no deadline of its own: a server that never answered left a
//! task and a connection behind per check. The part a health check needs is
//! small: the v10 greeting, HandshakeResponse41 (mysql_native_password or
//! caching_sha2_password, switched to on AuthSwitchRequest), COM_QUERY and
//! the text result set, COM_QUIT. Everything runs over our counted stream
//! inside the check's future, so the deadline drops the socket and the read
//! budget ([`crate::check::limit`]) caps what the server can make us read.

use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::request_body;
use crate::check::spec::{CheckSpec, Target};
use crate::check::{CheckError, CheckResult};

/// Reject what ldirectord rejects before connecting.
pub fn precheck(spec: &CheckSpec) -> Result<&str, CheckError> {
    let q = request_body(spec);
    if spec.login.is_empty() || q.is_empty() {
        return Err(CheckError::Config(
            "a login and a request (query) are required for mysql, oracle and pgsql checks".into(),
        ));
    }
    Ok(q)
}

/// Run a MySQL/MariaDB check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let query = precheck(spec)?;
    let addr = target.check_addr(spec);
    let tcp = super::wrap(crate::check::connect::tcp_untimed(addr, true).await?);
    let mut conn = Conn {
        io: BufReader::new(tcp),
        seq: 0,
    };
    conn.login(&spec.login, &spec.passwd, &spec.database)
        .await?;
    let rows = conn.query(query).await;
    // Polite goodbye; the socket is dropped right after either way.
    conn.seq = 0;
    let _ = conn.write_packet(&[COM_QUIT]).await;
    let _ = conn.io.shutdown().await;
    if rows? == 0 {
        Err(CheckError::Mismatch("query returned no rows".into()))
    } else {
        Ok("query returned at least one row".into())
    }
}

// Capability flags (MySQL client/server protocol).
const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_LONG_FLAG: u32 = 4;
const CLIENT_CONNECT_WITH_DB: u32 = 8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_MULTI_RESULTS: u32 = 0x2_0000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x20_0000;

const COM_QUIT: u8 = 0x01;
const COM_QUERY: u8 = 0x03;
/// utf8mb4_general_ci, known to MySQL >= 5.5 and every MariaDB.
const CHARSET: u8 = 45;
/// The largest payload one packet carries; longer ones continue in the
/// next packet.
const MAX_PAYLOAD: usize = 0xFF_FFFF;

const NATIVE: &str = "mysql_native_password";
const CACHING_SHA2: &str = "caching_sha2_password";

/// One client connection: the counted stream and the sequence id of the
/// next packet to send.
struct Conn<S> {
    io: S,
    seq: u8,
}

fn proto(what: &str) -> CheckError {
    CheckError::Protocol(format!("mysql: {what}"))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Read one logical packet (continuations joined). Memory grows only
    /// with bytes actually received, never with the announced length: the
    /// read budget stops a server announcing 16 MiB long before that.
    async fn read_packet(&mut self) -> Result<Vec<u8>, CheckError> {
        let mut out = Vec::new();
        loop {
            let mut head = [0u8; 4];
            self.io
                .read_exact(&mut head)
                .await
                .map_err(CheckError::from_io)?;
            let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
            self.seq = head[3].wrapping_add(1);
            let got = (&mut self.io)
                .take(len as u64)
                .read_to_end(&mut out)
                .await
                .map_err(CheckError::from_io)?;
            if got < len {
                return Err(CheckError::Closed(" in the middle of a packet".into()));
            }
            if len < MAX_PAYLOAD {
                return Ok(out);
            }
        }
    }

    async fn write_packet(&mut self, payload: &[u8]) -> Result<(), CheckError> {
        // Our packets (login, query) come from the configuration; one that
        // needs splitting is a configuration no real check has.
        if payload.len() >= MAX_PAYLOAD {
            return Err(CheckError::Config(
                "mysql: request longer than 16 MiB".into(),
            ));
        }
        let len = (payload.len() as u32).to_le_bytes();
        let mut buf = Vec::with_capacity(4 + payload.len());
        buf.extend_from_slice(&[len[0], len[1], len[2], self.seq]);
        buf.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.io.write_all(&buf).await.map_err(CheckError::from_io)?;
        self.io.flush().await.map_err(CheckError::from_io)
    }

    /// Greeting, HandshakeResponse41 and the authentication exchange.
    async fn login(&mut self, user: &str, pass: &str, db: &str) -> Result<(), CheckError> {
        let greeting = self.read_packet().await?;
        let g = parse_greeting(&greeting)?;
        let mut caps = CLIENT_LONG_PASSWORD
            | CLIENT_LONG_FLAG
            | CLIENT_PROTOCOL_41
            | CLIENT_TRANSACTIONS
            | CLIENT_SECURE_CONNECTION
            | CLIENT_MULTI_RESULTS
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
        if !db.is_empty() {
            caps |= CLIENT_CONNECT_WITH_DB;
        }
        caps &= g.caps;
        // A server without a plugin name speaks mysql_native_password
        // (4.1 to 5.5.6).
        let mut plugin = g.plugin.unwrap_or_else(|| NATIVE.into());
        let auth = match scramble_for(&plugin, pass, &g.scramble) {
            Some(a) => a,
            None => {
                // Unknown default plugin: answer native, the server sends an
                // AuthSwitchRequest if the account needs another one.
                plugin = NATIVE.into();
                native_password(pass, &g.scramble)
            }
        };
        let mut p = Vec::with_capacity(64 + user.len() + db.len());
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&(MAX_PAYLOAD as u32).to_le_bytes());
        p.push(CHARSET);
        p.extend_from_slice(&[0u8; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        // Length-prefixed auth data: at most 32 bytes, so the one-byte
        // length is also the length-encoded form.
        p.push(auth.len() as u8);
        p.extend_from_slice(&auth);
        if caps & CLIENT_CONNECT_WITH_DB != 0 {
            p.extend_from_slice(db.as_bytes());
            p.push(0);
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            p.extend_from_slice(plugin.as_bytes());
            p.push(0);
        }
        self.write_packet(&p).await?;
        // Each round either ends the login or answers one server request;
        // a server may not keep us here forever (the deadline would, but
        // a bound in count is cheaper and says what went wrong).
        for _ in 0..4 {
            let pkt = self.read_packet().await?;
            match pkt.first() {
                Some(0x00) => return Ok(()),
                Some(0xFF) => {
                    return Err(CheckError::Mismatch(format!(
                        "mysql login: {}",
                        err_text(&pkt)
                    )))
                }
                Some(0xFE) => {
                    // AuthSwitchRequest: plugin name, then its data.
                    let rest = &pkt[1..];
                    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                    plugin = String::from_utf8_lossy(&rest[..end]).into_owned();
                    let data = rest.get(end + 1..).unwrap_or(&[]);
                    let scramble = data.strip_suffix(&[0]).unwrap_or(data);
                    let Some(auth) = scramble_for(&plugin, pass, scramble) else {
                        return Err(CheckError::Mismatch(format!(
                            "mysql login: server asks for authentication plugin {plugin:?}, \
                             which lvsd does not speak (mysql_native_password, \
                             caching_sha2_password)"
                        )));
                    };
                    self.write_packet(&auth).await?;
                }
                Some(0x01) if plugin == CACHING_SHA2 => match pkt.get(1) {
                    // fast authentication succeeded: the OK packet follows
                    Some(3) => {}
                    Some(4) => {
                        return Err(CheckError::Mismatch(
                            "mysql login: caching_sha2_password needs full authentication \
                             (the password is not in the server's cache), which needs TLS \
                             or RSA; lvsd does neither: log in once with the mysql client \
                             or use mysql_native_password for the check account"
                                .into(),
                        ))
                    }
                    _ => return Err(proto("unexpected caching_sha2_password data")),
                },
                _ => return Err(proto("unexpected packet during login")),
            }
        }
        Err(proto("too many authentication rounds"))
    }

    /// COM_QUERY; the number of rows of the first result set, counting at
    /// most one (the verdict needs one, and a large table must not spend
    /// the read budget).
    async fn query(&mut self, query: &str) -> Result<usize, CheckError> {
        self.seq = 0;
        let mut p = Vec::with_capacity(1 + query.len());
        p.push(COM_QUERY);
        p.extend_from_slice(query.as_bytes());
        self.write_packet(&p).await?;
        let first = self.read_packet().await?;
        let ncols = match first.first() {
            // OK: a statement without a result set (no rows)
            Some(0x00) => return Ok(0),
            Some(0xFF) => {
                return Err(CheckError::Mismatch(format!(
                    "query failed: {}",
                    err_text(&first)
                )))
            }
            Some(0xFB) => return Err(proto("server asks for a local file")),
            _ => lenenc(&first).ok_or_else(|| proto("bad column count"))?,
        };
        if ncols == 0 {
            return Err(proto("bad column count"));
        }
        // Column definitions, then EOF (CLIENT_DEPRECATE_EOF is not asked).
        loop {
            let pkt = self.read_packet().await?;
            match pkt.first() {
                Some(0xFE) if pkt.len() < 9 => break,
                Some(0xFF) => {
                    return Err(CheckError::Mismatch(format!(
                        "query failed: {}",
                        err_text(&pkt)
                    )))
                }
                _ => {}
            }
        }
        // A row whose first column is 2^64 bytes long would start with
        // 0xFE too, but is never shorter than 9 bytes.
        let pkt = self.read_packet().await?;
        match pkt.first() {
            Some(0xFE) if pkt.len() < 9 => Ok(0),
            Some(0xFF) => Err(CheckError::Mismatch(format!(
                "query failed: {}",
                err_text(&pkt)
            ))),
            Some(_) => Ok(1),
            None => Err(proto("empty row packet")),
        }
    }
}

/// What the login needs from the server greeting.
#[derive(Debug)]
struct Greeting {
    caps: u32,
    scramble: Vec<u8>,
    plugin: Option<String>,
}

fn parse_greeting(p: &[u8]) -> Result<Greeting, CheckError> {
    match p.first() {
        // e.g. "Host '…' is not allowed to connect", "Too many connections"
        Some(0xFF) => {
            return Err(CheckError::Mismatch(format!(
                "mysql connect: {}",
                err_text(p)
            )))
        }
        Some(10) => {}
        Some(v) => return Err(proto(&format!("unsupported protocol version {v}"))),
        None => return Err(proto("empty greeting")),
    }
    let short = || proto("short greeting");
    let mut i = 1;
    // server version, NUL-terminated
    i += p[i..].iter().position(|&b| b == 0).ok_or_else(short)? + 1;
    i += 4; // connection id
    let mut scramble = p.get(i..i + 8).ok_or_else(short)?.to_vec();
    i += 9; // part 1 and a filler byte
    let lo = u16::from_le_bytes(
        p.get(i..i + 2)
            .ok_or_else(short)?
            .try_into()
            .unwrap_or([0; 2]),
    );
    i += 2;
    let mut caps = u32::from(lo);
    let mut plugin = None;
    if let Some(rest) = p.get(i..) {
        if rest.len() >= 16 {
            // charset (1), status (2), upper capabilities (2), auth data
            // length (1), reserved (10)
            caps |= u32::from(u16::from_le_bytes([rest[3], rest[4]])) << 16;
            let auth_len = rest[5] as usize;
            let mut j = i + 16;
            if caps & CLIENT_SECURE_CONNECTION != 0 {
                let n = auth_len.saturating_sub(8).max(13);
                let part2 = p.get(j..).unwrap_or(&[]);
                let part2 = &part2[..n.min(part2.len())];
                scramble.extend_from_slice(part2.strip_suffix(&[0]).unwrap_or(part2));
                j += n;
            }
            if caps & CLIENT_PLUGIN_AUTH != 0 {
                if let Some(name) = p.get(j..) {
                    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                    plugin = Some(String::from_utf8_lossy(&name[..end]).into_owned());
                }
            }
        }
    }
    if caps & CLIENT_PROTOCOL_41 == 0 || caps & CLIENT_SECURE_CONNECTION == 0 {
        return Err(proto("server older than 4.1 (no protocol 41)"));
    }
    Ok(Greeting {
        caps,
        scramble,
        plugin,
    })
}

/// What [`decode_server_packet`] reports of a greeting: capabilities,
/// scramble length, auth plugin.
#[doc(hidden)]
pub type GreetingParts = (u32, usize, Option<String>);

/// Decode a server greeting and, as the check does with the packets that
/// follow it, a length-encoded integer and an ERR packet's text, all from
/// the same bytes: (capabilities, scramble length, auth plugin, lenenc,
/// error text). The entry point of the fuzz target
/// fuzz/fuzz_targets/check_replies.rs.
#[doc(hidden)]
pub fn decode_server_packet(p: &[u8]) -> (Result<GreetingParts, CheckError>, Option<u64>, String) {
    let greeting = parse_greeting(p).map(|g| (g.caps, g.scramble.len(), g.plugin));
    (greeting, lenenc(p), err_text(p))
}

/// The auth response `plugin` expects, if lvsd speaks that plugin.
fn scramble_for(plugin: &str, pass: &str, scramble: &[u8]) -> Option<Vec<u8>> {
    match plugin {
        NATIVE => Some(native_password(pass, scramble)),
        CACHING_SHA2 => Some(caching_sha2(pass, scramble)),
        _ => None,
    }
}

/// mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
fn native_password(pass: &str, scramble: &[u8]) -> Vec<u8> {
    if pass.is_empty() {
        return Vec::new();
    }
    let s1 = Sha1::digest(pass.as_bytes());
    let s2 = Sha1::digest(s1);
    let mut h = Sha1::new();
    h.update(scramble.get(..20).unwrap_or(scramble));
    h.update(s2);
    let s3 = h.finalize();
    s1.iter().zip(s3.iter()).map(|(a, b)| a ^ b).collect()
}

/// caching_sha2_password (fast path): SHA256(pw) XOR
/// SHA256(SHA256(SHA256(pw)) + scramble).
fn caching_sha2(pass: &str, scramble: &[u8]) -> Vec<u8> {
    if pass.is_empty() {
        return Vec::new();
    }
    let s1 = Sha256::digest(pass.as_bytes());
    let s2 = Sha256::digest(s1);
    let mut h = Sha256::new();
    h.update(s2);
    h.update(scramble.get(..20).unwrap_or(scramble));
    let s3 = h.finalize();
    s1.iter().zip(s3.iter()).map(|(a, b)| a ^ b).collect()
}

/// A length-encoded integer at the start of `p`.
fn lenenc(p: &[u8]) -> Option<u64> {
    let n = match *p.first()? {
        b @ 0..=0xFA => return Some(u64::from(b)),
        0xFC => 2,
        0xFD => 3,
        0xFE => 8,
        _ => return None,
    };
    let mut v = [0u8; 8];
    v[..n].copy_from_slice(p.get(1..1 + n)?);
    Some(u64::from_le_bytes(v))
}

/// The text of an ERR packet: "ERROR code (state): message", as the mysql
/// client prints it (sanitized where it leaves the check engine).
fn err_text(p: &[u8]) -> String {
    let code = p.get(1..3).map(|c| u16::from_le_bytes([c[0], c[1]]));
    let mut msg = p.get(3..).unwrap_or(&[]);
    let mut state = "";
    if msg.first() == Some(&b'#') && msg.len() >= 6 {
        state = std::str::from_utf8(&msg[1..6]).unwrap_or("");
        msg = &msg[6..];
    }
    let msg = String::from_utf8_lossy(msg);
    match code {
        Some(c) if !state.is_empty() => format!("ERROR {c} ({state}): {msg}"),
        Some(c) => format!("ERROR {c}: {msg}"),
        None => "error packet".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_password_matches_the_reference() {
        // The scramble of the MySQL docs' worked example is not public in
        // bytes; check the algebra instead: XOR with SHA1(scramble +
        // SHA1(SHA1(pw))) gives back SHA1(pw), what the server stores.
        let scramble = [7u8; 20];
        let r = native_password("secret", &scramble);
        let s1 = Sha1::digest(b"secret");
        let mut h = Sha1::new();
        h.update(scramble);
        h.update(Sha1::digest(s1));
        let back: Vec<u8> = r.iter().zip(h.finalize()).map(|(a, b)| a ^ b).collect();
        assert_eq!(back, s1.to_vec());
        assert!(native_password("", &scramble).is_empty());
    }

    #[test]
    fn lenenc_forms() {
        assert_eq!(lenenc(&[3]), Some(3));
        assert_eq!(lenenc(&[0xFC, 1, 2]), Some(0x201));
        assert_eq!(lenenc(&[0xFD, 1, 2, 3]), Some(0x30201));
        assert_eq!(lenenc(&[0xFC, 1]), None);
        assert_eq!(lenenc(&[0xFF]), None);
        assert_eq!(lenenc(&[]), None);
    }

    #[test]
    fn greetings_never_panic() {
        for p in [
            &[][..],
            &[10],
            &[10, b'5', 0],
            &[10, b'5', 0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xFF],
            &[0xFF, 1],
            &[9, 0],
        ] {
            assert!(parse_greeting(p).is_err());
        }
    }

    #[test]
    fn err_text_reads_code_state_and_message() {
        let mut p = vec![0xFF, 0x15, 0x04, b'#'];
        p.extend_from_slice(b"28000Access denied");
        assert_eq!(err_text(&p), "ERROR 1045 (28000): Access denied");
    }
}
