//! Feeding the metrics: Raft state from openraft's metrics watch (so no leader
//! change is missed between scrapes), namespace and data-server gauges at scrape time.

use crate::metrics::{NamespaceSample, RaftSample};
use crate::namespace;
use crate::server::MetaService;
use crate::types::TypeConfig;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::{RaftMetrics, ServerState};
use std::sync::Arc;

fn role(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Candidate => "candidate",
        ServerState::Follower => "follower",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

pub(super) fn raft_sample(m: &RaftMetrics<TypeConfig>) -> RaftSample {
    RaftSample {
        term: m.current_term,
        role: role(m.state),
        commit_index: m.local_committed.as_ref().map_or(0, |l| l.index),
        applied_index: m.last_applied.as_ref().map_or(0, |l| l.index),
        leader: m.current_leader,
    }
}

/// Follow openraft's metrics until Raft shuts down.
pub async fn watch_raft(service: Arc<MetaService>) {
    let mut rx = service.raft.metrics();
    loop {
        let sample = raft_sample(&rx.borrow_watched());
        service.metrics.observe_raft(&sample);
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Bring the scrape-time gauges up to date. Failures leave the last values.
pub(super) async fn refresh(service: &MetaService) {
    let rx = service.raft.metrics();
    let sample = raft_sample(&rx.borrow_watched());
    service.metrics.observe_raft(&sample);
    if let Ok(Ok(c)) = service.sm.read(|view| namespace::counts(view)).await {
        service.metrics.observe_namespace(&NamespaceSample {
            files: c.files,
            dirs: c.dirs,
            chunks: c.chunks,
            under_replicated: c.under_replicated,
            logical_bytes: c.logical_bytes,
        });
    }
    if sample.role != "leader" {
        service.metrics.observe_servers(None);
        service.metrics.observe_repair(None);
        service.metrics.observe_rebalance(None);
        return;
    }
    if let Ok(r) = service.rebalance_status().await {
        service.metrics.observe_rebalance(Some(&r));
    }
    service
        .metrics
        .observe_repair(Some(&service.repair.snapshot()));
    if let Ok(Ok(registry)) = service.sm.read(|view| namespace::data_servers(view)).await {
        let servers = service.liveness.merge(registry, &service.settings);
        service.metrics.observe_servers(Some(&servers));
    }
}
