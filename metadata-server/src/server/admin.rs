//! Checks of administrative mutations that need the leader's in-memory liveness, made
//! before proposing (apply cannot see liveness: it must be deterministic).

use super::MetaService;
use ferrofs_proto::meta_msg::{MetaOp, ServerState};
use ferrofs_proto::FsError;

impl MetaService {
    /// `RemoveDataServer { force: true }` only for a server that is down past the grace
    /// period (no heartbeat for `down_after`). Every other op passes.
    pub(crate) async fn check_admin(&self, op: &MetaOp) -> Result<(), FsError> {
        let MetaOp::RemoveDataServer { node, force: true } = op else {
            return Ok(());
        };
        self.linearize().await?;
        let servers = self.data_servers().await?;
        let Some(server) = servers.iter().find(|s| s.id == *node) else {
            return Err(FsError::Invalid(format!(
                "data server {node} is not registered"
            )));
        };
        if server.state == ServerState::Removed {
            return Ok(());
        }
        match self.liveness.heard_state(*node, &self.settings) {
            ServerState::Down => Ok(()),
            other => Err(FsError::Invalid(format!(
                "data server {node} is {}, not down: --force removes only a server that has \
                 sent no heartbeat for the grace period ({}s); drain it instead with \
                 `ferrofs node drain {}` and remove it once drained",
                format!("{other:?}").to_lowercase(),
                self.settings.down_after.as_secs(),
                node.0
            ))),
        }
    }
}
