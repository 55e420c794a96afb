//! One request to one data server: store a chunk, or read (part of) one. The chunk
//! bytes travel as a raw payload after the header.

use bytes::Bytes;
use ferrofs_proto::block_hashes::BlockHash;
use ferrofs_proto::data_msg::{DataRequest, DataResponse};
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::frame::{read_msg, read_payload, write_msg};
use ferrofs_proto::limits::MAX_CHUNK_BYTES;
use ferrofs_proto::{ChunkId, FsError, WireError};
use std::time::Duration;
use thiserror::Error;

/// Why one data server could not serve one request.
#[derive(Debug, Error)]
pub(crate) enum DataFail {
    /// The server refused (no space, checksum mismatch, not found, ...).
    #[error("{0}")]
    Fs(FsError),
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The reply does not fit the request.
    #[error("bad reply: {0}")]
    BadReply(String),
    /// The bytes that arrived do not hash to the chunk's hash.
    #[error("checksum mismatch")]
    Checksum,
}

async fn with_timeout<T>(
    connector: &Connector,
    addr: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, DataFail>>,
) -> Result<T, DataFail> {
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            if matches!(
                e,
                DataFail::Wire(WireError::Transport(_) | WireError::Connect { .. })
            ) {
                connector.forget(addr);
            }
            Err(e)
        }
        Err(_) => {
            connector.forget(addr);
            Err(DataFail::Wire(WireError::Timeout))
        }
    }
}

/// Store `data` as chunk `id` on the server at `addr`; `Ok` once it answered `Stored`
/// (the copy is durable there).
pub(crate) async fn put_chunk(
    connector: &Connector,
    addr: &str,
    id: ChunkId,
    data: &Bytes,
    hash: [u8; 32],
    timeout: Duration,
) -> Result<(), DataFail> {
    let req = DataRequest::PutChunk {
        id,
        len: data.len() as u64,
        hash,
    };
    store_chunk(connector, addr, &req, data, timeout).await
}

/// Send a request that stores a chunk (`PutChunk`) with its payload `data`; `Ok`
/// once the server answered `Stored` (the copy is durable there).
pub(crate) async fn store_chunk(
    connector: &Connector,
    addr: &str,
    req: &DataRequest,
    data: &Bytes,
    timeout: Duration,
) -> Result<(), DataFail> {
    match send_payload(connector, addr, req, data, timeout).await? {
        DataResponse::Stored => Ok(()),
        other => Err(DataFail::BadReply(format!("{other:?}"))),
    }
}

/// Send a `PatchChunk` with the edits' bytes `data`; the new chunk's hash as the
/// server computed it, once the copy is durable there.
pub(crate) async fn patch_copy(
    connector: &Connector,
    addr: &str,
    req: &DataRequest,
    data: &Bytes,
    timeout: Duration,
) -> Result<[u8; 32], DataFail> {
    match send_payload(connector, addr, req, data, timeout).await? {
        DataResponse::Patched { hash } => Ok(hash),
        other => Err(DataFail::BadReply(format!("{other:?}"))),
    }
}

/// Send a request followed by its payload; the server's answer (an `Error` answer
/// is a failure).
async fn send_payload(
    connector: &Connector,
    addr: &str,
    req: &DataRequest,
    data: &Bytes,
    timeout: Duration,
) -> Result<DataResponse, DataFail> {
    let work = async {
        let (mut send, mut recv) = connector.open(addr).await?;
        write_msg(&mut send, req).await?;
        send.write_chunk(data.clone())
            .await
            .map_err(WireError::from)?;
        send.finish().map_err(WireError::from)?;
        match read_msg::<DataResponse>(&mut recv).await? {
            DataResponse::Error(e) => Err(DataFail::Fs(e)),
            other => Ok(other),
        }
    };
    with_timeout(connector, addr, timeout, work).await
}

/// Send a request that carries no payload; its reply header, and the stream that
/// may carry a payload after it.
async fn ask(
    connector: &Connector,
    addr: &str,
    req: &DataRequest,
) -> Result<(DataResponse, quinn::RecvStream), DataFail> {
    let (mut send, mut recv) = connector.open(addr).await?;
    write_msg(&mut send, req).await?;
    send.finish().map_err(WireError::from)?;
    Ok((read_msg::<DataResponse>(&mut recv).await?, recv))
}

/// Read `len` bytes at `offset` of chunk `id` (the caller keeps the range inside the
/// chunk). The length the server announces is checked before anything is allocated.
pub(crate) async fn get_chunk(
    connector: &Connector,
    addr: &str,
    id: ChunkId,
    offset: u64,
    len: u64,
    timeout: Duration,
) -> Result<Vec<u8>, DataFail> {
    let work = async {
        let (resp, mut recv) =
            ask(connector, addr, &DataRequest::GetChunk { id, offset, len }).await?;
        match resp {
            DataResponse::Chunk { len: got } if got == len && got <= MAX_CHUNK_BYTES => {
                Ok(read_payload(&mut recv, got).await?)
            }
            DataResponse::Chunk { len: got } => Err(DataFail::BadReply(format!(
                "asked for {len} bytes, server sends {got}"
            ))),
            DataResponse::Error(e) => Err(DataFail::Fs(e)),
            other => Err(DataFail::BadReply(format!("{other:?}"))),
        }
    };
    with_timeout(connector, addr, timeout, work).await
}

/// The blocks of a chunk covering a range, as a data server sent them (unverified).
pub(crate) struct BlocksReply {
    /// Block size; 0: `bytes` is the whole chunk.
    pub block: u64,
    pub first: u64,
    pub hashes: Vec<BlockHash>,
    pub bytes: Vec<u8>,
}

impl BlocksReply {
    /// A server's answer for `len` bytes at `offset` of the chunk `bytes`, in blocks
    /// of 4 KiB (test data).
    #[cfg(test)]
    pub(crate) fn for_test(bytes: &[u8], offset: u64, len: u64) -> BlocksReply {
        use ferrofs_proto::block_hashes::{block_hashes, covering};
        let block = 4096;
        let (first, from, to) = covering(offset, len, bytes.len() as u64, block);
        BlocksReply {
            block,
            first,
            hashes: block_hashes(bytes, block).expect("hashes"),
            bytes: bytes[from as usize..to as usize].to_vec(),
        }
    }
}

/// The blocks covering `len` bytes at `offset` of chunk `id`, with its block hashes.
pub(crate) async fn get_blocks(
    connector: &Connector,
    addr: &str,
    id: ChunkId,
    offset: u64,
    len: u64,
    timeout: Duration,
) -> Result<BlocksReply, DataFail> {
    let work = async {
        let (resp, mut recv) =
            ask(connector, addr, &DataRequest::GetBlocks { id, offset, len }).await?;
        match resp {
            DataResponse::Blocks {
                block,
                first,
                hashes,
                len: got,
            } if got <= MAX_CHUNK_BYTES => Ok(BlocksReply {
                block,
                first,
                hashes,
                bytes: read_payload(&mut recv, got).await?,
            }),
            DataResponse::Blocks { len: got, .. } => Err(DataFail::BadReply(format!(
                "server sends {got} bytes of blocks, over the chunk size limit"
            ))),
            DataResponse::Error(e) => Err(DataFail::Fs(e)),
            other => Err(DataFail::BadReply(format!("{other:?}"))),
        }
    };
    with_timeout(connector, addr, timeout, work).await
}
