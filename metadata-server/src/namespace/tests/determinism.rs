//! The same commands give the same writes; a pseudo-random workload keeps every
//! invariant; readdir pagination; corrupt records surface as storage errors.

use super::fixture::*;
use crate::namespace::{apply, query, ApplyContext, Overlay, StoreError, Table};
use ferrofs_proto::attr::{SetAttr, Timestamp};
use ferrofs_proto::error::FsError;
use ferrofs_proto::ids::InodeId;
use ferrofs_proto::meta_msg::{MetaOp, MetaRequest, MetaResponse, RenameFlags};

/// A small deterministic generator (xorshift), so the workload needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random ops over a few directories and names, errors included. Returns the file
/// system and how many ops of each kind succeeded.
fn workload(seed: u64, steps: usize) -> (Fs, [u32; 9]) {
    let mut succeeded = [0u32; 9];
    let mut fs = Fs::new();
    let mut rng = Rng(seed);
    let mut dirs = vec![ROOT];
    let names = ["a", "b", "c", "d"];
    for _ in 0..steps {
        let dir = dirs[rng.below(dirs.len() as u64) as usize];
        let other = dirs[rng.below(dirs.len() as u64) as usize];
        let name = names[rng.below(names.len() as u64) as usize]
            .as_bytes()
            .to_vec();
        let name2 = names[rng.below(names.len() as u64) as usize]
            .as_bytes()
            .to_vec();
        let kind = rng.below(9) as usize;
        let op = match kind {
            0 => MetaOp::Mkdir {
                parent: dir,
                name,
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
            1 | 2 => create_like(dir, name),
            3 => MetaOp::Unlink { parent: dir, name },
            4 => MetaOp::Rmdir { parent: dir, name },
            5 => MetaOp::Rename {
                parent: dir,
                name,
                new_parent: other,
                new_name: name2,
                flags: RenameFlags {
                    noreplace: false,
                    exchange: rng.below(4) == 0,
                },
            },
            6 => MetaOp::Link {
                ino: InodeId(rng.below(40) + 1),
                new_parent: other,
                new_name: name,
            },
            7 => MetaOp::CommitChunks {
                ino: InodeId(rng.below(40) + 1),
                chunks: vec![chunk_at(
                    rng.below(4),
                    u128::from(rng.below(12)) + 1,
                    &[rng.below(3) + 1],
                )],
                min_size: rng.below(500),
                mtime: Timestamp(3),
            },
            _ => MetaOp::SetAttr {
                ino: InodeId(rng.below(40) + 1),
                attr: SetAttr {
                    size: Some(rng.below(400)),
                    ..SetAttr::default()
                },
            },
        };
        let resp = fs.apply(op);
        if !matches!(resp, MetaResponse::Error(_)) {
            succeeded[kind] += 1;
        }
        if let MetaResponse::Attr(a) | MetaResponse::Added { attr: a, .. } = resp {
            if a.kind == ferrofs_proto::attr::FileKind::Dir && !dirs.contains(&a.ino) {
                dirs.push(a.ino);
            }
        }
        dirs.retain(|d| fs.getattr(*d).is_ok());
        if dirs.is_empty() {
            dirs.push(ROOT);
        }
    }
    (fs, succeeded)
}

fn create_like(parent: InodeId, name: Vec<u8>) -> MetaOp {
    MetaOp::Create {
        parent,
        name,
        kind: ferrofs_proto::attr::FileKind::File,
        mode: 0o644,
        uid: 0,
        gid: 0,
        exclusive: false,
    }
}

#[test]
fn same_commands_same_writes() {
    let (a, _) = workload(0x9e37_79b9_7f4a_7c15, 400);
    let (b, _) = workload(0x9e37_79b9_7f4a_7c15, 400);
    assert_eq!(a.log, b.log, "every step wrote the same bytes");
    assert_eq!(a.store, b.store);
    let (c, _) = workload(12345, 400);
    assert_ne!(
        a.store, c.store,
        "a different workload differs (the test can fail)"
    );
}

#[test]
fn random_workloads_keep_the_invariants() {
    let mut total = [0u32; 9];
    for seed in 1..=12u64 {
        let (fs, succeeded) = workload(seed.wrapping_mul(0x2545_f491_4f6c_dd1d), 300);
        fs.check();
        for (t, s) in total.iter_mut().zip(succeeded) {
            *t += s;
        }
    }
    eprintln!("successful ops by kind: {total:?}");
    assert!(
        total.iter().all(|&n| n >= 5),
        "every kind of op succeeded sometimes: {total:?}"
    );
}

#[test]
fn readdir_paginates_in_name_order() {
    let mut fs = Fs::new();
    let d = fs.mkdir(ROOT, "d");
    let mut expect: Vec<String> = (0..10).map(|i| format!("n{i:02}")).collect();
    for name in expect.iter().rev() {
        fs.create(d, name);
    }
    fs.mkdir(d, "sub");
    expect.push("sub".to_string());
    assert_eq!(
        fs.names(d),
        expect,
        "pages of 2 cover everything once, in order"
    );
    let page = |after: Option<&str>, limit| {
        fs.query(MetaRequest::ReadDir {
            ino: d,
            after: after.map(|a| a.as_bytes().to_vec()),
            limit,
        })
    };
    match page(None, 3) {
        MetaResponse::Entries { entries, done } => {
            assert!(!done);
            assert_eq!(entries.len(), 3);
            assert_eq!(
                entries[0].attr,
                fs.lookup(d, "n00").expect("n00"),
                "attrs included"
            );
        }
        other => panic!("{other:?}"),
    }
    // `after` need not exist; a page ending exactly at the last entry is done.
    match page(Some("n055"), 100) {
        MetaResponse::Entries { entries, done } => {
            assert!(done);
            assert_eq!(
                entries.first().map(|e| e.name.clone()),
                Some(b"n06".to_vec())
            );
            assert_eq!(entries.len(), 5);
        }
        other => panic!("{other:?}"),
    }
    match page(Some("n09"), 1) {
        MetaResponse::Entries { entries, done } => assert!(done && entries.len() == 1),
        other => panic!("{other:?}"),
    }
    match page(None, 0) {
        MetaResponse::Entries { entries, done } => assert!(done && entries.len() == 11, "0 = max"),
        other => panic!("{other:?}"),
    }
    match page(Some("zzz"), 5) {
        MetaResponse::Entries { entries, done } => assert!(done && entries.is_empty()),
        other => panic!("{other:?}"),
    }
    let f = fs.lookup(d, "n01").expect("n01").ino;
    assert_eq!(
        fs.query(MetaRequest::ReadDir {
            ino: f,
            after: None,
            limit: 5
        }),
        MetaResponse::Error(FsError::NotDir)
    );
    // Sibling directories do not leak into the listing.
    fs.create(ROOT, "zz");
    assert_eq!(fs.names(d).len(), 11);
}

#[test]
fn corrupt_records_are_storage_errors() {
    let mut fs = Fs::new();
    let f = fs.create(ROOT, "f");
    let mut broken = fs.store.clone();
    broken.apply_writes(vec![(
        Table::Inodes,
        f.0.to_be_bytes().to_vec(),
        Some(vec![1, 0xff]),
    )]);
    let r = query(&broken, &fs.settings, &MetaRequest::GetAttr { ino: f });
    assert!(
        matches!(
            r,
            Err(StoreError::Corrupt {
                table: Table::Inodes,
                ..
            })
        ),
        "{r:?}"
    );
    let mut overlay = Overlay::new(&broken);
    let ctx = ApplyContext { now: Timestamp(1) };
    let r = apply(
        &mut overlay,
        &ctx,
        &MetaOp::Unlink {
            parent: ROOT,
            name: b"f".to_vec(),
        },
    );
    assert!(matches!(r, Err(StoreError::Corrupt { .. })), "{r:?}");
    // A dangling entry is corruption too, not ENOENT.
    let mut dangling = fs.store.clone();
    dangling.apply_writes(vec![(Table::Inodes, f.0.to_be_bytes().to_vec(), None)]);
    let r = query(
        &dangling,
        &fs.settings,
        &MetaRequest::Lookup {
            parent: ROOT,
            name: b"f".to_vec(),
        },
    );
    assert!(matches!(r, Err(StoreError::Corrupt { .. })), "{r:?}");
    fs.check();
}
