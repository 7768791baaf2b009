//! The control socket (`/run/lvsd/lvsd.sock` by default): how `lvsd
//! reload|status|standby|takeover` talk to the running daemon and get an
//! answer, unlike ldirectord's fire-and-forget signals.
//!
//! Protocol: the client sends one command line; the daemon answers `ok` or
//! `error`, a newline, then free text, and closes. Root-only: the socket is
//! created mode 0600.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::access;
use super::error::{ReloadError, RequestError, RoleError};

/// A command from the socket, with where to send the answer.
#[derive(Debug)]
pub enum Request {
    /// Re-read the config and apply it by diff.
    Reload(oneshot::Sender<Result<String, ReloadError>>),
    /// Render the status.
    Status(oneshot::Sender<String>),
    /// Ask the HA layer to give up (`standby`) or take over (`takeover`).
    Role(String, oneshot::Sender<Result<String, RoleError>>),
    /// An operations command (`lvsd drain|enable|weight|overrides|plan|
    /// confirm`, `reload --confirm`): see `daemon::ops`.
    Op(
        super::ops::OpRequest,
        oneshot::Sender<Result<String, String>>,
    ),
    /// A task the engine started reports back (never from the socket).
    Internal(super::ops::Internal),
}

/// Longest command line accepted; anything longer is a confused client.
/// Room for `plan PATH` with a path of PATH_MAX.
const MAX_LINE: u64 = 4200;

/// Bind the socket, replacing a stale file but refusing to steal a live
/// daemon's socket. Mode 0600, the daemon's group.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    bind_with(path, 0o600, None).await
}

/// [`bind`] with the socket file's `mode` and group (`[daemon]
/// socket_mode`, `socket_group`).
pub async fn bind_with(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{}: another lvsd answers on this socket", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    // Root-only at once, then the configured group and mode (so the file
    // is never open to more than configured).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    access::apply(path, mode, gid)?;
    Ok(l)
}

/// Serve requests until shutdown; removes the socket file on the way out.
/// `ping` answers `ok` only once `ready` is true (the first table is in the
/// kernel), so `lvsd start` returns when the table is complete.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    tx: mpsc::Sender<Request>,
    ready: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) {
    let policy = access::Policy {
        daemon_uid: nix::unistd::geteuid().as_raw(),
        write_gid: None,
    };
    serve_with(listener, path, tx, ready, shutdown, policy).await
}

