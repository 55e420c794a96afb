//! GetChunk: verify the whole chunk, then send the requested range.
//! GetBlocks: send the verified blocks covering a range, with the block hashes.

use super::{blocking, Reply, Service};
use ferrofs_proto::{ChunkId, FsError};

pub(super) async fn handle(
    svc: &Service,
    id: ChunkId,
    offset: u64,
    len: u64,
) -> Result<Reply, FsError> {
    crate::test_hooks::delay_read().await;
    let store = svc.store.clone();
    match blocking(move || store.get(id, offset, len)).await {
        Ok(bytes) => Ok(Reply::Chunk(bytes)),
        Err(e) => Err(svc.read_failure(id, e).await),
    }
}

pub(super) async fn handle_blocks(
    svc: &Service,
    id: ChunkId,
    offset: u64,
    len: u64,
) -> Result<Reply, FsError> {
    crate::test_hooks::delay_read().await;
    let store = svc.store.clone();
    match blocking(move || store.get_blocks(id, offset, len)).await {
        Ok(blocks) => Ok(Reply::Blocks(blocks)),
        Err(e) => Err(svc.read_failure(id, e).await),
    }
}
