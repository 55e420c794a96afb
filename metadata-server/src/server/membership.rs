//! `ferrofs meta add|remove|transfer-leader`: changing the metadata voters.
//!
//! The leader runs one change at a time as a background job, so a change finishes even
//! if the CLI that asked for it goes away. A request waits a few seconds for its job and
//! otherwise answers `Unavailable`, which makes the client retry the same request; a
//! retry of the running change waits on the same job, a different change is refused.
//! Changes that would leave fewer reachable voters than a majority are refused.

use super::MetaService;
use crate::types::{MetaRaft, TypeConfig};
use ferrofs_proto::membership::MembershipChange;
use ferrofs_proto::meta_msg::MetaResponse;
use ferrofs_proto::{FsError, NodeId};
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::{BasicNode, ChangeMembers, Instant as _, RaftMetrics};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// How long one request waits for its job before telling the client to retry.
const WAIT_PER_REQUEST: Duration = Duration::from_secs(6);
/// How long a new node may take to catch up before the addition is abandoned.
const CATCH_UP: Duration = Duration::from_secs(60);
/// How long a leadership transfer may take.
const TRANSFER: Duration = Duration::from_secs(10);

type Outcome = Option<Result<(), FsError>>;

/// The change in progress on this leader, if any.
#[derive(Default)]
pub(crate) struct MembershipJobs {
    current: Mutex<Option<Job>>,
}

struct Job {
    change: MembershipChange,
    done: watch::Receiver<Outcome>,
}

/// What the leader knows about the voters when a change is asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct View {
    pub leader: u64,
    pub voters: BTreeSet<u64>,
    pub learners: BTreeSet<u64>,
    /// Voters and learners that answered recently, the leader included.
    pub reachable: BTreeSet<u64>,
    /// A joint configuration, or a membership entry not yet committed.
    pub changing: bool,
}

/// What to do for a request, decided from the view alone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing to do: the cluster already looks as asked.
    AlreadyDone,
    /// Run the change as a job.
    Run,
    /// Removing the leader: hand leadership to this voter first.
    MoveLeaderFirst(u64),
}

fn majority(n: usize) -> usize {
    n / 2 + 1
}

