//! `getlk` and `setlk` against the cluster's lock table, and dropping a lock owner's
//! locks when the kernel says its file was closed (`flush` for `fcntl` locks, `release`
//! for `flock`). A blocking `setlk` polls the cluster, and tries again at once when a
//! lock on the file is released on this mount (`lock_wakeups`). fuser does not pass on
//! FUSE interrupts, so it watches the caller for a pending signal itself and answers
//! `EINTR`, which the kernel turns into a restart of the call or its `EINTR` (so a
//! waiter can be killed).

use super::Core;
use crate::error::OrErrno;
use crate::lock_wakeups::LockWatch;
use ferrofs_client::{FsError, InodeId, Lock, LockKind};
use fuser::Errno;
use std::time::Duration;

/// First and longest pause between attempts of a blocking lock.
const FIRST_RETRY: Duration = Duration::from_millis(5);
const LONGEST_RETRY: Duration = Duration::from_millis(100);

/// A `getlk` answer: the conflicting range, its type and holder, or `F_UNLCK`.
pub(crate) struct LockReply {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) typ: i32,
    pub(crate) pid: u32,
}

fn kind_of(typ: i32) -> Option<LockKind> {
    match typ {
        libc::F_RDLCK => Some(LockKind::Read),
        libc::F_WRLCK => Some(LockKind::Write),
        _ => None,
    }
}

fn typ_of(kind: LockKind) -> i32 {
    match kind {
        LockKind::Read => libc::F_RDLCK,
        LockKind::Write => libc::F_WRLCK,
    }
}

/// A lock request of this mount's lock owner `owner`.
pub(crate) struct LockRequest {
    pub(crate) ino: InodeId,
    /// The open file it comes through.
    pub(crate) fh: u64,
    pub(crate) owner: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) typ: i32,
    /// The process the lock is for (reported by `getlk`).
    pub(crate) pid: u32,
}

impl Core {
    fn lock_of(&self, r: &LockRequest, kind: LockKind) -> Lock {
        Lock {
            owner: self.client.lock_owner(r.owner),
            pid: r.pid,
            kind,
            start: r.start,
            end: r.end,
        }
    }

    pub(crate) async fn getlk(&self, r: LockRequest) -> Result<LockReply, Errno> {
        let unlocked = LockReply {
            start: r.start,
            end: r.end,
            typ: libc::F_UNLCK,
            pid: 0,
        };
        let Some(kind) = kind_of(r.typ) else {
            return Ok(unlocked);
        };
        let held = self.client.test_lock(r.ino, self.lock_of(&r, kind));
        Ok(match held.await.or_errno("getlk")? {
            Some(l) => LockReply {
                start: l.start,
                end: l.end,
                typ: typ_of(l.kind),
                pid: l.pid,
            },
            None => unlocked,
        })
    }

    /// `setlk`; with `wait`, until granted or the caller `tid` has a signal pending.
    pub(crate) async fn setlk(&self, r: LockRequest, wait: bool, tid: u32) -> Result<(), Errno> {
        let Some(kind) = kind_of(r.typ) else {
            return self.unlock(r.ino, r.owner, r.start, r.end).await;
        };
        let lock = self.lock_of(&r, kind);
        let mut pause = FIRST_RETRY;
        let mut released_here = self.lock_wakeups.watch(r.ino);
        loop {
            match self.client.set_lock(r.ino, lock).await {
                Ok(()) => {
                    self.held_locks.note(r.ino, r.owner, r.fh);
                    if kind == LockKind::Read {
                        // It may have replaced a write lock: readers waiting here may go.
                        self.lock_wakeups.released(r.ino);
                    }
                    return Ok(());
                }
                Err(e) if matches!(e.fs(), Some(FsError::WouldBlock)) => {
                    if !wait {
                        return Err(Errno::EAGAIN);
                    }
                }
                Err(e) => {
                    // The outcome is unknown (a timeout may have been granted late).
                    self.held_locks.note(r.ino, r.owner, r.fh);
                    return Err(crate::error::errno_of("setlk", &e));
                }
            }
            pause = self
                .wait_until_free(&r, lock, tid, pause, &mut released_here)
                .await?;
        }
    }

