//! Unit tests of `validate`: every directive alone and combined,
//! defaults, inheritance, timeouts and error reporting.

use super::super::resolve::fake::FakeResolver;
use super::inherit::secs;
use super::*;
use crate::model::Forward;

fn parse(text: &str) -> Result<Config, Error> {
    Config::parse(text, Path::new("t.cf"), &FakeResolver)
}

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("unexpected error:\n{e}\n--- in:\n{text}"),
    }
}

fn errs(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.diagnostics(),
    }
}

fn one(text: &str) -> Virtual {
    let mut c = ok(text);
    assert_eq!(c.virtuals.len(), 1, "{text}");
    c.virtuals.remove(0)
}

/// A block with one real plus `extra` (one directive per line).
fn block(extra: &str) -> String {
    let mut s = String::from("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 masq\n");
    for l in extra.lines() {
        s.push('\t');
        s.push_str(l);
        s.push('\n');
    }
    s
}

#[test]
fn defaults_of_a_minimal_virtual() {
    let c = ok("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 masq\n");
    assert_eq!(c.global, Global::default());
    let v = &c.virtuals[0];
    assert_eq!(v.key.to_string(), "TCP 10.0.0.1:80");
    assert_eq!(v.scheduler, "wrr");
    assert_eq!(
        (v.persistent, v.netmask, v.ops, v.schedflags),
        (None, None, false, 0)
    );
    assert!(!v.quiescent && v.cleanstop);
    assert_eq!(v.fallback, None);
    let k = &v.check;
    assert_eq!(k.checktype, CheckType::Negotiate);
    assert_eq!(k.service, Service::Http);
    assert_eq!(k.protocol, Protocol::Tcp);
    assert_eq!((k.request.as_str(), k.receive.as_str()), ("/", ""));
    assert_eq!(k.checkcommand, "/bin/true");
    assert_eq!(k.httpmethod, HttpMethod::Get);
    assert_eq!((k.checktimeout, k.negotiatetimeout), (secs(5), secs(30)));
    assert_eq!(
        (k.checkinterval, k.failurecount, k.checkcount),
        (secs(10), 1, 1)
    );
    assert_eq!(k.checkport, None);
    let r = &v.reals[0];
    assert_eq!(
        (r.addr.to_string(), r.port, r.forward, r.weight),
        ("10.0.1.1".into(), 80, Forward::Masq, 1)
    );
    assert_eq!((r.l_threshold, r.u_threshold), (0, 0));
    assert_eq!(*r.check, v.check);
}

