//! Every check stays bounded in time, bytes read, sockets and tasks,
//! whatever the server sends (issue 13, defects 3 and 4).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::hostile::{self, endless, Ldap, My, Pg};
use super::limit::MAX_READ;
use super::negotiate::check_counted;
use super::spec::{CheckSpec, Protocol, Service, Target};
use super::CheckError;

fn target(port: u16) -> Target {
    Target {
        real: IpAddr::V4(Ipv4Addr::LOCALHOST),
        real_port: port,
        virtual_host: "10.0.0.1".into(),
        virtual_port: port,
    }
}

fn spec(service: Service, timeout: Duration) -> CheckSpec {
    CheckSpec {
        service,
        protocol: Protocol::Tcp,
        negotiatetimeout: timeout,
        checktimeout: timeout,
        login: "lvsd".into(),
        passwd: "x".into(),
        request: if service == Service::Http {
            "/".into()
        } else {
            "SELECT 1".into()
        },
        ..super::spec::base()
    }
}

/// Socket buffers on loopback hold a few MB the client never read.
const SLACK: u64 = 32 << 20;

/// 20 checks of `service` against a server that never finishes its answer,
/// each timing out at 300 ms: afterwards the server sees every connection
/// closed and no task of the checks is alive (`what` names the case).
async fn timeouts_leave_nothing(service: Service, port: u16, seen: hostile::Seen, what: &str) {
    let tasks_before = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let s = spec(service, Duration::from_millis(300));
    let mut runs = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        runs.push(async move { check_counted(&s, &target(port)).await.0 });
    }
    for r in futures::future::join_all(runs).await {
        assert!(matches!(r, Err(CheckError::Timeout(_))), "{r:?}");
    }
    assert_eq!(seen.accepted(), 20);
    assert!(
        seen.all_closed(Duration::from_secs(3)).await,
        "{what}: {} of 20 connections still open after the checks timed out",
        seen.open()
    );
    // The server's per-connection tasks are gone too; what is left is what
    // ran before the checks (nothing of the checks survives).
    let mut alive = usize::MAX;
    for _ in 0..100 {
        alive = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        if alive <= tasks_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        alive <= tasks_before,
        "{what}: {alive} tasks alive, {tasks_before} before"
    );
}

/// One check of `service` against a server that streams an endless
/// message: it stops at the read limit, quickly, having read at most
/// `MAX_READ`, and closes the connection.
async fn huge_answer_stops_at_the_read_limit(service: Service, port: u16, seen: hostile::Seen) {
    let t0 = std::time::Instant::now();
    let (r, used) = check_counted(&spec(service, Duration::from_secs(20)), &target(port)).await;
    assert!(matches!(r, Err(CheckError::TooLong(MAX_READ))), "{r:?}");
    assert!(used <= MAX_READ, "{used}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(seen.all_closed(Duration::from_secs(3)).await);
    assert!(
        seen.sent() < MAX_READ + SLACK,
        "server sent {}",
        seen.sent()
    );
}

/// Defect 3: a pgsql server that accepts the login and never answers the
/// query. Every timed-out check must leave no connection and no task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgsql_timeouts_leave_no_connection_or_task() {
    let (port, seen) = hostile::pgsql(Pg::Silent).await;
    timeouts_leave_nothing(Service::Pgsql, port, seen, "pgsql").await;
}

/// Defect 4: a pgsql server announcing a 2 GB message and streaming it.
#[tokio::test]
async fn pgsql_huge_message_stops_at_the_read_limit() {
    let (port, seen) = hostile::pgsql(Pg::Huge).await;
    huge_answer_stops_at_the_read_limit(Service::Pgsql, port, seen).await;
}

/// Defect 3 for mysql: a server that never answers the login, or accepts
/// it and never answers the query, or starts a result set and stalls.
/// mysql_async spawned a cleanup task with no deadline for every
/// connection a timeout dropped (it read the pending result set to its
/// end): each timed-out check left a task and an open connection behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_timeouts_leave_no_connection_or_task() {
    for mode in [My::SilentLogin, My::SilentQuery, My::StalledResult] {
        let (port, seen) = hostile::mysql(mode).await;
        timeouts_leave_nothing(Service::Mysql, port, seen, &format!("{mode:?}")).await;
    }
}

