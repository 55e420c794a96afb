//! Lock sessions: a mount that holds file locks renews its session with the leader
//! (`KeepLocks`) every second. When a mount is killed, or cut off from the leader, for
//! the lock timeout, the leader proposes `ExpireLockSessions` and its locks go, so one
//! dead mount cannot keep a file locked for good. The sessions live in the leader's
//! memory only: a new leader starts every holder's clock when it first looks, so a
//! leader change only gives dead mounts' locks one more timeout.
//!
//! The price of a lease: a live mount cut off from the leader for longer than the
//! timeout loses its locks while its processes still believe they hold them.

use super::MetaService;
use crate::namespace::ApplyContext;
use crate::namespace::{lock_holders, MAX_EXPIRED_SESSIONS};
use crate::types::{LogCommand, MetaCommand};
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse};
use ferrofs_proto::{ClientId, FsError};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When the leader last heard from each mount that holds (or recently held) locks.
#[derive(Default)]
pub struct LockSessions {
    seen: std::sync::Mutex<HashMap<ClientId, Instant>>,
}

impl LockSessions {
    pub fn renew(&self, client: ClientId, now: Instant) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(client, now);
    }

    /// Those of `holders` not heard from for `timeout`. A holder seen for the first time
    /// starts its clock at `now`; mounts that no longer hold locks are forgotten once
    /// their last renewal is older than `timeout`.
    pub fn expired(
        &self,
        holders: &BTreeSet<ClientId>,
        timeout: Duration,
        now: Instant,
    ) -> Vec<ClientId> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|c, last| holders.contains(c) || now.duration_since(*last) < timeout);
        holders
            .iter()
            .filter(|c| now.duration_since(*seen.entry(**c).or_insert(now)) >= timeout)
            .copied()
            .collect()
    }

    pub fn forget(&self, clients: &[ClientId]) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for c in clients {
            seen.remove(c);
        }
    }

    /// Leadership lost: the next leader term starts every clock again.
    pub fn clear(&self) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// How often the leader looks for expired sessions.
fn check_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
}

impl MetaService {
    /// `KeepLocks` (leader only).
    pub(crate) fn keep_locks(&self, client: ClientId) -> MetaResponse {
        match self.raft.as_leader() {
            Ok(_) => {
                self.lock_sessions.renew(client, Instant::now());
                MetaResponse::Done
            }
            Err(fwd) => MetaResponse::Error(self.not_leader(&fwd)),
        }
    }

    /// Drop the locks of every holder whose session ran out; the number of sessions.
    async fn expire_lock_sessions(&self, timeout: Duration) -> Result<usize, FsError> {
        let holders = self.read_local("file locks", |v| lock_holders(v)).await?;
        let expired = self
            .lock_sessions
            .expired(&holders, timeout, Instant::now());
        for page in expired.chunks(MAX_EXPIRED_SESSIONS) {
            let cmd = LogCommand::Meta(MetaCommand {
                request_id: None,
                ctx: ApplyContext {
                    now: Timestamp::now(),
                },
                op: MetaOp::ExpireLockSessions {
                    clients: page.to_vec(),
                },
            });
            if let MetaResponse::Error(e) = self.propose(cmd).await? {
                return Err(e);
            }
            self.lock_sessions.forget(page);
        }
        Ok(expired.len())
    }
}

/// Run forever; works only while this node is the leader.
pub async fn run(service: Arc<MetaService>, timeout: Duration) {
    loop {
        tokio::time::sleep(check_interval(timeout)).await;
        if service.raft.as_leader().is_err() {
            service.lock_sessions.clear();
            continue;
        }
        match service.expire_lock_sessions(timeout).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "locks of silent mounts dropped"),
            Err(e) => tracing::debug!(error = %e, "lock session check failed; next time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_expires_a_timeout_after_it_was_last_heard_from() {
        let s = LockSessions::default();
        let t0 = Instant::now();
        let timeout = Duration::from_secs(10);
        let holders: BTreeSet<_> = [ClientId(1), ClientId(2)].into();
        s.renew(ClientId(1), t0);
        // Client 2's clock starts when the leader first sees it hold a lock.
        assert!(s
            .expired(&holders, timeout, t0 + Duration::from_secs(5))
            .is_empty());
        s.renew(ClientId(1), t0 + Duration::from_secs(9));
        assert_eq!(
            s.expired(&holders, timeout, t0 + Duration::from_secs(15)),
            vec![ClientId(2)]
        );
        assert_eq!(
            s.expired(&holders, timeout, t0 + Duration::from_secs(19)),
            vec![ClientId(1), ClientId(2)]
        );
    }

    #[test]
    fn renewals_of_mounts_without_locks_are_forgotten() {
        let s = LockSessions::default();
        let t0 = Instant::now();
        s.renew(ClientId(3), t0);
        let none = BTreeSet::new();
        s.expired(&none, Duration::from_secs(1), t0 + Duration::from_secs(2));
        assert!(s.seen.lock().expect("lock").is_empty());
    }
}
