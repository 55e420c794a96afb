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

use super::buffer_pool;
use bytes::Bytes;
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::ChunkId;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
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
    /// Held while a name is added to a file or one is removed and the names left
    /// are counted, so two removals of a shared file cannot both see the other's
    /// name, and a link cannot slip in between a count and its removal.
    names: std::sync::Mutex<()>,
}

fn padded(len: usize) -> usize {
    len.div_ceil(ALIGN) * ALIGN
}

/// `len` bytes that start `ALIGN`-aligned, followed by room up to the next multiple
/// of `ALIGN`: what `O_DIRECT` can write or read in one call. The data server
/// receives a chunk straight into one, so writing its file needs no further copy.
/// Over-allocating and offsetting keeps this free of `unsafe`. Large buffers go back
/// to `buffer_pool` when dropped.
pub struct AlignedBuf {
    buf: Vec<u8>,
    at: usize,
    len: usize,
}

impl AlignedBuf {
    /// An empty vector with room for an aligned start and `len` padded bytes, and
    /// the offset of that start.
    fn room(len: usize) -> (Vec<u8>, usize) {
        let buf = buffer_pool::take(padded(len) + ALIGN);
        let misalign = buf.as_ptr() as usize % ALIGN;
        (buf, (ALIGN - misalign) % ALIGN)
    }

    /// `len` zero bytes (to be read into).
    pub fn zeroed(len: usize) -> AlignedBuf {
        let (mut buf, at) = Self::room(len);
        buf.resize(at + padded(len), 0);
        AlignedBuf { buf, at, len }
    }

    /// An empty buffer for `len` bytes that arrive in pieces (`AlignedFill`).
    pub fn filling(len: usize) -> AlignedFill {
        let (mut buf, at) = Self::room(len);
        buf.resize(at, 0);
        AlignedFill { buf, at, len }
    }

    /// A copy of `bytes`, without zeroing what is then overwritten.
    fn copy_of(bytes: &[u8]) -> AlignedBuf {
        let (mut buf, at) = Self::room(bytes.len());
        buf.resize(at, 0);
        buf.extend_from_slice(bytes);
        buf.resize(at + padded(bytes.len()), 0);
        AlignedBuf {
            buf,
            at,
            len: bytes.len(),
        }
    }

    /// The bytes and their padding to whole blocks.
    fn padded_slice(&self) -> &[u8] {
        &self.buf[self.at..self.at + padded(self.len)]
    }

    fn padded_slice_mut(&mut self) -> &mut [u8] {
        let end = self.at + padded(self.len);
        &mut self.buf[self.at..end]
    }
}

/// An `AlignedBuf` being filled in order (a chunk arriving from the network): only
/// the padding is ever zeroed, not the megabytes the payload then overwrites.
pub struct AlignedFill {
    buf: Vec<u8>,
    at: usize,
    len: usize,
}

impl AlignedFill {
    /// Bytes still expected.
    pub fn remaining(&self) -> usize {
        self.len - (self.buf.len() - self.at)
    }

    /// Append the next bytes; false (and nothing appended) if they are more than
    /// expected.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.remaining() {
            return false;
        }
        self.buf.extend_from_slice(bytes);
        true
    }

    /// The buffer, once every expected byte arrived.
    pub fn finish(mut self) -> Option<AlignedBuf> {
        if self.remaining() != 0 {
            return None;
        }
        self.buf.resize(self.at + padded(self.len), 0);
        Some(AlignedBuf {
            buf: std::mem::take(&mut self.buf),
            at: self.at,
            len: self.len,
        })
    }
}

