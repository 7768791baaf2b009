//! `ipvsadm -L` listings, byte for byte as ipvsadm 1.31 prints them:
//! plain, `--stats`, `--rate`, `--thresholds`, `--persistent-conn`,
//! `--tun-info`, `--exact`, `--nosort`, `--timeout`, `--daemon`.
//!
//! Called by `cli::run`. Pure functions over model types; names come from
//! the given `Resolver`.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::names::{addrport, truncate_bytes, Resolver};
use super::save::{
    netmask_text, sched_flags_text, sorted_entries, svc_proto, EntryRef, SCHED_FLAGS,
};
use crate::model::addr_text::{push_decimal, push_socket_addr};
use crate::model::{
    Family, Forward, Protocol, RealServer, ServiceFlags, ServiceKey, SyncDaemon, SyncState, Table,
    TableEntry, Timeouts, TunnelType, VersionInfo, VirtualService,
};

/// ipvsadm's `FMT_*` listing flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format {
    /// `-n`.
    pub numeric: bool,
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--nosort`.
    pub nosort: bool,
    /// `--exact`.
    pub exact: bool,
    /// `--tun-info`.
    pub tun_info: bool,
}

impl Format {
    /// The plain listing: of a real server it shows only the forwarding
    /// method, weight and active and inactive connections (what
    /// `Ipvs::listing` reads).
    pub fn is_plain(&self) -> bool {
        !(self.stats || self.rate || self.thresholds || self.persistent_conn || self.tun_info)
    }
}

/// The `IP Virtual Server version ...` banner of a full listing.
pub fn version_line(info: &VersionInfo) -> String {
    let v = info.version;
    format!(
        "IP Virtual Server version {}.{}.{} (size={})\n",
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff,
        info.conn_tab_size as i32
    )
}

/// `ipvsadm -L [options]` for the whole table.
pub fn format_list_all(
    info: &VersionInfo,
    table: &Table,
    fmt: &Format,
    res: &dyn Resolver,
) -> String {
    // About 64 bytes a line: one allocation instead of a doubling series.
    let lines: usize = table.entries.iter().map(|e| 1 + e.reals.len()).sum();
    let mut out = String::with_capacity(256 + lines * 64);
    out.push_str(&version_line(info));
    out.push_str(&title(fmt));
    for e in sorted_entries(table, !fmt.nosort) {
        write_service_entry(&mut out, &e, fmt, res);
    }
    out
}

/// `ipvsadm -L -t|-u|-f ...` for one service (its reals sorted unless
/// `--nosort`).
pub fn format_list_service(entry: &TableEntry, fmt: &Format, res: &dyn Resolver) -> String {
    let e = EntryRef::new(entry, !fmt.nosort);
    let mut out = title(fmt);
    write_service_entry(&mut out, &e, fmt, res);
    out
}

/// `ipvsadm -L --timeout`.
pub fn format_timeout(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp as i32, t.tcp_fin as i32, t.udp as i32
    )
}

/// `ipvsadm -L --daemon` (ipvsadm shows at most two daemons).
pub fn format_daemons(daemons: &[SyncDaemon]) -> String {
    let mut out = String::new();
    for d in daemons.iter().take(2) {
        let kind = match d.state {
            SyncState::Master => "master",
            SyncState::Backup => "backup",
        };
        let _ = write!(
            out,
            "{kind} sync daemon (mcast={}, syncid={}",
            d.mcast_ifn, d.syncid as i32
        );
        if d.sync_maxlen != 0 {
            let _ = write!(out, ", maxlen={}", d.sync_maxlen);
        }
        if let Some(g) = d.mcast_group {
            let _ = write!(out, ", group={g}");
        }
        if d.mcast_port != 0 {
            let _ = write!(out, ", port={}", d.mcast_port);
        }
        if d.mcast_ttl != 0 {
            let _ = write!(out, ", ttl={}", d.mcast_ttl);
        }
        out.push_str(")\n");
    }
    out
}

/// ipvsadm's `print_title`.
pub fn title(fmt: &Format) -> String {
    let head = "Prot LocalAddress:Port";
    if fmt.stats {
        format!(
            "{head:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if fmt.rate {
        format!(
            "{head:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if fmt.thresholds {
        format!(
            "{head:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if fmt.persistent_conn {
        format!(
            "{head:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if fmt.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".to_string()
    } else {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".to_string()
    }
}

/// ipvsadm's `print_largenum`: K/M/G/T scaling, or exact with `--exact`.
fn largenum(out: &mut String, i: u64, exact: bool) {
    if exact {
        let len = i.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{i:>w$}");
    } else if i < 100_000_000 {
        let _ = write!(out, "{i:>9}");
    } else if i < 1_000_000_000 {
        let _ = write!(out, "{:>8}K", i / 1000);
    } else if i < 100_000_000_000 {
        let _ = write!(out, "{:>8}M", i / 1_000_000);
    } else if i < 100_000_000_000_000 {
        let _ = write!(out, "{:>8}G", i / 1_000_000_000);
    } else {
        let _ = write!(out, "{:>8}T", i / 1_000_000_000_000);
    }
}

/// `fwd_name`; glibc prints a NULL `%s` as `(null)`.
fn fwd_name(f: Forward) -> &'static str {
    match f {
        Forward::Masq => "Masq",
        Forward::Local => "Local",
        Forward::Tunnel => "Tunnel",
        Forward::Route => "Route",
        Forward::Other(_) => "(null)",
    }
}

/// `tunflags[e->tun_flags]`.
fn tun_flag_short(flags: u16) -> &'static str {
    match flags {
        0 => "-c",
        1 => "+c",
        2 => "r+c",
        _ => "(null)",
    }
}

/// `fwd_tun_info`: tunnel details of a tunnel real server, else None (n/a).
fn tun_info(d: &RealServer) -> Option<String> {
    if d.forward != Forward::Tunnel {
        return None;
    }
    let s = match d.tun_type {
        TunnelType::Ipip => "ipip".to_string(),
        TunnelType::Gue => format!("gue:{}:{}", d.tun_port, tun_flag_short(d.tun_flags.0)),
        TunnelType::Gre => format!("gre:{}", tun_flag_short(d.tun_flags.0)),
    };
    // ipvsadm formats into a 16-byte buffer.
    Some(truncate_bytes(s, 15))
}

/// The service column: `TCP  addr:port`, `FWM  mark [IPv6]`.
fn svc_column(s: &VirtualService, numeric: bool, res: &dyn Resolver) -> String {
    match s.key {
        ServiceKey::Fwmark { family, mark } => match family {
            Family::V6 => format!("FWM  {} IPv6", mark as i32),
            Family::V4 => format!("FWM  {}", mark as i32),
        },
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let p = match protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
                Protocol::Other(_) => "?",
            };
            let v = addrport(&addr, port, protocol.number(), numeric, res);
            let col = format!("{p:<4} {v}");
            // ipvsadm cuts IPv4 service names at 33 bytes.
            if Family::of(&addr) == Family::V6 {
                col
            } else {
                truncate_bytes(col, 33)
            }
        }
    }
}

/// Real-server counters as ipvsadm reads them: libipvs 1.31 parses a
/// destination's 64-bit stats with `nla_get_u32` for everything but bytes.
fn dest_u32(v: u64) -> u64 {
    u64::from(v as u32)
}

fn write_service_entry(out: &mut String, e: &EntryRef<'_>, fmt: &Format, res: &dyn Resolver) {
    let s = e.service;
    if fmt.numeric && fmt.is_plain() && write_plain_numeric_service(out, s) {
        for d in &e.reals {
            write_plain_numeric_real(out, d);
        }
        return;
    }
    let name = svc_column(s, fmt.numeric, res);
    if fmt.stats || fmt.rate {
        let st = &s.stats;
        let v = if fmt.stats {
            [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes]
        } else {
            [st.cps, st.inpps, st.outpps, st.inbps, st.outbps]
        };
        let _ = write!(out, "{name:<33}");
        for x in v {
            largenum(out, x, fmt.exact);
        }
    } else {
        let _ = write!(out, "{name} {}", s.scheduler);
        if s.flags.0 & SCHED_FLAGS != 0 {
            let _ = write!(out, " ({})", sched_flags_text(s));
        }
        if s.persistent() {
            let _ = write!(out, " persistent {}", s.timeout);
            if let Some(m) = netmask_text(s) {
                let _ = write!(out, " mask {m}");
            }
            if let Some(pe) = s.pe_name.as_deref().filter(|p| !p.is_empty()) {
                let _ = write!(out, " pe {pe}");
            }
        }
        if s.flags.has(ServiceFlags::ONEPACKET) {
            out.push_str(" ops");
        }
    }
    out.push('\n');
    let proto = svc_proto(s);
    if fmt.numeric && fmt.is_plain() {
        for d in &e.reals {
            write_plain_numeric_real(out, d);
        }
        return;
    }
    for d in &e.reals {
        let mut dname = addrport(&d.addr, d.port, proto, fmt.numeric, res);
        if d.family() != Family::V6 {
            dname = truncate_bytes(dname, 28);
        }
        let st = &d.stats;
        if fmt.stats {
            let _ = write!(out, "  -> {dname:<28}");
            largenum(out, dest_u32(st.conns), fmt.exact);
            largenum(out, dest_u32(st.inpkts), fmt.exact);
            largenum(out, dest_u32(st.outpkts), fmt.exact);
            largenum(out, st.inbytes, fmt.exact);
            largenum(out, st.outbytes, fmt.exact);
            out.push('\n');
        } else if fmt.rate {
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                dest_u32(st.cps),
                dest_u32(st.inpps),
                dest_u32(st.outpps)
            );
            largenum(out, dest_u32(st.inbps), fmt.exact);
            largenum(out, dest_u32(st.outbps), fmt.exact);
            out.push('\n');
        } else if fmt.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                d.u_threshold, d.l_threshold, d.active_conns, d.inact_conns
            );
        } else if fmt.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                d.weight as u32, d.persist_conns, d.active_conns, d.inact_conns
            );
        } else if fmt.tun_info {
            let ti = tun_info(d).unwrap_or_else(|| "n/a".to_string());
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {ti:<13} {:<6} {:<10} {:<10}",
                fwd_name(d.forward),
                d.weight,
                d.active_conns,
                d.inact_conns
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                fwd_name(d.forward),
                d.weight,
                d.active_conns,
                d.inact_conns
            );
        }
    }
}

/// The plain numeric line of an IPv4 TCP or UDP service without flags or
/// persistence (`-Ln`'s common case), written like the reals below; false
/// (nothing written) for any other service, which the general path prints.
fn write_plain_numeric_service(out: &mut String, s: &VirtualService) -> bool {
    let ServiceKey::Addr {
        protocol,
        addr: IpAddr::V4(a),
        port,
    } = s.key
    else {
        return false;
    };
    let proto: &[u8] = match protocol {
        Protocol::Tcp => b"TCP ",
        Protocol::Udp => b"UDP ",
        _ => return false,
    };
    if s.flags.0 & SCHED_FLAGS != 0 || s.persistent() || s.flags.has(ServiceFlags::ONEPACKET) {
        return false;
    }
    let mut line = LineBuf::default();
    line.put(proto);
    line.put(b" ");
    line.put_addr_port(a, port);
    line.put(b" ");
    line.put(s.scheduler.as_bytes());
    line.put(b"\n");
    match line.text() {
        Some(text) => {
            out.push_str(text);
            true
        }
        None => false,
    }
}

/// The plain numeric real line (`-Ln`), written straight into `out`: the
/// same bytes as `write_service_entry`'s `"  -> {dname:<28} {:<7} {:<6}
/// {:<10} {:<10}"`, without `fmt`'s padding machinery or a `String` per
/// address. Most of an 11,000-line listing is these lines.
fn write_plain_numeric_real(out: &mut String, d: &RealServer) {
    if let IpAddr::V4(a) = d.addr {
        // The line is assembled on the stack and appended in one copy
        // (about 70 bytes: a push per byte cost more than the rest).
        let mut line = LineBuf::default();
        line.put(b"  -> ");
        line.put_addr_port(a, d.port);
        line.pad_to(5 + 28);
        line.put(b" ");
        let at = line.len;
        line.put(fwd_name(d.forward).as_bytes());
        line.pad_to(at + 7);
        line.put(b" ");
        let at = line.len;
        if d.weight < 0 {
            line.put(b"-");
        }
        line.put_decimal(d.weight.unsigned_abs());
        line.pad_to(at + 6);
        line.put(b" ");
        let at = line.len;
        line.put_decimal(d.active_conns);
        line.pad_to(at + 10);
        line.put(b" ");
        let at = line.len;
        line.put_decimal(d.inact_conns);
        line.pad_to(at + 10);
        line.put(b"\n");
        if let Some(text) = line.text() {
            out.push_str(text);
            return;
        }
    }
    out.push_str("  -> ");
    let at = out.len();
    push_socket_addr(out, std::net::SocketAddr::new(d.addr, d.port));
    // Never longer than 28 for IPv4 (21 at most), and IPv6 is not cut.
    pad_from(out, at, 28);
    out.push(' ');
    let at = out.len();
    out.push_str(fwd_name(d.forward));
    pad_from(out, at, 7);
    out.push(' ');
    let at = out.len();
    if d.weight < 0 {
        out.push('-');
    }
    push_decimal(out, u64::from(d.weight.unsigned_abs()));
    pad_from(out, at, 6);
    out.push(' ');
    let at = out.len();
    push_decimal(out, u64::from(d.active_conns));
    pad_from(out, at, 10);
    out.push(' ');
    let at = out.len();
    push_decimal(out, u64::from(d.inact_conns));
    pad_from(out, at, 10);
    out.push('\n');
}

