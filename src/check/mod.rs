//! Health checks of real servers; emits health changes as typed events.
//!
//! One tokio task per (virtual, real) check, no process per check (only
//! `external` checks spawn their command). The engine ([`Engine`]) schedules
//! checks with jitter and a global concurrency bound, applies failurecount,
//! and sends [`Event`]s when a real's health changes. [`run_once`] runs a
//! single check (used by `lvsd probe`).
//!
//! Never touches the IPVS table. May use: `model`, `config` (check specs).

pub mod agent;
pub mod connect;
pub mod engine;
pub mod external;
pub mod limit;
pub mod negotiate;
pub mod ping;
pub mod probe;
pub mod schedule;
pub mod spare;
pub mod spec;
pub mod ticker;

pub use ticker::Started;

#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
pub(crate) mod hostile;

use std::io;
use std::time::Duration;

pub use engine::{CheckEntry, Engine, EngineOptions, Event};
pub use schedule::Step;
pub use spec::{CheckSpec, CheckType, HttpMethod, Protocol, Service, Target};

/// Why a check failed. The `Display` text is the "reason" shown to users.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Nothing listens on the port.
    #[error("connection refused")]
    Refused,
    /// No complete answer within the check's timeout.
    #[error("timed out after {}s", .0.as_secs_f64())]
    Timeout(Duration),
    /// Connecting (or sending) failed for another reason.
    #[error("connect failed: {0}")]
    Connect(io::Error),
    /// The peer closed the connection before answering.
    #[error("connection closed by peer{0}")]
    Closed(String),
    /// The server answered, but not what the check expects.
    #[error("wrong answer: {0}")]
    Mismatch(String),
    /// Protocol or I/O error during the conversation.
    #[error("{0}")]
    Protocol(String),
    /// The server sent more than a check may read ([`limit::MAX_READ`]).
    #[error("answer longer than {0} bytes (the check's read limit)")]
    TooLong(u64),
    /// `checktype=off`: never checked, never activated.
    #[error("checktype off (never checked)")]
    Off,
    /// The check cannot run as configured.
    #[error("configuration: {0}")]
    Config(String),
}

impl CheckError {
    /// Classify an I/O error from a connect or a conversation.
    pub fn from_io(e: io::Error) -> CheckError {
        if let Some(n) = limit::is_too_long(&e) {
            return CheckError::TooLong(n);
        }
        match e.kind() {
            io::ErrorKind::ConnectionRefused => CheckError::Refused,
            io::ErrorKind::UnexpectedEof => CheckError::Closed(String::new()),
            io::ErrorKind::ConnectionReset => CheckError::Closed(" (reset)".into()),
            _ => CheckError::Connect(e),
        }
    }

    /// Classify an error of a client library: a refused connection anywhere
    /// in its source chain becomes [`CheckError::Refused`].
    pub fn from_lib(prefix: &str, e: &(dyn std::error::Error + 'static)) -> CheckError {
        if let Some(n) = limit::is_too_long(e) {
            return CheckError::TooLong(n);
        }
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(io) = err.downcast_ref::<io::Error>() {
                if io.kind() == io::ErrorKind::ConnectionRefused {
                    return CheckError::Refused;
                }
            }
            cur = err.source();
        }
        let text = e.to_string();
        if text.contains("Connection refused") {
            return CheckError::Refused;
        }
        CheckError::Protocol(format!("{prefix}: {text}"))
    }
}

/// Result of one check: on success a short description of the answer.
pub type CheckResult = Result<String, CheckError>;

/// One check's result with what it says about the real's weight.
#[derive(Debug)]
pub struct Outcome {
    /// Up (with a description) or down (with the reason).
    pub result: CheckResult,
    /// A weight the check sets for the real instead of its configured one
    /// (a `dynamic_weight` external check exiting 2..=255); None: the
    /// configured weight.
    pub weight: Option<u32>,
}

impl From<CheckResult> for Outcome {
    fn from(result: CheckResult) -> Outcome {
        Outcome {
            result,
            weight: None,
        }
    }
}

/// [`run_step_at`], with the weight a `dynamic_weight` external check sets.
pub async fn run_step_weighted(
    spec: &CheckSpec,
    target: &Target,
    step: Step,
    started: Started,
) -> Outcome {
    match step {
        Step::External if spec.policy.dynamic_weight => external::check_dynamic(spec, target).await,
        _ => run_step_at(spec, target, step, started).await.into(),
    }
}

/// Run one check of `spec` against `target` once, with its timeout.
/// `step` chooses negotiate or connect for combined checks (see [`Step`]).
pub async fn run_step(spec: &CheckSpec, target: &Target, step: Step) -> CheckResult {
    run_step_at(spec, target, step, Started::now()).await
}

/// [`run_step`] for a check that started at `started` (the engine read the
/// clock already): connect and negotiate timeouts count from there, on the
/// timer `started` names.
pub async fn run_step_at(
    spec: &CheckSpec,
    target: &Target,
    step: Step,
    started: Started,
) -> CheckResult {
    match step {
        Step::Connect => connect::check(spec, target, started).await,
        Step::Negotiate => negotiate::check(spec, target, started).await,
        Step::Ping => ping::check(spec, target).await,
        // Boxed: a child process's future is large, and this one is
        // allocated per check (see `negotiate::dispatch`).
        Step::External => Box::pin(external::check(spec, target)).await,
        Step::On => Ok("checktype on".into()),
        Step::Off => Err(CheckError::Off),
    }
}

/// Run the first check a fresh real would get (negotiate for combined).
pub async fn run_once(spec: &CheckSpec, target: &Target) -> CheckResult {
    run_once_weighted(spec, target).await.result
}

/// [`run_once`], with the weight a `dynamic_weight` external check sets.
pub async fn run_once_weighted(spec: &CheckSpec, target: &Target) -> Outcome {
    if let Err(e) = spec::validate(spec) {
        return Err(CheckError::Config(e)).into();
    }
    let step = schedule::CheckState::new(spec.checktype).next_step(spec);
    run_step_weighted(spec, target, step, Started::now()).await
}
