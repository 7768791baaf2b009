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
