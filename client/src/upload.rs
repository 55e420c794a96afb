//! Storing chunks: place a new chunk on the ring, upload it to its replica set in
//! parallel, fall back to the next servers on the ring when a target fails, and
//! commit the resulting chunk lists to the metadata.

use crate::backoff::Backoff;
use crate::client::{unexpected, Client, MapView};
use crate::data_io::{put_chunk, DataFail};
use crate::error::ClientError;
use bytes::Bytes;
use ferrofs_proto::attr::{ChunkLocation, ChunkRef, FileAttr, Timestamp};
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse};
use ferrofs_proto::{ChunkId, FsError, InodeId, NodeId};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::time::Instant;

/// Chunks hashed on the runtime thread up to this size; larger ones on a blocking thread.
pub(crate) const INLINE_HASH_BYTES: usize = 256 * 1024;
/// Most chunk locations in one CommitChunks.
pub(crate) const COMMIT_BATCH: usize = 32;

/// How an upload ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// `replication` copies stored.
    Full,
    /// Fewer copies, but every Up server was tried: accepted, with a warning.
    Degraded,
    /// No copy stored.
    Failed,
}

/// Pure: judge an upload that stored `stored` copies of `wanted`, once no untried
/// candidate is left (or enough are stored).
pub(crate) fn verdict(stored: usize, wanted: usize) -> Verdict {
    if stored >= wanted {
        Verdict::Full
    } else if stored >= 1 {
        Verdict::Degraded
    } else {
        Verdict::Failed
    }
}

pub(crate) async fn hash_chunk(data: &Bytes) -> [u8; 32] {
    if data.len() <= INLINE_HASH_BYTES {
        return *blake3::hash(data).as_bytes();
    }
    let owned = data.clone();
    match tokio::task::spawn_blocking(move || *blake3::hash(&owned).as_bytes()).await {
        Ok(h) => h,
        Err(_) => *blake3::hash(data).as_bytes(),
    }
}

/// One attempt over the ring: the servers that stored the chunk, and the failures.
struct Attempt {
    stored: Vec<NodeId>,
    failures: Vec<(NodeId, DataFail)>,
}

/// The file size covered by a batch of chunks (end of its last byte).
pub(crate) fn batch_end(batch: &[ChunkLocation], chunk_size: u64) -> u64 {
    batch
        .iter()
        .map(|l| {
            l.index
                .saturating_mul(chunk_size)
                .saturating_add(l.chunk.len)
        })
        .max()
        .unwrap_or(0)
}

