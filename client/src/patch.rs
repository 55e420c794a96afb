//! Changing a few bytes of a stored chunk without sending all of it. Chunks are
//! immutable, so a change is a new chunk; but each data server holding the old chunk
//! can build the new one from its own copy. So only the written bytes travel, once to
//! every replica; each checks the blocks it touches against the old chunk's block
//! hashes and computes the new chunk's hash from them (BLAKE3 is a tree hash). The
//! patch stands only if every replica computed the same hash.

use crate::client::Client;
use crate::data_io::{patch_copy, DataFail};
use crate::error::ClientError;
use bytes::Bytes;
use ferrofs_proto::attr::{ChunkLocation, ChunkRef, FileAttr};
use ferrofs_proto::data_msg::{DataRequest, PatchEdit};
use ferrofs_proto::meta_msg::ServerState;
use ferrofs_proto::InodeId;

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
    /// written bytes, then record the new chunk with one commit.
    /// `Ok(None)` when this does not apply (a hole, an inline chunk, one without
    /// block hashes, another length, fewer holders than the replication factor, a
    /// replica that fails): the caller then writes the chunk whole.
    pub async fn patch_chunk(
        &self,
        ino: InodeId,
        index: u64,
        chunk_len: u64,
        edits: &[(u64, &[u8])],
    ) -> Result<Option<FileAttr>, ClientError> {
        let (locs, _) = self.chunk_locations(ino, index, 1).await?;
        let Some(loc) = locs.into_iter().find(|l| l.index == index) else {
            return Ok(None);
        };
        match self.patch_copies(&loc, chunk_len, edits).await {
            Ok(chunk) => {
                let servers = loc.servers.clone();
                let new = ChunkLocation {
                    index,
                    chunk,
                    servers,
                };
                Ok(Some(self.commit_chunks(ino, vec![new], 0).await?))
            }
            Err(Skip::NotPatchable) => Ok(None),
            Err(Skip::Failed(e)) => {
                tracing::debug!(%ino, index, error = %e, "patching a chunk failed; writing it whole");
                Ok(None)
            }
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
