use super::fixture::*;
use crate::namespace::{ensure_root, ApplyContext, Overlay};
use ferrofs_proto::attr::{FileKind, Timestamp};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse};

#[test]
fn root_exists_and_ensure_root_is_idempotent() {
    let fs = Fs::new();
    let root = fs.attr(ROOT);
    assert_eq!(
        (root.kind, root.mode, root.uid, root.gid),
        (FileKind::Dir, 0o755, 0, 0)
    );
    assert_eq!(root.nlink, 2);
    let mut overlay = Overlay::new(&fs.store);
    ensure_root(&mut overlay, &ApplyContext { now: Timestamp(99) }).expect("ensure_root");
    assert!(overlay.is_empty(), "a second ensure_root writes nothing");
    assert_eq!(fs.counts().dirs, 1);
    fs.check();
}

#[test]
fn create_sets_attrs_times_and_links_the_entry() {
    let mut fs = Fs::new();
    let a = fs.ok_attr(MetaOp::Create {
        parent: ROOT,
        name: b"f".to_vec(),
        kind: FileKind::File,
        mode: 0o100640,
        uid: 5,
        gid: 6,
        exclusive: true,
    });
    let now = fs.now();
    assert_eq!(
        (a.kind, a.mode, a.uid, a.gid, a.size, a.nlink),
        (FileKind::File, 0o640, 5, 6, 0, 1)
    );
    assert_eq!((a.atime, a.mtime, a.ctime), (now, now, now));
    assert!(a.ino.0 >= 2, "never the root's number");
    assert_eq!(fs.lookup(ROOT, "f").expect("lookup"), a);
    let root = fs.attr(ROOT);
    assert_eq!((root.mtime, root.ctime), (now, now), "parent times follow");
    let b = fs.create(ROOT, "g");
    assert!(b.0 > a.ino.0, "inode numbers increase");
    assert_eq!(fs.counts().files, 2);
    fs.check();
}

#[test]
fn create_on_existing_names() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.mkdir(ROOT, "d");
    assert_eq!(fs.err(create_op(ROOT, "f", true)), FsError::Exists);
    // O_CREAT without O_EXCL opens the existing file and writes nothing.
    let before = fs.store.clone();
    assert_eq!(fs.ok_attr(create_op(ROOT, "f", false)).ino, f);
    assert_eq!(fs.store, before);
    assert_eq!(fs.err(create_op(ROOT, "d", false)), FsError::IsDir);
    let fifo = MetaOp::Create {
        parent: ROOT,
        name: b"f".to_vec(),
        kind: FileKind::Fifo,
        mode: 0o600,
        uid: 0,
        gid: 0,
        exclusive: false,
    };
    assert_eq!(fs.err(fifo), FsError::Exists);
    fs.check();
}

#[test]
fn create_errors() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    assert_eq!(
        fs.err(create_op(InodeId(999), "x", true)),
        FsError::NotFound
    );
    assert_eq!(fs.err(create_op(f, "x", true)), FsError::NotDir);
    assert_eq!(
        fs.err(create_op(ROOT, &"n".repeat(256), true)),
        FsError::NameTooLong
    );
    for bad in ["", ".", "..", "a/b", "a\0b"] {
        assert!(
            matches!(fs.err(create_op(ROOT, bad, true)), FsError::Invalid(_)),
            "{bad:?}"
        );
    }
    let dir_kind = MetaOp::Create {
        parent: ROOT,
        name: b"x".to_vec(),
        kind: FileKind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        exclusive: true,
    };
    assert!(matches!(fs.err(dir_kind), FsError::Invalid(_)));
    assert!(
        fs.create(ROOT, &"n".repeat(255)).0 > 0,
        "255 bytes is allowed"
    );
    fs.check();
}

#[test]
fn fifo_is_a_file_kind() {
    let mut fs = Fs::new();
    let a = fs.ok_attr(MetaOp::Create {
        parent: ROOT,
        name: b"p".to_vec(),
        kind: FileKind::Fifo,
        mode: 0o600,
        uid: 0,
        gid: 0,
        exclusive: true,
    });
    assert_eq!(a.kind, FileKind::Fifo);
    assert_eq!(fs.counts().files, 1);
    fs.check();
}

#[test]
fn mkdir_links() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d");
    let a = fs.attr(d);
    assert_eq!((a.kind, a.nlink, a.mode), (FileKind::Dir, 2, 0o755));
    assert_eq!(fs.attr(ROOT).nlink, 3, "the parent gains '..'");
    let e = fs.mkdir(d, "e");
    assert_eq!(fs.attr(d).nlink, 3);
    assert_eq!(fs.attr(e).nlink, 2);
    let err = fs.err(MetaOp::Mkdir {
        parent: ROOT,
        name: b"d".to_vec(),
        mode: 0,
        uid: 0,
        gid: 0,
    });
    assert_eq!(err, FsError::Exists);
    assert_eq!(fs.counts().dirs, 3);
    fs.check();
}

