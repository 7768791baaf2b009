//! Check-engine benchmark (run by scripts/bench-checks.sh).
//!
//! `bench_checks server ADDRS PORTS` serves a tiny HTTP answer on
//! 127.0.1.1.. (ADDRS addresses) x 20000.. (PORTS ports), loopback only.
//! `bench_checks client ADDRS PORTS http|connect SECONDS [MAX_IN_FLIGHT]`
//! (default: the engine's bound) runs one check per
//! (address, port) every second through `check::Engine` and prints CPU
//! (percent of one core, this process only), peak RSS and how check starts
//! spread over each second. `BENCH_INTERVAL_MS` sets another check
//! interval than 1000 ms (e.g. fewer reals at the same check rate, to see
//! what the per-real state costs).
//! `bench_checks floor ADDRS PORTS http|connect COUNT` does COUNT bare
//! exchanges without the engine (the engine's system calls, non-blocking,
//! 64 at once): the kernel's share of a check's CPU. `floor-blocking`
//! does them one by one on blocking sockets (the floor of earlier runs).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lvsd::check::engine::Runner;
use lvsd::check::schedule::start_slot;
use lvsd::check::{run_step_at, CheckEntry, CheckType, Engine, EngineOptions, Service, Target};
use std::os::fd::AsRawFd;

/// The daemon's allocator (src/bin/lvsd.rs), so the engine runs as there.
#[global_allocator]
static ALLOCATOR: lvsd::daemon::malloc::Allocator = lvsd::daemon::malloc::Allocator;

const BASE_PORT: u16 = 20000;

fn addr(i: usize) -> IpAddr {
    // 127.0.1.1, 127.0.1.2, ... (i < 250 per /24, then the next /24)
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        1 + (i / 250) as u8,
        1 + (i % 250) as u8,
    ))
}

fn raise_nofile() {
    let lim = libc::rlimit {
        rlim_cur: 65536,
        rlim_max: 65536,
    };
    // SAFETY: plain syscall with a valid pointer; failure only limits the bench.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

/// The load server: one thread, raw epoll, a fixed answer. It shares the
/// machine's cores with the checker being measured, so it does the least a
/// TCP server can: accept, one read of the request (a check's request is
/// one small write, so one loopback segment), one write, close. No runtime,
/// no task per connection, no parsing.
fn server(addrs: usize, ports: usize) {
    raise_nofile();
    const LISTENER: u64 = 1 << 63;
    const ANSWER: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nbench ok\n";
    // SAFETY: plain syscall.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        eprintln!("epoll_create1: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    let add = |fd: i32, data: u64| {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        };
        // SAFETY: valid epoll fd, valid event pointer.
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) }
    };
    let mut listeners = Vec::with_capacity(addrs * ports);
    for a in 0..addrs {
        for p in 0..ports {
            let sa = SocketAddr::new(addr(a), BASE_PORT + p as u16);
            let l = match std::net::TcpListener::bind(sa) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("bind {sa}: {e}");
                    std::process::exit(1);
                }
            };
            let _ = l.set_nonblocking(true);
            add(l.as_raw_fd(), LISTENER | l.as_raw_fd() as u64);
            listeners.push(l);
        }
    }
    println!("ready");
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = [0u8; 4096];
    // Answer if the request is there; returns false if it must wait.
    let serve = |fd: i32, buf: &mut [u8]| -> bool {
        // SAFETY: fd is an open socket we own, buf is valid for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock {
            return false;
        }
        if n > 0 {
            // SAFETY: as above.
            unsafe { libc::write(fd, ANSWER.as_ptr().cast(), ANSWER.len()) };
        }
        // SAFETY: we own fd; closing also removes it from the epoll set.
        unsafe { libc::close(fd) };
        true
    };
    loop {
        // SAFETY: events is valid for its length.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        for ev in events.iter().take(n.max(0) as usize) {
            let data = ev.u64;
            if data & LISTENER == 0 {
                serve(data as i32, &mut buf);
                continue;
            }
            let lfd = (data & !LISTENER) as i32;
            loop {
                // SAFETY: lfd is a listening socket; null address is allowed.
                let c = unsafe {
                    libc::accept4(
                        lfd,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    )
                };
                if c < 0 {
                    break;
                }
                if !serve(c, &mut buf) && add(c, c as u64) < 0 {
                    // SAFETY: we own c.
                    unsafe { libc::close(c) };
                }
            }
        }
    }
}

