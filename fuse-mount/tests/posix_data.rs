//! File data through the mount: chunk-sized and unaligned writes, read-modify-write,
//! holes, offsets past 4 GiB, truncate, O_APPEND / O_TRUNC, fsync, times, fallocate,
//! unlinked-but-open files, close-to-open visibility through the client library, and
//! random writes held by the mount's write budget.

mod common;

use common::{errno, wait_for, Mounted, MIB};
use ferrofs_fuse::MountOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::time::{Duration, SystemTime};

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn data_reads_back_as_written() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    let p = |s: &str| m.path(s);
    let cs = m.client.chunk_size();

    // Phase 1: a file of several chunks written in odd-sized pieces reads back the
    // same, through the mount and through the client library (close-to-open).
    let data = pattern(1, (3 * cs + 12345) as usize);
    {
        let mut f = std::fs::File::create(p("big"))?;
        for piece in data.chunks(777_777) {
            f.write_all(piece)?;
        }
    }
    assert_eq!(std::fs::read(p("big"))?, data);
    let attr = m.rt.block_on(m.client.resolve("/big"))?;
    assert_eq!(attr.size, data.len() as u64);
    let via_client =
        m.rt.block_on(m.client.read_at(attr.ino, 0, data.len() as u64))?;
    assert!(
        via_client == data,
        "the cluster holds the bytes once close returned"
    );
    eprintln!(
        "phase 1: {} MiB in odd pieces round trip",
        data.len() as u64 / MIB
    );

    // Phase 2: overwrite the middle of existing chunks (read-modify-write) and read
    // at unaligned offsets.
    let mut expect = data.clone();
    {
        let f = std::fs::OpenOptions::new().write(true).open(p("big"))?;
        let patch = pattern(2, 1000);
        let at = cs as usize - 500; // across the first chunk boundary
        f.write_all_at(&patch, at as u64)?;
        expect[at..at + 1000].copy_from_slice(&patch);
        f.write_all_at(b"zz", 7)?;
        expect[7..9].copy_from_slice(b"zz");
    }
    assert_eq!(std::fs::read(p("big"))?, expect);
    let f = std::fs::File::open(p("big"))?;
    let mut buf = vec![0u8; 4097];
    f.read_exact_at(&mut buf, 2 * cs - 3)?;
    assert_eq!(
        buf,
        expect[(2 * cs - 3) as usize..(2 * cs - 3 + 4097) as usize]
    );
    drop(f);
    eprintln!("phase 2: read-modify-write of partial chunks");

    // Phase 3: writes past the end leave holes that read as zeros, also past 4 GiB.
    {
        let f = std::fs::File::create(p("sparse"))?;
        f.write_all_at(b"tail", 5 * 1024 * MIB + 3)?;
        f.write_all_at(b"head", 10)?;
    }
    let f = std::fs::File::open(p("sparse"))?;
    assert_eq!(f.metadata()?.len(), 5 * 1024 * MIB + 7);
    let mut buf = vec![1u8; 16];
    f.read_exact_at(&mut buf, 5 * 1024 * MIB - 9)?;
    assert_eq!(&buf[..12], &[0u8; 12]);
    assert_eq!(&buf[12..], b"tail");
    let mut head = vec![1u8; 20];
    f.read_exact_at(&mut head, 0)?;
    assert_eq!(&head[..10], &[0u8; 10]);
    assert_eq!(&head[10..14], b"head");
    assert_eq!(&head[14..], &[0u8; 6]);
    let mut mid = vec![1u8; 4096];
    f.read_exact_at(&mut mid, 3 * 1024 * MIB)?;
    assert!(mid.iter().all(|b| *b == 0));
    drop(f);
    eprintln!("phase 3: holes read as zeros, offsets past 4 GiB");

    // Phase 4: truncate to the middle of a chunk, then grow: the cut bytes come
    // back as zeros, not as the old data.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p("big"))?;
    f.set_len(cs + 100)?;
    assert_eq!(f.metadata()?.len(), cs + 100);
    f.set_len(cs + 5000)?;
    let mut buf = vec![1u8; 5000];
    f.read_exact_at(&mut buf, cs)?;
    assert_eq!(&buf[..100], &expect[cs as usize..cs as usize + 100]);
    assert!(
        buf[100..].iter().all(|b| *b == 0),
        "bytes past a truncation read as zeros"
    );
    f.set_len(0)?;
    assert_eq!(std::fs::read(p("big"))?.len(), 0);
    drop(f);
    // The same by path, on a file no one has open (truncate(2) also sets mtime).
    let closed = pattern(9, cs as usize + 3000);
    std::fs::write(p("closed"), &closed)?;
    nix::unistd::truncate(&p("closed"), (cs + 10) as i64)?;
    nix::unistd::truncate(&p("closed"), (cs + 3000) as i64)?;
    let back = std::fs::read(p("closed"))?;
    assert_eq!(back.len(), closed.len());
    assert_eq!(&back[..cs as usize + 10], &closed[..cs as usize + 10]);
    assert!(
        back[cs as usize + 10..].iter().all(|b| *b == 0),
        "bytes past a truncation by path read as zeros"
    );
    eprintln!("phase 4: truncate shrinks and grows with zeros");

    // Phase 5: O_APPEND appends, O_TRUNC empties, fsync makes data visible to the cluster.
    std::fs::write(p("log"), b"one\n")?;
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(p("log"))?;
        f.write_all(b"two\n")?;
        f.write_all(b"three\n")?;
        f.sync_all()?;
        let attr = m.rt.block_on(m.client.resolve("/log"))?;
        assert_eq!(attr.size, 14, "fsync committed the appended bytes");
    }
    assert_eq!(std::fs::read_to_string(p("log"))?, "one\ntwo\nthree\n");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(p("log"))?;
        f.write_all(b"new")?;
    }
    assert_eq!(std::fs::read_to_string(p("log"))?, "new");
    eprintln!("phase 5: O_APPEND, O_TRUNC, fsync");

    // Phase 6: an unflushed file shows its size to stat on this mount, and reads see
    // its own writes before close.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(p("open"))?;
    f.write_all(&pattern(3, 100_000))?;
    assert_eq!(std::fs::metadata(p("open"))?.len(), 100_000);
    f.seek(SeekFrom::Start(99_990))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    assert_eq!(tail, pattern(3, 100_000)[99_990..]);
    drop(f);
    eprintln!("phase 6: buffered size and read-your-writes before close");

    // Phase 7: fallocate extends, times follow POSIX (write moves mtime; utimens sets
    // them, UTIME_NOW and UTIME_OMIT included).
    m.ok("fallocate -l 10000 falloc")?;
    assert_eq!(std::fs::metadata(p("falloc"))?.len(), 10000);
    assert!(std::fs::read(p("falloc"))?.iter().all(|b| *b == 0));
    m.ok("touch -m -d '2001-02-03 04:05:06' times && touch -a -d '2002-01-01 00:00:00' times")?;
    let md = std::fs::metadata(p("times"))?;
    assert_eq!(md.mtime(), 981173106);
    assert_eq!(md.atime(), 1009843200);
    let before = std::fs::metadata(p("times"))?.modified()?;
    std::fs::write(p("times"), b"changed")?;
    let after = std::fs::metadata(p("times"))?.modified()?;
    assert!(
        after > before + Duration::from_secs(3600),
        "a write moves mtime to now"
    );
    let now = SystemTime::now();
    m.ok("touch -a -d '2003-01-01 00:00:00' times")?; // UTIME_OMIT for mtime
    let md = std::fs::metadata(p("times"))?;
    assert_eq!(md.modified()?, after, "mtime untouched");
    assert_eq!(md.atime(), 1041379200);
    m.ok("touch times")?; // UTIME_NOW for both
    assert!(std::fs::metadata(p("times"))?.modified()? + Duration::from_secs(5) >= now);
    eprintln!("phase 7: fallocate, utimens");
    Ok(())
}