/// [`serve`] with the write `policy` of `daemon::access`.
pub async fn serve_with(
    listener: UnixListener,
    path: PathBuf,
    tx: mpsc::Sender<Request>,
    ready: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    policy: access::Policy,
) {
    // Every connection task is tracked here, so shutdown ends them all
    // (an idle client must not outlive the daemon's stop).
    let mut conns = tokio::task::JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        tokio::select! {
            _ = shutdown.changed() => break,
            acc = listener.accept() => match acc {
                Ok((stream, _)) => {
                    let tx = tx.clone();
                    let ready = *ready.borrow();
                    let peer = access::peer_of(&stream);
                    if let Err(e) = &peer {
                        tracing::warn!(error = %e, "control socket: peer credentials unreadable; read-only");
                    }
                    let peer = peer.ok();
                    let granted = access::decide(peer.as_ref(), &policy);
                    let uid = peer.map(|p| p.uid);
                    conns.spawn(async move {
                        if let Err(e) = handle(stream, tx, ready, granted, uid).await {
                            tracing::debug!(error = %e, "control connection failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    // Requests in flight get a moment to be answered; idle ones are ended.
    let drained = tokio::time::timeout(Duration::from_millis(500), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn handle(
    stream: UnixStream,
    tx: mpsc::Sender<Request>,
    ready: bool,
    granted: access::Access,
    uid: Option<u32>,
) -> io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    BufReader::new(rd.take(MAX_LINE))
        .read_line(&mut line)
        .await?;
    let cmd = line.trim();
    let reply = if !access::permits(granted, cmd) {
        let verb = crate::model::text::sanitize(cmd.split_whitespace().next().unwrap_or(""));
        tracing::warn!(
            uid,
            command = %verb,
            "control socket: state-changing command refused (read-only access)"
        );
        Err(RequestError::Denied { verb })
    } else {
        dispatch(cmd, &tx, ready).await
    };
    // The wire edge: the only place the error becomes text.
    let text = match reply {
        Ok(t) => format!("ok\n{t}"),
        Err(t) => format!("error\n{t}"),
    };
    wr.write_all(text.as_bytes()).await?;
    wr.shutdown().await
}

/// Whether an `error` answer is a refusal for lack of write access.
pub fn is_denied(answer: &str) -> bool {
    answer.starts_with(access::DENIED)
}

/// Carry out one permitted command.
async fn dispatch(
    cmd: &str,
    tx: &mpsc::Sender<Request>,
    ready: bool,
) -> Result<String, RequestError> {
    match cmd {
        "ping" if ready => Ok("pong".to_string()),
        "ping" => Err(RequestError::Starting),
        "reload" => ask(tx, Request::Reload).await,
        "status" => {
            let (otx, orx) = oneshot::channel();
            match tx.send(Request::Status(otx)).await {
                Ok(()) => orx.await.map_err(|_| RequestError::Stopping),
                Err(_) => Err(RequestError::Stopping),
            }
        }
        "standby" | "takeover" => {
            let c = cmd.to_string();
            ask(tx, move |o| Request::Role(c, o)).await
        }
        other => match super::ops::OpRequest::parse(other) {
            Some(Ok(op)) => ask(tx, move |o| Request::Op(op, o)).await,
            Some(Err(e)) => Err(RequestError::Op(e)),
            None => Err(RequestError::Unknown(other.to_string())),
        },
    }
}

async fn ask<E: Into<RequestError>>(
    tx: &mpsc::Sender<Request>,
    make: impl FnOnce(oneshot::Sender<Result<String, E>>) -> Request,
) -> Result<String, RequestError> {
    let (otx, orx) = oneshot::channel();
    tx.send(make(otx))
        .await
        .map_err(|_| RequestError::Stopping)?;
    orx.await
        .map_err(|_| RequestError::Stopping)?
        .map_err(Into::into)
}

/// Send `cmd` to the daemon at `path`; `Ok((true, text))` on `ok`.
pub async fn request(path: &Path, cmd: &str, timeout: Duration) -> io::Result<(bool, String)> {
    let work = async {
        let mut s = UnixStream::connect(path).await?;
        s.write_all(format!("{cmd}\n").as_bytes()).await?;
        let mut out = String::new();
        // Status of a big table can be large, but not unbounded.
        s.take(64 << 20).read_to_string(&mut out).await?;
        let (head, body) = out.split_once('\n').unwrap_or((out.as_str(), ""));
        Ok((head == "ok", body.to_string()))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer from lvsd"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commands_round_trip_and_unknown_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let l = bind(&path).await.unwrap();
        let (tx, mut rx) = mpsc::channel(4);
        let (stx, srx) = watch::channel(false);
        let (rtx, rrx) = watch::channel(false);
        let server = tokio::spawn(serve(l, path.clone(), tx, rrx, srx));
        let answerer = tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                match r {
                    Request::Reload(o) => {
                        let _ = o.send(Err(ReloadError::Rejected(
                            crate::daemon::load::ConfigError::one("ldirectord.cf:3: bad"),
                        )));
                    }
                    Request::Status(o) => {
                        let _ = o.send("TCP 1.2.3.4:80 wrr\n".into());
                    }
                    Request::Role(c, o) => {
                        let _ = o.send(Ok(c));
                    }
                    Request::Op(op, o) => {
                        let _ = o.send(Ok(format!("{op:?}")));
                    }
                    Request::Internal(_) => {}
                }
            }
        });
        let t = Duration::from_secs(5);
        let (ok, msg) = request(&path, "ping", t).await.unwrap();
        assert!(!ok && msg.starts_with("starting"), "{msg}");
        rtx.send(true).unwrap();
        assert_eq!(
            request(&path, "ping", t).await.unwrap(),
            (true, "pong".into())
        );
        assert_eq!(
            request(&path, "status", t).await.unwrap(),
            (true, "TCP 1.2.3.4:80 wrr\n".into())
        );
        assert_eq!(
            request(&path, "reload", t).await.unwrap(),
            (false, "ldirectord.cf:3: bad".into())
        );
        assert_eq!(
            request(&path, "takeover", t).await.unwrap(),
            (true, "takeover".into())
        );
        let (ok, msg) = request(&path, "flush", t).await.unwrap();
        assert!(!ok && msg.contains("unknown command"));
        // Operations commands reach the engine parsed; bad ones do not.
        assert_eq!(
            request(&path, "drain tcp:10.0.0.1:80 10.1.0.1:80", t)
                .await
                .unwrap(),
            (
                true,
                "Drain { virt: \"tcp:10.0.0.1:80\", real: \"10.1.0.1:80\" }".into()
            )
        );
        let (ok, msg) = request(&path, "weight tcp:10.0.0.1:80 10.1.0.1:80 x", t)
            .await
            .unwrap();
        assert!(!ok && msg.contains("invalid weight"), "{msg}");
        // A second daemon must not steal the socket.
        assert!(bind(&path).await.is_err());
        // Idle clients (connected, nothing sent) do not hold up the stop:
        // their tasks are ended and they see the connection close.
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(UnixStream::connect(&path).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(3), server)
            .await
            .expect("serve ends promptly with idle clients")
            .unwrap();
        assert!(!path.exists());
        for mut c in idle {
            let mut buf = Vec::new();
            let n = tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut buf))
                .await
                .expect("the idle connection is closed")
                .unwrap_or(0);
            assert_eq!(n, 0);
        }
        answerer.abort();
    }
}
