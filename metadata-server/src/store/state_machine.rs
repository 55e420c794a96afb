//! The RocksDB state machine as openraft sees it: apply, applied state, snapshot
//! build / install / current.
//!
//! Layout under its folder: `CURRENT` names the live database folder (`db-000001`,
//! ...). Installing a snapshot loads it into a fresh folder, syncs it, then switches
//! `CURRENT` with an atomic rename, so a crash leaves either the old or the new state
//! machine, never a mix.

use super::apply::{apply_entry, KEY_ROOT_READY};
use super::codec;
use super::sm_db::{snapshot_cfs, SmDb, SmView, CF_SM_META, KEY_LAST_APPLIED, KEY_LAST_MEMBERSHIP};
use super::snapshot_dir::{sync_dir, SnapshotData, SnapshotDir};
use super::snapshot_file::{self, Item, SnapshotReader, SnapshotWriter};
use super::{io_err, join_err};
use crate::types::{LogId, SnapshotMeta, StoredMembership, TypeConfig};
use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::OptionalSend;
use rocksdb::{WriteBatch, WriteOptions};
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

const CURRENT: &str = "CURRENT";
/// Bulk-load batches while installing a snapshot.
const INSTALL_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The state machine; cheap to clone (shared inner state). openraft drives apply,
/// build and install from one worker; queries read the live database concurrently.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    current: RwLock<Arc<SmDb>>,
    snapshots: SnapshotDir,
}

/// A snapshot as openraft hands it around: its meta and the file.
pub type MetaSnapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;

fn db_name(n: u64) -> String {
    format!("db-{n:06}")
}

fn db_number(name: &str) -> Option<u64> {
    name.strip_prefix("db-").and_then(|n| n.parse().ok())
}

impl StateMachine {
    /// Open the state machine in `dir` and its snapshots in `snapshot_dir`.
    pub fn open(dir: &Path, snapshot_dir: &Path) -> Result<StateMachine, io::Error> {
        std::fs::create_dir_all(dir)?;
        let current = match std::fs::read_to_string(dir.join(CURRENT)) {
            Ok(name) => name.trim().to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let name = db_name(1);
                write_current(dir, &name)?;
                name
            }
            Err(e) => return Err(e),
        };
        if db_number(&current).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} names no database: {current:?}",
                    dir.join(CURRENT).display()
                ),
            ));
        }
        remove_stale_dbs(dir, &current)?;
        let db = SmDb::open(&dir.join(&current))?;
        Ok(StateMachine {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                current: RwLock::new(Arc::new(db)),
                snapshots: SnapshotDir::open(snapshot_dir)?,
            }),
        })
    }

    /// The live database (for queries).
    pub fn db(&self) -> Arc<SmDb> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn snapshots(&self) -> &SnapshotDir {
        &self.inner.snapshots
    }

    /// Run `f` on a consistent point-in-time view, off the async threads.
    pub async fn read<T, F>(&self, f: F) -> Result<T, io::Error>
    where
        F: FnOnce(&SmView<'_>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let db = self.db();
        tokio::task::spawn_blocking(move || f(&SmView::snapshot(&db)))
            .await
            .map_err(join_err)
    }

    /// Whether the root directory has been created by a committed command.
    pub async fn root_ready(&self) -> Result<bool, io::Error> {
        self.read(|v| v.get_cf(CF_SM_META, KEY_ROOT_READY).map(|r| r.is_some()))
            .await?
    }

    fn swap(&self, db: SmDb) -> Arc<SmDb> {
        let mut cur = self
            .inner
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *cur, Arc::new(db))
    }
}

fn write_current(dir: &Path, name: &str) -> Result<(), io::Error> {
    let tmp = dir.join("CURRENT.tmp");
    std::fs::write(&tmp, name)?;
    File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(CURRENT))?;
    sync_dir(dir)
}

