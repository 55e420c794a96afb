//! Wake-ups for this mount's blocked lock calls. A blocked `F_SETLKW` or `flock` polls the
//! cluster, backing off to 100 ms between tries, since another mount's release reaches it
//! no other way. A release on this mount (an unlock, a downgrade to a read lock, a close)
//! is seen here, so the waiters on the same file try again at once instead.

use ferrofs_client::InodeId;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Changes buffered per waiter; a waiter that falls further behind just tries again.
const BACKLOG: usize = 64;

pub(crate) struct LockWakeups {
    changed: broadcast::Sender<InodeId>,
}

impl Default for LockWakeups {
    fn default() -> Self {
        LockWakeups {
            changed: broadcast::channel(BACKLOG).0,
        }
    }
}

impl LockWakeups {
    /// A lock on `ino` was given up or weakened on this mount.
    pub(crate) fn released(&self, ino: InodeId) {
        // No receiver just means nobody waits.
        let _ = self.changed.send(ino);
    }

    /// Start watching `ino`, before the first try, so no release in between is missed.
    pub(crate) fn watch(&self, ino: InodeId) -> LockWatch {
        LockWatch {
            ino,
            changes: self.changed.subscribe(),
        }
    }
}

pub(crate) struct LockWatch {
    ino: InodeId,
    changes: broadcast::Receiver<InodeId>,
}

impl LockWatch {
    /// Wait up to `pause`; true as soon as a lock on the watched file is released here.
    pub(crate) async fn wait(&mut self, pause: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + pause;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return false,
                change = self.changes.recv() => match change {
                    Ok(ino) if ino != self.ino => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => return true,
                    Err(RecvError::Closed) => {
                        tokio::time::sleep_until(deadline).await;
                        return false;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn a_release_of_the_watched_file_wakes_even_if_it_came_first() {
        let wakeups = LockWakeups::default();
        let mut watch = wakeups.watch(InodeId(7));
        wakeups.released(InodeId(7));
        let woke = tokio::time::timeout(LONG, watch.wait(LONG)).await;
        assert_eq!(woke.ok(), Some(true));
    }

    #[tokio::test]
    async fn releases_of_other_files_do_not_wake() {
        let wakeups = LockWakeups::default();
        let mut watch = wakeups.watch(InodeId(7));
        wakeups.released(InodeId(8));
        assert!(!watch.wait(Duration::from_millis(20)).await);
        // Released before watching: not this waiter's business either.
        let mut later = wakeups.watch(InodeId(8));
        assert!(!later.wait(Duration::from_millis(20)).await);
    }

    #[tokio::test]
    async fn a_waiter_far_behind_tries_again() {
        let wakeups = LockWakeups::default();
        let mut watch = wakeups.watch(InodeId(7));
        for _ in 0..(BACKLOG * 2) {
            wakeups.released(InodeId(8));
        }
        let woke = tokio::time::timeout(LONG, watch.wait(LONG)).await;
        assert_eq!(woke.ok(), Some(true));
    }
}