/// One listing line built on the stack, over a row of blanks (so padding
/// a field is moving the cursor). A write past its end marks it spoiled
/// (`text` is then None and the caller writes the line the long way): a
/// numeric IPv4 real line never comes near 128 bytes, a service line only
/// with a scheduler name of about 90. Bytes are stored one by one: a
/// `copy_from_slice` of a field's few bytes is a `memcpy` call.
struct LineBuf {
    buf: [u8; 128],
    len: usize,
    spoiled: bool,
}

impl Default for LineBuf {
    fn default() -> LineBuf {
        LineBuf {
            buf: [b' '; 128],
            len: 0,
            spoiled: false,
        }
    }
}

impl LineBuf {
    fn put(&mut self, bytes: &[u8]) {
        for b in bytes {
            match self.buf.get_mut(self.len) {
                Some(slot) => *slot = *b,
                None => self.spoiled = true,
            }
            self.len += 1;
        }
    }

    fn put_decimal(&mut self, v: u32) {
        self.len = write_decimal(&mut self.buf, self.len, v);
        if self.len > self.buf.len() {
            self.spoiled = true;
        }
    }

    /// `a.b.c.d:port`, numeric, for every line of a listing. The field
    /// is at most 21 bytes (`255.255.255.255:65535`): taken out of the
    /// row as one slice, so a row too short for it is spoiled once and
    /// what is written is checked against the slice. The row past what is
    /// written stays blank.
    fn put_addr_port(&mut self, a: std::net::Ipv4Addr, port: u16) {
        let Some(f) = self.buf.get_mut(self.len..self.len + 21) else {
            self.spoiled = true;
            return;
        };
        let mut n = 0;
        for (i, o) in a.octets().into_iter().enumerate() {
            if i > 0 {
                n = write_byte(f, n, b'.');
            }
            n = write_decimal(f, n, u32::from(o));
        }
        n = write_byte(f, n, b':');
        self.len += write_decimal(f, n, u32::from(port));
    }

