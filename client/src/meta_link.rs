//! The link to the metadata quorum: finds and caches the Raft leader, follows
//! `NotLeader` redirects, and retries unavailability and transport failures with
//! backoff until the failover timeout, so that elections stay invisible to callers.

use crate::backoff::Backoff;
use crate::error::ClientError;
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::meta_msg::{MetaRequest, MetaResponse};
use ferrofs_proto::{FsError, WireError};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Redirects followed in a row without sleeping; after that, redirects back off too
/// (two servers that name each other must not spin).
const FREE_REDIRECTS: u32 = 3;
/// Shortest time given to one attempt, even close to the deadline.
const MIN_ATTEMPT: Duration = Duration::from_millis(200);

/// What to do with the outcome of one attempt.
#[derive(Debug)]
pub(crate) enum Step {
    /// A real answer (possibly a file-system error other than leadership): return it.
    Reply(MetaResponse),
    /// A failure no retry can fix.
    Fail(ClientError),
    /// The server is not the leader; go to the named one, or the next address.
    Redirect(Option<String>),
    /// Transient: election in progress, timeout, lost connection. Try the next address
    /// after a backoff.
    Retry(Transient),
}

/// The last transient failure, reported if the deadline passes.
#[derive(Debug)]
pub(crate) enum Transient {
    Fs(FsError),
    Wire(WireError),
}

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transient::Fs(e) => write!(f, "{e}"),
            Transient::Wire(e) => write!(f, "{e}"),
        }
    }
}

/// Classify one attempt. Pure, so the retry policy is tested without a network.
pub(crate) fn classify(result: Result<MetaResponse, WireError>) -> Step {
    match result {
        Ok(MetaResponse::Error(FsError::NotLeader { leader_addr })) => Step::Redirect(leader_addr),
        Ok(MetaResponse::Error(e @ FsError::Unavailable(_))) => Step::Retry(Transient::Fs(e)),
        Ok(resp) => Step::Reply(resp),
        Err(
            e @ (WireError::Timeout
            | WireError::Transport(_)
            | WireError::Connect { .. }
            | WireError::Truncated
            | WireError::Io(_)),
        ) => Step::Retry(Transient::Wire(e)),
        Err(e) => Step::Fail(ClientError::Wire(e)),
    }
}

pub(crate) struct MetaLink {
    connector: Connector,
    addrs: Vec<String>,
    leader: Mutex<Option<String>>,
    next: AtomicUsize,
    request_timeout: Duration,
    failover_timeout: Duration,
}

impl MetaLink {
    pub(crate) fn new(
        connector: Connector,
        addrs: Vec<String>,
        request_timeout: Duration,
        failover_timeout: Duration,
    ) -> MetaLink {
        MetaLink {
            connector,
            addrs,
            leader: Mutex::new(None),
            next: AtomicUsize::new(0),
            request_timeout,
            failover_timeout,
        }
    }

    /// The leader address last seen, if any.
    pub(crate) fn cached_leader(&self) -> Option<String> {
        self.leader.lock().clone()
    }

