//! One timer for all the checks of an engine: the checks due at an instant
//! (the engine starts them on a shared grid, so a slot's checks are due at
//! the same instant) wait in one list, and one driver task sleeps until the
//! earliest list and wakes it.
//!
//! Why not a tokio `sleep` per check: with 10,000 reals each check's timer
//! entry lives in its own task's memory, cold after a second, and tokio's
//! wheel walks it twice (moved down a level, then fired) besides linking it
//! in: on the host the wheel was the second-largest user-space cost of a
//! check (issue 15, docs/benchmarks.md "checks"). Here a check's wait is a
//! waker pushed on its instant's list.
//!
//! A check's deadline (`checktimeout`, `negotiatetimeout`) runs on the same
//! lists ([`Started::within`]). It counts from the check's own start (a
//! clock read), and a slot's checks start within a millisecond or so of
//! each other, so it is rounded up to the next [`DEADLINE_STEP`] for them
//! to share its list: a check may run up to that much longer than its
//! timeout, never shorter (ldirectord's `alarm()` counts whole seconds). A
//! check that ends first takes its waker back off the list (its place is
//! left empty; nothing moves in a list until it fires), and a list left
//! with no waker leaves the map, so the driver does not wake for it. The
//! instants a slot's checks use (their deadline, then their next start)
//! are the last two used, so most waits find their list without a search
//! of the map.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The shared timer of one engine's checks. [`Ticker::drive`] must run
/// (on the checks' runtime) for any [`Ticker::sleep_until`] to end.
#[derive(Debug)]
pub struct Ticker {
    /// The origin of the deadlines' steps.
    epoch: Instant,
    state: Mutex<State>,
    /// Wakes the driver when an instant earlier than all others comes in.
    earlier: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// The instants checks wait for, each with its list in `lists`.
    due: BTreeMap<Instant, usize>,
    /// The waiting checks' wakers, one list per instant of `due`; a list
    /// of no instant is empty and its place is in `free`.
    /// (A place is None once its waker was taken back.)
    lists: Vec<Vec<Option<Waker>>>,
    /// Wakers still on each list (not taken back). A list whose wakers were
    /// all taken back (a slot's deadlines, when its checks all ended in
    /// time) leaves `due` at once: the driver does not wake for it.
    live: Vec<usize>,
    /// Places in `lists` of no instant (their lists keep their capacity: a
    /// slot's list grows to a hundred wakers at 10,000 checks a second,
    /// and regrowing it each time was most of this timer's own cost).
    free: Vec<usize>,
    /// The two instants enlisted last and their lists (see the module).
    recent: [Option<(Instant, usize)>; 2],
    /// Every instant up to this one has been woken.
    fired_through: Option<Instant>,
}

/// Deadlines on a ticker are rounded up to a multiple of this from its
/// creation (see the module).
pub const DEADLINE_STEP: Duration = Duration::from_millis(10);

/// Where a waker was put: its list and its place in it.
#[derive(Debug, Clone, Copy)]
struct Place {
    list: usize,
    index: usize,
}

impl Ticker {
    /// A ticker with nothing waiting.
    pub fn new() -> Arc<Ticker> {
        Arc::new(Ticker {
            epoch: Instant::now(),
            state: Mutex::default(),
            earlier: Notify::new(),
        })
    }

    /// `at` rounded up to the next [`DEADLINE_STEP`] from the epoch.
    fn round_up(&self, at: Instant) -> Instant {
        let step = DEADLINE_STEP.as_nanos();
        let Some(since) = at.checked_duration_since(self.epoch) else {
            return at;
        };
        let over = since.as_nanos() % step;
        if over == 0 {
            return at;
        }
        // below one step: fits a u64
        let up = Duration::from_nanos((step - over) as u64);
        at.checked_add(up).unwrap_or(at)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held left the state whole (no code
        // that can panic runs under it), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait until `at` (woken by the driver at or after it).
    pub fn sleep_until(self: &Arc<Self>, at: Instant) -> Sleep {
        Sleep {
            ticker: self.clone(),
            at,
            place: None,
        }
    }

    /// Run `fut` until `at` (rounded up to the next [`DEADLINE_STEP`]):
    /// its output, or None if the deadline came first (the future is then
    /// dropped). Like tokio's `timeout_at`, the future is polled before
    /// the deadline is looked at.
    #[inline] // lets the future be built in place, not moved
    pub fn within<F: Future>(&self, at: Instant, fut: F) -> Within<'_, F> {
        Within {
            fut,
            deadline: self.deadline(at),
        }
    }

    /// The deadline `at` (rounded up) on this ticker, not yet waited for.
    fn deadline(&self, at: Instant) -> Deadline<'_> {
        Deadline {
            timer: Timer::Ticker(self),
            at: self.round_up(at),
            place: None,
        }
    }

