//! `[[hook]]`s of `lvsd.toml`: a program run for each event of the kinds
//! it lists, directly (no shell), with the event in its environment and a
//! time limit.
//!
//! Bounded whatever the events do (a flapping real can make hundreds a
//! second): the bus hands each (hook, event) pair to a queue of
//! [`QUEUE`] entries without waiting; a pair that finds it full is
//! dropped, counted and logged. At most [`CONCURRENCY`] hooks run at
//! once; each runs in its own process group (`child::run`),
//! killed whole at its timeout, and whatever it leaves running when it
//! exits is killed too (a hook is a notification: something meant to
//! last must detach with `setsid` or `systemd-run`). Its stdin, stdout and
//! stderr are /dev/null, so nothing it prints reaches the daemon's log
//! unsanitized.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::child::{self, Leftovers, Outcome};
use crate::model::text::sanitize;
use crate::model::EventHook;

use super::events::{rfc3339, Event, Sink};

/// Hook runs waiting to start.
pub const QUEUE: usize = 64;

/// Hooks running at once.
pub const CONCURRENCY: usize = 4;

/// `PATH` of a hook (its environment is otherwise only the event).
pub const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Longest wait for running hooks when the daemon stops; then they are
/// killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The environment a hook gets for `ev` (besides `PATH`): `LVSD_EVENT`,
/// `LVSD_SEQ`, `LVSD_TIME` and, when the event has them, `LVSD_VIRTUAL`,
/// `LVSD_REAL`, `LVSD_REASON`, `LVSD_ROLE`, `LVSD_PREV_ROLE`. Every value
/// is one sanitized line.
pub fn environment(ev: &Event) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("LVSD_EVENT", ev.data.kind.name().to_string()),
        ("LVSD_SEQ", ev.seq.to_string()),
        ("LVSD_TIME", rfc3339(ev.at)),
    ];
    for (k, v) in ev.fields() {
        let name = match k {
            "virtual" => "LVSD_VIRTUAL",
            "real" => "LVSD_REAL",
            "reason" => "LVSD_REASON",
            "role" => "LVSD_ROLE",
            "previous_role" => "LVSD_PREV_ROLE",
            _ => continue,
        };
        // The bus sanitized already; again here, so this function is safe
        // whoever built the event.
        env.push((name, sanitize(v)));
    }
    env
}

struct Job {
    hook: usize,
    event: Arc<Event>,
}

/// Handle on the hook runner.
#[derive(Debug, Clone)]
pub struct Hooks {
    dropped: Arc<AtomicU64>,
}

impl Hooks {
    /// Hook runs dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Start the runner for `hooks`: returns the sink to give the bus, a
/// handle, and the task (it ends after `shutdown` flips, once running
/// hooks ended or were killed).
pub fn start(
    hooks: Vec<EventHook>,
    shutdown: watch::Receiver<bool>,
) -> (Sink, Hooks, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Job>(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let hooks = Arc::new(hooks);
    let d = dropped.clone();
    let h = hooks.clone();
    let sink: Sink = Box::new(move |ev: &Arc<Event>| {
        for (i, hook) in h.iter().enumerate() {
            if !hook.on.contains(&ev.data.kind) {
                continue;
            }
            let job = Job {
                hook: i,
                event: ev.clone(),
            };
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(job) {
                let n = d.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    dropped = n,
                    seq = ev.seq,
                    hook = %hook.argv.first().map(|p| sanitize(p)).unwrap_or_default(),
                    "hook queue full ({QUEUE}); hook run dropped"
                );
            }
        }
    });
    let task = tokio::spawn(dispatch(hooks, rx, shutdown));
    (sink, Hooks { dropped }, task)
}

async fn dispatch(
    hooks: Arc<Vec<EventHook>>,
    mut rx: mpsc::Receiver<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let job = tokio::select! {
            _ = shutdown.changed() => break,
            j = rx.recv() => match j {
                Some(j) => j,
                None => break,
            },
        };
        let permit = tokio::select! {
            _ = shutdown.changed() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let Some(hook) = hooks.get(job.hook).cloned() else {
            continue;
        };
        running.spawn(async move {
            let _permit = permit;
            run(&hook, &job.event).await;
        });
    }
    let drained = tokio::time::timeout(STOP_GRACE, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            hooks = running.len(),
            "hooks still running at stop; killing them"
        );
        // Dropping a run kills its process group (`child`).
        running.abort_all();
        while running.join_next().await.is_some() {}
    }
}

/// Run one hook for one event, to its end or its timeout; logs how it
/// ended.
pub async fn run(hook: &EventHook, ev: &Event) {
    let Some((prog, args)) = hook.argv.split_first() else {
        return;
    };
    let mut c = Command::new(prog);
    c.args(args)
        .env_clear()
        .env("PATH", HOOK_PATH)
        .envs(environment(ev))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let name = sanitize(prog);
    let event = ev.data.kind.name();
    match child::run(c, hook.timeout, None, Leftovers::Kill).await {
        Ok(Outcome::Exited(st)) if st.success() => {
            tracing::info!(hook = %name, event, seq = ev.seq, "hook done")
        }
        Ok(Outcome::Exited(st)) => {
            tracing::warn!(hook = %name, event, seq = ev.seq, status = %st, "hook failed")
        }
        Ok(Outcome::TimedOut) => tracing::warn!(
            hook = %name,
            event,
            seq = ev.seq,
            timeout_ms = hook.timeout.as_millis() as u64,
            "hook timed out; its process group was killed"
        ),
        Err(e) => {
            tracing::warn!(hook = %name, event, seq = ev.seq, error = %e, "hook cannot run")
        }
    }
}

#[cfg(test)]
#[path = "event_hooks_tests.rs"]
mod tests;
