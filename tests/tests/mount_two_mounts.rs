//! Issue 3, acceptance 3 (consistency across mounts): two mounts of one cluster. A file
//! written and closed on mount A is read whole on mount B; an overwrite on A is seen on B
//! once B's attribute cache (1 s by default) has expired; a rename on A is seen on B, and a
//! directory made on B is seen on A.

use anyhow::ensure;
use ferrofs_tests::data::content;
use ferrofs_tests::mount::{poll_until, MountProcess};
use ferrofs_tests::TestCluster;
use std::time::{Duration, Instant};

/// The default attribute and entry TTL of `ferrofs mount`, plus scheduling slack.
const TTL_AND_SLACK: Duration = Duration::from_secs(5);

#[test]
fn two_mounts_see_each_others_closed_writes_and_renames() -> anyhow::Result<()> {
    let cluster = TestCluster::start(3, 3)?;
    let a = MountProcess::start(&cluster, &[])?;
    let b = MountProcess::start(&cluster, &[])?;

    // Phase 1: a new file (several chunks) written and closed on A reads whole on B at once:
    // B has never looked the name up, so nothing of it is cached there.
    let first = content(1, 9 * 1024 * 1024 + 12345);
    std::fs::write(a.join("shared.bin"), &first)?;
    let seen = std::fs::read(b.join("shared.bin"))?;
    ensure!(
        seen.len() == first.len(),
        "B read {} of {} bytes",
        seen.len(),
        first.len()
    );
    ensure!(seen == first, "B read different bytes than A wrote");
    eprintln!("phase 1: a closed write on A is read whole on B");

    // Phase 2: A replaces the content with a shorter one; B sees it whole within the TTL.
    let second = content(2, 3 * 1024 * 1024 + 7);
    std::fs::write(a.join("shared.bin"), &second)?;
    let t = Instant::now();
    poll_until("B to read A's overwrite", TTL_AND_SLACK, || {
        std::fs::read(b.join("shared.bin")).is_ok_and(|got| got == second)
    })?;
    eprintln!(
        "phase 2: the overwrite is seen on B after {:?}",
        t.elapsed()
    );

    // Phase 3: a rename on A is seen on B: the new name has the content, the old is gone.
    std::fs::rename(a.join("shared.bin"), a.join("renamed.bin"))?;
    let t = Instant::now();
    poll_until("B to see the rename", TTL_AND_SLACK, || {
        !b.join("shared.bin").exists() && b.join("renamed.bin").exists()
    })?;
    ensure!(std::fs::read(b.join("renamed.bin"))? == second);
    eprintln!("phase 3: the rename is seen on B after {:?}", t.elapsed());

    // Phase 4: the other way round, and a directory rename with a file inside.
    std::fs::create_dir_all(b.join("dir/sub"))?;
    std::fs::write(b.join("dir/sub/note"), b"from B")?;
    std::fs::rename(b.join("dir"), b.join("moved"))?;
    poll_until("A to see B's moved directory", TTL_AND_SLACK, || {
        std::fs::read(a.join("moved/sub/note")).is_ok_and(|got| got == b"from B")
    })?;
    ensure!(
        !a.join("dir").exists(),
        "the old directory name is gone on A"
    );
    eprintln!("phase 4: B's directory rename is seen on A");
    Ok(())
}

/// Run `write(file, writer)` for writers 0 (on mount `a`) and 1 (on `b`) at once, each
/// with `name` opened for writing on its own mount.
fn write_from_both(
    a: &MountProcess,
    b: &MountProcess,
    name: &str,
    write: impl Fn(&std::fs::File, u64) -> std::io::Result<()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let write = std::sync::Arc::new(write);
    let writers: Vec<_> = [(0u64, a.join(name)), (1, b.join(name))]
        .into_iter()
        .map(|(writer, path)| {
            let write = write.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let f = std::fs::OpenOptions::new().write(true).open(path)?;
                write(&f, writer)?;
                Ok(())
            })
        })
        .collect();
    for w in writers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    Ok(())
}

/// Read `name` on both mounts and fail naming every (writer, round) piece that is not
/// there; `piece(writer, round)` is its offset and bytes.
fn ensure_pieces_there(
    a: &MountProcess,
    b: &MountProcess,
    name: &str,
    rounds: u64,
    piece: impl Fn(u64, u64) -> (u64, Vec<u8>),
) -> anyhow::Result<()> {
    for (mount_name, mount) in [("A", a), ("B", b)] {
        let got = std::fs::read(mount.join(name))?;
        let lost: Vec<(u64, u64)> = (0..rounds)
            .flat_map(|r| [(0, r), (1, r)])
            .filter(|&(w, r)| {
                let (at, bytes) = piece(w, r);
                let at = at as usize;
                got.get(at..at + bytes.len()) != Some(&bytes[..])
            })
            .collect();
        ensure!(
            lost.is_empty(),
            "{} of {} pieces lost, read on {mount_name} (writer, round): {:?}",
            lost.len(),
            2 * rounds,
            &lost[..lost.len().min(8)]
        );
    }
    eprintln!("all {} pieces of both mounts are there", 2 * rounds);
    Ok(())
}

