//! The HTTP listener for Prometheus (`/metrics`), a plain-text status
//! page (`/status`) and the event stream (`/events`, server-sent events).
//! Loopback by default: the page names every real server, which is not for
//! the world to read.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::events::{Bus, Item, Subscription};

/// Most `/events` subscribers at once (each also holds one of the
/// listener's connections); beyond it a subscriber gets 503.
pub const MAX_SUBSCRIBERS: usize = 8;

/// Response bodies: a page, or the event stream.
type Body = BoxBody<Bytes, Infallible>;

/// Which page to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Prometheus text format.
    Metrics,
    /// `lvsd status` text.
    Status,
    /// The HTML status page (`/`, a constant: see `daemon::web`).
    Html,
    /// The JSON snapshot the page polls (`/status.json`).
    Json,
}

/// Renders a page on demand (reads fresh kernel stats).
pub type Render = Arc<dyn Fn(Page) -> BoxFuture<'static, String> + Send + Sync>;

/// Limits of the listener. Anyone who can reach the port (by default any
/// local user) can open connections, so descriptors and time spent on
/// clients stay bounded whatever they do: idle, slowloris, never reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections served at once; beyond it a new connection is
    /// closed as soon as it is accepted (one descriptor, for an instant).
    pub max_connections: usize,
    /// Time for a request's headers to arrive completely (slowloris).
    pub header_timeout: Duration,
    /// A connection with no byte read or written for this long is closed:
    /// an idle keep-alive client, or one that never reads its response.
    pub idle_timeout: Duration,
    /// Longest life of one connection, whatever it does.
    pub max_lifetime: Duration,
    /// Largest request head (request line and headers) read, in bytes.
    pub max_request_bytes: usize,
    /// Most header lines in a request.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 64,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(300),
            max_request_bytes: 16 * 1024,
            max_headers: 64,
        }
    }
}

/// Test hook: `header,idle,lifetime` in milliseconds overrides the
/// timeouts of [`Limits`], so the real binary's limits can be tested
/// without waiting for the defaults. Not documented for operators.
pub const TEST_TIMEOUTS_ENV: &str = "LVSD_TEST_HTTP_TIMEOUTS_MS";

impl Limits {
    /// The defaults, with [`TEST_TIMEOUTS_ENV`] applied when it is set
    /// and well formed.
    pub fn from_env() -> Limits {
        let mut l = Limits::default();
        if let Some(v) = std::env::var_os(TEST_TIMEOUTS_ENV) {
            let ms: Vec<u64> = v
                .to_string_lossy()
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .filter(|x| (1..=3_600_000).contains(x))
                .collect();
            if let [h, i, t] = ms[..] {
                l.header_timeout = Duration::from_millis(h);
                l.idle_timeout = Duration::from_millis(i);
                l.max_lifetime = Duration::from_millis(t);
            }
        }
        l
    }
}

/// The instant of a connection's last byte in either direction, in
/// milliseconds since the connection was accepted.
#[derive(Debug)]
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A socket that records when bytes move, for the idle timeout.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serve until shutdown, with the default [`Limits`] (and the test hook).
pub async fn serve(listener: TcpListener, render: Render, shutdown: watch::Receiver<bool>) {
    serve_with(listener, render, shutdown, Limits::from_env()).await
}

/// Serve until shutdown within `limits`.
pub async fn serve_with(
    listener: TcpListener,
    render: Render,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
) {
    serve_full(listener, render, None, shutdown, limits).await
}