/// Remove database folders other than the current one (an interrupted install, or a
/// retired database whose removal did not finish).
fn remove_stale_dbs(dir: &Path, current: &str) -> Result<(), io::Error> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name != current && db_number(&name).is_some() {
            tracing::info!(dir = %entry.path().display(), "removing a stale state machine folder");
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// Close a replaced database once no query uses it, then delete its folder.
fn retire(old: Arc<SmDb>) {
    std::thread::spawn(move || {
        let mut old = old;
        for _ in 0..600 {
            match Arc::try_unwrap(old) {
                Ok(db) => {
                    let dir = db.dir().to_path_buf();
                    drop(db);
                    if let Err(e) = std::fs::remove_dir_all(&dir) {
                        tracing::warn!(dir = %dir.display(), error = %e, "removing a replaced state machine");
                    }
                    return;
                }
                Err(still_used) => {
                    old = still_used;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        tracing::warn!("a replaced state machine is still in use; it is removed at the next start");
    });
}

fn read_applied(view: &SmView<'_>) -> Result<(Option<LogId>, StoredMembership), io::Error> {
    let applied: Option<LogId> = match view.get_cf(CF_SM_META, KEY_LAST_APPLIED)? {
        Some(b) => Some(codec::decode(&b, "last applied log id")?),
        None => None,
    };
    let membership = match view.get_cf(CF_SM_META, KEY_LAST_MEMBERSHIP)? {
        Some(b) => codec::decode(&b, "last membership")?,
        None => StoredMembership::default(),
    };
    Ok((applied, membership))
}

/// Stream every snapshot column family of a point-in-time view into a file.
fn build(sm: &SmDb, snapshots: &SnapshotDir) -> Result<MetaSnapshot, io::Error> {
    // Applying does not fsync; openraft purges the log up to this snapshot, so what it
    // covers must be durable in the state machine too.
    sm.sync()?;
    let view = SmView::snapshot(sm);
    let (last_log_id, last_membership) = read_applied(&view)?;
    let meta = SnapshotMeta {
        last_log_id,
        last_membership,
    };
    let tmp = snapshots.temp_path("build");
    let written = (|| {
        let mut w = SnapshotWriter::new(File::create(&tmp)?, &meta)?;
        for cf in snapshot_cfs() {
            w.section(cf)?;
            view.for_each(cf, |k, v| w.record(k, v))?;
        }
        w.finish()?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let path = snapshots.publish(&tmp, &meta)?;
    tracing::info!(last = ?meta.last_log_id.as_ref().map(|l| l.index), path = %path.display(), "built a snapshot");
    Ok(Snapshot {
        meta,
        snapshot: SnapshotData::open(&path)?,
    })
}

/// Load a snapshot file into a new database folder; returns the synced database.
fn load(dir: &Path, meta: &SnapshotMeta, file: &mut File) -> Result<SmDb, io::Error> {
    file.seek(SeekFrom::Start(0))?;
    let (mut reader, file_meta) = SnapshotReader::open(&mut *file)?;
    if file_meta.last_log_id != meta.last_log_id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "snapshot file covers {:?} but was offered as {:?}",
                file_meta.last_log_id, meta.last_log_id
            ),
        ));
    }
    let sm = SmDb::open(dir)?;
    let mut no_wal = WriteOptions::default();
    no_wal.disable_wal(true);
    let known = snapshot_cfs();
    let mut cf_name: Option<&'static str> = None;
    let mut batch = WriteBatch::default();
    while let Some(item) = reader.next_item()? {
        match item {
            Item::Section(name) => {
                cf_name = Some(known.iter().copied().find(|k| *k == name).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("snapshot has unknown section {name}"),
                    )
                })?);
            }
            Item::Record(k, v) => {
                let cf = cf_name.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "snapshot record before any section",
                    )
                })?;
                batch.put_cf(sm.cf(cf)?, k, v);
                if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
                    sm.db()
                        .write_opt(std::mem::take(&mut batch), &no_wal)
                        .map_err(io_err)?;
                }
            }
        }
    }
    let meta_cf = sm.cf(CF_SM_META)?;
    if let Some(id) = &meta.last_log_id {
        batch.put_cf(meta_cf, KEY_LAST_APPLIED, codec::encode(id)?);
    }
    batch.put_cf(
        meta_cf,
        KEY_LAST_MEMBERSHIP,
        codec::encode(&meta.last_membership)?,
    );
    sm.db().write_opt(batch, &no_wal).map_err(io_err)?;
    sm.flush_all()?;
    Ok(sm)
}

