//! Host tier: every check type against real server daemons on loopback,
//! started by scripts/check-servers.sh (installed by scripts/setup-checks.sh).
//! For each service: a healthy server passes; a wrong answer, a refused
//! connection and a server that accepts but never answers each fail within
//! the timeout with a reason that says which. A test is skipped (with a
//! message) only when its daemon is not installed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lvsd::check::{run_once, CheckSpec, CheckType, HttpMethod, Protocol, Service, Target};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const TIMEOUT: Duration = Duration::from_secs(2);
const MAIL_TIMEOUT: Duration = Duration::from_secs(6);

fn check_servers_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-servers.sh")
}

/// Stops the servers when this test binary exits (registered only when
/// this binary started them; under scripts/test-all.sh its own stage
/// starts them first and stops them at its end).
extern "C" fn stop_servers() {
    let _ = std::process::Command::new(check_servers_script())
        .arg("stop")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Start the servers once per test binary; false if that is impossible.
fn servers() -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIP: check servers need root");
            return false;
        }
        let script = check_servers_script();
        // Nothing running yet: the servers are this binary's to stop.
        let running = std::process::Command::new(&script)
            .arg("status")
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false);
        if !running {
            // SAFETY: registers a plain function with no arguments, run
            // once at process exit (after every test has finished).
            unsafe { libc::atexit(stop_servers) };
        }
        let st = std::process::Command::new(&script).arg("start").status();
        if !matches!(st, Ok(s) if s.success()) {
            eprintln!("warning: {} start reported a failure", script.display());
        }
        true
    })
}

/// Whether a daemon binary is installed; prints the skip message if not.
fn have(bin: &str) -> bool {
    let found = if bin.starts_with('/') {
        Path::new(bin).exists()
    } else {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(bin).exists())
    };
    if !found {
        eprintln!("SKIP: {bin} is not installed (run scripts/setup-checks.sh)");
        return false;
    }
    servers()
}

fn have_postgres() -> bool {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().any(|e| e.path().join("bin/postgres").exists()))
        .unwrap_or(false);
    if !found {
        eprintln!("SKIP: postgresql is not installed (run scripts/setup-checks.sh)");
        return false;
    }
    servers()
}

fn spec(service: Service) -> CheckSpec {
    CheckSpec {
        checktype: CheckType::Negotiate,
        service,
        checktimeout: TIMEOUT,
        negotiatetimeout: TIMEOUT,
        ..lvsd::check::spec::base()
    }
}

fn target(port: u16) -> Target {
    Target {
        real: LO,
        real_port: port,
        virtual_host: "192.0.2.1".into(),
        virtual_port: port,
    }
}

async fn up(s: &CheckSpec, port: u16) -> String {
    match run_once(s, &target(port)).await {
        Ok(r) => r,
        Err(e) => panic!("{} on port {port} should be up, got: {e}", s.service),
    }
}

async fn down(s: &CheckSpec, port: u16, want: &str) -> String {
    let t0 = Instant::now();
    let r = run_once(s, &target(port)).await;
    let took = t0.elapsed();
    let limit = s.negotiatetimeout.max(s.checktimeout) + Duration::from_millis(1500);
    assert!(took < limit, "{} took {took:?}", s.service);
    match r {
        Ok(x) => panic!("{} on port {port} should be down, got up: {x}", s.service),
        Err(e) => {
            let reason = e.to_string();
            assert!(
                reason.contains(want),
                "{} on port {port}: reason {reason:?} should contain {want:?}",
                s.service
            );
            reason
        }
    }
}

/// A port on which nothing listens.
fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A TCP server that accepts and then never says a word.
async fn silent_tcp() -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let h = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
            if held.len() > 100 {
                break;
            }
        }
    });
    (port, h)
}

/// A UDP socket that receives and never answers.
async fn silent_udp() -> (u16, tokio::net::UdpSocket) {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    (s.local_addr().unwrap().port(), s)
}

