//! The leader's hourly housekeeping of state that would otherwise only grow: dedup
//! records of clients gone for a day (`dedup_sweep`) and orphan marks older than a week
//! (`orphan_mark_sweep`). Both list on a snapshot and drop through the log, so every
//! voter drops the same records.

use super::{dedup_sweep, orphan_mark_sweep, MetaService};
use ferrofs_proto::attr::Timestamp;
use std::sync::Arc;
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(3600);

/// Now, and `retention` before now: records older than the second go.
pub fn cutoff(retention: Duration) -> (Timestamp, Timestamp) {
    let now = Timestamp::now();
    let age = i128::try_from(retention.as_nanos()).unwrap_or(i128::MAX);
    (now, Timestamp(now.0.saturating_sub(age)))
}

/// Run forever; works only while this node is the leader.
pub async fn run(service: Arc<MetaService>) {
    loop {
        tokio::time::sleep(INTERVAL).await;
        if service.raft.as_leader().is_err() {
            continue;
        }
        match dedup_sweep::sweep(&service, dedup_sweep::RETENTION).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(clients = n, "dedup records of idle clients dropped"),
            Err(e) => tracing::debug!(error = %e, "dedup sweep stopped; next time"),
        }
        match orphan_mark_sweep::sweep(&service, orphan_mark_sweep::RETENTION).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(marks = n, "old orphan marks dropped"),
            Err(e) => tracing::debug!(error = %e, "orphan mark expiry stopped; next time"),
        }
    }
}