/// (utime, stime) of this process in clock ticks.
fn proc_cpu_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the ")" : state is field 3; utime 14, stime 15
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0);
    let st: u64 = f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    (ut, st)
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

async fn client(addrs: usize, ports: usize, kind: &str, seconds: u64, max_concurrent: usize) {
    raise_nofile();
    let n = addrs * ports;
    // start-time histogram: one bucket per slot of the engine's start grid
    // within each second (the grid is what the engine promises; a burst
    // beyond it would show as a large max)
    // (every real checked once a second: n checks a second)
    let interval_ms: u64 = std::env::var("BENCH_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let slot_ms = start_slot(n as f64 * 1000.0 / interval_ms as f64, max_concurrent)
        .as_millis()
        .max(1) as usize;
    let nslots = (1000 / slot_ms).max(1);
    // The counters are statics and the start histogram reads the start
    // instant the engine passes in: the instrumentation adds no clock read
    // and no reference counting to the checks it measures (the daemon's
    // runner has none of it).
    static BUCKETS: std::sync::OnceLock<Vec<AtomicU64>> = std::sync::OnceLock::new();
    static OK: AtomicU64 = AtomicU64::new(0);
    static FAILED: AtomicU64 = AtomicU64::new(0);
    static MEASURING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    // checks running at once (the engine caps this at max_concurrent)
    static INFLIGHT: AtomicU64 = AtomicU64::new(0);
    static INFLIGHT_MAX: AtomicU64 = AtomicU64::new(0);
    let buckets = BUCKETS.get_or_init(|| (0..nslots).map(|_| AtomicU64::new(0)).collect());
    let t0 = tokio::time::Instant::now();
    let runner: Runner = Arc::new(move |spec, target, step, started| {
        let m = MEASURING.load(Ordering::Relaxed);
        if m {
            let ms = (started.at.saturating_duration_since(t0).as_millis() % 1000) as usize;
            if let Some(b) = buckets.get(ms / slot_ms) {
                b.fetch_add(1, Ordering::Relaxed);
            }
            let now = INFLIGHT.fetch_add(1, Ordering::Relaxed) + 1;
            INFLIGHT_MAX.fetch_max(now, Ordering::Relaxed);
        } else {
            INFLIGHT.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(async move {
            let r = run_step_at(&spec, &target, step, started).await;
            INFLIGHT.fetch_sub(1, Ordering::Relaxed);
            if m {
                if r.is_ok() {
                    OK.fetch_add(1, Ordering::Relaxed);
                } else {
                    FAILED.fetch_add(1, Ordering::Relaxed);
                }
            }
            r.into()
        })
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    // As the daemon runs it: the checks on a thread of their own.
    let mut engine =
        Engine::with_runner_on_own_thread(tx, EngineOptions { max_concurrent }, runner);
    let mut entries = Vec::with_capacity(n);
    for a in 0..addrs {
        for p in 0..ports {
            let mut spec = lvsd::check::spec::base();
            spec.checkinterval = Duration::from_millis(interval_ms);
            spec.checktimeout = Duration::from_secs(2);
            spec.negotiatetimeout = Duration::from_secs(2);
            match kind {
                "http" => {
                    spec.checktype = CheckType::Negotiate;
                    spec.service = Service::Http;
                    spec.request = "/check.html".into();
                    spec.receive = "bench ok".into();
                }
                _ => spec.checktype = CheckType::Connect,
            }
            let port = BASE_PORT + p as u16;
            entries.push(CheckEntry {
                id: format!("tcp:10.0.0.1:80/{}:{port}", addr(a)),
                spec: spec.into(),
                target: Target {
                    real: addr(a),
                    real_port: port,
                    virtual_host: "10.0.0.1".into(),
                    virtual_port: 80,
                },
                assume_up: false,
                report_every: false,
            });
        }
    }
    engine.update(entries);
    // the histogram's slots are the engine's grid
    assert_eq!(engine.start_slot().as_millis() as usize, slot_ms);
    // first interval: jittered starts; measure from then on
    tokio::time::sleep(Duration::from_secs(2)).await;
    MEASURING.store(true, Ordering::Relaxed);
    let c0 = proc_cpu_ticks();
    let w0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    MEASURING.store(false, Ordering::Relaxed);
    let wall = w0.elapsed().as_secs_f64();
    let c1 = proc_cpu_ticks();
    let (uticks, sticks) = (c1.0 - c0.0, c1.1 - c0.1);
    let ticks = uticks + sticks;
    // SAFETY: sysconf has no preconditions.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as f64,
        _ => 100.0,
    };
    let cpu = ticks as f64 / hz / wall * 100.0;
    let counts: Vec<u64> = buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    let secs = wall.max(1.0);
    let per_bucket_per_s: Vec<f64> = counts.iter().map(|&c| c as f64 / secs).collect();
    let mean = per_bucket_per_s.iter().sum::<f64>() / nslots as f64;
    let max = per_bucket_per_s.iter().cloned().fold(0.0, f64::max);
    let min = per_bucket_per_s.iter().cloned().fold(f64::MAX, f64::min);
    let var = per_bucket_per_s
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .sum::<f64>()
        / nslots as f64;
    println!("reals={n} kind={kind} seconds={wall:.1}");
    println!(
        "checks={total} ({:.0}/s) ok={} failed={}",
        total as f64 / secs,
        OK.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed)
    );
    println!(
        "cpu_percent_of_one_core={cpu:.1} (user {:.1}, system {:.1}); cpu_us_per_check={:.1}",
        uticks as f64 / hz / wall * 100.0,
        sticks as f64 / hz / wall * 100.0,
        if total > 0 {
            ticks as f64 / hz * 1e6 / total as f64
        } else {
            0.0
        }
    );
    println!("peak_rss_mib={:.1}", vm_hwm_kib() as f64 / 1024.0);
    println!(
        "max_in_flight={} (engine bound {max_concurrent})",
        INFLIGHT_MAX.load(Ordering::Relaxed),
    );
    println!(
        "starts_per_slot ({slot_ms} ms, {nslots} a second): mean={mean:.1} min={min:.1} max={max:.1} stddev={:.1} (uniform would be {:.1})",
        var.sqrt(),
        n as f64 / nslots as f64
    );
    engine.shutdown();
}

/// The kernel's share: `count` bare exchanges (blocking connect, request,
/// read to close, close; or connect and close) with no engine, no runtime
/// and no parsing, against the same load server. On loopback the checker's
/// process also pays for the server side of every packet it sends, so this
/// is the floor under any checker's CPU per check on this host.
/// The request both floors send (the engine's for a plain http check).
const REQ: &[u8] =
    b"GET /check.html HTTP/1.1\r\nHost: 10.0.0.1\r\nUser-Agent: lvsd-check\r\nConnection: close\r\n\r\n";

/// (user, system) microseconds per exchange between two `proc_cpu_ticks`.
fn us_per_exchange(c0: (u64, u64), c1: (u64, u64), count: usize) -> (f64, f64) {
    // SAFETY: sysconf has no preconditions.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as f64,
        _ => 100.0,
    };
    let per = |t: u64| t as f64 / hz * 1e6 / count.max(1) as f64;
    (per(c1.0 - c0.0), per(c1.1 - c0.1))
}

/// The engine's own exchanges done bare: the same system calls in the same
/// order (non-blocking socket, connect, epoll ADD with the flags tokio
/// uses, SO_ERROR, one send, one read of the answer, SO_LINGER 0 for http,
/// epoll DEL, close), FLOOR_IN_FLIGHT (default 64) at once so wake-ups are
/// shared as the engine's are, and next to no user-space work. What the
/// engine spends above this is its own.
/// Open a non-blocking connection to the `n`th real and register it with
/// `ep` (edge-triggered, as tokio does) under `key`.
fn floor_open(
    ep: i32,
    addrs: usize,
    ports: usize,
    n: usize,
    key: usize,
) -> Option<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let n = n % (addrs * ports);
    let sa = SocketAddr::new(addr(n / ports), BASE_PORT + (n % ports) as u16);
    let s = Socket::new(Domain::IPV4, Type::STREAM.nonblocking().cloexec(), None).ok()?;
    match s.connect(&sa.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(_) => return None,
    }
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: key as u64,
    };
    // SAFETY: valid epoll fd, open socket, valid event pointer.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) } < 0 {
        return None;
    }
    Some(s)
}

