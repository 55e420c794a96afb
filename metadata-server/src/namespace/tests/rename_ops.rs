use super::fixture::*;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::{MetaOp, MetaResponse, RenameFlags};

const NOREPLACE: RenameFlags = RenameFlags {
    noreplace: true,
    exchange: false,
};
const EXCHANGE: RenameFlags = RenameFlags {
    noreplace: false,
    exchange: true,
};

fn is_invalid(r: MetaResponse) -> bool {
    matches!(r, MetaResponse::Error(FsError::Invalid(_)))
}

#[test]
fn rename_in_one_directory() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "a");
    assert_eq!(fs.rename(ROOT, "a", ROOT, "b"), MetaResponse::Done);
    assert_eq!(fs.lookup(ROOT, "a"), Err(FsError::NotFound));
    let b = fs.lookup(ROOT, "b").expect("moved");
    assert_eq!((b.ino, b.ctime), (f, fs.now()));
    let root = fs.attr(ROOT);
    assert_eq!(
        (root.mtime, root.ctime, root.nlink),
        (fs.now(), fs.now(), 2)
    );
    fs.check();
}

#[test]
fn moving_a_directory_fixes_link_counts_and_times() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a");
    let b = fs.mkdir(ROOT, "b");
    let c = fs.mkdir(a, "c");
    assert_eq!(fs.rename(a, "c", b, "c2"), MetaResponse::Done);
    assert_eq!(fs.attr(a).nlink, 2);
    assert_eq!(fs.attr(b).nlink, 3);
    for dir in [a, b] {
        let t = fs.attr(dir);
        assert_eq!(
            (t.mtime, t.ctime),
            (fs.now(), fs.now()),
            "both parents touched"
        );
    }
    assert_eq!(fs.attr(c).ctime, fs.now());
    assert_eq!(fs.names(b), vec!["c2"]);
    fs.check();
}

#[test]
fn ancestor_check() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a");
    let b = fs.mkdir(a, "b");
    let c = fs.mkdir(b, "c");
    assert!(is_invalid(fs.rename(ROOT, "a", a, "x")), "into itself");
    assert!(
        is_invalid(fs.rename(ROOT, "a", c, "x")),
        "into a descendant"
    );
    assert!(is_invalid(fs.rename(a, "b", c, "x")));
    // After b moves out of a, a may move under b (the check follows the moved parent).
    assert_eq!(fs.rename(a, "b", ROOT, "b"), MetaResponse::Done);
    assert_eq!(fs.rename(ROOT, "a", c, "a"), MetaResponse::Done);
    assert!(
        is_invalid(fs.rename(ROOT, "b", a, "b")),
        "b is now an ancestor of a"
    );
    // A file may go anywhere.
    fs.create(ROOT, "f");
    assert_eq!(fs.rename(ROOT, "f", a, "f"), MetaResponse::Done);
    fs.check();
}

#[test]
fn replacing_a_file_drops_the_old_one() {
    let mut fs = Fs::new();
    let src = fs.create(ROOT, "src");
    let old = fs.create(ROOT, "dst");
    fs.commit(old, 0, 5, &[1, 2], 50);
    assert_eq!(fs.rename(ROOT, "src", ROOT, "dst"), MetaResponse::Done);
    assert_eq!(fs.lookup(ROOT, "dst").expect("dst").ino, src);
    assert_eq!(fs.getattr(old), Err(FsError::NotFound));
    assert_eq!(fs.garbage(), vec![5]);
    assert_eq!(fs.counts().files, 1);
    fs.check();
}

#[test]
fn replacing_a_hard_linked_file_keeps_its_other_name() {
    let mut fs = Fs::new();
    fs.create(ROOT, "src");
    let old = fs.create(ROOT, "dst");
    fs.ok_attr(MetaOp::Link {
        ino: old,
        new_parent: ROOT,
        new_name: b"other".to_vec(),
    });
    assert_eq!(fs.rename(ROOT, "src", ROOT, "dst"), MetaResponse::Done);
    let o = fs.attr(old);
    assert_eq!((o.nlink, o.ctime), (1, fs.now()));
    fs.check();
}

#[test]
fn replacing_an_empty_directory() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a");
    let d = fs.mkdir(ROOT, "d");
    let e = fs.mkdir(d, "e");
    assert_eq!(fs.attr(ROOT).nlink, 4);
    assert_eq!(fs.rename(ROOT, "a", d, "e"), MetaResponse::Done);
    assert_eq!(fs.getattr(e), Err(FsError::NotFound));
    assert_eq!(fs.lookup(d, "e").expect("moved").ino, a);
    assert_eq!(fs.attr(ROOT).nlink, 3, "root lost a");
    assert_eq!(fs.attr(d).nlink, 3, "d lost e and gained a");
    assert_eq!(fs.counts().dirs, 3);
    fs.check();
}

