//! Weight policy beyond ldirectord: what a real's checks say about its
//! weight (keepalived `misc_dynamic`, HAProxy agent `NN%`/`drain`) and the
//! slow-start ramp. Pure arithmetic, no clock: callers pass elapsed time.

use std::time::{Duration, Instant};

/// Largest weight ipvsadm accepts (`-w 0..65535`); scaled weights stop here.
pub const MAX_WEIGHT: i64 = 65_535;

/// How a real's weight departs from its configured one while it is up.
/// The default changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WeightAdjust {
    /// An absolute weight replacing the configured one (a dynamic external
    /// check's exit code minus 2).
    pub set: Option<u32>,
    /// A percentage of the (configured or set) weight; 0 drains the real
    /// (HAProxy agent `NN%`, `drain`).
    pub percent: Option<u32>,
    /// Slow start in progress: (time since the real came up, ramp length).
    pub ramp: Option<(Duration, Duration)>,
}

impl WeightAdjust {
    /// Whether this leaves the configured weight as it is.
    pub fn is_identity(&self) -> bool {
        self.set.is_none() && self.percent.is_none() && self.ramp.is_none()
    }

    /// The weight to program for a real configured with `configured`.
    /// A scaled weight that would round to 0 from a non-zero percentage
    /// stays 1 (only `drain`/`0%` means no new connections).
    pub fn apply(&self, configured: i32) -> i32 {
        let base = self.set.map_or(i64::from(configured.max(0)), i64::from);
        let scaled = match self.percent {
            None => base,
            Some(0) => 0,
            Some(p) => (base * i64::from(p) / 100).max(i64::from(base > 0)),
        };
        let target = i32::try_from(scaled.min(MAX_WEIGHT.max(base))).unwrap_or(i32::MAX);
        match self.ramp {
            Some((elapsed, total)) => slow_start_weight(target, elapsed, total),
            None => target,
        }
    }
}

/// Granularity of the slow-start ramp: the weight changes at most once a
/// second (one kernel edit per real per second while it ramps).
pub const RAMP_STEP: Duration = Duration::from_secs(1);

/// Weight of a real `elapsed` into a slow start of length `total` towards
/// `target`: from 1 up to `target` in whole-second steps, proportional to
/// the whole seconds elapsed; `target` once `elapsed >= total`. A target
/// of 0 (drained) stays 0.
pub fn slow_start_weight(target: i32, elapsed: Duration, total: Duration) -> i32 {
    if target <= 0 || elapsed >= total || total.is_zero() {
        return target;
    }
    let step = RAMP_STEP.as_millis().max(1);
    let done = elapsed.as_millis() / step * step;
    let w = i128::from(target) * i128::try_from(done).unwrap_or(i128::MAX)
        / i128::try_from(total.as_millis().max(1)).unwrap_or(i128::MAX);
    i32::try_from(w.clamp(1, i128::from(target))).unwrap_or(target)
}

/// A slow start: when a real came back and how long its weight ramps.
/// The caller passes the time (clock-injected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ramp {
    /// When the real was put back in service.
    pub since: Instant,
    /// Length of the ramp (lvsd.toml `slow_start`).
    pub total: Duration,
}

impl Ramp {
    /// A ramp of `total` starting at `since`; None for a zero length.
    pub fn start(since: Instant, total: Duration) -> Option<Ramp> {
        (!total.is_zero()).then_some(Ramp { since, total })
    }

    /// The ramp as [`WeightAdjust::ramp`] wants it at `now`: (time since
    /// the start, length); None once the ramp is over.
    pub fn at(&self, now: Instant) -> Option<(Duration, Duration)> {
        let elapsed = now.saturating_duration_since(self.since);
        (elapsed < self.total).then_some((elapsed, self.total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn identity_keeps_the_configured_weight() {
        let a = WeightAdjust::default();
        assert!(a.is_identity());
        assert_eq!(a.apply(7), 7);
    }

    #[test]
    fn set_and_percent_combine() {
        let a = WeightAdjust {
            set: Some(10),
            ..Default::default()
        };
        assert_eq!(a.apply(3), 10);
        let half = WeightAdjust {
            percent: Some(50),
            ..Default::default()
        };
        assert_eq!(half.apply(4), 2);
        assert_eq!(half.apply(1), 1, "a non-zero share never rounds to 0");
        assert_eq!(half.apply(0), 0);
        let both = WeightAdjust {
            set: Some(10),
            percent: Some(30),
            ..Default::default()
        };
        assert_eq!(both.apply(99), 3);
        let drain = WeightAdjust {
            percent: Some(0),
            ..Default::default()
        };
        assert_eq!(drain.apply(5), 0);
        let big = WeightAdjust {
            percent: Some(1000),
            ..Default::default()
        };
        assert_eq!(big.apply(65_535), 65_535, "capped at ipvsadm's maximum");
        assert_eq!(big.apply(2), 20);
    }

    #[test]
    fn a_ramp_runs_from_its_start_for_its_length() {
        let t0 = Instant::now();
        assert_eq!(Ramp::start(t0, Duration::ZERO), None);
        let r = Ramp::start(t0, s(4)).unwrap();
        // Before its start (a clock read earlier): at the beginning.
        assert_eq!(r.at(t0), Some((s(0), s(4))));
        assert_eq!(r.at(t0 + s(3)), Some((s(3), s(4))));
        assert_eq!(r.at(t0 + s(4)), None);
        // Weights a real configured with 8 gets second by second.
        let w: Vec<i32> = (0..6)
            .map(|n| {
                WeightAdjust {
                    ramp: r.at(t0 + s(n)),
                    ..Default::default()
                }
                .apply(8)
            })
            .collect();
        assert_eq!(w, vec![1, 2, 4, 6, 8, 8]);
    }

    #[test]
    fn ramp_goes_from_one_to_target_in_whole_seconds() {
        let total = s(10);
        assert_eq!(slow_start_weight(100, s(0), total), 1);
        assert_eq!(slow_start_weight(100, Duration::from_millis(999), total), 1);
        assert_eq!(slow_start_weight(100, s(1), total), 10);
        assert_eq!(
            slow_start_weight(100, Duration::from_millis(5500), total),
            50
        );
        assert_eq!(slow_start_weight(100, s(9), total), 90);
        assert_eq!(slow_start_weight(100, s(10), total), 100);
        assert_eq!(slow_start_weight(100, s(1000), total), 100);
        assert_eq!(slow_start_weight(4, s(1), s(8)), 1);
        assert_eq!(slow_start_weight(4, s(4), s(8)), 2);
        assert_eq!(slow_start_weight(0, s(1), total), 0);
        assert_eq!(slow_start_weight(5, s(0), Duration::ZERO), 5);
        // Monotonic over the whole ramp.
        let mut last = 0;
        for ms in (0..12_000).step_by(250) {
            let w = slow_start_weight(37, Duration::from_millis(ms), total);
            assert!(w >= last && (1..=37).contains(&w), "{ms}: {w}");
            last = w;
        }
        let r = WeightAdjust {
            percent: Some(50),
            ramp: Some((s(5), total)),
            ..Default::default()
        };
        assert_eq!(r.apply(40), 10, "the ramp goes to the adjusted weight");
    }
}