/// Serve until shutdown within `limits`, with `/events` from `events`
/// (404 without).
pub async fn serve_full(
    listener: TcpListener,
    render: Render,
    events: Option<Bus>,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
) {
    let streams = Events {
        bus: events,
        slots: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)),
        // A comment line well within the idle timeout keeps a quiet
        // stream open (and proves the client still reads).
        keepalive: (limits.idle_timeout / 3).max(Duration::from_millis(10)),
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut refused: u64 = 0;
    let mut conns = tokio::task::JoinSet::new();
    loop {
        // Reap finished connection tasks so the set stays small.
        while conns.try_join_next().is_some() {}
        let (stream, _) = tokio::select! {
            _ = shutdown.changed() => break,
            acc = listener.accept() => match acc {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Full: close at once (dropping the stream), logging rarely.
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    max = limits.max_connections,
                    "metrics listener full; connections closed"
                );
            }
            continue;
        };
        // Hosts the page answers to: loopback names plus the address this
        // client connected to (and so knows) and our own host name.
        let local = stream.local_addr().ok().map(|a| a.ip());
        let render = render.clone();
        let streams = streams.clone();
        conns.spawn(async move {
            let _permit = permit;
            let activity = Arc::new(Activity {
                start: Instant::now(),
                last_ms: AtomicU64::new(0),
            });
            let io = Watched {
                inner: stream,
                activity: activity.clone(),
            };
            let svc = service_fn(move |req| handle(req, render.clone(), local, streams.clone()));
            let mut b = http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(limits.max_request_bytes.max(8192))
                .max_headers(limits.max_headers);
            let conn = b.serve_connection(TokioIo::new(io), svc);
            let lifetime = tokio::time::sleep(limits.max_lifetime);
            tokio::pin!(conn, lifetime);
            let step = (limits.idle_timeout / 4).max(Duration::from_millis(10));
            loop {
                tokio::select! {
                    r = &mut conn => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "metrics connection failed");
                        }
                        return;
                    }
                    _ = &mut lifetime => return,
                    _ = tokio::time::sleep(step) => {
                        if activity.idle_for() >= limits.idle_timeout {
                            return;
                        }
                    }
                }
            }
        });
    }
    conns.shutdown().await;
}

/// Bind the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Whether a `Host` header value names this server in a way a DNS
/// rebinding page cannot: `localhost`, a loopback address, the address the
/// client connected to (`local`), or this machine's host name, each with an
/// optional numeric port. A name the attacker controls that resolves to
/// 127.0.0.1 is refused, so a browser page cannot read the status.
pub fn host_allowed(host: &str, local: Option<IpAddr>) -> bool {
    let host = host.trim();
    // Split off ":PORT"; an IPv6 literal is bracketed.
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((addr, tail)) = rest.split_once(']') else {
            return false;
        };
        match (tail, tail.strip_prefix(':')) {
            ("", _) => (addr, None),
            (_, Some(p)) => (addr, Some(p)),
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (host, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        // A bare IPv6 literal is only valid bracketed.
        if ip.is_ipv6() && !host.starts_with('[') {
            return false;
        }
        return ip.is_loopback() || Some(ip) == local;
    }
    let me = own_hostname();
    !me.is_empty() && name.eq_ignore_ascii_case(me)
}

/// This machine's host name, read once: the check runs per request on the
/// async runtime, where a file read per request has no place (the engine
/// reads the name once at start too).
fn own_hostname() -> &'static str {
    crate::model::hostname().unwrap_or_default()
}