#[test]
fn each_virtual_directive_in_isolation() {
    type Probe = fn(&Virtual) -> bool;
    let cases: &[(&str, Probe)] = &[
        ("checktype=connect", |v| {
            v.check.checktype == CheckType::Connect
        }),
        ("checktype=external", |v| {
            v.check.checktype == CheckType::External
        }),
        ("checktype=external-perl", |v| {
            v.check.checktype == CheckType::ExternalPerl
        }),
        ("checktype=negotiate", |v| {
            v.check.checktype == CheckType::Negotiate
        }),
        ("checktype=off", |v| v.check.checktype == CheckType::Off),
        ("checktype=on", |v| v.check.checktype == CheckType::On),
        ("checktype=ping", |v| v.check.checktype == CheckType::Ping),
        ("checktype=7", |v| {
            v.check.checktype == CheckType::Combined(7)
        }),
        ("checkcommand=\"/usr/bin/chk\"", |v| {
            v.check.checkcommand == "/usr/bin/chk"
        }),
        ("checkcommand=/usr/bin/chk2", |v| {
            v.check.checkcommand == "/usr/bin/chk2"
        }),
        ("checkcount=4", |v| v.check.checkcount == 4),
        ("checkinterval=3", |v| v.check.checkinterval == secs(10)),
        ("checkport=8080", |v| v.check.checkport == Some(8080)),
        ("checktimeout=7", |v| {
            v.check.checktimeout == secs(7) && v.check.negotiatetimeout == secs(7)
        }),
        ("negotiatetimeout=9", |v| {
            v.check.negotiatetimeout == secs(9) && v.check.checktimeout == secs(9)
        }),
        ("failurecount=3", |v| v.check.failurecount == 3),
        ("cleanstop=no", |v| !v.cleanstop),
        ("comment=call Bob", |v| {
            v.comment.as_deref() == Some("call Bob")
        }),
        ("servicename=Web Site", |v| {
            v.servicename.as_deref() == Some("Web Site")
        }),
        ("database=\"portal\"", |v| v.check.database == "portal"),
        ("emailalert=\"a@b\"", |v| {
            v.alerts.emailalert.as_deref() == Some("a@b")
        }),
        ("emailalertfreq=60", |v| v.alerts.emailalertfreq == 60),
        ("emailalertstatus=running", |v| {
            v.alerts.emailalertstatus.running && !v.alerts.emailalertstatus.starting
        }),
        ("fallback=127.0.0.1:8080 masq", |v| {
            v.fallback
                == Some(Fallback {
                    addr: IpAddr::from([127, 0, 0, 1]),
                    port: 8080,
                    forward: Forward::Masq,
                })
        }),
        ("fallback=127.0.0.1", |v| {
            v.fallback.map(|f| (f.port, f.forward)) == Some((80, Forward::Route))
        }),
        ("fallbackcommand=\"/bin/fb\"", |v| {
            v.fallbackcommand.as_deref() == Some("/bin/fb")
        }),
        ("httpmethod=head", |v| {
            v.check.httpmethod == HttpMethod::Head
        }),
        ("login=\"u\"", |v| v.check.login == "u"),
        ("passwd=\"p\"", |v| v.check.passwd == "p"),
        ("secret=\"s\"", |v| v.check.secret == "s"),
        ("monitorfile=\"/tmp/m.log\"", |v| {
            v.monitorfile.as_deref() == Some(Path::new("/tmp/m.log"))
        }),
        ("persistent=300", |v| v.persistent == Some(300)),
        ("netmask=255.255.0.0", |v| v.netmask == Some(0xffff_0000)),
        ("protocol=udp", |v| {
            matches!(
                v.key,
                ServiceKey::Addr {
                    protocol: Protocol::Udp,
                    ..
                }
            ) && v.check.protocol == Protocol::Udp
        }),
        ("protocol=tcp", |v| {
            matches!(
                v.key,
                ServiceKey::Addr {
                    protocol: Protocol::Tcp,
                    ..
                }
            )
        }),
        ("ops=no", |v| !v.ops),
        ("quiescent=yes", |v| v.quiescent),
        ("readdquiescent_is_global_only=1", |_| true),
        ("receive=\"OK\"", |v| v.check.receive == "OK"),
        ("request=\"index.html\"", |v| {
            v.check.request == "/index.html"
        }),
        ("request=\"/a b\"", |v| v.check.request == "/a b"),
        ("scheduler=sh", |v| v.scheduler == "sh"),
        ("schedflags=flag-1", |v| {
            v.schedflags == crate::model::ServiceFlags::SCHED1
        }),
        ("service=simpletcp", |v| {
            v.check.service == Service::SimpleTcp
        }),
        ("service=http_proxy", |v| {
            v.check.service == Service::HttpProxy
        }),
        ("service=none", |v| v.check.service == Service::None),
        ("smtp=mail.example.com", |v| {
            v.alerts.smtp.as_deref() == Some("mail.example.com")
        }),
        ("virtualhost=www.example.com", |v| {
            v.check.virtualhost.as_deref() == Some("www.example.com")
        }),
        ("virtualhost=\"www.example.org\"", |v| {
            v.check.virtualhost.as_deref() == Some("www.example.org")
        }),
        ("load=\"x\"", |_| true),
    ];
    for (line, probe) in cases {
        if line.starts_with("readdquiescent_is_global_only") {
            assert!(parse(&block("readdquiescent=yes")).is_err());
            continue;
        }
        let v = one(&block(line));
        assert!(probe(&v), "{line}: {v:#?}");
    }
}

