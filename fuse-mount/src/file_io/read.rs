//! Reads of an open file: the stored bytes (through the read-ahead cache when the
//! reads are sequential) with this mount's unflushed writes laid over them.

use super::FileIo;
use crate::budget::Budget;
use crate::chunk_locations::LOCATION_BATCH;
use crate::error::{errno_of, OrErrno};
use crate::read_cache::{CachedChunk, Slot, READ_AHEAD_CHUNKS};
use crate::write_buffer::overlay_chunk;
use bytes::Bytes;
use ferrofs_client::{ChunkLocation, Client, ClientError, InodeId};
use fuser::Errno;
use std::sync::Arc;

/// What a chunk fetch for the cache can run into.
enum FetchFail {
    /// The mount's cache budget is used up: read directly instead.
    NoRoom,
    Client(ClientError),
}

impl FileIo {
    /// Up to `size` bytes at `offset`, as this mount sees the file.
    pub(crate) async fn read(
        &self,
        offset: u64,
        size: u32,
        sequential: bool,
    ) -> Result<Bytes, Errno> {
        let mut st = self.state.lock().await;
        self.reap(&mut st).await;
        let logical = st.logical_size();
        if offset >= logical {
            return Ok(Bytes::new());
        }
        let len = (logical - offset).min(u64::from(size));
        let committed = st.committed_size;
        // Chunks already cached (or being fetched) serve any read, sequential or not.
        let sequential = sequential || self.cached(offset, len);
        // A file with unflushed data keeps the lock so that its overlay stays valid;
        // otherwise reads run in parallel.
        let guard = if st.has_unflushed() {
            Some(st)
        } else {
            drop(st);
            None
        };
        if guard.is_none() && sequential && offset + len <= committed {
            if let Some(bytes) = self.read_within_one_chunk(offset, len, committed).await? {
                return Ok(bytes);
            }
        }
        let mut out = vec![0u8; len as usize];
        let stored_end = committed.min(offset + len);
        if stored_end > offset {
            let n = (stored_end - offset) as usize;
            self.read_stored(offset, &mut out[..n], committed, sequential)
                .await?;
        }
        if let Some(st) = guard {
            for (index, data) in st.uploads.iter().flat_map(|up| &up.chunks) {
                overlay_chunk(self.chunk_size, *index, data, offset, &mut out);
            }
            st.buffer.overlay(offset, &mut out);
        }
        Ok(Bytes::from(out))
    }

    /// A sequential read that lies in one cached chunk is a slice of that chunk: no
    /// buffer to zero and fill for each request. `None` when it does not apply.
    async fn read_within_one_chunk(
        &self,
        offset: u64,
        len: u64,
        committed: u64,
    ) -> Result<Option<Bytes>, Errno> {
        let cs = self.chunk_size;
        let index = offset / cs;
        if (offset + len).div_ceil(cs) != index + 1 || len == 0 {
            return Ok(None);
        }
        let slot = self.cache.slot(index);
        let from = (offset - index * cs) as usize;
        let slice = match self.fetch_into(&slot, index).await {
            Ok(chunk) if chunk.data.len() >= from + len as usize => {
                chunk.data.slice(from..from + len as usize)
            }
            Ok(_) => return Ok(None),
            Err(FetchFail::NoRoom) => return Ok(None),
            Err(FetchFail::Client(e)) => {
                self.cache.invalidate(index);
                return Err(errno_of("read", &e));
            }
        };
        self.read_ahead_after(offset + len, offset, committed);
        Ok(Some(slice))
    }

    /// True if every chunk under `len` bytes at `offset` is in the read-ahead cache.
    fn cached(&self, offset: u64, len: u64) -> bool {
        let cs = self.chunk_size;
        len > 0 && (offset / cs..(offset + len).div_ceil(cs)).all(|i| self.cache.contains(i))
    }

    /// Start fetching the chunks after a sequential read that ended at `end`.
    fn read_ahead_after(&self, end: u64, offset: u64, committed: u64) {
        let cs = self.chunk_size;
        let next = end.div_ceil(cs).max(offset / cs + 1);
        for ahead in next..next + READ_AHEAD_CHUNKS {
            if ahead * cs < committed && !self.cache.contains(ahead) {
                self.prefetch(ahead);
            }
        }
    }

