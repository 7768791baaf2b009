//! http, https and http_proxy checks (ldirectord's `check_http`, LWP):
//! GET or HEAD of `scheme://RIP:port/request` with `Host: virtualhost or
//! RIP`; up iff the final status is 2xx (or, with lvsd.toml's
//! `status_code`, one of those codes) and the body matches `receive`.
//! Redirects are followed (LWP: up to 7, for GET and HEAD). A per-real
//! request containing `scheme://` is used as the whole URL. http_proxy fetches
//! the absolute URL in `request` through the real server.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{receive_matches, tls};
use crate::check::limit::Budget;
use crate::check::spare;
use crate::check::spec::{CheckSpec, HttpMethod, Service, Target};
use crate::check::{CheckError, CheckResult};

/// LWP's default `max_redirect`.
const MAX_REDIRECTS: usize = 7;
/// Largest body read for `receive` matching.
const MAX_BODY: usize = 4 << 20;

/// A parsed absolute URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub https: bool,
    /// Host as written (brackets kept for IPv6).
    pub host: String,
    /// Port (scheme default if absent).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parse `http://host[:port][/path]` or `https://...`.
    pub fn parse(s: &str) -> Option<Url> {
        let (https, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else {
            return None;
        };
        let (auth, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path
        };
        // drop userinfo
        let auth = auth.rsplit('@').next().unwrap_or(auth);
        let default = if https { 443 } else { 80 };
        let (host, port) = if let Some(r) = auth.strip_prefix('[') {
            let end = r.find(']')?;
            let host = format!("[{}]", &r[..end]);
            let after = &r[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) if !p.is_empty() => p.parse().ok()?,
                _ => default,
            };
            (host, port)
        } else {
            match auth.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() => (h.to_string(), p.parse().ok()?),
                Some((h, _)) => (h.to_string(), default),
                None => (auth.to_string(), default),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(Url {
            https,
            host,
            port,
            path,
        })
    }

    /// `host[:port]` as a Host header value (port omitted when default).
    pub fn authority(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    async fn socket_addr(&self) -> Result<SocketAddr, CheckError> {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let mut it = tokio::net::lookup_host((bare, self.port))
            .await
            .map_err(|e| CheckError::Protocol(format!("cannot resolve {bare}: {e}")))?;
        it.next()
            .ok_or_else(|| CheckError::Protocol(format!("cannot resolve {bare}")))
    }
}

fn host_of(ip: IpAddr) -> String {
    let mut host = String::with_capacity(16);
    crate::model::addr_text::push_ip(&mut host, ip, true);
    host
}

/// The URL ldirectord checks for this real (its `$$r{url}`).
pub fn check_url(spec: &CheckSpec, target: &Target) -> String {
    spec.url_for(target.real, target.real_port)
}

/// Whether the check URL is `request` itself rather than
/// `scheme://RIP:port/request` (the rule of [`CheckSpec::url_for`]).
fn request_is_url(spec: &CheckSpec) -> bool {
    if spec.request_from_real {
        let scheme = if spec.service == Service::Https {
            "https://"
        } else {
            "http://"
        };
        spec.request.contains(scheme)
    } else {
        spec.service == Service::HttpProxy
    }
}

/// The first URL to fetch. In the common case (the real's address and a
/// path) it is built directly: formatting `url_for`'s text and parsing it
/// back cost ~3,000 instructions of a ~13,000-instruction check (callgrind).
fn first_url(spec: &CheckSpec, target: &Target) -> Result<Url, CheckError> {
    if request_is_url(spec) {
        let text = check_url(spec, target);
        return Url::parse(&text)
            .ok_or_else(|| CheckError::Config(format!("cannot parse check URL {text:?}")));
    }
    let rest = spec.request.trim_start_matches('/');
    let mut path = String::with_capacity(rest.len() + 1);
    path.push('/');
    path.push_str(rest);
    Ok(Url {
        https: spec.service == Service::Https,
        host: host_of(target.real),
        port: target.check_port(spec),
        path,
    })
}

/// Run an http/https/http_proxy check, its reads counted against `budget`.
pub async fn check(spec: &CheckSpec, target: &Target, budget: &Budget) -> CheckResult {
    let proxy = spec.service == Service::HttpProxy;
    let at_real = !request_is_url(spec);
    // Plain http to the real's own address, the usual check: its first
    // request needs no URL (the path is `request`, the host the real's
    // address, written straight into the request), so none is built
    // unless the answer redirects. Building it cost ~800 of a check's
    // ~11,800 instructions (two strings and the address's text).
    let mut url = if at_real && spec.service == Service::Http {
        None
    } else {
        Some(first_url(spec, target)?)
    };
    // The real's own address: no need to parse it back from the URL.
    let mut known_addr = at_real.then(|| target.check_addr(spec));
    // `None`: the URL's host, borrowed when the request is written (no
    // copy of it per check).
    let mut host_header: Option<Cow<'_, str>> = if proxy {
        Some(Cow::Owned(url_of(&mut url, spec, target)?.authority()))
    } else if let Some(v) = &spec.virtualhost {
        Some(Cow::Borrowed(v.as_str()))
    } else if known_addr.is_some() {
        None
    } else {
        Some(Cow::Owned(host_of(target.real)))
    };
    // The TLS name (SNI, and the name a `ca_file` check verifies):
    // `virtualhost` for the real's own URL, else the URL's host (the
    // real's address sends no SNI, as LWP).
    // Only an https check needs it: no copy for plain http.
    let mut tls_host = match &url {
        Some(u) if u.https && !proxy => match &spec.virtualhost {
            Some(v) if known_addr.is_some() => v.clone(),
            _ => u.host.clone(),
        },
        _ => String::new(),
    };
    let method = match spec.httpmethod {
        HttpMethod::Get => "GET",
        HttpMethod::Head => "HEAD",
    };
    let mut request = Pooled::take();
    for _ in 0..=MAX_REDIRECTS {
        let (addr, uri) = match (&url, known_addr.take()) {
            (Some(u), _) if proxy => (target.check_addr(spec), Cow::Owned(url_text_of(u))),
            (Some(u), Some(a)) => (a, Cow::Borrowed(u.path.as_str())),
            (Some(u), None) => (u.socket_addr().await?, Cow::Borrowed(u.path.as_str())),
            // no URL yet: a plain check's first request, to the real
            (None, _) => (target.check_addr(spec), plain_path(&spec.request)),
        };
        if let Some(bad) = uri.bytes().find(|b| !(0x21..0x7f).contains(b)) {
            return Err(CheckError::Config(format!(
                "bad request: byte {bad:#04x} in URI {uri:?}"
            )));
        }
        // `None`: the real's address, written as text below (it has no
        // control characters to check for).
        let host = host_header
            .as_deref()
            .or_else(|| url.as_ref().map(|u| u.host.as_str()));
        if let Some(host) = host.filter(|h| h.bytes().any(|b| b < 0x20 || b == 0x7f)) {
            return Err(CheckError::Config(format!(
                "bad request: control character in Host {host:?}"
            )));
        }
        request.clear();
        // one request per connection, like LWP without keep-alive (pieces
        // pushed, not `write!`: the same bytes without the formatter)
        for piece in [method, " ", &uri, " HTTP/1.1\r\nHost: "] {
            request.extend_from_slice(piece.as_bytes());
        }
        match host {
            Some(h) => request.extend_from_slice(h.as_bytes()),
            // as `host_of` writes it (IPv6 in brackets)
            None => crate::model::addr_text::push_ip_ascii(&mut request, target.real, true),
        }
        request.extend_from_slice(b"\r\nUser-Agent: lvsd-check\r\nConnection: close\r\n\r\n");
        // The whole check runs under the negotiate deadline: no second timer.
        let head_only = spec.httpmethod == HttpMethod::Head;
        let https = url.as_ref().is_some_and(|u| u.https);
        let answer = if https && !proxy {
            // Boxed: a TLS session's state is kilobytes, and inline it would
            // make every plain http check's future (allocated per check)
            // that large too; one allocation is nothing next to a handshake.
            Box::pin(https_exchange(
                spec, addr, &tls_host, &request, head_only, budget,
            ))
            .await?
        } else {
            let mut tcp = budget.wrap(crate::check::connect::tcp_untimed(addr, false).await?);
            let answer = exchange(&mut tcp, &request, head_only).await?;
            // The whole answer is read: nothing more to say to the real.
            crate::check::connect::reset_on_close(tcp.get_ref());
            answer
        };
        let Answer {
            status,
            location,
            body,
        } = answer;
        let status_line = status_line_of(status);
        // With `status_code` a listed code is the answer as is (keepalived
        // does not follow redirects); an unlisted 3xx is still followed,
        // as ldirectord does, and the code it ends on must be listed.
        let accepted = status_accepted(spec.policy.status_codes.as_ref(), status);
        if (300..400).contains(&status) && !accepted {
            if let Some(loc) = location {
                let url = url_of(&mut url, spec, target)?;
                let next = if loc.starts_with("http://") || loc.starts_with("https://") {
                    Url::parse(&loc)
                } else if loc.starts_with('/') {
                    Some(Url {
                        path: loc.clone(),
                        ..url.clone()
                    })
                } else {
                    let base = url.path.rsplit_once('/').map(|(b, _)| b).unwrap_or("");
                    Some(Url {
                        path: format!("{base}/{loc}"),
                        ..url.clone()
                    })
                };
                if let Some(n) = next {
                    // LWP drops the explicit Host header when following a redirect.
                    host_header = Some(Cow::Owned(n.authority()));
                    tls_host = n.host.clone();
                    *url = n;
                    continue;
                }
            }
        }
        if !accepted {
            return Err(CheckError::Mismatch(match &spec.policy.status_codes {
                Some(codes) => format!("HTTP status {status_line} (status_code: {codes})"),
                None => format!("HTTP status {status_line}"),
            }));
        }
        let text = String::from_utf8_lossy(&body);
        if receive_matches(&spec.receive, &text)? {
            return Ok(status_line);
        }
        return Err(CheckError::Mismatch(format!(
            "{status_line}, body does not match receive {:?}",
            spec.receive
        )));
    }
    Err(CheckError::Mismatch(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// The URL being checked, built from the spec if the check has none yet
/// (a plain check's first request needs none).
fn url_of<'u>(
    url: &'u mut Option<Url>,
    spec: &CheckSpec,
    target: &Target,
) -> Result<&'u mut Url, CheckError> {
    let u = match url.take() {
        Some(u) => u,
        None => first_url(spec, target)?,
    };
    Ok(url.insert(u))
}

/// The path of a plain check's request: `request` itself when it starts
/// with exactly one `/` (the usual case, borrowed), else what
/// [`first_url`] builds from it.
fn plain_path(request: &str) -> Cow<'_, str> {
    let rest = request.trim_start_matches('/');
    if request.len() == rest.len() + 1 {
        Cow::Borrowed(request)
    } else {
        Cow::Owned(format!("/{rest}"))
    }
}

