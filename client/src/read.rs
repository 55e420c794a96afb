//! Reading file data: chunk locations from the metadata (in batches), bytes from one
//! replica chosen by the read policy, falling back to the others; every byte is
//! verified with blake3 (parts of chunks through their block hashes). Holes read as zeros; nothing past the file size is returned.

use crate::client::{unexpected, Client, MapView};
use crate::data_io::{get_blocks, get_chunk, DataFail};
use crate::error::ClientError;
use crate::read_blocks::verified_range;
use crate::read_plan::{chunk_span, clamped_len, plan};
use crate::upload::INLINE_HASH_BYTES;
use ferrofs_proto::attr::ChunkLocation;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse, ServerState};
use ferrofs_proto::{FsError, InodeId, NodeId};
use futures::stream::{StreamExt, TryStreamExt};
use std::sync::Arc;

/// Chunk locations asked for in one GetChunks.
pub(crate) const LOCATION_BATCH: u64 = 64;
/// Largest single `read_at` (bigger reads go through `read_file_to`).
pub const MAX_READ_AT_BYTES: u64 = 256 * 1024 * 1024;

/// Servers in the order to try: the read policy's order, then those the map says
/// are down or gone, or that it does not know.
pub(crate) fn try_order(view: &MapView, by_policy: Vec<NodeId>) -> Vec<NodeId> {
    let healthy = |n: &NodeId| {
        matches!(
            view.state_of(*n),
            Some(ServerState::Up | ServerState::Suspect | ServerState::Draining)
        )
    };
    let (mut first, rest): (Vec<NodeId>, Vec<NodeId>) = by_policy.into_iter().partition(healthy);
    first.extend(rest);
    first
}

/// `bytes` if they hash to `hash`; big chunks are hashed on a blocking thread.
async fn verified(bytes: Vec<u8>, hash: [u8; 32]) -> Result<Vec<u8>, DataFail> {
    let matches = move |b: &[u8]| *blake3::hash(b).as_bytes() == hash;
    let (ok, bytes) = if bytes.len() <= INLINE_HASH_BYTES {
        (matches(&bytes), bytes)
    } else {
        tokio::task::spawn_blocking(move || (matches(&bytes), bytes))
            .await
            .map_err(|e| DataFail::BadReply(format!("hashing task failed: {e}")))?
    };
    if ok {
        Ok(bytes)
    } else {
        Err(DataFail::Checksum)
    }
}

impl Client {
    /// Locations of chunks `first .. first + count` and the file size (for callers
    /// that cache locations, e.g. FUSE read-ahead).
    pub async fn chunk_locations(
        &self,
        ino: InodeId,
        first: u64,
        count: u64,
    ) -> Result<(Vec<ChunkLocation>, u64), ClientError> {
        const OP: &str = "get chunks";
        let req = MetaRequest::GetChunks {
            ino,
            first_index: first,
            count,
        };
        match self.meta_read(OP, req).await? {
            MetaResponse::Chunks { chunks, size } => Ok((chunks, size)),
            other => unexpected(OP, other),
        }
    }

