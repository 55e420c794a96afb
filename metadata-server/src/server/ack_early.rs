//! Test only: a deliberately broken leader (`ferrofs-meta --test-ack-before-commit`).
//!
//! It answers a mutation at once from a dry run on its own applied state and proposes it
//! to the quorum only `DELAY` later, so answered writes are invisible to reads for a while
//! and are lost if the leader dies in between. The history checker of the cluster tests
//! must find such a server's histories not linearizable; never enable it otherwise.

use super::MetaService;
use crate::namespace::{self, Overlay};
use crate::types::{LogCommand, MetaCommand};
use ferrofs_proto::meta_msg::MetaResponse;
use ferrofs_proto::FsError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long an acknowledged mutation waits before it is proposed.
const DELAY: Duration = Duration::from_secs(2);

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turn the broken mode on for this process (set once at start-up by the binary).
pub fn enable() {
    tracing::warn!("--test-ack-before-commit: acknowledging writes BEFORE they commit (test only)");
    ENABLED.store(true, Ordering::Release);
}

pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

impl MetaService {
    /// Answer `cmd` from a dry run and propose it `DELAY` later, whatever happens then.
    pub(crate) async fn ack_before_commit(&self, cmd: MetaCommand) -> MetaResponse {
        if let Err(fwd) = self.raft.as_leader() {
            return MetaResponse::Error(self.not_leader(&fwd));
        }
        let dry = {
            let cmd = cmd.clone();
            self.sm
                .read(move |view| {
                    let mut overlay = Overlay::new(view);
                    namespace::apply(&mut overlay, &cmd.ctx, &cmd.op)
                })
                .await
        };
        let raft = self.raft.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DELAY).await;
            if let Err(e) = raft.client_write(LogCommand::Meta(cmd)).await {
                tracing::warn!(error = %e, "late proposal of an acknowledged write failed");
            }
        });
        match dry {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => MetaResponse::Error(FsError::Internal(e.to_string())),
            Err(e) => MetaResponse::Error(FsError::Internal(e.to_string())),
        }
    }
}