#[test]
fn each_global_directive_in_isolation() {
    type Probe = fn(&Config) -> bool;
    let cases: &[(&str, Probe)] = &[
        ("autoreload=yes", |c| c.global.autoreload),
        ("callback=\"/bin/cb\"", |c| {
            c.global.callback.as_deref() == Some("/bin/cb")
        }),
        ("checkcount=2", |c| {
            c.global.checkcount == 2 && c.virtuals[0].check.checkcount == 2
        }),
        ("checkinterval=4", |c| {
            c.global.checkinterval == 4 && c.virtuals[0].check.checkinterval == secs(4)
        }),
        ("checktimeout=3", |c| {
            c.virtuals[0].check.checktimeout == secs(3)
                && c.virtuals[0].check.negotiatetimeout == secs(3)
        }),
        ("negotiatetimeout=12", |c| {
            c.virtuals[0].check.negotiatetimeout == secs(12)
                && c.virtuals[0].check.checktimeout == secs(12)
        }),
        ("cleanstop=no", |c| {
            !c.global.cleanstop && !c.virtuals[0].cleanstop
        }),
        ("emailalert=\"x@y\"", |c| {
            c.virtuals[0].alerts.emailalert.as_deref() == Some("x@y")
        }),
        ("emailalertfreq=10", |c| {
            c.virtuals[0].alerts.emailalertfreq == 10
        }),
        ("emailalertstatus=none", |c| {
            c.virtuals[0].alerts.emailalertstatus == super::super::AlertStatus::NONE
        }),
        ("emailalertfrom=\"LVS\" <l@x>", |c| {
            c.virtuals[0].alerts.emailalertfrom.as_deref() == Some("\"LVS\" <l@x>")
        }),
        ("execute=other.cf", |c| {
            c.global.execute == vec!["other.cf".to_string()]
        }),
        ("failurecount=5", |c| c.virtuals[0].check.failurecount == 5),
        ("fallback=127.0.0.1:81 masq", |c| {
            c.virtuals[0].fallback.map(|f| (f.port, f.forward)) == Some((81, Forward::Masq))
        }),
        ("fallback6=[::1]:81", |c| c.virtuals[0].fallback.is_none()),
        ("fallbackcommand=\"/x.sh\" -v", |c| {
            c.virtuals[0].fallbackcommand.as_deref() == Some("\"/x.sh\" -v")
        }),
        ("fork=yes", |c| c.global.fork),
        ("logfile=\"local0\"", |c| {
            c.global.logfile == LogTarget::Syslog("local0".into())
        }),
        ("logfile=\"/tmp/ld.log\"", |c| {
            c.global.logfile == LogTarget::File("/tmp/ld.log".into())
        }),
        ("maintenancedir=/tmp", |c| {
            c.global.maintenancedir.as_deref() == Some(Path::new("/tmp"))
        }),
        ("quiescent=yes", |c| c.virtuals[0].quiescent),
        ("readdquiescent=yes", |c| c.global.readdquiescent),
        ("smtp=10.0.0.25", |c| {
            c.virtuals[0].alerts.smtp.as_deref() == Some("10.0.0.25")
        }),
        ("supervised=yes", |c| c.global.supervised),
        ("supervised", |c| {
            c.global.supervised && c.warnings.len() == 1
        }),
    ];
    for (line, probe) in cases {
        let c = ok(&format!("{line}\n{}", block("")));
        assert!(probe(&c), "{line}: {c:#?}");
    }
}

#[test]
fn timeouts_resolve_like_ld_setup() {
    let t = |g: &str, v: &str| {
        let c = ok(&format!("{g}\n{}", block(v)));
        let k = &c.virtuals[0].check;
        (k.checktimeout.as_secs(), k.negotiatetimeout.as_secs())
    };
    assert_eq!(t("", ""), (5, 30));
    assert_eq!(t("checktimeout=3", ""), (3, 3));
    assert_eq!(t("negotiatetimeout=20", ""), (20, 20));
    assert_eq!(t("checktimeout=3\nnegotiatetimeout=20", ""), (3, 20));
    assert_eq!(
        t("checktimeout=3\nnegotiatetimeout=20", "negotiatetimeout=8"),
        (8, 8)
    );
    assert_eq!(
        t("checktimeout=3", "checktimeout=2\nnegotiatetimeout=9"),
        (2, 9)
    );
}

#[test]
fn checkinterval_in_a_virtual_needs_fork() {
    let c = ok(&block("checkinterval=3"));
    assert_eq!(c.virtuals[0].check.checkinterval, secs(10));
    assert!(c.warnings.iter().any(|w| w.directive == "checkinterval"));
    let c = ok(&format!("fork=yes\n{}", block("checkinterval=3")));
    assert_eq!(c.virtuals[0].check.checkinterval, secs(3));
    assert!(c.warnings.is_empty());
}

#[test]
fn globals_after_a_block_still_apply() {
    let c = ok(&format!("{}quiescent=yes\nfallback=127.0.0.1\n", block("")));
    assert!(c.virtuals[0].quiescent);
    assert_eq!(c.virtuals[0].fallback.map(|f| f.port), Some(80));
}

#[test]
fn virtual_overrides_global() {
    let c = ok(&format!(
        "quiescent=yes\ncleanstop=no\nfallback=127.0.0.1:99\nfallbackcommand=/g\nemailalert=g@x\nsmtp=g\n{}",
        block("quiescent=no\ncleanstop=yes\nfallback=127.0.0.2\nfallbackcommand=/v\nemailalert=v@x\nsmtp=v")
    ));
    let v = &c.virtuals[0];
    assert!(!v.quiescent && v.cleanstop);
    assert_eq!(
        v.fallback.map(|f| (f.addr.to_string(), f.port)),
        Some(("127.0.0.2".into(), 80))
    );
    assert_eq!(v.fallbackcommand.as_deref(), Some("/v"));
    assert_eq!(v.alerts.emailalert.as_deref(), Some("v@x"));
    assert_eq!(v.alerts.smtp.as_deref(), Some("v"));
}