impl Drop for AlignedFill {
    fn drop(&mut self) {
        buffer_pool::give(std::mem::take(&mut self.buf));
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        buffer_pool::give(std::mem::take(&mut self.buf));
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf[self.at..self.at + self.len]
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.at..self.at + self.len]
    }
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
            names: std::sync::Mutex::new(()),
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
            // Bytes received into an `AlignedBuf` go as they are; others are copied.
            let whole = bytes.len() / ALIGN * ALIGN;
            if (bytes.as_ptr() as usize).is_multiple_of(ALIGN) {
                file.write_all(&bytes[..whole])?;
                if whole < bytes.len() {
                    file.write_all(AlignedBuf::copy_of(&bytes[whole..]).padded_slice())?;
                }
            } else {
                file.write_all(AlignedBuf::copy_of(bytes).padded_slice())?;
            }
            file.set_len(bytes.len() as u64)?;
        } else {
            file.write_all(bytes)?;
        }
        file.sync_all()
    }

    /// The stored bytes of chunk `id`, `len` of them expected (a shorter or longer
    /// file is returned as it is, for the caller's verification to reject).
    pub fn read(&self, id: ChunkId, len: u64) -> io::Result<Bytes> {
        if len > MAX_CHUNK_BYTES {
            // A damaged header must not make us allocate its length.
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("header claims {len} bytes, over the chunk size limit"),
            ));
        }
        // One byte more than expected, so a file that grew is seen as too long.
        self.read_at(id, 0, len as usize + 1)
    }

    /// Up to `len` bytes at `offset` (a multiple of `ALIGN`) of chunk `id`'s file:
    /// fewer where the file ends, for the caller's verification to reject.
    pub fn read_range(&self, id: ChunkId, offset: u64, len: u64) -> io::Result<Bytes> {
        if len > MAX_CHUNK_BYTES || !offset.is_multiple_of(ALIGN as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("range {offset}+{len} is not an aligned part of a chunk"),
            ));
        }
        self.read_at(id, offset, len as usize)
    }

    fn read_at(&self, id: ChunkId, offset: u64, want: usize) -> io::Result<Bytes> {
        use std::os::unix::fs::FileExt;
        let path = self.path(id);
        let (file, direct) = self.open_file(&path, OpenOptions::new().read(true))?;
        let mut buf = AlignedBuf::zeroed(want);
        let at = buf.at;
        // Whole aligned blocks until end of file (direct reads must stay block-sized).
        let space = buf.padded_slice_mut();
        let mut filled = 0;
        while filled < space.len() {
            match file.read_at(&mut space[filled..], offset + filled as u64) {
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
        Ok(Bytes::from(std::mem::take(&mut buf.buf)).slice(at..at + filled.min(want)))
    }

    /// Give chunk `to` the file of chunk `from` (a hard link: files are never changed
    /// in place, so sharing one is safe), synced. A file already under `to`'s name is
    /// an orphan the caller has ruled out as a live chunk; it is replaced.
    pub fn link(&self, from: ChunkId, to: ChunkId) -> io::Result<()> {
        let path = self.path(to);
        {
            let _names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            match std::fs::hard_link(self.path(from), &path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    std::fs::remove_file(&path)?;
                    std::fs::hard_link(self.path(from), &path)?;
                }
                other => other?,
            }
        }
        sync_dir(&self.subdir(to))
    }

    /// How many names chunk `id`'s file has (1 for a missing file: nothing else
    /// holds its bytes).
    pub fn names_of(&self, id: ChunkId) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(self.path(id)).map_or(1, |m| m.nlink())
    }

    /// The file's identity (device, inode) and its number of names.
    pub fn identity(&self, id: ChunkId) -> io::Result<((u64, u64), u64)> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(self.path(id))?;
        Ok(((m.dev(), m.ino()), m.nlink()))
    }

    /// Remove chunk `id`'s file; a missing file is not an error.
    pub fn remove(&self, id: ChunkId) -> io::Result<()> {
        self.remove_name(id).map(|_| ())
    }

    /// Remove chunk `id`'s name; true if it was the file's last one, so the file's
    /// bytes are free now (also when the file was missing already).
    pub fn remove_name(&self, id: ChunkId) -> io::Result<bool> {
        let _names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let last = self.names_of(id) <= 1;
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(last),
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
    fn filled_buffers_hold_exactly_what_was_announced() {
        let mut f = AlignedBuf::filling(10_000);
        assert!(f.push(&[1; 6_000]));
        assert!(!f.push(&[2; 5_000]), "more than announced");
        assert_eq!(f.remaining(), 4_000);
        assert!(f.push(&[3; 4_000]));
        let b = f.finish().expect("complete");
        assert_eq!((b.as_ref().as_ptr() as usize) % ALIGN, 0);
        assert_eq!(b.as_ref().len(), 10_000);
        assert!(b.as_ref()[..6_000].iter().all(|x| *x == 1));
        assert!(b.as_ref()[6_000..].iter().all(|x| *x == 3));
        assert_eq!(b.padded_slice().len(), 12_288);
        let mut short = AlignedBuf::filling(10);
        assert!(short.push(&[1; 9]));
        assert!(short.finish().is_none());
    }

    #[test]
    fn aligned_buffers_are_aligned_and_padded() {
        for len in [0, 1, 4095, 4096, 4097, 4 << 20] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for buf in [AlignedBuf::zeroed(len), AlignedBuf::copy_of(&bytes)] {
                assert_eq!(buf.as_ref().as_ptr() as usize % ALIGN, 0);
                assert_eq!(buf.padded_slice().len() % ALIGN, 0);
                assert!(buf.padded_slice().len() >= len);
                assert_eq!(buf.as_ref().len(), len);
            }
            assert_eq!(AlignedBuf::copy_of(&bytes).as_ref(), &bytes[..]);
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
        // From an aligned buffer, with a partial last block.
        let c = ChunkId(0x9abc);
        let mut aligned = AlignedBuf::zeroed(9000);
        aligned.as_mut().copy_from_slice(&bytes[..9000]);
        files.write(c, aligned.as_ref()).expect("write c");
        assert_eq!(
            files.read(c, 9000).expect("read c").as_ref(),
            &bytes[..9000]
        );
        assert_eq!(files.read(a, 100_001).expect("read a").as_ref(), &bytes[..]);
        // A file longer than its header says reads back longer, for verify to reject.
        assert_eq!(files.read(b, 4000).expect("read b").len(), 4001);
        files.corrupt_for_test(a).expect("corrupt");
        assert_ne!(files.read(a, 100_001).expect("read a").as_ref(), &bytes[..]);
        assert_eq!(files.remove_orphans(|id| id != b).expect("sweep"), 1);
        assert!(files.read(b, 5000).is_err(), "the orphan is gone");
        files.remove(a).expect("remove");
        files.remove(a).expect("removing twice is fine");
        assert!(files.read(a, 1).is_err());
    }
}
