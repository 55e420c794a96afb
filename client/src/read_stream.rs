//! `read_file_to`: a whole file streamed to a writer in order, with read-ahead of
//! `parallel_chunks` chunks fetched by spawned tasks while earlier ones are written.

use crate::client::Client;
use crate::error::ClientError;
use crate::read::LOCATION_BATCH;
use crate::read_plan::{chunk_count, segment_len};
use crate::tasks::OrderedTasks;
use ferrofs_proto::attr::{ChunkLocation, FileKind};
use ferrofs_proto::{FsError, InodeId};
use std::collections::VecDeque;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// One chunk-sized segment of the file to produce.
struct Segment {
    index: u64,
    /// Bytes of the file this segment covers.
    len: u64,
    /// `None` for a hole.
    loc: Option<ChunkLocation>,
}

impl Client {
    async fn fetch_segment(&self, ino: InodeId, seg: Segment) -> Result<Vec<u8>, ClientError> {
        let mut bytes = match &seg.loc {
            Some(loc) if loc.chunk.len > 0 => self.read_chunk(ino, loc, 0, loc.chunk.len).await?,
            _ => Vec::new(),
        };
        // A short chunk is followed by zeros; a chunk longer than the size is cut.
        bytes.resize(seg.len as usize, 0);
        Ok(bytes)
    }

    /// Write the whole file to `writer`, in order; `progress` gets the bytes written so
    /// far after each chunk. Returns the bytes written (the size seen at the start).
    pub async fn read_file_to<W: AsyncWrite + Unpin>(
        &self,
        ino: InodeId,
        mut writer: W,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, ClientError> {
        const OP: &str = "read";
        let attr = self.getattr(ino).await?;
        if attr.kind == FileKind::Dir {
            return Err(ClientError::fs_err(OP, FsError::IsDir));
        }
        let size = attr.size;
        let cs = self.chunk_size();
        let count = chunk_count(size, cs);
        let parallel = self.inner.config.parallel_chunks.max(1);
        let mut queued: VecDeque<Segment> = VecDeque::new();
        let mut next_located = 0u64;
        let mut running: OrderedTasks<Result<Vec<u8>, ClientError>> = OrderedTasks::new();
        let mut written = 0u64;
        loop {
            while running.len() < parallel {
                if queued.is_empty() && next_located < count {
                    let n = (count - next_located).min(LOCATION_BATCH);
                    let (chunks, _) = self.chunk_locations(ino, next_located, n).await?;
                    for index in next_located..next_located + n {
                        let loc = chunks.iter().find(|l| l.index == index).cloned();
                        queued.push_back(Segment {
                            index,
                            len: segment_len(index, size, cs),
                            loc,
                        });
                    }
                    next_located += n;
                }
                let Some(seg) = queued.pop_front() else { break };
                let client = self.clone();
                tracing::trace!(%ino, index = seg.index, "fetching chunk");
                running.spawn(async move { client.fetch_segment(ino, seg).await });
            }
            let Some(result) = running.next().await else {
                break;
            };
            let bytes = result??;
            writer.write_all(&bytes).await?;
            written += bytes.len() as u64;
            progress(written);
        }
        writer.flush().await?;
        Ok(written)
    }
}
