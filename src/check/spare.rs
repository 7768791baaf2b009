//! Bounded per-thread lists of spare values a check hands back when it is
//! done and the next check takes (its request and answer buffers, its read
//! budget's counter). Checks start a hundred at a time at 10,000 a second,
//! which overflows malloc's per-size caches (7 chunks), so each of these
//! took malloc's slow path on the way in and out (issue 15).

use std::cell::RefCell;
use std::thread::LocalKey;

/// One thread's spare values (declared with `thread_local!` by each user).
pub type Spares<T> = RefCell<Vec<T>>;

/// A spare value of this thread, if it has one.
pub fn take<T: 'static>(spares: &'static LocalKey<Spares<T>>) -> Option<T> {
    spares
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten()
}

/// Keep `value` for this thread's next taker, unless it keeps `max`
/// already (or is exiting): then `value` is dropped.
pub fn give<T: 'static>(spares: &'static LocalKey<Spares<T>>, value: T, max: usize) {
    let _ = spares.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < max {
                s.push(value);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TEST: Spares<u32> = const { RefCell::new(Vec::new()) };
    }

    /// Given values come back last in, first out; past `max` they are
    /// dropped, not kept.
    #[test]
    fn kept_up_to_max_and_taken_back() {
        assert_eq!(take(&TEST), None);
        for v in 0..5 {
            give(&TEST, v, 3);
        }
        assert_eq!(TEST.with_borrow(Vec::len), 3);
        assert_eq!(take(&TEST), Some(2));
        assert_eq!(take(&TEST), Some(1));
        assert_eq!(take(&TEST), Some(0));
        assert_eq!(take(&TEST), None);
    }
}
