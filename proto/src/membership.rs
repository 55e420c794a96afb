//! Changes to the set of metadata voters, sent by `ferrofs meta ...` to the leader.

use crate::ids::NodeId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add a node (started in join mode, empty `initial_voters`) as a learner, wait
    /// until it has caught up, then make it a voter.
    AddVoter { id: NodeId, addr: String },
    /// Remove a voter or learner from the cluster. Removing the leader first moves
    /// leadership to another voter.
    RemoveVoter { id: NodeId },
    /// Hand leadership to another voter.
    TransferLeader { id: NodeId },
}

impl MembershipChange {
    /// The node the change is about.
    pub fn node(&self) -> NodeId {
        match self {
            MembershipChange::AddVoter { id, .. }
            | MembershipChange::RemoveVoter { id }
            | MembershipChange::TransferLeader { id } => *id,
        }
    }
}

impl std::fmt::Display for MembershipChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MembershipChange::AddVoter { id, addr } => write!(f, "adding node {} at {addr}", id.0),
            MembershipChange::RemoveVoter { id } => write!(f, "removing node {}", id.0),
            MembershipChange::TransferLeader { id } => {
                write!(f, "moving leadership to node {}", id.0)
            }
        }
    }
}