/// Connect to `addr`, shake hands for `tls_host` and run one exchange.
async fn https_exchange(
    spec: &CheckSpec,
    addr: SocketAddr,
    tls_host: &str,
    request: &[u8],
    head_only: bool,
    budget: &Budget,
) -> Result<Answer, CheckError> {
    let tcp = budget.wrap(crate::check::connect::tcp_untimed(addr, true).await?);
    let name = match tls::server_name(tls_host) {
        Some(n) => n,
        // Not a name a certificate can hold: without ca_file the
        // address stands in (as before); with it the check cannot run.
        None if spec.policy.ca.is_none() => addr.ip().into(),
        None => {
            return Err(CheckError::Config(format!(
                "{tls_host:?} is neither a DNS name nor an address to verify the certificate for"
            )))
        }
    };
    let mut s = tls::connect_https(tcp, name, spec.policy.ca.as_ref()).await?;
    exchange(&mut s, request, head_only).await
}

/// "200 OK": the code and its canonical reason (empty for an unknown code),
/// built without the formatter (it is a check's usual answer text).
fn status_line_of(status: u16) -> String {
    let code = hyper::StatusCode::from_u16(status).ok();
    let reason = code.and_then(|s| s.canonical_reason()).unwrap_or("");
    let mut line = String::with_capacity(6 + reason.len());
    match code {
        // the code's digits as a constant string (100-999)
        Some(c) => line.push_str(c.as_str()),
        None => crate::model::addr_text::push_decimal(&mut line, status.into()),
    }
    line.push(' ');
    line.push_str(reason);
    line
}

