//! The chunk service: one `DataRequest` per QUIC stream, one dispatch `match`.

mod copy;
mod get;
mod patch;
mod put;

use crate::integrity::CorruptionSink;
use crate::metrics::DataMetrics;
use crate::scrub_control::ScrubControl;
use crate::store::error::StoreError;
use crate::store::{blocking, ChunkStore};
use bytes::Bytes;
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::frame::{read_msg, write_msg};
use ferrofs_proto::{FsError, WireError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// One request, from its first byte to its reply, must finish within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Chunk bytes held in memory by puts and copies at once; more wait their turn.
const MAX_INFLIGHT_BYTES: usize = 512 * 1024 * 1024;
/// Error code sent when the server stops reading a request it refused.
const STOP_REFUSED: u32 = 1;

/// Shared state of the request handlers.
pub struct Service {
    store: Arc<ChunkStore>,
    sink: CorruptionSink,
    connector: Connector,
    inflight: Semaphore,
    metrics: Arc<DataMetrics>,
    scrub: Arc<ScrubControl>,
}

/// A handler's successful outcome.
enum Reply {
    Msg(DataResponse),
    /// `Chunk { len }` followed by these bytes.
    Chunk(Bytes),
    /// `Blocks { .. }` followed by the blocks' bytes.
    Blocks(crate::store::Blocks),
}

/// Refusal for a request whose bytes could not be read.
fn wire_refusal(e: &WireError) -> FsError {
    match e {
        WireError::Truncated => FsError::Invalid("request ended early".to_string()),
        other => FsError::Invalid(format!("bad request: {other}")),
    }
}

impl Service {
    pub fn new(
        store: Arc<ChunkStore>,
        sink: CorruptionSink,
        connector: Connector,
        metrics: Arc<DataMetrics>,
    ) -> Service {
        Service {
            store,
            sink,
            connector,
            inflight: Semaphore::new(MAX_INFLIGHT_BYTES),
            metrics,
            scrub: Arc::new(ScrubControl::new(0)),
        }
    }

    /// Answer `ScrubStart` / `ScrubStatus` with this scrubber.
    pub fn with_scrub(mut self, scrub: Arc<ScrubControl>) -> Service {
        self.scrub = scrub;
        self
    }

    /// Serve one stream. Never panics on input; failures end as an error reply or a
    /// closed stream.
    pub async fn handle_stream(
        self: Arc<Self>,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) {
        let work = self.serve(&mut send, &mut recv);
        let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
            Ok(o) => o,
            Err(_) => {
                tracing::debug!("request timed out");
                let _ = recv.stop(quinn::VarInt::from_u32(STOP_REFUSED));
                let _ = send.reset(quinn::VarInt::from_u32(STOP_REFUSED));
                return;
            }
        };
        if let Err(e) = outcome {
            tracing::debug!(error = %e, "stream ended with a transport error");
        }
    }

    async fn serve(
        &self,
        send: &mut quinn::SendStream,
        recv: &mut quinn::RecvStream,
    ) -> Result<(), WireError> {
        let req = match read_msg::<DataRequest>(recv).await {
            Ok(r) => r,
            Err(WireError::Transport(t)) => return Err(WireError::Transport(t)),
            Err(e) => {
                tracing::debug!(error = %e, "refusing unreadable request");
                let _ = recv.stop(quinn::VarInt::from_u32(STOP_REFUSED));
                return finish(send, Reply::Msg(DataResponse::Error(wire_refusal(&e)))).await;
            }
        };
        let op = kind(&req);
        let put_len = req.payload_len();
        let span = tracing::debug_span!("data_request", kind = op);
        let started = Instant::now();
        let result = self.dispatch(req, recv).instrument(span).await;
        self.metrics
            .observe_request(op, started.elapsed(), result.is_ok());
        match &result {
            Ok(Reply::Chunk(bytes)) => self.metrics.add_read(bytes.len() as u64),
            Ok(Reply::Blocks(b)) => self.metrics.add_read(b.bytes.len() as u64),
            Ok(Reply::Msg(_)) => self.metrics.add_written(put_len.unwrap_or(0)),
            Err(_) => {}
        }
        let reply = match result {
            Ok(r) => r,
            Err(e) => {
                // Whatever the client still sends is of no use now.
                let _ = recv.stop(quinn::VarInt::from_u32(STOP_REFUSED));
                Reply::Msg(DataResponse::Error(e))
            }
        };
        finish(send, reply).await
    }

    async fn dispatch(
        &self,
        req: DataRequest,
        recv: &mut quinn::RecvStream,
    ) -> Result<Reply, FsError> {
        match req {
            DataRequest::PutChunk { id, len, hash } => put::handle(self, recv, id, len, hash).await,
            DataRequest::GetChunk { id, offset, len } => get::handle(self, id, offset, len).await,
            DataRequest::PatchChunk {
                base,
                base_hash,
                id,
                edits,
            } => {
                let p = patch::Patch {
                    base,
                    base_hash,
                    id,
                    edits,
                };
                patch::handle(self, recv, p).await
            }
            DataRequest::GetBlocks { id, offset, len } => {
                get::handle_blocks(self, id, offset, len).await
            }
            DataRequest::HasChunk { id } => {
                let store = self.store.clone();
                let present = blocking(move || store.contains(id)).await?;
                Ok(Reply::Msg(DataResponse::Present(present)))
            }
            DataRequest::DeleteChunk { id } => {
                let store = self.store.clone();
                let existed = blocking(move || store.delete(id)).await?;
                tracing::debug!(chunk = %id, existed, "chunk deleted");
                Ok(Reply::Msg(DataResponse::Deleted))
            }
            DataRequest::CopyChunkFrom {
                id,
                hash,
                source_addr,
            } => copy::handle(self, id, hash, &source_addr).await,
            DataRequest::Stat => {
                let st = self.store.stat();
                Ok(Reply::Msg(DataResponse::Stat {
                    capacity: st.capacity,
                    used: st.used,
                    chunks: st.chunks,
                }))
            }
            DataRequest::ScrubStart => {
                let started_unix_ms = self.scrub.request();
                tracing::info!("scrub pass requested");
                Ok(Reply::Msg(DataResponse::ScrubStarted { started_unix_ms }))
            }
            DataRequest::ScrubStatus => Ok(Reply::Msg(DataResponse::Scrub(self.scrub.report()))),
        }
    }

    /// A store error on a read path: corruption goes to quarantine and is reported.
    async fn read_failure(&self, id: ferrofs_proto::ChunkId, e: StoreError) -> FsError {
        if let StoreError::Corrupt { reason, .. } = &e {
            self.sink.damaged(id, reason).await;
        }
        e.into()
    }
}

