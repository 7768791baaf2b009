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

/// Start the servers once per test binary; false if that is impossible.
fn servers() -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIP: check servers need root");
            return false;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-servers.sh");
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

/// The three failure modes every service must report distinctly.
async fn refused_and_silent(s: &CheckSpec) {
    down(s, refused_port(), "connection refused").await;
    let (port, h) = silent_tcp().await;
    down(s, port, "timed out").await;
    h.abort();
}

async fn refused_and_silent_udp(s: &CheckSpec) {
    down(s, refused_port(), "connection refused").await;
    let (port, _keep) = silent_udp().await;
    down(s, port, "timed out").await;
}

#[tokio::test]
async fn http() {
    if !have("nginx") {
        return;
    }
    let mut s = spec(Service::Http);
    s.request = "/ok.html".into();
    s.receive = "http ok".into();
    assert_eq!(up(&s, 18080).await, "200 OK");
    // IPv6 real
    let t6 = Target {
        real: "::1".parse().unwrap(),
        ..target(18080)
    };
    run_once(&s, &t6).await.expect("http over IPv6");
    // redirects are followed, as LWP does
    s.request = "/redirect".into();
    up(&s, 18080).await;
    // HEAD with a receive regex cannot match an empty body
    s.httpmethod = HttpMethod::Head;
    s.request = "/ok.html".into();
    down(&s, 18080, "does not match").await;
    s.receive.clear();
    up(&s, 18080).await;
    // wrong answers: 404, body mismatch
    s.httpmethod = HttpMethod::Get;
    s.request = "/missing.html".into();
    down(&s, 18080, "HTTP status 404").await;
    s.request = "/other.html".into();
    s.receive = "http ok".into();
    down(&s, 18080, "wrong answer").await;
    // virtualhost sets the Host header
    s.request = "/vhost".into();
    s.receive = "vhost ok".into();
    down(&s, 18080, "404").await;
    s.virtualhost = Some("www.lvsd.test".into());
    up(&s, 18080).await;
    // something that is not HTTP at all (the SMTP banner)
    s.virtualhost = None;
    if have("exim4") {
        down(&s, 18025, "wrong answer").await;
    }
    refused_and_silent(&s).await;
}

#[tokio::test]
async fn https_self_signed() {
    if !have("nginx") {
        return;
    }
    let mut s = spec(Service::Https);
    s.request = "/ok.html".into();
    s.receive = "http ok".into();
    up(&s, 18443).await;
    s.receive = "nope".into();
    down(&s, 18443, "does not match").await;
    // plain HTTP port spoken to with TLS
    down(&s, 18080, "TLS").await;
    refused_and_silent(&s).await;
}

#[tokio::test]
async fn http_proxy() {
    if !have("nginx") {
        return;
    }
    // nginx answers absolute-form requests for its own server: enough to
    // show the request goes through the real as a proxy request.
    let mut s = spec(Service::HttpProxy);
    s.request = "/http://127.0.0.1:18080/ok.html".into();
    s.receive = "http ok".into();
    up(&s, 18080).await;
    s.request = "/http://127.0.0.1:18080/missing".into();
    down(&s, 18080, "404").await;
}

#[tokio::test]
async fn ftp() {
    if !have("vsftpd") {
        return;
    }
    let mut s = spec(Service::Ftp);
    s.login = "anonymous".into();
    s.passwd = "lvsd@test".into();
    s.request = "/check.txt".into();
    s.receive = "ftp ok".into();
    up(&s, 18021).await;
    s.receive = "something else".into();
    down(&s, 18021, "does not match").await;
    s.request = "/missing.txt".into();
    s.receive = "ftp ok".into();
    down(&s, 18021, "RETR").await;
    refused_and_silent(&s).await;
}

#[tokio::test]
async fn smtp_and_submission() {
    if !have("exim4") {
        return;
    }
    for svc in [Service::Smtp, Service::Submission] {
        let s = spec(svc);
        up(&s, 18025).await;
        if have("dovecot") {
            // a POP3 greeting is not an SMTP banner
            down(&s, 18110, "wrong answer").await;
        }
        refused_and_silent(&s).await;
    }
}

#[tokio::test]
async fn pop_and_pops() {
    if !have("dovecot") {
        return;
    }
    for (svc, port) in [(Service::Pop, 18110), (Service::Pops, 18995)] {
        let mut s = spec(svc);
        // dovecot's auth penalty after the wrong-password checks (per client
        // IP, shared by pop and imap) can delay the next login by seconds.
        s.negotiatetimeout = MAIL_TIMEOUT;
        up(&s, port).await;
        s.login = "lvsdtest".into();
        s.passwd = "lvsdpass".into();
        up(&s, port).await;
        s.passwd = "wrong".into();
        down(&s, port, "login failed").await;
        refused_and_silent(&s).await;
    }
}

#[tokio::test]
async fn imap_and_imaps() {
    if !have("dovecot") {
        return;
    }
    for (svc, port) in [(Service::Imaps, 18993), (Service::Imap, 18143)] {
        let mut s = spec(svc);
        // dovecot's auth penalty after the wrong-password checks (per client
        // IP, shared by pop and imap) can delay the next login by seconds.
        s.negotiatetimeout = MAIL_TIMEOUT;
        up(&s, port).await;
        s.login = "lvsdtest".into();
        s.passwd = "lvsdpass".into();
        up(&s, port).await;
        s.passwd = "wrong".into();
        down(&s, port, "login failed").await;
        refused_and_silent(&s).await;
    }
}

