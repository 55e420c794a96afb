//! Size limits, checked before anything is allocated.

/// Largest encoded message header (requests and responses alike).
pub const MAX_HEADER_BYTES: u32 = 4 * 1024 * 1024;
/// Largest chunk a data server accepts.
pub const MAX_CHUNK_BYTES: u64 = 64 * 1024 * 1024;
/// Largest chunk kept inline in the metadata (a small file's bytes in its chunk list).
pub const MAX_INLINE_BYTES: u64 = 64 * 1024;
/// Default largest chunk a client keeps inline (`inline_max_bytes`).
pub const DEFAULT_INLINE_BYTES: u64 = 16 * 1024;
/// Default chunk size.
pub const DEFAULT_CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// Longest name of one directory entry (bytes).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest path or symlink target (bytes).
pub const MAX_PATH_BYTES: usize = 4096;
/// Largest xattr value.
pub const MAX_XATTR_VALUE_BYTES: usize = 64 * 1024;
/// Most entries returned by one ReadDir call.
pub const MAX_READDIR_ENTRIES: u32 = 4096;
/// Largest Raft snapshot payload accepted in one stream.
pub const MAX_SNAPSHOT_BYTES: u64 = 16 * 1024 * 1024 * 1024;
