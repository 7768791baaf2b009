//! The text of `/proc/net/ip_vs`: every virtual service with its real
//! servers' forwarding method, weight and connection counts, which is all
//! a plain `ipvsadm -L` shows of a real server.
//!
//! Why a second source next to netlink: generic netlink has no request for
//! "every destination", so a listing costs one `IPVS_CMD_GET_DEST` dump per
//! service, and on a 1,000-service table the kernel's per-dump work (two
//! service lookups under the IPVS mutex, a dump context, a zeroed buffer)
//! dominates. The kernel writes this file in one pass over its tables. Only
//! the parsing lives here (pure, no I/O); `kernel::ipvs` reads the file and
//! falls back to netlink dumps for any service the text cannot place.
//!
//! Format (net/netfilter/ipvs/ip_vs_ctl.c, `ip_vs_info_seq_show`): three
//! header lines, then per service `PROTO  HEXADDR:HEXPORT sched [flags]`,
//! `PROTO  [IPv6]:HEXPORT ...` or `FWM  HEXMARK sched ...`, then per real
//! `  -> HEXADDR:HEXPORT Fwd Weight ActiveConn InActConn`. Addresses and
//! ports are in host order, hex; IPv6 is the uncompressed `%pI6` form.
//! The fwmark line carries no address family.
//!
//! The text can miss whole services: on kernels with one service table for
//! all network namespaces (6.1), each ~4 KiB read after the first resumes
//! by counting only the reader's namespace's services against a position
//! that counted all of them, and skips ahead when another namespace holds
//! services (docs/lvsadm.md). A block that is there is complete.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{Forward, Protocol, RealServer};

/// How a service block of the file names its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcKey {
    /// A TCP, UDP or SCTP service: protocol, address, port.
    Addr(Protocol, IpAddr, u16),
    /// A firewall-mark service of either family (the file does not say which).
    Fwmark(u32),
}

/// One service block: its key and its real servers in kernel order. Only
/// address, port, forwarding method, weight and the active and inactive
/// connection counts are filled in; the rest keep `RealServer::new`'s values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcService {
    /// The service the block belongs to.
    pub key: ProcKey,
    /// Its real servers.
    pub reals: Vec<RealServer>,
}

/// Parse the whole file. Any line that does not have the expected shape
/// makes the whole text unusable (the error says which line), so a caller
/// never mixes a misread table into a listing.
pub fn parse_ip_vs(text: &str) -> Result<Vec<ProcService>, String> {
    let mut out: Vec<ProcService> = Vec::new();
    for (i, line) in lines(text).enumerate() {
        // The three header lines: version, service columns, real columns.
        if i < 3 || line.is_empty() {
            continue;
        }
        let bad = |what: &str| format!("/proc/net/ip_vs line {}: {what}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("  -> ") {
            let real = parse_real(rest).ok_or_else(|| bad("unreadable real server"))?;
            out.last_mut()
                .ok_or_else(|| bad("real server before any service"))?
                .reals
                .push(real);
        } else {
            let key = parse_service(line).ok_or_else(|| bad("unreadable service"))?;
            // Tables tend to be uniform: room for as many reals as the
            // service before had, instead of a doubling series per service.
            let room = out.last().map_or(0, |s| s.reals.len());
            out.push(ProcService {
                key,
                reals: Vec::with_capacity(room),
            });
        }
    }
    Ok(out)
}

/// `str::lines`, found with the `memchr` crate's vectorised search: the
/// standard library's finds each newline a word at a time, and on an
/// 11,000-line file that search was a fifth of the parse
/// (`tests::lines_are_strs_lines` holds the two to the same lines).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let line = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(n) => {
                // A newline is ASCII: both cuts are on character boundaries.
                let line = rest.get(..n).unwrap_or_default();
                rest = rest.get(n + 1..).unwrap_or_default();
                line.strip_suffix('\r').unwrap_or(line)
            }
            None => std::mem::take(&mut rest),
        };
        Some(line)
    })
}