    /// Wait until `lock` looks grantable: a release on this mount, or the cluster's lock
    /// table showing no conflict. The table is polled with reads (`F_GETLK`'s query): a
    /// refused `SetLock` is a Raft commit, a read is not. Returns the next pause.
    async fn wait_until_free(
        &self,
        r: &LockRequest,
        lock: Lock,
        tid: u32,
        mut pause: Duration,
        released_here: &mut LockWatch,
    ) -> Result<Duration, Errno> {
        loop {
            if signal_pending(tid) {
                return Err(Errno::EINTR);
            }
            if released_here.wait(pause).await {
                return Ok(FIRST_RETRY);
            }
            pause = (pause * 2).min(LONGEST_RETRY);
            match self.client.test_lock(r.ino, lock).await {
                Ok(Some(_)) => continue,
                // Free, or the cluster did not answer: the next `SetLock` says which.
                Ok(None) | Err(_) => return Ok(pause),
            }
        }
    }

    async fn unlock(&self, ino: InodeId, owner: u64, start: u64, end: u64) -> Result<(), Errno> {
        if !self.held_locks.contains(ino, owner) {
            return Ok(());
        }
        let whole = start == 0 && end >= i64::MAX as u64;
        let lock_owner = self.client.lock_owner(owner);
        self.client
            .unlock(ino, lock_owner, start, end)
            .await
            .or_errno("unlock")?;
        self.lock_wakeups.released(ino);
        if whole {
            self.held_locks.take(ino, owner);
        }
        Ok(())
    }

    /// Drop every lock `owner` holds on `ino` (a process closed the file), if it may
    /// hold any. The client retries through elections for its failover timeout; if the
    /// cluster stays away longer, the locks stay until this mount's session ends (no
    /// retry later: it could drop a lock the owner took again meanwhile).
    pub(crate) async fn release_locks(&self, ino: InodeId, owner: u64) -> Result<(), Errno> {
        if !self.held_locks.take(ino, owner) {
            return Ok(());
        }
        let lock_owner = self.client.lock_owner(owner);
        self.client
            .unlock(ino, lock_owner, 0, u64::MAX)
            .await
            .or_errno("unlock")?;
        self.lock_wakeups.released(ino);
        Ok(())
    }

    /// The last close of file handle `fh`: drop the locks taken through it (`flock`,
    /// open-file-description locks).
    pub(crate) async fn release_handle_locks(&self, fh: u64) {
        for (ino, owner) in self.held_locks.handle_closed(fh) {
            if let Err(e) = self.release_locks(ino, owner).await {
                tracing::warn!(%ino, errno = e.code(), "dropping the locks of a closed file failed");
            }
        }
    }
}

/// Whether thread `tid` has an unblocked signal pending (or is gone): then a waiting
/// lock call must give way, as the FUSE interrupt it cannot see would have asked.
/// Tid 0 is a caller outside the mount's pid namespace: it cannot be watched, and an
/// `EINTR` without a pending signal would reach it as a bare `ERESTARTSYS`.
fn signal_pending(tid: u32) -> bool {
    if tid == 0 {
        return false;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{tid}/status")) else {
        return true;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let pending = field("SigPnd:") | field("ShdPnd:");
    let sigkill = 1u64 << (libc::SIGKILL - 1);
    pending & (!field("SigBlk:") | sigkill) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_thread_without_signals_has_none_pending() {
        let tid = this_thread_id();
        assert!(!signal_pending(tid));
        assert!(
            signal_pending(u32::MAX),
            "a missing process counts as interrupted"
        );
    }

    fn this_thread_id() -> u32 {
        std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name()?.to_str()?.parse().ok())
            .expect("the thread id from /proc/thread-self")
    }
}
