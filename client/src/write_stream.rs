//! `write_file_from`: a file's whole content streamed from a reader. Chunk-sized
//! pieces are uploaded by spawned tasks (at most `parallel_chunks` at once, so memory
//! stays near `parallel_chunks * chunk_size`) and committed in order, in batches, so
//! a reader during the upload sees a prefix of the new content.

use crate::client::Client;
use crate::error::ClientError;
use crate::tasks::OrderedTasks;
use crate::upload::{batch_end, COMMIT_BATCH};
use bytes::Bytes;
use ferrofs_proto::attr::{ChunkLocation, FileAttr, SetAttr};
use ferrofs_proto::InodeId;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Read until `want` bytes or the end of the input; short only at the end.
async fn read_full<R: AsyncRead + Unpin>(reader: &mut R, want: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

impl Client {
    /// Replace the content of file `ino` with everything `reader` yields. `progress`
    /// gets the bytes stored so far after each chunk. The file ends exactly as long as
    /// the input (an old, longer tail is cut off at the end).
    pub async fn write_file_from<R: AsyncRead + Unpin>(
        &self,
        ino: InodeId,
        mut reader: R,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "write";
        let cs = self.chunk_size();
        let parallel = self.inner.config.parallel_chunks.max(1);
        let mut running: OrderedTasks<Result<ChunkLocation, ClientError>> = OrderedTasks::new();
        let mut batch: Vec<ChunkLocation> = Vec::new();
        let mut attr: Option<FileAttr> = None;
        let (mut index, mut total, mut stored) = (0u64, 0u64, 0u64);
        let mut eof = false;
        loop {
            while running.len() < parallel && !eof {
                let piece = read_full(&mut reader, cs as usize).await?;
                if piece.is_empty() {
                    eof = true;
                    break;
                }
                eof = (piece.len() as u64) < cs;
                total += piece.len() as u64;
                let client = self.clone();
                let data = Bytes::from(piece);
                let this = index;
                running.spawn(async move {
                    let (chunk, servers) = client.upload_chunk(OP, data).await?;
                    Ok(ChunkLocation {
                        index: this,
                        chunk,
                        servers,
                    })
                });
                index += 1;
            }
            let Some(result) = running.next().await else {
                break;
            };
            let loc = result??;
            stored += loc.chunk.len;
            progress(stored);
            batch.push(loc);
            if batch.len() >= COMMIT_BATCH {
                let end = batch_end(&batch, cs);
                attr = Some(
                    self.commit_chunks(ino, std::mem::take(&mut batch), end)
                        .await?,
                );
            }
        }
        if !batch.is_empty() {
            attr = Some(self.commit_chunks(ino, batch, total).await?);
        }
        let attr = match attr {
            Some(a) => a,
            None => self.getattr(ino).await?,
        };
        if attr.size > total {
            let cut = SetAttr {
                size: Some(total),
                ..SetAttr::default()
            };
            return self.setattr(ino, cut).await;
        }
        Ok(attr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_full_fills_across_short_reads() {
        // A reader that yields 3 bytes per read.
        let (mut tx, rx) = tokio::io::duplex(3);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            tx.write_all(&[1u8; 10]).await.expect("write");
        });
        let mut rx = rx;
        let first = read_full(&mut rx, 8).await.expect("read");
        assert_eq!(first, vec![1u8; 8]);
        writer.await.expect("writer");
        let rest = read_full(&mut rx, 8).await.expect("read");
        assert_eq!(rest, vec![1u8; 2]);
        assert!(read_full(&mut rx, 8).await.expect("read").is_empty());
    }
}
