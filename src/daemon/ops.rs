//! Operating a running director: the control-socket commands of `lvsd
//! drain|enable|weight|overrides|plan|confirm` and `reload --confirm`,
//! and the pure decisions behind them (which services a reload touches,
//! the maintenance set, how a plan is printed, when `drain --wait` is
//! done). The engine performs them (`daemon::engine`); the verbs send
//! them (`daemon::admin`).
//!
//! Wire form: one line, words separated by one space; names never hold a
//! space (they are checked by [`super::overrides`]), a path is the rest of
//! the line and may not hold a newline.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::kernel::Operation;
use crate::model::{RealServer, ServiceKey};
use crate::reconcile::RealKey;

use super::load::ConfigError;
use super::plan::{Plan, VirtualPlan};

/// Longest `--confirm` window and `drain --timeout`: one day.
pub const MAX_SECONDS: u64 = 86_400;

/// A command of the operations verbs, as sent over the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpRequest {
    /// `drain VIRTUAL REAL`: weight 0, the real stays in the table.
    Drain {
        /// VIRTUAL as typed.
        virt: String,
        /// REAL as typed.
        real: String,
    },
    /// `enable VIRTUAL REAL`: remove the real's override.
    Enable {
        /// VIRTUAL as typed.
        virt: String,
        /// REAL as typed.
        real: String,
    },
    /// `weight VIRTUAL REAL N`: this weight instead of the configured one.
    Weight {
        /// VIRTUAL as typed.
        virt: String,
        /// REAL as typed.
        real: String,
        /// The weight.
        weight: u32,
    },
    /// `conns VIRTUAL REAL`: the real's active and inactive connections
    /// (what `drain --wait` polls).
    Conns {
        /// VIRTUAL as typed.
        virt: String,
        /// REAL as typed.
        real: String,
    },
    /// `overrides`: list them.
    List,
    /// `overrides clear`: remove them all.
    Clear,
    /// `plan [PATH]`: what a reload with PATH (None: the running config
    /// file) would do to the kernel.
    Plan(Option<PathBuf>),
    /// `reload-confirm S`: reload, and roll back after S seconds unless
    /// `confirm` arrives.
    ReloadConfirm(u64),
    /// `confirm`: keep the reload that waits for confirmation.
    Confirm,
}

impl OpRequest {
    /// The line sent over the socket (without the newline).
    pub fn to_line(&self) -> Result<String, String> {
        Ok(match self {
            OpRequest::Drain { virt, real } => format!("drain {virt} {real}"),
            OpRequest::Enable { virt, real } => format!("enable {virt} {real}"),
            OpRequest::Weight { virt, real, weight } => format!("weight {virt} {real} {weight}"),
            OpRequest::Conns { virt, real } => format!("conns {virt} {real}"),
            OpRequest::List => "overrides".into(),
            OpRequest::Clear => "overrides clear".into(),
            OpRequest::Plan(None) => "plan".into(),
            OpRequest::Plan(Some(p)) => {
                let s = p
                    .to_str()
                    .ok_or_else(|| format!("{}: the file name is not UTF-8", p.display()))?;
                if s.contains(['\n', '\r']) {
                    return Err(format!("{s:?}: the file name holds a line break"));
                }
                format!("plan {s}")
            }
            OpRequest::ReloadConfirm(s) => format!("reload-confirm {s}"),
            OpRequest::Confirm => "confirm".into(),
        })
    }

    /// Parse a command line; None when it is no operations command.
    pub fn parse(line: &str) -> Option<Result<OpRequest, String>> {
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let words: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
        let pair = |words: &[&str]| -> Result<(String, String), String> {
            match words {
                [v, r] => Ok((v.to_string(), r.to_string())),
                _ => Err(format!("{verb}: expected VIRTUAL REAL")),
            }
        };
        Some(match verb {
            "drain" => pair(&words).map(|(virt, real)| OpRequest::Drain { virt, real }),
            "enable" => pair(&words).map(|(virt, real)| OpRequest::Enable { virt, real }),
            "conns" => pair(&words).map(|(virt, real)| OpRequest::Conns { virt, real }),
            "weight" => match words.as_slice() {
                [v, r, w] => super::overrides::parse_weight(w)
                    .map(|weight| OpRequest::Weight {
                        virt: v.to_string(),
                        real: r.to_string(),
                        weight,
                    })
                    .map_err(|e| e.to_string()),
                _ => Err("weight: expected VIRTUAL REAL N".into()),
            },
            "overrides" => match words.as_slice() {
                [] => Ok(OpRequest::List),
                ["clear"] => Ok(OpRequest::Clear),
                _ => Err("overrides: expected nothing or \"clear\"".into()),
            },
            "plan" if rest.is_empty() => Ok(OpRequest::Plan(None)),
            "plan" => Ok(OpRequest::Plan(Some(PathBuf::from(rest)))),
            "reload-confirm" => match words.as_slice() {
                [s] => parse_seconds(s).map(OpRequest::ReloadConfirm),
                _ => Err("reload-confirm: expected SECONDS".into()),
            },
            "confirm" if rest.is_empty() => Ok(OpRequest::Confirm),
            _ => return None,
        })
    }
}

