//! `ferrofs bench`: put/get throughput of one big file, then create/stat/delete rates
//! of many 4 KiB files, against the configured cluster. Data comes from a generated
//! pattern (no local disk involved) and every byte read back is checked against it.

use crate::args::BenchArgs;
use crate::client_config::connect;
use crate::commands::put_get::progress_bar;
use crate::commands::{caller_ids, OpContext};
use crate::output::{format_bytes, Align, Table};
use anyhow::{bail, Context, Result};
use ferrofs_client::{Client, FileKind, InodeId};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const SMALL_FILE: usize = 4096;
/// Largest piece the pattern reader hands out per read.
const MAX_READ: usize = 1 << 20;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Fill `buf` with the pattern bytes at `offset..offset + buf.len()`: a pure function of
/// (seed, offset), so any range can be regenerated to check a read.
pub fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut o = offset;
    let mut i = 0;
    while i < buf.len() {
        let within = (o % 8) as usize;
        let word = splitmix64((o / 8) ^ seed).to_le_bytes();
        let n = (8 - within).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[within..within + n]);
        i += n;
        o += n as u64;
    }
}

/// An `AsyncRead` of `len` pattern bytes.
pub struct PatternReader {
    seed: u64,
    pos: u64,
    len: u64,
}

impl PatternReader {
    pub fn new(seed: u64, len: u64) -> PatternReader {
        PatternReader { seed, pos: 0, len }
    }
}

impl AsyncRead for PatternReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let left = self.len - self.pos;
        let n = (buf.remaining() as u64).min(left).min(MAX_READ as u64) as usize;
        if n > 0 {
            let dst = buf.initialize_unfilled_to(n);
            fill_pattern(self.seed, self.pos, &mut dst[..n]);
            buf.advance(n);
            self.pos += n as u64;
        }
        Poll::Ready(Ok(()))
    }
}

/// An `AsyncWrite` that checks every byte against the pattern; a difference is an
/// `InvalidData` error naming the offset.
pub struct PatternChecker {
    seed: u64,
    pos: u64,
    scratch: Vec<u8>,
}

impl PatternChecker {
    pub fn new(seed: u64) -> PatternChecker {
        PatternChecker {
            seed,
            pos: 0,
            scratch: Vec::new(),
        }
    }

    /// Bytes checked so far.
    pub fn checked(&self) -> u64 {
        self.pos
    }
}

impl AsyncWrite for PatternChecker {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = data.len().min(MAX_READ);
        let (seed, pos) = (self.seed, self.pos);
        let scratch = &mut self.scratch;
        scratch.resize(n, 0);
        fill_pattern(seed, pos, scratch);
        if let Some(i) = scratch.iter().zip(&data[..n]).position(|(a, b)| a != b) {
            let at = pos + i as u64;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("read-back differs from the written data at offset {at}"),
            )));
        }
        self.pos += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// One line of the result table.
#[derive(Debug)]
pub struct Measurement {
    pub op: &'static str,
    pub count: u64,
    pub bytes_each: u64,
    pub elapsed: Duration,
}

impl Measurement {
    fn rate(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        if self.count == 1 {
            format!(
                "{:.1} MiB/s",
                self.bytes_each as f64 / (1024.0 * 1024.0) / secs
            )
        } else {
            format!("{:.0} ops/s", self.count as f64 / secs)
        }
    }
}

pub fn render(results: &[Measurement]) -> String {
    let mut t = Table::new(&[
        ("OP", Align::Left),
        ("COUNT", Align::Right),
        ("SIZE", Align::Right),
        ("TIME", Align::Right),
        ("RATE", Align::Right),
    ]);
    for m in results {
        t.row(vec![
            m.op.to_string(),
            m.count.to_string(),
            format_bytes(m.bytes_each),
            format!("{:.2}s", m.elapsed.as_secs_f64()),
            m.rate(),
        ]);
    }
    t.render()
}

pub async fn run(config: Option<PathBuf>, args: BenchArgs) -> Result<()> {
    let client = connect(config).await?;
    let (uid, gid) = caller_ids();
    let dir_name = format!(".ferrofs-bench-{:08x}", rand::random::<u32>());
    let dir = client
        .mkdir(InodeId::ROOT, dir_name.as_bytes(), 0o755, uid, gid)
        .await
        .op(|| format!("bench: mkdir /{dir_name}"))?;
    eprintln!(
        "bench in /{dir_name}: {} file, then {} files of 4 KiB",
        format_bytes(args.size.0),
        args.files
    );
    let outcome = phases(&client, dir.ino, &args).await;
    let cleanup = cleanup(&client, dir.ino, &dir_name).await;
    let results = outcome?;
    cleanup?;
    print!("{}", render(&results));
    Ok(())
}