fn kind(req: &DataRequest) -> &'static str {
    match req {
        DataRequest::PutChunk { .. } => "put",
        DataRequest::GetChunk { .. } => "get",
        DataRequest::GetBlocks { .. } => "get_blocks",
        DataRequest::PatchChunk { .. } => "patch",
        DataRequest::HasChunk { .. } => "has",
        DataRequest::DeleteChunk { .. } => "delete",
        DataRequest::CopyChunkFrom { .. } => "copy",
        DataRequest::Stat => "stat",
        DataRequest::ScrubStart => "scrub_start",
        DataRequest::ScrubStatus => "scrub_status",
    }
}

/// Send the reply and finish the stream.
async fn finish(send: &mut quinn::SendStream, reply: Reply) -> Result<(), WireError> {
    match reply {
        Reply::Msg(m) => write_msg(send, &m).await?,
        Reply::Chunk(bytes) => {
            write_msg(
                send,
                &DataResponse::Chunk {
                    len: bytes.len() as u64,
                },
            )
            .await?;
            send.write_chunk(bytes).await?;
        }
        Reply::Blocks(b) => {
            let head = DataResponse::Blocks {
                block: b.block,
                first: b.first,
                hashes: b.hashes,
                len: b.bytes.len() as u64,
            };
            write_msg(send, &head).await?;
            send.write_chunk(b.bytes).await?;
        }
    }
    send.finish()?;
    Ok(())
}
