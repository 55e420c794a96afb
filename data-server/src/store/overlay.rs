//! Overlay chunks: a patched chunk stored as a hard link to its base's chunk file plus
//! the spans written over it.
//!
//! Why: an fsync'd 4 KiB write changes one 16 KiB block of a 4 MiB chunk. Chunks are
//! immutable, so the change is a new chunk, and written whole each holder read and
//! wrote 4 MiB per fsync. An overlay costs a link, the touched blocks and one RocksDB
//! write. Chunk files are never changed in place (a rewrite is a new file renamed over
//! the old name), so a link shares the base's bytes safely, and when the base is
//! deleted the file system keeps them for the overlay: no reference counts of our own.
//! A patch of an overlay merges its spans into the new one, so an overlay is never
//! more than one level deep; past `MAX_OVERLAY_BYTES` of spans the chunk is written
//! whole again.
//!
//! Spans record (in the `chunks` family): `count: u32 BE | (offset: u64 BE | len:
//! u32 BE | bytes)*`, sorted by offset, disjoint, inside the chunk.

use super::blocks::encode_block_hashes;
use super::db::{key, CF_BLOCKS, CF_CHUNKS, CF_HEADERS};
use super::error::StoreError;
use super::header::ChunkHeader;
use super::patch::{Edit, Patched};
use super::{ChunkStore, PutOutcome};
use bytes::Bytes;
use ferrofs_proto::block_hashes::{covering, match_blocks, rehash_blocks, root_of};
use ferrofs_proto::block_hashes::{BlockError, BlockHash};
use ferrofs_proto::ChunkId;
use rocksdb::WriteBatch;

/// Spans an overlay may carry before a patch writes the chunk whole instead: each
/// patch rewrites the spans record, so this bounds what one patch writes (16 blocks).
pub(super) const MAX_OVERLAY_BYTES: u64 = 256 * 1024;

/// The byte ranges an overlay writes over its base, sorted and disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Spans(Vec<(u64, Vec<u8>)>);