    /// Whether `at` has come (its list fired; `place` is then cleared:
    /// the list is gone with its wakers). If not, `waker` is on `at`'s
    /// list: put there on the first call, recorded in `place`; a waiter
    /// polled again keeps that one entry (its task polls it with the same
    /// waker each time). No clock read: the driver has woken everything
    /// up to `fired_through`, and whatever is later waits for it.
    fn poll_due(&self, at: Instant, waker: &Waker, place: &mut Option<Place>) -> bool {
        let mut st = self.lock();
        if st.fired(at) {
            *place = None;
            return true;
        }
        if place.is_none() {
            let (p, earliest) = st.enlist(at, waker);
            drop(st);
            if earliest {
                self.earlier.notify_one();
            }
            *place = Some(p);
        }
        false
    }

    /// Take the waker at `place` off `at`'s list (if `at` has not fired).
    fn withdraw(&self, at: Instant, place: Place) {
        let mut st = self.lock();
        // Before its instant the list is still `at`'s and only ever grown
        // (see `fire`), so the place is still this waker's; after it, the
        // list has been emptied and nothing is left to do.
        if st.fired(at) {
            return;
        }
        let State {
            lists,
            live,
            due,
            free,
            recent,
            ..
        } = &mut *st;
        // the task's waker (a reference to the task) goes now
        let taken = lists
            .get_mut(place.list)
            .and_then(|l| l.get_mut(place.index))
            .and_then(Option::take);
        if taken.is_none() {
            return;
        }
        live[place.list] -= 1;
        if live[place.list] == 0 {
            // Every waker of this instant was taken back: the instant
            // leaves the map (its list is free again), so the driver never
            // wakes for it. No place in it is left: each was taken back.
            due.remove(&at);
            lists[place.list].clear();
            free.push(place.list);
            for r in recent.iter_mut() {
                if r.is_some_and(|(_, l)| l == place.list) {
                    *r = None;
                }
            }
        }
    }

    /// Wake every waiting check when its instant comes; runs until aborted.
    pub async fn drive(self: Arc<Self>) {
        loop {
            let first = self.lock().due.keys().next().copied();
            match first {
                None => self.earlier.notified().await,
                Some(at) => {
                    tokio::select! {
                        biased;
                        // An earlier instant came in: sleep until that one.
                        _ = self.earlier.notified() => continue,
                        _ = tokio::time::sleep_until(at) => {}
                    }
                    self.fire(Instant::now());
                }
            }
        }
    }

    /// Wake every check due at or before `now`.
    fn fire(&self, now: Instant) {
        let woken: Vec<(usize, Vec<Option<Waker>>)> = {
            let mut st = self.lock();
            // what stays: the instants after `now`
            let later = match now.checked_add(Duration::from_nanos(1)) {
                Some(after) => st.due.split_off(&after),
                None => BTreeMap::new(),
            };
            st.fired_through = Some(st.fired_through.map_or(now, |f| f.max(now)));
            let gone = std::mem::replace(&mut st.due, later);
            for r in &mut st.recent {
                if r.is_some_and(|(at, _)| at <= now) {
                    *r = None;
                }
            }
            gone.into_values()
                .map(|list| {
                    st.live[list] = 0;
                    (list, std::mem::take(&mut st.lists[list]))
                })
                .collect()
        };
        // outside the lock: a woken task may run (and wait again) at once
        let mut emptied = Vec::with_capacity(woken.len());
        for (list, mut wakers) in woken {
            for waker in wakers.drain(..).flatten() {
                waker.wake();
            }
            emptied.push((list, wakers));
        }
        let mut st = self.lock();
        for (list, wakers) in emptied {
            // an empty list takes its capacity back
            st.lists[list] = wakers;
            st.free.push(list);
        }
    }

