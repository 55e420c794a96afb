//! The loop's counters, shared with `ferrofs status`.

use ferrofs_proto::ids::ChunkId;
use ferrofs_proto::meta_msg::{
    RebalanceStatus, RepairRecord, RepairStatus, ServerChunks, RECENT_REPAIRS,
};
use ferrofs_proto::NodeId;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window over which the move rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct RepairStats {
    inner: Mutex<Repair>,
    rebalance: Mutex<Rebalance>,
}

#[derive(Default)]
struct Repair {
    status: RepairStatus,
    copies: RateWindow,
}

#[derive(Default)]
struct Rebalance {
    status: RebalanceStatus,
    moves: RateWindow,
}

/// Bytes copied over the last `RATE_WINDOW`, for a rate and an ETA.
#[derive(Default)]
struct RateWindow {
    recent: VecDeque<(Instant, u64)>,
}

impl RateWindow {
    fn add(&mut self, now: Instant, bytes: u64) {
        self.recent.push_back((now, bytes));
        self.trim(now);
    }

    fn trim(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > RATE_WINDOW)
        {
            self.recent.pop_front();
        }
    }

    /// (bytes per second, seconds to copy `left` at that rate). Nothing left: ETA 0;
    /// nothing copied recently: no ETA.
    fn rate_and_eta(&mut self, now: Instant, left: u64) -> (u64, Option<u64>) {
        self.trim(now);
        let bytes: u64 = self.recent.iter().map(|(_, b)| *b).sum();
        let rate = (bytes as f64 / RATE_WINDOW.as_secs_f64()) as u64;
        let eta = if left == 0 {
            Some(0)
        } else {
            (rate > 0).then(|| left.div_ceil(rate))
        };
        (rate, eta)
    }
}

impl RepairStats {
    fn with<T>(&self, f: impl FnOnce(&mut RepairStatus) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()).status)
    }

    /// Progress with the copy rate over the last few seconds and the ETA at that rate.
    pub fn snapshot(&self) -> RepairStatus {
        self.snapshot_at(Instant::now())
    }

    fn snapshot_at(&self, now: Instant) -> RepairStatus {
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let left = r.status.bytes_left;
        let (rate, eta) = r.copies.rate_and_eta(now, left);
        let mut s = r.status.clone();
        (s.bytes_per_sec, s.eta_secs) = (rate, eta);
        s
    }

    /// What the planner last counted.
    pub fn set_pending(
        &self,
        in_flight: u64,
        garbage_pending: u64,
        under_replicated: u64,
        bytes_left: u64,
    ) {
        self.with(|s| {
            s.in_flight = in_flight;
            s.garbage_pending = garbage_pending;
            s.under_replicated_live = under_replicated;
            s.bytes_left = bytes_left;
        });
    }

    /// A repair copy of `bytes` was made and committed.
    pub fn repaired(&self, chunk: ChunkId, live_copies: u32, bytes: u64) {
        self.repaired_at(Instant::now(), chunk, live_copies, bytes);
    }

    fn repaired_at(&self, now: Instant, chunk: ChunkId, live_copies: u32, bytes: u64) {
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        r.copies.add(now, bytes);
        let s = &mut r.status;
        s.bytes_repaired += bytes;
        s.chunks_repaired += 1;
        if s.recent.len() >= RECENT_REPAIRS {
            s.recent.remove(0);
        }
        s.recent.push(RepairRecord { chunk, live_copies });
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

    fn with_rebalance<T>(&self, f: impl FnOnce(&mut Rebalance) -> T) -> T {
        f(&mut self.rebalance.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A move's copy was made and committed.
    pub fn moved(&self, bytes: u64) {
        self.moved_at(Instant::now(), bytes);
    }

    fn moved_at(&self, now: Instant, bytes: u64) {
        self.with_rebalance(|r| {
            r.status.moves_done += 1;
            r.status.bytes_moved += bytes;
            r.moves.add(now, bytes);
        });
    }

    /// What the planner last counted.
    pub fn set_misplaced(&self, chunks: u64, bytes_left: u64, locations: &BTreeMap<NodeId, u64>) {
        self.with_rebalance(|r| {
            r.status.chunks_misplaced = chunks;
            r.status.bytes_left = bytes_left;
            r.status.locations = locations
                .iter()
                .map(|(id, chunks)| ServerChunks {
                    id: *id,
                    chunks: *chunks,
                })
                .collect();
        });
    }

    /// Progress with the rate over the last few seconds and the ETA at that rate.
    pub fn rebalance_snapshot(&self) -> RebalanceStatus {
        self.rebalance_at(Instant::now())
    }

    fn rebalance_at(&self, now: Instant) -> RebalanceStatus {
        self.with_rebalance(|r| {
            let left = r.status.bytes_left;
            let (rate, eta) = r.moves.rate_and_eta(now, left);
            let mut s = r.status.clone();
            (s.bytes_per_sec, s.eta_secs) = (rate, eta);
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_repairs_are_a_bounded_ring() {
        let stats = RepairStats::default();
        for i in 0..(RECENT_REPAIRS as u128 + 10) {
            stats.repaired(ChunkId(i), 1, 10);
        }
        let s = stats.snapshot();
        assert_eq!(s.chunks_repaired, RECENT_REPAIRS as u64 + 10);
        assert_eq!(s.recent.len(), RECENT_REPAIRS);
        assert_eq!(s.recent[0].chunk, ChunkId(10));
        assert_eq!(s.bytes_repaired, (RECENT_REPAIRS as u64 + 10) * 10);
    }

    #[test]
    fn the_repair_rate_and_eta_come_from_the_last_seconds() {
        let stats = RepairStats::default();
        let t0 = Instant::now();
        stats.set_pending(1, 0, 4, 1_000_000);
        let s = stats.snapshot_at(t0);
        assert_eq!(
            (s.bytes_per_sec, s.eta_secs),
            (0, None),
            "nothing copied yet"
        );
        for i in 0..5 {
            stats.repaired_at(t0 + Duration::from_secs(i), ChunkId(i.into()), 2, 50_000);
        }
        let s = stats.snapshot_at(t0 + Duration::from_secs(5));
        assert_eq!((s.bytes_repaired, s.bytes_per_sec), (250_000, 25_000));
        assert_eq!(s.eta_secs, Some(40));
        stats.set_pending(0, 0, 0, 0);
        assert_eq!(stats.snapshot().eta_secs, Some(0), "nothing left");
    }

    #[test]
    fn the_move_rate_and_eta_come_from_the_last_seconds() {
        let stats = RepairStats::default();
        let t0 = Instant::now();
        let mut locations = BTreeMap::new();
        locations.insert(NodeId(1), 5);
        stats.set_misplaced(10, 2_000_000, &locations);
        let s = stats.rebalance_at(t0);
        assert_eq!(
            (s.bytes_per_sec, s.eta_secs),
            (0, None),
            "nothing moved yet"
        );
        for i in 0..10 {
            stats.moved_at(t0 + Duration::from_secs(i), 100_000);
        }
        let s = stats.rebalance_at(t0 + Duration::from_secs(9));
        assert_eq!(s.moves_done, 10);
        assert_eq!(s.bytes_per_sec, 100_000);
        assert_eq!(s.eta_secs, Some(20));
        assert_eq!(
            s.locations,
            vec![ServerChunks {
                id: NodeId(1),
                chunks: 5
            }]
        );
        let s = stats.rebalance_at(t0 + Duration::from_secs(60));
        assert_eq!(s.bytes_per_sec, 0, "old moves leave the window");
        assert_eq!(s.moves_done, 10);
    }
}
