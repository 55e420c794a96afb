//! The data-server registry (Table::Servers): registration and administrative state are
//! Raft state; liveness from heartbeats is kept in memory by the leader.

use super::keys;
use super::records;
use super::store::{successor, KvRead, StoreError, Table};
use super::tx::{OpResult, Tx};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::NodeId;
use ferrofs_proto::meta_msg::{DataServerInfo, MetaResponse, ServerState};

/// Longest address or zone name accepted at registration.
pub const MAX_ADDR_BYTES: usize = 1024;
const PAGE: usize = 256;

/// `RegisterDataServer`: upsert the record. A known server keeps its weight, usage and
/// an administrative state (draining, removed); otherwise it is up.
pub fn register(
    tx: &mut Tx<'_>,
    node: NodeId,
    addr: &str,
    zone: &str,
    capacity: u64,
) -> OpResult<MetaResponse> {
    register_weighted(tx, node, addr, zone, capacity, 1)
}

/// `RegisterDataServerWeighted`: as `register`; `weight` is the configured weight, used
/// only when the server registers for the first time (an operator's later setting stays).
pub fn register_weighted(
    tx: &mut Tx<'_>,
    node: NodeId,
    addr: &str,
    zone: &str,
    capacity: u64,
    weight: u32,
) -> OpResult<MetaResponse> {
    if node.0 == 0 {
        return Err(FsError::Invalid("data server id 0 is reserved".to_string()).into());
    }
    if addr.is_empty() || addr.len() > MAX_ADDR_BYTES || zone.len() > MAX_ADDR_BYTES {
        return Err(FsError::Invalid("bad data server address or zone".to_string()).into());
    }
    let old: Option<DataServerInfo> = tx.read(Table::Servers, &keys::server(node))?;
    let info = DataServerInfo {
        id: node,
        addr: addr.to_string(),
        zone: zone.to_string(),
        weight: old.as_ref().map_or(weight, |o| o.weight),
        capacity,
        used: old.as_ref().map_or(0, |o| o.used),
        chunks: old.as_ref().map_or(0, |o| o.chunks),
        state: match old.as_ref().map(|o| o.state) {
            Some(s @ (ServerState::Draining | ServerState::Removed)) => s,
            _ => ServerState::Up,
        },
    };
    tx.write(Table::Servers, keys::server(node), &info)?;
    Ok(MetaResponse::Done)
}

/// Change a registered server's administrative state or weight (`None` keeps it).
/// `NotFound` if the server never registered.
pub fn update(
    tx: &mut Tx<'_>,
    node: NodeId,
    state: Option<ServerState>,
    weight: Option<u32>,
) -> OpResult<DataServerInfo> {
    let key = keys::server(node);
    let mut info: DataServerInfo = tx.read(Table::Servers, &key)?.ok_or(FsError::NotFound)?;
    if let Some(s) = state {
        info.state = s;
    }
    if let Some(w) = weight {
        info.weight = w;
    }
    tx.write(Table::Servers, key, &info)?;
    Ok(info)
}

/// Every registered data server, by id.
pub fn all(store: &dyn KvRead) -> Result<Vec<DataServerInfo>, StoreError> {
    let mut out = Vec::new();
    let mut start = Vec::new();
    loop {
        let page = store.scan(Table::Servers, &[], &start, PAGE)?;
        for (_, value) in &page {
            out.push(records::decode(Table::Servers, value)?);
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE => start = successor(last),
            _ => return Ok(out),
        }
    }
}
