//! Cluster administration through Raft: a data server's state and weight, its removal,
//! and the runtime rebalance settings. Checks that need the leader's in-memory liveness
//! (is a server down past the grace period?) are made on the leader before proposing.

use super::keys;
use super::records::{self, Location};
use super::store::{successor, KvRead, StoreError, Table};
use super::tx::{OpResult, Tx};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::NodeId;
use ferrofs_proto::meta_msg::{DataServerInfo, MetaResponse, RebalanceSettings, ServerState};
use std::collections::BTreeMap;

const PAGE: usize = 1024;
/// Highest accepted weight (a share, not a size: keeps the ring's arithmetic tame).
pub const MAX_WEIGHT: u32 = 1000;
/// Highest accepted throttle, MiB/s.
pub const MAX_RATE_MIB: u32 = 1 << 20;

fn invalid(msg: String) -> super::tx::OpError {
    FsError::Invalid(msg).into()
}

fn read_server(tx: &Tx<'_>, node: NodeId) -> OpResult<DataServerInfo> {
    let found: Option<DataServerInfo> = tx.read(Table::Servers, &keys::server(node))?;
    found.ok_or_else(|| invalid(format!("data server {node} is not registered")))
}

/// `SetDataServer`: drain (Draining), end a drain (Up) and/or set the weight.
pub fn set_data_server(
    tx: &mut Tx<'_>,
    node: NodeId,
    state: Option<ServerState>,
    weight: Option<u32>,
) -> OpResult<MetaResponse> {
    let info = read_server(tx, node)?;
    if info.state == ServerState::Removed {
        return Err(invalid(format!(
            "data server {node} was removed; start it with a new node id to use it again"
        )));
    }
    match state {
        None | Some(ServerState::Up | ServerState::Draining) => {}
        Some(other) => {
            return Err(invalid(format!(
                "a data server's state can be set to up or draining, not {other:?} \
                 (suspect and down come from heartbeats; use remove to remove it)"
            )))
        }
    }
    if let Some(w) = weight {
        if w > MAX_WEIGHT {
            return Err(invalid(format!(
                "weight {w} is above the maximum {MAX_WEIGHT}"
            )));
        }
    }
    super::servers::update(tx, node, state, weight)?;
    Ok(MetaResponse::Done)
}

/// `RemoveDataServer`: mark the server removed. Without `force` it must be draining with
/// no chunk location naming it; with `force` the leader has already checked that it is down
/// past the grace period (its copies no longer count and are re-replicated).
pub fn remove_data_server(tx: &mut Tx<'_>, node: NodeId, force: bool) -> OpResult<MetaResponse> {
    let info = read_server(tx, node)?;
    if info.state == ServerState::Removed {
        return Ok(MetaResponse::Done);
    }
    if !force {
        if info.state != ServerState::Draining {
            return Err(invalid(format!(
                "data server {node} is not drained: drain it first with `ferrofs node drain {}` \
                 and wait until `ferrofs node list` shows it drained (or, if it is down for \
                 good, use --force)",
                node.0
            )));
        }
        let left = locations_per_server(&tx.kv)?
            .get(&node)
            .copied()
            .unwrap_or(0);
        if left > 0 {
            return Err(invalid(format!(
                "data server {node} is still draining: {left} chunk copies are still on it; \
                 wait until `ferrofs node list` shows it drained"
            )));
        }
    }
    super::servers::update(tx, node, Some(ServerState::Removed), None)?;
    Ok(MetaResponse::Done)
}

/// `SetRebalance`: pause/resume and the throttle.
pub fn set_rebalance(
    tx: &mut Tx<'_>,
    paused: Option<bool>,
    rate_mib_per_sec: Option<u32>,
) -> OpResult<MetaResponse> {
    let mut s = rebalance_settings(&tx.kv)?;
    if let Some(p) = paused {
        s.paused = p;
    }
    if let Some(r) = rate_mib_per_sec {
        if r == 0 || r > MAX_RATE_MIB {
            return Err(invalid(format!(
                "rebalance rate {r} MiB/s is out of range 1..={MAX_RATE_MIB} (use pause to stop moves)"
            )));
        }
        s.rate_mib_per_sec = r;
    }
    tx.write(Table::Sys, keys::SYS_REBALANCE.to_vec(), &s)?;
    Ok(MetaResponse::Done)
}

pub fn rebalance_settings(store: &dyn KvRead) -> Result<RebalanceSettings, StoreError> {
    match store.get(Table::Sys, keys::SYS_REBALANCE)? {
        Some(bytes) => records::decode(Table::Sys, &bytes),
        None => Ok(RebalanceSettings::default()),
    }
}

/// How many chunk locations name each server.
pub fn locations_per_server(store: &dyn KvRead) -> Result<BTreeMap<NodeId, u64>, StoreError> {
    let mut out: BTreeMap<NodeId, u64> = BTreeMap::new();
    let mut start = Vec::new();
    loop {
        let page = store.scan(Table::Locations, &[], &start, PAGE)?;
        for (_, value) in &page {
            let l: Location = records::decode(Table::Locations, value)?;
            for s in l.servers {
                *out.entry(s).or_default() += 1;
            }
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE => start = successor(last),
            _ => return Ok(out),
        }
    }
}
