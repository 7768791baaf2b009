//! `ipvsadm -L -c`: the connection table from `/proc/net/ip_vs_conn`,
//! parsed and printed as ipvsadm 1.31's `list_conn`/`print_conn` do.
//!
//! Called by `cli::run`. Pure; the caller reads the file.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::names::{addrport, Resolver};

/// Why the connection listing failed (ipvsadm exits 1 for both).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// The file has no first line.
    #[error("unexpected input from /proc/net/ip_vs_conn")]
    NoHeader,
    /// A line held no field at all (ipvsadm's `sscanf` returned -1); the
    /// output printed so far is kept.
    #[error("empty line")]
    EmptyLine(String),
}

/// `strtoul(s, NULL, 16)` as `%hX`/`strtoul` read it: leading hex digits,
/// optional `0x`, wrapping like C's conversions.
fn c_hex(s: &str) -> u64 {
    let t = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let mut v: u64 = 0;
    for c in t.chars() {
        match c.to_digit(16) {
            Some(d) => v = v.saturating_mul(16).saturating_add(u64::from(d)),
            None => break,
        }
    }
    v
}

/// `%d`: optional sign and leading decimal digits.
fn c_int(s: &str) -> i64 {
    let (neg, t) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut v: i64 = 0;
    for c in t.chars() {
        match c.to_digit(10) {
            Some(d) => v = v.saturating_mul(10).saturating_add(i64::from(d)),
            None => break,
        }
    }
    if neg {
        -v
    } else {
        v
    }
}

/// An address column: the kernel writes IPv6 in full notation and IPv4 as
/// 8 hex digits.
fn conn_addr(s: &str) -> (IpAddr, bool) {
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        (IpAddr::V6(a), true)
    } else if let Ok(a) = s.parse::<Ipv4Addr>() {
        (IpAddr::V4(a), false)
    } else {
        (IpAddr::V4(Ipv4Addr::from(c_hex(s) as u32)), false)
    }
}

/// Format the connection listing from the text of `/proc/net/ip_vs_conn`.
pub fn format_conns(
    text: &str,
    persistent_conn: bool,
    numeric: bool,
    res: &dyn Resolver,
) -> Result<String, ConnError> {
    let mut lines = text.split_inclusive('\n');
    if lines.next().is_none() {
        return Err(ConnError::NoHeader);
    }
    let mut out = String::from("IPVS connection entries\n");
    if persistent_conn {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        );
    } else {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        );
    }
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            return Err(ConnError::EmptyLine(out));
        }
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let protocol = get(0);
        let proto: u16 = match protocol {
            "TCP" => 6,
            "UDP" => 17,
            "SCTP" => 132,
            _ => 0,
        };
        let (caddr, v6) = conn_addr(get(1));
        // The virtual address takes the client's family, as in ipvsadm.
        let vaddr = if v6 {
            IpAddr::V6(get(3).parse().unwrap_or(Ipv6Addr::UNSPECIFIED))
        } else {
            conn_addr(get(3)).0
        };
        let (daddr, _) = conn_addr(get(5));
        let cport = c_hex(get(2)) as u16;
        let vport = c_hex(get(4)) as u16;
        let dport = c_hex(get(6)) as u16;
        let state = get(7);
        let expires = c_int(get(8)) as u32;
        let cname = addrport(&caddr, cport, proto, numeric, res);
        let vname = addrport(&vaddr, vport, proto, numeric, res);
        let dname = addrport(&daddr, dport, proto, numeric, res);
        let expire = format!("{:02}:{:02}", expires / 60, expires % 60);
        if persistent_conn && f.len() >= 11 {
            let _ = writeln!(
                out,
                "{protocol:<3} {expire:<6} {state:<11} {cname:<18} {vname:<18} {dname:<16} {:<18} {}",
                get(9),
                get(10)
            );
        } else {
            let _ = writeln!(
                out,
                "{protocol:<3} {expire:<6} {state:<11} {cname:<18} {vname:<18} {dname}"
            );
        }
    }
    Ok(out)
}
