//! Addresses written into a check's text (the connect check's "connected
//! to RIP:port", the http check's Host header) without `core::fmt`: an
//! IPv4 address through `Display` costs ~1,200 instructions, and the
//! connect check's "connected to" text ~2,000, a sixth of the check's
//! task (callgrind, examples/bench_checks.rs); these write the same bytes
//! in a fraction of that. IPv6 keeps `Display` (its zero-run compression
//! is not worth a second implementation).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Append `n` in decimal.
pub fn push_u16(out: &mut String, n: u16) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(d as char);
    }
}

/// Append `a` as `Ipv4Addr`'s `Display` writes it.
pub fn push_ipv4(out: &mut String, a: Ipv4Addr) {
    for (k, o) in a.octets().into_iter().enumerate() {
        if k > 0 {
            out.push('.');
        }
        push_u16(out, o.into());
    }
}

/// Append `ip` as `IpAddr`'s `Display` writes it, IPv6 in brackets when
/// `bracket_v6` (a URL's host, a socket address).
pub fn push_ip(out: &mut String, ip: IpAddr, bracket_v6: bool) {
    match ip {
        IpAddr::V4(a) => push_ipv4(out, a),
        IpAddr::V6(a) if bracket_v6 => {
            let _ = write!(out, "[{a}]");
        }
        IpAddr::V6(a) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// Append `addr` as `SocketAddr`'s `Display` writes it.
pub fn push_socket_addr(out: &mut String, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            push_ipv4(out, *a.ip());
            out.push(':');
            push_u16(out, a.port());
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Byte for byte what `Display` writes, for every address and port.
        #[test]
        fn same_text_as_display(v4 in any::<u32>(), v6 in any::<u128>(), port in any::<u16>()) {
            for ip in [IpAddr::from(Ipv4Addr::from(v4)), IpAddr::from(std::net::Ipv6Addr::from(v6))] {
                let mut s = String::new();
                push_ip(&mut s, ip, false);
                prop_assert_eq!(&s, &ip.to_string());
                let mut s = String::new();
                push_ip(&mut s, ip, true);
                let want = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
                prop_assert_eq!(&s, &want);
                let sa = SocketAddr::new(ip, port);
                let mut s = String::from("x");
                push_socket_addr(&mut s, sa);
                prop_assert_eq!(s, format!("x{sa}"));
            }
        }
    }

    #[test]
    fn edges() {
        let mut s = String::new();
        push_socket_addr(&mut s, "0.0.0.0:0".parse().unwrap());
        s.push(' ');
        push_socket_addr(&mut s, "255.255.255.255:65535".parse().unwrap());
        assert_eq!(s, "0.0.0.0:0 255.255.255.255:65535");
    }
}