impl Spans {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(4 + self.0.iter().map(|(_, b)| 12 + b.len()).sum::<usize>());
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        for (offset, bytes) in &self.0 {
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Decode a record of a `chunk_len`-byte chunk; `None` unless every span is
    /// inside the chunk, the spans are sorted and disjoint, and nothing is left over.
    pub(super) fn decode(raw: &[u8], chunk_len: u64) -> Option<Spans> {
        let (count, mut rest) = raw.split_first_chunk::<4>()?;
        let mut spans = Vec::new();
        let mut end_of_last = 0u64;
        for _ in 0..u32::from_be_bytes(*count) {
            let (offset, r) = rest.split_first_chunk::<8>()?;
            let (len, r) = r.split_first_chunk::<4>()?;
            let (offset, len) = (u64::from_be_bytes(*offset), u32::from_be_bytes(*len));
            let end = offset.checked_add(u64::from(len))?;
            if len == 0 || offset < end_of_last || end > chunk_len {
                return None;
            }
            let (bytes, r) = r.split_at_checked(len as usize)?;
            spans.push((offset, bytes.to_vec()));
            (end_of_last, rest) = (end, r);
        }
        rest.is_empty().then_some(Spans(spans))
    }

    /// Bytes the spans hold.
    pub(super) fn bytes(&self) -> u64 {
        self.0.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// Write `bytes` at `offset` over the spans: spans it overlaps or touches are
    /// merged with it into one, the new bytes winning.
    pub(super) fn write(&mut self, offset: u64, bytes: &[u8]) {
        let (mut start, mut end) = (offset, offset + bytes.len() as u64);
        let mut kept = Vec::with_capacity(self.0.len() + 1);
        let mut merged = Vec::new();
        // Sorted and disjoint: `start` only moves back to a merged span's offset,
        // which lies after every span kept before it.
        for (o, b) in self.0.drain(..) {
            let e = o + b.len() as u64;
            if e < start || o > end {
                kept.push((o, b));
            } else {
                (start, end) = (start.min(o), end.max(e));
                merged.push((o, b));
            }
        }
        let mut joined = vec![0u8; (end - start) as usize];
        for (o, b) in merged
            .iter()
            .map(|(o, b)| (*o, &b[..]))
            .chain([(offset, bytes)])
        {
            let at = (o - start) as usize;
            joined[at..at + b.len()].copy_from_slice(b);
        }
        kept.push((start, joined));
        kept.sort_by_key(|(o, _)| *o);
        self.0 = kept;
    }

    /// Apply the spans to `out`, which holds the chunk's bytes from `from` on.
    pub(super) fn apply(&self, from: u64, out: &mut [u8]) {
        let to = from + out.len() as u64;
        for (o, b) in &self.0 {
            let (s, e) = ((*o).max(from), (o + b.len() as u64).min(to));
            if s < e {
                out[(s - from) as usize..(e - from) as usize]
                    .copy_from_slice(&b[(s - o) as usize..(e - o) as usize]);
            }
        }
    }
}

impl ChunkStore {
    /// The spans of overlay `id`; a missing or unreadable record is corruption.
    pub(super) fn overlay_spans(
        &self,
        id: ChunkId,
        header: &ChunkHeader,
    ) -> Result<Spans, StoreError> {
        let raw = self
            .db
            .get_pinned_cf(self.cf(CF_CHUNKS)?, key(id))
            .map_err(|e| StoreError::from_db(e, 0))?;
        raw.and_then(|raw| Spans::decode(&raw, header.len))
            .ok_or_else(|| StoreError::Corrupt {
                id,
                reason: "overlay spans missing or unreadable".to_string(),
            })
    }

    /// `bytes`, read from `id`'s chunk file at `from`, as chunk `id` has them: with
    /// its spans written over them if it is an overlay.
    pub(super) fn with_spans(
        &self,
        id: ChunkId,
        header: &ChunkHeader,
        from: u64,
        bytes: Bytes,
    ) -> Result<Bytes, StoreError> {
        if !header.overlay {
            return Ok(bytes);
        }
        let spans = self.overlay_spans(id, header)?;
        let mut out = bytes.to_vec();
        spans.apply(from, &mut out);
        Ok(Bytes::from(out))
    }

    /// Store chunk `id` as an overlay of stored chunk `base` with `edits` written over
    /// it, if it can be: `Ok(None)` means the caller writes it whole (the base is not
    /// a chunk file or has no block hashes, the spans would grow too large, `id` is
    /// already stored, or the file system refuses the link). Only the blocks the
    /// edits touch are read, checked against the base's block hashes, and hashed
    /// again; the new chunk's hash follows from the block hashes. The caller has
    /// checked that every edit lies inside the chunk.
    pub(super) fn patch_as_overlay(
        &self,
        base: ChunkId,
        base_header: &ChunkHeader,
        id: ChunkId,
        edits: &[Edit<'_>],
    ) -> Result<Option<Patched>, StoreError> {
        if !base_header.in_file || self.contains(id)? {
            return Ok(None);
        }
        let lo = edits.iter().map(|(o, _)| *o).min();
        let hi = edits.iter().map(|(o, b)| o + b.len() as u64).max();
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(None);
        };
        let base_spans = if base_header.overlay {
            self.overlay_spans(base, base_header)?
        } else {
            Spans::default()
        };
        let Some((block, mut hashes)) = self.usable_block_hashes(base, base_header)? else {
            return Ok(None);
        };
        let len = base_header.len;
        let (first, from, to) = covering(lo, hi - lo, len, block);
        let stored = self
            .files
            .read_range(base, from, to - from)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::NotFound(base),
                _ => StoreError::Io(e),
            })?;
        let mut touched = stored.to_vec();
        base_spans.apply(from, &mut touched);
        // A short file can end on a block boundary and match the blocks it has.
        let checked = if touched.len() as u64 != to - from {
            Err(BlockError::BadRange {
                first,
                got: touched.len(),
            })
        } else {
            match_blocks(len, block, &hashes, first, &touched)
        };
        if let Err(e) = checked {
            let reason = format!("blocks at {from}..{to}: {e}");
            return Err(StoreError::Corrupt { id: base, reason });
        }
        let mut spans = base_spans;
        for (offset, bytes) in edits {
            spans.write(*offset, bytes);
            touched[(offset - from) as usize..][..bytes.len()].copy_from_slice(bytes);
        }
        if spans.bytes() > MAX_OVERLAY_BYTES {
            return Ok(None);
        }
        let hash = rehash_blocks(&mut hashes, len, block, first, &touched)
            .and_then(|()| root_of(&hashes, len, block))
            .map_err(|e| StoreError::Corrupt {
                id: base,
                reason: format!("block hashes: {e}"),
            })?;
        let header = ChunkHeader {
            hash,
            len,
            in_file: true,
            overlay: true,
        };
        let _guard = self.lock(id);
        if self.contains(id)? {
            return Ok(None);
        }
        // Charged its spans only: the file's bytes stay charged to the chunk that
        // wrote them (charge.rs).
        let stored = self.store_new(spans.bytes(), spans.bytes(), || {
            self.write_overlay(base, id, header, &spans, block, &hashes)
        })?;
        Ok(stored.then_some(Patched {
            hash,
            outcome: PutOutcome::Stored,
        }))
    }