/// Defect 4 for mysql: a result packet announcing 16 MiB - 1 bytes (so
/// more continue in the next packet) and streaming them.
#[tokio::test]
async fn mysql_huge_packet_stops_at_the_read_limit() {
    let (port, seen) = hostile::mysql(My::Huge).await;
    huge_answer_stops_at_the_read_limit(Service::Mysql, port, seen).await;
}

/// The server's error text is kept (sanitizing happens where the detail
/// leaves the check engine) and the connection is closed.
#[tokio::test]
async fn pgsql_error_is_reported() {
    let (port, seen) = hostile::pgsql(Pg::Error).await;
    let (r, _) = check_counted(&spec(Service::Pgsql, Duration::from_secs(5)), &target(port)).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("query failed: no"), "{e}");
    assert!(seen.all_closed(Duration::from_secs(3)).await);
}

/// 1-byte chunks, each with 1000 bytes of chunk extensions, forever: the
/// decoded body grows by one byte per KiB read (it grew a check to GBs).
#[tokio::test]
async fn http_chunk_extensions_stop_at_the_read_limit() {
    let mut piece = b"1;".to_vec();
    piece.extend(std::iter::repeat_n(b'e', 1000));
    piece.extend_from_slice(b"\r\nx\r\n");
    let piece: &'static [u8] = piece.leak();
    let (port, seen) = hostile::serve(move |mut s, seen| async move {
        endless(
            &mut s,
            &seen,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            piece,
        )
        .await
    })
    .await;
    let (r, used) =
        check_counted(&spec(Service::Http, Duration::from_secs(30)), &target(port)).await;
    assert!(matches!(r, Err(CheckError::TooLong(MAX_READ))), "{r:?}");
    assert!(used <= MAX_READ, "{used}");
    assert!(seen.all_closed(Duration::from_secs(3)).await);
    assert!(
        seen.sent() < MAX_READ + SLACK,
        "server sent {}",
        seen.sent()
    );
}

/// An endless header line: refused at the head limit.
#[tokio::test]
async fn http_endless_header_is_refused() {
    let (port, seen) = hostile::serve(|mut s, seen| async move {
        endless(&mut s, &seen, b"HTTP/1.1 200 OK\r\nX-A: ", &[b'a'; 4096]).await
    })
    .await;
    let (r, used) =
        check_counted(&spec(Service::Http, Duration::from_secs(30)), &target(port)).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("head larger than"), "{e}");
    assert!(used < 1 << 20, "{used}");
    assert!(seen.all_closed(Duration::from_secs(3)).await);
}

/// An endless multi-line SMTP banner of long lines: stopped at the read
/// limit (1000 lines of 64 KiB were read before).
#[tokio::test]
async fn smtp_endless_banner_stops_at_the_read_limit() {
    let mut line = b"220-".to_vec();
    line.extend(std::iter::repeat_n(b'a', 32 << 10));
    line.extend_from_slice(b"\r\n");
    let line: &'static [u8] = line.leak();
    let (port, seen) = hostile::serve(move |mut s, seen| async move {
        // no request to wait for: a banner comes first
        while hostile::send(&mut s, &seen, line).await {}
    })
    .await;
    let (r, used) =
        check_counted(&spec(Service::Smtp, Duration::from_secs(30)), &target(port)).await;
    assert!(matches!(r, Err(CheckError::TooLong(MAX_READ))), "{r:?}");
    assert!(used <= MAX_READ);
    assert!(seen.all_closed(Duration::from_secs(3)).await);
}

