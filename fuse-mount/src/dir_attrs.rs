//! A directory's attributes as this mount's own create or mkdir left them.
//!
//! After a create the kernel drops the directory's cached attributes and, for the
//! permission check of the next path walk, asks for them again: one round trip to the
//! leader per created file. The create's commit already returns the directory's
//! attributes after the change, so the mount keeps them and answers that getattr itself.
//!
//! They are used only while no other namespace change has been made through this mount
//! since the create (its own counter moved by exactly the create's own bump; data commits
//! do not count, they leave directories alone) and for at most
//! the attribute TTL: the staleness the kernel's attribute cache allows anyway. A change
//! made by another mount in between can go unseen for that long, as with the kernel cache.

use crate::dir_scan::Changes;
use ferrofs_client::{FileAttr, InodeId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most directories remembered; older entries are dropped beyond this.
const MAX_DIRS: usize = 1024;

struct Fresh {
    attr: FileAttr,
    at: Instant,
    /// The change counter read before the change was sent.
    before: u64,
}

pub(crate) struct DirAttrs {
    ttl: Duration,
    /// This mount's namespace changes (`namespace_changed`); not `dir_scan`'s counter,
    /// which data commits move too.
    changes: Changes,
    dirs: Mutex<HashMap<InodeId, Fresh>>,
}

impl DirAttrs {
    /// Remembered for at most `ttl` (the attribute TTL); zero turns it off.
    pub(crate) fn new(ttl: Duration) -> DirAttrs {
        DirAttrs {
            ttl,
            changes: Changes::default(),
            dirs: Mutex::new(HashMap::new()),
        }
    }

    /// Count a change this mount made to the namespace (not file data: a data commit
    /// leaves the directories' attributes as they were).
    pub(crate) fn namespace_changed(&self) {
        self.changes.bump();
    }

    /// The counter to pass to `record` once the change is committed: read it before
    /// sending the change.
    pub(crate) fn before_change(&self) -> u64 {
        self.changes.current()
    }

    /// Remember `dir` as the commit of a change sent when the counter was `before`.
    pub(crate) fn record(&self, dir: FileAttr, before: u64, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        if dirs.len() >= MAX_DIRS {
            let ttl = self.ttl;
            dirs.retain(|_, f| now.duration_since(f.at) < ttl);
            if dirs.len() >= MAX_DIRS {
                dirs.clear();
            }
        }
        let ino = dir.ino;
        let fresh = Fresh {
            attr: dir,
            at: now,
            before,
        };
        dirs.insert(ino, fresh);
    }

    /// The remembered attributes of `ino`, if nothing else changed through this mount
    /// since and they are younger than the TTL.
    pub(crate) fn get(&self, ino: InodeId, now: Instant) -> Option<FileAttr> {
        let dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = dirs.get(&ino)?;
        let only_this_change = self.changes.current() == fresh.before.wrapping_add(1);
        (only_this_change && now.duration_since(fresh.at) < self.ttl).then(|| fresh.attr.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_client::{FileKind, Timestamp};

    fn dir(ino: u64, mtime: i128) -> FileAttr {
        FileAttr {
            ino: InodeId(ino),
            kind: FileKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            nlink: 2,
            atime: Timestamp(mtime),
            mtime: Timestamp(mtime),
            ctime: Timestamp(mtime),
            generation: 1,
            has_xattrs: false,
        }
    }

    #[test]
    fn used_only_after_exactly_the_one_change_and_within_the_ttl() {
        let cache = DirAttrs::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let before = cache.before_change();
        cache.record(dir(5, 10), before, t0);
        assert_eq!(
            cache.get(InodeId(5), t0),
            None,
            "the change is not counted yet"
        );
        cache.namespace_changed();
        assert_eq!(cache.get(InodeId(5), t0), Some(dir(5, 10)));
        assert_eq!(cache.get(InodeId(6), t0), None, "another directory");
        assert_eq!(
            cache.get(InodeId(5), t0 + Duration::from_secs(2)),
            None,
            "too old"
        );
        cache.namespace_changed();
        assert_eq!(cache.get(InodeId(5), t0), None, "another change since");
    }

    #[test]
    fn a_zero_ttl_turns_it_off_and_the_map_stays_bounded() {
        let off = DirAttrs::new(Duration::ZERO);
        off.record(dir(5, 10), off.before_change(), Instant::now());
        off.namespace_changed();
        assert_eq!(off.get(InodeId(5), Instant::now()), None);
        let on = DirAttrs::new(Duration::from_secs(1));
        let now = Instant::now();
        for ino in 0..(MAX_DIRS as u64 * 3) {
            on.record(dir(ino, 1), 0, now);
        }
        let held = on.dirs.lock().expect("lock").len();
        assert!(held <= MAX_DIRS, "{held} directories remembered");
    }
}