#[test]
fn service_protocol_and_login_defaults() {
    let v = one("virtual=10.0.0.1:53\n\treal=10.0.1.1:53 masq\n");
    assert_eq!(
        (v.check.service, v.check.protocol),
        (Service::Dns, Protocol::Udp)
    );
    let v = one("virtual=10.0.0.1:domain\n");
    assert_eq!(v.key.to_string(), "UDP 10.0.0.1:53");
    let v = one("virtual=10.0.0.1:8080\n");
    assert_eq!(v.check.service, Service::None);
    let v = one("virtual=10.0.0.1:21\n");
    assert_eq!(v.check.login, "anonymous");
    assert!(v.check.passwd.starts_with("ldirectord@"));
    let v = one("virtual=10.0.0.1:21\n\tlogin=\"bob\"\n");
    assert_eq!(v.check.login, "bob");
    let v = one("virtual=10.0.0.1:5060\n\tprotocol=udp\n");
    assert!(v.check.login.starts_with("ldirectord@"));
    let v = one("virtual=42\n\tservice=http\n\tprotocol=fwm\n");
    assert_eq!(
        v.key,
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: 42
        }
    );
    assert_eq!(v.check.service, Service::Http);
    let v = one("virtual=42\n");
    assert_eq!(v.check.service, Service::None);
    let v = one("virtual6=42\n");
    assert_eq!(
        v.key,
        ServiceKey::Fwmark {
            family: Family::V6,
            mark: 42
        }
    );
}

#[test]
fn reals_in_every_form() {
    let v = one(
        "virtual=10.0.0.1:80\n\treal=web1.example:http gate\n\treal=10.0.2.1->10.0.2.3 ipip 4 l:1 u:9\n\treal=web2.example->web3.example:8080 masq \"/x\", \"y\"\n",
    );
    let got: Vec<String> = v
        .reals
        .iter()
        .map(|r| {
            format!(
                "{}:{} {:?} {} {} {}",
                r.addr, r.port, r.forward, r.weight, r.l_threshold, r.u_threshold
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "10.1.0.1:80 Route 1 0 0",
            "10.0.2.1:0 Tunnel 4 1 9",
            "10.0.2.2:0 Tunnel 4 1 9",
            "10.0.2.3:0 Tunnel 4 1 9",
            "10.1.0.2:8080 Masq 1 0 0",
            "10.1.0.3:8080 Masq 1 0 0",
        ]
    );
    let r = &v.reals[5];
    assert!(r.check.request_from_real);
    assert_eq!(
        (r.check.request.as_str(), r.check.receive.as_str()),
        ("/x", "y")
    );
    assert!(!v.reals[0].check.request_from_real);
    let v =
        one("virtual6=[2001:db8::1]:80\n\treal6=[2001:db8::2]:8080 masq\n\treal6=v6host gate\n");
    assert_eq!(v.reals[1].addr.to_string(), "2001:db8::10");
}

#[test]
fn errors_name_line_and_directive_and_are_all_reported() {
    let e = errs("checktimeout=x\nvirtual=10.0.0.1:80\n\treal=nosuch.host:80 gate\n\tscheduler=foo\nvirtual=10.0.0.1:80\n");
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].starts_with("t.cf:1: checktimeout: "), "{}", e[0]);
    assert!(
        e[1].starts_with("t.cf:3: real: real server address \"nosuch.host\""),
        "{}",
        e[1]
    );
    assert!(
        e[2].starts_with("t.cf:4: scheduler: unknown scheduler"),
        "{}",
        e[2]
    );
    assert!(
        e[3].starts_with("t.cf:5: virtual: duplicate virtual server TCP 10.0.0.1:80"),
        "{}",
        e[3]
    );
}