/// Whether an answer's status counts as up: one of `status_code`'s codes
/// when it is set, else any 2xx (ldirectord).
fn status_accepted(codes: Option<&crate::model::StatusCodes>, status: u16) -> bool {
    match codes {
        Some(codes) => codes.contains(status),
        None => (200..300).contains(&status),
    }
}

fn url_text_of(u: &Url) -> String {
    format!(
        "{}://{}{}",
        if u.https { "https" } else { "http" },
        u.authority(),
        u.path
    )
}

// Why not hyper: callgrind on the benchmark (examples/bench_checks.rs,
// 1,000 reals on loopback) counted ~30,000 user-space instructions per http
// check with a hyper client per connection (handshake, dispatcher, header
// map, body collection; about a third in hyper's dispatcher alone, plus ~40
// allocations) against ~10,400 with this request writer and `httparse`. A
// check sends one fixed request on a fresh connection and reads one answer,
// so hyper's connection machinery buys nothing here. Kept from ldirectord's
// check: method (GET/HEAD), Host header, path, status, body for `receive`,
// redirects (in `check`); bodies by Content-Length, chunked or read to
// close; 1xx answers skipped; no body after HEAD, 204 and 304.

/// Largest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Most header lines parsed in a response head.
const MAX_HEADERS: usize = 64;