    /// Blanks up to column `col` (`%-Ns` from where the field began): the
    /// row is blank already.
    fn pad_to(&mut self, col: usize) {
        self.len = self.len.max(col);
    }

    fn text(&self) -> Option<&str> {
        if self.spoiled {
            return None;
        }
        std::str::from_utf8(self.buf.get(..self.len)?).ok()
    }
}

/// Write `v` in decimal at `row[at..]` and return the position after it.
/// Digits past the row's end are counted but not written, so a caller
/// sees an overflow as a position past the end.
#[inline(always)]
fn write_decimal(row: &mut [u8], at: usize, v: u32) -> usize {
    // This runs several times for every line of a listing (four octets, a
    // port, a weight, two counters), mostly for numbers below 1,000: those
    // skip the higher powers, and each digit is one division by a
    // constant written in place. A digit buffer and a copy, or a length
    // loop first, cost the listing's number writing a third more
    // (callgrind, 11,000 lines).
    let mut n = at;
    if v >= 1000 {
        n = write_thousands(row, n, v / 1000);
    }
    if v >= 100 {
        n = write_byte(row, n, b'0' + (v / 100 % 10) as u8);
    }
    if v >= 10 {
        n = write_byte(row, n, b'0' + (v / 10 % 10) as u8);
    }
    write_byte(row, n, b'0' + (v % 10) as u8)
}

