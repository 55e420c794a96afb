//! `ferrofs meta add|remove|transfer-leader`: change the metadata voters.

use super::OpContext;
use crate::args::MetaCommand;
use crate::client_config::connect;
use anyhow::Result;
use ferrofs_proto::membership::MembershipChange;
use ferrofs_proto::NodeId;
use std::path::PathBuf;

pub async fn run(config: Option<PathBuf>, cmd: MetaCommand) -> Result<()> {
    let (change, done) = match cmd {
        MetaCommand::Add { id, addr } => (
            MembershipChange::AddVoter {
                id: NodeId(id),
                addr: addr.clone(),
            },
            format!("node {id} ({addr}) is a voter"),
        ),
        MetaCommand::Remove { id } => (
            MembershipChange::RemoveVoter { id: NodeId(id) },
            format!("node {id} is no longer a member; stop its process"),
        ),
        MetaCommand::TransferLeader { id } => (
            MembershipChange::TransferLeader { id: NodeId(id) },
            format!("node {id} is the leader"),
        ),
    };
    let client = connect(config).await?;
    let what = change.to_string();
    let result = client.change_membership(change).await.op(|| what);
    client.shutdown().await;
    result?;
    println!("{done}");
    Ok(())
}