/// One readiness event of a bare exchange: the engine's system calls in
/// its order (SO_ERROR, send the request, read the answer, close with a
/// reset). `Some(ok)` when the exchange is over, `None` to wait for more.
fn floor_step(
    s: &socket2::Socket,
    sent: &mut bool,
    events: u32,
    http: bool,
    buf: &mut [u8],
) -> Option<bool> {
    let mut outcome = None;
    if !*sent {
        match s.take_error() {
            Ok(None) if events & libc::EPOLLOUT as u32 != 0 => {
                if !http {
                    outcome = Some(true);
                } else if s.send(REQ).map(|k| k == REQ.len()).unwrap_or(false) {
                    *sent = true;
                } else {
                    outcome = Some(false);
                }
            }
            Ok(None) => {}
            _ => outcome = Some(false),
        }
    }
    if *sent && outcome.is_none() {
        // SAFETY: open socket, buf valid for its length.
        let k = unsafe { libc::recv(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if k > 0 {
            let _ = s.set_linger(Some(Duration::ZERO));
            outcome = Some(true);
        } else if k == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock
        {
            outcome = Some(false);
        }
    }
    outcome
}

/// One readiness event for the exchange in `slots[key]`: its outcome, its
/// socket closed and its slot emptied once it is over.
fn floor_event(
    ep: i32,
    slots: &mut [Option<(socket2::Socket, bool)>],
    key: usize,
    events: u32,
    http: bool,
    buf: &mut [u8],
) -> Option<bool> {
    let (s, sent) = slots.get_mut(key)?.as_mut()?;
    let ok = floor_step(s, sent, events, http, buf)?;
    if let Some((s, _)) = slots[key].take() {
        floor_close(ep, s);
    }
    Some(ok)
}

/// Deregister and close a finished exchange's socket.
fn floor_close(ep: i32, s: socket2::Socket) {
    // SAFETY: valid epoll fd and socket.
    unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_DEL, s.as_raw_fd(), std::ptr::null_mut()) };
    drop(s);
}

