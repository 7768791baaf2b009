//! What the daemon runs from: the parsed config reduced to the settings
//! the daemon acts on. Built from `config::ldirectord::Config` by
//! [`Plan::from_config`]; tests build it directly.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::model::{CheckSpec, CheckType, RealServer, ServiceKey};
use crate::reconcile::{RealKey, VirtualSpec};

/// Daemon states in which alert mails are sent (`emailalertstatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Initial table and first checks.
    Starting,
    /// Normal operation.
    Running,
    /// Shutting down.
    Stopping,
    /// Applying a new config.
    Reloading,
}

impl Phase {
    /// ldirectord's word for the phase (used in mail bodies).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Reloading => "reloading",
        }
    }
}

/// Mail alert settings of one virtual (`emailalert*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alerts {
    /// Recipients; empty = no mail.
    pub to: Vec<String>,
    /// `emailalertfrom`.
    pub from: Option<String>,
    /// Resend "Inaccessible real server" while down (0 = never).
    pub freq: Duration,
    /// Phases in which mail is sent.
    pub phases: HashSet<Phase>,
    /// `servicename` (subject prefix).
    pub servicename: Option<String>,
    /// `comment` (body line).
    pub comment: Option<String>,
    /// `smtp`: send through this SMTP server (port 25) instead of the
    /// local MTA.
    pub smtp: Option<String>,
}

/// One real server with how it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealPlan {
    /// The real as configured (weight, forwarding, thresholds).
    pub server: RealServer,
    /// Its check.
    pub check: CheckSpec,
}

/// One virtual service and everything the daemon does for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualPlan {
    /// Table definition: service, reals, fallback, quiescent.
    pub spec: VirtualSpec,
    /// Per-real check specs, same order as `spec.reals` (the reals that
    /// run their virtual's check share one).
    pub checks: Vec<Arc<CheckSpec>>,
    /// `cleanstop`: delete the service from the kernel on stop.
    pub cleanstop: bool,
    /// `fallbackcommand`, run as `CMD start|stop VIP:VPORT PROTO`.
    pub fallbackcommand: Option<String>,
    /// Mail alerts.
    pub alerts: Alerts,
    /// `monitorfile`: one line per check of this virtual's reals.
    pub monitorfile: Option<PathBuf>,
}

impl VirtualPlan {
    /// The service key.
    pub fn key(&self) -> ServiceKey {
        self.spec.service.key
    }

    /// Every real with its check, in config order.
    pub fn reals(&self) -> impl Iterator<Item = (RealKey, &RealServer, &CheckSpec)> {
        let key = self.key();
        self.spec
            .reals
            .iter()
            .zip(self.checks.iter())
            .map(move |(r, c)| (RealKey::of(key, r), r, c.as_ref()))
    }
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Virtual services in config order.
    pub virtuals: Vec<VirtualPlan>,
    /// `autoreload`: watch the file and reload on change.
    pub autoreload: bool,
    /// `callback`: run with the config path when the file changes.
    pub callback: Option<String>,
    /// `maintenancedir`: a real is out while a file named after it exists.
    pub maintenancedir: Option<PathBuf>,
    /// `readdquiescent`.
    pub readdquiescent: bool,
    /// `supervised`: stay in the foreground, no pid file.
    pub supervised: bool,
    /// `checkinterval` (global): cadence of autoreload polling and alert resends.
    pub checkinterval: Duration,
    /// `logfile`, when it names a file (starts with `/`).
    pub logfile: Option<PathBuf>,
    /// `execute`: other configurations run as their own lvsd instances,
    /// started, reloaded and stopped with this one.
    pub execute: Vec<String>,
}

impl Plan {
    /// Keys of every virtual service in the plan.
    pub fn keys(&self) -> HashSet<ServiceKey> {
        self.virtuals.iter().map(|v| v.key()).collect()
    }

    /// The table definitions, for [`crate::reconcile::desired`].
    pub fn specs(&self) -> Vec<VirtualSpec> {
        self.virtuals.iter().map(|v| v.spec.clone()).collect()
    }

    /// Health that needs no check: `checktype=on` is always up, `off`
    /// never (ldirectord forces such reals down at start and reload).
    pub fn static_health(check: &CheckSpec) -> Option<bool> {
        match check.checktype {
            CheckType::On => Some(true),
            CheckType::Off => Some(false),
            _ => None,
        }
    }
}
