//! The leader's expiry of old orphan marks (`namespace::orphans`), run by
//! `housekeeping`: it lists the marks older than `RETENTION` and proposes
//! `ExpireOrphanMarks` for them, a page at a time.

use super::MetaService;
use crate::namespace::old_orphan_marks;
use crate::types::LogCommand;
use ferrofs_proto::meta_msg::{MetaResponse, MAX_ORPHAN_BATCH};
use ferrofs_proto::FsError;
use std::time::Duration;

/// How long a mark outlives its report. Only a writer that stalled between its upload
/// and its commit for the data servers' orphan grace plus this long could still commit
/// the chunk: a week, where commits follow uploads within seconds.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// One pass over every mark: the number listed as old.
pub async fn sweep(service: &MetaService, retention: Duration) -> Result<usize, FsError> {
    let (now, before) = super::housekeeping::cutoff(retention);
    let mut after = None;
    let mut total = 0;
    loop {
        let (chunks, next) = service
            .read_local("orphan marks", move |v| {
                old_orphan_marks(v, after, before, MAX_ORPHAN_BATCH)
            })
            .await?;
        if !chunks.is_empty() {
            total += chunks.len();
            let cmd = LogCommand::ExpireOrphanMarks {
                chunks,
                before,
                now,
            };
            if let MetaResponse::Error(e) = service.propose(cmd).await? {
                return Err(e);
            }
        }
        match next {
            Some(n) => after = Some(n),
            None => return Ok(total),
        }
    }
}
