//! Large chunks as plain files beside RocksDB, written and read with `O_DIRECT`.
//!
//! Why: through RocksDB every chunk byte was written twice per replica (WAL, then
//! blob file) and both writes went through the page cache, whose copies cost more CPU
//! than anything else in a sequential write on this kind of VM (perf:
//! `copy_folio_from_iter_atomic` 20%, RocksDB's flush thread 23%). A direct write of a
//! 4 MiB file costs a small fraction of that (docs/benchmarks.md). RocksDB keeps the
//! header (hash, length, "bytes are in a file") and the small chunks.
//!
//! Layout: `DIR/chunks/XX/<id as 32 hex digits>`, `XX` the id's low byte in hex.
//! Crash safety: the file is written, synced and its directory synced before the
//! header is committed, so a committed header always has its bytes. A file without
//! a header (a crash between the two, or between a delete's commit and the unlink)
//! is an orphan, removed when the store opens.

use bytes::Bytes;
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::ChunkId;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Buffer address and length alignment `O_DIRECT` needs (the largest logical block
/// size in use; 512-byte devices accept it too).
const ALIGN: usize = 4096;
const SUBDIRS: usize = 256;

pub struct ChunkFiles {
    root: PathBuf,
    /// Cleared when the file system refuses `O_DIRECT` (tmpfs): buffered I/O then.
    direct: AtomicBool,
}

/// A zeroed buffer of at least `len` bytes (rounded up to `ALIGN`) whose start is
/// `ALIGN`-aligned, as `(vec, offset of the aligned start)`. Over-allocating and
/// offsetting keeps this free of `unsafe`.
fn aligned_buffer(len: usize) -> (Vec<u8>, usize) {
    let padded = len.div_ceil(ALIGN).max(1) * ALIGN;
    let buf = vec![0u8; padded + ALIGN];
    let misalign = buf.as_ptr() as usize % ALIGN;
    let offset = if misalign == 0 { 0 } else { ALIGN - misalign };
    (buf, offset)
}

impl ChunkFiles {
    /// Use (creating if needed) `dir/chunks`.
    pub fn open(dir: &Path) -> io::Result<ChunkFiles> {
        let root = dir.join("chunks");
        for sub in 0..SUBDIRS {
            std::fs::create_dir_all(root.join(format!("{sub:02x}")))?;
        }
        sync_dir(&root)?;
        sync_dir(dir)?;
        Ok(ChunkFiles {
            root,
            direct: AtomicBool::new(true),
        })
    }

    fn subdir(&self, id: ChunkId) -> PathBuf {
        self.root.join(format!("{:02x}", id.0 & 0xff))
    }

    pub fn path(&self, id: ChunkId) -> PathBuf {
        self.subdir(id).join(format!("{:032x}", id.0))
    }

    /// Open with `O_DIRECT` when the file system allows it.
    fn open_file(&self, path: &Path, opts: &mut OpenOptions) -> io::Result<(File, bool)> {
        if self.direct.load(Ordering::Relaxed) {
            match opts.clone().custom_flags(libc::O_DIRECT).open(path) {
                Ok(f) => return Ok((f, true)),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::info!(dir = %self.root.display(), "no O_DIRECT here; chunk files use the page cache");
                    self.direct.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        Ok((opts.open(path)?, false))
    }

    /// Write chunk `id` durably: on return its bytes and directory entry are synced.
    /// A file already there (an orphan, or a damaged copy being replaced) is
    /// replaced atomically, so a concurrent reader sees the old or the new bytes.
    pub fn write(&self, id: ChunkId, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(id);
        let tmp = path.with_extension("tmp");
        let result = self.write_new(&tmp, bytes).and_then(|()| {
            std::fs::rename(&tmp, &path)?;
            sync_dir(&self.subdir(id))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write_new(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        let (mut file, direct) = self.open_file(path, &mut opts)?;
        if direct {
            // Whole aligned blocks, then cut the file back to the chunk's length.
            let (mut buf, at) = aligned_buffer(bytes.len());
            let padded = bytes.len().div_ceil(ALIGN) * ALIGN;
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            file.write_all(&buf[at..at + padded])?;
            file.set_len(bytes.len() as u64)?;
        } else {
            file.write_all(bytes)?;
        }
        file.sync_all()
    }

    /// The stored bytes of chunk `id`, `len` of them expected (a shorter or longer
    /// file is returned as it is, for the caller's verification to reject).
    pub fn read(&self, id: ChunkId, len: u64) -> io::Result<Bytes> {
        let path = self.path(id);
        if len > MAX_CHUNK_BYTES {
            // A damaged header must not make us allocate its length.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("header claims {len} bytes, over the chunk size limit"),
            ));
        }
        let (mut file, direct) = self.open_file(&path, OpenOptions::new().read(true))?;
        // One byte more than expected, so a file that grew is seen as too long.
        let want = len as usize + 1;
        let (mut buf, at) = aligned_buffer(want);
        // Whole aligned blocks until end of file (direct reads must stay block-sized).
        let end = at + want.div_ceil(ALIGN) * ALIGN;
        let mut filled = at;
        while filled < end {
            match file.read(&mut buf[filled..end]) {
                Ok(0) => break,
                // A direct read shorter than whole blocks ended at end of file.
                Ok(n) if direct && n % ALIGN != 0 => {
                    filled += n;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Bytes::from(buf).slice(at..filled.min(at + want)))
    }

    /// Remove chunk `id`'s file; a missing file is not an error.
    pub fn remove(&self, id: ChunkId) -> io::Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Remove every file whose chunk `keep` does not claim (and every leftover
    /// temporary file). Returns how many were removed.
    pub fn remove_orphans(&self, keep: impl Fn(ChunkId) -> bool) -> io::Result<u64> {
        let mut removed = 0;
        for sub in std::fs::read_dir(&self.root)? {
            let sub = sub?;
            if !sub.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(sub.path())? {
                let entry = entry?;
                let name = entry.file_name();
                let id = name
                    .to_str()
                    .filter(|n| n.len() == 32)
                    .and_then(|n| u128::from_str_radix(n, 16).ok())
                    .map(ChunkId);
                if id.is_some_and(&keep) {
                    continue;
                }
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Flip the middle byte of chunk `id`'s file (integrity tests only).
    pub fn corrupt_for_test(&self, id: ChunkId) -> io::Result<()> {
        let path = self.path(id);
        let mut bytes = std::fs::read(&path)?;
        let mid = bytes.len() / 2;
        if let Some(b) = bytes.get_mut(mid) {
            *b ^= 0xff;
        }
        std::fs::write(&path, bytes)?;
        File::open(&path)?.sync_all()
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned_and_big_enough() {
        for len in [0, 1, 4095, 4096, 4097, 4 << 20] {
            let (buf, at) = aligned_buffer(len);
            assert_eq!((buf.as_ptr() as usize + at) % ALIGN, 0);
            assert!(buf.len() - at >= len.div_ceil(ALIGN) * ALIGN);
        }
    }

    #[test]
    fn write_read_remove_and_orphans() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = ChunkFiles::open(dir.path()).expect("open");
        let bytes: Vec<u8> = (0..100_001u32).map(|i| (i % 251) as u8).collect();
        let (a, b) = (ChunkId(0x1234), ChunkId(0x5678));
        files.write(a, &bytes).expect("write a");
        files.write(b, &bytes[..5000]).expect("write b");
        assert_eq!(files.read(a, 100_001).expect("read a").as_ref(), &bytes[..]);
        // A file longer than its header says reads back longer, for verify to reject.
        assert_eq!(files.read(b, 4000).expect("read b").len(), 4001);
        files.corrupt_for_test(a).expect("corrupt");
        assert_ne!(files.read(a, 100_001).expect("read a").as_ref(), &bytes[..]);
        assert_eq!(files.remove_orphans(|id| id == a).expect("sweep"), 1);
        assert!(files.read(b, 5000).is_err(), "the orphan is gone");
        files.remove(a).expect("remove");
        files.remove(a).expect("removing twice is fine");
        assert!(files.read(a, 1).is_err());
    }
}
