//! Numbers and addresses appended to text without `core::fmt`, for the hot
//! writers: a health check's text (the connect check's "connected to
//! RIP:port", the http check's Host header and status line) and
//! `lvsadm -Ln`'s real lines. An IPv4 address through `Display` costs
//! ~1,200 instructions, and the connect check's "connected to" text
//! ~2,000, a sixth of the check's task (callgrind,
//! examples/bench_checks.rs); these write the same bytes in a fraction of
//! that. IPv6 keeps `Display` (its zero-run compression is not worth a
//! second implementation).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Append `v` in decimal.
pub fn push_decimal(out: &mut String, v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// The decimal digits of an octet, most significant first, and how many.
fn octet_digits(o: u8) -> ([u8; 3], usize) {
    match o {
        0..=9 => ([b'0' + o, 0, 0], 1),
        10..=99 => ([b'0' + o / 10, b'0' + o % 10, 0], 2),
        _ => ([b'0' + o / 100, b'0' + o / 10 % 10, b'0' + o % 10], 3),
    }
}

/// `a` as `Ipv4Addr`'s `Display` writes it, on the stack: the text is the
/// first `len` bytes (at most 15).
fn ipv4_text(a: Ipv4Addr) -> ([u8; 15], usize) {
    let mut text = [0u8; 15];
    let mut len = 0;
    for (k, o) in a.octets().into_iter().enumerate() {
        if k > 0 {
            text[len] = b'.';
            len += 1;
        }
        let (d, n) = octet_digits(o);
        text[len..len + n].copy_from_slice(&d[..n]);
        len += n;
    }
    (text, len)
}

/// Append `a` as `Ipv4Addr`'s `Display` writes it.
pub fn push_ipv4(out: &mut String, a: Ipv4Addr) {
    let (text, len) = ipv4_text(a);
    for &b in &text[..len] {
        out.push(char::from(b));
    }
}

/// [`push_ip`] into bytes: the http check writes the real's address
/// straight into its request buffer.
pub fn push_ip_ascii(out: &mut Vec<u8>, ip: IpAddr, bracket_v6: bool) {
    match ip {
        IpAddr::V4(a) => {
            // on the stack first, then one copy into `out` (one capacity
            // check instead of seven)
            let (text, len) = ipv4_text(a);
            out.extend_from_slice(&text[..len]);
        }
        IpAddr::V6(a) => {
            use std::io::Write as _;
            // Writing to a Vec cannot fail.
            let _ = if bracket_v6 {
                write!(out, "[{a}]")
            } else {
                write!(out, "{a}")
            };
        }
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
            push_decimal(out, a.port().into());
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
                for bracket in [false, true] {
                    let (mut text, mut bytes) = (String::new(), Vec::new());
                    push_ip(&mut text, ip, bracket);
                    push_ip_ascii(&mut bytes, ip, bracket);
                    prop_assert_eq!(text.as_bytes(), &bytes[..]);
                }
                let sa = SocketAddr::new(ip, port);
                let mut s = String::from("x");
                push_socket_addr(&mut s, sa);
                prop_assert_eq!(s, format!("x{sa}"));
            }
        }
    }

    proptest! {
        /// What `to_string` writes, for every number.
        #[test]
        fn decimal_as_to_string(v in any::<u64>()) {
            let mut s = String::from("x");
            push_decimal(&mut s, v);
            prop_assert_eq!(s, format!("x{v}"));
        }
    }

    #[test]
    fn edges() {
        let mut s = String::new();
        push_socket_addr(&mut s, "0.0.0.0:0".parse().unwrap());
        s.push(' ');
        push_socket_addr(&mut s, "255.255.255.255:65535".parse().unwrap());
        assert_eq!(s, "0.0.0.0:0 255.255.255.255:65535");
        let mut s = String::new();
        push_decimal(&mut s, 0);
        s.push(' ');
        push_decimal(&mut s, u64::MAX);
        assert_eq!(s, format!("0 {}", u64::MAX));
    }
}
