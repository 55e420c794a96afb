//! Requests to a data server. Chunk bytes travel as a raw payload after the header,
//! never inside a serialised message.

use crate::error::FsError;
use crate::ids::ChunkId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataRequest {
    /// Store a chunk; `len` payload bytes follow. Acknowledged with `Stored` only after
    /// the bytes hashed to `hash` and the write is durable (WAL synced).
    PutChunk {
        id: ChunkId,
        len: u64,
        hash: [u8; 32],
    },
    /// Read `len` bytes at `offset` of a chunk (`len == u64::MAX` means to the end).
    /// The whole stored chunk is verified against its hash before any byte is sent.
    GetChunk { id: ChunkId, offset: u64, len: u64 },
    /// -> `Present`.
    HasChunk { id: ChunkId },
    /// -> `Deleted`.
    DeleteChunk { id: ChunkId },
    /// Fetch a chunk from another data server, verify it and store it -> `Stored`.
    CopyChunkFrom {
        id: ChunkId,
        hash: [u8; 32],
        source_addr: String,
    },
    /// -> `Stat`.
    Stat,
    /// Start a full scrub pass now (restarting one in progress from the first chunk)
    /// -> `ScrubStarted`.
    ScrubStart,
    /// -> `Scrub`.
    ScrubStatus,
    /// The blocks of a chunk covering `len` bytes at `offset`, with the chunk's block
    /// hashes, so the reader verifies a range without the whole chunk -> `Blocks`.
    GetBlocks { id: ChunkId, offset: u64, len: u64 },
    /// Store chunk `id` as a copy of the stored chunk `base` (whose hash is
    /// `base_hash`) with bytes written over it: `edits` lists each write's offset and
    /// length, and their bytes follow as one payload in that order (the chunk keeps
    /// its length). Only the written bytes travel: each server rebuilds the touched
    /// blocks from its own copy, hashes the new chunk (BLAKE3 is a tree hash, so from
    /// the block hashes) and answers `Patched` with that hash once the new chunk is
    /// durable. The client keeps the patch only if every holder answered one hash.
    PatchChunk {
        base: ChunkId,
        base_hash: [u8; 32],
        id: ChunkId,
        edits: Vec<PatchEdit>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataResponse {
    Stored,
    /// A `PatchChunk` is durable; the new chunk's hash, as this server computed it.
    Patched {
        hash: [u8; 32],
    },
    /// `len` payload bytes follow.
    Chunk {
        len: u64,
    },
    Present(bool),
    Deleted,
    Stat {
        capacity: u64,
        used: u64,
        chunks: u64,
    },
    Error(FsError),
    /// The pass started by `ScrubStart` began at this time (ms since the Unix epoch).
    ScrubStarted {
        started_unix_ms: u64,
    },
    Scrub(ScrubReport),
    /// `len` payload bytes follow: blocks `first ..` of `block` bytes, and `hashes`
    /// holds every block hash of the chunk (`block_hashes.rs`). `block == 0`: the
    /// chunk has no block hashes and the payload is the whole chunk.
    Blocks {
        block: u64,
        first: u64,
        hashes: Vec<crate::block_hashes::BlockHash>,
        len: u64,
    },
}

/// One write of a `PatchChunk`: `len` payload bytes at `offset` within the chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchEdit {
    pub offset: u64,
    pub len: u64,
}

impl PatchEdit {
    /// The payload bytes of `edits` together; `None` if the lengths overflow.
    pub fn total(edits: &[PatchEdit]) -> Option<u64> {
        edits.iter().try_fold(0u64, |sum, e| sum.checked_add(e.len))
    }
}

impl DataRequest {
    /// Payload bytes that follow the request (`PutChunk`, `PatchChunk`); `None` for
    /// requests without one, or a `PatchChunk` whose lengths overflow.
    pub fn payload_len(&self) -> Option<u64> {
        match self {
            DataRequest::PutChunk { len, .. } => Some(*len),
            DataRequest::PatchChunk { edits, .. } => PatchEdit::total(edits),
            _ => None,
        }
    }
}

/// What the scrubber of one data server is doing and what it last found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubReport {
    /// Background re-hash rate in bytes per second (0: passes run only on request,
    /// unthrottled).
    pub rate: u64,
    /// Complete passes since the server started.
    pub passes: u64,
    /// The pass in progress.
    pub current: Option<ScrubPass>,
    /// The last complete pass.
    pub last: Option<ScrubPass>,
}

/// One scrub pass over every stored chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubPass {
    /// Started by `ScrubStart` rather than by the background schedule.
    pub requested: bool,
    pub started_unix_ms: u64,
    pub finished_unix_ms: Option<u64>,
    /// Chunks stored when the pass began.
    pub chunks_total: u64,
    /// Chunks verified (intact) so far.
    pub chunks_checked: u64,
    pub bytes_checked: u64,
    /// Chunks found damaged, quarantined and reported to the metadata leader.
    pub corrupt: u64,
    /// The first damaged chunk ids (at most `SCRUB_CORRUPT_IDS`).
    pub corrupt_ids: Vec<ChunkId>,
}

/// How many damaged chunk ids one `ScrubPass` lists.
pub const SCRUB_CORRUPT_IDS: usize = 64;
