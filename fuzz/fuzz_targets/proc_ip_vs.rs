//! Fuzz target: any text as `/proc/net/ip_vs` gives services or an error
//! naming the line, never a panic; what parses, printed back in the
//! kernel's format, parses to the same table. The same bytes also go
//! through `lvsadm -L -c`'s reader of `/proc/net/ip_vs_conn`.
#![no_main]

use std::fmt::Write;
use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use lvsd::cli::conn::format_conns;
use lvsd::cli::names::NoResolver;
use lvsd::model::{Forward, Protocol};
use lvsd::wire::ipvs_proc::{parse_ip_vs, ProcKey, ProcService};

/// `ip_vs_info_seq_show`'s layout for a parsed table.
fn render(table: &[ProcService]) -> String {
    let mut out = String::from("IP Virtual Server version 1.2.1 (size=4096)\nh\nh\n");
    let addr = |ip: &IpAddr, port: u16| match ip {
        IpAddr::V4(a) => format!("{:08X}:{port:04X}", u32::from(*a)),
        IpAddr::V6(a) => format!("[{a}]:{port:04X}"),
    };
    for s in table {
        match s.key {
            ProcKey::Fwmark(m) => writeln!(out, "FWM  {m:08X} rr"),
            ProcKey::Addr(p, ip, port) => {
                let p = match p {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                    Protocol::Sctp => "SCTP",
                    other => panic!("the parser made up protocol {other:?}"),
                };
                writeln!(out, "{p}  {} wlc", addr(&ip, port))
            }
        }
        .unwrap_or_default();
        for r in &s.reals {
            let fwd = match r.forward {
                Forward::Masq => "Masq",
                Forward::Local => "Local",
                Forward::Tunnel => "Tunnel",
                Forward::Route => "Route",
                other => panic!("the parser made up method {other:?}"),
            };
            // The kernel prints the counters with %d.
            writeln!(
                out,
                "  -> {}      {fwd}    {}      {}          {}",
                addr(&r.addr, r.port),
                r.weight,
                r.active_conns as i32,
                r.inact_conns as i32
            )
            .unwrap_or_default();
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(table) = parse_ip_vs(&text) {
        let again = parse_ip_vs(&render(&table)).expect("printed table parses");
        assert_eq!(again, table, "round trip through the kernel's format");
    }
    let _ = format_conns(&text, false, true, &NoResolver);
    let _ = format_conns(&text, true, false, &NoResolver);
});
