//! Rewriting a partly written chunk whole (read-modify-write): read the stored chunk,
//! write the new bytes over it, upload the result under a new id, and commit it only
//! if the file still has the chunk that was read (`CommitOver`). Another writer's
//! change to the same chunk in between makes the commit refuse, and the rewrite starts
//! again from the chunk that is there now, so neither writer's bytes are lost.

use crate::backoff::Backoff;
use crate::client::{unexpected, Client};
use crate::error::ClientError;
use bytes::Bytes;
use ferrofs_proto::attr::{ChunkLocation, FileAttr, Timestamp};
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse};
use ferrofs_proto::{ChunkId, FsError, InodeId};
use std::time::{Duration, Instant};

/// The first wait before rewriting a chunk that another writer replaced, and the
/// longest (the waits double, within the client's failover timeout).
const RETRY_DELAY: Duration = Duration::from_millis(1);
const RETRY_MAX_DELAY: Duration = Duration::from_millis(50);

/// The new content of a chunk: the stored bytes that lie inside the file (`base`,
/// zeros past its end up to `in_file`), with `edits` (offsets within the chunk)
/// written over them.
pub(crate) fn merged(base: &[u8], in_file: u64, edits: &[(u64, &[u8])]) -> Vec<u8> {
    let end = edits
        .iter()
        .map(|(at, bytes)| at.saturating_add(bytes.len() as u64))
        .fold(in_file, u64::max);
    let mut out = vec![0u8; end as usize];
    let keep = base.len().min(in_file as usize);
    out[..keep].copy_from_slice(&base[..keep]);
    for (at, bytes) in edits {
        let at = *at as usize;
        out[at..at + bytes.len()].copy_from_slice(bytes);
    }
    out
}

impl Client {
    /// Write `edits` (offsets within chunk `index` of file `ino`, and their bytes)
    /// into the chunk by rewriting it whole, and grow the file to at least
    /// `min_size`. Safe against other writers of the chunk (see the module doc).
    /// With `expect` (the chunk the caller believes is there, `None` for a hole, which
    /// the file's size past the chunk implies: nothing to read), the first attempt
    /// commits the edits alone over it without reading.
    pub async fn rewrite_chunk(
        &self,
        ino: InodeId,
        index: u64,
        edits: &[(u64, &[u8])],
        min_size: u64,
        expect: Option<Option<ChunkId>>,
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "write";
        let cs = self.chunk_size();
        if let Some((at, bytes)) = edits
            .iter()
            .find(|(at, b)| at.saturating_add(b.len() as u64) > cs)
        {
            let msg = format!("{} bytes at {at} pass the chunk size {cs}", bytes.len());
            return Err(ClientError::fs_err(OP, FsError::Invalid(msg)));
        }
        if let Some(base) = expect {
            let content = merged(&[], 0, edits);
            match self.commit_over(ino, index, base, content, min_size).await {
                Err(e) if matches!(e.fs(), Some(FsError::ChunkChanged { .. })) => {
                    tracing::debug!(%ino, index, "chunk is not what was expected; reading it");
                }
                other => return other,
            }
        }
        let deadline = Instant::now() + self.inner.config.failover_timeout;
        let mut backoff = Backoff::new(RETRY_DELAY, RETRY_MAX_DELAY);
        loop {
            let (base, content) = self.read_merged(ino, index, edits).await?;
            match self.commit_over(ino, index, base, content, min_size).await {
                Err(e) if matches!(e.fs(), Some(FsError::ChunkChanged { .. })) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    match backoff.jittered_delay_within(remaining) {
                        Some(d) => tokio::time::sleep(d).await,
                        None => return Err(e),
                    }
                    tracing::debug!(%ino, index, "chunk replaced while it was rewritten; again");
                }
                other => return other,
            }
        }
    }

    /// The chunk's current id (`None`: a hole) and its new content.
    async fn read_merged(
        &self,
        ino: InodeId,
        index: u64,
        edits: &[(u64, &[u8])],
    ) -> Result<(Option<ChunkId>, Vec<u8>), ClientError> {
        let cs = self.chunk_size();
        let (locs, size) = self.chunk_locations(ino, index, 1).await?;
        let in_file = size.saturating_sub(index.saturating_mul(cs)).min(cs);
        let loc: Option<ChunkLocation> = locs.into_iter().find(|l| l.index == index);
        let base = match &loc {
            Some(l) if in_file > 0 => {
                let len = l.chunk.len.min(in_file);
                self.read_chunk(ino, l, 0, len).await?
            }
            _ => Vec::new(),
        };
        Ok((loc.map(|l| l.chunk.id), merged(&base, in_file, edits)))
    }

    /// Upload `content` as chunk `index` and commit it if the file's chunk there is
    /// still `base`; a chunk id the metadata refuses (`ChunkCollected`) is uploaded
    /// again under a new one.
    async fn commit_over(
        &self,
        ino: InodeId,
        index: u64,
        base: Option<ChunkId>,
        content: Vec<u8>,
        min_size: u64,
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "commit over";
        let content = Bytes::from(content);
        let mut uploads = 0;
        loop {
            uploads += 1;
            let (chunk, servers) = self.upload_chunk("write", content.clone()).await?;
            let op = MetaOp::CommitOver {
                ino,
                base,
                chunk: ChunkLocation {
                    index,
                    chunk,
                    servers,
                },
                min_size,
                mtime: Timestamp::now(),
            };
            match self.mutate(OP, op).await {
                Ok(MetaResponse::Attr(a)) => return Ok(a),
                Ok(other) => return unexpected(OP, other),
                Err(e)
                    if uploads <= MAX_REUPLOADS
                        && matches!(e.fs(), Some(FsError::ChunkCollected(_))) =>
                {
                    tracing::warn!(%ino, index, error = %e, "commit refused; uploading the chunk again");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// How often one rewrite uploads its chunk again after `ChunkCollected`.
const MAX_REUPLOADS: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_land_on_the_stored_bytes_inside_the_file() {
        // Stored chunk of 8 bytes, of which the file holds 6 (truncated inside it).
        let base = b"abcdefgh";
        assert_eq!(merged(base, 6, &[(1, b"XY")]), b"aXYdef".to_vec());
        // Zeros between the stored bytes and an edit past them.
        assert_eq!(merged(b"ab", 2, &[(4, b"Z")]), b"ab\0\0Z".to_vec());
        // A hole inside the file reads as zeros under the edits.
        assert_eq!(merged(b"", 4, &[(0, b"Q")]), b"Q\0\0\0".to_vec());
        // Edits in order: a later one wins where they overlap.
        assert_eq!(
            merged(b"....", 4, &[(0, b"ab"), (1, b"C")]),
            b"aC..".to_vec()
        );
    }
}
