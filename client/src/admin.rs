//! Cluster administration sent to the metadata leader: changing the voters.

use crate::client::Client;
use crate::error::ClientError;
use ferrofs_proto::membership::MembershipChange;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};

impl Client {
    /// Add, remove a metadata voter or move leadership; returns once the change is
    /// committed. Refusals (quorum, a change already running) come back as
    /// `FsError::Invalid` with the reason.
    pub async fn change_membership(&self, change: MembershipChange) -> Result<(), ClientError> {
        match self
            .meta_read("membership", MetaRequest::Membership(change))
            .await?
        {
            MetaResponse::Done => Ok(()),
            other => Err(ClientError::protocol("membership", other)),
        }
    }
}
