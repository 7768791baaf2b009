//! systemd integration: `READY=1` once the first table is in the kernel,
//! `RELOADING=1`/`READY=1` around a reload, `STOPPING=1`, and the watchdog
//! keep-alive. Every call is a no-op when not started by systemd
//! (`NOTIFY_SOCKET` unset), so tests and `lvsd -d` need no special casing.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tell systemd the daemon is ready (Type=notify).
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tell systemd a reload started (`Type=notify-reload` semantics).
pub fn reloading() {
    let now = NotifyState::monotonic_usec_now();
    match now {
        Ok(t) => notify(&[NotifyState::Reloading, t]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// Tell systemd the daemon is shutting down.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// Update the one-line status `systemctl status` shows.
pub fn status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

/// Keep-alive for `WatchdogSec=`.
pub fn watchdog() {
    notify(&[NotifyState::Watchdog]);
}

/// Half the watchdog period systemd asked for, if it asked: the
/// recommended ping cadence (sd_watchdog_enabled(3)).
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        Some(Duration::from_micros(usec / 2))
    } else {
        None
    }
}

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}