    /// Checks waiting (for tests and bounds): wakers not taken back.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        let st = self.lock();
        st.due
            .values()
            .map(|&l| st.lists[l].iter().flatten().count())
            .sum()
    }
}

impl State {
    /// Whether every check due at `at` has been woken (its list is gone).
    fn fired(&self, at: Instant) -> bool {
        self.fired_through.is_some_and(|f| f >= at)
    }

    /// Put `waker` on `at`'s list (`at` has not fired): its place, and
    /// whether `at` is now the earliest instant (the driver must be told).
    fn enlist(&mut self, at: Instant, waker: &Waker) -> (Place, bool) {
        let mut earliest = false;
        let list = match self.recent.iter().flatten().find(|(r, _)| *r == at) {
            Some(&(_, list)) => list,
            None => {
                let list = match self.due.get(&at) {
                    Some(&list) => list,
                    None => {
                        earliest = self.due.keys().next().is_none_or(|first| at < *first);
                        let list = match self.free.pop() {
                            Some(list) => list,
                            None => {
                                self.lists.push(Vec::new());
                                self.live.push(0);
                                self.lists.len() - 1
                            }
                        };
                        self.due.insert(at, list);
                        list
                    }
                };
                self.recent = [Some((at, list)), self.recent[0]];
                list
            }
        };
        self.live[list] += 1;
        let wakers = &mut self.lists[list];
        wakers.push(Some(waker.clone()));
        (
            Place {
                list,
                index: wakers.len() - 1,
            },
            earliest,
        )
    }
}

/// The future of [`Ticker::sleep_until`].
#[derive(Debug)]
pub struct Sleep {
    ticker: Arc<Ticker>,
    at: Instant,
    /// Where its waker is on the list, once there (a sleep is never taken
    /// back: its task waits for it or is aborted).
    place: Option<Place>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Sleep { ticker, at, place } = self.get_mut();
        if ticker.poll_due(*at, cx.waker(), place) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// The timer a [`Within`] runs on.
#[derive(Debug)]
enum Timer<'a> {
    /// An engine's ticker.
    Ticker(&'a Ticker),
    /// tokio's own, made on the first wait (checks outside an engine).
    Tokio(Option<Pin<Box<tokio::time::Sleep>>>),
}

/// The deadline half of a [`Within`]: its own type so that its `Drop`
/// (taking the waker off its list) needs no pinned access to the future.
#[derive(Debug)]
struct Deadline<'a> {
    timer: Timer<'a>,
    at: Instant,
    /// Where its waker is on the ticker's list, once there.
    place: Option<Place>,
}

impl Deadline<'_> {
    /// Whether the deadline has come; if not, the task is woken when it
    /// does (on the ticker: see `Ticker::poll_due`).
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.timer {
            Timer::Ticker(t) => t.poll_due(self.at, cx.waker(), &mut self.place),
            Timer::Tokio(sleep) => sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(self.at)))
                .as_mut()
                .poll(cx)
                .is_ready(),
        }
    }
}

impl Drop for Deadline<'_> {
    fn drop(&mut self) {
        if let (Timer::Ticker(t), Some(place)) = (&self.timer, self.place) {
            t.withdraw(self.at, place);
        }
    }
}

/// The future of [`Ticker::within`] and [`Started::within`].
#[derive(Debug)]
pub struct Within<'a, F> {
    fut: F,
    deadline: Deadline<'a>,
}

