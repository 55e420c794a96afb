use super::fixture::*;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse, XattrMode};

fn unlink(parent: InodeId, name: &str) -> MetaOp {
    MetaOp::Unlink {
        parent,
        name: name.into(),
    }
}

fn rmdir(parent: InodeId, name: &str) -> MetaOp {
    MetaOp::Rmdir {
        parent,
        name: name.into(),
    }
}

#[test]
fn unlink_removes_inode_xattrs_and_chunks() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.commit(f, 0, 11, &[1, 2], CHUNK);
    fs.commit(f, 1, 12, &[1], 2 * CHUNK);
    fs.ok(MetaOp::SetXattr {
        ino: f,
        name: b"user.a".to_vec(),
        value: b"v".to_vec(),
        mode: XattrMode::Upsert,
    });
    assert_eq!(fs.counts().chunks, 2);
    assert_eq!(fs.counts().logical_bytes, 200);
    fs.ok(unlink(ROOT, "f"));
    assert_eq!(fs.lookup(ROOT, "f"), Err(FsError::NotFound));
    assert_eq!(fs.getattr(f), Err(FsError::NotFound));
    assert_eq!(fs.attr(ROOT).mtime, fs.now());
    assert_eq!(fs.garbage(), vec![11, 12]);
    let c = fs.counts();
    assert_eq!(
        (c.files, c.chunks, c.under_replicated, c.logical_bytes),
        (0, 0, 0, 0)
    );
    assert_eq!(fs.store.len(crate::namespace::Table::Xattrs), 0);
    assert_eq!(fs.store.len(crate::namespace::Table::Chunks), 0);
    fs.check();
}

#[test]
fn unlink_errors() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d");
    let f = fs.create(ROOT, "f");
    assert_eq!(fs.err(unlink(ROOT, "d")), FsError::IsDir);
    assert_eq!(fs.err(unlink(ROOT, "nope")), FsError::NotFound);
    assert_eq!(fs.err(unlink(f, "x")), FsError::NotDir);
    assert_eq!(fs.err(unlink(InodeId(404), "x")), FsError::NotFound);
    assert!(matches!(fs.err(unlink(ROOT, "..")), FsError::Invalid(_)));
    assert!(fs.getattr(d).is_ok());
    fs.check();
}

#[test]
fn rmdir_rules() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d");
    fs.create(d, "f");
    fs.create(ROOT, "file");
    assert_eq!(fs.err(rmdir(ROOT, "d")), FsError::NotEmpty);
    assert_eq!(fs.err(rmdir(ROOT, "file")), FsError::NotDir);
    assert_eq!(fs.err(rmdir(ROOT, "nope")), FsError::NotFound);
    fs.ok(unlink(d, "f"));
    assert_eq!(fs.attr(ROOT).nlink, 3);
    fs.ok(rmdir(ROOT, "d"));
    assert_eq!(fs.attr(ROOT).nlink, 2);
    assert_eq!(fs.getattr(d), Err(FsError::NotFound));
    assert_eq!(fs.counts().dirs, 1);
    assert_eq!(
        fs.query(MetaRequest::ReadDir {
            ino: d,
            after: None,
            limit: 10
        }),
        MetaResponse::Error(FsError::NotFound)
    );
    fs.check();
}

#[test]
fn shared_chunk_is_garbage_only_when_the_last_reference_goes() {
    let mut fs = Fs::new();
    let a = fs.create(ROOT, "a");
    let b = fs.create(ROOT, "b");
    fs.commit(a, 0, 42, &[1, 2], 10);
    fs.commit(b, 3, 42, &[3], 10);
    assert_eq!(fs.counts().chunks, 1, "one distinct chunk");
    fs.ok(unlink(ROOT, "a"));
    assert!(fs.garbage().is_empty(), "b still references it");
    assert_eq!(fs.chunks(b), vec![(3, 42)]);
    fs.check();
    fs.ok(unlink(ROOT, "b"));
    assert_eq!(fs.garbage(), vec![42]);
    let g = crate::namespace::garbage(&fs.store, None, 10).expect("garbage");
    let servers: Vec<u64> = g[0].1.iter().map(|n| n.0).collect();
    assert_eq!(
        servers,
        vec![1, 2, 3],
        "every server that held it must delete it"
    );
    fs.check();
}
