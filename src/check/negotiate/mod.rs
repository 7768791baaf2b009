//! `checktype=negotiate`: one module per `service`, each copying what
//! ldirectord sends and what it counts as success (see docs/checks.md).
//! Every conversation runs under one overall deadline, like ldirectord's
//! alarm(): `negotiatetimeout`, or the smaller of both timeouts for ldap and
//! radius (ldirectord arms alarm(checktimeout) around their own timeout).

pub mod dns;
pub mod ftp;
pub mod http;
pub mod imap;
pub mod ldap;
pub mod mysql;
pub mod nntp;
pub mod pgsql;
pub mod pop;
pub mod radius;
pub mod simpletcp;
pub mod sip;
pub mod smtp;
pub mod tls;

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::limit::{Budget, Limited};
use super::spec::{CheckSpec, Service, Target};
use super::{CheckError, CheckResult, Started};

/// The overall deadline of a negotiate check of this spec.
pub fn deadline(spec: &CheckSpec) -> Duration {
    match spec.service {
        Service::Ldap | Service::Ldaps | Service::Radius => {
            spec.negotiatetimeout.min(spec.checktimeout)
        }
        _ => spec.negotiatetimeout,
    }
}

/// Run a negotiate check started at `started` (its timeout counts from there).
pub async fn check(spec: &CheckSpec, target: &Target, started: Started) -> CheckResult {
    check_counted_at(spec, target, started).await.0
}

tokio::task_local! {
    /// The read budget of the check running in this task: every stream the
    /// check opens counts against it (see [`wrap`]).
    static BUDGET: Budget;
}

/// [`check`], also returning how many bytes the check read (for tests and
/// benchmarks of the read bound).
pub async fn check_counted(spec: &CheckSpec, target: &Target) -> (CheckResult, u64) {
    check_counted_at(spec, target, Started::now()).await
}

/// [`check_counted`] for a check that started at `started`.
async fn check_counted_at(
    spec: &CheckSpec,
    target: &Target,
    started: Started,
) -> (CheckResult, u64) {
    let limit = deadline(spec);
    let budget = Budget::new();
    // One deadline over connect, TLS and the whole exchange: dropping the
    // future on timeout drops every socket of the check (nothing is spawned
    // that could outlive it).
    let r = match spec.service {
        // http, most checks, takes its budget as an argument: no
        // task-local scope swapped in and out around each of its polls
        Service::Http | Service::Https | Service::HttpProxy => {
            started
                .within(limit, http::check(spec, target, &budget))
                .await
        }
        // Boxed: the other conversations' futures (LDAP, PostgreSQL, ...)
        // are kilobytes, and inline they would make every check's future,
        // allocated per check, as large as the largest of them.
        _ => {
            BUDGET
                .scope(
                    budget.clone(),
                    started.within(limit, Box::pin(dispatch_other(spec, target))),
                )
                .await
        }
    };
    (r.unwrap_or(Err(CheckError::Timeout(limit))), budget.used())
}

/// `stream` counted against the current check's read budget (a budget of
/// its own outside a check).
pub fn wrap<S>(stream: S) -> Limited<S> {
    current_budget().wrap(stream)
}

/// The current check's read budget (a fresh one outside a check).
fn current_budget() -> Budget {
    BUDGET.try_with(|b| b.clone()).unwrap_or_default()
}

/// The conversation of every service but http, https and http_proxy
/// (those run from [`check_counted_at`] directly), under [`BUDGET`].
async fn dispatch_other(spec: &CheckSpec, target: &Target) -> CheckResult {
    match spec.service {
        Service::Http | Service::Https | Service::HttpProxy => {
            http::check(spec, target, &current_budget()).await
        }
        Service::Smtp | Service::Submission => smtp::check(spec, target).await,
        Service::Pop => pop::check(spec, target, false).await,
        Service::Pops => pop::check(spec, target, true).await,
        Service::Imap => imap::check(spec, target, false).await,
        Service::Imaps => imap::check(spec, target, true).await,
        Service::Ldap => ldap::check(spec, target, false).await,
        Service::Ldaps => ldap::check(spec, target, true).await,
        Service::Nntp => nntp::check(spec, target).await,
        Service::Dns => dns::check(spec, target).await,
        Service::Ftp => ftp::check(spec, target).await,
        Service::Sip => sip::check(spec, target).await,
        Service::SimpleTcp => simpletcp::check(spec, target).await,
        Service::Radius => radius::check(spec, target).await,
        Service::Mysql => mysql::check(spec, target).await,
        Service::Pgsql => pgsql::check(spec, target).await,
        Service::Oracle => Err(CheckError::Config(
            "service=oracle is not supported: no pure-Rust Oracle client exists".into(),
        )),
        Service::None => Ok("service none: not checked".into()),
    }
}