#[test]
fn unlinked_and_replaced_open_files_live_until_closed() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    let p = |s: &str| m.path(s);

    // Phase 1: unlink while open: still readable and writable, gone at close.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(p("tmp"))?;
    f.write_all(b"before")?;
    f.flush()?;
    std::fs::remove_file(p("tmp"))?;
    assert_eq!(errno(std::fs::metadata(p("tmp"))), libc::ENOENT);
    f.write_all(b"+after")?;
    f.sync_all()?;
    f.seek(SeekFrom::Start(0))?;
    let mut all = String::new();
    f.read_to_string(&mut all)?;
    assert_eq!(all, "before+after");
    assert_eq!(f.metadata()?.nlink(), 0);
    drop(f);
    let hidden = m.rt.block_on(m.client.resolve("/.ferrofs-unlinked"))?;
    // The kernel sends RELEASE after close returns, asynchronously.
    let hidden_is_empty = || {
        m.rt.block_on(m.client.readdir(hidden.ino, None, 100))
            .is_ok_and(|(left, _)| left.is_empty())
    };
    wait_for(
        "the hidden name to go at the last close",
        Duration::from_secs(10),
        hidden_is_empty,
    )?;
    eprintln!("phase 1: unlinked open file usable until close");

    // Phase 2: a file replaced by rename stays readable through an open descriptor.
    std::fs::write(p("conf"), b"old version")?;
    let mut old = std::fs::File::open(p("conf"))?;
    std::fs::write(p("conf.new"), b"new version")?;
    std::fs::rename(p("conf.new"), p("conf"))?;
    assert_eq!(std::fs::read(p("conf"))?, b"new version");
    let mut s = String::new();
    old.read_to_string(&mut s)?;
    assert_eq!(s, "old version");
    let (held, _) = m.rt.block_on(m.client.readdir(hidden.ino, None, 100))?;
    assert_eq!(
        held.len(),
        1,
        "the replaced file is kept under a hidden name while open"
    );
    drop(old);
    wait_for(
        "the replaced file to go at its last close",
        Duration::from_secs(10),
        hidden_is_empty,
    )?;
    eprintln!("phase 2: rename over an open file");

    // Phase 3: another client removes the hidden folder: the next unlink of an open
    // file still succeeds, and the one after is kept alive again.
    m.rt.block_on(
        m.client
            .rmdir(ferrofs_client::InodeId::ROOT, b".ferrofs-unlinked"),
    )?;
    let first = std::fs::File::create(p("first"))?;
    std::fs::remove_file(p("first"))?;
    assert!(!p("first").exists());
    drop(first);
    std::fs::write(p("second"), b"kept")?;
    let mut second = std::fs::File::open(p("second"))?;
    std::fs::remove_file(p("second"))?;
    let mut s = String::new();
    second.read_to_string(&mut s)?;
    assert_eq!(s, "kept");
    eprintln!("phase 3: a removed hidden folder is made again");
    Ok(())
}