    /// Fill `out` with the stored bytes at `offset` (all below `committed`).
    async fn read_stored(
        &self,
        offset: u64,
        out: &mut [u8],
        committed: u64,
        sequential: bool,
    ) -> Result<(), Errno> {
        if !sequential {
            return self.read_uncached(offset, out).await;
        }
        let cs = self.chunk_size;
        let end = offset + out.len() as u64;
        let mut pos = offset;
        while pos < end {
            let index = pos / cs;
            let chunk_start = index * cs;
            let piece_end = (chunk_start + cs).min(end);
            let dst = &mut out[(pos - offset) as usize..(piece_end - offset) as usize];
            let slot = self.cache.slot(index);
            match self.fetch_into(&slot, index).await {
                Ok(chunk) => {
                    let from = (pos - chunk_start) as usize;
                    let avail = chunk.data.len().saturating_sub(from).min(dst.len());
                    if avail > 0 {
                        dst[..avail].copy_from_slice(&chunk.data[from..from + avail]);
                    }
                }
                Err(FetchFail::NoRoom) => {
                    self.cache.invalidate(index);
                    self.read_uncached(pos, dst).await?;
                }
                Err(FetchFail::Client(e)) => {
                    self.cache.invalidate(index);
                    return Err(errno_of("read", &e));
                }
            }
            pos = piece_end;
        }
        self.read_ahead_after(end, offset, committed);
        Ok(())
    }

    /// Fill `out` (zeroed) with the stored bytes at `offset` straight from the data
    /// servers: only the blocks covering the range are fetched (a 4 KiB random read
    /// costs 16 KiB, not a 4 MiB chunk), and chunk locations are remembered.
    async fn read_uncached(&self, offset: u64, out: &mut [u8]) -> Result<(), Errno> {
        let cs = self.chunk_size;
        let end = offset + out.len() as u64;
        let mut pos = offset;
        while pos < end {
            let index = pos / cs;
            let piece_end = ((index + 1) * cs).min(end);
            let dst = &mut out[(pos - offset) as usize..(piece_end - offset) as usize];
            if let Some(loc) = self.location(index).await? {
                let from = pos - index * cs;
                let avail = loc.chunk.len.saturating_sub(from).min(dst.len() as u64);
                if avail > 0 {
                    let bytes = match self.client.read_chunk(self.ino, &loc, from, avail).await {
                        Ok(b) => b,
                        Err(e) => {
                            self.cache.locations.lock().forget(index);
                            return Err(errno_of("read", &e));
                        }
                    };
                    let n = bytes.len().min(dst.len());
                    dst[..n].copy_from_slice(&bytes[..n]);
                }
            }
            pos = piece_end;
        }
        Ok(())
    }

    /// Where chunk `index` is (`None`: a hole), from the locations fetched since the
    /// file was opened, else from the metadata with the next `LOCATION_BATCH`.
    async fn location(&self, index: u64) -> Result<Option<ChunkLocation>, Errno> {
        let generation = {
            let known = self.cache.locations.lock();
            if let Some(loc) = known.get(index) {
                return Ok(loc);
            }
            known.generation()
        };
        let (found, size) = self
            .client
            .chunk_locations(self.ino, index, LOCATION_BATCH)
            .await
            .or_errno("read")?;
        let loc = found.iter().find(|l| l.index == index).cloned();
        let chunks = size.div_ceil(self.chunk_size);
        self.cache
            .locations
            .lock()
            .fill(generation, index, LOCATION_BATCH, chunks, found);
        Ok(loc)
    }

    async fn fetch_into<'a>(
        &self,
        slot: &'a Slot,
        index: u64,
    ) -> Result<&'a CachedChunk, FetchFail> {
        let (client, ino, cs, budget) = (
            self.client.clone(),
            self.ino,
            self.chunk_size,
            self.budgets.read.clone(),
        );
        slot.get_or_try_init(|| fetch_chunk(client, ino, index, cs, budget))
            .await
    }

    fn prefetch(&self, index: u64) {
        let slot = self.cache.slot(index);
        let (client, ino, cs, budget) = (
            self.client.clone(),
            self.ino,
            self.chunk_size,
            self.budgets.read.clone(),
        );
        self.rt.spawn(async move {
            let fetched = slot
                .get_or_try_init(|| fetch_chunk(client, ino, index, cs, budget))
                .await;
            if let Err(FetchFail::Client(e)) = fetched {
                tracing::debug!(%ino, index, error = %e, "prefetching chunk failed");
            }
        });
    }
}

async fn fetch_chunk(
    client: Client,
    ino: InodeId,
    index: u64,
    chunk_size: u64,
    budget: Arc<Budget>,
) -> Result<CachedChunk, FetchFail> {
    let held = budget.reserve(chunk_size).ok_or(FetchFail::NoRoom)?;
    let data = client
        .read_at(ino, index * chunk_size, chunk_size)
        .await
        .map_err(FetchFail::Client)?;
    Ok(CachedChunk::new(Bytes::from(data), held))
}
