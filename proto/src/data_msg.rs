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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataResponse {
    Stored,
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
}
