//! Recompute, from the raw tables, everything the namespace keeps incrementally, and
//! compare: counters, link counts, parent pointers, chunk reference counts.

use crate::namespace::keys;
use crate::namespace::records::{decode, Counters, Dentry, Garbage, Inode, Location};
use crate::namespace::tx::load_inline_use;
use crate::namespace::{counts, MemStore, Table};
use ferrofs_proto::attr::{ChunkRef, FileKind};
use ferrofs_proto::ids::{ChunkId, InodeId};
use std::collections::BTreeMap;

pub fn check(store: &MemStore, replication: u32) {
    let inodes: BTreeMap<InodeId, Inode> = store
        .dump(Table::Inodes)
        .into_iter()
        .map(|(k, v)| {
            let ino = InodeId(u64::from_be_bytes(k.try_into().expect("8-byte key")));
            (ino, decode(Table::Inodes, &v).expect("inode decodes"))
        })
        .collect();
    let mut links: BTreeMap<InodeId, u32> = BTreeMap::new();
    let mut subdirs: BTreeMap<InodeId, u32> = BTreeMap::new();
    for (k, v) in store.dump(Table::Dentries) {
        let parent = InodeId(u64::from_be_bytes(k[..8].try_into().expect("parent")));
        let d: Dentry = decode(Table::Dentries, &v).expect("dentry decodes");
        let child = inodes
            .get(&d.ino)
            .unwrap_or_else(|| panic!("dangling entry {k:?}"));
        assert_eq!(child.kind, d.kind, "entry kind of {:?}", d.ino);
        assert!(
            inodes.get(&parent).is_some_and(Inode::is_dir),
            "parent {parent} is a dir"
        );
        *links.entry(d.ino).or_default() += 1;
        if d.kind == FileKind::Dir {
            assert_eq!(child.parent, parent, "parent pointer of dir {}", d.ino);
            *subdirs.entry(parent).or_default() += 1;
        }
    }
    let mut expect = Counters::default();
    for (ino, inode) in &inodes {
        if inode.is_dir() {
            expect.dirs += 1;
            assert_eq!(
                inode.nlink,
                2 + subdirs.get(ino).copied().unwrap_or(0),
                "nlink of dir {ino}"
            );
            if *ino != InodeId::ROOT {
                assert_eq!(links.get(ino), Some(&1), "dir {ino} has exactly one entry");
            }
        } else {
            expect.files += 1;
            assert_eq!(Some(&inode.nlink), links.get(ino), "nlink of {ino}");
        }
        if inode.kind == FileKind::File {
            expect.logical_bytes += inode.size;
        }
    }
    let mut refs: BTreeMap<ChunkId, u64> = BTreeMap::new();
    let mut inline_bytes = 0;
    for (k, v) in store.dump(Table::Chunks) {
        let ino = InodeId(u64::from_be_bytes(k[..8].try_into().expect("ino")));
        assert!(
            inodes.get(&ino).is_some_and(|i| i.kind == FileKind::File),
            "chunks of {ino}"
        );
        let c: ChunkRef = decode(Table::Chunks, &v).expect("chunk decodes");
        if let Some(bytes) = &c.inline {
            assert_eq!(
                bytes.len() as u64,
                c.len,
                "inline chunk {} holds its length",
                c.id
            );
            inline_bytes += c.len;
            continue; // no location record, no references
        }
        *refs.entry(c.id).or_default() += 1;
    }
    let mut located = BTreeMap::new();
    for (k, v) in store.dump(Table::Locations) {
        let id = keys::chunk_id_of(Table::Locations, &k).expect("location key");
        let l: Location = decode(Table::Locations, &v).expect("location decodes");
        expect.chunks += 1;
        if l.servers.len() < replication as usize {
            expect.under_replicated += 1;
        }
        let mut sorted = l.servers.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, l.servers, "servers of {id} sorted and unique");
        located.insert(id, l.refs);
    }
    assert_eq!(refs, located, "reference counts match the chunk lists");
    for (k, v) in store.dump(Table::Sys) {
        if let Ok(id) = keys::garbage_id_of(&k) {
            let _: Garbage = decode(Table::Sys, &v).expect("garbage decodes");
            assert!(
                !refs.contains_key(&id),
                "garbage chunk {id} is still referenced"
            );
        }
    }
    for (k, _) in store.dump(Table::Xattrs) {
        let ino = InodeId(u64::from_be_bytes(k[..8].try_into().expect("ino")));
        assert!(inodes.contains_key(&ino), "xattr of missing inode {ino}");
    }
    let got = counts(store).expect("counts");
    let got = Counters {
        files: got.files,
        dirs: got.dirs,
        chunks: got.chunks,
        under_replicated: got.under_replicated,
        logical_bytes: got.logical_bytes,
    };
    assert_eq!(got, expect, "stored counters match a recount");
    assert_eq!(
        load_inline_use(store).expect("inline use").bytes,
        inline_bytes,
        "stored inline bytes match a recount"
    );
}
