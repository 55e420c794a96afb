//! Read-ahead cache of one open file: the few chunks last read or prefetched, each
//! fetched once however many readers wait for it, and the chunk locations fetched
//! for reads that bypass it (`chunk_locations.rs`). The bytes held by every cache of a
//! mount are bounded by one shared `Budget` (`budget.rs`); without room, reads go
//! straight to the cluster instead.

use crate::budget::Reservation;
use crate::chunk_locations::ChunkLocations;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Chunks fetched ahead of a sequential reader: with one, the reader waits for
/// every fetch; with a few, fetches of several replicas overlap with the reading
/// (and the data servers' disk reads with each other: six waited less on the disk
/// than three, see docs/benchmarks.md).
pub(crate) const READ_AHEAD_CHUNKS: u64 = 6;
/// Chunks kept per open file: the one being read, those ahead, and as many again
/// behind. Slots are evicted oldest first, and under CPU load the kernel's read-ahead
/// requests arrive far enough out of order that with only one to three slots behind,
/// a late request found its chunk evicted and fetched it again (85 whole-chunk gets
/// for a 64-chunk file, `tests/tests/mount_read_ahead.rs` under load). The mount-wide
/// read budget bounds what all files hold together.
const SLOTS_PER_FILE: usize = READ_AHEAD_CHUNKS as usize * 2 + 2;

/// One cached chunk: its bytes as stored when fetched (short at the end of the file).
#[derive(Debug)]
pub(crate) struct CachedChunk {
    pub(crate) data: Bytes,
    _held: Reservation,
}

impl CachedChunk {
    pub(crate) fn new(data: Bytes, held: Reservation) -> CachedChunk {
        CachedChunk { data, _held: held }
    }
}

/// A chunk being fetched or fetched: readers share one fetch through the cell.
pub(crate) type Slot = Arc<OnceCell<CachedChunk>>;

#[derive(Debug, Default)]
pub(crate) struct ReadCache {
    slots: Mutex<VecDeque<(u64, Slot)>>,
    pub(crate) locations: Mutex<ChunkLocations>,
}

impl ReadCache {
    /// The slot of chunk `index`, made (evicting the oldest) if absent.
    pub(crate) fn slot(&self, index: u64) -> Slot {
        let mut slots = self.slots.lock();
        if let Some((_, s)) = slots.iter().find(|(i, _)| *i == index) {
            return s.clone();
        }
        if slots.len() >= SLOTS_PER_FILE {
            slots.pop_front();
        }
        let s: Slot = Arc::new(OnceCell::new());
        slots.push_back((index, s.clone()));
        s
    }

    pub(crate) fn contains(&self, index: u64) -> bool {
        self.slots.lock().iter().any(|(i, _)| *i == index)
    }

    /// Forget chunk `index` (its stored content changed).
    pub(crate) fn invalidate(&self, index: u64) {
        self.slots.lock().retain(|(i, _)| *i != index);
        self.locations.lock().forget(index);
    }

    /// Forget every chunk (open, truncate).
    pub(crate) fn clear(&self) {
        self.slots.lock().clear();
        self.locations.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_chunk_gives_its_bytes_back_when_dropped() {
        let b = crate::budget::Budget::new(10);
        let held = b.reserve(4).expect("room");
        drop(CachedChunk::new(Bytes::from_static(&[1]), held));
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn slots_are_shared_evicted_oldest_first_and_invalidated() {
        let c = ReadCache::default();
        let a = c.slot(1);
        assert!(Arc::ptr_eq(&a, &c.slot(1)));
        for i in 2..=SLOTS_PER_FILE as u64 + 1 {
            c.slot(i);
        }
        assert!(!c.contains(1));
        assert!(c.contains(2) && c.contains(4));
        c.invalidate(3);
        assert!(!c.contains(3));
        c.clear();
        assert!(!c.contains(2));
    }
}
