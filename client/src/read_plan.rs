//! Chunk index math for reads. Pure: which bytes of which chunk land where in the
//! caller's buffer. Missing chunks and the tail of a short chunk are zeros (holes);
//! nothing past the file size is ever returned.

use ferrofs_proto::attr::ChunkLocation;

/// The chunk indexes `[first, end)` covering `len` bytes at `offset` (no size clamp).
pub(crate) fn chunk_span(offset: u64, len: u64, chunk_size: u64) -> (u64, u64) {
    let end = offset.saturating_add(len);
    if len == 0 || chunk_size == 0 {
        let first = offset.checked_div(chunk_size).unwrap_or(0);
        return (first, first);
    }
    (offset / chunk_size, end.div_ceil(chunk_size))
}

/// How many bytes a read of `len` at `offset` returns from a file of `size` bytes.
pub(crate) fn clamped_len(offset: u64, len: u64, size: u64) -> u64 {
    size.saturating_sub(offset).min(len)
}

/// Chunks in a file of `size` bytes.
pub(crate) fn chunk_count(size: u64, chunk_size: u64) -> u64 {
    size.checked_div(chunk_size)
        .map_or(0, |_| size.div_ceil(chunk_size))
}

/// Bytes of the file that chunk `index` covers (the last one may be short).
pub(crate) fn segment_len(index: u64, size: u64, chunk_size: u64) -> u64 {
    let start = index.saturating_mul(chunk_size);
    size.saturating_sub(start).min(chunk_size)
}

/// One copy from a stored chunk into the output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Position of the chunk in the `chunks` slice given to `plan`.
    pub(crate) slot: usize,
    /// Offset inside the chunk.
    pub(crate) chunk_offset: u64,
    /// Offset in the output buffer.
    pub(crate) dest: u64,
    pub(crate) len: u64,
}

/// The pieces to fetch for a read of `len` bytes at `offset` from a file of `size`
/// bytes whose known chunks are `chunks`. The output buffer is
/// `clamped_len(offset, len, size)` bytes of zeros; every piece overwrites part of it.
pub(crate) fn plan(
    offset: u64,
    len: u64,
    size: u64,
    chunk_size: u64,
    chunks: &[ChunkLocation],
) -> Vec<Piece> {
    let len = clamped_len(offset, len, size);
    let (first, end) = chunk_span(offset, len, chunk_size);
    let read_end = offset + len;
    let mut pieces = Vec::new();
    for index in first..end {
        let Some(slot) = chunks.iter().position(|c| c.index == index) else {
            continue; // a hole
        };
        let chunk_start = index * chunk_size;
        let lo = offset.max(chunk_start);
        let hi = read_end.min(chunk_start + chunk_size);
        let stored = chunks[slot].chunk.len.min(chunk_size);
        let in_lo = lo - chunk_start;
        let in_hi = (hi - chunk_start).min(stored);
        if in_lo < in_hi {
            pieces.push(Piece {
                slot,
                chunk_offset: in_lo,
                dest: lo - offset,
                len: in_hi - in_lo,
            });
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::attr::ChunkRef;
    use ferrofs_proto::ChunkId;

    const CS: u64 = 100;

    fn loc(index: u64, len: u64) -> ChunkLocation {
        ChunkLocation {
            index,
            chunk: ChunkRef {
                id: ChunkId(index as u128),
                len,
                hash: [0; 32],
                inline: None,
            },
            servers: vec![],
        }
    }

    #[test]
    fn span_covers_partial_chunks_on_both_ends() {
        assert_eq!(chunk_span(0, 100, CS), (0, 1));
        assert_eq!(chunk_span(99, 2, CS), (0, 2));
        assert_eq!(chunk_span(150, 200, CS), (1, 4));
        assert_eq!(chunk_span(150, 0, CS), (1, 1));
        assert_eq!(chunk_span(u64::MAX - 5, 100, CS).0, (u64::MAX - 5) / CS);
    }

    #[test]
    fn reads_across_a_chunk_boundary() {
        let chunks = [loc(0, 100), loc(1, 100)];
        let p = plan(90, 20, 200, CS, &chunks);
        assert_eq!(
            p,
            vec![
                Piece {
                    slot: 0,
                    chunk_offset: 90,
                    dest: 0,
                    len: 10
                },
                Piece {
                    slot: 1,
                    chunk_offset: 0,
                    dest: 10,
                    len: 10
                },
            ]
        );
    }

    #[test]
    fn holes_and_short_chunks_stay_zero() {
        // chunk 1 missing (hole), chunk 2 stores 30 of its 100 bytes, size 300.
        let chunks = [loc(0, 100), loc(2, 30)];
        let p = plan(50, 250, 300, CS, &chunks);
        assert_eq!(
            p,
            vec![
                Piece {
                    slot: 0,
                    chunk_offset: 50,
                    dest: 0,
                    len: 50
                },
                Piece {
                    slot: 1,
                    chunk_offset: 0,
                    dest: 150,
                    len: 30
                },
            ]
        );
        assert_eq!(clamped_len(50, 250, 300), 250);
    }

    #[test]
    fn nothing_past_the_file_size() {
        let chunks = [loc(0, 100), loc(1, 100)];
        assert_eq!(clamped_len(150, 1000, 180), 30);
        let p = plan(150, 1000, 180, CS, &chunks);
        assert_eq!(
            p,
            vec![Piece {
                slot: 1,
                chunk_offset: 50,
                dest: 0,
                len: 30
            }]
        );
        assert!(plan(500, 10, 180, CS, &chunks).is_empty());
        assert_eq!(clamped_len(500, 10, 180), 0);
    }

    #[test]
    fn chunk_longer_than_the_size_is_cut() {
        // Truncated file whose last chunk still stores more bytes than the size.
        let chunks = [loc(0, 100)];
        let p = plan(0, 100, 40, CS, &chunks);
        assert_eq!(
            p,
            vec![Piece {
                slot: 0,
                chunk_offset: 0,
                dest: 0,
                len: 40
            }]
        );
    }

    #[test]
    fn counts_and_segments() {
        assert_eq!(chunk_count(0, CS), 0);
        assert_eq!(chunk_count(100, CS), 1);
        assert_eq!(chunk_count(101, CS), 2);
        assert_eq!(segment_len(1, 150, CS), 50);
        assert_eq!(segment_len(0, 150, CS), 100);
        assert_eq!(segment_len(2, 150, CS), 0);
        assert_eq!(chunk_count(10, 0), 0);
    }
}
