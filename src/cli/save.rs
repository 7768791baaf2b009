//! The `ipvsadm -S` / `-Sn` rule format (ipvsadm 1.31, `FMT_RULE`).
//!
//! Called by `cli::run` for `-S` and by `lvsd check-config`. Pure apart
//! from name look-ups through the given `Resolver`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::names::{addrport, NoResolver, Resolver, SystemResolver};
use super::sort::{cmp_dests, cmp_services, glibc_msort};
use crate::model::{
    Family, Forward, Protocol, RealServer, ServiceFlags, ServiceKey, Table, TableEntry, TunnelType,
    VirtualService,
};

/// `IP_VS_SVC_F_SCHED1 | SCHED2 | SCHED3`.
pub(crate) const SCHED_FLAGS: u32 =
    ServiceFlags::SCHED1 | ServiceFlags::SCHED2 | ServiceFlags::SCHED3;

/// The exact `ipvsadm -S` (`numeric = false`) or `-Sn` output for `table`,
/// services and real servers sorted as ipvsadm sorts them.
pub fn format_save(table: &Table, numeric: bool) -> String {
    if numeric {
        format_save_with(table, true, &NoResolver)
    } else {
        format_save_with(table, false, &SystemResolver)
    }
}

/// [`format_save`] with an explicit resolver (and optional `--nosort`).
pub fn format_save_with(table: &Table, numeric: bool, res: &dyn Resolver) -> String {
    let mut out = String::new();
    for e in sorted_entries(table, true) {
        write_rules(&mut out, &e, numeric, res);
    }
    out
}

/// A table entry borrowed in listing order: sorting references, not
/// entries, because the merge sort copies at every level and a deep copy
/// of a 1,000-service table per level was a tenth of `lvsadm -Ln`.
pub(crate) struct EntryRef<'a> {
    /// The service.
    pub service: &'a VirtualService,
    /// Its real servers, in listing order.
    pub reals: Vec<&'a RealServer>,
}

impl<'a> EntryRef<'a> {
    /// The entry with its reals sorted as ipvsadm sorts them, or in kernel
    /// order.
    pub(crate) fn new(e: &'a TableEntry, sort: bool) -> EntryRef<'a> {
        let mut reals: Vec<&RealServer> = e.reals.iter().collect();
        if sort {
            glibc_msort(&mut reals, &|a: &&RealServer, b: &&RealServer| {
                cmp_dests(a, b)
            });
        }
        EntryRef {
            service: &e.service,
            reals,
        }
    }
}

/// Table entries in ipvsadm's order: services sorted, and each service's
/// real servers sorted, unless `sort` is false (`--nosort`).
pub(crate) fn sorted_entries(table: &Table, sort: bool) -> Vec<EntryRef<'_>> {
    let mut entries: Vec<&TableEntry> = table.entries.iter().collect();
    if sort {
        glibc_msort(&mut entries, &|a: &&TableEntry, b: &&TableEntry| {
            cmp_services(&a.service, &b.service)
        });
    }
    entries
        .into_iter()
        .map(|e| EntryRef::new(e, sort))
        .collect()
}

/// The `IPPROTO_*` number libipvs reports for a service (0 for fwmark).
pub(crate) fn svc_proto(s: &VirtualService) -> u16 {
    match s.key {
        ServiceKey::Addr { protocol, .. } => protocol.number(),
        ServiceKey::Fwmark { .. } => 0,
    }
}

/// ipvsadm's `print_sched_flags`: names depend on the scheduler.
pub(crate) fn sched_flags_text(s: &VirtualService) -> String {
    let f = s.flags;
    let mut names: Vec<&str> = Vec::new();
    match s.scheduler.as_str() {
        "sh" | "mh" => {
            let sh = s.scheduler == "sh";
            if f.has(ServiceFlags::SCHED1) {
                names.push(if sh { "sh-fallback" } else { "mh-fallback" });
            }
            if f.has(ServiceFlags::SCHED2) {
                names.push(if sh { "sh-port" } else { "mh-port" });
            }
        }
        _ => {
            if f.has(ServiceFlags::SCHED1) {
                names.push("flag-1");
            }
            if f.has(ServiceFlags::SCHED2) {
                names.push("flag-2");
            }
            if f.has(ServiceFlags::SCHED3) {
                names.push("flag-3");
            }
        }
    }
    names.join(",")
}

/// The persistence netmask as ipvsadm prints it, or None for the default.
pub(crate) fn netmask_text(s: &VirtualService) -> Option<String> {
    match s.key.family() {
        Family::V4 if s.netmask != 0xffff_ffff => Some(Ipv4Addr::from(s.netmask).to_string()),
        // The kernel stores the IPv6 prefix length; printed with %i.
        Family::V6 if s.netmask != 128 => Some((s.netmask as i32).to_string()),
        _ => None,
    }
}

