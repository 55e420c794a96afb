//! The leader's sweep of idle clients' dedup records (`store::dedup`), run by
//! `housekeeping`: it lists the clients not seen for `RETENTION` and proposes
//! `ExpireDedup` for them, a page at a time. Without it every process that ever wrote
//! (each CLI run is one) left up to `WINDOW` records behind for good.

use super::MetaService;
use crate::store::stale_clients;
use crate::types::LogCommand;
use ferrofs_proto::{ClientId, FsError};
use std::time::Duration;

/// How long a client's records outlive its last mutation. Retries come within a
/// client's failover timeout, seconds; a day leaves room for a paused process.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Clients per `ExpireDedup` command.
const PAGE: usize = 1000;

/// One pass over every client: the number of clients listed as stale.
pub async fn sweep(service: &MetaService, retention: Duration) -> Result<usize, FsError> {
    let (now, before) = super::housekeeping::cutoff(retention);
    let mut first = ClientId(0);
    let mut total = 0;
    loop {
        let page = service
            .read_local("dedup records", move |v| {
                stale_clients(v, first, before, PAGE)
            })
            .await?;
        let (clients, next) = page;
        if !clients.is_empty() {
            total += clients.len();
            let cmd = LogCommand::ExpireDedup {
                clients,
                before,
                now,
            };
            service.propose(cmd).await?;
        }
        match next {
            Some(n) => first = n,
            None => return Ok(total),
        }
    }
}
