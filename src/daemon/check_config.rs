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
                stdout: crate::cli::save::format_save(&cfg.table(), true),
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