/// A slowloris server (one byte every 50 ms, never finishing) cannot keep
/// a check alive past its negotiate timeout, for any line-based service or
/// HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_cannot_outlive_the_timeout() {
    let (port, seen) = hostile::serve(|mut s, seen| async move {
        let mut b = [0u8; 1024];
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            tokio::io::AsyncReadExt::read(&mut s, &mut b),
        )
        .await;
        // A valid start, then one byte at a time, forever.
        for &c in b"220-HTTP/1.1 200 OK\r\n"
            .iter()
            .chain(std::iter::repeat(&b'a'))
        {
            if !hostile::send(&mut s, &seen, &[c]).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let limit = Duration::from_millis(700);
    for svc in [
        Service::Http,
        Service::Smtp,
        Service::Ftp,
        Service::Pop,
        Service::Imap,
        Service::Nntp,
        Service::Sip,
        Service::SimpleTcp,
        Service::Pgsql,
        Service::Mysql,
        Service::Ldap,
    ] {
        let t0 = std::time::Instant::now();
        let (r, _) = check_counted(&spec(svc, limit), &target(port)).await;
        let took = t0.elapsed();
        // nntp reads only a 64-byte banner: "2..." is up, at once
        assert!(r.is_err() || svc == Service::Nntp, "{svc:?}: {r:?}");
        assert!(
            took < limit + Duration::from_millis(500),
            "{svc:?} took {took:?}"
        );
    }
    assert!(
        seen.all_closed(Duration::from_secs(5)).await,
        "{} open",
        seen.open()
    );
}

/// Defect 3 for ldap: a server that never answers the bind. ldap3 opened
/// its own socket; now every timed-out check must leave no connection and
/// no task behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_timeouts_leave_no_connection_or_task() {
    let (port, seen) = hostile::ldap(Ldap::Silent).await;
    let tasks_before = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let s = spec(Service::Ldap, Duration::from_millis(300));
    let mut runs = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        runs.push(async move { check_counted(&s, &target(port)).await.0 });
    }
    for r in futures::future::join_all(runs).await {
        assert!(matches!(r, Err(CheckError::Timeout(_))), "{r:?}");
    }
    assert_eq!(seen.accepted(), 20);
    assert!(
        seen.all_closed(Duration::from_secs(3)).await,
        "{} of 20 connections still open after the checks timed out",
        seen.open()
    );
    let mut alive = usize::MAX;
    for _ in 0..100 {
        alive = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        if alive <= tasks_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        alive <= tasks_before,
        "{alive} tasks alive, {tasks_before} before"
    );
}

/// Defect 4 for ldap: a bind answer announcing 2 GB and streaming it, and
/// a search answered by endless well-formed entries (each message small,
/// so only the check's read budget stops them).
#[tokio::test]
async fn ldap_huge_answers_stop_at_the_read_limit() {
    for mode in [Ldap::Huge, Ldap::Entries] {
        let (port, seen) = hostile::ldap(mode).await;
        let t0 = std::time::Instant::now();
        let (r, used) =
            check_counted(&spec(Service::Ldap, Duration::from_secs(20)), &target(port)).await;
        assert!(
            matches!(r, Err(CheckError::TooLong(MAX_READ))),
            "{mode:?}: {r:?}"
        );
        assert!(used <= MAX_READ, "{mode:?}: {used}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        assert!(seen.all_closed(Duration::from_secs(3)).await, "{mode:?}");
        assert!(
            seen.sent() < MAX_READ + SLACK,
            "{mode:?}: server sent {}",
            seen.sent()
        );
    }
}

/// A check's deadline counts from the instant the engine read the clock as
/// the check started (`run_step_at`), not from a clock read of its own: a
/// check that starts 2 s late on a 3 s timeout has 1 s left. The real
/// accepts (its backlog does) and never answers; the paused clock jumps
/// straight to the deadline, so the check's time is the deadline exactly:
/// on tokio's timer to the millisecond, on an engine's ticker rounded up
/// to its step, never earlier.
#[tokio::test(start_paused = true)]
async fn deadline_counts_from_the_engines_start() {
    use crate::check::ticker::{Ticker, DEADLINE_STEP};
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let s = spec(Service::Http, Duration::from_secs(3));
    let ticker = Ticker::new();
    let driver = tokio::spawn(ticker.clone().drive());
    // off the ticker's steps, so the rounding shows
    tokio::time::sleep(Duration::from_micros(2500)).await;
    for on_ticker in [false, true] {
        for (late_ms, left_ms) in [(0u64, 3000u64), (2000, 1000)] {
            let t0 = tokio::time::Instant::now();
            let at = t0 - Duration::from_millis(late_ms);
            let started = if on_ticker {
                super::Started::on(ticker.clone(), at)
            } else {
                super::Started::at(at)
            };
            let r = super::run_step_at(&s, &target(port), super::Step::Negotiate, started).await;
            assert!(matches!(r, Err(CheckError::Timeout(_))), "{r:?}");
            let took = t0.elapsed();
            let slack = if on_ticker {
                DEADLINE_STEP
            } else {
                Duration::from_millis(5)
            };
            let left = Duration::from_millis(left_ms);
            assert!(
                took >= left && took < left + slack,
                "ticker {on_ticker}, started {late_ms} ms late: took {took:?}, {left_ms} ms were left"
            );
        }
    }
    driver.abort();
    drop(silent);
}