    /// The cached leader, else the next configured address in rotation, skipping
    /// `avoid` (the server that just failed) when there is another one.
    fn target(&self, avoid: Option<&str>) -> String {
        if let Some(l) = self.leader.lock().clone() {
            return l;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        pick(&self.addrs, i, avoid).unwrap_or_default()
    }

    fn set_leader(&self, addr: Option<String>) {
        *self.leader.lock() = addr;
    }

    /// Forget `failed` as leader (if it still is the cached one).
    fn drop_leader(&self, failed: &str) {
        let mut l = self.leader.lock();
        if l.as_deref() == Some(failed) {
            *l = None;
        }
    }

    /// Send `req` to the leader, retrying as described in the module docs. The same
    /// `req` (and so the same `RequestId` for a mutation) is sent on every attempt.
    pub(crate) async fn call(
        &self,
        op: &'static str,
        req: &MetaRequest,
    ) -> Result<MetaResponse, ClientError> {
        let start = Instant::now();
        let deadline = start + self.failover_timeout;
        let mut backoff = Backoff::default();
        let mut free_redirects = FREE_REDIRECTS;
        let mut last: Transient;
        let mut failed: Option<String> = None;
        loop {
            let target = self.target(failed.as_deref());
            failed = None;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt = self.request_timeout.min(remaining.max(MIN_ATTEMPT));
            let result = self
                .connector
                .call::<_, MetaResponse>(&target, req, attempt)
                .await;
            match classify(result) {
                Step::Reply(resp) => {
                    self.set_leader(Some(target));
                    return Ok(resp);
                }
                Step::Fail(e) => return Err(e),
                Step::Redirect(Some(addr)) if addr != target && free_redirects > 0 => {
                    tracing::debug!(op, from = %target, to = %addr, "following leader redirect");
                    free_redirects -= 1;
                    self.set_leader(Some(addr));
                    continue;
                }
                Step::Redirect(hint) => {
                    tracing::debug!(op, from = %target, ?hint, "not the leader; trying another server");
                    self.set_leader(hint.filter(|a| *a != target));
                    last = Transient::Fs(FsError::NotLeader { leader_addr: None });
                }
                Step::Retry(why) => {
                    tracing::debug!(op, server = %target, error = %why, "metadata request failed; retrying");
                    if matches!(why, Transient::Wire(WireError::Timeout)) {
                        // A timed-out connection may be to a dead peer: dial afresh next time.
                        self.connector.forget(&target);
                    }
                    self.drop_leader(&target);
                    failed = Some(target);
                    last = why;
                }
            }
            free_redirects = FREE_REDIRECTS;
            let remaining = deadline.saturating_duration_since(Instant::now());
            match backoff.jittered_delay_within(remaining) {
                Some(d) => tokio::time::sleep(d).await,
                None => return Err(give_up(op, start.elapsed(), last)),
            }
        }
    }
}

/// Address number `turn` (modulo the list), or the one after it if that is `avoid`.
pub(crate) fn pick(addrs: &[String], turn: usize, avoid: Option<&str>) -> Option<String> {
    if addrs.is_empty() {
        return None;
    }
    let first = &addrs[turn % addrs.len()];
    if addrs.len() > 1 && Some(first.as_str()) == avoid {
        return Some(addrs[(turn + 1) % addrs.len()].clone());
    }
    Some(first.clone())
}

fn give_up(op: &'static str, after: Duration, last: Transient) -> ClientError {
    match last {
        Transient::Fs(err) => ClientError::Fs { op, err },
        Transient::Wire(e) => ClientError::Timeout {
            op,
            after,
            last: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_proto::meta_msg::StatFs;

    #[test]
    fn not_leader_redirects_to_the_hint() {
        let r = Ok(MetaResponse::Error(FsError::NotLeader {
            leader_addr: Some("b:1".into()),
        }));
        assert!(matches!(classify(r), Step::Redirect(Some(a)) if a == "b:1"));
        let r = Ok(MetaResponse::Error(FsError::NotLeader {
            leader_addr: None,
        }));
        assert!(matches!(classify(r), Step::Redirect(None)));
    }

    #[test]
    fn unavailable_and_transport_failures_are_retried() {
        let r = Ok(MetaResponse::Error(FsError::Unavailable("election".into())));
        assert!(matches!(classify(r), Step::Retry(Transient::Fs(_))));
        for e in [
            WireError::Timeout,
            WireError::Truncated,
            WireError::Transport("reset".into()),
            WireError::Connect {
                addr: "a".into(),
                reason: "refused".into(),
            },
        ] {
            assert!(matches!(classify(Err(e)), Step::Retry(Transient::Wire(_))));
        }
    }

    #[test]
    fn answers_and_permanent_failures_are_returned() {
        let r = Ok(MetaResponse::Error(FsError::NotFound));
        assert!(matches!(
            classify(r),
            Step::Reply(MetaResponse::Error(FsError::NotFound))
        ));
        let r = Ok(MetaResponse::StatFs(StatFs {
            capacity: 1,
            used: 0,
            files: 0,
        }));
        assert!(matches!(classify(r), Step::Reply(MetaResponse::StatFs(_))));
        let r = Err(WireError::Malformed("bad".into()));
        assert!(matches!(classify(r), Step::Fail(ClientError::Wire(_))));
    }

    #[test]
    fn rotation_skips_the_server_that_just_failed() {
        let addrs: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        assert_eq!(pick(&addrs, 0, None).as_deref(), Some("a"));
        assert_eq!(pick(&addrs, 4, None).as_deref(), Some("b"));
        assert_eq!(pick(&addrs, 0, Some("a")).as_deref(), Some("b"));
        assert_eq!(pick(&addrs, 2, Some("c")).as_deref(), Some("a"));
        let one: Vec<String> = vec!["a".into()];
        assert_eq!(
            pick(&one, 7, Some("a")).as_deref(),
            Some("a"),
            "the only server is retried"
        );
        assert_eq!(pick(&[], 0, None), None);
    }

    #[test]
    fn giving_up_reports_the_last_failure() {
        let e = give_up(
            "getattr",
            Duration::from_secs(1),
            Transient::Fs(FsError::Unavailable("no quorum".into())),
        );
        assert!(matches!(
            e,
            ClientError::Fs {
                op: "getattr",
                err: FsError::Unavailable(_)
            }
        ));
        let e = give_up(
            "getattr",
            Duration::from_secs(1),
            Transient::Wire(WireError::Timeout),
        );
        assert_eq!(e.errno(), libc::ETIMEDOUT);
    }
}
