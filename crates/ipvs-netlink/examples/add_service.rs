//! `ipvsadm -A -t 192.0.2.1:80 -s wrr` with two real servers, in one batch.
//! Run as root on a host with `ip_vs` loaded:
//! `cargo run -p ipvs-netlink --example add_service [VIP:PORT]`
//! (default 192.0.2.1:80, a documentation address). Remove it again with
//! `ipvsadm -D -t 192.0.2.1:80`.

use std::net::SocketAddr;

use ipvs_netlink::{Client, Destination, Forward, Operation, Protocol, Service, ServiceKey};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let vip: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "192.0.2.1:80".to_string())
        .parse()?;
    let key = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: vip.ip(),
        port: vip.port(),
    };
    let mut service = Service::new(key);
    service.scheduler = "wrr".into();

    // Two reals of the VIP's family, direct routing, weights 1 and 2.
    let reals: [std::net::IpAddr; 2] = if vip.is_ipv4() {
        ["198.51.100.10".parse()?, "198.51.100.11".parse()?]
    } else {
        ["2001:db8::10".parse()?, "2001:db8::11".parse()?]
    };
    let mut ops = vec![Operation::AddService(service)];
    for (i, addr) in reals.into_iter().enumerate() {
        let mut real = Destination::new(addr, vip.port());
        real.forward = Forward::Route;
        real.weight = i32::try_from(i + 1)?;
        ops.push(Operation::AddDest(key, real));
    }

    let ipvs = Client::new()?;
    // One sendmsg for the whole batch; each operation gets its own result.
    let mut failed = false;
    for (op, result) in ops.iter().zip(ipvs.apply(&ops)) {
        if let Err(e) = result {
            eprintln!("{op:?}: {e}");
            failed = true;
        }
    }
    for d in ipvs.destinations(&key)? {
        println!("{key} -> {}:{} weight {}", d.addr, d.port, d.weight);
    }
    if failed {
        return Err("some operations failed".into());
    }
    Ok(())
}