#[test]
fn close_to_open_across_two_mounts() -> anyhow::Result<()> {
    let a = Mounted::start(MountOptions::default())?;
    // Mount b trusts the kernel's caches for no time, so every open sees the cluster.
    let zero = MountOptions {
        attr_ttl: Duration::ZERO,
        entry_ttl: Duration::ZERO,
        ..MountOptions::default()
    };
    let b = a.mount_again(zero)?;
    let cs = a.client.chunk_size() as usize;

    // Phase 1: what a closes, b opens.
    std::fs::write(a.path("shared"), b"version one")?;
    assert_eq!(std::fs::read(b.path("shared"))?, b"version one");
    let big = pattern(9, 2 * cs + 17);
    std::fs::write(a.path("shared"), &big)?;
    assert!(
        std::fs::read(b.path("shared"))? == big,
        "b sees a's closed rewrite"
    );
    eprintln!("phase 1: a's closed writes are visible to b's next open");

    // Phase 2: b writes, fsyncs but keeps the file open: a sees the fsynced bytes.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(b.path("shared"))?;
    f.write_all(b"B")?;
    f.sync_all()?;
    let mut first = [0u8; 1];
    std::fs::File::open(a.path("shared"))?.read_exact(&mut first)?;
    assert_eq!(&first, b"B");
    drop(f);
    eprintln!("phase 2: fsync publishes without close");

    // Phase 3: renames and unlinks on a show on b at once.
    std::fs::rename(a.path("shared"), a.path("moved"))?;
    assert!(!b.path("shared").exists());
    assert_eq!(std::fs::metadata(b.path("moved"))?.len(), big.len() as u64);
    std::fs::remove_file(a.path("moved"))?;
    assert!(!b.path("moved").exists());
    eprintln!("phase 3: names change at once for a mount without caches");
    Ok(())
}

