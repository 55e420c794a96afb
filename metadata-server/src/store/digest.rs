//! A digest of the state machine's contents (every namespace table and the dedup records),
//! with the log index it reflects, so voters that applied the same log can be checked to
//! hold the same state (`GET /api/digest`; the docker partition test compares them).

use super::codec;
use super::sm_db::{snapshot_cfs, SmView, CF_SM_META, KEY_LAST_APPLIED};
use crate::types::LogId;
use serde::Serialize;
use std::io;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SmDigest {
    /// Index of the last applied log entry (None before the first).
    pub applied_index: Option<u64>,
    /// blake3 over every column family's name and (key, value) pairs in key order.
    pub digest: String,
}

/// Digest a point-in-time view (use a snapshot view so the index matches the contents).
pub fn digest(view: &SmView<'_>) -> Result<SmDigest, io::Error> {
    let applied: Option<LogId> = match view.get_cf(CF_SM_META, KEY_LAST_APPLIED)? {
        Some(b) => Some(codec::decode(&b, "last applied log id")?),
        None => None,
    };
    let mut h = blake3::Hasher::new();
    for cf in snapshot_cfs() {
        h.update(&(cf.len() as u64).to_le_bytes());
        h.update(cf.as_bytes());
        view.for_each(cf, |k, v| {
            h.update(&(k.len() as u64).to_le_bytes());
            h.update(k);
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v);
            Ok(())
        })?;
    }
    Ok(SmDigest {
        applied_index: applied.map(|id| id.index),
        digest: h.finalize().to_hex().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SmDb;

    fn db_with(pairs: &[(&[u8], &[u8])]) -> (tempfile::TempDir, SmDb) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SmDb::open(dir.path()).expect("open");
        let cf = db.cf(snapshot_cfs()[0]).expect("cf");
        for (k, v) in pairs {
            db.db().put_cf(cf, k, v).expect("put");
        }
        (dir, db)
    }

    #[test]
    fn same_contents_same_digest_and_any_change_shows() {
        let (_a, a) = db_with(&[(b"k1", b"v1"), (b"k2", b"v2")]);
        let (_b, b) = db_with(&[(b"k2", b"v2"), (b"k1", b"v1")]);
        let (_c, c) = db_with(&[(b"k1", b"v1"), (b"k2", b"v3")]);
        let (_d, d) = db_with(&[(b"k1", b"v1k2"), (b"", b"v2")]);
        let da = digest(&SmView::snapshot(&a)).expect("digest");
        assert_eq!(da, digest(&SmView::snapshot(&b)).expect("digest"));
        assert_eq!(da.applied_index, None);
        assert_ne!(
            da.digest,
            digest(&SmView::snapshot(&c)).expect("digest").digest
        );
        assert_ne!(
            da.digest,
            digest(&SmView::snapshot(&d)).expect("digest").digest
        );
    }
}
