//! Space accounting: the capacity limit, live usage counters and the free space of
//! the disk under the store.

use crate::store::db::CHUNK_MEMTABLE_BYTES;
use crate::store::error::StoreError;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Keep this much of the disk free: RocksDB stops accepting writes once a write
/// fails for lack of space, so we refuse chunks a little before that. A memtable
/// flush writes a full chunk memtable while the write-ahead log holding the same
/// bytes still exists (and a restart replays and flushes that log before the store
/// opens), so the reserve covers one memtable plus a margin.
pub const DISK_RESERVE_BYTES: u64 = CHUNK_MEMTABLE_BYTES as u64 + 32 * 1024 * 1024;

/// Size and free space of the file system holding `path`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSpace {
    pub total: u64,
    pub available: u64,
}

pub fn disk_space(path: &Path) -> Result<DiskSpace, StoreError> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let frag = st.fragment_size() as u64;
    Ok(DiskSpace {
        total: (st.blocks() as u64).saturating_mul(frag),
        available: (st.blocks_available() as u64).saturating_mul(frag),
    })
}

/// Live chunk count and bytes, with reservations so concurrent writers never
/// overshoot the capacity together.
#[derive(Debug)]
pub struct Usage {
    capacity: AtomicU64,
    used: AtomicU64,
    chunks: AtomicU64,
}

impl Usage {
    pub fn new(capacity: u64, used: u64, chunks: u64) -> Usage {
        Usage {
            capacity: AtomicU64::new(capacity),
            used: AtomicU64::new(used),
            chunks: AtomicU64::new(chunks),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Acquire)
    }

    /// A new limit (the disk under a store without a configured capacity was resized).
    pub fn set_capacity(&self, capacity: u64) {
        self.capacity.store(capacity, Ordering::Release);
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    pub fn chunks(&self) -> u64 {
        self.chunks.load(Ordering::Acquire)
    }

    /// Claim `bytes` of the capacity, or fail with `NoSpace` leaving usage unchanged.
    pub fn reserve(&self, bytes: u64) -> Result<(), StoreError> {
        let mut cur = self.used.load(Ordering::Acquire);
        loop {
            let next = match cur.checked_add(bytes) {
                Some(n) if n <= self.capacity() => n,
                _ => return Err(StoreError::NoSpace { needed: bytes }),
            };
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Return bytes claimed by `reserve` or freed by a delete.
    pub fn release(&self, bytes: u64) {
        let mut cur = self.used.load(Ordering::Acquire);
        loop {
            let next = cur.saturating_sub(bytes);
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn chunk_added(&self) {
        self.chunks.fetch_add(1, Ordering::AcqRel);
    }

    pub fn chunk_removed(&self) {
        // Never wraps: callers remove only chunks they counted.
        let _ = self
            .chunks
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| c.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_respect_capacity() {
        let u = Usage::new(100, 0, 0);
        u.reserve(60).expect("fits");
        assert!(matches!(
            u.reserve(41),
            Err(StoreError::NoSpace { needed: 41 })
        ));
        assert_eq!(u.used(), 60);
        u.reserve(40).expect("exactly fits");
        u.release(100);
        assert_eq!(u.used(), 0);
        u.release(5);
        assert_eq!(u.used(), 0, "release saturates");
    }

    #[test]
    fn disk_space_of_a_temp_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = disk_space(dir.path()).expect("statvfs");
        assert!(s.total > 0);
        assert!(s.available <= s.total);
    }
}
