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

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;
use tokio::time::Instant;

/// The shared timer of one engine's checks. [`Ticker::drive`] must run
/// (on the checks' runtime) for any [`Ticker::sleep_until`] to end.
#[derive(Debug, Default)]
pub struct Ticker {
    state: Mutex<State>,
    /// Wakes the driver when an instant earlier than all others comes in.
    earlier: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// The waiting checks by the instant they are due.
    due: BTreeMap<Instant, Vec<Waker>>,
    /// Every instant up to this one has been woken.
    fired_through: Option<Instant>,
    /// Emptied lists, reused for the next instants (a slot's list grows to
    /// a hundred wakers at 10,000 checks a second; regrowing it each time
    /// was most of this timer's own cost). At most [`SPARE_LISTS`].
    spare: Vec<Vec<Waker>>,
}

/// Most emptied lists kept for reuse.
const SPARE_LISTS: usize = 64;

impl Ticker {
    /// A ticker with nothing waiting.
    pub fn new() -> Arc<Ticker> {
        Arc::new(Ticker::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held left the map whole (no code that
        // can panic runs under it), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait until `at` (woken by the driver at or after it).
    pub fn sleep_until(self: &Arc<Self>, at: Instant) -> Sleep {
        Sleep {
            ticker: self.clone(),
            at,
            waiting: false,
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
        let woken = {
            let mut st = self.lock();
            // what stays: the instants after `now`
            let later = match now.checked_add(std::time::Duration::from_nanos(1)) {
                Some(after) => st.due.split_off(&after),
                None => BTreeMap::new(),
            };
            st.fired_through = Some(st.fired_through.map_or(now, |f| f.max(now)));
            std::mem::replace(&mut st.due, later)
        };
        // outside the lock: a woken task may run (and wait again) at once
        let mut emptied = Vec::with_capacity(woken.len());
        for mut list in woken.into_values() {
            for waker in list.drain(..) {
                waker.wake();
            }
            emptied.push(list);
        }
        let mut st = self.lock();
        for list in emptied {
            if st.spare.len() >= SPARE_LISTS {
                break;
            }
            st.spare.push(list);
        }
    }

    /// Checks waiting (for tests and bounds).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().due.values().map(Vec::len).sum()
    }
}

/// The future of [`Ticker::sleep_until`].
#[derive(Debug)]
pub struct Sleep {
    ticker: Arc<Ticker>,
    at: Instant,
    /// Its waker is on the list (once: a task polled again before its time,
    /// e.g. by a join beside it, keeps the one entry).
    waiting: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        let mut st = self.ticker.lock();
        // No clock read: the driver has woken everything up to
        // `fired_through`, and whatever is later waits for it.
        if st.fired_through.is_some_and(|f| f >= at) {
            return Poll::Ready(());
        }
        if !self.waiting {
            let earliest = st.due.keys().next().is_none_or(|first| at < *first);
            let State { due, spare, .. } = &mut *st;
            due.entry(at)
                .or_insert_with(|| spare.pop().unwrap_or_default())
                .push(cx.waker().clone());
            drop(st);
            if earliest {
                self.ticker.earlier.notify_one();
            }
            self.waiting = true;
        }
        Poll::Pending
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
}
