//! Hostile servers on 127.0.0.1 (ephemeral ports) for the tests of the
//! check bounds: each counts the connections still open and the bytes it
//! managed to send before the client closed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a hostile server saw.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// Connections the client has not closed yet.
    pub open: Arc<AtomicUsize>,
    /// Bytes written to clients before they closed.
    pub sent: Arc<AtomicU64>,
}

impl Seen {
    /// Connections still open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
    /// Connections accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    /// Bytes sent.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
    /// Wait (at most `limit`) until every connection is closed.
    pub async fn all_closed(&self, limit: Duration) -> bool {
        let t0 = tokio::time::Instant::now();
        while self.open() > 0 {
            if t0.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

/// How the fake PostgreSQL server answers the query.
#[derive(Debug, Clone, Copy)]
pub enum Pg {
    /// Never answers (holds the connection).
    Silent,
    /// Announces a 2 GB RowDescription and streams zeros.
    Huge,
    /// An ErrorResponse whose message carries CR LF and a mail header.
    Error,
}

/// Serve `conv` on every connection; returns the port and the counters.
pub async fn serve<F, Fut>(conv: F) -> (u16, Seen)
where
    F: Fn(TcpStream, Seen) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Seen::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            s2.accepted.fetch_add(1, Ordering::SeqCst);
            s2.open.fetch_add(1, Ordering::SeqCst);
            let s3 = s2.clone();
            let f = conv(sock, s3.clone());
            tokio::spawn(async move {
                f.await;
                s3.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (port, seen)
}

/// Write `data` counting it; false once the client is gone.
pub async fn send(sock: &mut TcpStream, seen: &Seen, data: &[u8]) -> bool {
    match sock.write_all(data).await {
        Ok(()) => {
            seen.sent.fetch_add(data.len() as u64, Ordering::SeqCst);
            true
        }
        Err(_) => false,
    }
}

/// Read until the client closes.
pub async fn drain(sock: &mut TcpStream) {
    let mut b = [0u8; 4096];
    while matches!(sock.read(&mut b).await, Ok(n) if n > 0) {}
}

/// Send `piece` (from `make`) forever, until the client closes.
pub async fn endless(sock: &mut TcpStream, seen: &Seen, head: &[u8], piece: &[u8]) {
    // the request first, so that the client is waiting for the answer
    let mut b = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), sock.read(&mut b)).await;
    if !send(sock, seen, head).await {
        return;
    }
    while send(sock, seen, piece).await {}
}

async fn pg_message(sock: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let t = sock.read_u8().await.ok()?;
    let len = sock.read_u32().await.ok()?;
    let mut body = vec![0u8; (len as usize).checked_sub(4)?.min(1 << 20)];
    sock.read_exact(&mut body).await.ok()?;
    Some((t, body))
}

/// A PostgreSQL server that accepts any login, then answers the query as
/// `mode` says.
pub async fn pgsql(mode: Pg) -> (u16, Seen) {
    serve(move |mut sock, seen| async move {
        // StartupMessage (or SSLRequest first): length, then the rest.
        loop {
            let Ok(len) = sock.read_u32().await else {
                return;
            };
            let mut body = vec![0u8; (len as usize).saturating_sub(4).min(1 << 16)];
            if sock.read_exact(&mut body).await.is_err() {
                return;
            }
            if body.get(..4) == Some(&80877103u32.to_be_bytes()) {
                if !send(&mut sock, &seen, b"N").await {
                    return;
                }
                continue;
            }
            break;
        }
        // AuthenticationOk, ReadyForQuery(idle)
        let hello = [b'R', 0, 0, 0, 8, 0, 0, 0, 0, b'Z', 0, 0, 0, 5, b'I'];
        if !send(&mut sock, &seen, &hello).await {
            return;
        }
        let Some((b'Q', _)) = pg_message(&mut sock).await else {
            return;
        };
        match mode {
            Pg::Silent => drain(&mut sock).await,
            Pg::Huge => {
                let mut head = vec![b'T'];
                head.extend_from_slice(&0x7fff_fff0u32.to_be_bytes());
                if send(&mut sock, &seen, &head).await {
                    let zeros = vec![0u8; 64 << 10];
                    while send(&mut sock, &seen, &zeros).await {}
                }
            }
            Pg::Error => {
                let mut f = Vec::new();
                for (k, v) in [
                    (b'S', "ERROR"),
                    (b'V', "ERROR"),
                    (b'C', "XX000"),
                    (b'M', "no\r\nBcc: evil@x\r\n\r\nforged body"),
                ] {
                    f.push(k);
                    f.extend_from_slice(v.as_bytes());
                    f.push(0);
                }
                f.push(0);
                let mut m = vec![b'E'];
                m.extend_from_slice(&(f.len() as u32 + 4).to_be_bytes());
                m.extend_from_slice(&f);
                m.extend_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
                if send(&mut sock, &seen, &m).await {
                    drain(&mut sock).await;
                }
            }
        }
    })
    .await
}

/// How the fake MySQL server behaves after its greeting.
#[derive(Debug, Clone, Copy)]
pub enum My {
    /// Reads the login and never answers it (holds the connection).
    SilentLogin,
    /// Accepts any login, reads the query and never answers it.
    SilentQuery,
    /// Accepts any login, answers the query with one column's definition
    /// and never sends a row (a result set left pending).
    StalledResult,
    /// Accepts any login, then answers the query with a packet announcing
    /// 16 MiB - 1 (so a continuation follows) and streams zeros.
    Huge,
}

/// One MySQL packet: 3-byte length, sequence id, payload.
fn my_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut p = vec![len[0], len[1], len[2], seq];
    p.extend_from_slice(payload);
    p
}

/// Read one MySQL packet (payload capped at 1 MiB, enough for a login).
async fn my_read(sock: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 4];
    sock.read_exact(&mut head).await.ok()?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    let mut body = vec![0u8; len.min(1 << 20)];
    sock.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// A MySQL server that greets like MariaDB 10.11 (mysql_native_password),
/// then behaves as `mode` says.
pub async fn mysql(mode: My) -> (u16, Seen) {
    serve(move |mut sock, seen| async move {
        let mut g = vec![10u8];
        g.extend_from_slice(b"5.5.5-10.11.0-MariaDB-fake\0");
        g.extend_from_slice(&7u32.to_le_bytes());
        g.extend_from_slice(b"abcdefgh\0");
        g.extend_from_slice(&0xF7FFu16.to_le_bytes());
        g.push(45);
        g.extend_from_slice(&2u16.to_le_bytes());
        g.extend_from_slice(&0x002Au16.to_le_bytes());
        g.push(21);
        g.extend_from_slice(&[0u8; 10]);
        g.extend_from_slice(b"ijklmnopqrst\0");
        g.extend_from_slice(b"mysql_native_password\0");
        if !send(&mut sock, &seen, &my_packet(0, &g)).await {
            return;
        }
        if my_read(&mut sock).await.is_none() {
            return;
        }
        match mode {
            My::SilentLogin => drain(&mut sock).await,
            My::SilentQuery | My::StalledResult | My::Huge => {
                let ok = [0u8, 0, 0, 2, 0, 0, 0];
                if !send(&mut sock, &seen, &my_packet(2, &ok)).await {
                    return;
                }
                if my_read(&mut sock).await.is_none() {
                    return;
                }
                if matches!(mode, My::SilentQuery) {
                    drain(&mut sock).await;
                } else if matches!(mode, My::StalledResult) {
                    // column count, one column definition, EOF
                    let mut def = Vec::new();
                    for f in ["def", "lvsd", "t", "t", "a", "a"] {
                        def.push(f.len() as u8);
                        def.extend_from_slice(f.as_bytes());
                    }
                    def.extend_from_slice(&[0x0c, 45, 0, 11, 0, 0, 0, 3, 0, 0, 0, 0, 0]);
                    let mut m = my_packet(1, &[1]);
                    m.extend(my_packet(2, &def));
                    m.extend(my_packet(3, &[0xFE, 0, 0, 2, 0]));
                    if send(&mut sock, &seen, &m).await {
                        drain(&mut sock).await;
                    }
                } else if send(&mut sock, &seen, &[0xFF, 0xFF, 0xFF, 1]).await {
                    let zeros = vec![0u8; 64 << 10];
                    while send(&mut sock, &seen, &zeros).await {}
                }
            }
        }
    })
    .await
}

/// How the fake LDAP server behaves.
#[derive(Debug, Clone, Copy)]
pub enum Ldap {
    /// Never answers the bind (holds the connection).
    Silent,
    /// Answers the bind with a message announcing 2 GB and streams zeros.
    Huge,
    /// Accepts the bind, then answers the search with endless 64 KiB
    /// entries, each a complete message.
    Entries,
}

/// Read one client LDAPMessage (short or long BER length, at most 64 KiB).
async fn ldap_read(sock: &mut TcpStream) -> Option<()> {
    if sock.read_u8().await.ok()? != 0x30 {
        return None;
    }
    let first = sock.read_u8().await.ok()?;
    let mut len = usize::from(first);
    if first >= 0x80 {
        len = 0;
        for _ in 0..(first & 0x7f).min(2) {
            len = len << 8 | usize::from(sock.read_u8().await.ok()?);
        }
    }
    let mut body = vec![0u8; len.min(64 << 10)];
    sock.read_exact(&mut body).await.ok()?;
    Some(())
}

/// An LDAP server that behaves as `mode` says.
pub async fn ldap(mode: Ldap) -> (u16, Seen) {
    serve(move |mut sock, seen| async move {
        if ldap_read(&mut sock).await.is_none() {
            return;
        }
        match mode {
            Ldap::Silent => drain(&mut sock).await,
            Ldap::Huge => {
                // SEQUENCE of 0x7fffffff bytes, then messageID 1, BindResponse
                let head = [0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01, 0x61];
                if send(&mut sock, &seen, &head).await {
                    let zeros = vec![0u8; 64 << 10];
                    while send(&mut sock, &seen, &zeros).await {}
                }
            }
            Ldap::Entries => {
                // BindResponse success, message 1
                let ok = [
                    0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04,
                    0x00,
                ];
                if !send(&mut sock, &seen, &ok).await || ldap_read(&mut sock).await.is_none() {
                    return;
                }
                // SearchResultEntry, message 2: DN of 64 KiB, no attributes
                let dn_len: usize = 64 << 10;
                let mut op = vec![0x04, 0x83];
                op.extend_from_slice(&(dn_len as u32).to_be_bytes()[1..]);
                op.extend(std::iter::repeat_n(b'a', dn_len));
                op.extend_from_slice(&[0x30, 0x00]);
                let mut body = vec![0x02, 0x01, 0x02, 0x64, 0x83];
                body.extend_from_slice(&(op.len() as u32).to_be_bytes()[1..]);
                body.extend(op);
                let mut msg = vec![0x30, 0x83];
                msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
                msg.extend(body);
                while send(&mut sock, &seen, &msg).await {}
            }
        }
    })
    .await
}
