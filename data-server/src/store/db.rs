//! RocksDB layout of the chunk store.
//!
//! Three column families, all written through one synced WriteBatch so a chunk's
//! header and bytes appear and disappear together:
//! - `headers`: ChunkId (16 bytes BE) -> `ChunkHeader` (41 bytes). Small, so it stays
//!   in the LSM tree; HasChunk, start-up accounting and the scrubber's walk read only
//!   this family and never touch chunk bytes.
//! - `chunks`: ChunkId -> the raw bytes of a chunk under `FILE_MIN_BYTES` (larger ones
//!   are chunk files, `chunk_file.rs`). Values of 64 KiB and more, which only stores
//!   written before chunk files hold, go to blob files, so compaction moves 16-byte
//!   pointers instead of rewriting megabytes.
//!   Blob GC (which rewrites the live blobs of the oldest files) runs only in the
//!   reclaim passes of `reclaim.rs`, not in every compaction: left on, it rewrote
//!   300-470 MB per compaction during a 1 GiB sequential write (docs/benchmarks.md).
//!   A blob file whose chunks are all deleted goes without GC. No compression:
//!   chunk data is mostly incompressible and hashing the stored bytes must see
//!   exactly what was written.
//! - `quarantine`: ChunkId -> a record that failed verification (see `quarantine.rs`),
//!   kept for inspection and out of every read path.

use crate::store::error::StoreError;
use rocksdb::{ColumnFamilyDescriptor, DBCompressionType, Options, DB};
use std::path::Path;

pub const CF_HEADERS: &str = "headers";
pub const CF_CHUNKS: &str = "chunks";
pub const CF_QUARANTINE: &str = "quarantine";
/// Block hashes of chunk files (`blocks.rs`), for verified ranged reads.
pub const CF_BLOCKS: &str = "block_hashes";

/// Chunks at least this large live in blob files.
const MIN_BLOB_BYTES: u64 = 64 * 1024;
const BLOB_FILE_BYTES: u64 = 256 * 1024 * 1024;
pub const CHUNK_MEMTABLE_BYTES: usize = 64 * 1024 * 1024;
/// The tiny `headers` family would otherwise keep every WAL file alive until its
/// memtable fills (millions of chunks); past this much WAL RocksDB flushes it.
const MAX_TOTAL_WAL_BYTES: u64 = 256 * 1024 * 1024;

fn blob_family() -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::None);
    o.set_enable_blob_files(true);
    o.set_min_blob_size(MIN_BLOB_BYTES);
    o.set_blob_file_size(BLOB_FILE_BYTES);
    o.set_blob_compression_type(DBCompressionType::None);
    o.set_enable_blob_gc(false);
    o.set_write_buffer_size(CHUNK_MEMTABLE_BYTES);
    o
}

fn header_family() -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::Lz4);
    o
}

/// Block hashes do not compress; 8 KiB per 4 MiB chunk.
fn block_family() -> Options {
    let mut o = Options::default();
    o.set_compression_type(DBCompressionType::None);
    o
}

/// Open (creating if needed) the chunk database in `dir`.
pub fn open(dir: &Path) -> Result<DB, StoreError> {
    std::fs::create_dir_all(dir)?;
    let mut db_opts = Options::default();
    db_opts.create_if_missing(true);
    db_opts.create_missing_column_families(true);
    db_opts.set_max_background_jobs(2);
    db_opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
    // Flushes and compactions write data that is read back rarely; through the page
    // cache their copies cost more CPU than the writes themselves on this kind of VM.
    db_opts.set_use_direct_io_for_flush_and_compaction(true);
    let cfs = vec![
        ColumnFamilyDescriptor::new(CF_HEADERS, header_family()),
        ColumnFamilyDescriptor::new(CF_CHUNKS, blob_family()),
        ColumnFamilyDescriptor::new(CF_QUARANTINE, blob_family()),
        ColumnFamilyDescriptor::new(CF_BLOCKS, block_family()),
    ];
    DB::open_cf_descriptors(&db_opts, dir, cfs).map_err(|e| StoreError::from_db(e, 0))
}

/// The key of a chunk in every family.
pub fn key(id: ferrofs_proto::ChunkId) -> [u8; 16] {
    id.to_be_bytes()
}

/// Decode a key read back from a family.
pub fn id_of(key: &[u8]) -> Option<ferrofs_proto::ChunkId> {
    let bytes: [u8; 16] = key.try_into().ok()?;
    Some(ferrofs_proto::ChunkId::from_be_bytes(bytes))
}
