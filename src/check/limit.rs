//! A byte budget per check: every stream a check reads from is wrapped in
//! [`Limited`], which fails the read once [`MAX_READ`] bytes came in. Caps on
//! decoded bodies alone do not bound memory: a server can send endless
//! chunk extensions, header bytes or a length prefix of 2 GB that a client
//! library buffers before decoding anything.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::spare;

/// Most bytes one check reads from the server, all connections and
/// redirects of the check together.
pub const MAX_READ: u64 = 8 << 20;

/// The error a [`Limited`] stream returns past its budget; found again in an
/// error chain by [`super::CheckError::from_io`] and `from_lib`.
#[derive(Debug, thiserror::Error)]
#[error("answer longer than {0} bytes (the check's read limit)")]
pub struct TooLong(pub u64);

/// Bytes read so far by the streams of one check (shared by its connections).
#[derive(Debug, Clone)]
pub struct Budget(Arc<AtomicU64>);

/// Most counters of ended checks kept per thread for the next ones.
const SPARE_MAX: usize = 1024;

thread_local! {
    /// Counters of ended checks, reused: checks start a hundred at a time,
    /// which overflows malloc's per-size cache (7 chunks), and each
    /// check's counter took malloc's slow path on the way in and out
    /// (~300 instructions of an http check's ~9,300; issue 15).
    static SPARE: spare::Spares<Arc<AtomicU64>> = const { RefCell::new(Vec::new()) };
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new()
    }
}

impl Budget {
    /// A fresh budget of [`MAX_READ`] bytes.
    pub fn new() -> Budget {
        match spare::take(&SPARE) {
            Some(counter) => {
                counter.store(0, Ordering::Relaxed);
                Budget(counter)
            }
            None => Budget(Arc::new(AtomicU64::new(0))),
        }
    }

    /// Bytes read so far.
    pub fn used(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Wrap `inner` so that its reads count against this budget.
    pub fn wrap<S>(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            budget: self.clone(),
            limit: MAX_READ,
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        // The last holder (no stream of the check holds it any more, and
        // none can clone it meanwhile): the counter goes to the spares.
        if Arc::strong_count(&self.0) == 1 {
            spare::give(&SPARE, self.0.clone(), SPARE_MAX);
        }
    }
}

/// A stream whose reads stop with [`TooLong`] once the budget is spent.
#[derive(Debug)]
pub struct Limited<S> {
    inner: S,
    budget: Budget,
    limit: u64,
}

impl<S> Limited<S> {
    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let used = this.budget.used();
        let left = this.limit.saturating_sub(used);
        if left == 0 {
            return Poll::Ready(Err(io::Error::other(TooLong(this.limit))));
        }
        // Never ask for more than the budget allows: what is not read stays
        // in the socket, not in our memory.
        let want = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        // The unfilled part as it is, not zeroed first: zeroing a check's
        // 2 KiB buffer before every read was 2-3 % of its user time (the
        // pattern of tokio's own `Take`).
        let mut sub = buf.take(want);
        let start = sub.filled().as_ptr();
        match Pin::new(&mut this.inner).poll_read(cx, &mut sub) {
            Poll::Ready(Ok(())) => {
                // A reader may swap the buffer out from under us; then
                // nothing it read is ours to count.
                if sub.filled().as_ptr() != start {
                    return Poll::Ready(Err(io::Error::other("reader replaced its buffer")));
                }
                let n = sub.filled().len();
                // SAFETY: the inner reader filled (so initialised) the first
                // `n` bytes of `sub`, which are the first `n` unfilled bytes
                // of `buf` (same start, checked above).
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                this.budget.0.fetch_add(n as u64, Ordering::Relaxed);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Whether `e` (or an error in its source chain) is a spent budget.
pub fn is_too_long(e: &(dyn std::error::Error + 'static)) -> Option<u64> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<TooLong>() {
            return Some(t.0);
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<TooLong>()) {
                return Some(t.0);
            }
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_stop_at_the_budget() {
        let data = vec![7u8; (MAX_READ + 10_000) as usize];
        let b = Budget::new();
        let mut s = b.wrap(&data[..]);
        let mut out = Vec::new();
        let e = s.read_to_end(&mut out).await.unwrap_err();
        assert_eq!(out.len() as u64, MAX_READ);
        assert_eq!(b.used(), MAX_READ);
        assert_eq!(is_too_long(&e), Some(MAX_READ));
    }

    /// A reused counter starts again at zero, and one a stream of a check
    /// still holds is never handed to another check.
    #[tokio::test]
    async fn budgets_are_reused_fresh_and_never_shared() {
        let data = [1u8; 100];
        let a = Budget::new();
        let mut s = a.wrap(&data[..]);
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        assert_eq!(a.used(), 100);
        // the check ends but its stream lives on
        drop(a);
        let b = Budget::new();
        assert_eq!(b.used(), 0);
        let mut t = b.wrap(&data[..10]);
        t.read_to_end(&mut Vec::new()).await.unwrap();
        assert_eq!(b.used(), 10);
        assert_eq!(s.budget.used(), 100, "the first check's count moved");
        // everything gone: the next budget is a reused one, at zero
        drop((s, t, b));
        let c = Budget::new();
        assert_eq!(c.used(), 0);
        assert!(SPARE.with(|s| s.borrow().len()) >= 1);
    }
}