    /// Link the base's file under `id`'s name, then commit the header, spans and
    /// block hashes in one synced batch. `Ok(false)`: the file system refused the link
    /// (too many links, or no hard links at all); nothing was stored. A crash between
    /// the link and the commit leaves an orphan link, removed at the next open like any
    /// orphan chunk file.
    fn write_overlay(
        &self,
        base: ChunkId,
        id: ChunkId,
        header: ChunkHeader,
        spans: &Spans,
        block: u64,
        hashes: &[BlockHash],
    ) -> Result<bool, StoreError> {
        match self.files.link(base, id) {
            Ok(()) => {}
            // Too many links, or a file system without hard links.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMLINK | libc::EPERM | libc::EOPNOTSUPP)
                ) =>
            {
                return Ok(false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(base))
            }
            Err(e) => return Err(StoreError::from_io(e, header.len)),
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_HEADERS)?, key(id), header.encode());
        batch.put_cf(self.cf(CF_CHUNKS)?, key(id), spans.encode());
        batch.put_cf(
            self.cf(CF_BLOCKS)?,
            key(id),
            encode_block_hashes(block, hashes),
        );
        let committed = self.write(batch, spans.bytes());
        if committed.is_err() {
            // If the base was deleted meanwhile, it left the file's bytes charged to
            // this name (charge.rs); removing the last name gives them back.
            if let Ok(true) = self.files.remove_name(id) {
                self.usage.release(header.len);
            }
        }
        committed.map(|()| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(list: &[(u64, &[u8])]) -> Spans {
        Spans(list.iter().map(|(o, b)| (*o, b.to_vec())).collect())
    }

    #[test]
    fn writes_merge_overlapping_and_touching_spans_and_keep_the_rest() {
        let mut s = Spans::default();
        s.write(10, b"aaaa");
        s.write(30, b"bb");
        assert_eq!(s, spans(&[(10, b"aaaa"), (30, b"bb")]));
        // Touching the first span's end, overlapping nothing else.
        s.write(14, b"c");
        assert_eq!(s, spans(&[(10, b"aaaac"), (30, b"bb")]));
        // Overlapping both: one span, the new bytes winning.
        s.write(12, b"dddddddddddddddddddd");
        assert_eq!(s, spans(&[(10, b"aadddddddddddddddddddd")]));
        s.write(0, b"e");
        assert_eq!(s, spans(&[(0, b"e"), (10, b"aadddddddddddddddddddd")]));
        assert_eq!(s.bytes(), 23);
    }

    #[test]
    fn apply_writes_only_the_part_inside_the_range() {
        let s = spans(&[(2, b"xy"), (8, b"zzzz")]);
        let mut out = vec![b'.'; 6];
        s.apply(4, &mut out); // bytes 4..10
        assert_eq!(&out, b"....zz");
        let mut out = vec![b'.'; 12];
        s.apply(0, &mut out);
        assert_eq!(&out, b"..xy....zzzz");
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let s = spans(&[(2, b"xy"), (8, b"zzzz")]);
        let raw = s.encode();
        assert_eq!(Spans::decode(&raw, 12), Some(s.clone()));
        assert_eq!(Spans::decode(&raw, 11), None, "a span past the end");
        assert_eq!(Spans::decode(&raw[..raw.len() - 1], 12), None);
        let mut extra = raw.clone();
        extra.push(0);
        assert_eq!(Spans::decode(&extra, 12), None, "bytes left over");
        let unsorted = spans(&[(8, b"zzzz"), (2, b"xy")]).encode();
        assert_eq!(Spans::decode(&unsorted, 12), None);
        let overlapping = spans(&[(2, b"xyz"), (4, b"zz")]).encode();
        assert_eq!(Spans::decode(&overlapping, 12), None);
        let empty = spans(&[(2, b"")]).encode();
        assert_eq!(Spans::decode(&empty, 12), None);
        // A count far beyond the bytes present is refused, not allocated.
        assert_eq!(Spans::decode(&u32::MAX.to_be_bytes(), 12), None);
    }
}
