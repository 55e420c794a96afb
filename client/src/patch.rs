//! Changing a few bytes of a stored chunk without sending all of it. Chunks are
//! immutable, so a change is a new chunk; but its hash follows from the old chunk's
//! block hashes and the changed 16 KiB blocks (BLAKE3 is a tree hash), and each data
//! server holding the old chunk can build the new one from its own copy. So only the
//! blocks around the changes travel: read once (verified) from one replica, sent back
//! changed to every replica, which checks the whole new chunk against the hash.

use crate::client::Client;
use crate::data_io::{get_blocks, store_chunk, BlocksReply, DataFail};
use crate::error::ClientError;
use crate::upload::INLINE_HASH_BYTES;
use bytes::Bytes;
use ferrofs_proto::attr::{ChunkLocation, ChunkRef, FileAttr};
use ferrofs_proto::block_hashes::{rehash_blocks, root_of, verify_blocks};
use ferrofs_proto::data_msg::DataRequest;
use ferrofs_proto::meta_msg::ServerState;
use ferrofs_proto::InodeId;

/// Why a chunk was written whole after all (the caller's fallback, not an error).
#[derive(Debug)]
enum Skip {
    /// Not a stored chunk of the expected length with enough replicas.
    NotPatchable,
    /// No replica sent verified blocks, or one refused the patch.
    Failed(DataFail),
}

/// The bytes `edits` (offsets within the chunk) written over `blocks` (the chunk's
/// blocks from `blocks.first`): the changed blocks, or `None` if an edit falls
/// outside them.
fn apply_edits(blocks: &BlocksReply, edits: &[(u64, &[u8])]) -> Option<Vec<u8>> {
    let start = blocks.first.checked_mul(blocks.block)?;
    let mut out = blocks.bytes.clone();
    for (offset, bytes) in edits {
        let from = usize::try_from(offset.checked_sub(start)?).ok()?;
        let to = from.checked_add(bytes.len())?;
        out.get_mut(from..to)?.copy_from_slice(bytes);
    }
    Some(out)
}

/// The hash of the chunk (`len` bytes) whose blocks from `blocks.first` became
/// `changed`; the reply's block hashes must add up to `old_hash` and its blocks
/// must match them.
fn new_hash(
    blocks: &BlocksReply,
    old_hash: &[u8; 32],
    len: u64,
    changed: &[u8],
) -> Result<[u8; 32], DataFail> {
    let (block, first) = (blocks.block, blocks.first);
    verify_blocks(old_hash, len, block, &blocks.hashes, first, &blocks.bytes)
        .map_err(|_| DataFail::Checksum)?;
    let mut hashes = blocks.hashes.clone();
    rehash_blocks(&mut hashes, len, block, first, changed)
        .and_then(|()| root_of(&hashes, len, block))
        .map_err(|e| DataFail::BadReply(e.to_string()))
}

impl Client {
    /// Write `edits` (offsets within chunk `index` of file `ino`, and their bytes)
    /// over the stored chunk, which must be `chunk_len` bytes long, sending only the
    /// 16 KiB blocks that change, then record the new chunk with one commit.
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
        let lo = edits.iter().map(|(o, _)| *o).min();
        let hi = edits
            .iter()
            .map(|(o, b)| o.saturating_add(b.len() as u64))
            .max();
        let (Some(lo), Some(hi)) = (lo, hi) else {
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
        let mut last = DataFail::BadReply("chunk has no replica".into());
        let mut fetched = None;
        for addr in &addrs {
            match get_blocks(connector, addr, old.id, lo, hi - lo, timeout).await {
                Ok(r) if r.block == 0 => return Err(Skip::NotPatchable),
                Ok(r) => {
                    fetched = Some(r);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let blocks = fetched.ok_or(Skip::Failed(last))?;
        let changed = apply_edits(&blocks, edits).ok_or(Skip::NotPatchable)?;
        let (old_hash, len) = (old.hash, old.len);
        let small = changed.len() <= INLINE_HASH_BYTES;
        let hashing = move || {
            let hash = new_hash(&blocks, &old_hash, len, &changed);
            (blocks.first * blocks.block, changed, hash)
        };
        let (offset, changed, hash) = if small {
            hashing()
        } else {
            tokio::task::spawn_blocking(hashing).await.map_err(|e| {
                Skip::Failed(DataFail::BadReply(format!("hashing task failed: {e}")))
            })?
        };
        let hash = hash.map_err(Skip::Failed)?;
        // Placed like the old chunk, so it is already where the ring wants it.
        let id = old.id.sibling();
        let req = DataRequest::PatchChunk {
            base: old.id,
            id,
            hash,
            offset,
            len: changed.len() as u64,
        };
        let payload = Bytes::from(changed);
        let stores = addrs
            .iter()
            .map(|addr| store_chunk(connector, addr, &req, &payload, timeout));
        for result in futures::future::join_all(stores).await {
            result.map_err(Skip::Failed)?;
        }
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
    fn the_new_hash_is_the_hash_of_the_edited_chunk() {
        let old: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let old_hash = *blake3::hash(&old).as_bytes();
        let edits: [(u64, &[u8]); 2] = [(5000, &[1; 100]), (9000, &[2; 3000])];
        let blocks = BlocksReply::for_test(&old, 5000, 7000);
        let changed = apply_edits(&blocks, &edits).expect("inside the blocks");
        let mut expect = old.clone();
        expect[5000..5100].fill(1);
        expect[9000..12_000].fill(2);
        assert_eq!(changed, expect[4096..12_288].to_vec());
        let hash = new_hash(&blocks, &old_hash, old.len() as u64, &changed).expect("hash");
        assert_eq!(&hash, blake3::hash(&expect).as_bytes());

        // An edit outside the fetched blocks, or blocks that are not the old chunk's.
        assert!(apply_edits(&blocks, &[(20_000, &[0; 4])]).is_none());
        assert!(apply_edits(&blocks, &[(12_000, &[0; 400])]).is_none());
        let mut rotten = BlocksReply::for_test(&old, 5000, 7000);
        rotten.bytes[3] ^= 1;
        assert!(matches!(
            new_hash(&rotten, &old_hash, old.len() as u64, &changed),
            Err(DataFail::Checksum)
        ));
    }
}
