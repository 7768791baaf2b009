//! FakeTable semantics: the errnos of ip_vs_ctl.c.

use std::net::IpAddr;

use super::FakeTable;
use crate::kernel::{Error, Ipvs, IpvsCmd, Operation};
use crate::model::{
    Family, Forward, Protocol, RealServer, ServiceFlags, ServiceKey, SyncDaemon, SyncState,
    Timeouts, TunnelType, VirtualService,
};

fn tcp(a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: a.parse().unwrap(),
        port,
    }
}

fn ip(a: &str) -> IpAddr {
    a.parse().unwrap()
}

fn errno(r: Result<(), Error>) -> i32 {
    match r {
        Err(Error::Kernel { errno, .. }) => errno,
        other => panic!("expected kernel error, got {other:?}"),
    }
}

#[test]
fn service_add_dup_edit_del() {
    let f = FakeTable::new();
    let k = tcp("10.0.0.1", 80);
    let mut s = VirtualService::new(k);
    s.scheduler = "rr".into();
    f.add_service(&s).unwrap();
    assert_eq!(errno(f.add_service(&s)), libc::EEXIST);
    let got = f.service(&k).unwrap();
    assert_eq!(got.scheduler, "rr");
    assert!(got.flags.has(ServiceFlags::HASHED));
    s.scheduler = "nosuch".into();
    assert_eq!(errno(f.edit_service(&s)), libc::ENOENT);
    s.scheduler = "wlc".into();
    f.edit_service(&s).unwrap();
    assert_eq!(f.service(&k).unwrap().scheduler, "wlc");
    f.del_service(&k).unwrap();
    assert_eq!(errno(f.del_service(&k)), libc::ESRCH);
    assert_eq!(errno(f.edit_service(&s)), libc::ESRCH);
    match f.service(&k) {
        Err(Error::Kernel { op, errno }) => {
            assert_eq!(op, IpvsCmd::GetService);
            assert_eq!(errno, libc::ESRCH);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_scheduler_and_pe_are_enoent() {
    let f = FakeTable::new();
    let mut s = VirtualService::new(tcp("10.0.0.1", 80));
    s.scheduler = "foo".into();
    assert_eq!(errno(f.add_service(&s)), libc::ENOENT);
    s.scheduler = "rr".into();
    s.pe_name = Some("bar".into());
    assert_eq!(errno(f.add_service(&s)), libc::ENOENT);
    s.pe_name = Some("sip".into());
    f.add_service(&s).unwrap();
}

#[test]
fn ipv6_prefix_out_of_range_is_einval() {
    let f = FakeTable::new();
    let mut s = VirtualService::new(ServiceKey::Fwmark {
        family: Family::V6,
        mark: 1,
    });
    s.netmask = 129;
    assert_eq!(errno(f.add_service(&s)), libc::EINVAL);
    s.netmask = 64;
    f.add_service(&s).unwrap();
}

#[test]
fn dest_semantics() {
    let f = FakeTable::new();
    let k = tcp("10.0.0.1", 80);
    let missing = tcp("10.0.0.1", 81);
    f.add_service(&VirtualService::new(k)).unwrap();
    let mut r = RealServer::new(ip("192.168.1.1"), 8080);
    r.forward = Forward::Masq;
    assert_eq!(errno(f.add_dest(&missing, &r)), libc::ESRCH);
    f.add_dest(&k, &r).unwrap();
    assert_eq!(errno(f.add_dest(&k, &r)), libc::EEXIST);
    // Same address, other port: a different real server.
    let r2 = RealServer::new(ip("192.168.1.1"), 8081);
    f.add_dest(&k, &r2).unwrap();
    // Newest first, as list_add_rcu leaves it.
    let d = f.dests(&k).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].port, 8081);
    // Thresholds and weight.
    let mut bad = r.clone();
    bad.u_threshold = 10;
    bad.l_threshold = 20;
    assert_eq!(errno(f.edit_dest(&k, &bad)), libc::ERANGE);
    bad.l_threshold = 0;
    bad.weight = -1;
    assert_eq!(errno(f.edit_dest(&k, &bad)), libc::ERANGE);
    let mut w = r.clone();
    w.weight = 0;
    f.edit_dest(&k, &w).unwrap();
    assert_eq!(f.dests(&k).unwrap()[1].weight, 0);
    let ghost = RealServer::new(ip("192.168.1.9"), 80);
    assert_eq!(errno(f.edit_dest(&k, &ghost)), libc::ENOENT);
    assert_eq!(errno(f.del_dest(&k, ip("192.168.1.9"), 80)), libc::ENOENT);
    assert_eq!(
        errno(f.del_dest(&missing, ip("192.168.1.1"), 8080)),
        libc::ESRCH
    );
    f.del_dest(&k, ip("192.168.1.1"), 8080).unwrap();
    assert_eq!(f.dests(&k).unwrap().len(), 1);
    // Dests of a missing service: empty, like the kernel's dump.
    assert!(f.dests(&missing).unwrap().is_empty());
}

#[test]
fn dest_address_and_family_rules() {
    let f = FakeTable::new();
    let k = tcp("10.0.0.1", 80);
    f.add_service(&VirtualService::new(k)).unwrap();
    let bcast = RealServer::new(ip("255.255.255.255"), 80);
    assert_eq!(errno(f.add_dest(&k, &bcast)), libc::EINVAL);
    let mut v6 = RealServer::new(ip("2001:db8::1"), 80);
    v6.forward = Forward::Masq;
    assert_eq!(errno(f.add_dest(&k, &v6)), libc::EINVAL);
    v6.forward = Forward::Tunnel;
    f.add_dest(&k, &v6).unwrap();
    let mut gue = RealServer::new(ip("192.168.1.2"), 80);
    gue.forward = Forward::Tunnel;
    gue.tun_type = TunnelType::Gue;
    assert_eq!(errno(f.add_dest(&k, &gue)), libc::EINVAL);
    gue.tun_port = 6080;
    f.add_dest(&k, &gue).unwrap();
}

#[test]
fn batch_results_map_to_ops() {
    let f = FakeTable::new();
    let k = tcp("10.0.0.1", 80);
    let ops = vec![
        Operation::AddService(VirtualService::new(k)),
        Operation::AddService(VirtualService::new(k)),
        Operation::AddDest(k, RealServer::new(ip("10.1.0.1"), 80)),
        Operation::DelDest(k, ip("10.1.0.2"), 80),
        Operation::Zero(Some(k)),
    ];
    let res = f.apply(&ops);
    assert_eq!(res.len(), 5);
    assert!(res[0].is_ok());
    assert!(matches!(
        res[1],
        Err(Error::Kernel {
            op: IpvsCmd::NewService,
            errno: libc::EEXIST
        })
    ));
    assert!(res[2].is_ok());
    assert!(matches!(
        res[3],
        Err(Error::Kernel {
            op: IpvsCmd::DelDest,
            errno: libc::ENOENT
        })
    ));
    assert!(res[4].is_ok());
    assert_eq!(f.batches(), 1);
    assert_eq!(f.ops(), 5);
}

#[test]
fn timeouts_zero_means_unchanged() {
    let f = FakeTable::new();
    f.set_timeouts(Timeouts {
        tcp: 0,
        tcp_fin: 60,
        udp: 0,
    })
    .unwrap();
    assert_eq!(
        f.timeouts().unwrap(),
        Timeouts {
            tcp: 900,
            tcp_fin: 60,
            udp: 300
        }
    );
}

#[test]
fn daemons_start_stop() {
    let f = FakeTable::new();
    let d = SyncDaemon {
        state: SyncState::Backup,
        mcast_ifn: "eth0".into(),
        syncid: 5,
        sync_maxlen: 0,
        mcast_group: None,
        mcast_port: 0,
        mcast_ttl: 0,
    };
    assert_eq!(errno(f.stop_daemon(SyncState::Backup)), libc::ESRCH);
    f.start_daemon(&d).unwrap();
    assert_eq!(errno(f.start_daemon(&d)), libc::EEXIST);
    let mut m = d.clone();
    m.state = SyncState::Master;
    f.start_daemon(&m).unwrap();
    let list = f.daemons().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].state, SyncState::Master);
    assert_eq!(list[0].mcast_port, 8848);
    // Kernel defaults as `ipvsadm -L --daemon` shows them on 6.1.
    assert_eq!(list[0].sync_maxlen, 1472);
    assert_eq!(list[0].mcast_ttl, 1);
    f.stop_daemon(SyncState::Master).unwrap();
    assert_eq!(f.daemons().unwrap().len(), 1);
}

