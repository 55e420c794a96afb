//! Which inodes are known to have no extended attributes, from attributes the cluster sent
//! within the attribute TTL. The kernel asks for `security.capability` before every write
//! and `ls -l` asks for ACL attributes of every name; answering "none" from here saves a
//! round trip to the metadata leader each time. It is as fresh as the kernel's own
//! attribute cache: another client's new attribute may go unseen for up to the TTL.

use ferrofs_client::{FileAttr, InodeId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Inodes remembered at most; past it the map starts over (only costs round trips).
const MAX_INODES: usize = 100_000;

pub(crate) struct NoXattrHints {
    ttl: Duration,
    seen: Mutex<HashMap<InodeId, Instant>>,
}

impl NoXattrHints {
    pub(crate) fn new(ttl: Duration) -> NoXattrHints {
        NoXattrHints {
            ttl,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Learn from attributes just received from the cluster.
    pub(crate) fn note(&self, attr: &FileAttr) {
        if self.ttl.is_zero() {
            return;
        }
        let mut seen = self.seen.lock();
        if attr.has_xattrs {
            seen.remove(&attr.ino);
            return;
        }
        if seen.len() >= MAX_INODES {
            seen.clear();
        }
        seen.insert(attr.ino, Instant::now());
    }

    /// This mount is changing the inode's attributes: ask the cluster from now on.
    pub(crate) fn forget(&self, ino: InodeId) {
        self.seen.lock().remove(&ino);
    }

    /// True when the cluster said, within the TTL, that `ino` has no attributes.
    pub(crate) fn known_empty(&self, ino: InodeId) -> bool {
        self.seen
            .lock()
            .get(&ino)
            .is_some_and(|at| at.elapsed() < self.ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::test_attr;
    use ferrofs_client::FileKind;

    fn attr(ino: u64, has_xattrs: bool) -> FileAttr {
        FileAttr {
            has_xattrs,
            ..test_attr(ino, FileKind::File, 0o644)
        }
    }

    #[test]
    fn only_fresh_attributes_without_xattrs_answer_locally() {
        let hints = NoXattrHints::new(Duration::from_secs(60));
        assert!(!hints.known_empty(InodeId(5)), "never seen");
        hints.note(&attr(5, false));
        assert!(hints.known_empty(InodeId(5)));
        hints.note(&attr(5, true));
        assert!(!hints.known_empty(InodeId(5)), "now has attributes");
        hints.note(&attr(6, false));
        hints.forget(InodeId(6));
        assert!(!hints.known_empty(InodeId(6)), "changed by this mount");
    }

    #[test]
    fn a_zero_ttl_or_an_old_answer_asks_the_cluster() {
        let off = NoXattrHints::new(Duration::ZERO);
        off.note(&attr(1, false));
        assert!(!off.known_empty(InodeId(1)));
        let short = NoXattrHints::new(Duration::from_nanos(1));
        short.note(&attr(2, false));
        let deadline = Instant::now() + Duration::from_secs(5);
        while short.known_empty(InodeId(2)) {
            assert!(Instant::now() < deadline, "the hint never expired");
            std::thread::yield_now();
        }
    }
}
