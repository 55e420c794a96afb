//! Byte-range file locks, held by the metadata quorum so that they hold between mounts.
//! POSIX `fcntl` locks and `flock` share them: the mount sends a `flock` as a lock of the
//! whole file owned by the open file (as Linux's NFS client does), so the two kinds
//! conflict with each other here where a local file system would keep them apart.

use crate::ids::ClientId;
use serde::{Deserialize, Serialize};

/// Most locks one file may carry (all owners together): a record stays small.
pub const MAX_LOCKS_PER_FILE: usize = 1024;

/// Shared (read) or exclusive (write).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LockKind {
    Read,
    Write,
}

/// Who holds a lock: a mount (its client id, which its lock session renews) and the
/// kernel's lock owner on that mount (a process's file table for `fcntl`, an open file
/// for `flock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockOwner {
    pub client: ClientId,
    pub owner: u64,
}

/// One held lock (or one wanted): bytes `start ..= end` of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLock {
    pub owner: LockOwner,
    /// The process that took it, for `F_GETLK` (meaningful on its own mount only).
    pub pid: u32,
    pub kind: LockKind,
    pub start: u64,
    /// Inclusive; the kernel sends `OFFSET_MAX` for "to the end of the file".
    pub end: u64,
}

impl FileLock {
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }

    /// Whether `self`, held, keeps `want` from being granted.
    pub fn blocks(&self, want: &FileLock) -> bool {
        self.owner != want.owner
            && self.overlaps(want.start, want.end)
            && (self.kind == LockKind::Write || want.kind == LockKind::Write)
    }
}