fn floor_epoll() -> i32 {
    // SAFETY: plain syscall.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        eprintln!("epoll_create1: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    ep
}

fn floor(addrs: usize, ports: usize, kind: &str, count: usize) {
    raise_nofile();
    let http = kind == "http";
    let in_flight: usize = std::env::var("FLOOR_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
        .clamp(1, 1024);
    let ep = floor_epoll();
    // Per slot: the socket and whether its request is sent.
    let mut slots: Vec<Option<(socket2::Socket, bool)>> = (0..in_flight).map(|_| None).collect();
    let (mut started, mut done, mut failed) = (0usize, 0usize, 0usize);
    // exchanges that could not start count as failed (at the end)
    let start =
        |slot: usize, slots: &mut [Option<(socket2::Socket, bool)>], started: &mut usize| -> bool {
            while *started < count {
                let n = *started;
                *started += 1;
                if let Some(s) = floor_open(ep, addrs, ports, n, slot) {
                    slots[slot] = Some((s, false));
                    return true;
                }
            }
            false
        };
    let c0 = proc_cpu_ticks();
    let w0 = Instant::now();
    let mut live = 0usize;
    for slot in 0..in_flight {
        if start(slot, &mut slots, &mut started) {
            live += 1;
        }
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = [0u8; 2048];
    let mut idle = 0;
    while live > 0 && idle < 5 {
        // SAFETY: events is valid for its length.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 1000) };
        if n <= 0 {
            idle += 1;
            continue;
        }
        idle = 0;
        for ev in events.iter().take(n as usize) {
            let slot = ev.u64 as usize;
            if let Some(ok) = floor_event(ep, &mut slots, slot, ev.events, http, &mut buf) {
                done += 1;
                if !ok {
                    failed += 1;
                }
                live -= 1;
                if start(slot, &mut slots, &mut started) {
                    live += 1;
                }
            }
        }
    }
    failed += count - done;
    let wall = w0.elapsed().as_secs_f64();
    let c1 = proc_cpu_ticks();
    // SAFETY: we own ep.
    unsafe { libc::close(ep) };
    let (user, system) = us_per_exchange(c0, c1, count);
    println!(
        "floor kind={kind} exchanges={count} failed={failed} in_flight={in_flight} wall={wall:.1}s: user_us_per_exchange={user:.1} system_us_per_exchange={system:.1}"
    );
}

/// The bare exchanges at the engine's pace: every real once a second,
/// started in bursts on the engine's start grid (`start_slot`), each slot's
/// share at its boundary, the process asleep in `epoll_wait` in between.
/// The flat-out floor keeps both ends busy, so neither ever sleeps and the
/// kernel never pays a wake-up; at one check per real per second the
/// checker and (on loopback) the server sleep between slots, and each
/// slot's first packets wake the other side. That cost is the schedule's,
/// not the engine's: this floor pays it too.
fn floor_paced(addrs: usize, ports: usize, kind: &str, seconds: u64) {
    raise_nofile();
    let http = kind == "http";
    let n = addrs * ports;
    let slot = start_slot(n as f64, EngineOptions::default().max_concurrent);
    let per_second_slots = (1000 / slot.as_millis().max(1)) as usize;
    let ep = floor_epoll();
    // Open exchanges by key, and the free keys.
    let mut open: Vec<Option<(socket2::Socket, bool)>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let (mut started, mut done, mut failed, mut next_real) = (0usize, 0usize, 0usize, 0usize);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = [0u8; 2048];
    let c0 = proc_cpu_ticks();
    let w0 = Instant::now();
    let total_slots = seconds as usize * per_second_slots;
    for k in 0..total_slots {
        // this slot's share of the second's n starts
        let first = k % per_second_slots * n / per_second_slots;
        let last = (k % per_second_slots + 1) * n / per_second_slots;
        for _ in first..last {
            let key = free.pop().unwrap_or_else(|| {
                open.push(None);
                open.len() - 1
            });
            started += 1;
            match floor_open(ep, addrs, ports, next_real, key) {
                Some(s) => open[key] = Some((s, false)),
                None => {
                    failed += 1;
                    free.push(key);
                }
            }
            next_real += 1;
        }
        // serve events until the next slot's boundary
        let boundary = w0 + slot * (k as u32 + 1);
        loop {
            let now = Instant::now();
            if now >= boundary {
                break;
            }
            let wait = (boundary - now).as_millis().max(1) as i32;
            // SAFETY: events is valid for its length.
            let got =
                unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, wait) };
            for ev in events.iter().take(got.max(0) as usize) {
                let key = ev.u64 as usize;
                if let Some(ok) = floor_event(ep, &mut open, key, ev.events, http, &mut buf) {
                    free.push(key);
                    done += 1;
                    if !ok {
                        failed += 1;
                    }
                }
            }
        }
    }
    let wall = w0.elapsed().as_secs_f64();
    let c1 = proc_cpu_ticks();
    // still open at the end: counted as not done
    for s in open.into_iter().flatten() {
        floor_close(ep, s.0);
    }
    // SAFETY: we own ep.
    unsafe { libc::close(ep) };
    let (user, system) = us_per_exchange(c0, c1, done.max(1));
    println!(
        "floor-paced kind={kind} exchanges={started} done={done} failed={failed} per_second={n} slot={}ms wall={wall:.1}s: user_us_per_exchange={user:.1} system_us_per_exchange={system:.1}",
        slot.as_millis()
    );
}