#[tokio::test]
async fn ldap_and_ldaps() {
    if !have("slapd") {
        return;
    }
    for (svc, port) in [(Service::Ldap, 18389), (Service::Ldaps, 18636)] {
        let mut s = spec(svc);
        // default request "/" = root DSE, anonymous bind
        up(&s, port).await;
        s.request = "/dc=lvsd,dc=test".into();
        s.receive = "dc=lvsd".into();
        up(&s, port).await;
        s.login = "cn=admin,dc=lvsd,dc=test".into();
        s.passwd = "lvsdpass".into();
        up(&s, port).await;
        s.passwd = "wrong".into();
        down(&s, port, "bind failed").await;
        s.passwd = "lvsdpass".into();
        s.receive = "^cn=nomatch".into();
        down(&s, port, "does not match").await;
        s.receive.clear();
        s.request = "/dc=missing,dc=test".into();
        down(&s, port, "search").await;
        s.request = "/".into();
        refused_and_silent(&s).await;
    }
}

#[tokio::test]
async fn nntp() {
    if !have("leafnode") || !have("socat") {
        return;
    }
    let s = spec(Service::Nntp);
    up(&s, 18119).await;
    if have("dovecot") {
        down(&s, 18110, "wrong answer").await;
    }
    refused_and_silent(&s).await;
}

#[tokio::test]
async fn dns_udp_and_tcp() {
    if !have("dnsmasq") {
        return;
    }
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let mut s = spec(Service::Dns);
        s.protocol = protocol;
        s.request = "/check.lvsd.test".into();
        s.receive = "10.9.8.7".into();
        up(&s, 18053).await;
        // PTR for an address
        s.request = "/10.9.8.7".into();
        s.receive = "check.lvsd".into();
        up(&s, 18053).await;
        s.request = "/check.lvsd.test".into();
        s.receive = "10.0.0.99".into();
        down(&s, 18053, "no A/PTR answer").await;
        // empty receive is always down (ldirectord)
        s.receive.clear();
        down(&s, 18053, "wrong answer").await;
        s.receive = "10.9.8.7".into();
        match protocol {
            Protocol::Udp => refused_and_silent_udp(&s).await,
            _ => refused_and_silent(&s).await,
        }
    }
}

#[tokio::test]
async fn mysql() {
    if !have("mariadbd") {
        return;
    }
    let mut s = spec(Service::Mysql);
    s.login = "lvsdtest".into();
    s.passwd = "lvsdpass".into();
    s.database = "lvsd".into();
    s.request = "/SELECT * FROM t".into();
    up(&s, 13306).await;
    s.request = "/SELECT * FROM empty".into();
    down(&s, 13306, "no rows").await;
    s.request = "/SELECT * FROM t".into();
    s.passwd = "wrong".into();
    down(&s, 13306, "Access denied").await;
    s.passwd = "lvsdpass".into();
    s.login.clear();
    down(&s, 13306, "login and a request").await;
    s.login = "lvsdtest".into();
    refused_and_silent(&s).await;
}

#[tokio::test]
async fn pgsql() {
    if !have_postgres() {
        return;
    }
    let mut s = spec(Service::Pgsql);
    s.login = "lvsdtest".into();
    s.passwd = "lvsdpass".into();
    s.database = "lvsd".into();
    s.request = "/SELECT * FROM t".into();
    up(&s, 15432).await;
    s.request = "/SELECT * FROM empty".into();
    down(&s, 15432, "no rows").await;
    s.request = "/SELECT * FROM nosuchtable".into();
    down(&s, 15432, "query failed").await;
    s.request = "/SELECT * FROM t".into();
    s.passwd = "wrong".into();
    down(&s, 15432, "password").await;
    s.passwd = "lvsdpass".into();
    refused_and_silent(&s).await;
}

#[tokio::test]
async fn radius() {
    if !have("freeradius") {
        return;
    }
    let mut s = spec(Service::Radius);
    s.login = "lvsdtest".into();
    s.passwd = "lvsdpass".into();
    s.secret = "testing123".into();
    up(&s, 11812).await;
    s.passwd = "wrong".into();
    down(&s, 11812, "Access-Reject").await;
    refused_and_silent_udp(&s).await;
}

#[tokio::test]
async fn sip_udp_and_tcp() {
    if !have("kamailio") {
        return;
    }
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let mut s = spec(Service::Sip);
        s.protocol = protocol;
        s.login = "check@127.0.0.1".into();
        up(&s, 15060).await;
        s.login = "down@127.0.0.1".into();
        down(&s, 15060, "404").await;
        match protocol {
            Protocol::Udp => refused_and_silent_udp(&s).await,
            _ => refused_and_silent(&s).await,
        }
    }
}

#[tokio::test]
async fn simpletcp() {
    if !have("socat") {
        return;
    }
    let mut s = spec(Service::SimpleTcp);
    s.request = "/PING lvsd\\nsecond line".into();
    s.receive = "^second".into();
    up(&s, 17007).await;
    s.receive = "PONG".into();
    down(&s, 17007, "no line matches").await;
    refused_and_silent(&s).await;
    s.protocol = Protocol::Udp;
    s.receive = "PING".into();
    up(&s, 17007).await;
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
