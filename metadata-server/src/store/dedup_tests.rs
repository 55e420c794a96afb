//! Dedup records of idle clients expire (`dedup::stale_clients`, `ExpireDedup`), and
//! those of clients seen since stay: applied to a real state-machine database.

use super::apply::apply_entry;
use super::dedup::{key_for_tests, stale_clients};
use super::sm_db::{SmDb, SmView, CF_DEDUP};
use crate::namespace::ApplyContext;
use crate::types::{Entry, LogCommand, MetaCommand, TypeConfig};
use ferrofs_proto::attr::Timestamp;
use ferrofs_proto::config::ClusterSettings;
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse};
use ferrofs_proto::{ClientId, FsError, InodeId, RequestId};
use openraft::entry::RaftEntry;
use openraft::testing::log_id;

struct Db {
    sm: SmDb,
    index: u64,
    _dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let sm = SmDb::open(dir.path()).expect("open");
        let mut db = Db {
            sm,
            index: 0,
            _dir: dir,
        };
        db.apply(LogCommand::Init {
            ctx: ApplyContext {
                now: Timestamp(1_000),
            },
            settings: ClusterSettings::default(),
        });
        db
    }

    fn apply(&mut self, cmd: LogCommand) -> MetaResponse {
        self.index += 1;
        let entry = Entry::new_normal(log_id::<TypeConfig>(1, 1, self.index), cmd);
        apply_entry(&self.sm, &entry).expect("apply")
    }

    /// `mkdir /name` as request `seq` of `client`, applied at time `at`.
    fn mkdir(&mut self, client: u64, seq: u64, name: &str, at: i128) -> MetaResponse {
        self.apply(LogCommand::Meta(MetaCommand {
            request_id: Some(RequestId {
                client: ClientId(client),
                seq,
            }),
            ctx: ApplyContext { now: Timestamp(at) },
            op: MetaOp::Mkdir {
                parent: InodeId::ROOT,
                name: name.into(),
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        }))
    }

    fn stale(&self, before: i128, max: usize) -> (Vec<u64>, Option<u64>) {
        let view = SmView::live(&self.sm);
        let (clients, next) =
            stale_clients(&view, ClientId(0), Timestamp(before), max).expect("scan");
        (
            clients.into_iter().map(|c| c.0).collect(),
            next.map(|c| c.0),
        )
    }

    fn expire(&mut self, clients: &[u64], before: i128, now: i128) {
        let cmd = LogCommand::ExpireDedup {
            clients: clients.iter().copied().map(ClientId).collect(),
            before: Timestamp(before),
            now: Timestamp(now),
        };
        assert_eq!(self.apply(cmd), MetaResponse::Done);
    }
}

#[test]
fn records_of_clients_idle_past_the_cutoff_go_and_the_others_stay() {
    let mut db = Db::new();
    let first_a = db.mkdir(1, 1, "a", 1_000);
    let first_b = db.mkdir(2, 1, "b", 5_000);
    assert!(matches!(first_a, MetaResponse::Added { .. }), "{first_a:?}");
    assert_eq!(db.stale(3_000, 10), (vec![1], None));

    // The leader listed both; only client 1 is past the cutoff when applied.
    db.expire(&[1, 2], 3_000, 6_000);
    assert_eq!(db.stale(3_000, 10), (vec![], None));
    // Client 2's retry is still answered from its record; client 1's is applied
    // anew (and so finds its own directory).
    assert_eq!(db.mkdir(2, 1, "b", 6_100), first_b);
    assert_eq!(
        db.mkdir(1, 1, "a", 6_200),
        MetaResponse::Error(FsError::Exists)
    );
}

#[test]
fn a_client_without_a_last_seen_time_starts_its_clock_at_the_sweep() {
    let mut db = Db::new();
    db.mkdir(2, 1, "b", 5_000);
    // A record written before last-seen times existed.
    let cf = db.sm.cf(CF_DEDUP).expect("cf");
    db.sm
        .db()
        .put_cf(cf, key_for_tests(ClientId(3), 1), b"old")
        .expect("put");
    assert_eq!(db.stale(3_000, 10), (vec![3], None));
    db.expire(&[3], 3_000, 6_000);
    assert_eq!(db.stale(3_000, 10), (vec![], None), "kept, clock started");
    assert_eq!(db.stale(7_000, 10), (vec![2, 3], None));
    db.expire(&[2, 3], 7_000, 8_000);
    assert_eq!(db.stale(u64::MAX as i128, 10), (vec![], None), "all gone");
}

#[test]
fn stale_clients_come_a_page_at_a_time() {
    let mut db = Db::new();
    for client in 1..=5 {
        db.mkdir(client, 1, &format!("d{client}"), 1_000);
    }
    db.mkdir(3, 2, "again", 9_000);
    assert_eq!(db.stale(5_000, 2), (vec![1, 2], Some(3)));
    let view = SmView::live(&db.sm);
    let (rest, next) = stale_clients(&view, ClientId(3), Timestamp(5_000), 2).expect("scan");
    assert_eq!(rest, vec![ClientId(4), ClientId(5)]);
    assert_eq!(next, Some(ClientId(6)));
    let (none, next) = stale_clients(&view, ClientId(6), Timestamp(5_000), 2).expect("scan");
    assert!(none.is_empty() && next.is_none());
}
