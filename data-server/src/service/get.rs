//! GetChunk: verify the whole chunk, then send the requested range.
//! GetBlocks: send the verified blocks covering a range, with the block hashes.

use super::{blocking, Reply, Service};
use crate::store::error::StoreError;
use crate::store::ChunkStore;
use ferrofs_proto::{ChunkId, FsError};

pub(super) async fn handle(
    svc: &Service,
    id: ChunkId,
    offset: u64,
    len: u64,
) -> Result<Reply, FsError> {
    read(svc, id, move |s| s.get(id, offset, len).map(Reply::Chunk)).await
}

pub(super) async fn handle_blocks(
    svc: &Service,
    id: ChunkId,
    offset: u64,
    len: u64,
) -> Result<Reply, FsError> {
    read(svc, id, move |s| {
        s.get_blocks(id, offset, len).map(Reply::Blocks)
    })
    .await
}

/// Run a read of chunk `id` on a blocking thread; a failure goes through
/// `read_failure` (damage is quarantined and reported).
async fn read(
    svc: &Service,
    id: ChunkId,
    work: impl FnOnce(&ChunkStore) -> Result<Reply, StoreError> + Send + 'static,
) -> Result<Reply, FsError> {
    crate::test_hooks::delay_read().await;
    let store = svc.store.clone();
    match blocking(move || work(&store)).await {
        Ok(reply) => Ok(reply),
        Err(e) => Err(svc.read_failure(id, e).await),
    }
}
