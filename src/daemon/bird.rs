//! BGP session state from BIRD's control socket (`bird -s SOCKET`), for
//! `lvsd status`, the status page and `lvsd_bgp_session_up`.
//!
//! The protocol is line based: BIRD greets with `0001 BIRD x.y ready.`,
//! answers a command with lines `CODE-text` (more follow), ` text`
//! (continuation of the previous code) and ends with `CODE text` (space:
//! last line; 0000 is success, 8xxx/9xxx errors). Everything BIRD sends is
//! treated as hostile: the read is bounded in bytes and time, names are
//! sanitized and the number of sessions is capped.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Most bytes read from one exchange with BIRD.
const MAX_REPLY: u64 = 256 * 1024;
/// Most sessions kept from one reply.
const MAX_SESSIONS: usize = 256;
/// Longest session name kept.
const MAX_NAME: usize = 64;

/// One BGP protocol instance as BIRD reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// BIRD's protocol name (sanitized).
    pub name: String,
    /// Established.
    pub up: bool,
    /// BIRD's state and info columns (sanitized), e.g. `up Established`.
    pub info: String,
}

/// Why BIRD could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum BirdError {
    /// Connecting, reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// BIRD did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// BIRD's answer was not what its protocol promises.
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

/// Keep printable ASCII only, bounded: the text ends up in logs, metrics
/// labels and the status page.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect()
}

/// Names become metric label values: restrict them further.
fn clean_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        .take(MAX_NAME)
        .collect()
}

