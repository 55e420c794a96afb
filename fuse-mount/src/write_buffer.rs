//! The write-back buffer of one file: bytes written through the mount but not yet
//! uploaded, assembled into whole chunks. Pure: no IO. `FileIo` decides when a chunk
//! goes out and fills the unwritten parts of a partially written chunk from the stored
//! file first (read-modify-write).

use crate::ranges::Ranges;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

/// The written part of one chunk. `data` is as long as the furthest byte written;
/// bytes outside `written` are placeholders (zeros); a flush writes only `written`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DirtyChunk {
    data: Vec<u8>,
    written: Ranges,
}

impl DirtyChunk {
    /// A chunk whose every byte is known (a whole chunk to upload again).
    pub(crate) fn complete(data: Vec<u8>) -> DirtyChunk {
        let mut written = Ranges::new();
        written.insert(0, data.len() as u64);
        DirtyChunk { data, written }
    }

    /// Write `bytes` at `at` of a chunk of `chunk_size` bytes. The first growth
    /// reserves the whole chunk: a sequential writer fills it 1 MiB at a time, and
    /// growing the vector step by step copied most of the chunk again (and zeroed
    /// what was then overwritten). Bytes appended at the end are not zeroed first.
    fn write(&mut self, at: usize, bytes: &[u8], chunk_size: usize) {
        let end = at + bytes.len();
        if self.data.capacity() < end {
            let want = chunk_size.max(end);
            self.data.reserve_exact(want - self.data.len());
        }
        if self.data.len() < at {
            self.data.resize(at, 0);
        }
        let inside = self.data.len().min(end) - at;
        self.data[at..at + inside].copy_from_slice(&bytes[..inside]);
        self.data.extend_from_slice(&bytes[inside..]);
        self.written.insert(at as u64, end as u64);
    }

    /// One past the furthest byte written.
    pub(crate) fn end(&self) -> u64 {
        self.data.len() as u64
    }

    /// The written pieces: (offset in the chunk, bytes).
    pub(crate) fn written_pieces(&self) -> Vec<(u64, &[u8])> {
        self.written
            .iter()
            .map(|(s, e)| (s, &self.data[s as usize..e as usize]))
            .collect()
    }

    /// True if every byte of `[0, len)` was written.
    pub(crate) fn covers(&self, len: u64) -> bool {
        self.written.covers(0, len)
    }

    /// Take the written bytes of an older version of this chunk where this one has
    /// none.
    fn merge_older(&mut self, older: DirtyChunk) {
        for (s, e) in older.written.iter() {
            for (gs, ge) in self.written.gaps(s, e) {
                let (gs, ge) = (gs as usize, ge as usize);
                if self.data.len() < ge {
                    self.data.resize(ge, 0);
                }
                self.data[gs..ge].copy_from_slice(&older.data[gs..ge]);
            }
            self.written.insert(s, e);
        }
    }

    /// Copy the written bytes that fall in `out` (which starts at `out_pos` bytes into
    /// this chunk) over `out`.
    fn overlay(&self, out_pos: u64, out: &mut [u8]) {
        let out_end = out_pos + out.len() as u64;
        for (s, e) in self.written.iter() {
            let (lo, hi) = (s.max(out_pos), e.min(out_end));
            if lo < hi {
                let src = &self.data[lo as usize..hi as usize];
                out[(lo - out_pos) as usize..(hi - out_pos) as usize].copy_from_slice(src);
            }
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.data
    }
}

/// Dirty chunks of one file by chunk index.
#[derive(Debug)]
pub(crate) struct WriteBuffer {
    chunk_size: u64,
    chunks: BTreeMap<u64, DirtyChunk>,
    /// One past the furthest byte written since the last `reset_end`.
    end: u64,
}

impl WriteBuffer {
    pub(crate) fn new(chunk_size: u64) -> WriteBuffer {
        WriteBuffer {
            chunk_size: chunk_size.max(1),
            chunks: BTreeMap::new(),
            end: 0,
        }
    }