#[test]
fn parallel_writers_and_readers() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    let len = (m.client.chunk_size() + m.client.chunk_size() / 2) as usize;
    // Phase 1: eight threads write eight files at once, in uneven pieces, while a
    // ninth stats them (sizes must only grow while writing).
    std::thread::scope(|s| -> anyhow::Result<()> {
        let writers: Vec<_> = (0..8u64)
            .map(|i| {
                let path = m.path(&format!("w{i}"));
                s.spawn(move || -> anyhow::Result<()> {
                    let mut f = std::fs::File::create(&path)?;
                    for piece in pattern(100 + i, len).chunks(100_003) {
                        f.write_all(piece)?;
                    }
                    Ok(())
                })
            })
            .collect();
        let watcher = s.spawn(|| {
            let mut last = [0u64; 8];
            for _ in 0..200 {
                for (i, seen) in last.iter_mut().enumerate() {
                    if let Ok(md) = std::fs::metadata(m.path(&format!("w{i}"))) {
                        assert!(
                            md.len() >= *seen,
                            "size of w{i} went back from {seen} to {}",
                            md.len()
                        );
                        *seen = md.len();
                    }
                }
            }
        });
        for w in writers {
            w.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        }
        watcher
            .join()
            .map_err(|_| anyhow::anyhow!("watcher panicked"))?;
        Ok(())
    })?;
    // Phase 2: sixteen readers, two per file, read them back at once.
    std::thread::scope(|s| -> anyhow::Result<()> {
        let readers: Vec<_> = (0..16u64)
            .map(|r| {
                let i = r % 8;
                let path = m.path(&format!("w{i}"));
                s.spawn(move || -> anyhow::Result<bool> {
                    Ok(std::fs::read(&path)? == pattern(100 + i, len))
                })
            })
            .collect();
        for r in readers {
            assert!(
                r.join().map_err(|_| anyhow::anyhow!("reader panicked"))??,
                "a file read back differently"
            );
        }
        Ok(())
    })?;
    Ok(())
}

/// One 4 KiB piece in each of `chunks` chunks, in a scattered order, at uneven places;
/// returns the (offset, bytes) written in that order.
fn scattered_pieces(seed: u64, chunks: u64, cs: u64) -> Vec<(u64, Vec<u8>)> {
    (0..chunks)
        .map(|k| {
            let i = (k * 7) % chunks;
            let offset = i * cs + (i * 4099) % (cs - 4096);
            (offset, pattern(seed + k, 4096))
        })
        .collect()
}

#[test]
fn random_writes_stay_buffered_while_the_write_budget_has_room() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    let tight = m.mount_again(MountOptions {
        write_buffer: 0,
        ..MountOptions::default()
    })?;
    let cs = m.client.chunk_size();
    let chunks = 12u64;
    let base = pattern(20, (chunks * cs) as usize);
    let stored = |name: &str| -> anyhow::Result<Vec<u8>> {
        let ino = m.rt.block_on(m.client.resolve(name))?.ino;
        Ok(m.rt.block_on(m.client.read_at(ino, 0, chunks * cs))?)
    };

    // Phase 1: the default budget holds a random writer's 12 dirty chunks: nothing
    // reaches the cluster before close, everything after it.
    std::fs::write(m.path("roomy"), &base)?;
    let mut expect = base.clone();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(m.path("roomy"))?;
    for (offset, piece) in scattered_pieces(30, chunks, cs) {
        f.write_all_at(&piece, offset)?;
        expect[offset as usize..offset as usize + piece.len()].copy_from_slice(&piece);
    }
    assert!(
        stored("/roomy")? == base,
        "no chunk was flushed before close"
    );
    assert!(
        std::fs::read(m.path("roomy"))? == expect,
        "the mount reads its own writes"
    );
    drop(f);
    assert!(stored("/roomy")? == expect, "close flushed every piece");
    eprintln!("phase 1: {chunks} dirty chunks buffered until close");

    // Phase 2: a mount without write budget flushes a file once it has more dirty
    // chunks than the few every file may keep: the first pieces are in the cluster
    // while the file is still open, and nothing is lost.
    std::fs::write(tight.path("tight"), &base)?;
    let mut expect = base.clone();
    let pieces = scattered_pieces(40, chunks, cs);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(tight.path("tight"))?;
    for (offset, piece) in &pieces {
        f.write_all_at(piece, *offset)?;
        expect[*offset as usize..*offset as usize + piece.len()].copy_from_slice(piece);
    }
    let open_view = stored("/tight")?;
    let (offset, first) = &pieces[0];
    assert!(
        &open_view[*offset as usize..*offset as usize + first.len()] == first.as_slice(),
        "the first piece was flushed before close"
    );
    drop(f);
    assert!(stored("/tight")? == expect, "close flushed the rest");
    assert!(std::fs::read(m.path("tight"))? == expect);
    eprintln!("phase 2: a full write budget flushes while open, losing nothing");
    Ok(())
}
