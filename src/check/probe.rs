//! `lvsd probe`: run every check once, concurrently, and format one line per
//! real server. The binary only parses arguments and prints.

use std::time::Duration;

use super::run_once;
use super::spec::{CheckSpec, Target};

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
            let (up, reason) = match r {
                Ok(s) => (true, s),
                Err(e) => (false, e.to_string()),
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
