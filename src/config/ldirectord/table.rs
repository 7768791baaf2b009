//! The IPVS table a config describes when every real server is healthy:
//! what ldirectord 4.12 programs once its first check pass succeeded.
//!
//! - each virtual: `-A` with `-s scheduler`, `-p N [-M mask]` only with
//!   `persistent`, `-o` only for UDP, `-b` schedflags;
//! - each real with its weight and `l:`/`u:` thresholds; the fallback is
//!   absent because some real is up; a virtual without reals gets its
//!   fallback (weight 1);
//! - `checktype=off`: no real is ever activated (with quiescent=yes they
//!   sit at weight 0), and, as the man page promises, no fallback either
//!   (ldirectord 4.12 adds it anyway: see docs/ldirectord-cf.md);
//! - ports as the kernel stores them: ipvsadm gives direct-routing and
//!   tunnel reals of an address service the virtual's port, and a real
//!   without a port the virtual's port.

use crate::model::{
    CheckType, Forward, RealServer, ServiceFlags, ServiceKey, Table, TableEntry, VirtualService,
};

use super::{Config, Virtual};

/// The port IPVS ends up with for a real of `v` (ipvsadm's rule).
pub(crate) fn effective_port(v: &Virtual, port: u16, forward: Forward) -> u16 {
    match v.key {
        ServiceKey::Fwmark { .. } => port,
        ServiceKey::Addr { port: vport, .. } => {
            if port == 0 || matches!(forward, Forward::Route | Forward::Tunnel) {
                vport
            } else {
                port
            }
        }
    }
}

fn service_of(v: &Virtual) -> VirtualService {
    let mut s = VirtualService::new(v.key);
    s.scheduler = v.scheduler.clone();
    if let Some(p) = v.persistent {
        s.flags.0 |= ServiceFlags::PERSISTENT;
        s.timeout = p;
        if let Some(m) = v.netmask {
            s.netmask = m;
        }
    }
    let udp = matches!(
        v.key,
        ServiceKey::Addr {
            protocol: crate::model::Protocol::Udp,
            ..
        }
    );
    if v.ops && udp {
        s.flags.0 |= ServiceFlags::ONEPACKET;
    }
    s.flags.0 |= v.schedflags;
    s
}

impl Virtual {
    /// This virtual's service as its table entry has it (without building
    /// the entry's reals).
    pub fn service(&self) -> VirtualService {
        service_of(self)
    }

    /// This virtual's table entry with every real server healthy.
    pub fn entry(&self) -> TableEntry {
        let active = self.check.checktype != CheckType::Off;
        let mut reals: Vec<RealServer> = Vec::new();
        for r in &self.reals {
            let weight = match (active, self.quiescent) {
                (true, _) => r.weight,
                (false, true) => 0,
                (false, false) => continue,
            };
            let port = effective_port(self, r.port, r.forward);
            let mut rs = RealServer::new(r.addr, port);
            rs.forward = r.forward;
            rs.weight = i32::try_from(weight).unwrap_or(i32::MAX);
            rs.l_threshold = r.l_threshold;
            rs.u_threshold = r.u_threshold;
            // The same address:port twice: ldirectord edits the first entry
            // (`ipvsadm -e`), so the last line's settings win in place.
            match reals
                .iter_mut()
                .find(|x| x.addr == rs.addr && x.port == rs.port)
            {
                Some(x) => *x = rs,
                None => reals.push(rs),
            }
        }
        if active && self.reals.is_empty() {
            if let Some(f) = self.fallback {
                let mut rs = RealServer::new(f.addr, effective_port(self, f.port, f.forward));
                rs.forward = f.forward;
                rs.weight = 1;
                reals.push(rs);
            }
        }
        TableEntry {
            service: service_of(self),
            reals,
        }
    }
}

