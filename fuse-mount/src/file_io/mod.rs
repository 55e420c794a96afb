//! Data IO of one open file in this mount, shared by all its open handles:
//!
//! - writes gather in a `WriteBuffer`; once `parallel_chunks` chunks are full they are
//!   uploaded together in the background and recorded by one commit (a sequential
//!   writer costs the metadata quorum one Raft commit per group, not per chunk), with
//!   at most two groups in flight per file; flush, fsync,
//!   release and setattr upload the rest and return only once it is committed
//!   (close-to-open); a partially written chunk goes out as a patch of the stored one
//!   or is rewritten whole from it, each committed only over the chunk it was made
//!   from, so another mount's change to the chunk in between is not undone;
//! - partially written chunks stay buffered (a random writer rewrites a chunk once per
//!   flush, not once per write) while the mount's write budget has room for them;
//!   when it has none, the file is flushed;
//! - a background upload's failure is reported by the next write or flush, and its
//!   bytes go back into the buffer so that a later flush retries them;
//! - reads see this mount's unflushed writes, and sequential reads go through a small
//!   chunk cache that prefetches the next chunk.

use crate::budget::{hold, Budgets, Reservation};
use crate::dir_scan::Changes;
use crate::error::{errno_of, OrErrno};
use crate::read_cache::ReadCache;
use crate::write_buffer::{stored_len, DirtyChunk, WriteBuffer};
use bytes::Bytes;
use ferrofs_client::{ChunkId, Client, ClientError, FileAttr, InodeId, SetAttr, Timestamp};
use fuser::Errno;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// Dirty chunks a file may buffer without holding any of the mount's write budget:
/// a sequential writer's partial chunks never wait for other files' room.
const UNBUDGETED_DIRTY_CHUNKS: usize = 4;

mod read;

/// A partly written chunk goes out as a patch when its written bytes are at most this
/// fraction (1/N) of the chunk; otherwise whole, with the others in one commit.
const PATCH_SHARE: u64 = 4;

/// Upload groups of one file in flight at once: one being uploaded while the next
/// one starts.
const GROUPS_IN_FLIGHT: usize = 2;

/// Whole chunks (`(index, bytes)`) on their way to the data servers and the
/// metadata, recorded by one commit.
struct Upload {
    chunks: Vec<(u64, Bytes)>,
    task: JoinHandle<Result<FileAttr, ClientError>>,
}

impl Upload {
    fn holds(&self, index: u64) -> bool {
        self.chunks.iter().any(|(i, _)| *i == index)
    }
}

struct IoState {
    buffer: WriteBuffer,
    /// The file size the cluster has, as last seen by this mount.
    committed_size: u64,
    /// In start order; a chunk index is in at most one.
    uploads: VecDeque<Upload>,
    /// A background upload failed; reported once by the next write or flush.
    error: Option<Errno>,
    /// Time of the last buffered write (mtime until the data is committed).
    dirty_mtime: Option<Timestamp>,
    /// The mount's write budget held for the dirty chunks past the unbudgeted ones.
    dirty_held: Vec<Reservation>,
}

impl IoState {
    fn has_unflushed(&self) -> bool {
        !self.buffer.is_empty() || !self.uploads.is_empty()
    }

    fn logical_size(&self) -> u64 {
        self.committed_size.max(self.buffer.end())
    }
}

pub(crate) struct FileIo {
    ino: InodeId,
    client: Client,
    rt: Handle,
    chunk_size: u64,
    parallel: usize,
    state: Mutex<IoState>,
    /// Bumped by every commit this mount makes to the file: attributes fetched
    /// before a commit must not lower the size this mount knows.
    epoch: AtomicU64,
    cache: ReadCache,
    budgets: Budgets,
    /// The mount's change counter: every commit here is a change.
    changes: Arc<Changes>,
}

impl FileIo {
    pub(crate) fn new(
        client: Client,
        rt: Handle,
        ino: InodeId,
        size: u64,
        budgets: Budgets,
        changes: Arc<Changes>,
    ) -> FileIo {
        let chunk_size = client.chunk_size().max(1);
        let parallel = client.config().parallel_chunks.max(1);
        let state = IoState {
            buffer: WriteBuffer::new(chunk_size),
            committed_size: size,
            uploads: VecDeque::new(),
            error: None,
            dirty_mtime: None,
            dirty_held: Vec::new(),
        };
        FileIo {
            ino,
            client,
            rt,
            chunk_size,
            parallel,
            state: Mutex::new(state),
            epoch: AtomicU64::new(0),
            cache: ReadCache::default(),
            budgets,
            changes,
        }
    }