/// The digits of `k` (a number's thousands) for `write_decimal`, which
/// writes the last three: `write_decimal` itself, at most three levels
/// deep for a `u32`. Out of line, so that `write_decimal` stays small
/// enough to be inlined at each of its calls.
#[inline(never)]
fn write_thousands(row: &mut [u8], at: usize, k: u32) -> usize {
    write_decimal(row, at, k)
}

/// Write one byte at `row[at]` (counted even past the end, as in
/// `write_decimal`).
fn write_byte(row: &mut [u8], at: usize, b: u8) -> usize {
    if let Some(slot) = row.get_mut(at) {
        *slot = b;
    }
    at + 1
}

/// Pad what was written since `at` with blanks to `width` bytes (`%-Ns`).
fn pad_from(out: &mut String, at: usize, width: usize) {
    const BLANKS: &str = "                                ";
    let mut n = width.saturating_sub(out.len() - at);
    while n > 0 {
        let k = n.min(BLANKS.len());
        out.push_str(BLANKS.get(..k).unwrap_or_default());
        n -= k;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::cli::names::NoResolver;
    use crate::model::{Family, ServiceFlags};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A large varied table: both families, every protocol, fwmarks,
    /// persistence, every forwarding method, extreme weights and counters.
    fn big_table() -> Table {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut entries = Vec::new();
        for i in 0..1500u64 {
            let r = rnd();
            let addr: IpAddr = if r % 4 == 0 {
                Ipv6Addr::from(u128::from(rnd()) << (r % 64)).into()
            } else {
                Ipv4Addr::from(rnd() as u32).into()
            };
            let key = match r % 9 {
                0 => ServiceKey::Fwmark {
                    family: if i % 2 == 0 { Family::V4 } else { Family::V6 },
                    mark: rnd() as u32,
                },
                1 => ServiceKey::Addr {
                    protocol: Protocol::Udp,
                    addr,
                    port: rnd() as u16,
                },
                2 => ServiceKey::Addr {
                    protocol: Protocol::Sctp,
                    addr,
                    port: rnd() as u16,
                },
                _ => ServiceKey::Addr {
                    protocol: Protocol::Tcp,
                    addr,
                    port: rnd() as u16,
                },
            };
            let mut service = VirtualService::new(key);
            service.scheduler = ["wrr", "rr", "mh", "sh", "wlc"][(rnd() % 5) as usize].into();
            service.flags = ServiceFlags((rnd() % 64) as u32);
            service.timeout = (rnd() % 1000) as u32;
            let reals = (0..rnd() % 14)
                .map(|_| {
                    let a: IpAddr = if rnd() % 3 == 0 {
                        Ipv6Addr::from(u128::from(rnd()) << (rnd() % 64)).into()
                    } else {
                        Ipv4Addr::from(rnd() as u32).into()
                    };
                    let mut d = RealServer::new(a, rnd() as u16);
                    d.forward = [
                        Forward::Masq,
                        Forward::Local,
                        Forward::Tunnel,
                        Forward::Route,
                        Forward::Other(7),
                    ][(rnd() % 5) as usize];
                    d.weight = match rnd() % 4 {
                        0 => rnd() as i32,
                        1 => i32::MIN,
                        _ => (rnd() % 70000) as i32,
                    };
                    d.active_conns = if rnd() % 2 == 0 { rnd() as u32 } else { 0 };
                    d.inact_conns = (rnd() % 100_000) as u32;
                    d
                })
                .collect();
            entries.push(TableEntry { service, reals });
        }
        Table { entries }
    }

    #[test]
    fn the_numeric_fast_path_prints_what_the_general_formatter_prints() {
        // `-L` with a resolver that knows no name takes the general path
        // (`addrport`, `fmt` padding) and must print the same bytes as
        // `-Ln`'s direct writer, sorted or not.
        let info = VersionInfo {
            version: 0x010201,
            conn_tab_size: 4096,
        };
        let table = big_table();
        for nosort in [false, true] {
            let fast = Format {
                numeric: true,
                nosort,
                ..Format::default()
            };
            let general = Format {
                numeric: false,
                ..fast
            };
            let a = format_list_all(&info, &table, &fast, &NoResolver);
            let b = format_list_all(&info, &table, &general, &NoResolver);
            assert!(a.lines().count() > 10_000);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn decimals_and_addresses_match_the_standard_formatter_and_overflow_spoils() {
        let mut samples = vec![0u32, u32::MAX];
        for k in 1..10 {
            let p = 10u32.pow(k);
            samples.extend([p - 1, p, p + 1]);
        }
        for v in samples {
            let mut line = LineBuf::default();
            line.put(b"w ");
            line.put_decimal(v);
            assert_eq!(line.text(), Some(format!("w {v}").as_str()));
        }
        for (a, port) in [
            (Ipv4Addr::new(0, 0, 0, 0), 0),
            (Ipv4Addr::new(9, 10, 99, 100), 9),
            (Ipv4Addr::new(255, 255, 255, 255), 65535),
            (Ipv4Addr::new(10, 20, 3, 250), 10000),
        ] {
            let mut line = LineBuf::default();
            line.put_addr_port(a, port);
            assert_eq!(line.text(), Some(format!("{a}:{port}").as_str()));
        }
        // A number or an address that does not fit the row spoils it
        // instead of being cut short.
        let mut line = LineBuf::default();
        line.pad_to(120);
        line.put_decimal(123_456_789);
        assert_eq!(line.text(), None);
        let mut line = LineBuf::default();
        line.pad_to(110);
        line.put_addr_port(Ipv4Addr::LOCALHOST, 80);
        assert_eq!(line.text(), None);
        let mut line = LineBuf::default();
        line.pad_to(120);
        line.put_decimal(1_234_567);
        assert_eq!(line.text().map(str::len), Some(127));
    }
}