/// A change to the check spec (applied cumulatively, in table order).
type Edit = fn(&mut CheckSpec);

/// One step of a service's table row.
enum Step {
    /// Apply the edit; the check must pass. A non-empty text must equal the
    /// check's description of the answer.
    Up(Edit, &'static str),
    /// The current spec against the same daemon over IPv6 (`::1`) must pass.
    UpV6,
    /// Apply the edit; the check must fail with a reason containing the text.
    Down(Edit, &'static str),
    /// Check another daemon's port (it speaks another protocol): must fail
    /// with a reason containing the text. Skipped unless `daemon` is installed.
    WrongServer(u16, &'static str, &'static str),
    /// Nothing listening ("connection refused"), and a server that accepts
    /// but never answers ("timed out"), over TCP or UDP by the spec's protocol.
    RefusedAndSilent,
}

/// One service against its daemon: the base spec, then the steps in order.
struct Row {
    name: &'static str,
    service: Service,
    protocol: Protocol,
    port: u16,
    /// Binaries that must be installed ("postgres" = any PostgreSQL version).
    needs: &'static [&'static str],
    /// Applied to [`spec`] before the first step.
    base: Edit,
    steps: &'static [Step],
}

fn nop(_: &mut CheckSpec) {}

/// dovecot's auth penalty after the wrong-password checks (per client IP,
/// shared by pop and imap) can delay the next login by seconds.
fn mail(s: &mut CheckSpec) {
    s.negotiatetimeout = MAIL_TIMEOUT;
}

fn mail_login(s: &mut CheckSpec) {
    s.login = "lvsdtest".into();
    s.passwd = "lvsdpass".into();
}

fn wrong_passwd(s: &mut CheckSpec) {
    s.passwd = "wrong".into();
}

const MAIL_STEPS: &[Step] = &[
    Step::Up(nop, ""),
    Step::Up(mail_login, ""),
    Step::Down(wrong_passwd, "login failed"),
    Step::RefusedAndSilent,
];

const LDAP_STEPS: &[Step] = &[
    // default request "/" = root DSE, anonymous bind
    Step::Up(nop, ""),
    Step::Up(
        |s| {
            s.request = "/dc=lvsd,dc=test".into();
            s.receive = "dc=lvsd".into();
        },
        "",
    ),
    Step::Up(
        |s| {
            s.login = "cn=admin,dc=lvsd,dc=test".into();
            s.passwd = "lvsdpass".into();
        },
        "",
    ),
    Step::Down(wrong_passwd, "bind failed"),
    Step::Down(
        |s| {
            s.passwd = "lvsdpass".into();
            s.receive = "^cn=nomatch".into();
        },
        "does not match",
    ),
    Step::Down(
        |s| {
            s.receive.clear();
            s.request = "/dc=missing,dc=test".into();
        },
        "search",
    ),
    Step::Up(|s| s.request = "/".into(), ""),
    Step::RefusedAndSilent,
];

fn dns_base(s: &mut CheckSpec) {
    s.request = "/check.lvsd.test".into();
    s.receive = "10.9.8.7".into();
}

const DNS_STEPS: &[Step] = &[
    Step::Up(nop, ""),
    // PTR for an address
    Step::Up(
        |s| {
            s.request = "/10.9.8.7".into();
            s.receive = "check.lvsd".into();
        },
        "",
    ),
    Step::Down(
        |s| {
            s.request = "/check.lvsd.test".into();
            s.receive = "10.0.0.99".into();
        },
        "no A/PTR answer",
    ),
    // empty receive is always down (ldirectord)
    Step::Down(|s| s.receive.clear(), "wrong answer"),
    Step::Up(|s| s.receive = "10.9.8.7".into(), ""),
    Step::RefusedAndSilent,
];

const SIP_STEPS: &[Step] = &[
    Step::Up(|s| s.login = "check@127.0.0.1".into(), ""),
    Step::Down(|s| s.login = "down@127.0.0.1".into(), "404"),
    Step::RefusedAndSilent,
];

fn sql_base(s: &mut CheckSpec) {
    s.login = "lvsdtest".into();
    s.passwd = "lvsdpass".into();
    s.database = "lvsd".into();
    s.request = "/SELECT * FROM t".into();
}

/// Every service, one row each. Steps edit the spec cumulatively.
const ROWS: &[Row] = &[
    Row {
        name: "http",
        service: Service::Http,
        protocol: Protocol::Tcp,
        port: 18080,
        needs: &["nginx"],
        base: |s| {
            s.request = "/ok.html".into();
            s.receive = "http ok".into();
        },
        steps: &[
            Step::Up(nop, "200 OK"),
            Step::UpV6,
            // redirects are followed, as LWP does
            Step::Up(|s| s.request = "/redirect".into(), ""),
            // HEAD with a receive regex cannot match an empty body
            Step::Down(
                |s| {
                    s.httpmethod = HttpMethod::Head;
                    s.request = "/ok.html".into();
                },
                "does not match",
            ),
            Step::Up(|s| s.receive.clear(), ""),
            // wrong answers: 404, body mismatch
            Step::Down(
                |s| {
                    s.httpmethod = HttpMethod::Get;
                    s.request = "/missing.html".into();
                },
                "HTTP status 404",
            ),
            Step::Down(
                |s| {
                    s.request = "/other.html".into();
                    s.receive = "http ok".into();
                },
                "wrong answer",
            ),
            // virtualhost sets the Host header
            Step::Down(
                |s| {
                    s.request = "/vhost".into();
                    s.receive = "vhost ok".into();
                },
                "404",
            ),
            Step::Up(|s| s.virtualhost = Some("www.lvsd.test".into()), ""),
            // something that is not HTTP at all (the SMTP banner)
            Step::Down(|s| s.virtualhost = None, "404"),
            Step::WrongServer(18025, "exim4", "wrong answer"),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "https",
        service: Service::Https,
        protocol: Protocol::Tcp,
        port: 18443,
        needs: &["nginx"],
        base: |s| {
            s.request = "/ok.html".into();
            s.receive = "http ok".into();
        },
        steps: &[
            // self-signed certificate accepted
            Step::Up(nop, "200 OK"),
            Step::Down(|s| s.receive = "nope".into(), "does not match"),
            // plain HTTP port spoken to with TLS
            Step::WrongServer(18080, "nginx", "TLS"),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        // nginx answers absolute-form requests for its own server: enough to
        // show the request goes through the real as a proxy request.
        name: "http_proxy",
        service: Service::HttpProxy,
        protocol: Protocol::Tcp,
        port: 18080,
        needs: &["nginx"],
        base: |s| {
            s.request = "/http://127.0.0.1:18080/ok.html".into();
            s.receive = "http ok".into();
        },
        steps: &[
            Step::Up(nop, "200 OK"),
            Step::Down(
                |s| s.request = "/http://127.0.0.1:18080/missing".into(),
                "404",
            ),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "ftp",
        service: Service::Ftp,
        protocol: Protocol::Tcp,
        port: 18021,
        needs: &["vsftpd"],
        base: |s| {
            s.login = "anonymous".into();
            s.passwd = "lvsd@test".into();
            s.request = "/check.txt".into();
            s.receive = "ftp ok".into();
        },
        steps: &[
            Step::Up(nop, ""),
            Step::Down(|s| s.receive = "something else".into(), "does not match"),
            Step::Down(
                |s| {
                    s.request = "/missing.txt".into();
                    s.receive = "ftp ok".into();
                },
                "RETR",
            ),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "smtp",
        service: Service::Smtp,
        protocol: Protocol::Tcp,
        port: 18025,
        needs: &["exim4"],
        base: nop,
        steps: &[
            Step::Up(nop, ""),
            // a POP3 greeting is not an SMTP banner
            Step::WrongServer(18110, "dovecot", "wrong answer"),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "submission",
        service: Service::Submission,
        protocol: Protocol::Tcp,
        port: 18025,
        needs: &["exim4"],
        base: nop,
        steps: &[
            Step::Up(nop, ""),
            Step::WrongServer(18110, "dovecot", "wrong answer"),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "pop",
        service: Service::Pop,
        protocol: Protocol::Tcp,
        port: 18110,
        needs: &["dovecot"],
        base: mail,
        steps: MAIL_STEPS,
    },
    Row {
        name: "pops",
        service: Service::Pops,
        protocol: Protocol::Tcp,
        port: 18995,
        needs: &["dovecot"],
        base: mail,
        steps: MAIL_STEPS,
    },
    Row {
        name: "imap",
        service: Service::Imap,
        protocol: Protocol::Tcp,
        port: 18143,
        needs: &["dovecot"],
        base: mail,
        steps: MAIL_STEPS,
    },
    Row {
        name: "imaps",
        service: Service::Imaps,
        protocol: Protocol::Tcp,
        port: 18993,
        needs: &["dovecot"],
        base: mail,
        steps: MAIL_STEPS,
    },
    Row {
        name: "ldap",
        service: Service::Ldap,
        protocol: Protocol::Tcp,
        port: 18389,
        needs: &["slapd"],
        base: nop,
        steps: LDAP_STEPS,
    },
    Row {
        name: "ldaps",
        service: Service::Ldaps,
        protocol: Protocol::Tcp,
        port: 18636,
        needs: &["slapd"],
        base: nop,
        steps: LDAP_STEPS,
    },
    Row {
        name: "nntp",
        service: Service::Nntp,
        protocol: Protocol::Tcp,
        port: 18119,
        needs: &["socat"], // the fake greeting of check-servers.sh (no leafnode)
        base: nop,
        steps: &[
            Step::Up(nop, ""),
            Step::WrongServer(18110, "dovecot", "wrong answer"),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "dns_udp",
        service: Service::Dns,
        protocol: Protocol::Udp,
        port: 18053,
        needs: &["dnsmasq"],
        base: dns_base,
        steps: DNS_STEPS,
    },
    Row {
        name: "dns_tcp",
        service: Service::Dns,
        protocol: Protocol::Tcp,
        port: 18053,
        needs: &["dnsmasq"],
        base: dns_base,
        steps: DNS_STEPS,
    },
    Row {
        name: "mysql",
        service: Service::Mysql,
        protocol: Protocol::Tcp,
        port: 13306,
        needs: &["mariadbd"],
        base: sql_base,
        steps: &[
            Step::Up(nop, ""),
            Step::Down(|s| s.request = "/SELECT * FROM empty".into(), "no rows"),
            Step::Down(
                |s| {
                    s.request = "/SELECT * FROM t".into();
                    s.passwd = "wrong".into();
                },
                "Access denied",
            ),
            Step::Down(
                |s| {
                    s.passwd = "lvsdpass".into();
                    s.login.clear();
                },
                "login and a request",
            ),
            Step::Up(|s| s.login = "lvsdtest".into(), ""),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "pgsql",
        service: Service::Pgsql,
        protocol: Protocol::Tcp,
        port: 15432,
        needs: &["postgres"],
        base: sql_base,
        steps: &[
            Step::Up(nop, ""),
            Step::Down(|s| s.request = "/SELECT * FROM empty".into(), "no rows"),
            Step::Down(
                |s| s.request = "/SELECT * FROM nosuchtable".into(),
                "query failed",
            ),
            Step::Down(
                |s| {
                    s.request = "/SELECT * FROM t".into();
                    s.passwd = "wrong".into();
                },
                "password",
            ),
            Step::Up(|s| s.passwd = "lvsdpass".into(), ""),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "radius",
        service: Service::Radius,
        protocol: Protocol::Udp,
        port: 11812,
        needs: &["freeradius"],
        base: |s| {
            s.login = "lvsdtest".into();
            s.passwd = "lvsdpass".into();
            s.secret = "testing123".into();
        },
        steps: &[
            Step::Up(nop, ""),
            Step::Down(wrong_passwd, "Access-Reject"),
            Step::RefusedAndSilent,
        ],
    },
    Row {
        name: "sip_udp",
        service: Service::Sip,
        protocol: Protocol::Udp,
        port: 15060,
        needs: &["kamailio"],
        base: nop,
        steps: SIP_STEPS,
    },
    Row {
        name: "sip_tcp",
        service: Service::Sip,
        protocol: Protocol::Tcp,
        port: 15060,
        needs: &["kamailio"],
        base: nop,
        steps: SIP_STEPS,
    },
    Row {
        name: "simpletcp",
        service: Service::SimpleTcp,
        protocol: Protocol::Tcp,
        port: 17007,
        needs: &["socat"],
        base: |s| {
            s.request = "/PING lvsd\\nsecond line".into();
            s.receive = "^second".into();
        },
        steps: &[
            Step::Up(nop, ""),
            Step::Down(|s| s.receive = "PONG".into(), "no line matches"),
            Step::RefusedAndSilent,
            Step::Up(
                |s| {
                    s.protocol = Protocol::Udp;
                    s.receive = "PING".into();
                },
                "",
            ),
        ],
    },
];

/// Run the table rows `names` in order (one test may hold several rows that
/// must not run concurrently, e.g. dovecot's shared auth penalty).
async fn rows(names: &[&str]) {
    for name in names {
        let row = ROWS
            .iter()
            .find(|r| r.name == *name)
            .unwrap_or_else(|| panic!("no table row {name}"));
        service(row).await;
    }
}

/// The one helper behind every service test: a healthy server passes, and
/// every failure step fails in time with its reason.
async fn service(row: &Row) {
    for bin in row.needs {
        let ok = if *bin == "postgres" {
            have_postgres()
        } else {
            have(bin)
        };
        if !ok {
            return;
        }
    }
    // Every row covers all four outcomes: up, wrong answer, refused, silent.
    let has = |f: fn(&Step) -> bool| row.steps.iter().any(f);
    assert!(
        has(|s| matches!(s, Step::Up(..))),
        "{}: no up step",
        row.name
    );
    assert!(
        has(|s| matches!(s, Step::Down(..) | Step::WrongServer(..))),
        "{}: no wrong-answer step",
        row.name
    );
    assert!(
        has(|s| matches!(s, Step::RefusedAndSilent)),
        "{}: no refused/silent step",
        row.name
    );
    let mut s = spec(row.service);
    s.protocol = row.protocol;
    (row.base)(&mut s);
    for (i, step) in row.steps.iter().enumerate() {
        let at = format!("{} step {i}", row.name);
        match step {
            Step::Up(edit, says) => {
                edit(&mut s);
                let got = up(&s, row.port).await;
                if !says.is_empty() {
                    assert_eq!(got, *says, "{at}");
                }
            }
            Step::UpV6 => {
                let t6 = Target {
                    real: "::1".parse().unwrap(),
                    ..target(row.port)
                };
                if let Err(e) = run_once(&s, &t6).await {
                    panic!("{at}: should be up over IPv6, got: {e}");
                }
            }
            Step::Down(edit, want) => {
                edit(&mut s);
                down(&s, row.port, want).await;
            }
            Step::WrongServer(port, daemon, want) => {
                if have(daemon) {
                    down(&s, *port, want).await;
                }
            }
            Step::RefusedAndSilent => {
                down(&s, refused_port(), "connection refused").await;
                if s.protocol == Protocol::Udp {
                    let (port, _keep) = silent_udp().await;
                    down(&s, port, "timed out").await;
                } else {
                    let (port, h) = silent_tcp().await;
                    down(&s, port, "timed out").await;
                    h.abort();
                }
            }
        }
    }
}

#[test]
fn every_service_has_a_row() {
    for svc in [
        Service::Http,
        Service::Https,
        Service::HttpProxy,
        Service::Ftp,
        Service::Smtp,
        Service::Submission,
        Service::Pop,
        Service::Pops,
        Service::Imap,
        Service::Imaps,
        Service::Ldap,
        Service::Ldaps,
        Service::Nntp,
        Service::Dns,
        Service::Mysql,
        Service::Pgsql,
        Service::Radius,
        Service::Sip,
        Service::SimpleTcp,
    ] {
        assert!(ROWS.iter().any(|r| r.service == svc), "no row for {svc}");
    }
    let mut names: Vec<_> = ROWS.iter().map(|r| r.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), ROWS.len(), "duplicate row names");
}

#[tokio::test]
async fn http() {
    rows(&["http"]).await;
}

#[tokio::test]
async fn https_self_signed() {
    rows(&["https"]).await;
}

#[tokio::test]
async fn http_proxy() {
    rows(&["http_proxy"]).await;
}

#[tokio::test]
async fn ftp() {
    rows(&["ftp"]).await;
}

#[tokio::test]
async fn smtp_and_submission() {
    rows(&["smtp", "submission"]).await;
}

#[tokio::test]
async fn pop_and_pops() {
    rows(&["pop", "pops"]).await;
}

#[tokio::test]
async fn imap_and_imaps() {
    rows(&["imaps", "imap"]).await;
}

#[tokio::test]
async fn ldap_and_ldaps() {
    rows(&["ldap", "ldaps"]).await;
}

#[tokio::test]
async fn nntp() {
    rows(&["nntp"]).await;
}

#[tokio::test]
async fn dns_udp_and_tcp() {
    rows(&["dns_udp", "dns_tcp"]).await;
}

#[tokio::test]
async fn mysql() {
    rows(&["mysql"]).await;
}

#[tokio::test]
async fn pgsql() {
    rows(&["pgsql"]).await;
}

#[tokio::test]
async fn radius() {
    rows(&["radius"]).await;
}

#[tokio::test]
async fn sip_udp_and_tcp() {
    rows(&["sip_udp", "sip_tcp"]).await;
}

#[tokio::test]
async fn simpletcp() {
    rows(&["simpletcp"]).await;
}

#[tokio::test]
async fn connect_check() {
    // needs no daemon: the test's own listener
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let s = CheckSpec {
        checktype: CheckType::Connect,
        checktimeout: TIMEOUT,
        ..lvsd::check::spec::base()
    };
    up(&s, port).await;
    let l6 = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let t6 = Target {
        real: "::1".parse().unwrap(),
        ..target(l6.local_addr().unwrap().port())
    };
    run_once(&s, &t6).await.expect("connect over IPv6");
    down(&s, refused_port(), "connection refused").await;
    // checkport overrides the real's port
    let mut s2 = s.clone();
    s2.checkport = Some(port);
    up(&s2, refused_port()).await;
}

#[tokio::test]
async fn ping_check() {
    let s = CheckSpec {
        checktype: CheckType::Ping,
        checktimeout: TIMEOUT,
        checkcount: 2,
        ..lvsd::check::spec::base()
    };
    match run_once(&s, &target(0)).await {
        Ok(_) => {}
        Err(e) if e.to_string().contains("ICMP socket") => {
            eprintln!("SKIP: no ICMP socket here: {e}");
            return;
        }
        Err(e) => panic!("ping 127.0.0.1: {e}"),
    }
    let t6 = Target {
        real: "::1".parse().unwrap(),
        ..target(0)
    };
    run_once(&s, &t6).await.expect("ping ::1");
    // UDP connect checks are pings, as in ldirectord
    let c = CheckSpec {
        checktype: CheckType::Connect,
        protocol: Protocol::Udp,
        ..s
    };
    run_once(&c, &target(9)).await.expect("udp connect = ping");
}

#[tokio::test]
async fn external_check() {
    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args");
    let script = dir.path().join("check.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" > {}\n[ \"$3\" = 127.0.0.1 ] || exit 3\n[ \"$4\" = 8080 ] && sleep 30\nexit 0\n",
            args_file.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = CheckSpec {
        checktype: CheckType::External,
        checkcommand: script.display().to_string(),
        checktimeout: TIMEOUT,
        ..lvsd::check::spec::base()
    };
    let t = Target {
        real: LO,
        real_port: 80,
        virtual_host: "192.0.2.1".into(),
        virtual_port: 81,
    };
    run_once(&s, &t).await.expect("external up");
    assert_eq!(
        std::fs::read_to_string(&args_file).unwrap().trim(),
        "192.0.2.1 81 127.0.0.1 80"
    );
    let t2 = Target {
        real: "127.0.0.2".parse().unwrap(),
        ..t.clone()
    };
    let e = run_once(&s, &t2).await.unwrap_err().to_string();
    assert!(e.contains("status 3"), "{e}");
    // killed at the timeout
    let t3 = Target {
        real_port: 8080,
        ..t.clone()
    };
    let t0 = Instant::now();
    let e = run_once(&s, &t3).await.unwrap_err().to_string();
    assert!(e.contains("timed out"), "{e}");
    assert!(t0.elapsed() < TIMEOUT + Duration::from_secs(2));
    // arguments are never interpreted by a shell
    let s2 = CheckSpec {
        checkcommand: format!("{} ; touch /tmp/lvsd-pwned", script.display()),
        ..s
    };
    assert!(run_once(&s2, &t).await.is_err());
    assert!(!Path::new("/tmp/lvsd-pwned").exists());
}

#[tokio::test]
async fn on_off_none_oracle() {
    let mut s = spec(Service::None);
    up(&s, refused_port()).await;
    s.checktype = CheckType::On;
    up(&s, refused_port()).await;
    s.checktype = CheckType::Off;
    down(&s, refused_port(), "checktype off").await;
    s.checktype = CheckType::Negotiate;
    s.service = Service::Oracle;
    down(&s, 1521, "no pure-Rust Oracle client").await;
}

#[tokio::test]
async fn combined_starts_with_negotiate() {
    if !have("nginx") {
        return;
    }
    let mut s = spec(Service::Http);
    s.checktype = CheckType::Combined(3);
    s.request = "/missing.html".into();
    // a connect would pass; the first run must be the negotiate, which fails
    down(&s, 18080, "404").await;
    let _ = SocketAddr::new(LO, 0);
}

#[test]
fn probe_prints_one_line_per_real() {
    if !have("nginx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cf = dir.path().join("probe.cf");
    let refused = refused_port();
    std::fs::write(
        &cf,
        format!(
            "checktimeout=2\nnegotiatetimeout=2\n\
             virtual=127.0.0.1:18080\n\treal=127.0.0.1:18080 masq\n\treal=127.0.0.1:{refused} masq\n\
             \tservice=http\n\trequest=\"ok.html\"\n\treceive=\"http ok\"\n\
             virtual=127.0.0.1:80\n\treal=127.0.0.1:18080 masq\n\tchecktype=off\n"
        ),
    )
    .unwrap();
    let out = lvsd::check::probe::probe_main(Some(&cf));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            "tcp:127.0.0.1:18080 127.0.0.1:18080 up 200 OK".to_string(),
            format!("tcp:127.0.0.1:18080 127.0.0.1:{refused} down connection refused"),
            "tcp:127.0.0.1:80 127.0.0.1:18080 down checktype off (never checked)".to_string(),
        ]
    );
    let bad = lvsd::check::probe::probe_main(Some(&dir.path().join("missing.cf")));
    assert_eq!(bad.code, 1);
}
