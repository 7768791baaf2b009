//! A byte budget per check: every stream a check reads from is wrapped in
//! [`Limited`], which fails the read once [`MAX_READ`] bytes came in. Caps on
//! decoded bodies alone do not bound memory: a server can send endless
//! chunk extensions, header bytes or a length prefix of 2 GB that a client
//! library buffers before decoding anything.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes one check reads from the server, all connections and
/// redirects of the check together.
pub const MAX_READ: u64 = 8 << 20;

/// The error a [`Limited`] stream returns past its budget; found again in an
/// error chain by [`super::CheckError::from_io`] and `from_lib`.
#[derive(Debug, thiserror::Error)]
#[error("answer longer than {0} bytes (the check's read limit)")]
pub struct TooLong(pub u64);

/// Bytes read so far by the streams of one check (shared by its connections).
#[derive(Debug, Clone, Default)]
pub struct Budget(Arc<AtomicU64>);

impl Budget {
    /// A fresh budget of [`MAX_READ`] bytes.
    pub fn new() -> Budget {
        Budget::default()
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
}