#[test]
fn injected_fault_hits_next_op_of_kind_only() {
    let f = FakeTable::new();
    f.fail_next(IpvsCmd::NewService, libc::EPERM);
    let s = VirtualService::new(tcp("10.0.0.1", 80));
    assert_eq!(errno(f.add_service(&s)), libc::EPERM);
    f.add_service(&s).unwrap();
    f.fail_next(IpvsCmd::GetConfig, libc::EPERM);
    assert!(f.timeouts().is_err());
    assert!(f.timeouts().is_ok());
}

#[test]
fn flush_and_zero() {
    let f = FakeTable::new();
    let k = tcp("10.0.0.1", 80);
    f.add_service(&VirtualService::new(k)).unwrap();
    let st = crate::model::Stats {
        conns: 5,
        ..Default::default()
    };
    assert!(f.set_service_stats(&k, st));
    assert_eq!(f.service(&k).unwrap().stats.conns, 5);
    f.zero(None).unwrap();
    assert_eq!(f.service(&k).unwrap().stats.conns, 0);
    assert_eq!(errno(f.zero(Some(&tcp("10.0.0.2", 80)))), libc::ESRCH);
    f.flush().unwrap();
    assert!(f.services().unwrap().is_empty());
    assert_eq!(f.table().unwrap().entries.len(), 0);
}

#[test]
fn trait_objects_and_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<FakeTable>();
    send_sync::<crate::kernel::NetlinkIpvs>();
    let t: Box<dyn Ipvs + Send + Sync> = Box::new(FakeTable::new());
    assert!(t.services().unwrap().is_empty());
}
