use super::fixture::*;
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::limits::MAX_XATTR_VALUE_BYTES;
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse, XattrMode};

fn set(ino: InodeId, name: &str, value: &[u8], mode: XattrMode) -> MetaOp {
    MetaOp::SetXattr {
        ino,
        name: name.into(),
        value: value.to_vec(),
        mode,
    }
}

fn get(fs: &Fs, ino: InodeId, name: &str) -> MetaResponse {
    fs.query(MetaRequest::GetXattr {
        ino,
        name: name.into(),
    })
}

#[test]
fn set_get_list_remove() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.ok(set(f, "user.b", b"2", XattrMode::Upsert));
    fs.ok(set(f, "user.a", b"1", XattrMode::Create));
    assert_eq!(fs.attr(f).ctime, fs.now(), "ctime follows xattr changes");
    assert_eq!(get(&fs, f, "user.a"), MetaResponse::Xattr(b"1".to_vec()));
    fs.ok(set(f, "user.a", b"one", XattrMode::Replace));
    assert_eq!(get(&fs, f, "user.a"), MetaResponse::Xattr(b"one".to_vec()));
    fs.ok(set(f, "user.empty", b"", XattrMode::Upsert));
    assert_eq!(get(&fs, f, "user.empty"), MetaResponse::Xattr(Vec::new()));
    assert_eq!(
        fs.query(MetaRequest::ListXattr { ino: f }),
        MetaResponse::XattrNames(vec![
            b"user.a".to_vec(),
            b"user.b".to_vec(),
            b"user.empty".to_vec()
        ])
    );
    fs.ok(MetaOp::RemoveXattr {
        ino: f,
        name: b"user.a".to_vec(),
    });
    assert_eq!(get(&fs, f, "user.a"), MetaResponse::Error(FsError::NoAttr));
    // Xattrs of another inode are not listed.
    let g = fs.create(ROOT, "g");
    assert_eq!(
        fs.query(MetaRequest::ListXattr { ino: g }),
        MetaResponse::XattrNames(vec![])
    );
    fs.check();
}

#[test]
fn xattr_errors() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    fs.ok(set(f, "user.a", b"1", XattrMode::Upsert));
    assert_eq!(
        fs.err(set(f, "user.a", b"2", XattrMode::Create)),
        FsError::Exists
    );
    assert_eq!(
        fs.err(set(f, "user.z", b"2", XattrMode::Replace)),
        FsError::NoAttr
    );
    assert_eq!(
        fs.err(MetaOp::RemoveXattr {
            ino: f,
            name: b"user.z".to_vec()
        }),
        FsError::NoAttr
    );
    let big = vec![0u8; MAX_XATTR_VALUE_BYTES + 1];
    assert!(matches!(
        fs.err(set(f, "user.big", &big, XattrMode::Upsert)),
        FsError::Invalid(_)
    ));
    assert_eq!(
        fs.err(set(f, &"n".repeat(256), b"", XattrMode::Upsert)),
        FsError::NameTooLong
    );
    assert!(matches!(
        fs.err(set(f, "", b"", XattrMode::Upsert)),
        FsError::Invalid(_)
    ));
    let missing = InodeId(9999);
    assert_eq!(
        fs.err(set(missing, "user.a", b"", XattrMode::Upsert)),
        FsError::NotFound
    );
    assert_eq!(
        get(&fs, missing, "user.a"),
        MetaResponse::Error(FsError::NotFound)
    );
    assert_eq!(
        fs.query(MetaRequest::ListXattr { ino: missing }),
        MetaResponse::Error(FsError::NotFound)
    );
    fs.ok(set(
        f,
        "user.max",
        &vec![7u8; MAX_XATTR_VALUE_BYTES],
        XattrMode::Upsert,
    ));
    fs.check();
}

#[test]
fn listing_size_is_bounded() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    // 256 names of 255 bytes (+ NUL each) fill the 65,536 bytes exactly.
    for i in 0..256u32 {
        let name = format!("user.{i:0>250}");
        assert_eq!(name.len(), 255);
        fs.ok(set(f, &name, b"", XattrMode::Upsert));
    }
    let one_more = format!("user.{:0>250}", 999);
    assert!(matches!(
        fs.err(set(f, &one_more, b"", XattrMode::Upsert)),
        FsError::Invalid(_)
    ));
    // Replacing an existing one is still fine.
    fs.ok(set(
        f,
        &format!("user.{:0>250}", 3),
        b"x",
        XattrMode::Replace,
    ));
}

#[test]
fn attributes_say_whether_any_xattr_is_set() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    assert!(!fs.attr(f).has_xattrs);
    fs.ok(set(f, "user.a", b"1", XattrMode::Upsert));
    fs.ok(set(f, "user.b", b"2", XattrMode::Upsert));
    assert!(fs.attr(f).has_xattrs);
    assert!(fs.lookup(ROOT, "f").expect("lookup").has_xattrs);
    fs.ok(MetaOp::RemoveXattr {
        ino: f,
        name: b"user.a".to_vec(),
    });
    assert!(fs.attr(f).has_xattrs, "user.b is still set");
    fs.ok(MetaOp::RemoveXattr {
        ino: f,
        name: b"user.b".to_vec(),
    });
    assert!(!fs.attr(f).has_xattrs, "none left");
}
