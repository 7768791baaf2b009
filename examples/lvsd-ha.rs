//! Standalone HA runner for tests and experiments: runs only the paired-
//! director part of lvsd from an `lvsd.toml`, without IPVS.
//!
//! ```text
//! lvsd-ha run CONFIG [--status FILE] [--ipvs]  # SIGUSR1 standby, SIGUSR2 takeover
//! lvsd-ha attack --listen IP:PORT --to IP:PORT --count N
//! lvsd-ha tcp-echo --listen IP:PORT
//! lvsd-ha tcp-client --to IP:PORT --seconds N [--interval-ms M]
//! ```
//! `tcp-echo`/`tcp-client` hold one long-lived TCP connection through a
//! VIP: the client sends a numbered line every interval and checks each
//! echo; it fails if the connection breaks (reset, EOF, wrong echo, or no
//! echo for 30 s) and prints its longest stall.
//! `run` rewrites FILE (one `key=value` per line) whenever the status
//! changes. `attack` receives N genuine heartbeats (list this address as an
//! extra peer of one node) and sends each to the target again (replay), with
//! one byte flipped (forgery), and re-signed with a wrong key.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lvsd::ha::{self, Control, NoSync};
use tokio::signal::unix::{signal, SignalKind};

fn status_text(s: &ha::Status) -> String {
    let role = ha::hooks::role_word(s.role);
    let links: Vec<String> = s
        .links
        .iter()
        .map(|l| format!("{}:{}", l.name, u8::from(l.alive)))
        .collect();
    let c = s.counters;
    format!(
        "node={}\nrole={role}\nhold={}\nhealthy={}\npeer={}\npeer_alive={}\nlinks={}\nping_reach={}\naccepted={}\nbad_auth={}\nmalformed={}\nreplayed={}\nold_generation={}\ntransitions={}\n",
        s.node,
        u8::from(s.hold),
        u8::from(s.healthy),
        s.peer.as_deref().unwrap_or("-"),
        u8::from(s.peer_alive),
        links.join(","),
        s.ping_reach,
        c.accepted,
        c.bad_auth,
        c.malformed,
        c.replayed,
        c.old_generation,
        s.transitions,
    )
}

async fn run(config: PathBuf, status: Option<PathBuf>, ipvs: bool) -> Result<()> {
    let file = lvsd::config::toml::load(&config)?;
    let Some(cfg) = file.ha else {
        bail!("{}: no [ha] section", config.display());
    };
    let (ctl, ctl_rx, role_tx, mut role_rx) = ha::channels();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // --ipvs: drive the kernel's sync daemons (needs ip_vs); else none.
    let sync: Box<dyn ha::SyncDaemons> = if ipvs {
        Box::new(ha::IpvsSync(lvsd::kernel::NetlinkIpvs::new()?))
    } else {
        Box::new(NoSync)
    };
    let runner = tokio::spawn(ha::run(cfg, sync, ctl_rx, role_tx, async {
        let _ = stop_rx.await;
    }));
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    // File writes can stall for hundreds of ms under writeback throttling;
    // this thread runs the HA runner, so they happen on another one.
    let status_writer = status.map(|path| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(64);
        std::thread::spawn(move || {
            while let Ok(mut text) = rx.recv() {
                while let Ok(newer) = rx.try_recv() {
                    text = newer;
                }
                let tmp = path.with_extension("tmp");
                if let Err(e) =
                    std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, &path))
                {
                    tracing::error!(error = %e, "cannot write status file");
                }
            }
        });
        tx
    });
    let mut last = String::new();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr1.recv() => { let _ = ctl.send(Control::Standby).await; }
            _ = usr2.recv() => { let _ = ctl.send(Control::Takeover).await; }
            r = role_rx.changed() => {
                if r.is_err() { break; }
                tracing::info!("lvsd-ha: role {}", ha::hooks::role_word(*role_rx.borrow()));
            }
            _ = poll.tick() => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                if ctl.send(Control::Status(tx)).await.is_err() { break; }
                if let (Ok(s), Some(w)) = (rx.await, &status_writer) {
                    let text = status_text(&s);
                    if text != last {
                        // The newest text wins; a full queue drops an older one.
                        let _ = w.try_send(text.clone());
                        last = text;
                    }
                }
            }
        }
        if runner.is_finished() {
            break;
        }
    }
    let _ = stop_tx.send(());
    runner.await.context("ha runner panicked")??;
    Ok(())
}

