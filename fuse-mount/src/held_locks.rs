//! The (file, lock owner) pairs this mount may hold cluster locks for, so that a close
//! asks the cluster to drop locks only when it may hold some (most closes hold none),
//! and the mount renews its lock session only while the set is not empty. Each pair is
//! also noted under the file handle it was taken through: the last close of that handle
//! drops it, which is what ends `flock` and open-file-description (`F_OFD_SETLK`) locks
//! (the kernel names the owner of those at release only for `flock`). A process's
//! `fcntl` locks taken through the handle are gone by then: its own close of the handle
//! came first, and any close by the process drops them (`flush`).

use ferrofs_client::{Client, InodeId};
use std::collections::{HashMap, HashSet};
use std::sync::Weak;
use std::time::Duration;

/// How often a mount that holds locks renews its session; the cluster's lock timeout is
/// at least three of these.
const RENEW_EVERY: Duration = Duration::from_secs(1);

type Pair = (InodeId, u64);

#[derive(Default)]
pub(crate) struct HeldLocks {
    inner: parking_lot::Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    pairs: HashSet<Pair>,
    by_handle: HashMap<u64, HashSet<Pair>>,
}

impl HeldLocks {
    /// `owner` may hold locks on `ino`, taken through file handle `fh`.
    pub(crate) fn note(&self, ino: InodeId, owner: u64, fh: u64) {
        let mut inner = self.inner.lock();
        inner.pairs.insert((ino, owner));
        inner.by_handle.entry(fh).or_default().insert((ino, owner));
    }

    /// The pairs locked through `fh`, forgotten there (its last close).
    pub(crate) fn handle_closed(&self, fh: u64) -> Vec<Pair> {
        let mut inner = self.inner.lock();
        inner
            .by_handle
            .remove(&fh)
            .map(|pairs| pairs.into_iter().collect())
            .unwrap_or_default()
    }

    /// Forget the pair; whether it was there (then the cluster may hold its locks).
    pub(crate) fn take(&self, ino: InodeId, owner: u64) -> bool {
        self.inner.lock().pairs.remove(&(ino, owner))
    }

    pub(crate) fn contains(&self, ino: InodeId, owner: u64) -> bool {
        self.inner.lock().pairs.contains(&(ino, owner))
    }

    fn is_empty(&self) -> bool {
        self.inner.lock().pairs.is_empty()
    }
}

/// Renew the lock session every second while `held` has pairs; ends with the mount.
pub(crate) async fn keep_sessions(client: Client, held: Weak<HeldLocks>) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        let Some(held) = held.upgrade() else { return };
        if held.is_empty() {
            continue;
        }
        drop(held);
        if let Err(e) = client.keep_locks().await {
            tracing::warn!(error = %e, "renewing the lock session failed; retrying");
        }
    }
}