/// A parsed answer: status code, `Location`, body.
struct Answer {
    status: u16,
    location: Option<String>,
    body: Pooled,
}

/// A byte buffer of this thread's few spare ones, handed back when
/// dropped. A check's request and the buffer its answer is read into are a
/// few KiB each, allocated and freed by every check: at 10,000 checks a
/// second, started a hundred at a time, malloc's per-size caches (7
/// chunks) overflow and each of them took the allocator's slow path, a
/// sixth of the checks' user time on the host (issue 15). Bounded: at most
/// [`SPARE_MAX`] buffers of at most [`SPARE_CAP`] bytes are kept per
/// thread; a larger one (a big answer) is freed as before, and so is one
/// given back to a full pool.
struct Pooled(Vec<u8>);

/// Most spare buffers kept per thread: two per check in flight at the
/// engine's default bound of 512 (a request and an answer each), at most
/// 4 MiB, 2 MiB of them in the usual 2 KiB buffers.
const SPARE_MAX: usize = 1024;
/// Largest capacity kept; a buffer grown past it is freed.
const SPARE_CAP: usize = 4 << 10;
/// Capacity of a new buffer: a health check's whole answer, usually.
const FRESH_CAP: usize = 2048;

thread_local! {
    static SPARE: spare::Spares<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Pooled {
    /// An empty buffer, a spare one if this thread has one.
    fn take() -> Pooled {
        Pooled(spare::take(&SPARE).unwrap_or_else(|| Vec::with_capacity(FRESH_CAP)))
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let cap = self.0.capacity();
        if cap == 0 || cap > SPARE_CAP {
            return;
        }
        let mut b = std::mem::take(&mut self.0);
        b.clear();
        spare::give(&SPARE, b, SPARE_MAX);
    }
}

impl std::ops::Deref for Pooled {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

/// What the head says about the body that follows.
enum BodyKind {
    None,
    Length(usize),
    Chunked,
    ToClose,
}

fn incomplete() -> CheckError {
    CheckError::Closed(" before a complete HTTP response".into())
}

/// Read more bytes into `buf`; `Ok(false)` at end of stream.
async fn fill<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> Result<bool, CheckError> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(4096);
    }
    let n = io.read_buf(buf).await.map_err(CheckError::from_io)?;
    Ok(n > 0)
}

