//! The leader's in-memory view of data-server liveness: when each server last sent a
//! heartbeat and what it reported. Merged with the Raft registry to give the state
//! (up / suspect / down) and usage clients see.

use ferrofs_proto::config::ClusterSettings;
use ferrofs_proto::meta_msg::{DataServerInfo, HeartbeatInfo, ServerState};
use ferrofs_proto::NodeId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Seen {
    at: Instant,
    info: HeartbeatInfo,
}

struct Inner {
    /// When this node last became leader: a server not heard from since counts
    /// from here, so a new leader does not declare every server down at once.
    epoch: Instant,
    seen: HashMap<NodeId, Seen>,
}

pub struct Liveness {
    inner: Mutex<Inner>,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            inner: Mutex::new(Inner {
                epoch: Instant::now(),
                seen: HashMap::new(),
            }),
        }
    }
}

/// The state of a server last heard from `elapsed` ago.
pub fn state_after(elapsed: Duration, settings: &ClusterSettings) -> ServerState {
    if elapsed < settings.suspect_after {
        ServerState::Up
    } else if elapsed < settings.down_after {
        ServerState::Suspect
    } else {
        ServerState::Down
    }
}

impl Liveness {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forget what an earlier leadership saw and start counting from now.
    pub fn restart_epoch(&self) {
        let mut inner = self.lock();
        inner.epoch = Instant::now();
        inner.seen.clear();
    }

    pub fn record(&self, info: &HeartbeatInfo) {
        self.record_at(Instant::now(), info);
    }

    fn record_at(&self, at: Instant, info: &HeartbeatInfo) {
        self.lock().seen.insert(
            info.node,
            Seen {
                at,
                info: info.clone(),
            },
        );
    }

    /// The liveness state of one server from heartbeats alone (ignoring an administrative
    /// state such as draining).
    pub fn heard_state(&self, node: NodeId, settings: &ClusterSettings) -> ServerState {
        let inner = self.lock();
        let last = inner.seen.get(&node).map_or(inner.epoch, |s| s.at);
        state_after(Instant::now().saturating_duration_since(last), settings)
    }

    /// The registry's servers with liveness state and the latest reported usage.
    /// Draining and removed servers keep their administrative state.
    pub fn merge(
        &self,
        registry: Vec<DataServerInfo>,
        settings: &ClusterSettings,
    ) -> Vec<DataServerInfo> {
        self.merge_at(Instant::now(), registry, settings)
    }

    fn merge_at(
        &self,
        now: Instant,
        registry: Vec<DataServerInfo>,
        settings: &ClusterSettings,
    ) -> Vec<DataServerInfo> {
        let inner = self.lock();
        registry
            .into_iter()
            .map(|mut server| {
                let seen = inner.seen.get(&server.id);
                if let Some(s) = seen {
                    server.capacity = s.info.capacity;
                    server.used = s.info.used;
                    server.chunks = s.info.chunks;
                }
                if !matches!(server.state, ServerState::Draining | ServerState::Removed) {
                    let last = seen.map_or(inner.epoch, |s| s.at);
                    server.state = state_after(now.saturating_duration_since(last), settings);
                }
                server
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(id: u64, state: ServerState) -> DataServerInfo {
        DataServerInfo {
            id: NodeId(id),
            addr: format!("127.0.0.1:{}", 9000 + id),
            zone: String::new(),
            weight: 1,
            capacity: 100,
            used: 0,
            chunks: 0,
            state,
        }
    }

    fn beat(id: u64, used: u64) -> HeartbeatInfo {
        HeartbeatInfo {
            node: NodeId(id),
            addr: String::new(),
            zone: String::new(),
            capacity: 500,
            used,
            chunks: 7,
        }
    }

    #[test]
    fn states_follow_the_time_since_the_last_heartbeat() {
        let settings = ClusterSettings {
            suspect_after: Duration::from_secs(4),
            down_after: Duration::from_secs(60),
            ..ClusterSettings::default()
        };
        let live = Liveness::default();
        let t0 = Instant::now();
        live.record_at(t0, &beat(1, 42));
        let registry = vec![
            registered(1, ServerState::Up),
            registered(2, ServerState::Up),
            registered(3, ServerState::Draining),
        ];

        let now = t0 + Duration::from_secs(1);
        let merged = live.merge_at(now, registry.clone(), &settings);
        assert_eq!(merged[0].state, ServerState::Up);
        assert_eq!(
            (merged[0].capacity, merged[0].used, merged[0].chunks),
            (500, 42, 7)
        );
        assert_eq!(merged[1].capacity, 100, "never heard from: registry values");
        assert_eq!(merged[2].state, ServerState::Draining);

        let merged = live.merge_at(t0 + Duration::from_secs(10), registry.clone(), &settings);
        assert_eq!(merged[0].state, ServerState::Suspect);
        let merged = live.merge_at(t0 + Duration::from_secs(61), registry, &settings);
        assert_eq!(merged[0].state, ServerState::Down);
        assert_eq!(merged[2].state, ServerState::Draining);
    }
}
