//! Which inodes are known to have no extended attributes, from attributes the cluster sent
//! within the attribute TTL. The kernel asks for `security.capability` before every write
//! and `ls -l` asks for ACL attributes of every name; answering "none" from here saves a
//! round trip to the metadata leader each time. It is as fresh as the kernel's own
//! attribute cache: another client's new attribute may go unseen for up to the TTL.
//!
//! A file being written gets no fresh attributes from the cluster (its writes are
//! buffered), so the kernel's question before each write would go to the leader once
//! the TTL passed; the cluster's "no such attribute" for one name is remembered for the
//! TTL as well.

use ferrofs_client::{FileAttr, InodeId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Inodes remembered at most; past it the map starts over (only costs round trips).
const MAX_INODES: usize = 100_000;
/// Absent names remembered per inode at most.
const MAX_NAMES: usize = 8;

/// Attribute names an inode does not have, each with when the cluster said so.
type AbsentNames = Vec<(Vec<u8>, Instant)>;

pub(crate) struct NoXattrHints {
    ttl: Duration,
    seen: Mutex<HashMap<InodeId, Instant>>,
    /// Names the cluster said an inode does not have, and when.
    absent: Mutex<HashMap<InodeId, AbsentNames>>,
}

impl NoXattrHints {
    pub(crate) fn new(ttl: Duration) -> NoXattrHints {
        NoXattrHints {
            ttl,
            seen: Mutex::new(HashMap::new()),
            absent: Mutex::new(HashMap::new()),
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
            self.absent.lock().remove(&attr.ino);
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
        self.absent.lock().remove(&ino);
    }

    /// The cluster said just now that `ino` has no attribute `name`.
    pub(crate) fn note_absent(&self, ino: InodeId, name: &[u8]) {
        if self.ttl.is_zero() {
            return;
        }
        let mut absent = self.absent.lock();
        if absent.len() >= MAX_INODES {
            absent.clear();
        }
        let names = absent.entry(ino).or_default();
        names.retain(|(n, at)| n != name && at.elapsed() < self.ttl);
        if names.len() >= MAX_NAMES {
            names.remove(0);
        }
        names.push((name.to_vec(), Instant::now()));
    }

    /// True when `ino` has no attribute `name` as far as the cluster said within the
    /// TTL (no attributes at all, or not this one).
    pub(crate) fn known_absent(&self, ino: InodeId, name: &[u8]) -> bool {
        self.known_empty(ino)
            || self.absent.lock().get(&ino).is_some_and(|names| {
                names
                    .iter()
                    .any(|(n, at)| n == name && at.elapsed() < self.ttl)
            })
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
    fn an_absent_name_answers_locally_until_this_mount_changes_the_inode() {
        let hints = NoXattrHints::new(Duration::from_secs(60));
        let (ino, cap) = (InodeId(7), b"security.capability".as_slice());
        assert!(!hints.known_absent(ino, cap), "never asked");
        hints.note_absent(ino, cap);
        assert!(hints.known_absent(ino, cap));
        assert!(!hints.known_absent(ino, b"user.other"), "only that name");
        hints.forget(ino);
        assert!(!hints.known_absent(ino, cap), "changed by this mount");
        hints.note_absent(ino, cap);
        hints.note(&attr(7, true));
        assert!(
            !hints.known_absent(ino, cap),
            "the cluster says it has attributes now"
        );
        for i in 0..20u8 {
            hints.note_absent(ino, &[b'u', i]);
        }
        assert!(hints.known_absent(ino, &[b'u', 19]));
        assert!(!hints.known_absent(ino, &[b'u', 0]), "bounded per inode");
        let off = NoXattrHints::new(Duration::ZERO);
        off.note_absent(ino, cap);
        assert!(!off.known_absent(ino, cap));
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