fn parse_service(line: &str) -> Option<ProcKey> {
    let mut words = line.split_ascii_whitespace();
    let proto = words.next()?;
    let addr = words.next()?;
    if proto == "FWM" {
        return Some(ProcKey::Fwmark(u32::from_str_radix(addr, 16).ok()?));
    }
    let protocol = match proto {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        _ => return None,
    };
    let (ip, port) = parse_addr_port(addr)?;
    Some(ProcKey::Addr(protocol, ip, port))
}

fn parse_real(rest: &str) -> Option<RealServer> {
    parse_real_v4(rest.as_bytes()).or_else(|| parse_real_words(rest))
}

/// The kernel's IPVS real line (`%08X:%04X` then blank-separated
/// fields), read byte by byte: most lines of a big table are these, and
/// splitting words and parsing each costs several times more. Anything
/// else (IPv6, tabs, a sign, a number out of range) is None and goes to
/// `parse_real_words`, which reads every line this one reads the same way
/// (`tests::fast_real_reader_agrees`).
fn parse_real_v4(b: &[u8]) -> Option<RealServer> {
    let mut c = Cursor { b, i: 0 };
    let addr = c.hex(8)?;
    c.byte(b':')?;
    let port = c.hex(4)?;
    c.blanks()?;
    let forward = match c.word() {
        b"Masq" => Forward::Masq,
        b"Local" => Forward::Local,
        b"Tunnel" => Forward::Tunnel,
        b"Route" => Forward::Route,
        _ => return None,
    };
    c.blanks()?;
    let weight = c.int()?;
    c.blanks()?;
    let active = c.int()?;
    c.blanks()?;
    let inact = c.int()?;
    // Only blanks may follow.
    if c.b.get(c.i..)?.iter().any(|x| *x != b' ') {
        return None;
    }
    let mut real = RealServer::new(IpAddr::V4(Ipv4Addr::from(addr)), port as u16);
    real.forward = forward;
    real.weight = weight;
    real.active_conns = active as u32;
    real.inact_conns = inact as u32;
    Some(real)
}

/// A position in a line, for `parse_real_v4`.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// Exactly `n` hex digits (either case).
    fn hex(&mut self, n: usize) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + n)?;
        let mut v = 0u32;
        for d in digits {
            let x = HEX.get(usize::from(*d)).copied().unwrap_or(NOT_HEX);
            if x == NOT_HEX {
                return None;
            }
            v = v << 4 | u32::from(x);
        }
        self.i += n;
        Some(v)
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&want)).then(|| self.i += 1)
    }

    /// One blank at least.
    fn blanks(&mut self) -> Option<()> {
        let n = self
            .b
            .get(self.i..)?
            .iter()
            .take_while(|x| **x == b' ')
            .count();
        self.i += n;
        (n > 0).then_some(())
    }

    /// Up to the next blank.
    fn word(&mut self) -> &[u8] {
        let rest = self.b.get(self.i..).unwrap_or_default();
        let n = rest.iter().take_while(|x| **x != b' ').count();
        self.i += n;
        rest.get(..n).unwrap_or_default()
    }

    /// `%d`: an optional minus and 1 to 10 digits, within `i32`, ended by
    /// a blank or the end of the line. Read in one pass (the digits are
    /// summed as they are found, not collected first).
    fn int(&mut self) -> Option<i32> {
        let neg = self.byte(b'-').is_some();
        let start = self.i;
        let mut v: i64 = 0;
        while let Some(d) = self.b.get(self.i).filter(|d| d.is_ascii_digit()) {
            // An 11th digit is never an i32 the kernel printed, and the
            // limit is what keeps the sum from overflowing.
            if self.i - start == 10 {
                return None;
            }
            v = v * 10 + i64::from(d - b'0');
            self.i += 1;
        }
        let ended = self.b.get(self.i).is_none_or(|c| *c == b' ');
        if self.i == start || !ended {
            return None;
        }
        i32::try_from(if neg { -v } else { v }).ok()
    }
}

/// `HEX`'s entry for a byte that is not a hex digit.
const NOT_HEX: u8 = 0xff;

