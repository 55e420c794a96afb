//! File locks through `apply` and `query`: conflicts between owners and between mounts,
//! release of one owner's locks, and a mount's session ending.

use super::fixture::*;
use crate::namespace::lock_holders;
use crate::namespace::lock_ranges::tests::{lock, owner};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::{ClientId, InodeId};
use ferrofs_proto::lock::{FileLock, LockKind, LockOwner, MAX_LOCKS_PER_FILE};
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};

fn set(fs: &mut Fs, ino: InodeId, l: FileLock) -> MetaResponse {
    fs.apply(MetaOp::SetLock { ino, lock: l })
}

fn unlock_all(fs: &mut Fs, ino: InodeId, o: LockOwner) {
    fs.ok(MetaOp::Unlock {
        ino,
        owner: o,
        start: 0,
        end: u64::MAX,
    });
}

fn test(fs: &Fs, ino: InodeId, l: FileLock) -> Option<FileLock> {
    match fs.query(MetaRequest::TestLock { ino, lock: l }) {
        MetaResponse::Lock(held) => held,
        other => panic!("TestLock answered {other:?}"),
    }
}

#[test]
fn a_lock_held_on_one_mount_refuses_another_mounts_writer_until_released() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "db");
    let (a, b) = (owner(1, 10), owner(2, 10));
    assert_eq!(
        set(&mut fs, f, lock(a, LockKind::Write, 0, 99)),
        MetaResponse::Done
    );
    assert_eq!(
        set(&mut fs, f, lock(b, LockKind::Read, 50, 50)),
        MetaResponse::Error(FsError::WouldBlock)
    );
    let held = test(&fs, f, lock(b, LockKind::Read, 50, 50)).expect("a conflict");
    assert_eq!((held.owner, held.start, held.end, held.pid), (a, 0, 99, 7));
    assert_eq!(test(&fs, f, lock(b, LockKind::Read, 100, 200)), None);
    unlock_all(&mut fs, f, a);
    assert_eq!(
        set(&mut fs, f, lock(b, LockKind::Write, 0, u64::MAX)),
        MetaResponse::Done
    );
    fs.check();
}

#[test]
fn a_refused_lock_changes_nothing() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let (a, b) = (owner(1, 1), owner(1, 2));
    fs.ok(MetaOp::SetLock {
        ino: f,
        lock: lock(a, LockKind::Read, 0, 9),
    });
    fs.ok(MetaOp::SetLock {
        ino: f,
        lock: lock(b, LockKind::Read, 20, 29),
    });
    // b's upgrade over both ranges conflicts with a: b keeps its read lock as it was.
    assert_eq!(
        set(&mut fs, f, lock(b, LockKind::Write, 0, 29)),
        MetaResponse::Error(FsError::WouldBlock)
    );
    let c = owner(3, 1);
    let held = test(&fs, f, lock(c, LockKind::Write, 20, 20)).expect("b still holds");
    assert_eq!((held.owner, held.kind), (b, LockKind::Read));
    assert_eq!(test(&fs, f, lock(c, LockKind::Write, 10, 19)), None);
}

#[test]
fn a_session_ending_drops_only_that_mounts_locks() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let g = fs.create(ROOT, "g");
    fs.ok(MetaOp::SetLock {
        ino: f,
        lock: lock(owner(1, 1), LockKind::Write, 0, 9),
    });
    fs.ok(MetaOp::SetLock {
        ino: g,
        lock: lock(owner(1, 2), LockKind::Read, 0, 9),
    });
    fs.ok(MetaOp::SetLock {
        ino: g,
        lock: lock(owner(2, 1), LockKind::Read, 0, 9),
    });
    let holders = lock_holders(&fs.store).expect("holders");
    assert_eq!(
        holders.into_iter().collect::<Vec<_>>(),
        [ClientId(1), ClientId(2)]
    );
    fs.ok(MetaOp::ExpireLockSessions {
        clients: vec![ClientId(1)],
    });
    let holders = lock_holders(&fs.store).expect("holders");
    assert_eq!(holders.into_iter().collect::<Vec<_>>(), [ClientId(2)]);
    let other = owner(3, 1);
    assert_eq!(test(&fs, f, lock(other, LockKind::Write, 0, 9)), None);
    assert!(test(&fs, g, lock(other, LockKind::Write, 0, 9)).is_some());
}

#[test]
fn bad_lock_requests_are_refused() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let a = owner(1, 1);
    assert!(matches!(
        fs.err(MetaOp::SetLock {
            ino: f,
            lock: lock(a, LockKind::Read, 10, 9),
        }),
        FsError::Invalid(_)
    ));
    assert_eq!(
        fs.err(MetaOp::SetLock {
            ino: InodeId(9999),
            lock: lock(a, LockKind::Read, 0, 9),
        }),
        FsError::NotFound
    );
    // One file's record is bounded: disjoint read locks of many owners run out.
    for i in 0..MAX_LOCKS_PER_FILE as u64 {
        fs.ok(MetaOp::SetLock {
            ino: f,
            lock: lock(owner(1, i), LockKind::Read, i * 2, i * 2),
        });
    }
    assert_eq!(
        fs.err(MetaOp::SetLock {
            ino: f,
            lock: lock(owner(9, 9), LockKind::Read, 5_000_000, 5_000_000),
        }),
        FsError::TooManyLocks
    );
    // Unlocking what an owner does not hold is no error.
    unlock_all(&mut fs, f, owner(8, 8));
}