async fn phases(client: &Client, dir: InodeId, args: &BenchArgs) -> Result<Vec<Measurement>> {
    let mut results = Vec::new();
    let size = args.size.0;
    let seed = rand::random::<u64>();
    let (uid, gid) = caller_ids();
    let big = client
        .create(dir, b"big", FileKind::File, 0o644, uid, gid, true)
        .await
        .op(|| "bench: create big".to_string())?;

    let pb = progress_bar(Some(size));
    let start = Instant::now();
    let put = client
        .write_file_from(big.ino, PatternReader::new(seed, size), &|n| {
            pb.set_position(n)
        })
        .await;
    pb.finish_and_clear();
    put.op(|| "bench: put".to_string())?;
    results.push(Measurement {
        op: "put",
        count: 1,
        bytes_each: size,
        elapsed: start.elapsed(),
    });

    let pb = progress_bar(Some(size));
    let mut checker = PatternChecker::new(seed);
    let start = Instant::now();
    let got = client
        .read_file_to(big.ino, &mut checker, &|n| pb.set_position(n))
        .await;
    pb.finish_and_clear();
    got.op(|| "bench: get".to_string())?;
    if checker.checked() != size {
        bail!(
            "bench: get returned {} bytes, expected {size}",
            checker.checked()
        );
    }
    results.push(Measurement {
        op: "get",
        count: 1,
        bytes_each: size,
        elapsed: start.elapsed(),
    });
    client
        .unlink(dir, b"big")
        .await
        .op(|| "bench: delete big".to_string())?;

    if args.files > 0 {
        for op in [SmallOp::Create, SmallOp::Stat, SmallOp::Delete] {
            let start = Instant::now();
            run_small(client, dir, op, args.files, args.tasks, seed).await?;
            results.push(Measurement {
                op: op.name(),
                count: u64::from(args.files),
                bytes_each: SMALL_FILE as u64,
                elapsed: start.elapsed(),
            });
        }
    }
    Ok(results)
}

#[derive(Clone, Copy, Debug)]
enum SmallOp {
    Create,
    Stat,
    Delete,
}

impl SmallOp {
    fn name(self) -> &'static str {
        match self {
            SmallOp::Create => "create 4KiB",
            SmallOp::Stat => "stat",
            SmallOp::Delete => "delete",
        }
    }
}

/// Run one small-file phase over files `0..files` with `tasks` concurrent workers.
async fn run_small(
    client: &Client,
    dir: InodeId,
    op: SmallOp,
    files: u32,
    tasks: u32,
    seed: u64,
) -> Result<()> {
    let next = Arc::new(AtomicU32::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks.min(files) {
        let (client, next) = (client.clone(), next.clone());
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= files {
                    return Ok::<(), anyhow::Error>(());
                }
                small_op(&client, dir, op, i, seed).await?;
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.context("bench worker panicked")??;
    }
    Ok(())
}

async fn small_op(client: &Client, dir: InodeId, op: SmallOp, i: u32, seed: u64) -> Result<()> {
    let name = format!("f{i:07}");
    let what = || format!("bench: {} {name}", op.name());
    match op {
        SmallOp::Create => {
            let (uid, gid) = caller_ids();
            let a = client
                .create(dir, name.as_bytes(), FileKind::File, 0o644, uid, gid, true)
                .await
                .op(what)?;
            let mut data = vec![0u8; SMALL_FILE];
            fill_pattern(seed ^ u64::from(i), 0, &mut data);
            client
                .write_file_from(a.ino, data.as_slice(), &|_| {})
                .await
                .op(what)?;
        }
        SmallOp::Stat => {
            let a = client.lookup(dir, name.as_bytes()).await.op(what)?;
            if a.size != SMALL_FILE as u64 {
                bail!("bench: {name} has size {}, expected {SMALL_FILE}", a.size);
            }
        }
        SmallOp::Delete => client.unlink(dir, name.as_bytes()).await.op(what)?,
    }
    Ok(())
}

/// Remove whatever a (possibly failed) run left in the bench folder, then the folder.
async fn cleanup(client: &Client, dir: InodeId, dir_name: &str) -> Result<()> {
    let what = || format!("bench: removing /{dir_name}");
    loop {
        let (entries, _) = client.readdir(dir, None, 1000).await.op(what)?;
        if entries.is_empty() {
            break;
        }
        for e in entries {
            client.unlink(dir, &e.name).await.op(what)?;
        }
    }
    client
        .rmdir(InodeId::ROOT, dir_name.as_bytes())
        .await
        .op(what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn pattern_is_a_function_of_offset() {
        let mut whole = vec![0u8; 100];
        fill_pattern(7, 0, &mut whole);
        let mut part = vec![0u8; 13];
        fill_pattern(7, 37, &mut part);
        assert_eq!(&whole[37..50], &part[..]);
        let mut other_seed = vec![0u8; 100];
        fill_pattern(8, 0, &mut other_seed);
        assert_ne!(whole, other_seed);
    }

    #[tokio::test]
    async fn reader_feeds_checker_and_corruption_is_caught() {
        let mut data = Vec::new();
        PatternReader::new(3, 3 * MAX_READ as u64 + 5)
            .read_to_end(&mut data)
            .await
            .expect("read");
        assert_eq!(data.len(), 3 * MAX_READ + 5);

        let mut checker = PatternChecker::new(3);
        checker
            .write_all(&data)
            .await
            .expect("identical data passes");
        assert_eq!(checker.checked(), data.len() as u64);

        data[MAX_READ + 17] ^= 1;
        let mut checker = PatternChecker::new(3);
        let err = checker.write_all(&data).await.expect_err("corruption");
        assert!(
            err.to_string()
                .contains(&format!("offset {}", MAX_READ + 17)),
            "{err}"
        );
    }

    #[test]
    fn table_shows_throughput_and_rates() {
        let text = render(&[
            Measurement {
                op: "put",
                count: 1,
                bytes_each: 1 << 30,
                elapsed: Duration::from_secs(4),
            },
            Measurement {
                op: "stat",
                count: 1000,
                bytes_each: 4096,
                elapsed: Duration::from_millis(500),
            },
        ]);
        assert!(text.contains("256.0 MiB/s"), "{text}");
        assert!(text.contains("2000 ops/s"), "{text}");
    }
}