impl Client {
    /// Upload one chunk; returns its reference and the servers holding a durable copy.
    /// A chunk of at most `inline_max_bytes` is not uploaded: its bytes travel inside
    /// the reference and the commit stores them in the metadata (no servers).
    pub(crate) async fn upload_chunk(
        &self,
        op: &'static str,
        data: Bytes,
    ) -> Result<(ChunkRef, Vec<NodeId>), ClientError> {
        let id = ChunkId::random();
        let hash = hash_chunk(&data).await;
        let inline_max = self.inner.config.inline_max_bytes;
        if inline_max > 0 && (data.len() as u64) <= inline_max {
            let chunk = ChunkRef {
                id,
                len: data.len() as u64,
                hash,
                inline: Some(data.to_vec()),
            };
            return Ok((chunk, Vec::new()));
        }
        let chunk = ChunkRef {
            id,
            len: data.len() as u64,
            hash,
            inline: None,
        };
        let deadline = Instant::now() + self.inner.config.failover_timeout;
        let mut backoff = Backoff::default();
        let mut view = self.map_view().await?;
        loop {
            let wanted = view.map.replication as usize;
            let attempt = self.try_place(&view, id, &data, hash, wanted).await;
            if !attempt.failures.is_empty() {
                for (node, e) in &attempt.failures {
                    tracing::warn!(%id, server = %node, error = %e, "storing chunk copy failed");
                }
            }
            match verdict(attempt.stored.len(), wanted) {
                Verdict::Full => {
                    if !attempt.failures.is_empty() {
                        self.refresh_map().await?;
                    }
                    return Ok((chunk, attempt.stored));
                }
                Verdict::Degraded => {
                    tracing::warn!(
                        %id,
                        copies = attempt.stored.len(),
                        wanted,
                        "chunk stored with fewer copies than the replication factor"
                    );
                    self.refresh_map().await?;
                    return Ok((chunk, attempt.stored));
                }
                Verdict::Failed => {}
            }
            if !attempt.failures.is_empty()
                && attempt
                    .failures
                    .iter()
                    .all(|(_, e)| matches!(e, DataFail::Fs(FsError::NoSpace)))
            {
                return Err(ClientError::fs_err(op, FsError::NoSpace));
            }
            let reason = match attempt.failures.last() {
                Some((node, e)) => format!("last failure on data server {node}: {e}"),
                None => "no data server is up".to_string(),
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            match backoff.jittered_delay_within(remaining) {
                Some(d) => tokio::time::sleep(d).await,
                None => {
                    return Err(ClientError::Upload {
                        op,
                        chunk: id,
                        reason,
                    })
                }
            }
            view = self.refresh_map().await?;
        }
    }

    /// Upload to the first `wanted` servers clockwise from the chunk's hash; each
    /// failure starts an upload to the next untried Up server on the ring.
    async fn try_place(
        &self,
        view: &MapView,
        id: ChunkId,
        data: &Bytes,
        hash: [u8; 32],
        wanted: usize,
    ) -> Attempt {
        let candidates = view.ring.place(id, view.up);
        let mut untried = candidates.into_iter();
        let mut running = FuturesUnordered::new();
        let put = move |node: NodeId| async move {
            let result = match view.addr_of(node) {
                Some(addr) => {
                    let timeout = self.inner.config.request_timeout;
                    put_chunk(&self.inner.connector, addr, id, data, hash, timeout).await
                }
                None => Err(DataFail::BadReply(
                    "server missing from the cluster map".into(),
                )),
            };
            (node, result)
        };
        for node in untried.by_ref().take(wanted) {
            running.push(put(node));
        }
        let mut attempt = Attempt {
            stored: Vec::new(),
            failures: Vec::new(),
        };
        while let Some((node, result)) = running.next().await {
            match result {
                Ok(()) => attempt.stored.push(node),
                Err(e) => {
                    attempt.failures.push((node, e));
                    if attempt.stored.len() + running.len() < wanted {
                        if let Some(next) = untried.next() {
                            running.push(put(next));
                        }
                    }
                }
            }
        }
        attempt
    }

    /// Upload whole chunks (`(chunk index, content)`, each at most `chunk_size` bytes)
    /// in parallel, then record them in one CommitChunks that also grows the file to
    /// at least `min_size`. The caller does read-modify-write of partial chunks.
    pub async fn write_chunks(
        &self,
        ino: InodeId,
        writes: Vec<(u64, Bytes)>,
        min_size: u64,
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "write";
        let cs = self.chunk_size();
        if let Some((index, data)) = writes.iter().find(|(_, d)| d.len() as u64 > cs) {
            let msg = format!(
                "chunk {index} holds {} bytes, more than the chunk size {cs}",
                data.len()
            );
            return Err(ClientError::fs_err(OP, FsError::Invalid(msg)));
        }
        let parallel = self.inner.config.parallel_chunks.max(1);
        let data: HashMap<u64, Bytes> = writes.iter().cloned().collect();
        let locations: Vec<ChunkLocation> = futures::stream::iter(writes)
            .map(|(index, data)| async move {
                let (chunk, servers) = self.upload_chunk(OP, data).await?;
                Ok::<_, ClientError>(ChunkLocation {
                    index,
                    chunk,
                    servers,
                })
            })
            .buffer_unordered(parallel)
            .try_collect()
            .await?;
        let mut locations = locations;
        locations.sort_by_key(|l| l.index);
        let mut batches: Vec<Vec<ChunkLocation>> =
            locations.chunks(COMMIT_BATCH).map(|b| b.to_vec()).collect();
        if batches.is_empty() {
            batches.push(Vec::new());
        }
        let count = batches.len();
        let mut attr = None;
        for (i, batch) in batches.into_iter().enumerate() {
            let min = if i + 1 == count {
                min_size
            } else {
                batch_end(&batch, cs)
            };
            attr = Some(self.commit_or_rewrite(ino, batch, min, &data).await?);
        }
        attr.ok_or_else(|| ClientError::protocol(OP, "no commit made"))
    }

    /// Commit `batch`; if the leader refuses a chunk id the garbage collector is
    /// deleting (`ChunkCollected`), upload the batch's bytes again under new ids and
    /// commit those.
    async fn commit_or_rewrite(
        &self,
        ino: InodeId,
        mut batch: Vec<ChunkLocation>,
        min_size: u64,
        data: &HashMap<u64, Bytes>,
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "write";
        let mut rewrites = 0;
        loop {
            match self.commit_chunks(ino, batch.clone(), min_size).await {
                Err(e) if rewrites < MAX_REWRITES && collected(&e) => {
                    rewrites += 1;
                    tracing::warn!(%ino, error = %e, "commit refused; uploading the chunks again");
                    for loc in batch.iter_mut() {
                        let bytes = data.get(&loc.index).cloned().ok_or_else(|| {
                            ClientError::protocol(OP, "rewritten chunk has no bytes")
                        })?;
                        let (chunk, servers) = self.upload_chunk(OP, bytes).await?;
                        loc.chunk = chunk;
                        loc.servers = servers;
                    }
                }
                other => return other,
            }
        }
    }

    /// Record chunks of a file and grow it to at least `min_size`.
    pub(crate) async fn commit_chunks(
        &self,
        ino: InodeId,
        chunks: Vec<ChunkLocation>,
        min_size: u64,
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "commit chunks";
        let op = MetaOp::CommitChunks {
            ino,
            chunks,
            min_size,
            mtime: Timestamp::now(),
        };
        match self.mutate(OP, op).await? {
            MetaResponse::Attr(a) => Ok(a),
            other => unexpected(OP, other),
        }
    }
}

/// How often one write uploads a batch again after `ChunkCollected`.
const MAX_REWRITES: u32 = 3;

fn collected(e: &ClientError) -> bool {
    matches!(e.fs(), Some(FsError::ChunkCollected(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_accepts_full_and_degraded_sets() {
        assert_eq!(verdict(3, 3), Verdict::Full);
        assert_eq!(verdict(2, 3), Verdict::Degraded);
        assert_eq!(verdict(1, 3), Verdict::Degraded);
        assert_eq!(verdict(0, 3), Verdict::Failed);
        assert_eq!(verdict(1, 1), Verdict::Full);
    }

    #[tokio::test]
    async fn big_and_small_chunks_hash_alike() {
        let small = Bytes::from(vec![7u8; 1000]);
        assert_eq!(hash_chunk(&small).await, *blake3::hash(&small).as_bytes());
        let big = Bytes::from(vec![9u8; INLINE_HASH_BYTES * 2]);
        assert_eq!(hash_chunk(&big).await, *blake3::hash(&big).as_bytes());
    }

    #[test]
    fn fallback_candidates_extend_the_target_set() {
        use ferrofs_proto::ring::{Ring, RingMember};
        let members = (1..=5)
            .map(|i| RingMember {
                id: NodeId(i),
                weight: 1,
                zone: String::new(),
            })
            .collect();
        let ring = Ring::new(members, 32);
        for n in 0..200u128 {
            let id = ChunkId(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let all = ring.place(id, 5);
            assert_eq!(
                &all[..3],
                &ring.place(id, 3)[..],
                "targets come first, fallbacks after"
            );
        }
    }
}
