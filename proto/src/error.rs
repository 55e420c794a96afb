//! Errors: `FsError` travels on the wire and maps to errno at the FUSE edge;
//! `WireError` is a local failure to talk to a peer.

use crate::ids::ChunkId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A file-system level failure, as the server reports it to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Error)]
pub enum FsError {
    /// The named file or directory does not exist.
    #[error("no such file or directory")]
    NotFound,
    /// A file of that name exists already.
    #[error("file exists")]
    Exists,
    /// A directory operation was asked of something that is not a directory.
    #[error("not a directory")]
    NotDir,
    /// A file operation was asked of a directory.
    #[error("is a directory")]
    IsDir,
    /// rmdir, or rename over, a directory that has entries.
    #[error("directory not empty")]
    NotEmpty,
    /// A name over 255 bytes or a path over the limit.
    #[error("name too long")]
    NameTooLong,
    /// The request is malformed or asks for something impossible (e.g. moving a directory into itself).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Mode bits or ownership forbid the operation.
    #[error("permission denied")]
    PermissionDenied,
    /// Only the owner or root may do this.
    #[error("operation not permitted")]
    NotPermitted,
    /// The extended attribute does not exist.
    #[error("no such attribute")]
    NoAttr,
    /// No data server has room for the chunk.
    #[error("no space left on the cluster")]
    NoSpace,
    /// This metadata server is not the leader; try the one named, if known.
    #[error("not the leader (leader: {leader_addr:?})")]
    NotLeader { leader_addr: Option<String> },
    /// The cluster cannot serve now (no quorum, election in progress).
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// Stored bytes failed their checksum on every copy, or none is reachable.
    #[error("data unavailable: {0}")]
    DataUnavailable(String),
    /// A server-side failure that is not the caller's fault.
    #[error("internal error: {0}")]
    Internal(String),
    /// The server does not know this request kind (newer client?).
    #[error("unsupported request")]
    Unsupported,
    /// CommitChunks named a chunk no file references any more: it is on the garbage
    /// list and its copies may be deleted at any moment. Upload the bytes again under
    /// a new chunk id.
    #[error("chunk {0} was dropped and is being garbage collected; write it again")]
    ChunkCollected(ChunkId),
    /// `CommitPatch` found another chunk than the patch's base at that index: another
    /// writer replaced it. Patch the chunk that is there now.
    #[error("the chunk at index {index} changed since it was read")]
    ChunkChanged { index: u64 },
    /// Another owner holds a conflicting lock on the range (`EAGAIN`).
    #[error("the range is locked by another owner")]
    WouldBlock,
    /// The file carries as many locks as one file may (`ENOLCK`).
    #[error("too many locks on one file")]
    TooManyLocks,
}

/// A failure to exchange a message with a peer.
#[derive(Debug, Error)]
pub enum WireError {
    /// The peer sent a header longer than the limit; nothing was allocated.
    #[error("message of {len} bytes exceeds the limit of {limit}")]
    TooLarge { len: u64, limit: u64 },
    /// The bytes do not decode as the expected message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The stream ended before a whole message arrived.
    #[error("stream ended early")]
    Truncated,
    /// Connecting to the peer failed.
    #[error("connecting to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The QUIC connection or stream failed.
    #[error("transport: {0}")]
    Transport(String),
    /// A request did not complete in time.
    #[error("timed out")]
    Timeout,
    /// TLS material could not be loaded or is invalid.
    #[error("tls: {0}")]
    Tls(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<quinn::WriteError> for WireError {
    fn from(e: quinn::WriteError) -> Self {
        WireError::Transport(e.to_string())
    }
}

impl From<quinn::ConnectionError> for WireError {
    fn from(e: quinn::ConnectionError) -> Self {
        WireError::Transport(e.to_string())
    }
}

impl From<quinn::ClosedStream> for WireError {
    fn from(e: quinn::ClosedStream) -> Self {
        WireError::Transport(e.to_string())
    }
}

impl From<quinn::ReadExactError> for WireError {
    fn from(e: quinn::ReadExactError) -> Self {
        match e {
            quinn::ReadExactError::FinishedEarly(_) => WireError::Truncated,
            quinn::ReadExactError::ReadError(e) => WireError::Transport(e.to_string()),
        }
    }
}
