//! The agent check (HAProxy `agent-check`), from lvsd.toml's `agent_port`:
//! connect to the real's agent port, read one line of text such as `up`,
//! `down`, `drain`, `maint`, `75%` or `up 50%`, and report the state it
//! names. It runs beside the normal check of the real; the daemon
//! combines both (down or maint take the real out, drain sets weight 0,
//! `NN%` scales the weight).
//!
//! What the agent sends is hostile: one connection at a time per real, one
//! deadline over connect and read, at most [`MAX_LINE`] bytes read, and
//! the text is sanitized before it is shown. An agent that cannot be
//! reached or answers nonsense changes nothing (as HAProxy): the normal
//! check still decides.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::CheckError;
use crate::model::{AgentAdmin, AgentSpec, AgentState};

/// Most bytes read from an agent: one line of keywords fits many times.
pub const MAX_LINE: usize = 512;

/// Largest `NN%` accepted (the weight is capped at ipvsadm's maximum).
pub const MAX_PERCENT: u32 = 1000;

/// Why an agent's line was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// No keyword HAProxy's agent protocol knows (the line, sanitized:
    /// quoted as is, since Debug would escape its escapes again).
    #[error("no agent keyword in \"{0}\"")]
    NoKeyword(String),
    /// A percentage that is not 0 to [`MAX_PERCENT`].
    #[error("bad weight \"{0}\": 0% to {MAX_PERCENT}%")]
    Percent(String),
}

/// Apply one agent line to `prev`: each keyword changes what it names,
/// the rest stays (HAProxy). Words are separated by blanks or commas;
/// `#` starts a free-text description; `maxconn:N` and words this
/// daemon does not know are ignored, but a line with no keyword at all is
/// an error (so a wrong service on the port is noticed).
pub fn parse(line: &str, prev: AgentState) -> Result<AgentState, AgentError> {
    let words = line.split('#').next().unwrap_or("");
    let mut st = prev;
    let mut known = false;
    for w in words
        .split([' ', '\t', ',', '\r', '\n'])
        .filter(|w| !w.is_empty())
    {
        let lw = w.to_ascii_lowercase();
        known |= match lw.as_str() {
            "up" => {
                st.down = false;
                true
            }
            "down" | "stopped" | "fail" => {
                st.down = true;
                true
            }
            "ready" => {
                st.admin = AgentAdmin::Ready;
                true
            }
            "drain" => {
                st.admin = AgentAdmin::Drain;
                true
            }
            "maint" => {
                st.admin = AgentAdmin::Maint;
                true
            }
            _ => match lw.strip_suffix('%') {
                Some(n) => {
                    let p = n
                        .parse::<u32>()
                        .ok()
                        .filter(|p| *p <= MAX_PERCENT && n.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| AgentError::Percent(crate::model::text::sanitize(w)))?;
                    st.percent = Some(p);
                    true
                }
                None => false,
            },
        };
    }
    if known {
        Ok(st)
    } else {
        Err(AgentError::NoKeyword(crate::model::text::sanitize_to(
            line, 80,
        )))
    }
}

