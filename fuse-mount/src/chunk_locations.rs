//! Where the chunks of one open file are, as fetched since it was opened: a reader
//! that jumps around asks the metadata once per batch of chunks, not once per read.
//! It lives in the file's `ReadCache` and shares its lifecycle (close-to-open): all
//! forgotten when the file is opened again or truncated, one chunk forgotten when
//! this mount commits it whole, and replaced by the new one when this mount commits a
//! patch of it (the next patch starts from there). A location whose copies moved since
//! is corrected by the client, which asks the metadata again when no listed server has
//! the chunk (or, for a patch, when the commit finds another chunk there).

use ferrofs_client::ChunkLocation;
use std::collections::HashMap;

/// Chunk locations asked for at once, starting at the chunk being read.
pub(crate) const LOCATION_BATCH: u64 = 64;
/// Chunks remembered per open file (a bound on memory: ~1 TiB of 4 MiB chunks would
/// take 256 Ki entries); past it the map starts over.
const MAX_KNOWN: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct ChunkLocations {
    /// Bumped by every forget, so a fetch that started before one is not stored.
    generation: u64,
    /// `None`: a hole (no chunk stored at this index when fetched).
    known: HashMap<u64, Option<ChunkLocation>>,
}

impl ChunkLocations {
    /// What is known of chunk `index`: `Some(None)` is a known hole.
    pub(crate) fn get(&self, index: u64) -> Option<Option<ChunkLocation>> {
        self.known.get(&index).cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Store the answer to a fetch of chunks `first .. first + count` of a file of
    /// `chunks` chunks that started at `generation`; indexes in the range without a
    /// location are holes.
    pub(crate) fn fill(
        &mut self,
        generation: u64,
        first: u64,
        count: u64,
        chunks: u64,
        found: Vec<ChunkLocation>,
    ) {
        if generation != self.generation {
            return;
        }
        if self.known.len() >= MAX_KNOWN {
            self.known.clear();
        }
        for index in first..first.saturating_add(count).min(chunks) {
            self.known.entry(index).or_insert(None);
        }
        for loc in found {
            if loc.index >= first && loc.index < first.saturating_add(count) {
                self.known.insert(loc.index, Some(loc));
            }
        }
    }

    /// Where this mount just committed a chunk (after `forget`ting the old one).
    pub(crate) fn remember(&mut self, loc: ChunkLocation) {
        if self.known.len() >= MAX_KNOWN {
            self.known.clear();
        }
        self.known.insert(loc.index, Some(loc));
    }

    pub(crate) fn forget(&mut self, index: u64) {
        self.generation += 1;
        self.known.remove(&index);
    }

    pub(crate) fn clear(&mut self) {
        self.generation += 1;
        self.known.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_client::ChunkRef;
    use ferrofs_proto::{ChunkId, NodeId};

    fn loc(index: u64) -> ChunkLocation {
        ChunkLocation {
            index,
            chunk: ChunkRef {
                id: ChunkId(u128::from(index) + 100),
                len: 10,
                hash: [0; 32],
                inline: None,
            },
            servers: vec![NodeId(1)],
        }
    }

    #[test]
    fn fetched_locations_and_holes_are_remembered_until_forgotten() {
        let mut c = ChunkLocations::default();
        assert_eq!(c.get(3), None);
        c.fill(c.generation(), 2, 64, 5, vec![loc(2), loc(4), loc(70)]);
        assert_eq!(c.get(2), Some(Some(loc(2))));
        assert_eq!(c.get(3), Some(None), "a hole inside the file");
        assert_eq!(c.get(5), None, "past the file's chunks nothing is known");
        assert_eq!(c.get(70), None, "outside the fetched range");
        c.forget(2);
        assert_eq!(c.get(2), None);
        assert_eq!(c.get(4), Some(Some(loc(4))));
        c.clear();
        assert_eq!(c.get(4), None);
        c.remember(loc(9));
        assert_eq!(c.get(9), Some(Some(loc(9))), "a chunk this mount committed");
    }

    #[test]
    fn a_fetch_overtaken_by_a_commit_is_not_stored() {
        let mut c = ChunkLocations::default();
        let before = c.generation();
        c.forget(7); // this mount committed chunk 7 while the fetch was out
        c.fill(before, 0, 64, 10, vec![loc(7)]);
        assert_eq!(c.get(7), None);
    }
}
