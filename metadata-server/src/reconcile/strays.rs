//! Stray copies the data servers reported (`ReportStrays`): copies of referenced chunks
//! on servers their location record does not list. The leader keeps them in memory
//! until the reconciler has verified and recorded each one (`Task::Adopt`); after that
//! the chunk has a surplus copy, and the surplus removal drops the one the ring wants
//! least. Nothing here is durable: a new leader starts empty and the data servers'
//! next sweeps report what is still stray.

use ferrofs_proto::ids::{ChunkId, NodeId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// At most this many (chunk, server) pairs wait; more are dropped until the
/// reconciler catches up (the data servers report them again).
pub const MAX_STRAYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Strays {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_chunk: HashMap<ChunkId, BTreeSet<NodeId>>,
    pairs: usize,
}

impl Strays {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Note that `server` holds stray copies of `chunks`. Returns how many were taken
    /// (the rest would pass `MAX_STRAYS`).
    pub fn report(&self, server: NodeId, chunks: &[ChunkId]) -> usize {
        let mut inner = self.lock();
        let mut taken = 0;
        for &chunk in chunks {
            if inner.pairs >= MAX_STRAYS {
                break;
            }
            if inner.by_chunk.entry(chunk).or_default().insert(server) {
                inner.pairs += 1;
            }
            taken += 1;
        }
        taken
    }

    /// Every waiting stray copy, by chunk.
    pub fn snapshot(&self) -> HashMap<ChunkId, Vec<NodeId>> {
        self.lock()
            .by_chunk
            .iter()
            .map(|(c, s)| (*c, s.iter().copied().collect()))
            .collect()
    }

    /// Drop one pair: adopted, or moot (the chunk went, or the server is listed now).
    pub fn forget(&self, chunk: ChunkId, server: NodeId) {
        let mut inner = self.lock();
        let Some(servers) = inner.by_chunk.get_mut(&chunk) else {
            return;
        };
        let removed = servers.remove(&server);
        if servers.is_empty() {
            inner.by_chunk.remove(&chunk);
        }
        if removed {
            inner.pairs -= 1;
        }
    }

    /// (chunk, server) pairs waiting.
    pub fn waiting(&self) -> usize {
        self.lock().pairs
    }

    /// Forget everything (this node is no longer the leader).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.by_chunk.clear();
        inner.pairs = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_counted_once_and_forgotten_one_by_one() {
        let s = Strays::default();
        assert_eq!(s.report(NodeId(1), &[ChunkId(7), ChunkId(8)]), 2);
        assert_eq!(s.report(NodeId(1), &[ChunkId(7)]), 1);
        assert_eq!(s.report(NodeId(2), &[ChunkId(7)]), 1);
        assert_eq!(s.waiting(), 3);
        assert_eq!(s.snapshot()[&ChunkId(7)], vec![NodeId(1), NodeId(2)]);
        s.forget(ChunkId(7), NodeId(1));
        s.forget(ChunkId(7), NodeId(9));
        assert_eq!(s.waiting(), 2);
        s.forget(ChunkId(7), NodeId(2));
        assert!(!s.snapshot().contains_key(&ChunkId(7)));
        assert_eq!(s.waiting(), 1);
    }

    #[test]
    fn reports_past_the_bound_are_dropped() {
        let s = Strays::default();
        let many: Vec<ChunkId> = (0..MAX_STRAYS as u128 + 5).map(ChunkId).collect();
        assert_eq!(s.report(NodeId(1), &many), MAX_STRAYS);
        assert_eq!(s.waiting(), MAX_STRAYS);
        assert_eq!(s.report(NodeId(2), &[ChunkId(u128::MAX)]), 0);
    }
}