fn attack(listen: SocketAddr, to: SocketAddr, count: usize) -> Result<()> {
    let sock = UdpSocket::bind(listen)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = [0u8; 512];
    let (mut replayed, mut forged) = (0, 0);
    for _ in 0..count {
        let (n, _) = sock.recv_from(&mut buf).context("no heartbeat to replay")?;
        let pkt = buf.get(..n).unwrap_or_default().to_vec();
        sock.send_to(&pkt, to)?;
        replayed += 1;
        let mut bad = pkt.clone();
        if let Some(b) = bad.get_mut(5) {
            *b ^= 3; // standby <-> active
        }
        sock.send_to(&bad, to)?;
        forged += 1;
        // Same content re-signed with a key the nodes do not share.
        let fake = lvsd::wire::heartbeat::Heartbeat {
            state: lvsd::wire::heartbeat::PeerState::Active,
            healthy: true,
            hold: false,
            takeover_request: true,
            priority: 255,
            generation: u64::MAX,
            seq: 1,
            active_since_ms: 1,
            echo_generation: 0,
            ping_reach: 999,
            link: 0,
            node: "intruder".into(),
        };
        sock.send_to(
            &lvsd::wire::heartbeat::encode(&fake, b"not the shared key at all")?,
            to,
        )?;
        forged += 1;
    }
    println!("replayed={replayed} forged={forged}");
    Ok(())
}

fn tcp_echo(listen: SocketAddr) -> Result<()> {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind(listen)?;
    for conn in l.incoming() {
        let mut c = conn?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 || c.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

fn tcp_client(to: SocketAddr, seconds: u64, interval: Duration) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut c = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
    // A failover with TCP retransmit backoff can stall several seconds;
    // only a reset, EOF or a wrong echo (or 30 s of silence) is a break.
    c.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(c.try_clone()?);
    let end = std::time::Instant::now() + Duration::from_secs(seconds);
    let (mut i, mut worst) = (0u64, Duration::ZERO);
    while std::time::Instant::now() < end {
        let t = std::time::Instant::now();
        writeln!(c, "line {i}").context(format!("send line {i}"))?;
        let mut got = String::new();
        r.read_line(&mut got).context(format!("echo of line {i}"))?;
        if got.trim_end() != format!("line {i}") {
            bail!("line {i}: echo was {got:?}");
        }
        worst = worst.max(t.elapsed());
        i += 1;
        std::thread::sleep(interval);
    }
    println!("lines={i} longest_stall_ms={}", worst.as_millis());
    Ok(())
}

fn main() -> Result<()> {
    // Log lines go through a writer thread: stderr may be a file under
    // writeback throttling or a full pipe, and the HA runner logs from its
    // own thread. Lines beyond a full queue are dropped rather than delay a
    // heartbeat; the guard flushes the rest when main returns.
    let (log, _log_guard) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(log)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("run") => {
            let config = args.get(1).context("usage: lvsd-ha run CONFIG [--status FILE]")?;
            // The runner lives on this thread: give it real-time priority
            // before the runtime starts, if the config asks for it.
            if let Ok(lvsd::config::toml::LvsdToml { ha: Some(ha), .. }) =
                lvsd::config::toml::load(std::path::Path::new(config))
            {
                if let Some(p) = ha.rt_priority {
                    if let Err(e) = ha::enter_realtime(p) {
                        eprintln!("lvsd-ha: cannot enter SCHED_RR {p}: {e}");
                    }
                }
            }
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let r = rt.block_on(run(
                PathBuf::from(config),
                flag("--status").map(PathBuf::from),
                args.iter().any(|a| a == "--ipvs"),
            ));
            r
        }
        Some("attack") => {
            let listen = flag("--listen").context("--listen IP:PORT")?.parse()?;
            let to = flag("--to").context("--to IP:PORT")?.parse()?;
            let count = flag("--count").unwrap_or_else(|| "5".into()).parse()?;
            attack(listen, to, count)
        }
        Some("tcp-echo") => tcp_echo(flag("--listen").context("--listen IP:PORT")?.parse()?),
        Some("tcp-client") => tcp_client(
            flag("--to").context("--to IP:PORT")?.parse()?,
            flag("--seconds").unwrap_or_else(|| "10".into()).parse()?,
            Duration::from_millis(flag("--interval-ms").unwrap_or_else(|| "100".into()).parse()?),
        ),
        _ => bail!("usage: lvsd-ha run CONFIG [--status FILE] | attack --listen IP:PORT --to IP:PORT [--count N]"),
    }
}