/// `len` bytes repeating `label`.
fn filled(label: String, len: usize) -> Vec<u8> {
    label.into_bytes().into_iter().cycle().take(len).collect()
}

/// Two mounts write 4 KiB records, each followed by `fsync`, into the same chunk of one
/// file at once, interleaved. Each write is a patch of the chunk, and a patch commits
/// only over the chunk it was made from, so neither mount's commit undoes the other's:
/// every record is there afterwards. (With unconditional commits about half of them
/// were lost.)
#[test]
fn fsynced_writes_of_two_mounts_into_one_chunk_all_survive() -> anyhow::Result<()> {
    use std::os::unix::fs::FileExt;
    const RECORDS: u64 = 150;
    const SIZE: usize = 4096;
    let cluster = TestCluster::start(1, 3)?;
    let a = MountProcess::start(&cluster, &[])?;
    let b = MountProcess::start(&cluster, &[])?;
    std::fs::write(a.join("shared.db"), vec![0u8; 8 << 20])?;
    let record = |writer: u64, i: u64| -> (u64, Vec<u8>) {
        let bytes = filled(format!("writer {writer} record {i:05} "), SIZE);
        ((i * 2 + writer) * SIZE as u64, bytes)
    };
    write_from_both(&a, &b, "shared.db", move |f, writer| {
        for i in 0..RECORDS {
            let (at, bytes) = record(writer, i);
            f.write_all_at(&bytes, at)?;
            f.sync_all()?;
        }
        Ok(())
    })?;
    ensure_pieces_there(&a, &b, "shared.db", RECORDS, record)
}

/// Two mounts write large parts (more than a patch takes) of the same chunks at the same
/// time, each followed by `fsync`. Each such write rewrites the chunk whole from the
/// stored one, and commits only over the chunk it read, so neither mount's rewrite
/// puts back the old bytes of the other's part: both parts are there afterwards.
/// (With unconditional commits half of them were lost.)
#[test]
fn rewrites_of_one_chunk_by_two_mounts_keep_both_parts() -> anyhow::Result<()> {
    use std::os::unix::fs::FileExt;
    use std::sync::Barrier;
    const ROUNDS: u64 = 24;
    const CHUNK: u64 = 4 << 20;
    const PART: usize = (1 << 20) + (1 << 18); // 1.25 MiB: more than a quarter chunk
    let cluster = TestCluster::start(1, 3)?;
    let a = MountProcess::start(&cluster, &[])?;
    let b = MountProcess::start(&cluster, &[])?;
    std::fs::write(a.join("parts"), vec![0u8; (ROUNDS * CHUNK) as usize])?;
    // Writer 0 writes the first 1.25 MiB of chunk `round`, writer 1 from 2 MiB on.
    let part = |writer: u64, round: u64| -> (u64, Vec<u8>) {
        let bytes = filled(format!("writer {writer} round {round:03} "), PART);
        (round * CHUNK + writer * (2 << 20), bytes)
    };
    let barrier = Barrier::new(2);
    write_from_both(&a, &b, "parts", move |f, writer| {
        for round in 0..ROUNDS {
            barrier.wait(); // both write the same chunk at once
            let (at, bytes) = part(writer, round);
            f.write_all_at(&bytes, at)?;
            f.sync_all()?;
        }
        Ok(())
    })?;
    ensure_pieces_there(&a, &b, "parts", ROUNDS, part)
}

/// Mount A has a file open at 1 MiB; mount B appends 2 MiB to it and closes; then A
/// writes over the whole 1 MiB it knows of. A's write covers all of the chunk as A sees
/// it, but not as stored: B's appended bytes must stay, not turn into zeros.
#[test]
fn rewriting_all_one_mount_saw_keeps_what_another_appended() -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    const MIB: usize = 1 << 20;
    let cluster = TestCluster::start(1, 3)?;
    let a = MountProcess::start(&cluster, &[])?;
    let b = MountProcess::start(&cluster, &[])?;
    std::fs::write(a.join("log"), vec![b'a'; MIB])?;
    let on_a = std::fs::OpenOptions::new()
        .write(true)
        .open(a.join("log"))?;
    {
        let mut on_b = std::fs::OpenOptions::new()
            .append(true)
            .open(b.join("log"))?;
        on_b.write_all(&vec![b'b'; 2 * MIB])?;
    }
    on_a.write_all_at(&vec![b'A'; MIB], 0)?;
    on_a.sync_all()?;
    drop(on_a);
    let mut expect = vec![b'A'; MIB];
    expect.extend(vec![b'b'; 2 * MIB]);
    for (name, mount) in [("A", &a), ("B", &b)] {
        let got = std::fs::read(mount.join("log"))?;
        let first_wrong = got.iter().zip(&expect).position(|(g, e)| g != e);
        ensure!(
            got.len() == expect.len() && first_wrong.is_none(),
            "read on {name}: {} bytes (expected {}), first wrong byte at {first_wrong:?}",
            got.len(),
            expect.len()
        );
    }
    Ok(())
}
