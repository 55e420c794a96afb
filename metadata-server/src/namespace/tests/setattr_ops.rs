use super::fixture::*;
use ferrofs_proto::attr::{SetAttr, TimeChange, Timestamp};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse};

fn set(ino: InodeId, attr: SetAttr) -> MetaOp {
    MetaOp::SetAttr { ino, attr }
}

#[test]
fn mode_owner_and_times() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let a = fs.ok_attr(set(
        f,
        SetAttr {
            mode: Some(0o104755),
            uid: Some(10),
            gid: Some(20),
            atime: Some(TimeChange::Set(Timestamp(5))),
            mtime: Some(TimeChange::Now),
            ..SetAttr::default()
        },
    ));
    let now = fs.now();
    assert_eq!((a.mode, a.uid, a.gid), (0o4755, 10, 20));
    assert_eq!((a.atime, a.mtime, a.ctime), (Timestamp(5), now, now));
    assert_eq!(fs.attr(f), a, "stored");
    fs.check();
}

#[test]
fn empty_setattr_changes_nothing() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let before = fs.store.clone();
    let a = fs.ok_attr(set(f, SetAttr::default()));
    assert_eq!(a, fs.attr(f));
    assert_eq!(fs.store, before);
}

#[test]
fn truncate_drops_whole_chunks_to_garbage() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    for i in 0..4u64 {
        fs.commit(f, i, 100 + u128::from(i), &[1, 2], (i + 1) * CHUNK);
    }
    assert_eq!(fs.counts().logical_bytes, 400);
    // 150 bytes: chunk 0 stays, chunk 1 is cut in the middle and stays, 2 and 3 go.
    let a = fs.ok_attr(set(
        f,
        SetAttr {
            size: Some(150),
            ..SetAttr::default()
        },
    ));
    assert_eq!((a.size, a.mtime, a.ctime), (150, fs.now(), fs.now()));
    assert_eq!(fs.chunks(f), vec![(0, 100), (1, 101)]);
    assert_eq!(fs.garbage(), vec![102, 103]);
    let c = fs.counts();
    assert_eq!((c.chunks, c.logical_bytes), (2, 150));
    fs.check();
    // Exactly on a chunk boundary: chunk 1 starts at 100 and goes.
    fs.ok_attr(set(
        f,
        SetAttr {
            size: Some(100),
            ..SetAttr::default()
        },
    ));
    assert_eq!(fs.chunks(f), vec![(0, 100)]);
    // Extending leaves a hole and drops nothing.
    fs.ok_attr(set(
        f,
        SetAttr {
            size: Some(1000),
            ..SetAttr::default()
        },
    ));
    assert_eq!(fs.chunks(f), vec![(0, 100)]);
    assert_eq!(fs.counts().logical_bytes, 1000);
    fs.ok_attr(set(
        f,
        SetAttr {
            size: Some(0),
            ..SetAttr::default()
        },
    ));
    assert!(fs.chunks(f).is_empty());
    assert_eq!(fs.garbage(), vec![100, 101, 102, 103]);
    fs.check();
}

#[test]
fn size_only_for_regular_files() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d");
    let l = fs
        .ok_attr(MetaOp::Symlink {
            parent: ROOT,
            name: b"l".to_vec(),
            target: b"t".to_vec(),
            uid: 0,
            gid: 0,
        })
        .ino;
    let size = SetAttr {
        size: Some(0),
        ..SetAttr::default()
    };
    assert_eq!(fs.err(set(d, size.clone())), FsError::IsDir);
    assert!(matches!(fs.err(set(l, size.clone())), FsError::Invalid(_)));
    assert_eq!(fs.err(set(InodeId(321), size)), FsError::NotFound);
    // Mode changes on a directory are fine.
    let a = fs.ok_attr(set(
        d,
        SetAttr {
            mode: Some(0o700),
            ..SetAttr::default()
        },
    ));
    assert_eq!(a.mode, 0o700);
    assert!(matches!(
        fs.apply(set(d, SetAttr::default())),
        MetaResponse::Attr(_)
    ));
    fs.check();
}
