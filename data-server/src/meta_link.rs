//! Talking to the metadata leader: find it among the configured addresses, follow
//! `NotLeader` redirects, cache it, and retry mutations with one stable request id.

use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};
use ferrofs_proto::{ClientId, FsError, RequestId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;

/// Redirects followed from one starting address before trying the next.
const MAX_REDIRECTS: usize = 4;
/// First and largest pause between retries of a mutation.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum MetaLinkError {
    /// No configured metadata server answered as leader.
    #[error("no metadata leader reachable: {0}")]
    NoLeader(String),
}

pub struct MetaLink {
    connector: Connector,
    addrs: Vec<String>,
    leader: Mutex<Option<String>>,
    client: ClientId,
    seq: AtomicU64,
    timeout: Duration,
}

/// Is this reply a "try elsewhere" rather than an answer?
fn redirect(resp: &MetaResponse) -> Option<Option<&str>> {
    match resp {
        MetaResponse::Error(FsError::NotLeader { leader_addr }) => Some(leader_addr.as_deref()),
        MetaResponse::Error(FsError::Unavailable(_)) => Some(None),
        _ => None,
    }
}

impl MetaLink {
    /// `timeout` bounds one attempt against one address.
    pub fn new(connector: Connector, addrs: Vec<String>, timeout: Duration) -> MetaLink {
        MetaLink {
            connector,
            addrs,
            leader: Mutex::new(None),
            client: ClientId(rand::random()),
            seq: AtomicU64::new(1),
            timeout,
        }
    }

    /// The leader address last seen answering, if any.
    pub fn leader(&self) -> Option<String> {
        self.leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_leader(&self, addr: Option<String>) {
        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = addr;
    }

    /// A fresh id for one logical mutation (reuse it for that mutation's retries).
    pub fn next_request_id(&self) -> RequestId {
        RequestId {
            client: self.client,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Send `req` to the leader: the cached one first, then every configured address,
    /// following redirects. Any reply other than `NotLeader`/`Unavailable` is returned,
    /// including other errors, for the caller to judge.
    pub async fn call(&self, req: &MetaRequest) -> Result<MetaResponse, MetaLinkError> {
        let mut candidates: Vec<String> = self.leader().into_iter().collect();
        for a in &self.addrs {
            if !candidates.contains(a) {
                candidates.push(a.clone());
            }
        }
        let mut last = String::from("no metadata addresses");
        for start in candidates {
            let mut addr = start;
            for _ in 0..=MAX_REDIRECTS {
                let resp = match self
                    .connector
                    .call::<_, MetaResponse>(&addr, req, self.timeout)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        last = format!("{addr}: {e}");
                        if self.leader().as_deref() == Some(addr.as_str()) {
                            self.set_leader(None);
                        }
                        break;
                    }
                };
                match redirect(&resp) {
                    None => {
                        self.set_leader(Some(addr.clone()));
                        return Ok(resp);
                    }
                    Some(Some(next)) if next != addr => {
                        tracing::debug!(from = %addr, to = %next, "following leader redirect");
                        last = format!("{addr}: redirected to {next}");
                        addr = next.to_string();
                    }
                    Some(_) => {
                        last = format!("{addr}: not the leader and no leader known");
                        break;
                    }
                }
            }
        }
        Err(MetaLinkError::NoLeader(last))
    }

    /// Apply `op` through the leader, retrying with backoff and the same request id
    /// until some leader answers. Returns that answer (which may be an error reply).
    pub async fn mutate_until_answered(&self, op: MetaOp) -> MetaResponse {
        let req = MetaRequest::Mutate {
            id: self.next_request_id(),
            op,
        };
        let mut pause = BACKOFF_START;
        loop {
            match self.call(&req).await {
                Ok(resp) => return resp,
                Err(e) => {
                    tracing::debug!(error = %e, "metadata mutation not answered yet; retrying")
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(BACKOFF_MAX);
        }
    }
}

/// Exponential backoff helper for callers that loop themselves.
pub fn next_backoff(pause: Duration) -> Duration {
    (pause * 2).clamp(BACKOFF_START, BACKOFF_MAX)
}

pub const FIRST_BACKOFF: Duration = BACKOFF_START;
