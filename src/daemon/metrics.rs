//! The HTTP listener for Prometheus (`/metrics`) and a plain-text status
//! page (`/status`). Loopback by default: the page names every real server,
//! which is not for the world to read.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

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

/// Serve until shutdown.
pub async fn serve(listener: TcpListener, render: Render, mut shutdown: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.changed() => return,
            acc = listener.accept() => match acc {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let render = render.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, render.clone()));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "metrics connection failed");
            }
        });
    }
}

/// Bind the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn handle(
    req: Request<Incoming>,
    render: Render,
) -> Result<Response<Full<Bytes>>, Infallible> {
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
                .body(Full::new(Bytes::from(body)))
        }
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"not found\n"))),
    };
    Ok(resp.unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"internal error\n")))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
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
        stx.send(true).unwrap();
        h.await.unwrap();
    }
}