    /// The commit epoch; read it before fetching attributes to pass to `reopened`
    /// or `overlay_attr`.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn committed(&self, st: &mut IoState, size: u64) {
        st.committed_size = st.committed_size.max(size);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.changes.bump();
    }

    /// Another open of the file: cached chunks are dropped (close-to-open), and the
    /// size is taken from the fresh attributes (fetched at epoch `seen`) unless this
    /// mount has unflushed data or committed since.
    pub(crate) async fn reopened(&self, size: u64, seen: Option<u64>) {
        self.cache.clear();
        let mut st = self.state.lock().await;
        if !st.has_unflushed() && seen == Some(self.epoch()) {
            st.committed_size = size;
        }
    }

    /// The attributes as this mount sees them: unflushed writes count in size and
    /// mtime. Attributes fetched at epoch `seen` (None: unknown) that no local commit
    /// has overtaken also refresh the size this mount knows; older ones cannot lower it.
    pub(crate) async fn overlay_attr(&self, attr: &mut FileAttr, seen: Option<u64>) {
        let mut st = self.state.lock().await;
        self.reap(&mut st).await;
        if st.has_unflushed() {
            attr.size = attr.size.max(st.logical_size());
            if let Some(t) = st.dirty_mtime {
                attr.mtime = attr.mtime.max(t);
            }
        } else if seen == Some(self.epoch()) {
            st.committed_size = attr.size;
            st.dirty_mtime = None;
        } else {
            attr.size = attr.size.max(st.committed_size);
        }
    }

    pub(crate) async fn write(&self, offset: u64, data: &[u8]) -> Result<(), Errno> {
        offset.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
        let mut st = self.state.lock().await;
        self.reap(&mut st).await;
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        st.buffer.write(offset, data);
        st.dirty_mtime = Some(Timestamp::now());
        let full = st.buffer.full_indexes();
        if full.len() >= self.parallel {
            let mut group = Vec::with_capacity(full.len());
            for index in full {
                // An older upload of the same chunk must commit first.
                self.wait_index(&mut st, index).await;
                if let Some(chunk) = st.buffer.take(index) {
                    group.push((index, chunk));
                }
            }
            self.start_upload(&mut st, group);
        }
        while st.uploads.len() > GROUPS_IN_FLIGHT {
            if let Some(up) = st.uploads.pop_front() {
                self.finish(&mut st, up).await;
            }
        }
        if !self.hold_dirty(&mut st) {
            self.flush_locked(&mut st).await?;
        }
        Ok(())
    }

    /// Hold the mount's write budget for this file's dirty chunks (giving back what
    /// chunks no longer dirty held); false if it has no room for them.
    fn hold_dirty(&self, st: &mut IoState) -> bool {
        let wanted = st
            .buffer
            .dirty_chunks()
            .saturating_sub(UNBUDGETED_DIRTY_CHUNKS);
        hold(
            &self.budgets.write,
            &mut st.dirty_held,
            wanted,
            self.chunk_size,
        )
    }

    /// Upload and commit everything buffered; report any earlier background failure.
    pub(crate) async fn flush(&self) -> Result<(), Errno> {
        let mut st = self.state.lock().await;
        self.flush_locked(&mut st).await
    }

    /// Change attributes after flushing (a size change or times must not be undone
    /// by a later commit). A shrink to the middle of a chunk rewrites that chunk cut
    /// at the new size, so that growing the file later shows zeros, not old bytes.
    pub(crate) async fn setattr(&self, change: SetAttr) -> Result<FileAttr, Errno> {
        let mut st = self.state.lock().await;
        self.flush_locked(&mut st).await?;
        let attr = self
            .client
            .truncate_with(self.ino, change)
            .await
            .or_errno("setattr");
        self.changes.bump();
        let attr = attr?;
        st.committed_size = attr.size;
        st.buffer.reset_end();
        st.dirty_mtime = None;
        self.cache.clear();
        Ok(attr)
    }

    fn start_upload(&self, st: &mut IoState, group: Vec<(u64, DirtyChunk)>) {
        if group.is_empty() {
            return;
        }
        let chunks: Vec<(u64, Bytes)> = group
            .into_iter()
            .map(|(index, chunk)| (index, Bytes::from(chunk.into_bytes())))
            .collect();
        let min_size = chunks
            .iter()
            .map(|(index, data)| {
                index
                    .saturating_mul(self.chunk_size)
                    .saturating_add(data.len() as u64)
            })
            .max()
            .unwrap_or(0);
        let (client, ino, payload) = (self.client.clone(), self.ino, chunks.clone());
        let task = self
            .rt
            .spawn(async move { client.write_chunks(ino, payload, min_size).await });
        st.uploads.push_back(Upload { chunks, task });
    }

    /// Account for a finished upload: the committed size grows, or on failure the
    /// bytes go back into the buffer (under any newer writes) and the error is kept.
    async fn finish(&self, st: &mut IoState, up: Upload) {
        let result = match up.task.await {
            Ok(r) => r.map_err(|e| errno_of("write", &e)),
            Err(e) => {
                tracing::error!(ino = %self.ino, error = %e, "chunk upload task failed");
                Err(Errno::EIO)
            }
        };
        for (index, _) in &up.chunks {
            self.cache.invalidate(*index);
        }
        match result {
            Ok(attr) => self.committed(st, attr.size),
            Err(e) => {
                self.changes.bump(); // the commit may have happened all the same
                for (index, data) in &up.chunks {
                    st.buffer.put_back(*index, data);
                }
                st.error.get_or_insert(e);
            }
        }
    }

    /// Account for the uploads that have finished, without waiting.
    async fn reap(&self, st: &mut IoState) {
        while let Some(pos) = st.uploads.iter().position(|u| u.task.is_finished()) {
            if let Some(up) = st.uploads.remove(pos) {
                self.finish(st, up).await;
            }
        }
    }

    /// Wait for the upload of chunk `index`, if any, so a newer one commits after it.
    async fn wait_index(&self, st: &mut IoState, index: u64) {
        while let Some(pos) = st.uploads.iter().position(|u| u.holds(index)) {
            if let Some(up) = st.uploads.remove(pos) {
                self.finish(st, up).await;
            }
        }
    }

    /// Try to commit a partially written chunk as a patch of its stored version (only
    /// the written bytes travel); true if it is committed. Otherwise the caller writes
    /// it whole, which is always correct.
    async fn patched(&self, st: &mut IoState, index: u64, chunk: &DirtyChunk, stored: u64) -> bool {
        if stored == 0 || chunk.end() > stored {
            return false;
        }
        let edits = chunk.written_pieces();
        // The written bytes travel to every replica, and the commit is one per chunk:
        // worth it only when they are a small part of the chunk.
        let written: u64 = edits.iter().map(|(_, b)| b.len() as u64).sum();
        if written == 0 {
            return false;
        }
        if written.saturating_mul(PATCH_SHARE) > stored {
            return false;
        }
        // Where this mount last saw the chunk (the commit checks it is still there).
        let known = self.cache.locations.lock().get(index).flatten();
        match self
            .client
            .patch_chunk(self.ino, index, stored, &edits, known)
            .await
        {
            Ok(Some((attr, location))) => {
                self.cache.invalidate(index);
                self.cache.locations.lock().remember(location);
                self.committed(st, attr.size);
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.changes.bump(); // the commit may have happened all the same
                tracing::debug!(ino = %self.ino, index, error = %e, "patch failed; writing the chunk whole");
                false
            }
        }
    }

    /// Upload chunks written whole and commit them, growing the file to `min_size`; on
    /// failure they go back into the buffer.
    async fn commit_whole(
        &self,
        st: &mut IoState,
        whole: Vec<(u64, Bytes)>,
        min_size: u64,
    ) -> Result<(), Errno> {
        let indexes: Vec<u64> = whole.iter().map(|(i, _)| *i).collect();
        let result = self
            .client
            .write_chunks(self.ino, whole.clone(), min_size)
            .await;
        for i in &indexes {
            self.cache.invalidate(*i);
        }
        let settled = self.settle(st, result, "write");
        if settled.is_err() {
            for (i, b) in whole {
                st.buffer.put_back(i, &b);
            }
        }
        settled
    }

    /// Account for a commit this mount made: the size it reached, or (on failure) that
    /// it may have happened all the same.
    fn settle(
        &self,
        st: &mut IoState,
        result: Result<FileAttr, ClientError>,
        what: &'static str,
    ) -> Result<(), Errno> {
        match result {
            Ok(attr) => {
                self.committed(st, attr.size);
                Ok(())
            }
            Err(e) => {
                self.changes.bump();
                Err(errno_of(what, &e))
            }
        }
    }

    /// Commit a partly written chunk whole, only over the chunk it is merged with
    /// (another mount's change in between is read again, not undone), growing the file
    /// to at least `min_size`. With `expect`, first as this mount's bytes alone over
    /// that chunk (`None`: a hole) without reading; otherwise, or if that chunk is not
    /// there, the client reads the stored chunk and writes this mount's bytes over it.
    async fn rewritten(
        &self,
        st: &mut IoState,
        index: u64,
        chunk: &DirtyChunk,
        min_size: u64,
        expect: Option<Option<ChunkId>>,
    ) -> Result<(), Errno> {
        let edits = chunk.written_pieces();
        let result = self
            .client
            .rewrite_chunk(self.ino, index, &edits, min_size, expect)
            .await;
        self.cache.invalidate(index);
        self.settle(st, result, "read-modify-write")
    }

    async fn flush_locked(&self, st: &mut IoState) -> Result<(), Errno> {
        while let Some(up) = st.uploads.pop_front() {
            self.finish(st, up).await;
        }
        let dirty = st.buffer.take_all();
        if !dirty.is_empty() {
            let min_size = st.buffer.end();
            // Chunks written from first to last byte replace what is there; the others
            // must be merged with the stored chunk and commit only over it.
            let mut whole: Vec<(u64, Bytes)> = Vec::with_capacity(dirty.len());
            let mut partial: Vec<(u64, DirtyChunk, Option<Option<ChunkId>>)> = Vec::new();
            for (index, chunk) in dirty {
                if chunk.covers(self.chunk_size) {
                    whole.push((index, Bytes::from(chunk.into_bytes())));
                    continue;
                }
                let stored = stored_len(st.committed_size, index, self.chunk_size);
                if !chunk.covers(stored) && self.patched(st, index, &chunk, stored).await {
                    continue;
                }
                // Past the end of the file as this mount knows it: a hole, unless
                // another mount wrote there meanwhile (then the commit refuses and the
                // chunk is read and merged).
                let expect = (stored == 0).then_some(None);
                partial.push((index, chunk, expect));
            }
            let whole_end = whole
                .iter()
                .map(|(i, b)| i * self.chunk_size + b.len() as u64)
                .max()
                .unwrap_or(0);
            let partial_end = partial
                .iter()
                .map(|(i, c, _)| i * self.chunk_size + c.end())
                .max()
                .unwrap_or(0);
            // Whole chunks first: a partial chunk's commit may grow the file past them.
            // Without any, the commit is still needed if the file grows.
            if !whole.is_empty() || (partial.is_empty() && min_size > st.committed_size) {
                let grow_to = if partial.is_empty() {
                    min_size
                } else {
                    whole_end
                };
                if let Err(e) = self.commit_whole(st, whole, grow_to).await {
                    for (i, c, _) in partial {
                        st.buffer.restore(i, c);
                    }
                    return Err(e);
                }
            }
            let mut partial = partial.into_iter();
            while let Some((index, chunk, expect)) = partial.next() {
                let end = index * self.chunk_size + chunk.end();
                let grow_to = if end == partial_end {
                    min_size.max(end)
                } else {
                    end
                };
                if let Err(e) = self.rewritten(st, index, &chunk, grow_to, expect).await {
                    // Nothing is lost: everything goes back into the buffer.
                    st.buffer.restore(index, chunk);
                    for (i, c, _) in partial {
                        st.buffer.restore(i, c);
                    }
                    return Err(e);
                }
            }
        }
        if !st.has_unflushed() {
            st.dirty_mtime = None;
        }
        self.hold_dirty(st); // gives back the budget of the chunks uploaded
        match st.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