/// Seconds for `--confirm` and `--timeout`: 1 to [`MAX_SECONDS`].
pub fn parse_seconds(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .parse()
        .ok()
        .filter(|_| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            format!(
                "invalid seconds {:?}: expected 1 to {MAX_SECONDS}",
                crate::model::text::sanitize(s)
            )
        })?;
    if !(1..=MAX_SECONDS).contains(&n) {
        return Err(format!("invalid seconds {n}: expected 1 to {MAX_SECONDS}"));
    }
    Ok(n)
}

/// Which services a reload from `old` to `new` reads and diffs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadScope {
    /// Virtuals whose definition changed, came or went.
    pub scope: HashSet<ServiceKey>,
    /// Virtuals of `old` that `new` has not: they are deleted.
    pub removed: HashSet<ServiceKey>,
    /// A change that concerns every virtual (`readdquiescent`).
    pub global: bool,
}

/// Only virtuals whose definition changed (or that came or went) are read
/// from the kernel and diffed: a reload of a 1000-virtual config with one
/// weight changed reads one service, not 1000. `readdquiescent` changes
/// what every quiesced real needs.
pub fn reload_scope(old: &Plan, new: &Plan) -> ReloadScope {
    let old_by_key: std::collections::HashMap<ServiceKey, &VirtualPlan> =
        old.virtuals.iter().map(|v| (v.key(), v)).collect();
    let removed: HashSet<ServiceKey> = old.keys().difference(&new.keys()).copied().collect();
    let mut scope: HashSet<ServiceKey> = new
        .virtuals
        .iter()
        .filter(|v| old_by_key.get(&v.key()) != Some(v))
        .map(|v| v.key())
        .collect();
    scope.extend(removed.iter().copied());
    ReloadScope {
        scope,
        removed,
        global: old.readdquiescent != new.readdquiescent,
    }
}

/// The reals of `plan` in maintenance, given the names found in the
/// maintenance directory: a file `RIP:PORT` or `RIP` (`[v6]` bracketed).
pub fn maintenance_set(names: &HashSet<String>, plan: &Plan) -> HashSet<RealKey> {
    let mut now = HashSet::new();
    if names.is_empty() {
        return now;
    }
    for v in &plan.virtuals {
        for (rk, _, _) in v.reals() {
            let host = match rk.addr {
                std::net::IpAddr::V4(a) => a.to_string(),
                std::net::IpAddr::V6(a) => format!("[{a}]"),
            };
            if names.contains(&format!("{host}:{}", rk.port)) || names.contains(&host) {
                now.insert(rk);
            }
        }
    }
    now
}