/// Send `request` and read one HTTP/1.x answer.
async fn exchange<S>(io: &mut S, request: &[u8], head_only: bool) -> Result<Answer, CheckError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(request).await.map_err(CheckError::from_io)?;
    io.flush().await.map_err(CheckError::from_io)?;
    let mut buf = Pooled::take();
    loop {
        // Parse the head in what has arrived; read more while it is partial.
        let parsed = {
            // Uninitialised: the parser writes what it finds, and filling
            // 64 empty headers (2 KiB) before every parse is not free.
            let mut headers =
                [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut []);
            match httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut resp,
                &buf,
                &mut headers,
            ) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut location = None;
                    let mut length = None;
                    let mut chunked = false;
                    for h in resp.headers.iter() {
                        // Most headers are none of the three: their length
                        // says so without comparing any byte.
                        if !matches!(h.name.len(), 8 | 14 | 17) {
                            continue;
                        }
                        if h.name.eq_ignore_ascii_case("location") {
                            location = Some(String::from_utf8_lossy(h.value).into_owned());
                        } else if h.name.eq_ignore_ascii_case("content-length") {
                            let v = std::str::from_utf8(h.value).ok().map(str::trim);
                            match v.and_then(|v| v.parse::<usize>().ok()) {
                                Some(n) => length = Some(n),
                                None => {
                                    return Err(CheckError::Mismatch(
                                        "not an HTTP response: invalid Content-Length".into(),
                                    ))
                                }
                            }
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            // chunked must be the last coding (RFC 9112 6.1)
                            chunked = h
                                .value
                                .rsplit(|&b| b == b',')
                                .next()
                                .map(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"))
                                .unwrap_or(false);
                        }
                    }
                    Some((len, status, location, length, chunked))
                }
                Ok(httparse::Status::Partial) => None,
                Err(e) => return Err(CheckError::Mismatch(format!("not an HTTP response: {e}"))),
            }
        };
        let Some((head_len, status, location, length, chunked)) = parsed else {
            if buf.len() > MAX_HEAD {
                return Err(CheckError::Mismatch(
                    "not an HTTP response: head larger than 64 KiB".into(),
                ));
            }
            if !fill(io, &mut buf).await? {
                return Err(incomplete());
            }
            continue;
        };
        buf.drain(..head_len);
        // 1xx informational answers precede the real one (not 101).
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        // RFC 9112 6.3: no body after HEAD, 1xx, 204, 304.
        let kind = if head_only || status < 200 || status == 204 || status == 304 {
            BodyKind::None
        } else if chunked {
            BodyKind::Chunked
        } else if let Some(n) = length {
            BodyKind::Length(n)
        } else {
            BodyKind::ToClose
        };
        let body = read_body(io, buf, kind).await?;
        return Ok(Answer {
            status,
            location,
            body,
        });
    }
}

fn too_long() -> CheckError {
    CheckError::Protocol(format!("HTTP body: longer than {MAX_BODY} bytes"))
}