/// What `/events` needs: the bus, the subscriber slots, the keep-alive
/// period.
#[derive(Clone)]
struct Events {
    bus: Option<Bus>,
    slots: Arc<Semaphore>,
    keepalive: Duration,
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

/// `Last-Event-ID`: a sequence number, else ignored.
fn last_event_id(req: &Request<Incoming>) -> Option<u64> {
    let v = req.headers().get("last-event-id")?.to_str().ok()?.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// The `/events` stream: a comment and the reconnect delay first, then
/// each event once, in order (`id:` = its sequence number), a `lagged`
/// event with the number lost when this client fell behind, and a
/// comment every `keepalive` while nothing happens. Holds its subscriber
/// slot until the connection ends.
fn event_stream(sub: Subscription, permit: OwnedSemaphorePermit, keepalive: Duration) -> Body {
    struct St {
        sub: Subscription,
        _permit: OwnedSemaphorePermit,
        first: bool,
    }
    let st = St {
        sub,
        _permit: permit,
        first: true,
    };
    let stream = futures::stream::unfold(st, move |mut st| async move {
        if st.first {
            st.first = false;
            let hello = Bytes::from_static(b": lvsd events\nretry: 2000\n\n");
            return Some((Ok::<_, Infallible>(Frame::data(hello)), st));
        }
        // recv is cancel-safe: a keep-alive never loses an event.
        let chunk = match tokio::time::timeout(keepalive, st.sub.next()).await {
            Err(_) => ": keepalive\n\n".to_string(),
            Ok(None) => return None,
            Ok(Some(Item::Event(e))) => e.sse(),
            Ok(Some(Item::Lagged(n))) => {
                format!("event: lagged\ndata: {{\"missed\":{n}}}\n\n")
            }
            Ok(Some(Item::Reset)) => "event: reset\ndata: {}\n\n".to_string(),
        };
        Some((Ok(Frame::data(Bytes::from(chunk))), st))
    });
    StreamBody::new(stream).boxed()
}

async fn handle(
    req: Request<Incoming>,
    render: Render,
    local: Option<IpAddr>,
    events: Events,
) -> Result<Response<Body>, Infallible> {
    // No Host at all (HTTP/1.0 tools) cannot come from a browser page.
    let host_ok = match req.headers().get(hyper::header::HOST) {
        None => true,
        Some(h) => h.to_str().is_ok_and(|h| host_allowed(h, local)),
    };
    if !host_ok || req.headers().get_all(hyper::header::HOST).iter().count() > 1 {
        let resp = Response::builder()
            .status(StatusCode::MISDIRECTED_REQUEST)
            .header("connection", "close")
            .body(full(Bytes::from_static(b"host not allowed\n")));
        return Ok(resp.unwrap_or_else(|_| Response::new(full(Bytes::new()))));
    }
    if req.method() == Method::GET && req.uri().path() == "/events" {
        let Some(bus) = events.bus.as_ref() else {
            let r = Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body(full(Bytes::from_static(b"not found\n")));
            return Ok(r.unwrap_or_else(|_| Response::new(full(Bytes::new()))));
        };
        let resp = match events.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let sub = bus.subscribe(last_event_id(&req));
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .header("cache-control", "no-store")
                    .body(event_stream(sub, permit, events.keepalive))
            }
            Err(_) => Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header("retry-after", "5")
                .header("connection", "close")
                .body(full(Bytes::from_static(b"too many event subscribers\n"))),
        };
        return Ok(resp.unwrap_or_else(|_| Response::new(full(Bytes::new()))));
    }
    let page = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => Some(Page::Metrics),
        (&Method::GET, "/status") => Some(Page::Status),
        (&Method::GET, "/") | (&Method::GET, "/index.html") => Some(Page::Html),
        (&Method::GET, "/status.json") => Some(Page::Json),
        _ => None,
    };
    let resp = match page {
        Some(p) => {
            let body = match p {
                Page::Html => super::web::PAGE.to_string(),
                _ => render(p).await,
            };
            let ctype = match p {
                Page::Metrics => "text/plain; version=0.0.4; charset=utf-8",
                Page::Status => "text/plain; charset=utf-8",
                Page::Html => "text/html; charset=utf-8",
                Page::Json => "application/json",
            };
            Response::builder()
                .header("content-type", ctype)
                .header("cache-control", "no-store")
                .body(full(body))
        }
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(full(Bytes::from_static(b"not found\n"))),
    };
    Ok(resp.unwrap_or_else(|_| Response::new(full(Bytes::from_static(b"internal error\n")))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        get_as(addr, path, "localhost:9612").await
    }

    async fn get_as(addr: SocketAddr, path: &str, host: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_status_and_404() {
        let l = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let render: Render = Arc::new(|p| {
            Box::pin(async move {
                match p {
                    Page::Metrics => "lvsd_reconciles_total 3\n".to_string(),
                    Page::Status => "TCP 1.2.3.4:80 wrr\n".to_string(),
                    Page::Json => "{}\n".to_string(),
                    Page::Html => unreachable!("the page is a constant"),
                }
            })
        });
        let (stx, srx) = watch::channel(false);
        let h = tokio::spawn(serve(l, render, srx));
        let m = get(addr, "/metrics").await;
        assert!(m.starts_with("HTTP/1.1 200"), "{m}");
        assert!(m.contains("version=0.0.4"));
        assert!(m.ends_with("lvsd_reconciles_total 3\n"));
        assert!(get(addr, "/status").await.ends_with("TCP 1.2.3.4:80 wrr\n"));
        let html = get(addr, "/").await;
        assert!(
            html.contains("text/html") && html.contains("status.json"),
            "{html}"
        );
        assert!(get(addr, "/status.json").await.ends_with("{}\n"));
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        // DNS rebinding: a name that merely resolves to us gets no data.
        let r = get_as(addr, "/status.json", "evil.example:9612").await;
        assert!(r.starts_with("HTTP/1.1 421"), "{r}");
        assert!(!r.contains("{}"), "{r}");
        assert!(get_as(addr, "/status", "127.0.0.1:1")
            .await
            .ends_with("wrr\n"));
        stx.send(true).unwrap();
        h.await.unwrap();
    }

    #[test]
    fn host_allow_list() {
        let local: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        for ok in [
            "localhost",
            "LOCALHOST:9612",
            "localhost.",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:9612",
            "192.0.2.7:9612",
        ] {
            assert!(host_allowed(ok, local), "{ok} refused");
        }
        for bad in [
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "192.0.2.8",
            "::1",
            "[::1",
            "[::1]x",
            "localhost:",
            "localhost:99999a",
            "10.0.0.1:9612",
            "",
        ] {
            assert!(!host_allowed(bad, local), "{bad} allowed");
        }
    }

    /// Idle and slowloris clients are dropped after their timeouts, and
    /// connections beyond the limit are closed at once.
    #[tokio::test]
    async fn idle_slow_and_excess_connections_are_closed() {
        let l = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let render: Render = Arc::new(|_| Box::pin(async { "ok\n".to_string() }));
        let limits = Limits {
            max_connections: 4,
            header_timeout: Duration::from_millis(600),
            idle_timeout: Duration::from_millis(400),
            max_lifetime: Duration::from_secs(30),
            ..Limits::default()
        };
        let (stx, srx) = watch::channel(false);
        let h = tokio::spawn(serve_with(l, render, srx, limits));
        let closed = |mut s: tokio::net::TcpStream| async move {
            let mut b = [0u8; 64];
            matches!(
                tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await,
                Ok(Ok(0)) | Ok(Err(_))
            )
        };
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Full: the fifth is closed without an answer.
        let extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(closed(extra).await, "excess connection kept");
        for s in idle {
            assert!(closed(s).await, "idle connection kept");
        }
        // Slowloris: a header byte every 100 ms keeps it active but the
        // headers never complete within header_timeout.
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        let t0 = Instant::now();
        let mut dropped = false;
        for b in b"GET / HTTP/1.1\r\nX-a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            if slow.write_all(&[*b]).await.is_err() {
                dropped = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(dropped || closed(slow).await, "slowloris kept");
        assert!(t0.elapsed() < Duration::from_secs(4));
        // Still serving.
        assert!(get(addr, "/metrics").await.ends_with("ok\n"));
        stx.send(true).unwrap();
        h.await.unwrap();
    }

    /// A client that asks for a big page and never reads it is closed by
    /// the idle (write) timeout; an oversized request head is refused.
    #[tokio::test]
    async fn non_reading_client_and_huge_headers_are_dropped() {
        let l = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let render: Render = Arc::new(|_| Box::pin(async { "x".repeat(16 << 20) }));
        let limits = Limits {
            idle_timeout: Duration::from_millis(500),
            ..Limits::default()
        };
        let (stx, srx) = watch::channel(false);
        let h = tokio::spawn(serve_with(l, render, srx, limits));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        // Let the server fill the socket buffers, then read: the stream
        // must end (closed by the server) long before 16 MiB arrived.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut got = 0usize;
        let mut buf = vec![0u8; 65536];
        let t0 = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got += n,
                Err(_) => panic!("neither data nor close"),
            }
            assert!(t0.elapsed() < Duration::from_secs(10));
        }
        assert!(got < 16 << 20, "whole response sent to a stalled client");

        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let big = format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
            "a".repeat(64 * 1024)
        );
        let _ = s.write_all(big.as_bytes()).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        let out = String::from_utf8_lossy(&out);
        assert!(!out.contains("200 OK"), "{out}");
        stx.send(true).unwrap();
        h.await.unwrap();
    }

    /// Read from `s` until `pred` holds for what arrived (bounded).
    async fn read_until(s: &mut tokio::net::TcpStream, pred: impl Fn(&str) -> bool) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let t0 = Instant::now();
        while !pred(&String::from_utf8_lossy(&got)) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{}",
                String::from_utf8_lossy(&got)
            );
            match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    async fn subscribe(addr: SocketAddr, extra: &str) -> tokio::net::TcpStream {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET /events HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").as_bytes())
            .await
            .unwrap();
        s
    }

    /// `/events`: each event once, in order, ids = sequence numbers;
    /// Last-Event-ID resumes; keep-alives hold a quiet stream open past the
    /// idle timeout; the subscriber limit answers 503; the Host allow-list
    /// applies.
    #[tokio::test]
    async fn event_stream_delivers_in_order_and_is_bounded() {
        use super::super::events::{Bus, EventData};
        let l = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let render: Render = Arc::new(|_| Box::pin(async { "ok\n".to_string() }));
        let limits = Limits {
            idle_timeout: Duration::from_millis(600),
            ..Limits::default()
        };
        let bus = Bus::new(None);
        let (stx, srx) = watch::channel(false);
        let h = tokio::spawn(serve_full(l, render, Some(bus.clone()), srx, limits));
        let mut a = subscribe(addr, "").await;
        let head = read_until(&mut a, |t| t.contains("retry:")).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        for i in 0..3 {
            bus.emit(EventData::reload(Ok(&format!("applied {i}"))));
        }
        let got = read_until(&mut a, |t| t.contains("applied 2")).await;
        let ids: Vec<&str> = got.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
        assert_eq!(ids, ["1", "2", "3"], "{got}");
        assert_eq!(got.matches("event: reload_applied").count(), 3, "{got}");
        // Quiet for longer than the idle timeout: keep-alives hold it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        bus.emit(EventData::reload(Err("x.cf:1: bad")));
        let got = read_until(&mut a, |t| t.contains("reload_rejected")).await;
        assert!(got.contains(": keepalive"), "{got}");
        assert!(got.contains("id: 4\n"), "{got}");
        assert!(!got.contains("id: 3\n"), "{got}");
        // Resume after id 2: 3 and 4, then the live stream.
        let mut b = subscribe(addr, "Last-Event-ID: 2\r\n").await;
        let got = read_until(&mut b, |t| t.contains("id: 4")).await;
        let ids: Vec<&str> = got.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
        assert_eq!(ids, ["3", "4"], "{got}");
        // DNS rebinding: no stream.
        let r = get_as(addr, "/events", "evil.example").await;
        assert!(r.starts_with("HTTP/1.1 421"), "{r}");
        // Subscriber limit: two are open, fill the rest, one more is refused.
        let mut held = Vec::new();
        for _ in 2..MAX_SUBSCRIBERS {
            let mut s = subscribe(addr, "").await;
            read_until(&mut s, |t| t.contains("retry:")).await;
            held.push(s);
        }
        let mut extra = subscribe(addr, "").await;
        let r = read_until(&mut extra, |t| t.contains("\r\n\r\n")).await;
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
        // A slot frees when a subscriber leaves.
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut again = subscribe(addr, "").await;
        let r = read_until(&mut again, |t| t.contains("retry:")).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        stx.send(true).unwrap();
        h.await.unwrap();
    }
}