impl StateMachine {
    fn install_blocking(&self, meta: &SnapshotMeta, data: SnapshotData) -> Result<(), io::Error> {
        let dir = &self.inner.dir;
        let current = std::fs::read_to_string(dir.join(CURRENT))?;
        let next = db_name(db_number(current.trim()).unwrap_or(0) + 1);
        let next_dir = dir.join(&next);
        if next_dir.exists() {
            std::fs::remove_dir_all(&next_dir)?;
        }
        let source = data.path().to_path_buf();
        let mut file = data.into_file();
        let sm = match load(&next_dir, meta, &mut file) {
            Ok(sm) => sm,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&next_dir);
                return Err(e);
            }
        };
        write_current(dir, &next)?;
        retire(self.swap(sm));
        self.keep_snapshot_file(meta, &source, &mut file)?;
        tracing::info!(last = ?meta.last_log_id.as_ref().map(|l| l.index), "installed a snapshot");
        Ok(())
    }

    /// Keep the installed file as this node's current snapshot: rename it when it is
    /// one of our temp files, copy it otherwise.
    fn keep_snapshot_file(
        &self,
        meta: &SnapshotMeta,
        source: &Path,
        file: &mut File,
    ) -> Result<(), io::Error> {
        let snaps = &self.inner.snapshots;
        let ours = source.parent() == Some(snaps.path())
            && source.extension().is_some_and(|e| e == "tmp")
            && source.exists();
        let tmp = if ours {
            source.to_path_buf()
        } else {
            let tmp = snaps.temp_path("install");
            file.seek(SeekFrom::Start(0))?;
            io::copy(file, &mut File::create(&tmp)?)?;
            tmp
        };
        snaps.publish(&tmp, meta)?;
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<MetaSnapshot, io::Error> {
        let db = self.db();
        let snapshots = self.inner.snapshots.clone();
        tokio::task::spawn_blocking(move || build(&db, &snapshots))
            .await
            .map_err(join_err)?
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        self.read(read_applied).await?
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut batch = Vec::new();
        let mut responders = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            batch.push(entry);
            responders.push(responder);
        }
        let db = self.db();
        let responses = tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(batch.len());
            for entry in &batch {
                out.push(apply_entry(&db, entry)?);
            }
            // No fsync here: the log is synced on a majority before an entry is applied, and
            // after a crash openraft re-applies from the durable log. A snapshot syncs the
            // state machine first (`build`), so the log is never purged past what is durable.
            Ok::<_, io::Error>(out)
        })
        .await
        .map_err(join_err)??;
        for (responder, response) in responders.into_iter().zip(responses) {
            if let Some(r) = responder {
                r.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let this = self.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || this.install_blocking(&meta, snapshot))
            .await
            .map_err(join_err)?
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<MetaSnapshot>, io::Error> {
        let snapshots = self.inner.snapshots.clone();
        tokio::task::spawn_blocking(move || {
            let Some(path) = snapshots.latest()? else {
                return Ok(None);
            };
            let data = SnapshotData::open(&path)?;
            let meta = snapshot_file::read_meta(File::open(&path)?)?;
            Ok(Some(Snapshot {
                meta,
                snapshot: data,
            }))
        })
        .await
        .map_err(join_err)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::{self, ApplyContext};
    use crate::types::{Entry, LogCommand, MetaCommand};
    use ferrofs_proto::attr::Timestamp;
    use ferrofs_proto::config::ClusterSettings;
    use ferrofs_proto::meta_msg::{MetaOp, MetaRequest};
    use ferrofs_proto::{ClientId, InodeId, RequestId};
    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;

    fn ctx() -> ApplyContext {
        ApplyContext {
            now: Timestamp(1_000),
        }
    }

    fn mkdir(index: u64, seq: u64, name: &str) -> Entry {
        let op = MetaOp::Mkdir {
            parent: InodeId::ROOT,
            name: name.into(),
            mode: 0o755,
            uid: 0,
            gid: 0,
        };
        let id = Some(RequestId {
            client: ClientId(7),
            seq,
        });
        Entry::new_normal(
            log_id::<TypeConfig>(1, 1, index),
            LogCommand::Meta(MetaCommand {
                request_id: id,
                ctx: ctx(),
                op,
            }),
        )
    }

    async fn apply(sm: &mut StateMachine, entries: Vec<Entry>) {
        let items: Vec<Result<EntryResponder<TypeConfig>, io::Error>> =
            entries.into_iter().map(|e| Ok((e, None))).collect();
        sm.apply(futures::stream::iter(items)).await.expect("apply");
    }

    async fn lookup(sm: &StateMachine, name: &str) -> MetaResponse {
        let req = MetaRequest::Lookup {
            parent: InodeId::ROOT,
            name: name.into(),
        };
        sm.read(move |v| namespace::query(v, &ClusterSettings::default(), &req))
            .await
            .expect("read")
            .expect("query")
    }

    use ferrofs_proto::meta_msg::MetaResponse;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_moves_the_whole_state_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, mut a) = crate::store::open(&dir.path().join("a")).expect("open a");
        let init = LogCommand::Init {
            ctx: ctx(),
            settings: ClusterSettings::default(),
        };
        apply(
            &mut a,
            vec![
                Entry::new_normal(log_id::<TypeConfig>(1, 1, 1), init),
                mkdir(2, 1, "x"),
                mkdir(3, 1, "x"), // a retry: answered from the dedup record
                mkdir(4, 2, "y"),
            ],
        )
        .await;
        assert!(matches!(lookup(&a, "x").await, MetaResponse::Attr(_)));
        let snap = a
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build");
        assert_eq!(snap.meta.last_log_id.map(|l| l.index), Some(4));

        let b_dir = dir.path().join("b");
        let (_, mut b) = crate::store::open(&b_dir).expect("open b");
        apply(&mut b, vec![mkdir(1, 9, "stale")]).await;
        let meta = snap.meta.clone();
        b.install_snapshot(&meta, snap.snapshot)
            .await
            .expect("install");
        assert!(matches!(lookup(&b, "y").await, MetaResponse::Attr(_)));
        assert!(
            matches!(lookup(&b, "stale").await, MetaResponse::Error(_)),
            "old contents replaced"
        );
        drop(b);

        let (_, mut b) = crate::store::open(&b_dir).expect("reopen b");
        let (applied, _) = b.applied_state().await.expect("applied");
        assert_eq!(applied.map(|l| l.index), Some(4));
        assert!(matches!(lookup(&b, "x").await, MetaResponse::Attr(_)));
        let current = b
            .get_current_snapshot()
            .await
            .expect("current")
            .expect("some");
        assert_eq!(current.meta, meta);
        // The dedup records came along: the retried request is still answered, not redone.
        let retried = apply_entry(&b.db(), &mkdir(5, 2, "y")).expect("apply");
        assert!(
            matches!(retried, MetaResponse::Added { .. }),
            "deduplicated, not Exists: {retried:?}"
        );
        let fresh = apply_entry(&b.db(), &mkdir(6, 3, "y")).expect("apply");
        assert!(
            matches!(fresh, MetaResponse::Error(_)),
            "a new request is applied: {fresh:?}"
        );
        let dbs = std::fs::read_dir(b_dir.join("sm")).expect("list").count();
        assert_eq!(dbs, 2, "CURRENT and one database folder remain");
    }
}