impl Config {
    /// The IPVS table this config describes with every real server healthy,
    /// virtual services in file order.
    pub fn table(&self) -> Table {
        Table {
            entries: self.virtuals.iter().map(Virtual::entry).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::resolve::fake::FakeResolver;
    use super::*;
    use std::path::Path;

    fn table(text: &str) -> Table {
        match Config::parse(text, Path::new("t.cf"), &FakeResolver) {
            Ok(c) => c.table(),
            Err(e) => panic!("{e}"),
        }
    }

    fn reals(e: &TableEntry) -> Vec<String> {
        e.reals
            .iter()
            .map(|r| {
                format!(
                    "{}:{} {:?} w{} l{} u{}",
                    r.addr, r.port, r.forward, r.weight, r.l_threshold, r.u_threshold
                )
            })
            .collect()
    }

    #[test]
    fn healthy_reals_with_weights_thresholds_and_kernel_ports() {
        let t = table("virtual=10.0.0.1:80\n\treal=10.0.1.1:8080 gate 3\n\treal=10.0.1.2:8080 masq 2 l:4 u:8\n\treal=10.0.1.3 masq\n\treal=10.0.1.4:81 ipip 0\n\tfallback=127.0.0.1:80\n");
        let e = &t.entries[0];
        assert_eq!(e.service.scheduler, "wrr");
        assert!(!e.service.persistent());
        assert_eq!(
            reals(e),
            vec![
                "10.0.1.1:80 Route w3 l0 u0",
                "10.0.1.2:8080 Masq w2 l4 u8",
                "10.0.1.3:80 Masq w1 l0 u0",
                "10.0.1.4:80 Tunnel w0 l0 u0",
            ]
        );
    }

    #[test]
    fn fallback_only_without_reals_and_never_for_off() {
        let t = table("fallback=127.0.0.1 masq\nvirtual=10.0.0.1:80\nvirtual=10.0.0.1:81\n\treal=10.0.1.1:81 gate\nvirtual=10.0.0.1:82\n\tchecktype=off\n");
        assert_eq!(reals(&t.entries[0]), vec!["127.0.0.1:80 Masq w1 l0 u0"]);
        assert_eq!(reals(&t.entries[1]), vec!["10.0.1.1:81 Route w1 l0 u0"]);
        assert!(t.entries[2].reals.is_empty());
    }

    #[test]
    fn checktype_off_quiesces_or_omits() {
        let t = table("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 masq 5\n\tchecktype=off\n\tquiescent=yes\nvirtual=10.0.0.1:81\n\treal=10.0.1.1:81 masq 5\n\tchecktype=off\n");
        assert_eq!(reals(&t.entries[0]), vec!["10.0.1.1:80 Masq w0 l0 u0"]);
        assert!(t.entries[1].reals.is_empty());
    }

    #[test]
    fn persistence_ops_and_schedflags() {
        let t = table("virtual=10.0.0.1:53\n\tpersistent=60\n\tnetmask=255.255.255.0\n\tops=yes\n\tscheduler=sh\n\tschedflags=sh-fallback\nvirtual=10.0.0.1:80\n\tnetmask=255.255.255.0\n\tops=yes\nvirtual6=[::1]:80\n\tpersistent=5\n\tnetmask=64\n");
        let s = &t.entries[0].service;
        assert!(s.persistent());
        assert_eq!((s.timeout, s.netmask), (60, 0xffff_ff00));
        assert!(s.flags.has(ServiceFlags::ONEPACKET) && s.flags.has(ServiceFlags::SCHED1));
        let s = &t.entries[1].service;
        assert!(!s.persistent() && !s.flags.has(ServiceFlags::ONEPACKET));
        assert_eq!(s.netmask, 0xffff_ffff);
        assert_eq!(t.entries[2].service.netmask, 64);
    }

    #[test]
    fn duplicate_reals_keep_the_last_settings_in_place() {
        let t = table("virtual=10.0.0.1:80\n\treal=10.0.1.1:80 masq 1\n\treal=10.0.1.2:80 masq\n\treal=10.0.1.1:80 masq 4\n");
        assert_eq!(
            reals(&t.entries[0]),
            vec!["10.0.1.1:80 Masq w4 l0 u0", "10.0.1.2:80 Masq w1 l0 u0"]
        );
    }

    #[test]
    fn fwmark_reals_keep_their_ports() {
        let t = table("virtual=5\n\treal=10.0.1.1 gate\n\treal=10.0.1.2:443 masq\n");
        assert_eq!(
            reals(&t.entries[0]),
            vec!["10.0.1.1:0 Route w1 l0 u0", "10.0.1.2:443 Masq w1 l0 u0"]
        );
    }
}
