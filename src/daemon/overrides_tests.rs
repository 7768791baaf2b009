use super::*;
use crate::model::{CheckSpec, Forward, Protocol, RealServer, VirtualService, WeightAdjust};
use crate::reconcile::VirtualSpec;

use super::super::plan::VirtualPlan;

fn vp(key: ServiceKey, reals: &[(&str, u16, Forward)]) -> VirtualPlan {
    let reals: Vec<RealServer> = reals
        .iter()
        .map(|(a, p, f)| {
            let mut r = RealServer::new(a.parse().unwrap(), *p);
            r.forward = *f;
            r
        })
        .collect();
    VirtualPlan {
        checks: reals.iter().map(|_| CheckSpec::defaults().into()).collect(),
        spec: VirtualSpec {
            service: VirtualService::new(key),
            reals,
            fallback: None,
            quiescent: true,
            consistent: false,
        },
        cleanstop: true,
        fallbackcommand: None,
        alerts: Default::default(),
        monitorfile: None,
    }
}

fn tcp(a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: a.parse().unwrap(),
        port,
    }
}

fn plan() -> Plan {
    Plan {
        virtuals: vec![
            vp(
                tcp("10.0.0.1", 80),
                &[
                    ("10.1.0.1", 8080, Forward::Masq),
                    ("10.1.0.2", 8080, Forward::Masq),
                    ("10.1.0.2", 8081, Forward::Masq),
                ],
            ),
            vp(
                ServiceKey::Addr {
                    protocol: Protocol::Udp,
                    addr: "10.0.0.1".parse().unwrap(),
                    port: 53,
                },
                &[("10.1.0.3", 5353, Forward::Route)],
            ),
            vp(
                tcp("2001:db8::1", 443),
                &[("2001:db8::10", 443, Forward::Masq)],
            ),
            vp(
                ServiceKey::Fwmark {
                    family: Family::V4,
                    mark: 7,
                },
                &[("10.1.0.4", 0, Forward::Route)],
            ),
            vp(
                ServiceKey::Fwmark {
                    family: Family::V6,
                    mark: 7,
                },
                &[("2001:db8::4", 0, Forward::Route)],
            ),
        ],
        ..Default::default()
    }
}

