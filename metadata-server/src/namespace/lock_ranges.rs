//! The byte-range arithmetic of file locks, as `fcntl(2)` defines it: an owner's new lock
//! replaces what it held of the range (splitting a lock that reaches past it), touching
//! locks of one owner and kind merge, and only other owners' overlapping locks where one
//! side is exclusive conflict. Pure; `locks` stores the result.

use ferrofs_proto::lock::{FileLock, LockOwner};

/// The first of `held` that keeps `want` from being granted.
pub fn conflict<'a>(held: &'a [FileLock], want: &FileLock) -> Option<&'a FileLock> {
    held.iter().find(|l| l.blocks(want))
}

/// Drop what `owner` holds of bytes `start ..= end`.
pub fn cut(held: &mut Vec<FileLock>, owner: &LockOwner, start: u64, end: u64) {
    let mut kept = Vec::with_capacity(held.len() + 1);
    for l in held.drain(..) {
        if l.owner != *owner || !l.overlaps(start, end) {
            kept.push(l);
            continue;
        }
        if l.start < start {
            kept.push(FileLock {
                end: start - 1,
                ..l
            });
        }
        if l.end > end {
            kept.push(FileLock {
                start: end + 1,
                ..l
            });
        }
    }
    *held = kept;
}

/// Grant `want` (the caller checked `conflict`): it replaces its owner's locks on the
/// range and merges with the owner's touching locks of the same kind.
pub fn take(held: &mut Vec<FileLock>, want: FileLock) {
    cut(held, &want.owner, want.start, want.end);
    let mut merged = want;
    held.retain(|l| {
        let touching = l.owner == merged.owner
            && l.kind == merged.kind
            && l.start <= merged.end.saturating_add(1)
            && merged.start <= l.end.saturating_add(1);
        if touching {
            merged.start = merged.start.min(l.start);
            merged.end = merged.end.max(l.end);
        }
        !touching
    });
    held.push(merged);
    held.sort_by_key(|l| (l.start, l.owner));
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use ferrofs_proto::lock::LockKind;
    use ferrofs_proto::lock::LockKind::{Read, Write};
    use ferrofs_proto::ClientId;

    pub(in crate::namespace) fn owner(client: u64, owner: u64) -> LockOwner {
        LockOwner {
            client: ClientId(client),
            owner,
        }
    }

    /// A lock of process 7.
    pub(in crate::namespace) fn lock(
        o: LockOwner,
        kind: LockKind,
        start: u64,
        end: u64,
    ) -> FileLock {
        FileLock {
            owner: o,
            pid: 7,
            kind,
            start,
            end,
        }
    }

    fn ranges(held: &[FileLock]) -> Vec<(u64, u64, LockKind)> {
        held.iter().map(|l| (l.start, l.end, l.kind)).collect()
    }

    #[test]
    fn readers_share_and_a_writer_is_refused() {
        let (a, b) = (owner(1, 1), owner(2, 1));
        let mut held = Vec::new();
        take(&mut held, lock(a, Read, 0, 99));
        assert!(conflict(&held, &lock(b, Read, 50, 60)).is_none());
        assert_eq!(conflict(&held, &lock(b, Write, 99, 200)), Some(&held[0]));
        assert!(conflict(&held, &lock(b, Write, 100, 200)).is_none());
        // The same owner never conflicts with itself.
        assert!(conflict(&held, &lock(a, Write, 0, 99)).is_none());
    }

    #[test]
    fn owners_on_different_mounts_are_different_owners() {
        let mut held = Vec::new();
        take(&mut held, lock(owner(1, 5), Write, 0, u64::MAX));
        assert!(conflict(&held, &lock(owner(2, 5), Read, 0, 0)).is_some());
    }

    #[test]
    fn a_new_lock_splits_the_owners_old_one() {
        let a = owner(1, 1);
        let mut held = Vec::new();
        take(&mut held, lock(a, Read, 0, 99));
        take(&mut held, lock(a, Write, 40, 59));
        assert_eq!(
            ranges(&held),
            vec![(0, 39, Read), (40, 59, Write), (60, 99, Read)]
        );
        cut(&mut held, &a, 50, 69);
        assert_eq!(
            ranges(&held),
            vec![(0, 39, Read), (40, 49, Write), (70, 99, Read)]
        );
    }

    #[test]
    fn touching_locks_of_one_kind_merge() {
        let a = owner(1, 1);
        let mut held = Vec::new();
        take(&mut held, lock(a, Write, 0, 9));
        take(&mut held, lock(a, Write, 20, 29));
        take(&mut held, lock(a, Write, 10, 19));
        assert_eq!(ranges(&held), vec![(0, 29, Write)]);
        take(&mut held, lock(a, Read, 30, u64::MAX));
        assert_eq!(ranges(&held), vec![(0, 29, Write), (30, u64::MAX, Read)]);
    }

    #[test]
    fn unlocking_everything_leaves_other_owners_alone() {
        let (a, b) = (owner(1, 1), owner(1, 2));
        let mut held = Vec::new();
        take(&mut held, lock(a, Read, 0, 9));
        take(&mut held, lock(b, Read, 5, 15));
        take(&mut held, lock(a, Read, 100, 200));
        cut(&mut held, &a, 0, u64::MAX);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].owner, b);
    }
}
