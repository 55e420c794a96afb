//! Failures of the chunk store.

use ferrofs_proto::{ChunkId, FsError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// No chunk with this id is stored.
    #[error("chunk {0} not found")]
    NotFound(ChunkId),
    /// The stored record of the chunk does not match its header (bit rot, bad write).
    #[error("chunk {id} is corrupt: {reason}")]
    Corrupt { id: ChunkId, reason: String },
    /// Bytes offered for a chunk do not hash to the hash announced with them.
    #[error("chunk {0}: payload does not match its announced hash")]
    HashMismatch(ChunkId),
    /// The chunk exists with a different hash; chunks are immutable.
    #[error("chunk {0} already stored with a different hash")]
    Conflict(ChunkId),
    /// Over `MAX_CHUNK_BYTES`.
    #[error("chunk of {len} bytes exceeds the limit of {limit}")]
    TooLarge { len: u64, limit: u64 },
    /// The configured capacity or the disk is full.
    #[error("no space left for {needed} more bytes")]
    NoSpace { needed: u64 },
    /// A requested range lies outside the chunk.
    #[error("range starting at {offset} is past the end of a {len}-byte chunk")]
    BadRange { offset: u64, len: u64 },
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    Db(String),
    /// A file-system call (statvfs, creating the folder) failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Classify a RocksDB error: a full disk is `NoSpace`, never a crash.
    pub fn from_db(e: rocksdb::Error, needed: u64) -> StoreError {
        let text = e.into_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("no space") || lower.contains("enospc") || lower.contains("disk full") {
            StoreError::NoSpace { needed }
        } else {
            StoreError::Db(text)
        }
    }
}

impl StoreError {
    /// Classify a file-system error: a full disk is `NoSpace`.
    pub fn from_io(e: std::io::Error, needed: u64) -> StoreError {
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreError::NoSpace { needed },
            _ => StoreError::Io(e),
        }
    }
}

impl From<StoreError> for FsError {
    fn from(e: StoreError) -> FsError {
        match e {
            StoreError::NotFound(_) => FsError::NotFound,
            StoreError::Corrupt { id, reason } => {
                FsError::DataUnavailable(format!("checksum mismatch on chunk {id}: {reason}"))
            }
            StoreError::HashMismatch(_) => {
                FsError::Invalid("payload does not match its announced hash".to_string())
            }
            StoreError::Conflict(_) => FsError::Exists,
            e @ (StoreError::TooLarge { .. } | StoreError::BadRange { .. }) => {
                FsError::Invalid(e.to_string())
            }
            StoreError::NoSpace { .. } => FsError::NoSpace,
            e @ (StoreError::Db(_) | StoreError::Io(_)) => FsError::Internal(e.to_string()),
        }
    }
}
