//! The rtnetlink connection task behind [`super::addr::Addrs`] and
//! [`super::route::Routes`], owned: `rtnetlink::new_connection` hands back
//! a future that must run for the handle to get answers; spawned bare, it
//! would outlive its handle until the runtime polled it once more. Here
//! the owner aborts it when dropped and [`ConnTask::close`] awaits its end.

use std::future::Future;

/// A spawned rtnetlink connection; aborted on drop, awaited on close.
#[derive(Debug)]
pub(crate) struct ConnTask(Option<tokio::task::JoinHandle<()>>);

impl ConnTask {
    /// Spawn `conn` on the current runtime.
    pub(crate) fn spawn(conn: impl Future<Output = ()> + Send + 'static) -> ConnTask {
        ConnTask(Some(tokio::spawn(conn)))
    }

    /// Stop the task and wait until it has ended.
    pub(crate) async fn close(mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
            // Cancelled (or already done): either way it has ended.
            let _ = t.await;
        }
    }

    /// A handle telling whether the task has ended (tests of owners).
    pub(crate) fn probe(&self) -> Option<tokio::task::AbortHandle> {
        self.0.as_ref().map(tokio::task::JoinHandle::abort_handle)
    }
}

impl Drop for ConnTask {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn close_ends_the_task_and_drop_aborts_it() {
        let c = ConnTask::spawn(std::future::pending());
        let p = c.probe().unwrap();
        assert!(!p.is_finished());
        c.close().await;
        assert!(p.is_finished());

        let c = ConnTask::spawn(std::future::pending());
        let p = c.probe().unwrap();
        drop(c);
        // Aborted: it ends at the runtime's next look at it.
        for _ in 0..100 {
            if p.is_finished() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(p.is_finished());
    }
}