/// Ask the agent at `real`:`spec.port` once: connect, read until the first
/// line break or the end of the stream, all within `spec.timeout`, at most
/// [`MAX_LINE`] bytes. Returns the line (without its line break).
pub async fn query(spec: &AgentSpec, real: IpAddr) -> Result<String, CheckError> {
    let addr = SocketAddr::new(real, spec.port);
    let work = async {
        let mut s = super::connect::tcp_untimed(addr, false).await?;
        let mut buf = Vec::with_capacity(64);
        let mut chunk = [0u8; 128];
        loop {
            let n = s.read(&mut chunk).await.map_err(CheckError::from_io)?;
            let got = chunk.get(..n).unwrap_or_default();
            if let Some(i) = got.iter().position(|&b| b == b'\n') {
                buf.extend_from_slice(got.get(..i).unwrap_or_default());
                break;
            }
            buf.extend_from_slice(got);
            if n == 0 {
                if buf.is_empty() {
                    return Err(CheckError::Closed(" before the agent said anything".into()));
                }
                break;
            }
            if buf.len() > MAX_LINE {
                return Err(CheckError::TooLong(MAX_LINE as u64));
            }
        }
        if buf.len() > MAX_LINE {
            return Err(CheckError::TooLong(MAX_LINE as u64));
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match tokio::time::timeout(spec.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(CheckError::Timeout(spec.timeout)),
    }
}

/// One agent round: ask, then apply the answer to `prev`.
pub async fn ask(spec: &AgentSpec, real: IpAddr, prev: AgentState) -> Result<AgentState, String> {
    let line = query(spec, real).await.map_err(|e| e.to_string())?;
    parse(&line, prev).map_err(|e| e.to_string())
}

/// Interval of the agent rounds, never below 10 ms whatever the spec says.
pub fn interval(spec: &AgentSpec) -> Duration {
    spec.interval.max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(down: bool, admin: AgentAdmin, percent: Option<u32>) -> AgentState {
        AgentState {
            admin,
            down,
            percent,
        }
    }

    #[test]
    fn haproxy_agent_words() {
        let z = AgentState::default();
        use AgentAdmin::*;
        assert_eq!(parse("up", z), Ok(st(false, Ready, None)));
        assert_eq!(parse("down", z), Ok(st(true, Ready, None)));
        assert_eq!(parse("DOWN #disk full", z), Ok(st(true, Ready, None)));
        assert_eq!(parse("stopped", z), Ok(st(true, Ready, None)));
        assert_eq!(parse("fail", z), Ok(st(true, Ready, None)));
        assert_eq!(parse("drain", z), Ok(st(false, Drain, None)));
        assert_eq!(parse("maint\r", z), Ok(st(false, Maint, None)));
        assert_eq!(parse("75%", z), Ok(st(false, Ready, Some(75))));
        assert_eq!(parse("up 50%", z), Ok(st(false, Ready, Some(50))));
        assert_eq!(
            parse("ready,up, 20%  maxconn:30", z),
            Ok(st(false, Ready, Some(20)))
        );
        // Each answer changes only what it names.
        let drained = parse("drain 30%", z).unwrap();
        assert_eq!(parse("60%", drained), Ok(st(false, Drain, Some(60))));
        assert_eq!(parse("ready", drained), Ok(st(false, Ready, Some(30))));
        assert_eq!(
            parse("up", st(true, Maint, None)),
            Ok(st(false, Maint, None))
        );
        // Nonsense is an error, not a state.
        assert!(matches!(parse("", z), Err(AgentError::NoKeyword(_))));
        assert!(matches!(
            parse("HTTP/1.1 400 Bad Request", z),
            Err(AgentError::NoKeyword(_))
        ));
        assert!(matches!(parse("1001%", z), Err(AgentError::Percent(_))));
        assert!(matches!(parse("-5%", z), Err(AgentError::Percent(_))));
        assert!(matches!(parse("+5%", z), Err(AgentError::Percent(_))));
        assert_eq!(parse("1000%", z), Ok(st(false, Ready, Some(1000))));
        // What is shown of a hostile line is clean.
        let e = parse("\x1b[31mhello\x07", z).unwrap_err().to_string();
        assert!(!e.contains('\x1b') && !e.contains('\x07'), "{e}");
    }

    #[test]
    fn combined_meaning() {
        use AgentAdmin::*;
        assert!(st(true, Ready, None).takes_out());
        assert!(st(false, Maint, None).takes_out());
        assert!(!st(false, Drain, Some(50)).takes_out());
        assert_eq!(st(false, Drain, Some(50)).percent(), Some(0));
        assert_eq!(st(false, Ready, Some(50)).percent(), Some(50));
        assert_eq!(st(false, Ready, Some(50)).to_string(), "up 50%");
        assert_eq!(st(true, Maint, None).to_string(), "down maint");
    }
}