/// The operations of a pass as `ipvsadm` rules (numeric), one a line, in
/// the order they are sent: what `lvsd plan` prints.
pub fn render_changes(changes: &[Operation]) -> String {
    use crate::cli::save::{dest_rule, service_delete_rule, service_rule};
    let mut s = String::new();
    for c in changes {
        let line = match c {
            Operation::AddService(v) => service_rule("-A", v),
            Operation::EditService(v) => service_rule("-E", v),
            Operation::DelService(k) => service_delete_rule(k),
            Operation::AddDest(k, r) => dest_rule("-a", k, r),
            Operation::EditDest(k, r) => dest_rule("-e", k, r),
            // `-d` names only the service and the real.
            Operation::DelDest(k, a, p) => dest_rule("-d", k, &RealServer::new(*a, *p)),
            // A plan holds service and real changes only; say so rather
            // than print a rule that is not one.
            other => format!("# {}", other.cmd()),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// A message from a task the engine started back to the engine (through
/// its own request channel), so loads and timers never block it.
#[derive(Debug)]
pub enum Internal {
    /// `plan`: the candidate file was loaded.
    PlanLoaded(Box<Result<Plan, ConfigError>>, Reply),
    /// `reload --confirm`: the config file was loaded.
    ConfirmLoaded(Box<Result<Plan, ConfigError>>, u64, Reply),
    /// The confirmation window of reload number `.0` ended.
    ConfirmExpired(u64),
}

/// Where an operations command's answer goes.
pub type Reply = tokio::sync::oneshot::Sender<Result<String, String>>;

/// What `drain --wait` does after one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitStep {
    /// No active connection left: exit 0.
    Done,
    /// The timeout passed with connections still active.
    TimedOut(u64),
    /// Poll again; print this line first if any (the count changed).
    Again(Option<String>),
}

/// The progress of `drain --wait`: clock-injected, so it is tested
/// without sleeping.
#[derive(Debug, Clone)]
pub struct DrainWait {
    deadline: std::time::Instant,
    last: Option<u64>,
}

impl DrainWait {
    /// Wait until `now + timeout`.
    pub fn new(now: std::time::Instant, timeout: Duration) -> DrainWait {
        DrainWait {
            deadline: now + timeout,
            last: None,
        }
    }

    /// One poll's result: `active` connections of the real (None: the
    /// real is no longer in the kernel's table, so nothing is scheduled to
    /// it any more).
    pub fn step(&mut self, now: std::time::Instant, active: Option<u64>) -> WaitStep {
        match active {
            None | Some(0) => WaitStep::Done,
            Some(n) if now >= self.deadline => WaitStep::TimedOut(n),
            Some(n) => {
                let line = (self.last != Some(n)).then(|| format!("{n} active connections"));
                self.last = Some(n);
                WaitStep::Again(line)
            }
        }
    }
}

/// Exit code of `lvsd drain --wait` when the timeout passed with
/// connections still active (as `timeout(1)`).
pub const EXIT_TIMEOUT: i32 = 124;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_are_errors() {
        let all = [
            OpRequest::Drain {
                virt: "tcp:10.0.0.1:80".into(),
                real: "10.1.0.1:80".into(),
            },
            OpRequest::Enable {
                virt: "fwm:7".into(),
                real: "[::1]:80".into(),
            },
            OpRequest::Weight {
                virt: "udp:[::1]:53".into(),
                real: "10.1.0.1".into(),
                weight: 65536,
            },
            OpRequest::Conns {
                virt: "tcp:10.0.0.1:80".into(),
                real: "10.1.0.1:80".into(),
            },
            OpRequest::List,
            OpRequest::Clear,
            OpRequest::Plan(None),
            OpRequest::Plan(Some("/etc/ha.d/with space.cf".into())),
            OpRequest::ReloadConfirm(30),
            OpRequest::Confirm,
        ];
        for r in all {
            let line = r.to_line().unwrap();
            assert_eq!(OpRequest::parse(&line), Some(Ok(r)), "{line}");
        }
        assert_eq!(OpRequest::parse("status"), None);
        assert_eq!(OpRequest::parse("reload"), None);
        for bad in [
            "drain tcp:10.0.0.1:80",
            "drain a b c",
            "weight a b",
            "weight a b -1",
            "weight a b 2147483648",
            "overrides flush",
            "reload-confirm 0",
            "reload-confirm 86401",
            "reload-confirm x",
        ] {
            assert!(
                matches!(OpRequest::parse(bad), Some(Err(_))),
                "{bad} accepted"
            );
        }
        assert!(OpRequest::Plan(Some("/a\nb".into())).to_line().is_err());
    }

    #[test]
    fn drain_wait_prints_changes_and_stops_at_zero_or_the_timeout() {
        let t0 = std::time::Instant::now();
        let mut w = DrainWait::new(t0, Duration::from_secs(10));
        assert_eq!(
            w.step(t0, Some(3)),
            WaitStep::Again(Some("3 active connections".into()))
        );
        assert_eq!(
            w.step(t0 + Duration::from_secs(1), Some(3)),
            WaitStep::Again(None)
        );
        assert_eq!(
            w.step(t0 + Duration::from_secs(2), Some(1)),
            WaitStep::Again(Some("1 active connections".into()))
        );
        assert_eq!(w.step(t0 + Duration::from_secs(3), Some(0)), WaitStep::Done);
        let mut w = DrainWait::new(t0, Duration::from_secs(10));
        assert_eq!(
            w.step(t0 + Duration::from_secs(10), Some(2)),
            WaitStep::TimedOut(2)
        );
        // A real that left the table has nothing scheduled to it.
        assert_eq!(w.step(t0, None), WaitStep::Done);
    }
}