#[test]
fn names_parse_as_written_in_ldirectord_cf_and_status() {
    assert_eq!(
        parse_virtual("tcp:10.0.0.1:80").unwrap(),
        VirtualName::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80
        }
    );
    assert!(matches!(
        parse_virtual("UDP:[2001:db8::1]:53"),
        Ok(VirtualName::Addr {
            protocol: Protocol::Udp,
            port: 53,
            ..
        })
    ));
    assert!(matches!(
        parse_virtual("sctp:10.0.0.1:9"),
        Ok(VirtualName::Addr {
            protocol: Protocol::Sctp,
            ..
        })
    ));
    assert_eq!(
        parse_virtual("fwm:7").unwrap(),
        VirtualName::Fwmark {
            mark: 7,
            family: None
        }
    );
    for bad in [
        "10.0.0.1:80",
        "tcp:10.0.0.1",
        "tcp:10.0.0.1:",
        "tcp:10.0.0.1:65536",
        "tcp:10.0.0.1:+80",
        "tcp:2001:db8::1:80",
        "tcp:[2001:db8::1]80",
        "fwm:",
        "fwm:-1",
        "fwm:4294967296",
        "icmp:10.0.0.1:80",
        "",
        "tcp:10.0.0.1:80\n",
    ] {
        assert!(parse_virtual(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        RealName::parse("[2001:db8::10]:443").unwrap(),
        RealName {
            addr: "2001:db8::10".parse().unwrap(),
            port: Some(443)
        }
    );
    assert_eq!(RealName::parse("2001:db8::10").unwrap().port, None);
    assert_eq!(RealName::parse("10.1.0.1").unwrap().port, None);
    assert!(RealName::parse("host.example:80").is_err());
    assert_eq!(parse_weight("0"), Ok(0));
    assert_eq!(parse_weight("2147483647"), Ok(2147483647));
    for bad in ["2147483648", "-1", "+3", "3 ", "", "99999999999", "0x10"] {
        assert!(parse_weight(bad).is_err(), "{bad:?} accepted");
    }
    // The error names the argument, sanitized.
    let e = parse_virtual("tcp:\x1b[31m").unwrap_err().to_string();
    assert!(e.contains("\\x1b") && !e.contains('\x1b'), "{e}");
}

#[test]
fn resolve_finds_one_real_or_says_why_not() {
    let p = plan();
    let k = resolve(&p, "tcp:10.0.0.1:80", "10.1.0.1:8080").unwrap();
    assert_eq!((k.service, k.port), (tcp("10.0.0.1", 80), 8080));
    // A port-less real is fine when only one port matches.
    assert_eq!(
        resolve(&p, "tcp:10.0.0.1:80", "10.1.0.1").unwrap().port,
        8080
    );
    // ... and ambiguous when two do.
    let e = resolve(&p, "tcp:10.0.0.1:80", "10.1.0.2").unwrap_err();
    assert!(matches!(e, NameError::Ambiguous(..)), "{e}");
    // DR: the kernel port (the virtual's) names the real too.
    assert_eq!(
        resolve(&p, "udp:10.0.0.1:53", "10.1.0.3:53").unwrap().port,
        5353
    );
    assert_eq!(
        resolve(&p, "udp:10.0.0.1:53", "10.1.0.3:5353")
            .unwrap()
            .port,
        5353
    );
    assert!(resolve(&p, "tcp:[2001:db8::1]:443", "[2001:db8::10]:443").is_ok());
    // fwm:7 matches the IPv4 and the IPv6 fwmark virtual: ambiguous.
    let e = resolve(&p, "fwm:7", "10.1.0.4").unwrap_err();
    assert!(matches!(e, NameError::Ambiguous(..)), "{e}");
    assert!(resolve(&p, "fwm6:7", "2001:db8::4").is_ok());
    assert_eq!(
        resolve(&p, "tcp:10.0.0.9:80", "10.1.0.1:8080"),
        Err(NameError::NoVirtual("tcp:10.0.0.9:80".into()))
    );
    assert_eq!(
        resolve(&p, "udp:10.0.0.1:80", "10.1.0.1:8080"),
        Err(NameError::NoVirtual("udp:10.0.0.1:80".into()))
    );
    assert!(matches!(
        resolve(&p, "tcp:10.0.0.1:80", "10.1.0.9:8080"),
        Err(NameError::NoReal { .. })
    ));
}

#[test]
fn health_wins_over_an_override() {
    use RealState::*;
    assert_eq!(
        desired_state(Some(true), false, None, WeightAdjust::default()),
        Up
    );
    assert_eq!(
        desired_state(
            Some(true),
            false,
            Some(Override::Drain),
            WeightAdjust::default()
        ),
        Weighted(0)
    );
    assert_eq!(
        desired_state(
            Some(true),
            false,
            Some(Override::Weight(9)),
            WeightAdjust::default()
        ),
        Weighted(9)
    );
    assert_eq!(
        desired_state(
            Some(false),
            false,
            Some(Override::Weight(9)),
            WeightAdjust::default()
        ),
        Down
    );
    assert_eq!(
        desired_state(None, false, Some(Override::Drain), WeightAdjust::default()),
        Unknown
    );
    assert_eq!(
        desired_state(
            Some(true),
            true,
            Some(Override::Weight(9)),
            WeightAdjust::default()
        ),
        Down
    );
}

fn sample() -> Overrides {
    let p = plan();
    let mut o = Overrides::default();
    o.set(
        resolve(&p, "tcp:10.0.0.1:80", "10.1.0.1:8080").unwrap(),
        Override::Drain,
    );
    o.set(
        resolve(&p, "tcp:[2001:db8::1]:443", "[2001:db8::10]:443").unwrap(),
        Override::Weight(5),
    );
    o.set(
        resolve(&p, "fwm6:7", "2001:db8::4").unwrap(),
        Override::Weight(0),
    );
    o
}

#[test]
fn state_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join(STATE_FILE);
    let o = sample();
    save(&path, &o).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("drain tcp:10.0.0.1:80 10.1.0.1:8080\n"),
        "{text}"
    );
    assert!(
        text.contains("weight tcp:[2001:db8::1]:443 [2001:db8::10]:443 5\n"),
        "{text}"
    );
    assert!(text.contains("weight fwm6:7 [2001:db8::4]:0 0\n"), "{text}");
    let back = load(&path).unwrap();
    assert!(back.errors.is_empty(), "{:?}", back.errors);
    assert_eq!(back.overrides, o);
    // Atomic: no temporary file is left beside it; mode 0600.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from(STATE_FILE)]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A missing file is no override and no error.
    let none = load(&dir.path().join("absent")).unwrap();
    assert!(none.overrides.is_empty() && none.errors.is_empty());
}