/// The value of every hex digit byte, either case; `NOT_HEX` for the rest.
static HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Any real line, word by word.
fn parse_real_words(rest: &str) -> Option<RealServer> {
    let mut words = rest.split_ascii_whitespace();
    let (addr, port) = parse_addr_port(words.next()?)?;
    let forward = match words.next()? {
        "Masq" => Forward::Masq,
        "Local" => Forward::Local,
        "Tunnel" => Forward::Tunnel,
        "Route" => Forward::Route,
        _ => return None,
    };
    let weight: i32 = words.next()?.parse().ok()?;
    // The kernel prints the counters with %d.
    let active: i32 = words.next()?.parse().ok()?;
    let inact: i32 = words.next()?.parse().ok()?;
    if words.next().is_some() {
        return None;
    }
    let mut real = RealServer::new(addr, port);
    real.forward = forward;
    real.weight = weight;
    real.active_conns = active as u32;
    real.inact_conns = inact as u32;
    Some(real)
}

/// `0A000001:0050` or `[2001:0db8:0000:0000:0000:0000:0000:0001]:0050`.
fn parse_addr_port(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.rsplit_once(':')?;
    if port.len() != 4 {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = if let Some(v6) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?)
    } else {
        if addr.len() != 8 {
            return None;
        }
        IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?))
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_real_reader_agrees(
            addr in prop_oneof![Just("0A000001".to_string()), "[0-9A-Fa-fx+-]{7,9}"],
            port in prop_oneof![Just("1F90".to_string()), "[0-9A-F+]{3,5}"],
            gap in prop::sample::select(vec![" ", "      ", "\t", ""]),
            fwd in prop::sample::select(vec!["Masq", "Local", "Tunnel", "Route", "masq", "Other"]),
            nums in prop::collection::vec(
                prop_oneof![
                    (-100i64..100).prop_map(|n| n.to_string()),
                    (0i64..100_000).prop_map(|n| n.to_string()),
                    prop::sample::select(vec![
                        "2147483647", "2147483648", "-2147483648", "-2147483649", "+7", "-",
                        "00012", "12345678901", "4294967295", "00000000001",
                        "1234567890123456789012345",
                    ]).prop_map(str::to_string),
                ],
                3,
            ),
            tail in prop::sample::select(vec!["", " ", "    ", " x", "\t"]),
        ) {
            let line = format!(
                "{addr}:{port}{gap}{fwd} {} {}  {}{tail}",
                nums[0], nums[1], nums[2]
            );
            if let Some(fast) = parse_real_v4(line.as_bytes()) {
                prop_assert_eq!(Some(fast), parse_real_words(&line), "{}", line);
            }
        }
    }

    proptest! {
        #[test]
        fn lines_are_strs_lines(
            parts in prop::collection::vec(
                prop::sample::select(vec!["a", "TCP  x", "\n", "\r", "\r\n", "", " ", "é", "\n\n"]),
                0..40,
            ),
        ) {
            let text: String = parts.concat();
            let fast: Vec<&str> = lines(&text).collect();
            let std: Vec<&str> = text.lines().collect();
            prop_assert_eq!(fast, std, "{:?}", text);
        }
    }

    #[test]
    fn hex_digits_of_either_case_and_nothing_else() {
        for b in 0..=255u8 {
            let line = [b; 8];
            let got = Cursor { b: &line, i: 0 }.hex(8);
            let want = char::from(b)
                .to_digit(16)
                .map(|d| (0..8).fold(0u32, |v, _| v << 4 | d));
            assert_eq!(got, want, "{b:#x}");
        }
    }

    #[test]
    fn the_kernels_real_line_takes_the_fast_reader() {
        let line = "0A140001:1F90      Masq    1      0          0         ";
        let r = parse_real_v4(line.as_bytes()).unwrap();
        assert_eq!(Some(r.clone()), parse_real_words(line));
        assert_eq!(r.addr, IpAddr::V4(Ipv4Addr::new(10, 20, 0, 1)));
        assert_eq!((r.port, r.weight), (8080, 1));
        assert!(parse_real_v4(b"0A140001:1F90\tMasq 1 0 0").is_none());
    }

    /// Captured from Debian's 6.1 kernel (`tests/data/proc/ip_vs.table`
    /// is the table that produced it).
    const TEXT: &str = include_str!("../../tests/data/proc/ip_vs.txt");

    #[test]
    fn parses_every_service_kind_of_a_captured_file() {
        let got = parse_ip_vs(TEXT).expect("parses");
        let block = |key: ProcKey| -> &ProcService {
            got.iter()
                .find(|s| s.key == key)
                .unwrap_or_else(|| panic!("{key:?}"))
        };
        let tcp = |a: &str, p| ProcKey::Addr(Protocol::Tcp, a.parse().unwrap(), p);
        let web = block(tcp("10.0.0.1", 80));
        let heavy = web.reals.iter().find(|r| r.weight == 3).unwrap();
        assert_eq!(heavy.addr, "192.168.1.1".parse::<IpAddr>().unwrap());
        assert_eq!((heavy.port, heavy.forward), (8080, Forward::Masq));
        assert_eq!(web.reals.len(), 2);
        let dns = block(ProcKey::Addr(
            Protocol::Udp,
            "10.0.0.2".parse().unwrap(),
            53,
        ));
        assert_eq!(dns.reals[0].forward, Forward::Route);
        let sctp = block(ProcKey::Addr(
            Protocol::Sctp,
            "10.0.0.3".parse().unwrap(),
            9,
        ));
        assert_eq!(sctp.reals[0].forward, Forward::Tunnel);
        assert!(block(tcp("10.0.0.9", 0)).reals.len() == 1);
        let v6 = block(tcp("2001:db8::1", 443));
        assert_eq!(v6.reals[0].addr, "2001:db8::10".parse::<IpAddr>().unwrap());
        assert_eq!((v6.reals[0].weight, v6.reals[0].port), (2, 443));
        // An IPv4 real behind an IPv6 service (tunnel).
        let mixed = block(tcp("2001:db8::2", 80));
        assert_eq!(
            mixed.reals[0].addr,
            "192.168.1.11".parse::<IpAddr>().unwrap()
        );
        // Firewall mark 7 exists for both families: two blocks, same key.
        let fwm: Vec<&ProcService> = got.iter().filter(|s| s.key == ProcKey::Fwmark(7)).collect();
        assert_eq!(fwm.len(), 2);
        let reals: Vec<&RealServer> = fwm.iter().flat_map(|b| &b.reals).collect();
        assert_eq!(reals.len(), 3);
        assert!(reals.iter().any(|r| r.forward == Forward::Tunnel));
        assert!(reals.iter().any(|r| r.weight == 0));
        assert_eq!(got.len(), 9);
    }

    #[test]
    fn a_misread_line_rejects_the_whole_text() {
        let mut t = TEXT.to_string();
        t.push_str("  -> 0A00000Z:0050      Masq    1      0          0\n");
        let e = parse_ip_vs(&t).unwrap_err();
        assert!(e.contains("unreadable real server"), "{e}");
        let head = TEXT.lines().take(3).collect::<Vec<_>>().join("\n");
        let orphan = format!("{head}\n  -> 0A000001:0050      Masq    1      0          0\n");
        assert!(parse_ip_vs(&orphan)
            .unwrap_err()
            .contains("before any service"));
        let unknown = format!("{head}\nICMP  0A000001:0050 rr\n");
        assert!(parse_ip_vs(&unknown).is_err());
    }

    #[test]
    fn counters_read_as_the_kernel_prints_them() {
        let text =
            "h\nh\nh\nTCP  0A000001:0050 wlc \n  -> C0A80101:1F90      Route   65535  4294967 12\n";
        let got = parse_ip_vs(text).unwrap();
        let r = &got[0].reals[0];
        assert_eq!(
            (r.weight, r.active_conns, r.inact_conns),
            (65535, 4294967, 12)
        );
        assert_eq!(r.forward, Forward::Route);
    }
}