/// Read the body described by `kind`; `buf` holds what followed the head.
async fn read_body<S: AsyncRead + Unpin>(
    io: &mut S,
    mut buf: Pooled,
    kind: BodyKind,
) -> Result<Pooled, CheckError> {
    match kind {
        BodyKind::None => {
            buf.clear();
            Ok(buf)
        }
        BodyKind::Length(n) => {
            if n > MAX_BODY {
                return Err(too_long());
            }
            while buf.len() < n {
                if !fill(io, &mut buf).await? {
                    return Err(incomplete());
                }
            }
            buf.truncate(n);
            Ok(buf)
        }
        BodyKind::ToClose => {
            while fill(io, &mut buf).await? {
                if buf.len() > MAX_BODY {
                    return Err(too_long());
                }
            }
            Ok(buf)
        }
        BodyKind::Chunked => {
            let mut body = Pooled(Vec::new());
            let mut pos = 0;
            loop {
                match httparse::parse_chunk_size(&buf[pos..]) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        let size = usize::try_from(size).map_err(|_| too_long())?;
                        if body.len() + size > MAX_BODY {
                            return Err(too_long());
                        }
                        if size == 0 {
                            // trailers are not needed for the check
                            return Ok(body);
                        }
                        let start = pos + used;
                        // the data and its CR LF
                        while buf.len() < start + size + 2 {
                            if !fill(io, &mut buf).await? {
                                return Err(incomplete());
                            }
                        }
                        body.extend_from_slice(&buf[start..start + size]);
                        // Drop what was parsed: keeping it grew the buffer by
                        // each chunk's size line and extensions (1-byte chunks
                        // with 1 KiB extensions: 1 KiB kept per body byte).
                        buf.drain(..start + size + 2);
                        pos = 0;
                    }
                    Ok(httparse::Status::Partial) => {
                        if buf.len() - pos > 1024 {
                            return Err(CheckError::Mismatch(
                                "not an HTTP response: invalid chunk size line".into(),
                            ));
                        }
                        if !fill(io, &mut buf).await? {
                            return Err(incomplete());
                        }
                    }
                    Err(_) => {
                        return Err(CheckError::Mismatch(
                            "not an HTTP response: invalid chunk size".into(),
                        ))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A plain check's first request writes the real's address and path
    /// itself: the same bytes as the URL it no longer builds.
    #[test]
    fn plain_host_and_path_match_the_url() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "127.0.1.20",
            "9.99.100.255",
            "::1",
            "fe80::1:2",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            crate::model::addr_text::push_ip_ascii(&mut out, ip, true);
            assert_eq!(String::from_utf8(out).unwrap(), host_of(ip), "{ip}");
        }
        let mut spec = crate::check::spec::base();
        spec.service = Service::Http;
        let target = Target {
            real: Ipv4Addr::LOCALHOST.into(),
            real_port: 80,
            virtual_host: "10.0.0.1".into(),
            virtual_port: 80,
        };
        for request in ["/check.html", "check.html", "//a", "", "/", "/a?b=c"] {
            spec.request = request.into();
            let url = first_url(&spec, &target).unwrap();
            assert_eq!(plain_path(request), url.path, "{request:?}");
        }
        assert!(matches!(plain_path("/check.html"), Cow::Borrowed(_)));
    }

    /// The spare buffers stay bounded: at most SPARE_MAX kept, none grown
    /// past SPARE_CAP (a big answer's buffer is freed), and a reused one
    /// comes back empty.
    #[test]
    fn spare_buffers_are_bounded_and_come_back_empty() {
        std::thread::spawn(|| {
            let spare = || SPARE.with_borrow(|s| (s.len(), s.iter().map(Vec::capacity).max()));
            let mut big = Pooled::take();
            big.resize(SPARE_CAP + 1, b'x');
            drop(big);
            assert_eq!(spare(), (0, None));
            let many: Vec<Pooled> = (0..SPARE_MAX + 10)
                .map(|_| {
                    let mut b = Pooled::take();
                    b.extend_from_slice(b"answer");
                    b
                })
                .collect();
            drop(many);
            let (n, cap) = spare();
            assert_eq!(n, SPARE_MAX);
            assert!(cap.is_some_and(|c| c <= SPARE_CAP));
            let again = Pooled::take();
            assert!(again.is_empty() && again.capacity() >= FRESH_CAP);
            assert_eq!(spare().0, SPARE_MAX - 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn status_line_is_code_and_reason() {
        for code in [
            0u16, 99, 100, 200, 204, 301, 404, 418, 599, 600, 999, 1000, 65535,
        ] {
            let reason = hyper::StatusCode::from_u16(code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            assert_eq!(status_line_of(code), format!("{code} {reason}"));
        }
        assert_eq!(status_line_of(200), "200 OK");
    }

    /// The bytes a plain http check sends (method, path, Host, the fixed
    /// headers) and the text it passes with, against a loopback real that
    /// records the request: the request is built piece by piece, so a
    /// change of one byte shows here.
    #[tokio::test]
    async fn request_bytes_and_answer_text() {
        use tokio::net::TcpListener;
        for (method, virtualhost, want_head) in [
            (
                HttpMethod::Get,
                None,
                "GET /st/a?b=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            ),
            (
                HttpMethod::Head,
                Some("www.example"),
                "HEAD /st/a?b=1 HTTP/1.1\r\nHost: www.example\r\n",
            ),
        ] {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            let real = tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 512];
                while !req.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    assert!(n > 0, "request ended early: {req:?}");
                    req.extend_from_slice(&buf[..n]);
                }
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                String::from_utf8(req).unwrap()
            });
            let spec = CheckSpec {
                service: Service::Http,
                request: "st/a?b=1".into(),
                receive: if method == HttpMethod::Get {
                    "^ok$".into()
                } else {
                    String::new()
                },
                httpmethod: method,
                virtualhost: virtualhost.map(String::from),
                ..crate::check::spec::base()
            };
            let t = Target {
                real: IpAddr::V4(Ipv4Addr::LOCALHOST),
                real_port: port,
                virtual_host: "10.0.0.1".into(),
                virtual_port: 80,
            };
            assert_eq!(check(&spec, &t, &Budget::new()).await.unwrap(), "200 OK");
            let req = real.await.unwrap();
            assert_eq!(
                req,
                format!("{want_head}User-Agent: lvsd-check\r\nConnection: close\r\n\r\n")
            );
        }
    }

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8080/a/b?c").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (false, "127.0.0.1", 8080, "/a/b?c")
        );
        let u = Url::parse("https://[::1]/").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (true, "[::1]", 443, "/")
        );
        assert_eq!(
            Url::parse("https://[::1]:8443").unwrap().authority(),
            "[::1]:8443"
        );
        assert!(Url::parse("ftp://x/").is_none());
        assert!(Url::parse("http://:80/").is_none());
    }

    #[test]
    fn status_code_replaces_the_2xx_rule() {
        use crate::model::StatusCodes;
        for (code, want) in [
            (199, false),
            (200, true),
            (204, true),
            (299, true),
            (302, false),
        ] {
            assert_eq!(status_accepted(None, code), want, "{code}");
        }
        let set = StatusCodes(vec![(200, 200), (300, 399), (503, 503)]);
        for (code, want) in [
            (200, true),
            (201, false),
            (300, true),
            (399, true),
            (404, false),
            (503, true),
        ] {
            assert_eq!(status_accepted(Some(&set), code), want, "{code}");
        }
    }

    #[test]
    fn ldirectord_url_forms() {
        let t = Target {
            real: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            real_port: 80,
            virtual_host: "10.0.0.1".into(),
            virtual_port: 80,
        };
        let mut s = CheckSpec {
            service: Service::Http,
            request: "/index.html".into(),
            ..crate::check::spec::base()
        };
        assert_eq!(check_url(&s, &t), "http://10.0.0.2:80/index.html");
        s.checkport = Some(8080);
        assert_eq!(check_url(&s, &t), "http://10.0.0.2:8080/index.html");
        s.request = "/http://other.example/x".into();
        // only a real's own request may be a full URL (ldirectord's ld_setup)
        assert_eq!(
            check_url(&s, &t),
            "http://10.0.0.2:8080/http://other.example/x"
        );
        s.request_from_real = true;
        assert_eq!(check_url(&s, &t), "http://other.example/x");
        s.request_from_real = false;
        s.service = Service::Https;
        s.request = "/".into();
        let t6 = Target {
            real: "::2".parse().unwrap(),
            ..t
        };
        assert_eq!(check_url(&s, &t6), "https://[::2]:8080/");
    }

    /// Run `exchange` against a peer that answers `answer` (in `parts`
    /// writes) and then closes; returns the answer and the request seen.
    async fn talk(parts: &[&[u8]], head_only: bool) -> (Result<Answer, CheckError>, Vec<u8>) {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        let peer = tokio::spawn(async move {
            let mut req = vec![0u8; 4096];
            let n = server.read(&mut req).await.unwrap();
            req.truncate(n);
            for p in parts {
                server.write_all(&p).await.unwrap();
                tokio::task::yield_now().await;
            }
            req
        });
        let r = exchange(&mut client, b"GET / HTTP/1.1\r\n\r\n", head_only).await;
        (r, peer.await.unwrap())
    }

    #[tokio::test]
    async fn exchange_reads_every_body_framing() {
        // Content-Length, split across writes; extra bytes after it ignored
        let (r, req) = talk(
            &[
                b"HTTP/1.1 200 OK\r\nContent-Le",
                b"ngth: 5\r\n\r\nhel",
                b"lo+junk",
            ],
            false,
        )
        .await;
        assert_eq!(req, b"GET / HTTP/1.1\r\n\r\n");
        let a = r.unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"hello"[..]));
        // chunked, with a chunk extension and trailers
        let (r, _) = talk(
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;x=y\r\nabc\r\n",
                b"2\r\nde\r\n0\r\nTrailer: 1\r\n\r\n",
            ],
            false,
        )
        .await;
        assert_eq!(*r.unwrap().body, b"abcde");
        // no length: read to close
        let (r, _) = talk(&[b"HTTP/1.0 200 OK\r\n\r\nall ", b"of it"], false).await;
        assert_eq!(*r.unwrap().body, b"all of it");
        // 1xx answers are skipped; Location is kept
        let (r, _) = talk(
            &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nlocation: /x\r\nContent-Length: 0\r\n\r\n"],
            false,
        )
        .await;
        let a = r.unwrap();
        assert_eq!((a.status, a.location.as_deref()), (302, Some("/x")));
        // HEAD and 204 have no body even with a Content-Length
        let (r, _) = talk(&[b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"], true).await;
        assert!(r.unwrap().body.is_empty());
        let (r, _) = talk(
            &[b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"],
            false,
        )
        .await;
        assert!(r.unwrap().body.is_empty());
    }

    #[tokio::test]
    async fn exchange_errors_say_why() {
        let reason = |r: Result<Answer, CheckError>| match r {
            Ok(a) => panic!("accepted status {}", a.status),
            Err(e) => e.to_string(),
        };
        let (r, _) = talk(&[b"220 mail.example ESMTP\r\n"], false).await;
        assert!(reason(r).starts_with("wrong answer: not an HTTP response"));
        let (r, _) = talk(&[b"HTTP/1.1 200 OK\r\nContent-"], false).await;
        assert_eq!(
            reason(r),
            "connection closed by peer before a complete HTTP response"
        );
        let (r, _) = talk(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"],
            false,
        )
        .await;
        assert_eq!(
            reason(r),
            "connection closed by peer before a complete HTTP response"
        );
        let (r, _) = talk(&[b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"], false).await;
        assert!(reason(r).contains("invalid Content-Length"));
        let (r, _) = talk(
            &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
            false,
        )
        .await;
        assert!(reason(r).contains("invalid chunk size"));
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let (r, _) = talk(&[big.as_bytes()], false).await;
        assert!(reason(r).contains("longer than"));
        let (r, _) = talk(&[], false).await;
        assert!(reason(r).starts_with("connection closed by peer"));
    }
}
