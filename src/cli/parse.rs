//! ipvsadm 1.31's value parsers, with C library semantics: `strtol`,
//! `inet_aton`, `parse_service` (`host[:port]`, `[v6]:port`, names).
//!
//! Called by `cli::command`. Pure apart from the given `Resolver`.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::names::Resolver;

/// C's `isspace` in the C locale.
fn c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtol(s, &end, base)` on a 64-bit `long`: the value (saturated, with
/// the overflow flag) and how many bytes were consumed (0 if none).
fn strtol(s: &str, base: u32) -> (i64, bool, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i).is_some_and(|c| c_space(*c)) {
        i += 1;
    }
    let mut neg = false;
    if let Some(c @ (b'+' | b'-')) = b.get(i) {
        neg = *c == b'-';
        i += 1;
    }
    let mut base = base;
    if (base == 0 || base == 16)
        && b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        i += 2;
        base = 16;
    } else if base == 0 {
        base = if b.get(i) == Some(&b'0') { 8 } else { 10 };
    }
    let start = i;
    let mut v: i128 = 0;
    let mut overflow = false;
    while let Some(d) = b.get(i).and_then(|c| (*c as char).to_digit(base)) {
        v = v * i128::from(base) + i128::from(d);
        if v > i128::from(i64::MAX) + 1 {
            overflow = true;
            v = i128::from(i64::MAX) + 1;
        }
        i += 1;
    }
    if i == start {
        return (0, false, 0);
    }
    let v = if neg { -v } else { v };
    let (v, of) = if v > i128::from(i64::MAX) {
        (i64::MAX, true)
    } else if v < i128::from(i64::MIN) {
        (i64::MIN, true)
    } else {
        (v as i64, false)
    };
    (v, overflow || of, i)
}

/// ipvsadm's `string_to_number`: the whole string a decimal in
/// `min..=max`, else None.
pub fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    // Plain digits that cannot overflow (ports, weights): no strtol.
    if (1..=18).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit()) {
        let v = s.bytes().fold(0i64, |v, c| v * 10 + i64::from(c - b'0'));
        return (min..=max).contains(&v).then_some(v);
    }
    let (v, overflow, used) = strtol(s, 10);
    if used == 0 || used != s.len() || overflow || v < min || v > max {
        None
    } else {
        Some(v)
    }
}

/// ipvsadm's `parse_fwmark`: 1..=UINT_MAX.
pub fn parse_fwmark(s: &str) -> Option<u32> {
    let (v, overflow, used) = strtol(s, 10);
    if used == 0 || used != s.len() || overflow || v <= 0 || v > i64::from(u32::MAX) {
        None
    } else {
        Some(v as u32)
    }
}

/// C's `atoi` (`strtol` base 10, no error checks; truncated to int).
pub fn atoi(s: &str) -> i32 {
    strtol(s, 10).0 as i32
}

/// glibc's `inet_aton`: 1 to 4 parts in C notation (hex, octal,
/// decimal), trailing white space allowed.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    // Nearly every address is a plain dotted quad: read it in one pass.
    dotted_quad(s.as_bytes()).or_else(|| inet_aton_c(s))
}

/// The strict `a.b.c.d` form (decimal parts 0..=255 without a leading
/// zero, nothing after): what `inet_aton` reads it as, or None for
/// anything else (which `inet_aton_c` then reads).
fn dotted_quad(b: &[u8]) -> Option<Ipv4Addr> {
    let mut out = [0u8; 4];
    let mut k = 0;
    let mut v: u32 = 0;
    let mut digits = 0;
    for &c in b {
        if c.is_ascii_digit() {
            // A leading zero makes the part octal in C.
            if digits == 3 || (digits == 1 && v == 0) {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
            digits += 1;
        } else if c == b'.' && digits != 0 && v <= 255 {
            *out.get_mut(k)? = v as u8;
            k += 1;
            v = 0;
            digits = 0;
        } else {
            return None;
        }
    }
    if k != 3 || digits == 0 || v > 255 {
        return None;
    }
    *out.get_mut(3)? = v as u8;
    Some(Ipv4Addr::from(out))
}

/// `inet_aton` in all its forms.
fn inet_aton_c(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    // At most four parts (checked below): a fixed array, no allocation.
    let mut parts = [0u64; 4];
    let mut nparts = 0;
    let mut i = 0;
    loop {
        let c = *b.get(i)?;
        if !c.is_ascii_digit() {
            return None;
        }
        let mut base = 10;
        if c == b'0' {
            i += 1;
            if matches!(b.get(i), Some(b'x' | b'X')) {
                base = 16;
                i += 1;
            } else {
                base = 8;
            }
        }
        let mut v: u64 = 0;
        while let Some(d) = b.get(i).and_then(|c| (*c as char).to_digit(base)) {
            v = v.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
            if v > u64::from(u32::MAX) {
                return None;
            }
            i += 1;
        }
        *parts.get_mut(nparts)? = v;
        nparts += 1;
        match b.get(i) {
            Some(b'.') => {
                if nparts >= 4 {
                    return None;
                }
                i += 1;
            }
            None => break,
            Some(c) if c_space(*c) => break,
            Some(_) => return None,
        }
    }
    let (last, head) = parts.get(..nparts)?.split_last()?;
    let mut val = *last;
    let max_last: u64 = match head.len() {
        0 => 0xffff_ffff,
        1 => 0x00ff_ffff,
        2 => 0xffff,
        _ => 0xff,
    };
    if val > max_last {
        return None;
    }
    for (k, p) in head.iter().enumerate() {
        if *p > 0xff {
            return None;
        }
        val |= p << (24 - 8 * k);
    }
    Some(Ipv4Addr::from(val as u32))
}

/// What `parse_service` set (`SERVICE_ADDR`, `SERVICE_PORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceParse {
    /// The address.
    pub addr: IpAddr,
    /// The port, if one was given.
    pub port: Option<u16>,
}