fn floor_blocking(addrs: usize, ports: usize, kind: &str, count: usize) {
    use std::io::{Read, Write};
    let c0 = proc_cpu_ticks();
    let w0 = Instant::now();
    let mut buf = [0u8; 1024];
    let mut failed = 0;
    for i in 0..count {
        let n = i % (addrs * ports);
        let sa = SocketAddr::new(addr(n / ports), BASE_PORT + (n % ports) as u16);
        let Ok(mut s) = std::net::TcpStream::connect(sa) else {
            failed += 1;
            continue;
        };
        if kind == "http" {
            if s.write_all(REQ).is_err() {
                failed += 1;
            }
            while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        }
        if std::env::var_os("FLOOR_RST").is_some() {
            let _ = socket2::SockRef::from(&s).set_linger(Some(std::time::Duration::ZERO));
        }
    }
    let wall = w0.elapsed().as_secs_f64();
    let c1 = proc_cpu_ticks();
    let (user, system) = us_per_exchange(c0, c1, count);
    println!(
        "floor-blocking kind={kind} exchanges={count} failed={failed} wall={wall:.1}s: user_us_per_exchange={user:.1} system_us_per_exchange={system:.1}"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num =
        |i: usize, d: usize| -> usize { args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d) };
    match args.first().map(String::as_str) {
        Some("server") => server(num(1, 100), num(2, 100)),
        Some("floor") => {
            let kind = args.get(3).cloned().unwrap_or_else(|| "http".into());
            floor(num(1, 100), num(2, 100), &kind, num(4, 20000))
        }
        Some("floor-paced") => {
            let kind = args.get(3).cloned().unwrap_or_else(|| "http".into());
            floor_paced(num(1, 100), num(2, 100), &kind, num(4, 20) as u64)
        }
        Some("floor-blocking") => {
            let kind = args.get(3).cloned().unwrap_or_else(|| "http".into());
            floor_blocking(num(1, 100), num(2, 100), &kind, num(4, 20000))
        }
        Some("client") => {
            // One worker for the event drain and the counters; the checks
            // run on the engine's own thread, as in the daemon. The whole
            // process's CPU is what is measured.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build();
            let Ok(rt) = rt else {
                eprintln!("no runtime");
                std::process::exit(1);
            };
            let kind = args.get(3).cloned().unwrap_or_else(|| "http".into());
            let bound = num(5, EngineOptions::default().max_concurrent);
            rt.block_on(client(
                num(1, 100),
                num(2, 100),
                &kind,
                num(4, 60) as u64,
                bound,
            ))
        }
        _ => {
            eprintln!(
                "usage: bench_checks server ADDRS PORTS | client ADDRS PORTS http|connect SECONDS [MAX_IN_FLIGHT] | floor ADDRS PORTS http|connect COUNT | floor-paced ADDRS PORTS http|connect SECONDS | floor-blocking ADDRS PORTS http|connect COUNT"
            );
            std::process::exit(2);
        }
    }
}