fn names(ids: &BTreeSet<u64>) -> String {
    let v: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Refuse a new voter set whose reachable members are not a majority.
fn check_quorum(view: &View, new_voters: &BTreeSet<u64>, what: &str) -> Result<(), FsError> {
    if new_voters.is_empty() {
        return Err(FsError::Invalid(format!(
            "{what} would leave no voters; a cluster needs at least one"
        )));
    }
    let up: BTreeSet<u64> = new_voters.intersection(&view.reachable).copied().collect();
    let need = majority(new_voters.len());
    if up.len() < need {
        let down: BTreeSet<u64> = new_voters.difference(&view.reachable).copied().collect();
        return Err(FsError::Invalid(format!(
            "{what} would lose the quorum: of the {} voters left only {} are reachable \
             (unreachable: {}), and {need} are needed; bring the unreachable voters back first",
            new_voters.len(),
            up.len(),
            names(&down)
        )));
    }
    Ok(())
}

/// Decide what `change` needs, or why it is refused.
pub(crate) fn plan(view: &View, change: &MembershipChange) -> Result<Plan, FsError> {
    match change {
        MembershipChange::AddVoter { id, addr } => {
            if id.0 == 0 || addr.is_empty() {
                return Err(FsError::Invalid(
                    "meta add needs a node id above 0 and an address".into(),
                ));
            }
            if view.voters.contains(&id.0) {
                return Ok(Plan::AlreadyDone);
            }
            if view.changing {
                return Err(in_progress("the cluster is between two configurations"));
            }
            // The new node is expected to answer once it has caught up.
            let mut after = view.voters.clone();
            after.insert(id.0);
            let mut reach = view.clone();
            reach.reachable.insert(id.0);
            check_quorum(&reach, &after, &format!("adding node {}", id.0))?;
            Ok(Plan::Run)
        }
        MembershipChange::RemoveVoter { id } => {
            if !view.voters.contains(&id.0) && !view.learners.contains(&id.0) {
                return Ok(Plan::AlreadyDone);
            }
            if view.changing {
                return Err(in_progress("the cluster is between two configurations"));
            }
            let mut after = view.voters.clone();
            after.remove(&id.0);
            let what = format!("removing node {}", id.0);
            check_quorum(view, &after, &what)?;
            if id.0 == view.leader {
                let to = after
                    .intersection(&view.reachable)
                    .next()
                    .copied()
                    .ok_or_else(|| {
                        FsError::Invalid(format!("{what}: no other voter is reachable"))
                    })?;
                return Ok(Plan::MoveLeaderFirst(to));
            }
            Ok(Plan::Run)
        }
        MembershipChange::TransferLeader { id } => {
            if id.0 == view.leader {
                return Ok(Plan::AlreadyDone);
            }
            if !view.voters.contains(&id.0) {
                return Err(FsError::Invalid(format!(
                    "node {} is not a voter (voters: {}); only a voter can lead",
                    id.0,
                    names(&view.voters)
                )));
            }
            if !view.reachable.contains(&id.0) {
                return Err(FsError::Invalid(format!(
                    "node {} has not answered the leader recently; it cannot take over now",
                    id.0
                )));
            }
            Ok(Plan::Run)
        }
    }
}

fn in_progress(detail: &str) -> FsError {
    FsError::Invalid(format!(
        "a membership change is in progress ({detail}); try again when it has finished"
    ))
}

impl MetaService {
    /// The leader's view of the voters; `NotLeader` elsewhere.
    fn membership_view(&self) -> Result<View, FsError> {
        if let Err(fwd) = self.raft.as_leader() {
            return Err(self.not_leader(&fwd));
        }
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let learners: BTreeSet<u64> = membership.learner_ids().collect();
        let reachable = self.reachable(&m);
        let changing = membership.get_joint_config().len() > 1
            || m.membership_config.log_id() != m.committed_membership_config.log_id();
        Ok(View {
            leader: self.node_id,
            voters,
            learners,
            reachable,
            changing,
        })
    }

    /// On the leader: the members that acknowledged a heartbeat or replication within
    /// the read timeout, the leader included. Empty on other nodes.
    pub(crate) fn reachable(&self, m: &RaftMetrics<TypeConfig>) -> BTreeSet<u64> {
        let Some(heartbeat) = &m.heartbeat else {
            return BTreeSet::new();
        };
        let fresh = self.timeouts.read;
        let mut reachable: BTreeSet<u64> = heartbeat
            .iter()
            .filter_map(|(id, at)| at.as_ref().map(|t| (*id, t.elapsed())))
            .filter(|(_, age)| *age <= fresh)
            .map(|(id, _)| id)
            .collect();
        reachable.insert(self.node_id);
        reachable
    }

    /// Serve a `MetaRequest::Membership`.
    pub(crate) async fn membership(&self, change: MembershipChange) -> MetaResponse {
        match self.start_or_join(change).await {
            Ok(()) => MetaResponse::Done,
            Err(e) => MetaResponse::Error(e),
        }
    }

    async fn start_or_join(&self, change: MembershipChange) -> Result<(), FsError> {
        let mut done = match self.claim(&change)? {
            Claimed::Wait(rx) => rx,
            Claimed::AlreadyDone => return Ok(()),
            Claimed::MoveLeaderFirst(to) => {
                self.raft
                    .trigger()
                    .transfer_leader(to)
                    .await
                    .map_err(|e| FsError::Unavailable(e.to_string()))?;
                tracing::info!(to, "moving leadership before removing this node");
                return Err(FsError::Unavailable(format!(
                    "leadership is moving to node {to} before node {} is removed",
                    self.node_id
                )));
            }
        };
        let waited = tokio::time::timeout(WAIT_PER_REQUEST, done.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(outcome)) => outcome.clone().unwrap_or(Ok(())),
            Ok(Err(_)) => Err(FsError::Internal("the membership job vanished".into())),
            Err(_) => Err(FsError::Unavailable(format!("still {change}"))),
        }
    }

    /// Join the running job for `change`, or start one, or say why not.
    fn claim(&self, change: &MembershipChange) -> Result<Claimed, FsError> {
        let mut current = self
            .membership_jobs
            .current
            .lock()
            .map_err(|_| FsError::Internal("membership job lock poisoned".into()))?;
        if let Some(job) = current.as_ref() {
            if job.done.borrow().is_none() {
                if job.change != *change {
                    return Err(in_progress(&job.change.to_string()));
                }
                return Ok(Claimed::Wait(job.done.clone()));
            }
        }
        let view = self.membership_view()?;
        match plan(&view, change)? {
            Plan::AlreadyDone => return Ok(Claimed::AlreadyDone),
            Plan::MoveLeaderFirst(to) => return Ok(Claimed::MoveLeaderFirst(to)),
            Plan::Run => {}
        }
        let (tx, rx) = watch::channel(None);
        let raft = self.raft.clone();
        let job_change = change.clone();
        tokio::spawn(async move {
            tracing::info!(change = %job_change, "membership change started");
            let result = run(&raft, &job_change).await;
            match &result {
                Ok(()) => tracing::info!(change = %job_change, "membership change done"),
                Err(e) => {
                    tracing::warn!(change = %job_change, error = %e, "membership change failed")
                }
            }
            let _ = tx.send(Some(result));
        });
        *current = Some(Job {
            change: change.clone(),
            done: rx.clone(),
        });
        Ok(Claimed::Wait(rx))
    }
}