#[test]
fn symlink_and_readlink() {
    let mut fs = Fs::new();
    let op = |target: &[u8]| MetaOp::Symlink {
        parent: ROOT,
        name: b"l".to_vec(),
        target: target.to_vec(),
        uid: 3,
        gid: 4,
    };
    let a = fs.ok_attr(op(b"../some/where"));
    assert_eq!(
        (a.kind, a.size, a.mode, a.uid),
        (FileKind::Symlink, 13, 0o777, 3)
    );
    assert_eq!(
        fs.query(MetaRequest::ReadLink { ino: a.ino }),
        MetaResponse::Target(b"../some/where".to_vec())
    );
    assert_eq!(fs.err(op(b"x")), FsError::Exists);
    let f = fs.create(ROOT, "f");
    assert!(matches!(
        fs.query(MetaRequest::ReadLink { ino: f }),
        MetaResponse::Error(FsError::Invalid(_))
    ));
    fs.ok(MetaOp::Unlink {
        parent: ROOT,
        name: b"l".to_vec(),
    });
    assert_eq!(fs.err(op(b"")), FsError::NotFound);
    assert_eq!(fs.err(op(&[b'a'; 4097])), FsError::NameTooLong);
    assert_eq!(fs.ok_attr(op(&[b'a'; 4096])).size, 4096);
    fs.check();
}

#[test]
fn hard_links() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let d = fs.mkdir(ROOT, "d");
    let link = |ino, name: &str| MetaOp::Link {
        ino,
        new_parent: d,
        new_name: name.into(),
    };
    let a = fs.ok_attr(link(f, "g"));
    assert_eq!((a.ino, a.nlink, a.ctime), (f, 2, fs.now()));
    assert_eq!(fs.lookup(d, "g").expect("linked").ino, f);
    assert_eq!(fs.attr(d).mtime, fs.now());
    assert_eq!(fs.err(link(f, "g")), FsError::Exists);
    assert_eq!(fs.err(link(d, "dd")), FsError::NotPermitted);
    assert_eq!(fs.err(link(InodeId(777), "x")), FsError::NotFound);
    let to_file = MetaOp::Link {
        ino: f,
        new_parent: f,
        new_name: b"x".to_vec(),
    };
    assert_eq!(fs.err(to_file), FsError::NotDir);
    assert_eq!(fs.counts().files, 1, "a link is not a new file");
    fs.check();
    // Removing one name keeps the inode.
    fs.ok(MetaOp::Unlink {
        parent: ROOT,
        name: b"f".to_vec(),
    });
    let a = fs.attr(f);
    assert_eq!((a.nlink, a.ctime), (1, fs.now()));
    fs.ok(MetaOp::Unlink {
        parent: d,
        name: b"g".to_vec(),
    });
    assert_eq!(fs.getattr(f), Err(FsError::NotFound));
    assert_eq!(fs.counts().files, 0);
    fs.check();
}

#[test]
fn lookup_and_getattr_errors() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    assert_eq!(fs.lookup(ROOT, "nope"), Err(FsError::NotFound));
    assert_eq!(fs.lookup(f, "x"), Err(FsError::NotDir));
    assert_eq!(fs.lookup(InodeId(555), "x"), Err(FsError::NotFound));
    assert_eq!(fs.lookup(ROOT, &"x".repeat(300)), Err(FsError::NameTooLong));
    assert_eq!(fs.getattr(InodeId(555)), Err(FsError::NotFound));
}

#[test]
fn lookup_of_dot_and_dot_dot() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a");
    let b = fs.mkdir(a, "b");
    let f = fs.create(b, "f");
    assert_eq!(fs.lookup(b, ".").expect(".").ino, b);
    assert_eq!(fs.lookup(b, "..").expect("..").ino, a);
    assert_eq!(fs.lookup(ROOT, "..").expect("root's ..").ino, ROOT);
    assert_eq!(fs.lookup(f, ".."), Err(FsError::NotDir));
    // After a move, ".." follows.
    assert_eq!(fs.rename(a, "b", ROOT, "b"), MetaResponse::Done);
    assert_eq!(fs.lookup(b, "..").expect("..").ino, ROOT);
}

#[test]
fn a_set_group_id_directory_passes_its_group_down() {
    use ferrofs_proto::attr::SetAttr;
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "shared");
    fs.ok_attr(MetaOp::SetAttr {
        ino: d,
        attr: SetAttr {
            mode: Some(0o2775),
            gid: Some(50),
            ..SetAttr::default()
        },
    });
    let file = fs.ok_attr(MetaOp::Create {
        parent: d,
        name: b"f".to_vec(),
        kind: FileKind::File,
        mode: 0o644,
        uid: 7,
        gid: 7,
        exclusive: true,
    });
    assert_eq!((file.uid, file.gid, file.mode), (7, 50, 0o644));
    let sub = fs.ok_attr(MetaOp::Mkdir {
        parent: d,
        name: b"sub".to_vec(),
        mode: 0o755,
        uid: 7,
        gid: 7,
    });
    assert_eq!(
        (sub.gid, sub.mode),
        (50, 0o2755),
        "a new directory is set-group-id too"
    );
    let link = fs.ok_attr(MetaOp::Symlink {
        parent: d,
        name: b"l".to_vec(),
        target: b"f".to_vec(),
        uid: 7,
        gid: 7,
    });
    assert_eq!(link.gid, 50);
    let plain = fs.ok_attr(MetaOp::Mkdir {
        parent: ROOT,
        name: b"plain".to_vec(),
        mode: 0o755,
        uid: 7,
        gid: 7,
    });
    assert_eq!(
        (plain.gid, plain.mode),
        (7, 0o755),
        "no set-group-id bit: the caller's group"
    );
}