#[test]
fn rejections_match_ldirectord() {
    for (text, line, directive) in [
        (
            "virtual=10.0.0.1:80\n\tchecktype=sometimes\n",
            2,
            "checktype",
        ),
        (
            "virtual=10.0.0.1:80\n\tconnecttimeout=3\n",
            2,
            "connecttimeout",
        ),
        (
            "virtual=10.0.0.1:80\n\tfallback6=[::1]:80\n",
            2,
            "fallback6",
        ),
        ("virtual6=[::1]:80\n\tfallback=127.0.0.1\n", 2, "fallback"),
        ("virtual6=[::1]:80\n\tnetmask=255.0.0.0\n", 2, "netmask"),
        ("virtual=1\n\tprotocol=tcp\n", 2, "protocol"),
        ("virtual=10.0.0.1:80\n\tops=maybe\n", 2, "ops"),
        ("virtual=10.0.0.1:80\n\tlogin=\"\"\n", 2, "login"),
        ("virtual=10.0.0.1:80\n\thttpmethod=POST\n", 2, "httpmethod"),
        (
            "virtual=10.0.0.1:80\n\tschedflags=sh-port\n",
            2,
            "schedflags",
        ),
        (
            "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 gate \"/x\"\n",
            2,
            "real",
        ),
        ("virtual=10.0.0.1:80\n\treal=[::1]:80 gate\n", 2, "real"),
        (
            "virtual6=[::1]:80\n\treal6=[::1]->[::2]:80 gate\n",
            2,
            "real6",
        ),
        (
            "virtual=10.0.0.1:80\n\treal=10.0.0.0->10.2.0.0 gate\n",
            2,
            "real",
        ),
        (
            "virtual=10.0.0.1:80\n\temailalertstatus=none,all\n",
            2,
            "emailalertstatus",
        ),
        ("virtual=10.0.0.1:nosuch\n", 1, "virtual"),
        ("virtual6=10.0.0.1:80\n", 1, "virtual6"),
        ("fallback=nosuch.host\n", 1, "fallback"),
        ("Checktimeout=3\n", 1, "Checktimeout"),
        ("  checktimeout=3\n", 1, "checktimeout"),
        ("logfile=/var/log/x\n", 1, "logfile"),
        ("virtual=10.0.0.1:80\n\tchecktimeout=0\n", 2, "checktimeout"),
        ("virtual=10.0.0.1:80\n\tpersistent=0\n", 2, "persistent"),
    ] {
        let e = errs(text);
        let want = format!("t.cf:{line}: {directive}: ");
        assert!(
            e.iter().any(|m| m.starts_with(&want)),
            "{text:?}: want {want}, got {e:#?}"
        );
    }
}

#[test]
fn blank_line_ends_block_and_the_next_virtual_is_fine() {
    let c = ok("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 gate\n\nvirtual=10.0.0.2:80\n\treal=10.0.1.2:80 gate\n");
    assert_eq!(c.virtuals.len(), 2);
    assert_eq!(c.virtuals[1].reals.len(), 1);
}

#[test]
fn oracle_negotiate_is_rejected_at_load_naming_the_line() {
    // explicit service, negotiate by default: error on the service= line
    let e = errs("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 gate\n\tservice=oracle\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].starts_with("t.cf:3: service: "), "{}", e[0]);
    assert!(e[0].contains("no pure-Rust Oracle client"), "{}", e[0]);
    // combined checks negotiate too
    let e = errs("virtual=10.0.0.1:80\n\tchecktype=3\n\tservice=oracle\n");
    assert!(e[0].starts_with("t.cf:3: service: "), "{}", e[0]);
    // port 1521 defaults to service oracle: the checktype= line, else the block
    let e = errs("virtual=10.0.0.1:1521\n\treal=10.0.1.1 gate\n\tchecktype=negotiate\n");
    assert!(e[0].starts_with("t.cf:3: checktype: "), "{}", e[0]);
    let e = errs("virtual=10.0.0.1:1521\n\treal=10.0.1.1 gate\n");
    assert!(e[0].starts_with("t.cf:1: virtual: "), "{}", e[0]);
    // checks that do not talk to Oracle are fine
    for ct in ["connect", "ping", "external", "on", "off"] {
        let v = one(&format!(
            "virtual=10.0.0.1:1521\n\treal=10.0.1.1 gate\n\tchecktype={ct}\n\tservice=oracle\n"
        ));
        assert_eq!(v.check.service, Service::Oracle, "{ct}");
    }
}

#[test]
fn monitorfile_must_be_writable_or_creatable() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("mon.log");
    let v = one(&block(&format!("monitorfile=\"{}\"", new.display())));
    assert_eq!(v.monitorfile.as_deref(), Some(new.as_path()));
    // Checked, not created: check-config has no side effects.
    assert!(!new.exists());
    let e = errs(&block("monitorfile=/nonexistent-dir/m.log"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("t.cf:3")
            && e[0].contains("unable to open monitorfile /nonexistent-dir/m.log"),
        "{e:?}"
    );
}
