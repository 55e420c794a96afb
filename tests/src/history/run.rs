//! Clients that run a random mix of namespace operations in one directory and record
//! each operation's start, end and outcome. Each client has its own names (where it also
//! writes, reads and renames) and shares a few names with the others (creates, mkdirs and
//! unlinks race on those), so histories stay small enough to check.

use super::model::{Op, Outcome};
use super::Event;
use ferrofs_client::{Client, ClientError, FileKind, FsError, InodeId, RenameFlags};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A shared history being recorded.
#[derive(Clone)]
pub struct Recorder {
    t0: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            t0: Instant::now(),
            events: Arc::default(),
        }
    }
}

impl Recorder {
    fn now(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

/// Run one client's operations in directory `dir` until `stop` is set or `max_ops` ran.
/// Each operation gets at most `op_timeout`; past it the outcome is unknown.
pub async fn client_loop(
    client: Client,
    id: usize,
    dir: InodeId,
    rec: Recorder,
    stop: Arc<AtomicBool>,
    max_ops: usize,
    op_timeout: Duration,
) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(id as u64 * 7919 + 1);
    let own = |k: u64| format!("c{id}-f{k}");
    let shared = |k: u64| format!("s-f{k}");
    let mut next_value = (id as u64) << 32;
    let mut dirs = 0u64;
    for _ in 0..max_ops {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let op = match rng.random_range(0..10) {
            0 => Op::Create(shared(rng.random_range(0..2))),
            1 => Op::Unlink(shared(rng.random_range(0..2))),
            2 => {
                dirs += 1;
                if rng.random_bool(0.5) {
                    Op::Mkdir(format!("s-d{}", rng.random_range(0..2)))
                } else {
                    Op::Mkdir(format!("c{id}-d{dirs}"))
                }
            }
            3 => Op::Create(own(rng.random_range(0..3))),
            4 => Op::Unlink(own(rng.random_range(0..3))),
            5 => Op::Rename(own(rng.random_range(0..3)), own(rng.random_range(0..3))),
            6 | 7 => {
                next_value += 1;
                Op::Write(own(rng.random_range(0..3)), next_value)
            }
            _ => Op::Read(own(rng.random_range(0..3))),
        };
        let start = rec.now();
        let result = tokio::time::timeout(op_timeout, run_op(&client, dir, &op)).await;
        let outcome = result.unwrap_or(Outcome::Unknown);
        let end = (outcome != Outcome::Unknown).then(|| rec.now());
        if let Ok(mut events) = rec.events.lock() {
            events.push(Event {
                client: id,
                op,
                outcome,
                start,
                end,
            });
        }
    }
}

/// Run one operation; errors other than "exists" and "not found" are unknown outcomes.
async fn run_op(c: &Client, dir: InodeId, op: &Op) -> Outcome {
    let r: Result<Outcome, ClientError> = async {
        match op {
            Op::Create(n) => c
                .create(dir, n.as_bytes(), FileKind::File, 0o644, 0, 0, true)
                .await
                .map(|_| Outcome::Ok),
            Op::Mkdir(n) => c
                .mkdir(dir, n.as_bytes(), 0o755, 0, 0)
                .await
                .map(|_| Outcome::Ok),
            Op::Rename(a, b) => c
                .rename(dir, a.as_bytes(), dir, b.as_bytes(), RenameFlags::default())
                .await
                .map(|_| Outcome::Ok),
            Op::Unlink(n) => c.unlink(dir, n.as_bytes()).await.map(|_| Outcome::Ok),
            Op::Write(n, v) => {
                let attr = c.lookup(dir, n.as_bytes()).await?;
                let bytes = v.to_le_bytes();
                c.write_file_from(attr.ino, &bytes[..], &|_| {})
                    .await
                    .map(|_| Outcome::Ok)
            }
            Op::Read(n) => {
                let attr = c.lookup(dir, n.as_bytes()).await?;
                let mut out = Vec::new();
                c.read_file_to(attr.ino, &mut out, &|_| {}).await?;
                Ok(value_of(&out))
            }
        }
    }
    .await;
    match r {
        Ok(o) => o,
        Err(e) => match e.fs() {
            Some(FsError::Exists) => Outcome::Exists,
            Some(FsError::NotFound) => Outcome::NotFound,
            _ => Outcome::Unknown,
        },
    }
}

/// A file's content as a model value: empty is 0, else the 8 bytes written.
fn value_of(bytes: &[u8]) -> Outcome {
    match <[u8; 8]>::try_from(bytes) {
        Ok(b) => Outcome::Value(u64::from_le_bytes(b)),
        Err(_) if bytes.is_empty() => Outcome::Value(0),
        // Content no write produced: surely not linearizable.
        Err(_) => Outcome::Value(u64::MAX),
    }
}