#[test]
fn kind_mismatches_and_non_empty_targets() {
    let mut fs = Fs::new();
    fs.mkdir(ROOT, "d");
    let full = fs.mkdir(ROOT, "full");
    fs.create(full, "x");
    fs.create(ROOT, "f");
    let err = |r: MetaResponse| match r {
        MetaResponse::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(err(fs.rename(ROOT, "f", ROOT, "d")), FsError::IsDir);
    assert_eq!(err(fs.rename(ROOT, "d", ROOT, "f")), FsError::NotDir);
    assert_eq!(err(fs.rename(ROOT, "d", ROOT, "full")), FsError::NotEmpty);
    assert_eq!(err(fs.rename(ROOT, "nope", ROOT, "x")), FsError::NotFound);
    assert_eq!(
        err(fs.rename(ROOT, "f", InodeId(999), "x")),
        FsError::NotFound
    );
    let f = fs.lookup(ROOT, "f").expect("f").ino;
    assert_eq!(err(fs.rename(ROOT, "f", f, "x")), FsError::NotDir);
    assert_eq!(
        err(fs.rename(ROOT, "f", ROOT, &"n".repeat(256))),
        FsError::NameTooLong
    );
    assert!(is_invalid(fs.rename(ROOT, "f", ROOT, "..")));
    // Renaming a directory over its own ancestor: the ancestor is not empty.
    let sub = fs.mkdir(full, "sub");
    fs.mkdir(sub, "full");
    assert_eq!(err(fs.rename(sub, "full", ROOT, "full")), FsError::NotEmpty);
    fs.check();
}

#[test]
fn noreplace() {
    let mut fs = Fs::new();
    fs.create(ROOT, "a");
    fs.create(ROOT, "b");
    assert_eq!(
        fs.rename_flags(ROOT, "a", ROOT, "b", NOREPLACE),
        MetaResponse::Error(FsError::Exists)
    );
    assert_eq!(
        fs.rename_flags(ROOT, "a", ROOT, "c", NOREPLACE),
        MetaResponse::Done
    );
    let both = RenameFlags {
        noreplace: true,
        exchange: true,
    };
    assert!(is_invalid(fs.rename_flags(ROOT, "b", ROOT, "c", both)));
    fs.check();
}

#[test]
fn onto_itself_is_a_no_op() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.ok_attr(MetaOp::Link {
        ino: f,
        new_parent: ROOT,
        new_name: b"g".to_vec(),
    });
    fs.mkdir(ROOT, "d");
    let before = fs.store.clone();
    assert_eq!(fs.rename(ROOT, "f", ROOT, "f"), MetaResponse::Done);
    assert_eq!(fs.rename(ROOT, "d", ROOT, "d"), MetaResponse::Done);
    assert_eq!(
        fs.rename(ROOT, "f", ROOT, "g"),
        MetaResponse::Done,
        "two links to one file"
    );
    assert_eq!(
        fs.rename_flags(ROOT, "f", ROOT, "f", EXCHANGE),
        MetaResponse::Done
    );
    assert_eq!(fs.store, before, "nothing changed");
    assert_eq!(fs.names(ROOT), vec!["d", "f", "g"]);
    fs.check();
}

#[test]
fn exchange_swaps_entries_and_fixes_link_counts() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a");
    let b = fs.mkdir(ROOT, "b");
    let f = fs.create(a, "f");
    let d = fs.mkdir(b, "d");
    fs.create(d, "inside");
    assert_eq!(fs.attr(a).nlink, 2);
    assert_eq!(fs.attr(b).nlink, 3);
    assert_eq!(
        fs.rename_flags(a, "f", b, "d", EXCHANGE),
        MetaResponse::Done
    );
    assert_eq!(
        fs.lookup(a, "f").expect("a/f").ino,
        d,
        "the directory is now a/f"
    );
    assert_eq!(fs.lookup(b, "d").expect("b/d").ino, f);
    assert_eq!(fs.attr(a).nlink, 3);
    assert_eq!(fs.attr(b).nlink, 2);
    assert_eq!(fs.attr(f).ctime, fs.now());
    assert_eq!(fs.attr(d).ctime, fs.now());
    fs.check();
    // Missing target.
    assert_eq!(
        fs.rename_flags(a, "f", b, "zz", EXCHANGE),
        MetaResponse::Error(FsError::NotFound)
    );
    // Exchanging a directory with an entry inside it would move it into itself.
    fs.create(d, "g");
    assert!(is_invalid(fs.rename_flags(a, "f", d, "g", EXCHANGE)));
    assert!(is_invalid(fs.rename_flags(d, "g", a, "f", EXCHANGE)));
    fs.check();
}

#[test]
fn exchange_of_two_directories_in_different_parents() {
    let mut fs = Fs::new();
    let a = fs.mkdir(ROOT, "a");
    let b = fs.mkdir(ROOT, "b");
    let x = fs.mkdir(a, "x");
    let y = fs.mkdir(b, "y");
    assert_eq!(
        fs.rename_flags(a, "x", b, "y", EXCHANGE),
        MetaResponse::Done
    );
    assert_eq!(fs.lookup(a, "x").expect("a/x").ino, y);
    assert_eq!(fs.lookup(b, "y").expect("b/y").ino, x);
    assert_eq!((fs.attr(a).nlink, fs.attr(b).nlink), (3, 3));
    // The parent pointers moved: x (now under b) may not receive b.
    assert!(is_invalid(fs.rename(ROOT, "b", x, "b")));
    fs.check();
}
