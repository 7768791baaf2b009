//! Byte fixtures captured with nlmon in the test VM (Linux 6.1, ipvsadm
//! 1.31): tests/data/nlmon/NN-name.txt, made by tests/vm/09-capture-ipvsadm.sh
//! and scripts/nlmon-to-fixtures.py. `>` lines are ipvsadm's requests, `<`
//! lines the real kernel's answers (acks, errors, dump parts).

use std::collections::BTreeMap;

use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::{GenlHeader, GenlMessage};

use super::super::*;
use super::{ip, svc, tcp};
use crate::{
    Daemon, DaemonState, Destination, Family, Forward, Protocol, ServiceFlags, ServiceKey,
    Timeouts, TunnelFlags, TunnelType,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nlmon");

struct Fixture {
    cmd: String,
    requests: Vec<Vec<u8>>,
    replies: Vec<Vec<u8>>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn fixtures() -> BTreeMap<String, Fixture> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(DIR).expect("tests/data/nlmon") {
        let path = e.unwrap().path();
        if path.extension().and_then(|x| x.to_str()) != Some("txt") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        // "NN-name": key by the name without the number.
        let key = name.split_once('-').map(|(_, n)| n.to_string()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut f = Fixture {
            cmd: String::new(),
            requests: vec![],
            replies: vec![],
        };
        for line in text.lines() {
            if let Some(c) = line.strip_prefix("# Setup: ") {
                f.cmd = c.to_string();
            } else if let Some(h) = line.strip_prefix("> ") {
                f.requests.push(unhex(h));
            } else if let Some(h) = line.strip_prefix("< ") {
                f.replies.push(unhex(h));
            }
        }
        out.insert(key, f);
    }
    out
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// The IPVS family id ipvsadm used in the capture.
fn family(f: &Fixture) -> u16 {
    u16_at(&f.requests[0], 4)
}

/// The main request of a command (the one after GET_INFO).
fn main_request(f: &Fixture) -> &[u8] {
    let reqs: Vec<&Vec<u8>> = f.requests.iter().filter(|r| r[16] != 15).collect();
    assert_eq!(reqs.len(), 1, "{}: one request besides GET_INFO", f.cmd);
    reqs[0]
}

/// Every attribute of a parsed message is known to us (no `Other`).
fn all_known(m: &IpvsMessage) -> bool {
    m.attrs.iter().all(|a| match a {
        IpvsAttr::Service(v) => v.iter().all(|x| match x {
            ServiceAttr::Other(_) => false,
            ServiceAttr::Stats(n) | ServiceAttr::Stats64(n) => {
                n.attrs.iter().all(|s| !matches!(s, StatsAttr::Other(_)))
            }
            _ => true,
        }),
        IpvsAttr::Dest(v) => v.iter().all(|x| match x {
            DestAttr::Other(_) => false,
            DestAttr::Stats(n) | DestAttr::Stats64(n) => {
                n.attrs.iter().all(|s| !matches!(s, StatsAttr::Other(_)))
            }
            _ => true,
        }),
        IpvsAttr::Daemon(v) => v.iter().all(|x| !matches!(x, DaemonAttr::Other(_))),
        IpvsAttr::Other(_) => false,
        _ => true,
    })
}

#[test]
fn every_captured_request_parses_and_reemits_identically() {
    let all = fixtures();
    assert!(
        all.len() >= 20,
        "expected the nlmon fixtures, found {}",
        all.len()
    );
    for (name, f) in &all {
        let fam = family(f);
        for req in &f.requests {
            let len = u32_at(req, 0) as usize;
            assert_eq!(len, req.len(), "{name}");
            let flags = u16_at(req, 6);
            let seq = u32_at(req, 8);
            let header = GenlHeader {
                cmd: req[16],
                version: req[17],
            };
            let msg = IpvsMessage::parse_with_param(&req[20..], header)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(all_known(&msg), "{name}: unknown attribute in {msg:?}");
            let mut out = Vec::new();
            push_request(&mut out, fam, flags, seq, msg);
            // The port id (bytes 12..16) is ipvsadm's own; ours is 0.
            assert_eq!(out[..12], req[..12], "{name}: header");
            assert_eq!(out[16..], req[16..], "{name}: body");
        }
    }
}

#[test]
fn every_captured_reply_parses_without_unknown_attributes() {
    for (name, f) in fixtures() {
        let fam = family(&f);
        for rep in &f.replies {
            let replies = parse_replies(rep, fam).unwrap_or_else(|e| panic!("{name}: {e}"));
            for r in replies {
                if let Reply::Data { msg, .. } = r {
                    assert!(all_known(&msg), "{name}: {msg:?}");
                }
            }
        }
    }
}

/// The request lvsd builds for each captured command, byte for byte.
#[test]
fn lvsd_builds_the_same_requests_as_ipvsadm_on_a_real_kernel() {
    let all = fixtures();
    let k = tcp("10.0.0.1", 80);
    let f100 = ServiceKey::Fwmark {
        family: Family::V4,
        mark: 100,
    };
    let mut persistent = svc(tcp("10.0.0.1", 443), "wrr");
    persistent.flags = ServiceFlags(ServiceFlags::PERSISTENT);
    persistent.timeout = 300;
    persistent.netmask = 0xffff_ff00;
    persistent.pe_name = Some("sip".into());
    let mut udp = svc(
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: ip("10.0.0.2"),
            port: 53,
        },
        "sh",
    );
    udp.flags = ServiceFlags(ServiceFlags::ONEPACKET | ServiceFlags::SCHED2);
    let mut fw6 = svc(
        ServiceKey::Fwmark {
            family: Family::V6,
            mark: 200,
        },
        "rr",
    );
    fw6.flags = ServiceFlags(ServiceFlags::PERSISTENT);
    fw6.timeout = 60;
    fw6.netmask = 64;
    let mut masq = Destination::new(ip("192.168.1.1"), 8080);
    masq.forward = Forward::Masq;
    masq.weight = 3;
    masq.u_threshold = 100;
    masq.l_threshold = 10;
    let mut gue = Destination::new(ip("192.168.1.1"), 0);
    gue.forward = Forward::Tunnel;
    gue.tun_type = TunnelType::Gue;
    gue.tun_port = 6080;
    gue.tun_flags = TunnelFlags(TunnelFlags::CSUM);
    let mut r6 = Destination::new(ip("2001:db8::10"), 80);
    r6.forward = Forward::Masq;
    let mut quiesce = Destination::new(ip("192.168.1.1"), 8080);
    quiesce.forward = Forward::Masq;
    quiesce.weight = 0;
    let master = Daemon {
        state: DaemonState::Master,
        mcast_ifn: "lvsd0".into(),
        syncid: 5,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    let cases: Vec<(&str, IpvsMessage)> = vec![
        ("add-service-tcp", IpvsMessage::new_service(&svc(k, "rr"))),
        (
            "add-service-persistent",
            IpvsMessage::new_service(&persistent),
        ),
        ("add-service-udp-flags", IpvsMessage::new_service(&udp)),
        (
            "add-service-fwmark",
            IpvsMessage::new_service(&svc(f100, "rr")),
        ),
        ("add-service-fwmark6", IpvsMessage::new_service(&fw6)),
        (
            "add-service-ipv6",
            IpvsMessage::new_service(&svc(tcp("2001:db8::1", 80), "wlc")),
        ),
        ("edit-service", IpvsMessage::set_service(&svc(k, "wlc"))),
        ("add-dest-masq", IpvsMessage::new_dest(&k, &masq)),
        (
            "add-dest-route",
            IpvsMessage::new_dest(&k, &Destination::new(ip("192.168.1.2"), 80)),
        ),
        ("add-dest-gue", IpvsMessage::new_dest(&f100, &gue)),
        (
            "add-dest-ipv6",
            IpvsMessage::new_dest(&tcp("2001:db8::1", 80), &r6),
        ),
        ("edit-dest", IpvsMessage::set_dest(&k, &quiesce)),
        (
            "set-timeouts",
            IpvsMessage::set_config(&Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300,
            }),
        ),
        ("list-timeouts", IpvsMessage::get_config()),
        ("start-daemon", IpvsMessage::new_daemon(&master)),
        ("stop-daemon", IpvsMessage::del_daemon(DaemonState::Master)),
        ("list-daemon", IpvsMessage::get_daemons()),
        ("zero-all", IpvsMessage::zero(None)),
        ("zero-one", IpvsMessage::zero(Some(&k))),
        (
            "del-dest",
            IpvsMessage::del_dest(&k, ip("192.168.1.1"), 8080),
        ),
        ("del-service", IpvsMessage::del_service(&k)),
        ("flush", IpvsMessage::flush()),
    ];
    for (name, msg) in cases {
        let f = all.get(name).unwrap_or_else(|| panic!("no fixture {name}"));
        let req = main_request(f);
        let genl = GenlMessage::from_payload(msg);
        let mut buf = vec![0u8; genl.buffer_len()];
        genl.emit(&mut buf);
        assert_eq!(buf[..], req[16..], "{name} ({})", f.cmd);
    }
}

/// The kernel's answers decode to what ipvsadm printed.
#[test]
fn real_kernel_replies_decode_to_the_listed_table() {
    let all = fixtures();
    let f = &all["list-services"];
    let fam = family(f);
    let mut services = Vec::new();
    let mut dests = Vec::new();
    for rep in &f.replies {
        for r in parse_replies(rep, fam).unwrap() {
            if let Reply::Data { msg, multi, .. } = r {
                match msg.cmd {
                    IpvsCmd::NewService => services.push(msg.to_service().unwrap()),
                    IpvsCmd::NewDest => dests.push(msg.to_dest(Family::V4).unwrap()),
                    // ipvsadm's GET_INFO at start-up: a plain reply.
                    IpvsCmd::SetInfo => {
                        assert!(!multi);
                        continue;
                    }
                    other => panic!("unexpected {other:?}"),
                }
                assert!(multi, "dump parts carry NLM_F_MULTI");
            }
        }
    }
    // From the capture's own -Ln output (14-list-services.stdout).
    assert_eq!(services.len(), 6, "{services:?}");
    let p = services
        .iter()
        .find(|s| s.key == tcp("10.0.0.1", 443))
        .unwrap();
    assert_eq!(
        (p.scheduler.as_str(), p.timeout, p.netmask),
        ("wrr", 300, 0xffff_ff00)
    );
    assert_eq!(p.pe_name.as_deref(), Some("sip"));
    assert!(p.flags.has(ServiceFlags::PERSISTENT | ServiceFlags::HASHED));
    let u = services.iter().find(|s| s.scheduler == "sh").unwrap();
    assert!(u.flags.has(ServiceFlags::ONEPACKET | ServiceFlags::SCHED2));
    let f6 = services
        .iter()
        .find(|s| {
            s.key
                == ServiceKey::Fwmark {
                    family: Family::V6,
                    mark: 200,
                }
        })
        .unwrap();
    assert_eq!(f6.netmask, 64);
    // Reals of 10.0.0.1:80: the quiesced NAT one and the DR one.
    let q = dests.iter().find(|d| d.port == 8080).unwrap();
    assert_eq!((q.forward, q.weight), (Forward::Masq, 0));
    let g = dests
        .iter()
        .find(|d| d.tun_type == TunnelType::Gue)
        .unwrap();
    assert_eq!(
        (g.tun_port, g.tun_flags),
        (6080, TunnelFlags(TunnelFlags::CSUM))
    );
    assert!(dests.iter().any(|d| d.addr == ip("2001:db8::10")));
}

#[test]
fn real_kernel_errors_and_other_replies() {
    let all = fixtures();
    let errno_of = |name: &str| -> Vec<i32> {
        let f = &all[name];
        f.replies
            .iter()
            .flat_map(|r| parse_replies(r, family(f)).unwrap())
            .filter_map(|r| match r {
                Reply::Error { errno, .. } => Some(errno),
                _ => None,
            })
            .collect()
    };
    assert_eq!(errno_of("add-dest-exists"), vec![libc::EEXIST]);
    assert_eq!(errno_of("del-dest-missing"), vec![libc::ENOENT]);
    assert_eq!(errno_of("del-service-missing"), vec![libc::ESRCH]);
    // Timeouts and info replies.
    let f = &all["list-timeouts"];
    let mut got = None;
    let mut info = None;
    for r in f
        .replies
        .iter()
        .flat_map(|r| parse_replies(r, family(f)).unwrap())
    {
        if let Reply::Data { msg, .. } = r {
            match msg.cmd {
                IpvsCmd::SetConfig => got = Some(msg.to_timeouts()),
                IpvsCmd::SetInfo => info = Some(msg.to_info().unwrap()),
                _ => {}
            }
        }
    }
    assert_eq!(
        got,
        Some(Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        })
    );
    assert_eq!(info.unwrap().version, 0x010201);
    let f = &all["list-daemon"];
    let daemons: Vec<Daemon> = f
        .replies
        .iter()
        .flat_map(|r| parse_replies(r, family(f)).unwrap())
        .filter_map(|r| match r {
            Reply::Data { msg, .. } if msg.cmd == IpvsCmd::NewDaemon => {
                Some(msg.to_daemon().unwrap())
            }
            _ => None,
        })
        .collect();
    assert_eq!(daemons.len(), 1);
    assert_eq!(
        (daemons[0].mcast_ifn.as_str(), daemons[0].syncid),
        ("lvsd0", 5)
    );
    assert_eq!(daemons[0].mcast_port, 8848);
}

/// The messages of the data replies among `replies`.
fn data<M>(replies: Vec<Reply<M>>) -> Vec<M> {
    replies
        .into_iter()
        .filter_map(|r| match r {
            Reply::Data { msg, .. } => Some(msg),
            _ => None,
        })
        .collect()
}

/// The listing fast path (`dest_from_genl`) and the typed path agree on
/// every destination the real kernel sent, for either service family, and
/// the fast path refuses what the typed path refuses.
#[test]
fn fast_dest_decoder_agrees_with_the_typed_one_on_every_capture() {
    let mut seen = 0;
    for f in fixtures().values() {
        let fam = family(f);
        for rep in &f.replies {
            let typed = parse_replies(rep, fam).unwrap();
            for af in [Family::V4, Family::V6] {
                let fast = parse_replies_with(rep, fam, &mut |p, _| dest_from_genl(p, af));
                let typed_dests: Vec<_> = typed
                    .iter()
                    .filter_map(|r| match r {
                        Reply::Data { msg, .. } if msg.cmd == IpvsCmd::NewDest => {
                            Some(msg.to_dest(af).unwrap())
                        }
                        _ => None,
                    })
                    .collect();
                if typed_dests.is_empty() {
                    continue;
                }
                let fast_dests = data(fast.unwrap());
                assert_eq!(fast_dests, typed_dests, "{}", f.cmd);
                seen += typed_dests.len();
            }
        }
    }
    assert!(seen >= 10, "only {seen} captured destinations");
    // A nest without an address is refused by both decoders.
    let mut nest = Vec::new();
    let port = DestAttr::Port(80);
    let mut b = vec![0u8; port.buffer_len()];
    port.emit(&mut b);
    nest.extend_from_slice(&b);
    assert!(dest_from_payload(&nest, Family::V4).is_err());
    assert!(dest_from_attrs(&[DestAttr::Port(80)], Family::V4).is_err());
    // Truncated input is an error, never a panic.
    for cut in 0..nest.len() {
        let _ = dest_from_payload(&nest[..cut], Family::V4);
    }
}

/// The listing fast path for services (`service_from_genl`) and the typed
/// path agree on every service the real kernel sent, and the fast path
/// refuses what the typed path refuses, on truncated nests too.
#[test]
fn fast_service_decoder_agrees_with_the_typed_one_on_every_capture() {
    let mut seen = 0;
    for f in fixtures().values() {
        let fam = family(f);
        for rep in &f.replies {
            let typed: Vec<_> = parse_replies(rep, fam)
                .unwrap()
                .into_iter()
                .filter_map(|r| match r {
                    Reply::Data { msg, .. } if msg.cmd == IpvsCmd::NewService => {
                        Some(msg.to_service().unwrap())
                    }
                    _ => None,
                })
                .collect();
            if typed.is_empty() {
                continue;
            }
            let fast =
                data(parse_replies_with(rep, fam, &mut |p, _| service_from_genl(p)).unwrap());
            assert_eq!(fast, typed, "{}", f.cmd);
            seen += typed.len();
            // Every cut of every captured service nest: the same verdict.
            for msg in &parse_replies(rep, fam).unwrap() {
                let Reply::Data { msg, .. } = msg else {
                    continue;
                };
                for a in &msg.attrs {
                    let IpvsAttr::Service(attrs) = a else {
                        continue;
                    };
                    let mut nest = Vec::new();
                    for x in attrs {
                        let mut b = vec![0u8; x.buffer_len()];
                        x.emit(&mut b);
                        nest.extend_from_slice(&b);
                    }
                    for cut in 0..=nest.len() {
                        let part = &nest[..cut];
                        let slow = super::super::service::parse_service_attrs(part)
                            .and_then(|v| service_from_attrs(&v));
                        match (service_from_payload(part), slow) {
                            (Ok(x), Ok(y)) => assert_eq!(x, y, "cut {cut}"),
                            (Err(_), Err(_)) => {}
                            (x, y) => panic!("cut {cut}: fast {x:?}, typed {y:?}"),
                        }
                    }
                }
            }
        }
    }
    assert!(seen >= 3, "only {seen} captured services");
}
