//! Adapter between the daemon engine and the check engine.
//!
//! TODO(issue 4): drive `crate::check::Engine` once it is merged. Until
//! then this adapter runs no checks: `checktype=on|off` reals get their
//! static health from the engine, every other real stays "unknown" (down).

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::engine::{CheckReport, CheckRunner};
use super::plan::Plan;
use crate::reconcile::RealKey;

/// Runs the checks of a plan.
pub struct CheckAdapter {
    _tx: mpsc::Sender<CheckReport>,
}

impl CheckAdapter {
    /// An adapter reporting to `tx`.
    pub fn new(tx: mpsc::Sender<CheckReport>) -> CheckAdapter {
        CheckAdapter { _tx: tx }
    }
}

impl CheckRunner for CheckAdapter {
    fn update(&self, plan: &Plan, _known: &HashMap<RealKey, bool>) {
        let n = plan
            .virtuals
            .iter()
            .flat_map(|v| v.checks.iter())
            .filter(|c| Plan::static_health(c).is_none())
            .count();
        if n > 0 {
            tracing::warn!("{n} reals need health checks, which this build cannot run yet");
        }
    }

    fn shutdown(&self) {}
}
