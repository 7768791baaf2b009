//! Test-only loader for the fixture tables in `tests/data/ipvsadm/state/`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;

use lvsd::model::{
    Family, Forward, Protocol, RealServer, ServiceFlags, ServiceKey, Stats, SyncDaemon, SyncState,
    Table, TableEntry, Timeouts, TunnelFlags, TunnelType, VersionInfo, VirtualService,
};

/// Everything a `.tbl` file describes.
#[derive(Debug, Default)]
pub struct Fixture {
    pub info: Option<VersionInfo>,
    pub timeouts: Option<Timeouts>,
    pub table: Table,
    pub daemons: Vec<SyncDaemon>,
}

fn num(s: &str) -> u64 {
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).unwrap()
    } else {
        s.parse().unwrap()
    }
}

fn stats(s: &str) -> Stats {
    let v: Vec<u64> = s.split(',').map(num).collect();
    Stats {
        conns: v[0],
        inpkts: v[1],
        outpkts: v[2],
        inbytes: v[3],
        outbytes: v[4],
        cps: v[5],
        inpps: v[6],
        outpps: v[7],
        inbps: v[8],
        outbps: v[9],
    }
}

/// Parse a fixture table.
pub fn load(text: &str) -> Fixture {
    let mut f = Fixture::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap();
        let rest: Vec<&str> = words.collect();
        let kv: HashMap<&str, &str> = rest.iter().filter_map(|w| w.split_once('=')).collect();
        match kind {
            "INFO" => {
                f.info = Some(VersionInfo {
                    version: num(rest[0]) as u32,
                    conn_tab_size: num(rest[1]) as u32,
                })
            }
            "TIMEOUT" => {
                f.timeouts = Some(Timeouts {
                    tcp: num(rest[0]) as u32,
                    tcp_fin: num(rest[1]) as u32,
                    udp: num(rest[2]) as u32,
                })
            }
            "SVC" => {
                let key = if let Some(m) = kv.get("fwmark") {
                    ServiceKey::Fwmark {
                        family: if kv.get("af") == Some(&"6") {
                            Family::V6
                        } else {
                            Family::V4
                        },
                        mark: num(m) as u32,
                    }
                } else {
                    let addr: IpAddr = kv["addr"].parse().unwrap();
                    ServiceKey::Addr {
                        protocol: match kv["proto"] {
                            "tcp" => Protocol::Tcp,
                            "udp" => Protocol::Udp,
                            "sctp" => Protocol::Sctp,
                            p => Protocol::Other(p.parse().unwrap()),
                        },
                        addr,
                        port: num(kv["port"]) as u16,
                    }
                };
                let mut s = VirtualService::new(key);
                s.scheduler = kv["sched"].to_string();
                if let Some(v) = kv.get("flags") {
                    s.flags = ServiceFlags(num(v) as u32);
                }
                if let Some(v) = kv.get("timeout") {
                    s.timeout = num(v) as u32;
                }
                if let Some(v) = kv.get("netmask") {
                    s.netmask = match v.parse::<std::net::Ipv4Addr>() {
                        Ok(a) => u32::from(a),
                        Err(_) => num(v) as u32,
                    };
                }
                s.pe_name = kv.get("pe").map(|p| p.to_string());
                if let Some(v) = kv.get("stats") {
                    s.stats = stats(v);
                }
                f.table.entries.push(TableEntry {
                    service: s,
                    reals: Vec::new(),
                });
            }
            "DST" => {
                let addr: IpAddr = kv["addr"].parse().unwrap();
                let mut d = RealServer::new(addr, num(kv["port"]) as u16);
                d.forward = Forward::from_value(num(kv["fwd"]) as u32);
                d.weight = kv.get("weight").map(|w| num(w) as i32).unwrap_or(1);
                let g = |k: &str| kv.get(k).map(|v| num(v) as u32).unwrap_or(0);
                d.active_conns = g("act");
                d.inact_conns = g("inact");
                d.u_threshold = g("uth");
                d.l_threshold = g("lth");
                d.persist_conns = g("pers");
                if let Some(t) = kv.get("tun") {
                    let v: Vec<u64> = t.split(',').map(num).collect();
                    d.tun_type = TunnelType::from_value(v[0] as u8).unwrap();
                    d.tun_port = v[1] as u16;
                    d.tun_flags = TunnelFlags(v[2] as u16);
                }
                if let Some(v) = kv.get("stats") {
                    d.stats = stats(v);
                }
                f.table.entries.last_mut().unwrap().reals.push(d);
            }
            "DAEMON" => f.daemons.push(SyncDaemon {
                state: if kv["state"] == "1" {
                    SyncState::Master
                } else {
                    SyncState::Backup
                },
                mcast_ifn: kv["ifn"].to_string(),
                syncid: num(kv["syncid"]) as u32,
                sync_maxlen: kv.get("maxlen").map(|v| num(v) as u16).unwrap_or(0),
                mcast_group: kv.get("group").map(|g| g.parse().unwrap()),
                mcast_port: kv.get("port").map(|v| num(v) as u16).unwrap_or(0),
                mcast_ttl: kv.get("ttl").map(|v| num(v) as u8).unwrap_or(0),
            }),
            k => panic!("unknown fixture line kind {k}"),
        }
    }
    f
}

/// A resolver answering from `names.hosts` and a fixed services list
/// (the Debian netbase entries the fixtures use).
pub struct FixtureResolver {
    hosts: Vec<(IpAddr, String)>,
}

impl FixtureResolver {
    pub fn new(hosts: &str) -> FixtureResolver {
        let hosts = hosts
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.parse().ok()?, w.next()?.to_string()))
            })
            .collect();
        FixtureResolver { hosts }
    }
}

const SERVICES: &[(u16, &str)] = &[
    (22, "ssh"),
    (53, "domain"),
    (80, "http"),
    (443, "https"),
    (8080, "http-alt"),
];

impl lvsd::cli::names::Resolver for FixtureResolver {
    fn host_name(&self, addr: &IpAddr) -> Option<String> {
        self.hosts
            .iter()
            .find(|(a, _)| a == addr)
            .map(|(_, n)| n.clone())
    }
    fn service_name(&self, port: u16, proto: u16) -> Option<String> {
        if proto != 6 && proto != 17 {
            return None;
        }
        SERVICES
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, n)| n.to_string())
    }
    fn host_addr(&self, name: &str) -> Option<std::net::Ipv4Addr> {
        self.hosts.iter().find_map(|(a, n)| match a {
            IpAddr::V4(v4) if n == name => Some(*v4),
            _ => None,
        })
    }
    fn service_port(&self, name: &str, proto: u16) -> Option<u16> {
        if proto != 6 && proto != 17 {
            return None;
        }
        SERVICES.iter().find(|(_, n)| *n == name).map(|(p, _)| *p)
    }
}
