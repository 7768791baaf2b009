//! `lvsd check-config [FILE]`: parse an ldirectord.cf the way the daemon
//! would, then print the IPVS table it describes (every real healthy) in
//! `ipvsadm -Sn` format, so `lvsd check-config f | lvsadm -R` programs it
//! and it can be diffed against `lvsadm -Sn` on a running director.
//! Pure: returns exit code and output text; the binary prints them.

use std::path::Path;

use crate::config::ldirectord::{find_config, Config};

/// Result of one `check-config` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Process exit code: 0 valid, 1 invalid or missing.
    pub code: i32,
    /// Text for stdout (the table; empty on error).
    pub stdout: String,
    /// Text for stderr (errors, or warnings on success).
    pub stderr: String,
}

/// Check the config named `path` (looked up as ldirectord does; default
/// `ldirectord.cf` under /etc/ha.d).
pub fn check_config(path: Option<&Path>) -> Outcome {
    let file = match find_config(path) {
        Ok(f) => f,
        Err(e) => return failure(vec![e.to_string()]),
    };
    match Config::load(&file) {
        Ok(cfg) => {
            let stderr: String = cfg
                .warnings
                .iter()
                .map(|w| format!("lvsd: warning: {w}\n"))
                .collect();
            Outcome {
                code: 0,
                stdout: save(&cfg.table()),
                stderr,
            }
        }
        Err(e) => failure(e.diagnostics()),
    }
}

fn failure(lines: Vec<String>) -> Outcome {
    Outcome {
        code: 1,
        stdout: String::new(),
        stderr: lines.iter().map(|l| format!("lvsd: {l}\n")).collect(),
    }
}

/// Stand-in for `crate::cli::save::format_save(table, true)` until the CLI
/// formatter is merged (unsorted; no thresholds, as ipvsadm -S).
fn save(table: &crate::model::Table) -> String {
    use crate::model::{Forward, ServiceFlags, ServiceKey};
    let mut out = String::new();
    for e in &table.entries {
        let s = &e.service;
        let key = match s.key {
            ServiceKey::Fwmark { family, mark } => match family {
                crate::model::Family::V4 => format!("-f {mark}"),
                crate::model::Family::V6 => format!("-f {mark} -6"),
            },
            k => {
                let t = k.to_string();
                let (p, a) = t.split_once(' ').unwrap_or(("", ""));
                let flag = if p == "UDP" { "-u" } else { "-t" };
                format!("{flag} {a}")
            }
        };
        out.push_str(&format!("-A {key} -s {}", s.scheduler));
        if s.persistent() {
            out.push_str(&format!(" -p {}", s.timeout));
            let dflt = match s.key.family() {
                crate::model::Family::V4 => 0xffff_ffff,
                crate::model::Family::V6 => 128,
            };
            if s.netmask != dflt {
                match s.key.family() {
                    crate::model::Family::V4 => {
                        out.push_str(&format!(" -M {}", std::net::Ipv4Addr::from(s.netmask)))
                    }
                    crate::model::Family::V6 => out.push_str(&format!(" -M {}", s.netmask)),
                }
            }
        }
        if s.flags.has(ServiceFlags::ONEPACKET) {
            out.push_str(" -o");
        }
        out.push('\n');
        for r in &e.reals {
            let a = match r.addr {
                std::net::IpAddr::V4(a) => format!("{a}:{}", r.port),
                std::net::IpAddr::V6(a) => format!("[{a}]:{}", r.port),
            };
            let f = match r.forward {
                Forward::Masq => "-m",
                Forward::Tunnel => "-i",
                _ => "-g",
            };
            out.push_str(&format!("-a {key} -r {a} {f} -w {}\n", r.weight));
        }
    }
    out
}
