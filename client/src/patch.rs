//! Changing a few bytes of a stored chunk without sending all of it. Chunks are
//! immutable, so a change is a new chunk; but each data server holding the old chunk
//! can build the new one from its own copy. So only the written bytes travel, once to
//! every replica; each checks the blocks it touches against the old chunk's block
//! hashes and computes the new chunk's hash from them (BLAKE3 is a tree hash). The
//! patch stands only if every replica computed the same hash.

use crate::backoff::Backoff;
use crate::client::{unexpected, Client};
use crate::data_io::{patch_copy, DataFail};
use crate::error::ClientError;
use bytes::Bytes;
use ferrofs_proto::attr::{ChunkLocation, ChunkRef, FileAttr, Timestamp};
use ferrofs_proto::data_msg::{DataRequest, PatchEdit};
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse, ServerState};
use ferrofs_proto::{FsError, InodeId};
use std::time::{Duration, Instant};

/// The first wait before patching a chunk again that another writer replaced, and the
/// longest (the waits double, within the client's failover timeout).
const REPATCH_DELAY: Duration = Duration::from_millis(1);
const REPATCH_MAX_DELAY: Duration = Duration::from_millis(50);

/// Why a chunk was written whole after all (the caller's fallback, not an error).
#[derive(Debug)]
enum Skip {
    /// Not a stored chunk of the expected length with enough replicas.
    NotPatchable,
    /// A replica refused the patch, or the replicas computed different hashes.
    Failed(DataFail),
}

/// The one hash every replica computed for the patched chunk.
fn agreed_hash(hashes: &[[u8; 32]]) -> Result<[u8; 32], DataFail> {
    match hashes.split_first() {
        Some((first, rest)) if rest.iter().all(|h| h == first) => Ok(*first),
        Some(_) => Err(DataFail::BadReply(
            "replicas computed different hashes for the patched chunk".into(),
        )),
        None => Err(DataFail::BadReply("chunk has no replica".into())),
    }
}

