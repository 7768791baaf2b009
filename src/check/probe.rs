//! `lvsd probe`: run every check once, concurrently, and format one line per
//! real server. The binary only parses arguments and prints.

use std::path::Path;
use std::time::Duration;

use super::run_once;
use super::spec::{CheckSpec, Target};
use crate::config::ldirectord::{find_config, Config};
use crate::model::{ServiceKey, VirtualName};

/// ldirectord's virtual id: `tcp:VIP:PORT`, `udp:[V6]:PORT`, `fwm:MARK`, `fwm6:MARK`.
pub fn virtual_id(key: &ServiceKey) -> String {
    VirtualName::of(key).to_string()
}

/// Every (virtual id, check, target) of a parsed ldirectord configuration.
pub fn checks_of(cfg: &Config) -> Vec<(String, CheckSpec, Target)> {
    let mut out = Vec::new();
    for v in &cfg.virtuals {
        let vid = virtual_id(&v.key);
        // external checks get the VIP (or the mark) and the virtual port
        let (vhost, vport) = match &v.key {
            ServiceKey::Addr { addr, port, .. } => (addr.to_string(), *port),
            ServiceKey::Fwmark { mark, .. } => (mark.to_string(), 0),
        };
        for r in &v.reals {
            out.push((
                vid.clone(),
                CheckSpec::clone(&r.check),
                Target {
                    real: r.addr,
                    real_port: r.port,
                    virtual_host: vhost.clone(),
                    virtual_port: vport,
                },
            ));
        }
    }
    out
}

/// What `lvsd probe` prints and exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code: 0 after probing (whatever the results), 1 if the
    /// configuration could not be read.
    pub code: i32,
    /// One line per real server.
    pub stdout: String,
    /// Errors and warnings.
    pub stderr: String,
}

/// `lvsd probe [FILE]`: load the configuration (found as ldirectord finds
/// it), run every check once concurrently, one line per real:
/// `VIRTUAL REAL up|down REASON`.
pub fn probe_main(file: Option<&Path>) -> Outcome {
    let fail = |msg: Vec<String>| Outcome {
        code: 1,
        stdout: String::new(),
        stderr: msg.iter().map(|l| format!("lvsd: {l}\n")).collect(),
    };
    let path = match find_config(file) {
        Ok(p) => p,
        Err(e) => return fail(vec![e.to_string()]),
    };
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => return fail(e.diagnostics()),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(vec![format!("cannot start the runtime: {e}")]),
    };
    let lines = rt.block_on(probe_all(checks_of(&cfg), 256));
    Outcome {
        code: 0,
        stdout: lines.iter().map(|l| format!("{l}\n")).collect(),
        stderr: cfg
            .warnings
            .iter()
            .map(|w| format!("lvsd: warning: {w}\n"))
            .collect(),
    }
}

/// One probe result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeLine {
    /// Virtual service as shown (`tcp:VIP:PORT`, `fwm:MARK`, ...).
    pub virtual_id: String,
    /// Real server as shown (`RIP:PORT`).
    pub real: String,
    /// Result.
    pub up: bool,
    /// Why.
    pub reason: String,
    /// How long the check took.
    pub latency: Duration,
}

impl std::fmt::Display for ProbeLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.virtual_id,
            self.real,
            if self.up { "up" } else { "down" },
            self.reason
        )
    }
}

/// Run every `(virtual id, spec, target)` once, at most `concurrency` at a
/// time, and return the results in input order.
pub async fn probe_all(
    checks: Vec<(String, CheckSpec, Target)>,
    concurrency: usize,
) -> Vec<ProbeLine> {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let n = checks.len();
    for (i, (virtual_id, spec, target)) in checks.into_iter().enumerate() {
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire().await;
            let t0 = tokio::time::Instant::now();
            let r = run_once(&spec, &target).await;
            let latency = t0.elapsed();
            // printed on a terminal: no escape sequences or line breaks
            let (up, reason) = match r {
                Ok(s) => (true, crate::model::text::sanitize(&s)),
                Err(e) => (false, crate::model::text::sanitize(&e.to_string())),
            };
            (
                i,
                ProbeLine {
                    virtual_id,
                    real: target.to_string(),
                    up,
                    reason,
                    latency,
                },
            )
        });
    }
    let mut out: Vec<Option<ProbeLine>> = vec![None; n];
    while let Some(r) = set.join_next().await {
        if let Ok((i, line)) = r {
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(line);
            }
        }
    }
    out.into_iter().flatten().collect()
}