/// ipvsadm's `parse_service`: `host[:port]` or `[ipv6]:port`; the port may
/// be a service name of `proto`. None when ipvsadm's result lacks
/// `SERVICE_ADDR`.
pub fn parse_service(buf: &str, proto: u16, res: &dyn Resolver) -> Option<ServiceParse> {
    let mut host = buf;
    let mut port_str: Option<&str> = None;
    if let Some(inner) = buf.strip_prefix('[') {
        let close = inner.find(']')?;
        let (h, after) = inner.split_at(close);
        let after = after.get(1..).unwrap_or("");
        let p = after.strip_prefix(':')?;
        host = h;
        port_str = Some(p);
    }
    // One pass over the host: whether it is all digits (no address at
    // all), how many colons and where the last one is.
    let mut digits_only = true;
    let mut colons = 0;
    let mut last_colon = None;
    for (i, c) in host.bytes().enumerate() {
        if !c.is_ascii_digit() {
            digits_only = false;
            if c == b':' {
                colons += 1;
                last_colon = Some(i);
            }
        }
    }
    // (`[digits]` is not all digits: the whole text is what counts.)
    if digits_only && host.len() == buf.len() {
        return None;
    }
    let addr;
    // Every textual IPv6 address has two colons at least: the common
    // `a.b.c.d:port` skips the IPv6 parser (`inet_pton(AF_INET6)` in
    // ipvsadm fails there too).
    let two_colons = colons >= 2;
    if let Some(a6) = two_colons.then(|| host.parse::<Ipv6Addr>().ok()).flatten() {
        addr = IpAddr::V6(a6);
    } else {
        // A bracketed IPv4 address loses its port, as in ipvsadm: the
        // port search only looks inside the brackets.
        port_str = None;
        if let Some(i) = last_colon {
            port_str = host.get(i + 1..);
            host = host.get(..i).unwrap_or("");
        }
        if let Some(a) = inet_aton(host) {
            addr = IpAddr::V4(a);
        } else if let Some(a) = res.host_addr(host) {
            addr = IpAddr::V4(a);
        } else {
            return None;
        }
    }
    let port = match port_str {
        None => None,
        Some(p) => match string_to_number(p, 0, 65535) {
            Some(n) => Some(n as u16),
            None => Some(res.service_port(p, proto)?),
        },
    };
    Some(ServiceParse { addr, port })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::super::names::NoResolver;
    use super::*;
    use proptest::strategy::Strategy;

    #[test]
    fn numbers_like_strtol() {
        assert_eq!(
            string_to_number("70000", 0, i64::from(i32::MAX)),
            Some(70000)
        );
        assert_eq!(string_to_number("-1", 0, 65535), None);
        assert_eq!(string_to_number(" 5", 0, 9), Some(5));
        assert_eq!(string_to_number("5 ", 0, 9), None);
        assert_eq!(string_to_number("", 0, 9), None);
        assert_eq!(parse_fwmark("4294967296"), None);
        assert_eq!(parse_fwmark("4294967295"), Some(u32::MAX));
        assert_eq!(parse_fwmark("0"), None);
    }

    #[test]
    fn inet_aton_forms() {
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("0x0a.010.0.1"), Some(Ipv4Addr::new(10, 8, 0, 1)));
        assert_eq!(inet_aton("1.2.3.4 x"), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(inet_aton("1.2.3.256"), None);
        assert_eq!(inet_aton("a.b"), None);
    }

    /// `parse_service` before its one-pass scan: what it must keep doing.
    fn reference_parse_service(buf: &str, proto: u16, res: &dyn Resolver) -> Option<ServiceParse> {
        if buf.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut host = buf;
        let mut port_str: Option<&str> = None;
        if let Some(inner) = buf.strip_prefix('[') {
            let close = inner.find(']')?;
            let (h, after) = inner.split_at(close);
            let after = after.get(1..).unwrap_or("");
            let p = after.strip_prefix(':')?;
            host = h;
            port_str = Some(p);
        }
        let addr;
        if let Ok(a6) = host.parse::<Ipv6Addr>() {
            addr = IpAddr::V6(a6);
        } else {
            port_str = None;
            if let Some(i) = host.rfind(':') {
                port_str = host.get(i + 1..);
                host = host.get(..i).unwrap_or("");
            }
            addr = IpAddr::V4(inet_aton_c(host).or_else(|| res.host_addr(host))?);
        }
        let port = match port_str {
            None => None,
            Some(p) => match string_to_number(p, 0, 65535) {
                Some(n) => Some(n as u16),
                None => Some(res.service_port(p, proto)?),
            },
        };
        Some(ServiceParse { addr, port })
    }

    /// Text made of what addresses and ports are made of.
    fn address_text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(vec![
                "0",
                "1",
                "9",
                "25",
                "255",
                "256",
                "010",
                "0x1f",
                ".",
                ":",
                "::",
                "[",
                "]",
                " ",
                "\t",
                "a",
                "f",
                "10.0.0.1",
                "2001:db8::1",
                "-",
                "x",
            ]),
            0..10,
        )
        .prop_map(|v| v.concat())
    }

    /// Dotted numbers in every C notation, with or without a port.
    fn dotted_text() -> impl proptest::strategy::Strategy<Value = String> {
        let part = proptest::sample::select(vec![
            "0", "1", "255", "07", "08", "010", "00", "99", "256", "1000", "0x1f", "0X100", "",
        ]);
        let tail = proptest::sample::select(vec!["", ":80", ":", " x", "\t", ":http", "a"]);
        // Four parts mostly: the form the one-pass reader takes.
        let n = proptest::prop_oneof![3 => proptest::strategy::Just(4usize), 1 => 1usize..6];
        (
            n.prop_flat_map(move |n| proptest::collection::vec(part.clone(), n)),
            tail,
        )
            .prop_map(|(parts, tail)| format!("{}{tail}", parts.join(".")))
    }

    proptest::proptest! {
        #[test]
        fn plain_digits_read_as_strtol_reads_them(
            s in "[ +-]?[0-9]{0,21}[a ]?",
            min in -5i64..5,
            max in proptest::prop_oneof![0i64..70_000, proptest::strategy::Just(i64::MAX)],
        ) {
            let (v, overflow, used) = strtol(&s, 10);
            let strict = (used != 0 && used == s.len() && !overflow && v >= min && v <= max)
                .then_some(v);
            proptest::prop_assert_eq!(string_to_number(&s, min, max), strict);
        }

        #[test]
        fn one_pass_reads_as_before(s in proptest::prop_oneof![address_text(), dotted_text()]) {
            proptest::prop_assert_eq!(inet_aton(&s), inet_aton_c(&s));
            proptest::prop_assert_eq!(
                parse_service(&s, 6, &NoResolver),
                reference_parse_service(&s, 6, &NoResolver)
            );
        }
    }

    #[test]
    fn services() {
        let r = NoResolver;
        let p = parse_service("10.0.0.1:80", 6, &r);
        assert_eq!(p.map(|p| p.port), Some(Some(80)));
        assert!(parse_service("1.2.3.4:99999", 6, &r).is_none());
        assert!(parse_service("[2001:db8::1]", 6, &r).is_none());
        let p = parse_service("2001:db8::1", 6, &r);
        assert_eq!(p.map(|p| p.port), Some(None));
        let p = parse_service("[1.2.3.4]:80", 6, &r);
        assert_eq!(p.map(|p| p.port), Some(None));
        assert!(parse_service("1234", 6, &r).is_none());
    }
}
