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

/// Run openssl with `args` in `dir`; panics with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA `NAME.pem`/`NAME.key` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let (key, pem, subj) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN=lvsd test {name}"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &subj,
            "-keyout",
            &key,
            "-out",
            &pem,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A server certificate `NAME.pem`/`NAME.key` for `san`, issued by `ca`.
fn make_cert(dir: &Path, name: &str, san: &str, ca: &str) {
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &ext,
        ],
    );
}

fn bundle(dir: &Path, name: &str) -> Option<lvsd::model::CaBundle> {
    let path = dir.join(format!("{name}.pem"));
    let pem = std::fs::read(&path).unwrap();
    Some(lvsd::model::CaBundle {
        path,
        pem: pem.into(),
    })
}

/// https: SNI comes from `virtualhost`; with `ca_file` the chain must lead
/// to that CA and the certificate must hold the name (virtualhost, else
/// the real's address). nginx serves three names on one port: a and b
/// from the test's CA, c from another CA; an unknown name gets a's
/// certificate (the default server).
#[tokio::test]
async fn https_sni_from_virtualhost_and_ca_file_verification() {
    if !installed("nginx") || !installed("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(d, "ca1");
    make_ca(d, "ca2");
    make_cert(d, "a", "DNS:a.lvsd.test,IP:127.0.0.1", "ca1");
    make_cert(d, "b", "DNS:b.lvsd.test", "ca1");
    make_cert(d, "c", "DNS:c.lvsd.test", "ca2");
    let server = |name: &str, extra: &str| {
        format!(
            "server {{\n listen 127.0.0.1:22311 ssl{extra};\n server_name {name}.lvsd.test;\n\
             ssl_certificate {d}/{name}.pem;\n ssl_certificate_key {d}/{name}.key;\n\
             location / {{ return 200 \"served {name}\\n\"; }}\n}}\n",
            d = d.display()
        )
    };
    let conf = server("a", " default_server") + &server("b", "") + &server("c", "");
    let _ng = Nginx::start(&d.join("nginx"), &conf, &[22311]);
    let mut s = spec(Service::Https, "/");
    // As before: no name, no verification, the default certificate.
    s.receive = "served a".into();
    assert_eq!(check(&s, 22311).await.unwrap(), "200 OK");
    // The real's address is verified when there is no virtualhost.
    s.policy.ca = bundle(d, "ca1");
    assert_eq!(check(&s, 22311).await.unwrap(), "200 OK");
    // SNI b: only then does nginx present b's certificate, which holds
    // no address and no other name.
    s.virtualhost = Some("b.lvsd.test".into());
    s.receive = "served b".into();
    assert_eq!(check(&s, 22311).await.unwrap(), "200 OK");
    // A name nginx does not know: a's certificate, wrong name.
    s.virtualhost = Some("d.lvsd.test".into());
    s.receive = String::new();
    let e = check(&s, 22311).await.unwrap_err();
    assert_eq!(
        e,
        format!(
            "wrong answer: certificate of d.lvsd.test rejected against ca_file {}/ca1.pem: not valid for this name",
            d.display()
        )
    );
    // c is issued by another CA: untrusted with ca1, good with ca2.
    s.virtualhost = Some("c.lvsd.test".into());
    let e = check(&s, 22311).await.unwrap_err();
    assert!(
        e.contains("rejected against ca_file") && e.contains("unknown issuer"),
        "{e}"
    );
    s.policy.ca = bundle(d, "ca2");
    s.receive = "served c".into();
    assert_eq!(check(&s, 22311).await.unwrap(), "200 OK");
    // Without ca_file nothing is verified, but SNI still names c.
    s.policy.ca = None;
    assert_eq!(check(&s, 22311).await.unwrap(), "200 OK");
    // A certificate for the address only does not pass for a name.
    s.virtualhost = Some("127.0.0.1".into());
    s.policy.ca = bundle(d, "ca1");
    s.receive = "served a".into();
    assert_eq!(check(&s, 22311).await.unwrap(), "200 OK");
}