impl Client {
    /// Write `edits` (offsets within chunk `index` of file `ino`, and their bytes)
    /// over the stored chunk, which must be `chunk_len` bytes long, sending only the
    /// written bytes, then record the new chunk with one commit, made only if the
    /// file still has the patched chunk at `index`. `known` is where the caller last
    /// saw the chunk: the patch starts from it without asking the metadata, and if it
    /// is out of date (the chunk was replaced or its copies moved) starts again from
    /// where the metadata says the chunk is. Returns the file's attributes and the
    /// new chunk's location; `Ok(None)` when this does not apply (a hole, an inline
    /// chunk, one without block hashes, another length, fewer holders than the
    /// replication factor, a replica that fails): the caller then writes the chunk
    /// whole.
    pub async fn patch_chunk(
        &self,
        ino: InodeId,
        index: u64,
        chunk_len: u64,
        edits: &[(u64, &[u8])],
        known: Option<ChunkLocation>,
    ) -> Result<Option<(FileAttr, ChunkLocation)>, ClientError> {
        if let Some(loc) = known.filter(|l| l.index == index) {
            match self.patch_at(ino, &loc, chunk_len, edits).await {
                Ok(Some(done)) => return Ok(Some(done)),
                Ok(None) => {}
                Err(e) if matches!(e.fs(), Some(FsError::ChunkChanged { .. })) => {}
                Err(e) => return Err(e),
            }
            tracing::debug!(%ino, index, "patching from the known location failed; asking where the chunk is");
        }
        // Each round starts from the chunk the metadata has now; another writer that
        // replaced it in between makes the commit refuse and the next round start over,
        // after a short random wait so that a writer patching from a remembered
        // location (no lookup, so faster) does not win every round.
        let deadline = Instant::now() + self.inner.config.failover_timeout;
        let mut backoff = Backoff::new(REPATCH_DELAY, REPATCH_MAX_DELAY);
        loop {
            let (locs, _) = self.chunk_locations(ino, index, 1).await?;
            let Some(loc) = locs.into_iter().find(|l| l.index == index) else {
                return Ok(None);
            };
            match self.patch_at(ino, &loc, chunk_len, edits).await {
                Err(e) if matches!(e.fs(), Some(FsError::ChunkChanged { .. })) => {}
                other => return other,
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            match backoff.jittered_delay_within(remaining) {
                Some(d) => tokio::time::sleep(d).await,
                None => {
                    // Still replaced faster than it can be patched: the caller writes
                    // it whole.
                    tracing::debug!(%ino, index, "chunk replaced by other writers during every patch");
                    return Ok(None);
                }
            }
        }
    }

    /// Patch the chunk at `loc` and commit the new one if the file still has it.
    async fn patch_at(
        &self,
        ino: InodeId,
        loc: &ChunkLocation,
        chunk_len: u64,
        edits: &[(u64, &[u8])],
    ) -> Result<Option<(FileAttr, ChunkLocation)>, ClientError> {
        let chunk = match self.patch_copies(loc, chunk_len, edits).await {
            Ok(chunk) => chunk,
            Err(Skip::NotPatchable) => {
                tracing::debug!(%ino, index = loc.index, "chunk cannot be patched");
                return Ok(None);
            }
            Err(Skip::Failed(e)) => {
                tracing::debug!(%ino, index = loc.index, error = %e, "patching a chunk failed");
                return Ok(None);
            }
        };
        let new = ChunkLocation {
            index: loc.index,
            chunk,
            servers: loc.servers.clone(),
        };
        const OP: &str = "commit patch";
        let op = MetaOp::CommitPatch {
            ino,
            base: loc.chunk.id,
            chunk: new.clone(),
            mtime: Timestamp::now(),
        };
        match self.mutate(OP, op).await {
            Ok(MetaResponse::Attr(attr)) => Ok(Some((attr, new))),
            Ok(other) => unexpected(OP, other),
            // Patched so slowly that a data server's orphan sweep reported the new
            // chunk: the caller writes the chunk whole instead.
            Err(e) if matches!(e.fs(), Some(FsError::ChunkCollected(_))) => {
                tracing::warn!(%ino, index = loc.index, error = %e, "patch commit refused");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Store the changed chunk on every holder of `loc`; its reference.
    async fn patch_copies(
        &self,
        loc: &ChunkLocation,
        chunk_len: u64,
        edits: &[(u64, &[u8])],
    ) -> Result<ChunkRef, Skip> {
        let old = &loc.chunk;
        let view = self.map_view().await.map_err(|_| Skip::NotPatchable)?;
        // A data server refuses empty edits; they change nothing anyway.
        let edits: Vec<&(u64, &[u8])> = edits.iter().filter(|(_, b)| !b.is_empty()).collect();
        let Some(hi) = edits
            .iter()
            .map(|(o, b)| o.saturating_add(b.len() as u64))
            .max()
        else {
            return Err(Skip::NotPatchable);
        };
        // Every holder must be up: a patch goes to them all or the chunk goes whole.
        let addrs: Option<Vec<&str>> = loc
            .servers
            .iter()
            .map(|s| match view.state_of(*s) {
                Some(ServerState::Up) => view.addr_of(*s),
                _ => None,
            })
            .collect();
        let patchable = old.inline.is_none()
            && old.len == chunk_len
            && hi <= chunk_len
            && loc.servers.len() >= view.map.replication as usize;
        let (true, Some(addrs)) = (patchable, addrs) else {
            return Err(Skip::NotPatchable);
        };
        let timeout = self.inner.config.request_timeout;
        let connector = &self.inner.connector;
        // Placed like the old chunk, so it is already where the ring wants it.
        let id = old.id.sibling();
        let req = DataRequest::PatchChunk {
            base: old.id,
            base_hash: old.hash,
            id,
            edits: edits
                .iter()
                .map(|(offset, bytes)| PatchEdit {
                    offset: *offset,
                    len: bytes.len() as u64,
                })
                .collect(),
        };
        let mut payload = Vec::with_capacity(edits.iter().map(|(_, b)| b.len()).sum());
        for (_, bytes) in &edits {
            payload.extend_from_slice(bytes);
        }
        let payload = Bytes::from(payload);
        let copies = addrs
            .iter()
            .map(|addr| patch_copy(connector, addr, &req, &payload, timeout));
        let mut hashes = Vec::with_capacity(addrs.len());
        for result in futures::future::join_all(copies).await {
            hashes.push(result.map_err(Skip::Failed)?);
        }
        let hash = agreed_hash(&hashes).map_err(Skip::Failed)?;
        let len = old.len;
        Ok(ChunkRef {
            id,
            len,
            hash,
            inline: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_stands_only_on_one_hash_from_every_replica() {
        assert_eq!(
            agreed_hash(&[[1; 32], [1; 32], [1; 32]]).ok(),
            Some([1; 32])
        );
        assert!(agreed_hash(&[[1; 32], [2; 32], [1; 32]]).is_err());
        assert!(agreed_hash(&[]).is_err());
    }
}