/// `fwd_switch`: glibc prints a NULL `%s` as `(null)`.
fn fwd_switch(f: Forward) -> &'static str {
    match f {
        Forward::Masq => "-m",
        Forward::Tunnel => "-i",
        Forward::Local | Forward::Route => "-g",
        Forward::Other(_) => "(null)",
    }
}

/// `tun_flags_opts[e->tun_flags]`.
fn tun_flag_opt(flags: u16) -> &'static str {
    match flags {
        0 => "--tun-nocsum",
        1 => "--tun-csum",
        2 => "--tun-remcsum",
        // Out of ipvsadm's table (undefined there); never from ipvsadm itself.
        _ => "(null)",
    }
}

/// The `-t addr:port` / `-f mark [-6]` part of a rule.
fn rule_svc_name(s: &VirtualService, numeric: bool, res: &dyn Resolver) -> String {
    match s.key {
        ServiceKey::Fwmark { family, mark } => match family {
            // ipvsadm prints the mark with %d.
            Family::V6 => format!("-f {} -6", mark as i32),
            Family::V4 => format!("-f {}", mark as i32),
        },
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let stype = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
                Protocol::Other(_) => "--xxx-service",
            };
            let v = addrport(&addr, port, protocol.number(), numeric, res);
            format!("{stype} {v}")
        }
    }
}

/// One numeric rule for a service, in `ipvsadm -Sn` form with `cmd` in
/// place of `-A`: `-A -t 10.0.0.1:80 -s wrr -p 300` (`-E` edits). `lvsd
/// plan` prints the operations of a reload this way.
pub fn service_rule(cmd: &str, s: &VirtualService) -> String {
    let mut out = String::new();
    write_service(&mut out, cmd, s, &rule_svc_name(s, true, &NoResolver));
    out
}

/// `-D -t 10.0.0.1:80`: the numeric rule deleting a service.
pub fn service_delete_rule(key: &ServiceKey) -> String {
    let s = VirtualService::new(*key);
    format!("-D {}", rule_svc_name(&s, true, &NoResolver))
}

/// One numeric rule for a real server of `key`, in `ipvsadm -Sn` form with
/// `cmd` in place of `-a` (`-e` edits); `-d` prints only the names.
pub fn dest_rule(cmd: &str, key: &ServiceKey, d: &RealServer) -> String {
    let s = VirtualService::new(*key);
    let name = rule_svc_name(&s, true, &NoResolver);
    let proto = svc_proto(&s);
    if cmd == "-d" {
        let dname = addrport(&d.addr, d.port, proto, true, &NoResolver);
        return format!("-d {name} -r {dname}");
    }
    let mut out = String::new();
    write_dest_rule(&mut out, &name, d, proto, true, &NoResolver);
    let line = out.trim_end_matches('\n');
    match line.strip_prefix("-a ") {
        Some(rest) => format!("{cmd} {rest}"),
        None => line.to_string(),
    }
}

fn write_rules(out: &mut String, e: &EntryRef<'_>, numeric: bool, res: &dyn Resolver) {
    let s = e.service;
    let name = rule_svc_name(s, numeric, res);
    write_service(out, "-A", s, &name);
    out.push('\n');
    let proto = svc_proto(s);
    for d in &e.reals {
        write_dest_rule(out, &name, d, proto, numeric, res);
    }
}

fn write_service(out: &mut String, cmd: &str, s: &VirtualService, name: &str) {
    let _ = write!(out, "{cmd} {name} -s {}", s.scheduler);
    if s.persistent() {
        let _ = write!(out, " -p {}", s.timeout);
        if let Some(m) = netmask_text(s) {
            let _ = write!(out, " -M {m}");
        }
    }
    if let Some(pe) = s.pe_name.as_deref().filter(|p| !p.is_empty()) {
        let _ = write!(out, " --pe {pe}");
    }
    if s.flags.has(ServiceFlags::ONEPACKET) {
        out.push_str(" -o");
    }
    if s.flags.0 & SCHED_FLAGS != 0 {
        let _ = write!(out, " -b {}", sched_flags_text(s));
    }
}

fn write_dest_rule(
    out: &mut String,
    svc: &str,
    d: &RealServer,
    proto: u16,
    numeric: bool,
    res: &dyn Resolver,
) {
    let dname = addrport(&d.addr, d.port, proto, numeric, res);
    let sw = fwd_switch(d.forward);
    let _ = write!(out, "-a {svc} -r {dname} {sw} -w {}", d.weight);
    if d.forward == Forward::Tunnel {
        match d.tun_type {
            TunnelType::Gre => {
                let _ = write!(out, " --tun-type gre {}", tun_flag_opt(d.tun_flags.0));
            }
            TunnelType::Gue => {
                let _ = write!(
                    out,
                    " --tun-type gue --tun-port {} {}",
                    d.tun_port,
                    tun_flag_opt(d.tun_flags.0)
                );
            }
            TunnelType::Ipip => out.push_str(" --tun-type ipip"),
        }
    }
    out.push('\n');
}
