//! Pure per-check state: which step runs next (combined checks), how
//! failurecount turns failures into a down verdict, and start-time jitter.
//! No I/O and no clock: the engine feeds results in, so this is unit-tested
//! without sockets.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use super::spec::{CheckSpec, CheckType};

/// What one run of a check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// TCP connect (ping for UDP).
    Connect,
    /// Service conversation.
    Negotiate,
    /// ICMP echo.
    Ping,
    /// External command.
    External,
    /// checktype=on: up without checking.
    On,
    /// checktype=off: down without checking.
    Off,
}

/// Outcome of feeding one result into [`CheckState::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Health as reported before; nothing to tell.
    Unchanged,
    /// A failure of an up real that failurecount still tolerates (n of N).
    SoftFailure(u32, u32),
    /// Health changed (or was reported for the first time): `true` = up.
    Changed(bool),
    /// A success of a down (or new) real that `rise` does not count as up
    /// yet (n of N in a row).
    Rising(u32, u32),
}

/// Per-check state kept between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    /// Last reported health (`None` before the first result).
    reported: Option<bool>,
    /// Consecutive failures while up.
    failcount: u32,
    /// Consecutive successes while not up (`rise`).
    risecount: u32,
    /// Successful connects since the last negotiate (combined checks);
    /// "saturated" means a negotiate is due.
    num_connects: u32,
}

impl CheckState {
    /// Fresh state; combined checks start with a negotiate (as ldirectord).
    pub fn new(kind: CheckType) -> CheckState {
        CheckState {
            reported: None,
            failcount: 0,
            risecount: 0,
            num_connects: if matches!(kind, CheckType::Combined(_)) {
                u32::MAX
            } else {
                0
            },
        }
    }

    /// Fresh state for a real already known to be up (failurecount applies
    /// from the first failure, like reals ldirectord finds up in IPVS at start).
    pub fn assume_up(kind: CheckType) -> CheckState {
        CheckState {
            reported: Some(true),
            ..CheckState::new(kind)
        }
    }

    /// Last reported health.
    pub fn reported(&self) -> Option<bool> {
        self.reported
    }

    /// The step to run next.
    pub fn next_step(&self, spec: &CheckSpec) -> Step {
        match spec.checktype {
            CheckType::Connect => Step::Connect,
            CheckType::Negotiate => Step::Negotiate,
            CheckType::Ping => Step::Ping,
            CheckType::External | CheckType::ExternalPerl => Step::External,
            CheckType::On => Step::On,
            CheckType::Off => Step::Off,
            CheckType::Combined(n) => {
                if self.num_connects >= n {
                    Step::Negotiate
                } else {
                    Step::Connect
                }
            }
        }
    }

    /// Feed the result of `step`; returns what to report.
    pub fn record(&mut self, spec: &CheckSpec, step: Step, ok: bool) -> Verdict {
        if matches!(spec.checktype, CheckType::Combined(_)) {
            match (step, ok) {
                (Step::Negotiate, true) => self.num_connects = 0,
                (Step::Connect, true) => self.num_connects = self.num_connects.saturating_add(1),
                (Step::Connect, false) => self.num_connects = u32::MAX,
                _ => {}
            }
        }
        if ok {
            self.failcount = 0;
            if self.reported == Some(true) {
                return Verdict::Unchanged;
            }
            // failurecount's twin: a real comes (back) only after `rise`
            // successes in a row.
            self.risecount = self.risecount.saturating_add(1);
            let rise = spec.policy.rise.max(1);
            if self.risecount < rise {
                return Verdict::Rising(self.risecount, rise);
            }
            self.risecount = 0;
            self.reported = Some(true);
            return Verdict::Changed(true);
        }
        self.risecount = 0;
        if self.reported == Some(true) {
            self.failcount += 1;
            let limit = spec.failurecount.max(1);
            if self.failcount < limit {
                return Verdict::SoftFailure(self.failcount, limit);
            }
        }
        if self.reported == Some(false) {
            return Verdict::Unchanged;
        }
        self.reported = Some(false);
        Verdict::Changed(false)
    }
}

/// Delay before a check's first run: spread over one interval, derived from
/// the check id so thousands of checks do not start in one burst and a reload
/// keeps each check's phase.
pub fn jitter<I: Hash + ?Sized>(id: &I, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    let ns = interval.as_nanos().max(1);
    // 64-bit hash mod interval: uniform enough for spreading start times.
    let off = (h.finish() as u128) % ns;
    Duration::from_nanos(off as u64)
}

