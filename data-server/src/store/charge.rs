//! What each stored chunk is charged against the capacity.
//!
//! A chunk file can have several names: an overlay is a hard link to its base's file
//! (`overlay.rs`). The file's bytes are charged once, to the chunk that wrote it, and
//! stay charged while any name is left; removing a name gives them back only when it
//! was the last one (the file system's link count decides, under
//! `ChunkFiles::remove_name`'s lock). On top of that an overlay is charged its spans,
//! and a chunk kept in RocksDB its length.
//!
//! Why: an overlay used to be charged its whole length. With a configured capacity,
//! fsync'd random writes then filled it with bytes that were never on disk until the
//! collector removed the old versions: three servers of 1 GiB holding one 256 MiB
//! file answered "no space left" within seconds.

use super::db::{id_of, CF_HEADERS};
use super::error::StoreError;
use super::header::ChunkHeader;
use super::ChunkStore;
use ferrofs_proto::ChunkId;
use rocksdb::IteratorMode;
use std::collections::HashMap;

/// A file shared by overlays, seen while counting: its names, how many of them are
/// overlays, and its length.
struct SharedFile {
    names: u64,
    overlays: u64,
    len: u64,
}

impl ChunkStore {
    /// The part of chunk `id`'s charge that is its own, whatever other names its
    /// file has. A chunk whose header is unreadable counts nothing (it is
    /// quarantined the first time it is read), so callers pass `None` for it.
    pub(super) fn own_charge(&self, id: ChunkId, header: Option<&ChunkHeader>) -> u64 {
        match header {
            Some(h) if !h.in_file => h.len,
            Some(h) if h.overlay => self.overlay_spans(id, h).map_or(0, |s| s.bytes()),
            _ => 0,
        }
    }

    /// The bytes that removing chunk `id`'s file name would free now: its length if
    /// the name is the file's last.
    pub(super) fn file_charge(&self, id: ChunkId, header: Option<&ChunkHeader>) -> u64 {
        match header {
            Some(h) if h.in_file && self.files.names_of(id) <= 1 => h.len,
            _ => 0,
        }
    }

    /// Bytes charged and chunks stored, counted from the headers: each chunk's own
    /// charge, and each chunk file once. Run after the orphan sweep, so that every
    /// name a file has belongs to a stored chunk.
    pub(super) fn count_usage(&self) -> Result<(u64, u64), StoreError> {
        let (mut used, mut chunks) = (0u64, 0u64);
        let mut shared: HashMap<(u64, u64), SharedFile> = HashMap::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_HEADERS)?, IteratorMode::Start)
        {
            let (k, raw) = item.map_err(|e| StoreError::from_db(e, 0))?;
            let id = id_of(&k).unwrap_or_default();
            chunks += 1;
            let Ok(h) = ChunkHeader::decode(id, &raw) else {
                continue;
            };
            used = used.saturating_add(self.own_charge(id, Some(&h)));
            if !h.in_file {
                continue;
            }
            if !h.overlay {
                // The chunk that wrote the file: it carries the file's bytes.
                used = used.saturating_add(h.len);
                continue;
            }
            // An overlay carries its file's bytes only if no chunk that wrote the
            // file still has a name for it: then every name is an overlay's.
            if let Ok((identity, names)) = self.files.identity(id) {
                let f = shared.entry(identity).or_insert(SharedFile {
                    names,
                    overlays: 0,
                    len: h.len,
                });
                f.overlays += 1;
            }
        }
        for f in shared.values() {
            if f.names <= f.overlays {
                used = used.saturating_add(f.len);
            }
        }
        Ok((used, chunks))
    }
}