/// Parse the reply to `show protocols` (banner optional): the BGP rows.
pub fn parse_protocols(reply: &str) -> Result<Vec<Session>, BirdError> {
    let mut out = Vec::new();
    let mut code = String::new();
    let mut done = false;
    for line in reply.lines() {
        let b = line.as_bytes();
        let text = if b.len() >= 5
            && b.iter().take(4).all(u8::is_ascii_digit)
            && matches!(b.get(4), Some(b'-') | Some(b' '))
        {
            code = line.get(..4).unwrap_or_default().to_string();
            if b.get(4) == Some(&b' ') && code != "0001" {
                done = true;
                if code.starts_with('8') || code.starts_with('9') {
                    return Err(BirdError::Protocol(clean(line, 200)));
                }
            }
            line.get(5..).unwrap_or_default()
        } else if let Some(rest) = line.strip_prefix(' ') {
            rest
        } else {
            return Err(BirdError::Protocol(clean(line, 200)));
        };
        // 1002: one protocol per line (2002 is the header).
        if code != "1002" {
            if done {
                break;
            }
            continue;
        }
        let mut cols = text.split_whitespace();
        let (Some(name), Some(proto), Some(_table), Some(state)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        if proto != "BGP" {
            continue;
        }
        let rest: Vec<&str> = cols.collect();
        // The info column follows the "since" column(s); Established is
        // BIRD's word for a session that exchanges routes.
        let established = state == "up" && rest.contains(&"Established");
        if out.len() < MAX_SESSIONS {
            let info_words: Vec<&str> = rest.iter().skip(1).copied().collect();
            out.push(Session {
                name: clean_name(name),
                up: established,
                info: clean(&format!("{state} {}", info_words.join(" ")), 120)
                    .trim()
                    .to_string(),
            });
        }
        if done {
            break;
        }
    }
    if !done {
        return Err(BirdError::Protocol("reply ended early".into()));
    }
    Ok(out)
}

/// Ask BIRD at `socket` for its BGP sessions, within `limit`.
pub async fn sessions(socket: &Path, limit: Duration) -> Result<Vec<Session>, BirdError> {
    match tokio::time::timeout(limit, exchange(socket)).await {
        Ok(r) => parse_protocols(&r?),
        Err(_) => Err(BirdError::Timeout(limit)),
    }
}

async fn exchange(socket: &Path) -> Result<String, BirdError> {
    let stream = UnixStream::connect(socket).await?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd.take(MAX_REPLY));
    let mut banner = String::new();
    rd.read_line(&mut banner).await?;
    if !banner.starts_with("0001 ") {
        return Err(BirdError::Protocol(clean(banner.trim_end(), 200)));
    }
    wr.write_all(b"show protocols\n").await?;
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).await? == 0 {
            break;
        }
        let b = line.as_bytes();
        let last =
            b.len() >= 5 && b.iter().take(4).all(u8::is_ascii_digit) && b.get(4) == Some(&b' ');
        reply.push_str(&line);
        if last {
            break;
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn parses_real_bird_2_0_12_output() {
        let text = include_str!("../../tests/fixtures/bird/show-protocols-down.txt");
        let s = parse_protocols(text).unwrap();
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].name, "rtr1");
        assert!(!s[0].up);
        assert_eq!(s[0].info, "down Error: Invalid next hop");
        assert_eq!(s[1].name, "odd_peer");
    }

    #[test]
    fn established_is_up_and_other_states_are_not() {
        let text = "2002-Name       Proto      Table      State  Since         Info\n\
                    1002-up1        BGP        ---        up     16:15:55.481  Established   \n \
                    act        BGP        ---        start  16:15:55.483  Active        Socket: Connection refused\n \
                    dev        Device     ---        up     16:15:55.481  \n\
                    0000 \n";
        let s = parse_protocols(text).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].up && s[0].info == "up Established");
        assert!(!s[1].up);
        assert!(s[1].info.starts_with("start Active"));
    }

    #[test]
    fn hostile_replies_are_errors_or_sanitized() {
        assert!(parse_protocols("9001 syntax error\n").is_err());
        assert!(parse_protocols("garbage\n").is_err());
        assert!(
            parse_protocols("1002-x BGP --- up 1 Established\n").is_err(),
            "no end line"
        );
        let evil = "1002-a\u{1b}[31m{x=\"y\"}\nb BGP --- up 1 Established\n0000 \n";
        assert!(
            parse_protocols(evil).is_err(),
            "a line without code or space"
        );
        let evil = "1002-\"a}\u{1b}[31m BGP --- up 1 Established\n0000 \n";
        let s = parse_protocols(evil).unwrap();
        assert_eq!(s[0].name, "a31m");
        let many: String = (0..1000)
            .map(|i| format!(" p{i} BGP --- up 1 Established\n"))
            .collect();
        let s = parse_protocols(&format!("1002-x Device --- up 1\n{many}0000 \n")).unwrap();
        assert_eq!(s.len(), MAX_SESSIONS);
    }

    #[tokio::test]
    async fn talks_to_a_socket_speaking_birds_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bird.ctl");
        let l = tokio::net::UnixListener::bind(&path).unwrap();
        let srv = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (rd, mut wr) = s.into_split();
            wr.write_all(b"0001 BIRD 2.0.12 ready.\n").await.unwrap();
            let mut line = String::new();
            BufReader::new(rd).read_line(&mut line).await.unwrap();
            assert_eq!(line, "show protocols\n");
            let text = include_str!("../../tests/fixtures/bird/show-protocols-down.txt");
            let reply = text.split_once('\n').unwrap().1;
            wr.write_all(reply.as_bytes()).await.unwrap();
            // A hostile BIRD keeps the socket open: the reader must not wait.
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let s = sessions(&path, Duration::from_secs(2)).await.unwrap();
        assert_eq!(s.len(), 2);
        srv.abort();
        // Silent peer: bounded by the timeout.
        let path2 = dir.path().join("silent.ctl");
        let l2 = tokio::net::UnixListener::bind(&path2).unwrap();
        let srv2 = tokio::spawn(async move {
            let _s = l2.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let t0 = std::time::Instant::now();
        assert!(matches!(
            sessions(&path2, Duration::from_millis(300)).await,
            Err(BirdError::Timeout(_))
        ));
        assert!(t0.elapsed() < Duration::from_secs(2));
        srv2.abort();
    }
}