#[test]
fn a_symlink_at_the_path_is_replaced_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let path = dir.path().join(STATE_FILE);
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    // Reading through a planted symlink is refused.
    assert!(matches!(load(&path), Err(StoreError::NotRegular(_))));
    save(&path, &sample()).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_fifo_or_directory_is_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    assert!(matches!(load(&fifo), Err(StoreError::NotRegular(_))));
    assert!(matches!(load(dir.path()), Err(StoreError::NotRegular(_))));
}

#[test]
fn a_corrupt_file_is_reported_with_file_line_and_the_good_lines_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STATE_FILE);
    let mut bytes = b"# comment\n\ndrain tcp:10.0.0.1:80 10.1.0.1:8080\nweight tcp:10.0.0.1:80 10.1.0.2:8080 99999999999\nrm -rf / \x1b[2J\n"
        .to_vec();
    bytes.extend_from_slice(b"\xff\xfe\n");
    bytes.extend_from_slice(b"drain tcp:10.0.0.1:80 10.1.0.2\n");
    bytes.extend_from_slice(b"weight udp:10.0.0.1:53 10.1.0.3:5353 4");
    std::fs::write(&path, &bytes).unwrap();
    let got = load(&path).unwrap();
    let p = path.display().to_string();
    assert_eq!(got.overrides.len(), 2, "{:?}", got.overrides);
    let e = &got.errors;
    assert!(e[0].starts_with(&format!("{p}:4: invalid weight")), "{e:?}");
    assert!(e[1].starts_with(&format!("{p}:5: expected")), "{e:?}");
    assert!(!e[1].contains('\x1b'), "escape not sanitized: {e:?}");
    assert_eq!(e[2], format!("{p}:6: not UTF-8 text"));
    assert!(e[3].starts_with(&format!("{p}:7: real server")), "{e:?}");
    // The file as found is kept, byte for byte.
    let kept = dir.path().join("overrides.rejected");
    assert!(e[4].contains("overrides.rejected"), "{e:?}");
    assert_eq!(std::fs::read(kept).unwrap(), bytes);
}

#[test]
fn a_huge_file_is_read_up_to_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STATE_FILE);
    let line = "drain tcp:10.0.0.1:80 10.1.0.1:8080\n";
    let n = (MAX_FILE as usize / line.len()) + 100;
    std::fs::write(&path, line.repeat(n)).unwrap();
    let got = load(&path).unwrap();
    assert_eq!(got.overrides.len(), 1);
    assert!(
        got.errors.iter().any(|e| e.contains("longer than")),
        "{:?}",
        got.errors
    );
}

#[test]
fn the_store_is_bounded() {
    let mut o = Overrides::default();
    for i in 0..MAX_ENTRIES {
        let k = RealKey {
            service: tcp("10.0.0.1", 80),
            addr: IpAddr::V4(std::net::Ipv4Addr::from(i as u32)),
            port: 80,
        };
        assert!(o.set(k, Override::Drain));
    }
    let extra = RealKey {
        service: tcp("10.0.0.2", 80),
        addr: "10.9.9.9".parse().unwrap(),
        port: 80,
    };
    assert!(!o.set(extra, Override::Drain));
    assert_eq!(o.len(), MAX_ENTRIES);
}
