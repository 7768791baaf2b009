//! `ipvsadm -Ln` in a few lines: every service and its destinations.
//! Run as root on a host with `ip_vs` loaded:
//! `cargo run -p ipvs-netlink --example list`.

use ipvs_netlink::{Client, Error};

fn main() -> Result<(), Error> {
    let ipvs = Client::new()?;
    let info = ipvs.info()?;
    println!(
        "IPVS version {:#08x}, connection table size {}",
        info.version, info.conn_tab_size
    );
    for service in ipvs.services()? {
        println!("{} {}", service.key, service.scheduler);
        for d in ipvs.destinations(&service.key)? {
            println!(
                "  -> {}:{} {:?} weight {} active {} inactive {}",
                d.addr, d.port, d.forward, d.weight, d.active_conns, d.inact_conns
            );
        }
    }
    Ok(())
}
