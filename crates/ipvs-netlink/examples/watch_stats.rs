//! Every second, each service's and destination's rates (`ipvsadm -Ln
//! --rate`), for a bounded number of rounds. Run as root on a host with
//! `ip_vs` loaded: `cargo run -p ipvs-netlink --example watch_stats [ROUNDS]`
//! (default 10).

use std::time::Duration;

use ipvs_netlink::{Client, Stats};

/// One line of rates: connections, packets and bytes per second in and out.
fn rates(s: &Stats) -> String {
    format!(
        "cps {} inpps {} outpps {} inbps {} outbps {}",
        s.cps, s.inpps, s.outpps, s.inbps, s.outbps
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10,
    };
    let ipvs = Client::new()?;
    for round in 0..rounds {
        if round > 0 {
            // The kernel's rate estimator runs every 2 s; a second's poll
            // is enough to see every change.
            std::thread::sleep(Duration::from_secs(1));
        }
        println!("-- round {}", round + 1);
        for service in ipvs.services()? {
            println!("{} {}", service.key, rates(&service.stats));
            for d in ipvs.destinations(&service.key)? {
                println!("  -> {}:{} {}", d.addr, d.port, rates(&d.stats));
            }
        }
    }
    Ok(())
}