enum Claimed {
    Wait(watch::Receiver<Outcome>),
    AlreadyDone,
    MoveLeaderFirst(u64),
}

/// Carry out one planned change on the leader.
async fn run(raft: &MetaRaft, change: &MembershipChange) -> Result<(), FsError> {
    let write_err = |e: openraft::errors::RaftError<_, openraft::errors::ClientWriteError<_>>| {
        FsError::Unavailable(format!("{change}: {e}"))
    };
    match change {
        MembershipChange::AddVoter { id, addr } => {
            let node = BasicNode { addr: addr.clone() };
            let added = raft
                .add_learner(id.0, node, false)
                .await
                .map_err(write_err)?;
            let target = added.log_id.index;
            wait_caught_up(raft, *id, target).await?;
            raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id.0])), false)
                .await
                .map_err(write_err)?;
            Ok(())
        }
        MembershipChange::RemoveVoter { id } => {
            let is_voter = {
                let metrics = raft.metrics();
                let m = metrics.borrow_watched();
                let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
                voters.contains(&id.0)
            };
            let members = if is_voter {
                ChangeMembers::RemoveVoters(BTreeSet::from([id.0]))
            } else {
                ChangeMembers::RemoveNodes(BTreeSet::from([id.0]))
            };
            raft.change_membership(members, false)
                .await
                .map_err(write_err)?;
            Ok(())
        }
        MembershipChange::TransferLeader { id } => {
            raft.trigger()
                .transfer_leader(id.0)
                .await
                .map_err(|e| FsError::Unavailable(e.to_string()))?;
            let moved = raft
                .wait(Some(TRANSFER))
                .metrics(|m| m.current_leader == Some(id.0), "leader moved")
                .await;
            moved.map(|_| ()).map_err(|e| {
                FsError::Unavailable(format!("leadership did not move to node {}: {e}", id.0))
            })
        }
    }
}