    /// Buffer `data` at `offset`; returns the chunk indexes it touched, in order.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) -> Vec<u64> {
        let cs = self.chunk_size;
        let mut touched = Vec::new();
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let index = pos / cs;
            let within = pos % cs;
            let n = ((cs - within) as usize).min(rest.len());
            self.chunks
                .entry(index)
                .or_default()
                .write(within as usize, &rest[..n], cs as usize);
            touched.push(index);
            pos += n as u64;
            rest = &rest[n..];
        }
        self.end = self.end.max(pos);
        touched
    }

    /// True if chunk `index` is buffered and every one of its bytes was written.
    pub(crate) fn is_full(&self, index: u64) -> bool {
        self.chunks
            .get(&index)
            .is_some_and(|c| c.covers(self.chunk_size))
    }

    /// The chunks every byte of which was written, in index order.
    pub(crate) fn full_indexes(&self) -> Vec<u64> {
        self.chunks
            .keys()
            .copied()
            .filter(|&index| self.is_full(index))
            .collect()
    }

    pub(crate) fn take(&mut self, index: u64) -> Option<DirtyChunk> {
        self.chunks.remove(&index)
    }

    pub(crate) fn take_all(&mut self) -> Vec<(u64, DirtyChunk)> {
        std::mem::take(&mut self.chunks).into_iter().collect()
    }

    /// Give back the full content of a chunk whose upload failed: bytes written since
    /// (already buffered for `index`) win over it.
    pub(crate) fn put_back(&mut self, index: u64, content: &[u8]) {
        self.restore(index, DirtyChunk::complete(content.to_vec()));
    }

    /// Give back a chunk taken out earlier; bytes written since win over it.
    pub(crate) fn restore(&mut self, index: u64, chunk: DirtyChunk) {
        let end = index
            .saturating_mul(self.chunk_size)
            .saturating_add(chunk.end());
        match self.chunks.entry(index) {
            Entry::Vacant(v) => {
                v.insert(chunk);
            }
            Entry::Occupied(mut o) => o.get_mut().merge_older(chunk),
        }
        self.end = self.end.max(end);
    }

    /// Copy buffered bytes over `out`, which holds the file's bytes at `offset`.
    pub(crate) fn overlay(&self, offset: u64, out: &mut [u8]) {
        if out.is_empty() {
            return;
        }
        let cs = self.chunk_size;
        let end = offset + out.len() as u64;
        for (&index, chunk) in self.chunks.range(offset / cs..=(end - 1) / cs) {
            let start = index * cs;
            let (lo, hi) = (start.max(offset), (start + cs).min(end));
            let dst = &mut out[(lo - offset) as usize..(hi - offset) as usize];
            chunk.overlay(lo - start, dst);
        }
    }

    /// One past the furthest byte written (0 if nothing was written).
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Forget the furthest write (after a truncate, once the buffer is empty).
    pub(crate) fn reset_end(&mut self) {
        self.end = 0;
    }

    pub(crate) fn dirty_chunks(&self) -> usize {
        self.chunks.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

/// Overlay the content of a whole chunk being uploaded (chunk `index`) over `out`,
/// which holds the file's bytes at `offset`.
pub(crate) fn overlay_chunk(
    chunk_size: u64,
    index: u64,
    content: &[u8],
    offset: u64,
    out: &mut [u8],
) {
    let start = index.saturating_mul(chunk_size);
    let end = offset + out.len() as u64;
    let (lo, hi) = (start.max(offset), (start + content.len() as u64).min(end));
    if lo < hi {
        out[(lo - offset) as usize..(hi - offset) as usize]
            .copy_from_slice(&content[(lo - start) as usize..(hi - start) as usize]);
    }
}

/// Bytes of chunk `index` that hold file data in a file of `size` bytes.
pub(crate) fn stored_len(size: u64, index: u64, chunk_size: u64) -> u64 {
    size.saturating_sub(index.saturating_mul(chunk_size))
        .min(chunk_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_writes_fill_whole_chunks() {
        let mut b = WriteBuffer::new(8);
        assert_eq!(b.write(0, &[1; 5]), vec![0]);
        assert!(!b.is_full(0));
        assert_eq!(b.write(5, &[2; 6]), vec![0, 1]);
        assert!(b.is_full(0));
        assert!(!b.is_full(1));
        assert_eq!(b.end(), 11);
        let c = b.take(0).expect("chunk 0");
        assert_eq!(c.into_bytes(), vec![1, 1, 1, 1, 1, 2, 2, 2]);
        assert_eq!(b.dirty_chunks(), 1);
        assert_eq!(b.take(1).expect("chunk 1").into_bytes(), vec![2, 2, 2]);
    }

    #[test]
    fn full_indexes_lists_the_whole_chunks_in_order() {
        let mut b = WriteBuffer::new(8);
        b.write(16, &[3; 8]);
        b.write(0, &[1; 11]);
        b.write(28, &[4; 2]);
        assert_eq!(b.full_indexes(), vec![0, 2]);
        b.take(0);
        assert_eq!(b.full_indexes(), vec![2]);
    }

    #[test]
    fn a_partial_chunk_knows_its_written_pieces() {
        let mut b = WriteBuffer::new(8);
        b.write(2, &[9, 9]);
        b.write(6, &[7]);
        let c = b.take(0).expect("chunk 0");
        assert!(!c.covers(7));
        assert!(c.covers(0) && !c.covers(1));
        let pieces: Vec<(u64, Vec<u8>)> = c
            .written_pieces()
            .into_iter()
            .map(|(at, b)| (at, b.to_vec()))
            .collect();
        assert_eq!(pieces, vec![(2, vec![9, 9]), (6, vec![7])]);
    }

    #[test]
    fn overlay_copies_only_written_bytes() {
        let mut b = WriteBuffer::new(4);
        b.write(3, &[5, 6, 7]); // bytes 3..6, across chunks 0 and 1
        b.write(9, &[8]);
        let mut out = vec![0xAA; 12];
        b.overlay(0, &mut out);
        assert_eq!(
            out,
            vec![0xAA, 0xAA, 0xAA, 5, 6, 7, 0xAA, 0xAA, 0xAA, 8, 0xAA, 0xAA]
        );
        let mut mid = vec![0u8; 3];
        b.overlay(4, &mut mid);
        assert_eq!(mid, vec![6, 7, 0]);
        let mut none = vec![1u8; 2];
        b.overlay(20, &mut none);
        assert_eq!(none, vec![1, 1]);
    }

    #[test]
    fn offsets_past_four_gib_land_in_the_right_chunk() {
        let cs = 4 << 20;
        let mut b = WriteBuffer::new(cs);
        let off = (5u64 << 30) + 123;
        assert_eq!(b.write(off, b"abc"), vec![off / cs]);
        assert_eq!(b.end(), off + 3);
        let mut out = vec![0u8; 5];
        b.overlay(off - 1, &mut out);
        assert_eq!(&out, b"\0abc\0");
    }

    #[test]
    fn a_failed_upload_comes_back_under_newer_writes() {
        let mut b = WriteBuffer::new(4);
        b.write(1, &[9]);
        b.put_back(0, &[1, 2, 3, 4]);
        assert_eq!(b.take(0).expect("chunk").into_bytes(), vec![1, 9, 3, 4]);
        let mut partial = WriteBuffer::new(4);
        partial.write(3, &[6]);
        let older = partial.take(0).expect("chunk");
        b.write(12, &[7]);
        b.restore(3, older);
        let mut out = vec![0u8; 4];
        b.overlay(12, &mut out);
        assert_eq!(
            out,
            vec![7, 0, 0, 6],
            "newer byte kept, older byte restored, gap unwritten"
        );
        assert!(!b.is_full(3));
        b.put_back(2, &[5, 5]);
        assert!(!b.is_full(2));
        assert_eq!(b.end(), 16);
        assert_eq!(b.take(2).expect("chunk").into_bytes(), vec![5, 5]);
    }

    #[test]
    fn chunk_overlay_and_stored_len() {
        let mut out = vec![0u8; 6];
        overlay_chunk(4, 1, &[1, 2, 3], 2, &mut out);
        assert_eq!(out, vec![0, 0, 1, 2, 3, 0]);
        assert_eq!(stored_len(10, 0, 4), 4);
        assert_eq!(stored_len(10, 2, 4), 2);
        assert_eq!(stored_len(10, 3, 4), 0);
    }
}