impl<F: Future> Future for Within<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        // SAFETY: `fut` is pinned with `self` and never moved out of it:
        // it is only polled through this pinned reference and dropped in
        // place with `self` (`Within` has no `Drop`; `Deadline`'s does not
        // touch `fut`). `deadline` is not structurally pinned (it is
        // `Unpin` and only used through `&mut`).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        if let Poll::Ready(v) = fut.poll(cx) {
            return Poll::Ready(Some(v));
        }
        if this.deadline.poll_expired(cx) {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// When a check started, and the timer its deadline runs on: the engine's
/// [`Ticker`] for the engine's checks, tokio's timer for the others (a
/// one-off check, tests).
#[derive(Debug, Clone)]
pub struct Started {
    /// The instant the check started; its timeouts count from here.
    pub at: Instant,
    ticker: Option<Arc<Ticker>>,
}

impl Started {
    /// A check starting now, its deadline on tokio's timer.
    pub fn now() -> Started {
        Started::at(Instant::now())
    }

    /// A check that started at `at`, its deadline on tokio's timer.
    pub fn at(at: Instant) -> Started {
        Started { at, ticker: None }
    }

    /// A check that started at `at`, its deadline on `ticker` (which must
    /// be driven, see [`Ticker::drive`]; rounded up to its step).
    pub fn on(ticker: Arc<Ticker>, at: Instant) -> Started {
        Started {
            at,
            ticker: Some(ticker),
        }
    }

    /// Run `fut` for at most `limit` from the start: its output, or None
    /// when the time ran out first (the future is then dropped). A limit
    /// beyond what an instant can hold never runs out.
    #[inline] // lets the future be built in place, not moved (~1 KB)
    pub fn within<F: Future>(&self, limit: Duration, fut: F) -> Within<'_, F> {
        // The deadline is chosen apart from the future, which is then
        // moved once (a match around the whole `Within` made the compiler
        // copy the future three times).
        Within {
            fut,
            deadline: self.deadline(limit),
        }
    }

    /// The deadline `limit` after the start, on this check's timer.
    fn deadline(&self, limit: Duration) -> Deadline<'_> {
        let at = self.at.checked_add(limit);
        match (&self.ticker, at) {
            (Some(t), Some(at)) => t.deadline(at),
            _ => Deadline {
                timer: Timer::Tokio(None),
                // far enough: about 30 years on
                at: at.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365 * 30)),
                place: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Each sleeper ends at its instant, not before; sleepers due together
    /// share one entry of the map; an earlier instant that comes in while
    /// the driver sleeps for a later one is not delayed to it.
    #[tokio::test(start_paused = true)]
    async fn sleepers_end_at_their_instants_in_order() {
        let t = Ticker::new();
        let driver = tokio::spawn(t.clone().drive());
        let t0 = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (name, ms) in [("late", 300u64), ("a", 100), ("b", 100)] {
            let (t, tx) = (t.clone(), tx.clone());
            tokio::spawn(async move {
                t.sleep_until(t0 + Duration::from_millis(ms)).await;
                let _ = tx.send((name, t0.elapsed()));
            });
        }
        tokio::task::yield_now().await;
        assert_eq!(t.waiting(), 3);
        assert_eq!(t.lock().due.len(), 2);
        // comes in after the driver went to sleep for 100 ms
        let (t2, tx2) = (t.clone(), tx.clone());
        tokio::spawn(async move {
            t2.sleep_until(t0 + Duration::from_millis(20)).await;
            let _ = tx2.send(("early", t0.elapsed()));
        });
        drop(tx);
        let mut got = Vec::new();
        while let Some(x) = rx.recv().await {
            got.push(x);
        }
        let ms = |n: u64| Duration::from_millis(n);
        assert_eq!(got[0], ("early", ms(20)));
        let mut mid: Vec<_> = got[1..3].to_vec();
        mid.sort();
        assert_eq!(mid, vec![("a", ms(100)), ("b", ms(100))]);
        assert_eq!(got[3], ("late", ms(300)));
        assert_eq!(t.waiting(), 0);
        driver.abort();
    }

    /// An instant already passed ends at once (the driver wakes for it
    /// without waiting), and one the driver has fired through ends without
    /// waiting at all.
    #[tokio::test(start_paused = true)]
    async fn a_past_instant_ends_at_once() {
        let t = Ticker::new();
        let driver = tokio::spawn(t.clone().drive());
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        t.sleep_until(t0).await;
        assert_eq!(t0.elapsed(), Duration::from_millis(50));
        // fired through t0 now: no wait, no entry
        let mut s = std::pin::pin!(t.sleep_until(t0));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(s.as_mut().poll(&mut cx).is_ready());
        assert_eq!(t.waiting(), 0);
        driver.abort();
    }

    /// A task polled again before its time (a join beside it) keeps one
    /// entry, not one per poll.
    #[tokio::test(start_paused = true)]
    async fn polling_again_does_not_add_entries() {
        let t = Ticker::new();
        let mut s = std::pin::pin!(t.sleep_until(Instant::now() + Duration::from_secs(1)));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..5 {
            assert!(s.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(t.waiting(), 1);
    }

    /// A deadline: a future that ends first gives its output and takes its
    /// waker off the list at once (the task is not woken at the deadline
    /// for nothing, and a list left empty leaves the map, so the driver is
    /// not either); one that does not gets None at the deadline rounded up
    /// to the step, never before; one dropped early leaves no waker.
    /// Checks of one slot share one list for their deadlines.
    #[tokio::test(start_paused = true)]
    async fn deadlines_end_at_their_step_and_withdraw_when_done() {
        let t = Ticker::new();
        let driver = tokio::spawn(t.clone().drive());
        let t0 = Instant::now();
        // ends before its deadline
        let quick = t.within(t0 + Duration::from_secs(2), async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            7
        });
        assert_eq!(quick.await, Some(7));
        assert_eq!(t.waiting(), 0);
        assert!(t.lock().due.is_empty(), "a list left with no waker on it");
        // never ends: None, at the deadline rounded up to the step
        let at = t0 + Duration::from_millis(1234) + Duration::from_micros(300);
        let r = t.within(at, std::future::pending::<()>()).await;
        assert_eq!(r, None);
        let expected = t0 + Duration::from_millis(1240);
        assert!(Instant::now() >= at, "before the deadline");
        assert_eq!(Instant::now(), expected);
        // polled once, then dropped: no waker left behind
        {
            let mut w = std::pin::pin!(t.within(
                Instant::now() + Duration::from_secs(5),
                std::future::pending::<()>()
            ));
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert_eq!(t.waiting(), 1);
        }
        assert_eq!(t.waiting(), 0);
        // a slot's checks: deadlines a few microseconds apart share a list
        let lists_before = t.lock().due.len();
        let base = Instant::now() + Duration::from_secs(3);
        let mut ws: Vec<_> = (0..50u64)
            .map(|i| {
                Box::pin(t.within(
                    base + Duration::from_micros(i * 3),
                    std::future::pending::<()>(),
                ))
            })
            .collect();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for w in &mut ws {
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(t.waiting(), 50);
        let added = t.lock().due.len() - lists_before;
        assert!(added <= 2, "{added} lists for one slot's deadlines");
        drop(ws);
        assert_eq!(t.waiting(), 0);
        // their lists left with their last waker: the driver will not wake
        assert_eq!(t.lock().due.len(), lists_before);
        driver.abort();
    }

    /// Without a ticker, a check's deadline is tokio's, to the millisecond;
    /// a limit no instant can hold never runs out.
    #[tokio::test(start_paused = true)]
    async fn started_without_a_ticker_uses_tokios_timer() {
        let t0 = Instant::now();
        let s = Started::at(t0);
        let r = s
            .within(Duration::from_millis(1234), std::future::pending::<()>())
            .await;
        assert_eq!(r, None);
        assert_eq!(t0.elapsed(), Duration::from_millis(1234));
        let r = s.within(Duration::MAX, async { 3 }).await;
        assert_eq!(r, Some(3));
    }

    /// Many checks, each alternating a deadline (met or missed) with a
    /// sleep on the same ticker, sharing lists: every deadline gives the
    /// verdict its timing calls for, every check finishes (no waker lost
    /// to a list taken back or reused), and nothing is left waiting.
    #[tokio::test(start_paused = true)]
    async fn deadlines_and_sleeps_interleaved_all_end_right() {
        let t = Ticker::new();
        let driver = tokio::spawn(t.clone().drive());
        let limit = Duration::from_millis(30);
        let mut tasks = Vec::new();
        for i in 0..40u64 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                for k in 0..6u64 {
                    let work = Duration::from_millis((i * 13 + k * 7) % 60);
                    let started = Started::on(t.clone(), Instant::now());
                    let r = started.within(limit, tokio::time::sleep(work)).await;
                    // met before the limit; missed well after it (the
                    // deadline is rounded up by less than a step)
                    if work < limit {
                        assert_eq!(r, Some(()), "check {i}/{k}: {work:?} of work");
                    } else if work >= limit + DEADLINE_STEP {
                        assert_eq!(r, None, "check {i}/{k}: {work:?} of work");
                    }
                    let pause = Duration::from_millis(i % 5 * 3 + 1);
                    t.sleep_until(Instant::now() + pause).await;
                }
            }));
        }
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("a check never ended")
                .unwrap();
        }
        assert_eq!(t.waiting(), 0);
        driver.abort();
    }
}
