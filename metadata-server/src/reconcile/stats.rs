//! The loop's counters, shared with `ferrofs status`.

use ferrofs_proto::ids::ChunkId;
use ferrofs_proto::meta_msg::{RepairRecord, RepairStatus, RECENT_REPAIRS};
use std::sync::Mutex;

#[derive(Default)]
pub struct RepairStats {
    inner: Mutex<RepairStatus>,
}

impl RepairStats {
    fn with<T>(&self, f: impl FnOnce(&mut RepairStatus) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn snapshot(&self) -> RepairStatus {
        self.with(|s| s.clone())
    }

    pub fn set_pending(&self, in_flight: u64, garbage_pending: u64, under_replicated: u64) {
        self.with(|s| {
            s.in_flight = in_flight;
            s.garbage_pending = garbage_pending;
            s.under_replicated_live = under_replicated;
        });
    }

    pub fn repaired(&self, chunk: ChunkId, live_copies: u32) {
        self.with(|s| {
            s.chunks_repaired += 1;
            if s.recent.len() >= RECENT_REPAIRS {
                s.recent.remove(0);
            }
            s.recent.push(RepairRecord { chunk, live_copies });
        });
    }

    pub fn surplus_removed(&self) {
        self.with(|s| s.surplus_removed += 1);
    }

    pub fn copy_deleted(&self, bytes: u64) {
        self.with(|s| s.bytes_reclaimed += bytes);
    }

    pub fn collected(&self) {
        self.with(|s| s.garbage_collected += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_repairs_are_a_bounded_ring() {
        let stats = RepairStats::default();
        for i in 0..(RECENT_REPAIRS as u128 + 10) {
            stats.repaired(ChunkId(i), 1);
        }
        let s = stats.snapshot();
        assert_eq!(s.chunks_repaired, RECENT_REPAIRS as u64 + 10);
        assert_eq!(s.recent.len(), RECENT_REPAIRS);
        assert_eq!(s.recent[0].chunk, ChunkId(10));
    }
}