    /// Bytes `offset .. offset + len` of a stored chunk from any replica that can
    /// serve them, verified against the chunk's hash: a whole chunk directly, a part
    /// through the block hashes of the blocks that cover it.
    async fn read_from_replicas(
        &self,
        loc: &ChunkLocation,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, (NodeId, DataFail)> {
        let mut view = self.inner.map_view_cached();
        if loc.servers.iter().any(|s| view.addr_of(*s).is_none()) {
            if let Ok(v) = self.refresh_map().await {
                view = v;
            }
        }
        let whole = offset == 0 && len == loc.chunk.len;
        let timeout = self.inner.config.request_timeout;
        let mut last: Option<(NodeId, DataFail)> = None;
        for server in try_order(&view, self.inner.loads.order(&loc.servers)) {
            let Some(addr) = view.addr_of(server) else {
                last = Some((
                    server,
                    DataFail::BadReply("server missing from the cluster map".into()),
                ));
                continue;
            };
            let in_flight = self.inner.loads.start(server);
            let connector = &self.inner.connector;
            let got = if whole {
                match get_chunk(connector, addr, loc.chunk.id, offset, len, timeout).await {
                    Ok(bytes) => verified(bytes, loc.chunk.hash).await,
                    Err(e) => Err(e),
                }
            } else {
                match get_blocks(connector, addr, loc.chunk.id, offset, len, timeout).await {
                    Ok(reply) => verified_range(reply, &loc.chunk, offset, len).await,
                    Err(e) => Err(e),
                }
            };
            match got {
                Ok(bytes) => {
                    in_flight.succeeded();
                    return Ok(bytes);
                }
                Err(e) => last = Some((server, e)),
            }
            if let Some((s, e)) = &last {
                tracing::warn!(chunk = %loc.chunk.id, server = %s, error = %e, "reading chunk copy failed; trying the next");
            }
        }
        Err(last.unwrap_or((NodeId(0), DataFail::BadReply("chunk has no replica".into()))))
    }

    /// Bytes `offset .. offset + len` of one chunk of file `ino` (the range must lie
    /// inside `loc.chunk.len`), from the replica the read policy picks, falling back to
    /// the others; a whole-chunk read is verified with blake3. If no replica can serve,
    /// the chunk's locations are fetched again once (a copy may have moved) before
    /// giving up with `DataUnavailable`.
    pub async fn read_chunk(
        &self,
        ino: InodeId,
        loc: &ChunkLocation,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, ClientError> {
        const OP: &str = "read";
        if offset.saturating_add(len) > loc.chunk.len {
            let msg = format!(
                "range {offset}+{len} outside chunk of {} bytes",
                loc.chunk.len
            );
            return Err(ClientError::fs_err(OP, FsError::Invalid(msg)));
        }
        if let Some(bytes) = &loc.chunk.inline {
            return inline_range(loc, bytes, offset, len)
                .ok_or_else(|| ClientError::protocol(OP, "inline chunk shorter than its length"));
        }
        let first_err = match self.read_from_replicas(loc, offset, len).await {
            Ok(b) => return Ok(b),
            Err(e) => e,
        };
        self.refresh_map().await?;
        let (fresh, _) = self.chunk_locations(ino, loc.index, 1).await?;
        let again = fresh
            .iter()
            .find(|l| l.index == loc.index && l.chunk.id == loc.chunk.id);
        let last = match again {
            Some(l) => match self.read_from_replicas(l, offset, len).await {
                Ok(b) => return Ok(b),
                Err(e) => e,
            },
            None => first_err,
        };
        Err(ClientError::fs_err(
            OP,
            FsError::DataUnavailable(format!(
                "chunk {} (index {} of inode {ino}): no replica could serve it (last: server {}: {})",
                loc.chunk.id, loc.index, last.0, last.1
            )),
        ))
    }

    /// Up to `len` bytes at `offset`: holes read as zeros, a read past the end is short.
    pub async fn read_at(
        &self,
        ino: InodeId,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, ClientError> {
        const OP: &str = "read";
        if len == 0 {
            return Ok(Vec::new());
        }
        if len > MAX_READ_AT_BYTES {
            let msg = format!("read of {len} bytes exceeds {MAX_READ_AT_BYTES}");
            return Err(ClientError::fs_err(OP, FsError::Invalid(msg)));
        }
        let cs = self.chunk_size();
        let (first, mut end) = chunk_span(offset, len, cs);
        let mut chunks: Vec<ChunkLocation> = Vec::new();
        let mut size: Option<u64> = None;
        let mut next = first;
        loop {
            let count = (end - next).clamp(1, LOCATION_BATCH);
            let (mut got, sz) = self.chunk_locations(ino, next, count).await?;
            let size_now = *size.get_or_insert(sz);
            end = end.min(size_now.div_ceil(cs)).max(first);
            got.retain(|l| l.index >= next && l.index < next + count);
            chunks.extend(got);
            next += count;
            if next >= end {
                break;
            }
        }
        let size = size.unwrap_or(0);
        let total = clamped_len(offset, len, size);
        let pieces = plan(offset, len, size, cs, &chunks);
        let chunks = Arc::new(chunks);
        let parallel = self.inner.config.parallel_chunks.max(1);
        let mut fetched: Vec<(u64, Vec<u8>)> = futures::stream::iter(pieces)
            .map(|p| {
                let chunks = chunks.clone();
                async move {
                    let loc = &chunks[p.slot];
                    let bytes = self.read_chunk(ino, loc, p.chunk_offset, p.len).await?;
                    Ok::<_, ClientError>((p.dest, bytes))
                }
            })
            .buffer_unordered(parallel)
            .try_collect()
            .await?;
        // One piece that is the whole answer (a whole-chunk read-ahead, say) is the
        // answer: no zeroed buffer and no second copy of megabytes.
        if let [(0, bytes)] = &mut fetched[..] {
            if bytes.len() as u64 == total {
                return Ok(std::mem::take(bytes));
            }
        }
        let mut out = vec![0u8; total as usize];
        for (dest, bytes) in fetched {
            let start = dest as usize;
            let end = start.saturating_add(bytes.len()).min(out.len());
            if let Some(dst) = out.get_mut(start..end) {
                dst.copy_from_slice(&bytes[..end - start]);
            }
        }
        Ok(out)
    }
}

/// Bytes `offset .. offset + len` of an inline chunk (already inside `loc.chunk.len`);
/// None if the metadata's bytes do not match the recorded length.
fn inline_range(loc: &ChunkLocation, bytes: &[u8], offset: u64, len: u64) -> Option<Vec<u8>> {
    if bytes.len() as u64 != loc.chunk.len {
        return None;
    }
    let start = usize::try_from(offset).ok()?;
    let end = usize::try_from(offset.checked_add(len)?).ok()?;
    bytes.get(start..end).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::meta_msg::{ClusterMap, DataServerInfo};

    fn server(id: u64, state: ServerState) -> DataServerInfo {
        DataServerInfo {
            id: NodeId(id),
            addr: format!("127.0.0.1:{}", 7100 + id),
            zone: String::new(),
            weight: 1,
            capacity: 1 << 30,
            used: 0,
            chunks: 0,
            state,
        }
    }

    #[tokio::test]
    async fn verification_refuses_bytes_that_do_not_match() {
        for len in [100, INLINE_HASH_BYTES * 2] {
            let data = vec![3u8; len];
            let hash = *blake3::hash(&data).as_bytes();
            assert_eq!(verified(data.clone(), hash).await.expect("matches"), data);
            let mut bad = data.clone();
            bad[len / 2] ^= 1;
            assert!(matches!(verified(bad, hash).await, Err(DataFail::Checksum)));
        }
    }

    #[test]
    fn down_and_unknown_servers_are_tried_last() {
        let map = ClusterMap {
            data_servers: vec![
                server(1, ServerState::Down),
                server(2, ServerState::Up),
                server(3, ServerState::Suspect),
            ],
            replication: 3,
            chunk_size: 1 << 20,
            vnodes_per_weight: 8,
        };
        let view = MapView::new(map);
        let order = try_order(&view, vec![NodeId(9), NodeId(1), NodeId(3), NodeId(2)]);
        assert_eq!(order, vec![NodeId(3), NodeId(2), NodeId(9), NodeId(1)]);
    }

    #[test]
    fn inline_ranges_are_cut_from_the_metadata_bytes() {
        let bytes = b"0123456789".to_vec();
        let loc = ChunkLocation {
            index: 0,
            chunk: ferrofs_proto::attr::ChunkRef {
                id: ferrofs_proto::ChunkId(1),
                len: 10,
                hash: *blake3::hash(&bytes).as_bytes(),
                inline: Some(bytes.clone()),
            },
            servers: Vec::new(),
        };
        assert_eq!(inline_range(&loc, &bytes, 0, 10), Some(bytes.clone()));
        assert_eq!(inline_range(&loc, &bytes, 3, 4), Some(b"3456".to_vec()));
        assert_eq!(inline_range(&loc, &bytes, 10, 0), Some(Vec::new()));
        assert_eq!(inline_range(&loc, &bytes, 8, 5), None, "past the end");
        assert_eq!(
            inline_range(&loc, &bytes[..9], 0, 1),
            None,
            "length mismatch"
        );
    }
}