/// Wait until the learner `id` has replicated up to `index`.
async fn wait_caught_up(raft: &MetaRaft, id: NodeId, index: u64) -> Result<(), FsError> {
    raft.wait(Some(CATCH_UP))
        .metrics(
            |m| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&id.0).cloned().flatten())
                    .is_some_and(|l| l.index >= index)
            },
            "learner caught up",
        )
        .await
        .map(|_| ())
        .map_err(|e| {
            FsError::Unavailable(format!(
                "node {} did not catch up within {}s ({e}); is it running, reachable at the \
                 address given, and started with an empty initial_voters (join mode)?",
                id.0,
                CATCH_UP.as_secs()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(voters: &[u64], reachable: &[u64]) -> View {
        View {
            leader: 1,
            voters: voters.iter().copied().collect(),
            learners: BTreeSet::new(),
            reachable: reachable.iter().copied().collect(),
            changing: false,
        }
    }

    fn add(id: u64) -> MembershipChange {
        MembershipChange::AddVoter {
            id: NodeId(id),
            addr: "127.0.0.1:1".into(),
        }
    }

    fn remove(id: u64) -> MembershipChange {
        MembershipChange::RemoveVoter { id: NodeId(id) }
    }

    #[test]
    fn removing_a_voter_that_leaves_no_reachable_majority_is_refused() {
        // 3 voters, node 3 down: removing 2 leaves {1, 3} with only 1 reachable.
        let v = view(&[1, 2, 3], &[1, 2]);
        let err = plan(&v, &remove(2)).expect_err("refused");
        assert!(err.to_string().contains("lose the quorum"), "{err}");
        // Removing the down node itself is fine: {1, 2} are both reachable.
        assert_eq!(plan(&v, &remove(3)), Ok(Plan::Run));
    }

    #[test]
    fn the_last_voter_cannot_be_removed() {
        let v = view(&[1], &[1]);
        let err = plan(&v, &remove(1)).expect_err("refused");
        assert!(err.to_string().contains("no voters"), "{err}");
    }

    #[test]
    fn removing_the_leader_moves_leadership_first() {
        // Leadership goes to a reachable voter (2 is down).
        let v = view(&[1, 2, 3, 4, 5], &[1, 3, 4, 5]);
        assert_eq!(plan(&v, &remove(1)), Ok(Plan::MoveLeaderFirst(3)));
        // With 3 voters and one down, removing the leader would leave 1 of 2 reachable.
        let v = view(&[1, 2, 3], &[1, 3]);
        assert!(plan(&v, &remove(1)).is_err());
    }

    #[test]
    fn one_change_at_a_time_and_repeats_are_no_ops() {
        let mut v = view(&[1, 2, 3], &[1, 2, 3]);
        assert_eq!(plan(&v, &add(2)), Ok(Plan::AlreadyDone));
        assert_eq!(plan(&v, &remove(9)), Ok(Plan::AlreadyDone));
        assert_eq!(plan(&v, &add(4)), Ok(Plan::Run));
        v.changing = true;
        let err = plan(&v, &add(4)).expect_err("refused");
        assert!(err
            .to_string()
            .contains("a membership change is in progress"));
    }

    #[test]
    fn adding_to_a_cluster_that_lost_its_majority_is_refused() {
        // 3 voters, 2 down: 4 voters would need 3 reachable, only 2 would be.
        let v = view(&[1, 2, 3], &[1]);
        assert!(plan(&v, &add(4)).is_err());
    }

    #[test]
    fn leadership_goes_only_to_a_reachable_voter() {
        let v = view(&[1, 2, 3], &[1, 2]);
        assert_eq!(
            plan(&v, &MembershipChange::TransferLeader { id: NodeId(2) }),
            Ok(Plan::Run)
        );
        assert!(plan(&v, &MembershipChange::TransferLeader { id: NodeId(3) }).is_err());
        assert!(plan(&v, &MembershipChange::TransferLeader { id: NodeId(7) }).is_err());
    }
}
