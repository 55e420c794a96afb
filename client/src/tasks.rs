//! Spawned work kept in submission order, aborted if the owner gives up early.

use crate::error::ClientError;
use std::collections::VecDeque;
use std::future::Future;
use tokio::task::JoinHandle;

/// Tasks awaited in the order they were started; dropping the queue aborts the rest,
/// so a failed stream leaves no uploads or downloads running behind it.
pub(crate) struct OrderedTasks<T> {
    queue: VecDeque<JoinHandle<T>>,
}

impl<T: Send + 'static> OrderedTasks<T> {
    pub(crate) fn new() -> Self {
        OrderedTasks {
            queue: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn spawn(&mut self, work: impl Future<Output = T> + Send + 'static) {
        self.queue.push_back(tokio::spawn(work));
    }

    /// The result of the oldest task, or `None` when none is left.
    pub(crate) async fn next(&mut self) -> Option<Result<T, ClientError>> {
        let handle = self.queue.pop_front()?;
        Some(
            handle
                .await
                .map_err(|e| ClientError::TaskFailed(e.to_string())),
        )
    }
}

impl<T> Drop for OrderedTasks<T> {
    fn drop(&mut self) {
        for h in &self.queue {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn results_come_in_start_order() {
        let mut t = OrderedTasks::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        t.spawn(async move {
            let _ = rx.await;
            1
        });
        t.spawn(async { 2 });
        let _ = tx.send(());
        assert_eq!(t.next().await.map(|r| r.ok()), Some(Some(1)));
        assert_eq!(t.next().await.map(|r| r.ok()), Some(Some(2)));
        assert!(t.next().await.is_none());
    }

    #[tokio::test]
    async fn dropping_aborts_what_is_left() {
        let token = Arc::new(());
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let mut t = OrderedTasks::new();
        let held = token.clone();
        t.spawn(async move {
            let _held = held;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        });
        let _ = started_rx.await;
        assert_eq!(Arc::strong_count(&token), 2);
        drop(t);
        // An aborted task drops its future, and with it the clone it holds.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&token) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "task still running after drop"
            );
            tokio::task::yield_now().await;
        }
    }
}