/// Check starts fall on a grid shared by all the checks of an engine:
/// checks due in the same slot start together and share their wake-ups
/// (the timer's, and the reactor's for their connects and answers).
/// Without a grid 1,000 checks a second were 1,000 separate wake-ups,
/// each costing more than a connect check's own socket calls. This is the
/// fine grid, for engines whose checks fill it (see [`start_slot`]).
pub const FINE_SLOT: Duration = Duration::from_millis(10);

/// The coarse grid, for engines with fewer checks a second: in the
/// emulated guest of docs/benchmarks.md a wake-up costs far more kernel
/// time than a check's socket calls; 200 checks a second cost 18-29 %
/// less CPU per check on a 50 ms grid than on the 10 ms one, and 100 ms
/// took another 3-13 % off (same boots, three rounds each). A multiple of
/// [`FINE_SLOT`], so checks started on either grid still share the fine
/// one's slots after a reload changes the grid.
pub const COARSE_SLOT: Duration = Duration::from_millis(100);

/// The start grid of an engine whose checks start `per_second` times a
/// second in all, at most `max_in_flight` at once: the coarse grid unless
/// one of its slots would hold more than half of `max_in_flight` checks.
/// Then its bursts would queue behind the bound (measured on the host:
/// 10,000 checks a second cost ~8 % more CPU each on a 50 ms grid, 500 at
/// once against a bound of 512), while the fine grid already batches that
/// many checks well. Only a check's phase within its interval is rounded
/// down to the grid, by less than a slot; it still runs every
/// `checkinterval`.
pub fn start_slot(per_second: f64, max_in_flight: usize) -> Duration {
    if per_second * COARSE_SLOT.as_secs_f64() <= max_in_flight as f64 / 2.0 {
        COARSE_SLOT
    } else {
        FINE_SLOT
    }
}