/// Whether `text` matches the `receive` regex; empty `receive` matches
/// anything (ldirectord's `!($recstr =~ /.+/) || $text =~ /$recstr/`).
pub fn receive_matches(receive: &str, text: &str) -> Result<bool, CheckError> {
    if receive.is_empty() {
        return Ok(true);
    }
    // The checks of one thread share a handful of `receive` strings: the
    // last few compiled ones are kept per thread, found by comparing the
    // string (a few bytes), not by hashing it and taking the shared
    // cache's lock on every check.
    thread_local! {
        static RECENT: std::cell::RefCell<Vec<(String, std::sync::Arc<regex::Regex>)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    const RECENT_MAX: usize = 8;
    let hit = RECENT.with_borrow(|recent| {
        recent
            .iter()
            .find(|(r, _)| r == receive)
            .map(|(_, re)| re.is_match(text))
    });
    if let Some(m) = hit {
        return Ok(m);
    }
    let re = compiled(receive)?;
    let m = re.is_match(text);
    RECENT.with_borrow_mut(|recent| {
        if recent.len() >= RECENT_MAX {
            recent.remove(0);
        }
        recent.push((receive.to_string(), re));
    });
    Ok(m)
}

/// Compiled `receive` regexes, shared by every check: compiling on each run
/// would cost more than the rest of a loopback HTTP check. Bounded by the
/// distinct `receive` strings of the configuration (cleared if it grows past
/// a limit, e.g. after many reloads).
fn compiled(receive: &str) -> Result<std::sync::Arc<regex::Regex>, CheckError> {
    compile_cached(receive)
        .map_err(|e| CheckError::Config(format!("receive is not a valid regex: {e}")))
}

/// [`compiled`] with the regex engine's error (also used by
/// `spec::validate`, so 10,000 checks sharing one `receive` compile it once).
pub(crate) fn compile_cached(receive: &str) -> Result<std::sync::Arc<regex::Regex>, regex::Error> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = cache.lock() {
        if let Some(re) = map.get(receive) {
            return Ok(re.clone());
        }
    }
    let re = Arc::new(regex::Regex::new(receive)?);
    if let Ok(mut map) = cache.lock() {
        if map.len() > 4096 {
            map.clear();
        }
        map.insert(receive.to_string(), re.clone());
    }
    Ok(re)
}

/// `request` without ldirectord's leading `/`.
pub fn request_body(spec: &CheckSpec) -> &str {
    spec.request.strip_prefix('/').unwrap_or(&spec.request)
}

/// A byte stream (plain TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A line-oriented conversation over a stream (SMTP, POP, IMAP, FTP, ...).
pub struct Lines {
    inner: BufReader<Box<dyn Io>>,
}

impl Lines {
    /// Connect to the check address, with TLS if `tls`.
    pub async fn connect(
        spec: &CheckSpec,
        target: &Target,
        tls: bool,
    ) -> Result<Lines, CheckError> {
        let addr = target.check_addr(spec);
        // The check's overall deadline bounds the connect too: no timer
        // (and clock read) of its own.
        let tcp = wrap(super::connect::tcp_untimed(addr, true).await?);
        let io: Box<dyn Io> = if tls {
            Box::new(tls::connect(tcp, target.real).await?)
        } else {
            Box::new(tcp)
        };
        Ok(Lines {
            inner: BufReader::new(io),
        })
    }

    /// Read one line without its CR LF; end of stream is an error.
    pub async fn line(&mut self) -> Result<String, CheckError> {
        let mut buf = Vec::new();
        let n = (&mut self.inner)
            .take(64 * 1024)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(CheckError::from_io)?;
        if n == 0 {
            return Err(CheckError::Closed(String::new()));
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Send `text` as is.
    pub async fn send(&mut self, text: &str) -> Result<(), CheckError> {
        let w = self.inner.get_mut();
        w.write_all(text.as_bytes())
            .await
            .map_err(CheckError::from_io)?;
        w.flush().await.map_err(CheckError::from_io)
    }

    /// Read an SMTP/FTP style reply (`NNN-` continuation lines, then `NNN `);
    /// returns the code and the last line.
    pub async fn reply(&mut self) -> Result<(u16, String), CheckError> {
        for _ in 0..1000 {
            let l = self.line().await?;
            let code: Option<u16> = l.get(..3).and_then(|c| c.parse().ok());
            let Some(code) = code else {
                return Err(CheckError::Mismatch(format!(
                    "not a reply line: {}",
                    show(&l)
                )));
            };
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, l));
            }
        }
        Err(CheckError::Mismatch("endless multi-line reply".into()))
    }

    /// The underlying stream (for protocols that stop being line-based).
    pub fn into_inner(self) -> BufReader<Box<dyn Io>> {
        self.inner
    }
}

/// A server answer shortened for a reason text.
pub fn show(s: &str) -> String {
    let t = s.trim();
    let mut out: String = t.chars().take(80).collect();
    if t.chars().count() > 80 {
        out.push_str("...");
    }
    format!("{out:?}")
}
