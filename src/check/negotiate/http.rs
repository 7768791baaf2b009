//! http, https and http_proxy checks (ldirectord's `check_http`, LWP):
//! GET or HEAD of `scheme://RIP:port/request` with `Host: virtualhost or
//! RIP`; up iff the final status is 2xx and the body matches `receive`.
//! Redirects are followed (LWP: up to 7, for GET and HEAD). A per-real
//! request containing `scheme://` is used as the whole URL. http_proxy fetches
//! the absolute URL in `request` through the real server.

use std::net::{IpAddr, SocketAddr};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;

use super::{receive_matches, tls};
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
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// The URL ldirectord checks for this real (its `$$r{url}`).
pub fn check_url(spec: &CheckSpec, target: &Target) -> String {
    spec.url_for(target.real, target.real_port)
}

/// Run an http/https/http_proxy check.
pub async fn check(spec: &CheckSpec, target: &Target) -> CheckResult {
    let url_text = check_url(spec, target);
    let mut url = Url::parse(&url_text)
        .ok_or_else(|| CheckError::Config(format!("cannot parse check URL {url_text:?}")))?;
    let proxy = spec.service == Service::HttpProxy;
    let mut host_header = if proxy {
        url.authority()
    } else {
        spec.virtualhost
            .clone()
            .unwrap_or_else(|| host_of(target.real))
    };
    let method = match spec.httpmethod {
        HttpMethod::Get => hyper::Method::GET,
        HttpMethod::Head => hyper::Method::HEAD,
    };
    for _ in 0..=MAX_REDIRECTS {
        let (addr, uri) = if proxy {
            (target.check_addr(spec), url_text_of(&url))
        } else {
            (url.socket_addr().await?, url.path.clone())
        };
        let tcp = crate::check::connect::tcp(addr, spec.negotiatetimeout).await?;
        let req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(hyper::header::HOST, host_header.as_str())
            .header(hyper::header::USER_AGENT, "lvsd-check")
            // one request per connection, like LWP without keep-alive
            .header(hyper::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| CheckError::Config(format!("bad request: {e}")))?;
        let resp = if url.https && !proxy {
            let ip = addr.ip();
            let s = tls::connect(tcp, ip).await?;
            send(TokioIo::new(s), req).await?
        } else {
            send(TokioIo::new(tcp), req).await?
        };
        let (status, location, body) = resp;
        let status_line = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        if status.is_redirection() {
            if let Some(loc) = location {
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
                    url = n;
                    // LWP drops the explicit Host header when following a redirect.
                    host_header = url.authority();
                    continue;
                }
            }
        }
        if !status.is_success() {
            return Err(CheckError::Mismatch(format!("HTTP status {status_line}")));
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

fn url_text_of(u: &Url) -> String {
    format!(
        "{}://{}{}",
        if u.https { "https" } else { "http" },
        u.authority(),
        u.path
    )
}

type Answer = (hyper::StatusCode, Option<String>, Bytes);

async fn send<T>(io: T, req: Request<Empty<Bytes>>) -> Result<Answer, CheckError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| CheckError::Protocol(format!("HTTP: {e}")))?;
    // Drive the connection in this task (no spawn per check): poll it
    // alongside the request until the whole answer is read.
    let exchange = async {
        let resp = sender.send_request(req).await.map_err(http_err)?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| CheckError::Protocol(format!("HTTP body: {e}")))?
            .to_bytes();
        Ok((status, location, body))
    };
    tokio::pin!(exchange);
    tokio::pin!(conn);
    let mut conn_done = false;
    loop {
        tokio::select! {
            r = &mut exchange => return r,
            c = &mut conn, if !conn_done => {
                conn_done = true;
                // An error here also fails the exchange, which says why.
                let _ = c;
            }
        }
    }
}

fn http_err(e: hyper::Error) -> CheckError {
    if e.is_incomplete_message() {
        return CheckError::Closed(" before a complete HTTP response".into());
    }
    if e.is_parse() {
        return CheckError::Mismatch(format!("not an HTTP response: {e}"));
    }
    CheckError::from_lib("HTTP", &e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

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
}