/// How long to wait before a check's first start, given the time elapsed
/// since its engine's epoch and the engine's grid (`slot`, see
/// [`start_slot`]): the first instant at or after now that is the check's
/// jitter (rounded down to `slot`) plus a whole number of intervals after
/// the epoch. Always less than one interval.
pub fn first_delay<I: Hash + ?Sized>(
    id: &I,
    interval: Duration,
    since_epoch: Duration,
    slot: Duration,
) -> Duration {
    let slot = slot.as_nanos().max(1);
    let iv = interval.as_nanos().max(1);
    let off = jitter(id, interval).as_nanos() / slot * slot;
    let periods = since_epoch.as_nanos().saturating_sub(off).div_ceil(iv);
    let target = off + periods * iv;
    let delay = target.saturating_sub(since_epoch.as_nanos());
    Duration::from_nanos(u64::try_from(delay).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_starts_fall_on_the_shared_grid_within_one_interval() {
        let iv = Duration::from_secs(1);
        for slot in [FINE_SLOT, COARSE_SLOT] {
            let mut slots = std::collections::HashSet::new();
            for since_ms in [0u64, 3, 999, 1000, 12_345, 86_400_007] {
                let since = Duration::from_millis(since_ms);
                for n in 0..1000 {
                    let id = format!("10.0.{}.{}:80", n / 250, n % 250);
                    let d = first_delay(id.as_str(), iv, since, slot);
                    assert!(d < iv, "{id} {since_ms}: {d:?}");
                    let at = (since + d).as_nanos();
                    assert_eq!(at % slot.as_nanos(), 0, "{id} {since_ms}");
                    // Either grid is on the fine one (a reload may change it).
                    assert_eq!(at % FINE_SLOT.as_nanos(), 0, "{id} {since_ms}");
                    // The same check lands on the same place in every
                    // period: its hashed place, rounded down by less than
                    // a slot.
                    let phase = at % iv.as_nanos();
                    let place = jitter(id.as_str(), iv).as_nanos();
                    assert_eq!(phase, place / slot.as_nanos() * slot.as_nanos());
                    assert!(place - phase < slot.as_nanos());
                    slots.insert(phase);
                }
            }
            // 1,000 checks still spread over every slot of a second.
            let per_second = (iv.as_nanos() / slot.as_nanos()) as usize;
            assert_eq!(slots.len(), per_second, "{slot:?}");
        }
    }

    #[test]
    fn the_coarse_grid_only_while_its_bursts_stay_under_half_the_bound() {
        assert_eq!(COARSE_SLOT.as_nanos() % FINE_SLOT.as_nanos(), 0);
        // issue 15's guest run: 200 reals at 1 s, bound 512: 20 a slot
        assert_eq!(start_slot(200.0, 512), COARSE_SLOT);
        // 1,000 checks a second: 100 a slot
        assert_eq!(start_slot(1000.0, 512), COARSE_SLOT);
        // 2,560 a second fill half the bound exactly; one more does not fit
        assert_eq!(start_slot(2560.0, 512), COARSE_SLOT);
        assert_eq!(start_slot(2561.0, 512), FINE_SLOT);
        // 10,000 reals at 1 s: 1,000 a coarse slot against a bound of 512
        assert_eq!(start_slot(10_000.0, 512), FINE_SLOT);
        // a smaller bound switches earlier
        assert_eq!(start_slot(1000.0, 64), FINE_SLOT);
        assert_eq!(start_slot(0.0, 1), COARSE_SLOT);
    }

    fn spec(checktype: CheckType, failurecount: u32) -> CheckSpec {
        CheckSpec {
            checktype,
            failurecount,
            ..crate::check::spec::base()
        }
    }

    #[test]
    fn first_result_is_always_reported() {
        let s = spec(CheckType::Connect, 3);
        let mut st = CheckState::new(s.checktype);
        assert_eq!(st.record(&s, Step::Connect, false), Verdict::Changed(false));
        assert_eq!(st.record(&s, Step::Connect, false), Verdict::Unchanged);
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Changed(true));
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Unchanged);
    }

    #[test]
    fn failurecount_tolerates_soft_failures_and_resets_on_success() {
        let s = spec(CheckType::Connect, 3);
        let mut st = CheckState::new(s.checktype);
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Changed(true));
        assert_eq!(
            st.record(&s, Step::Connect, false),
            Verdict::SoftFailure(1, 3)
        );
        assert_eq!(
            st.record(&s, Step::Connect, false),
            Verdict::SoftFailure(2, 3)
        );
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Unchanged);
        assert_eq!(
            st.record(&s, Step::Connect, false),
            Verdict::SoftFailure(1, 3)
        );
        assert_eq!(
            st.record(&s, Step::Connect, false),
            Verdict::SoftFailure(2, 3)
        );
        assert_eq!(st.record(&s, Step::Connect, false), Verdict::Changed(false));
        assert_eq!(st.record(&s, Step::Connect, false), Verdict::Unchanged);
    }

    #[test]
    fn rise_needs_n_successes_in_a_row() {
        let mut s = spec(CheckType::Connect, 1);
        s.policy.rise = 3;
        let mut st = CheckState::new(s.checktype);
        assert_eq!(st.record(&s, Step::Connect, false), Verdict::Changed(false));
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Rising(1, 3));
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Rising(2, 3));
        // A failure in between starts the count again.
        assert_eq!(st.record(&s, Step::Connect, false), Verdict::Unchanged);
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Rising(1, 3));
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Rising(2, 3));
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Changed(true));
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Unchanged);
        // A new real needs the same; rise = 1 is ldirectord's behaviour.
        let mut st = CheckState::new(s.checktype);
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Rising(1, 3));
        s.policy.rise = 1;
        let mut st = CheckState::new(s.checktype);
        assert_eq!(st.record(&s, Step::Connect, true), Verdict::Changed(true));
    }

    #[test]
    fn failurecount_one_downs_at_once() {
        let s = spec(CheckType::Negotiate, 1);
        let mut st = CheckState::assume_up(s.checktype);
        assert_eq!(
            st.record(&s, Step::Negotiate, false),
            Verdict::Changed(false)
        );
    }

    #[test]
    fn combined_negotiates_then_n_connects() {
        let s = spec(CheckType::Combined(2), 1);
        let mut st = CheckState::new(s.checktype);
        let mut steps = Vec::new();
        for ok in [true, true, true, true, true, true, false, true, true] {
            let step = st.next_step(&s);
            steps.push(step);
            st.record(&s, step, ok);
        }
        use Step::{Connect as C, Negotiate as N};
        // N ok -> C ok, C ok -> N ok -> C ok, C ok -> N fails -> N ok -> C
        assert_eq!(steps, vec![N, C, C, N, C, C, N, N, C]);
    }

    #[test]
    fn combined_connect_failure_forces_negotiate() {
        let s = spec(CheckType::Combined(5), 1);
        let mut st = CheckState::new(s.checktype);
        st.record(&s, Step::Negotiate, true);
        assert_eq!(st.next_step(&s), Step::Connect);
        st.record(&s, Step::Connect, false);
        assert_eq!(st.next_step(&s), Step::Negotiate);
    }

    #[test]
    fn jitter_stays_within_interval_and_spreads() {
        let iv = Duration::from_secs(1);
        let mut buckets = [0u32; 10];
        for i in 0..1000 {
            let j = jitter(&format!("check-{i}"), iv);
            assert!(j < iv);
            let b = (j.as_millis() / 100) as usize;
            buckets[b.min(9)] += 1;
        }
        // 1000 ids over 10 buckets: each bucket should hold roughly 100.
        for b in buckets {
            assert!((40..=160).contains(&b), "uneven jitter: {buckets:?}");
        }
        assert_eq!(jitter("x", iv), jitter("x", iv));
    }
}
