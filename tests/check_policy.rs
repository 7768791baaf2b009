//! Host tier: the check keys of lvsd.toml's `[virtual."..."]` sections
//! (`status_code`, `ca_file` and SNI from `virtualhost`) against a real
//! nginx this test starts on loopback ports 22310-22319 with its own
//! configuration (and, for TLS, certificates of a CA made by the test with
//! the openssl CLI). Each test stops its nginx, also on failure. A test is
//! skipped (with a message) only when nginx or openssl is not installed.

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lvsd::check::{run_once, CheckSpec, CheckType, Service, Target};
use lvsd::model::StatusCodes;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn installed(bin: &str) -> bool {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(bin).exists());
    if !found {
        eprintln!("SKIP: {bin} is not installed");
    }
    found
}

/// An nginx run in the foreground from a temp dir; stopped on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Start nginx with `servers` (the `server { }` blocks) and wait until
    /// every port in `ports` accepts.
    fn start(dir: &Path, servers: &str, ports: &[u16]) -> Nginx {
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\nhttp {{\n access_log off;\n\
             client_body_temp_path {d}/tmp/body;\n proxy_temp_path {d}/tmp/proxy;\n\
             fastcgi_temp_path {d}/tmp/fcgi;\n uwsgi_temp_path {d}/tmp/uwsgi;\n\
             scgi_temp_path {d}/tmp/scgi;\n{servers}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let n = Nginx {
            child,
            dir: dir.to_path_buf(),
        };
        for &p in ports {
            let t0 = Instant::now();
            while TcpStream::connect((LO, p)).is_err() {
                assert!(
                    t0.elapsed() < Duration::from_secs(10),
                    "nginx does not listen on {p}: {}",
                    std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        n
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: nginx's master stops its workers and exits.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spec(service: Service, request: &str) -> CheckSpec {
    CheckSpec {
        checktype: CheckType::Negotiate,
        service,
        request: request.into(),
        checktimeout: Duration::from_secs(3),
        negotiatetimeout: Duration::from_secs(3),
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

/// Run the check; `Ok(answer)` or `Err(reason)`.
async fn check(s: &CheckSpec, port: u16) -> Result<String, String> {
    run_once(s, &target(port)).await.map_err(|e| e.to_string())
}

/// status_code: a listed code is up, whatever ldirectord's 2xx rule says;
/// an unlisted code (2xx included) is down with the accepted set in the
/// reason; a listed 3xx is taken as is, an unlisted one is followed.
#[tokio::test]
async fn status_code_accepts_exactly_the_listed_codes() {
    if !installed("nginx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let _ng = Nginx::start(
        dir.path(),
        "server {\n listen 127.0.0.1:22310;\n\
         location = /ok { return 200 \"fine\\n\"; }\n\
         location = /busy { return 503 \"busy\\n\"; }\n\
         location = /moved { return 301 /busy; }\n\
         location = /tmp { return 302 /ok; }\n\
         location / { return 404; }\n}",
        &[22310],
    );
    let codes = |c: &[(u16, u16)]| Some(StatusCodes(c.to_vec()));
    // ldirectord's rule without the key.
    let mut s = spec(Service::Http, "/ok");
    assert_eq!(check(&s, 22310).await.unwrap(), "200 OK");
    s.request = "/busy".into();
    assert_eq!(
        check(&s, 22310).await.unwrap_err(),
        "wrong answer: HTTP status 503 Service Unavailable"
    );
    // A maintenance page answering 503 counts as up when listed.
    s.policy.status_codes = codes(&[(200, 200), (503, 503)]);
    assert_eq!(check(&s, 22310).await.unwrap(), "503 Service Unavailable");
    // 200 is no longer enough when only 404 is listed.
    s.request = "/ok".into();
    s.policy.status_codes = codes(&[(404, 404)]);
    assert_eq!(
        check(&s, 22310).await.unwrap_err(),
        "wrong answer: HTTP status 200 OK (status_code: 404)"
    );
    s.request = "/missing".into();
    assert_eq!(check(&s, 22310).await.unwrap(), "404 Not Found");
    // A listed redirect is the answer; an unlisted one is followed.
    s.request = "/moved".into();
    s.policy.status_codes = codes(&[(300, 399)]);
    assert_eq!(check(&s, 22310).await.unwrap(), "301 Moved Permanently");
    s.request = "/tmp".into();
    s.policy.status_codes = codes(&[(200, 299)]);
    assert_eq!(check(&s, 22310).await.unwrap(), "200 OK");
    s.request = "/moved".into();
    assert_eq!(
        check(&s, 22310).await.unwrap_err(),
        "wrong answer: HTTP status 503 Service Unavailable (status_code: 200-299)"
    );
    // receive still applies to the body of an accepted answer.
    s.request = "/busy".into();
    s.policy.status_codes = codes(&[(503, 503)]);
    s.receive = "fine".into();
    assert!(check(&s, 22310)
        .await
        .unwrap_err()
        .contains("body does not match receive"));
}
