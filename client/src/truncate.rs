//! Changing a file's size without ever exposing stale bytes.

use crate::client::Client;
use crate::error::ClientError;
use bytes::Bytes;
use ferrofs_proto::attr::{FileAttr, SetAttr};
use ferrofs_proto::InodeId;

impl Client {
    /// Set the size of a file. A shrink that ends inside a chunk first rewrites that chunk
    /// cut at the new size: the metadata keeps a cut chunk whole, so without this the old
    /// tail would be readable again after the file grows back.
    pub async fn truncate(&self, ino: InodeId, size: u64) -> Result<FileAttr, ClientError> {
        let change = SetAttr {
            size: Some(size),
            ..SetAttr::default()
        };
        self.truncate_with(ino, change).await
    }

    /// `setattr` for a change that may carry a new size (as a FUSE setattr does): a
    /// shrink is prepared as in `truncate`, and the other fields are set in the same
    /// commit.
    pub async fn truncate_with(
        &self,
        ino: InodeId,
        change: SetAttr,
    ) -> Result<FileAttr, ClientError> {
        if let Some(size) = change.size {
            let now = self.getattr(ino).await?;
            let chunk = self.chunk_size().max(1);
            let keep = size % chunk;
            if size < now.size && keep != 0 {
                let index = size / chunk;
                let mut head = self.read_at(ino, index * chunk, keep).await?;
                head.resize(keep as usize, 0);
                self.write_chunks(ino, vec![(index, Bytes::from(head))], 0)
                    .await?;
            }
        }
        self.setattr(ino, change).await
    }
}
