//! The reconciliation loop on the metadata leader: every second it compares where chunks
//! are with where they should be and runs the tasks that close the gap — re-replication
//! (fewest live copies first), removal of surplus copies once the others are verified, and
//! garbage collection of unreferenced chunks after a grace period, and rebalancing (moves
//! of chunks whose ring target set changed, after every repair, throttled per server by
//! `throttle` and stopped while paused). Planning is pure (`plan`); `execute` talks to
//! data servers and commits changes through Raft.
//!
//! Limits: the planner scans every file's chunk list each round (fine for the tens of
//! thousands of chunks of a test cluster; a large namespace needs an incremental cursor),
//! and the garbage grace period counts from when this leader first saw the chunk on the
//! garbage list (a new leader starts the clock again, which only delays deletion).

mod execute;
pub mod plan;
#[cfg(test)]
mod plan_rebalance_tests;
#[cfg(test)]
mod plan_stray_tests;
mod stats;
mod strays;
mod throttle;

pub use execute::{Executor, TaskError};
pub use stats::RepairStats;
pub use strays::Strays;

use crate::namespace;
use crate::server::MetaService;
use ferrofs_proto::endpoint::Connector;
use ferrofs_proto::ids::{ChunkId, NodeId};
use ferrofs_proto::meta_msg::RebalanceSettings;
use plan::{GarbageChunk, Snapshot, Task};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Copies, moves and surplus removals running at once.
pub const MAX_IN_FLIGHT: usize = 4;
/// Garbage collections running at once. They move no data (a delete and a commit per
/// copy), so they get their own, larger pool: sharing the copies' four slots, deleting
/// 5,000 small files left the cluster collecting for many minutes, rescanning every
/// 100 ms all the while.
pub const MAX_GC_IN_FLIGHT: usize = 16;
/// Time between rounds when nothing is waiting.
const TICK: Duration = Duration::from_secs(1);
/// Time between rounds while tasks wait for a free slot.
const BUSY_TICK: Duration = Duration::from_millis(100);
/// Bounds of one round's scan.
const MAX_LIVE_CHUNKS: usize = 4_000_000;
const MAX_GARBAGE: usize = 100_000;

/// One running task: its chunk and, for a copy, the live copies it had (its priority).
type Running = Arc<Mutex<Vec<(ChunkId, Option<u32>)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct LoopState {
    exec: Executor,
    /// When this leader first saw each garbage chunk.
    first_seen: HashMap<ChunkId, Instant>,
    /// Sizes of chunks seen live, for the bytes-reclaimed count.
    lens: HashMap<ChunkId, u64>,
    running: Running,
    permits: Arc<Semaphore>,
    gc_permits: Arc<Semaphore>,
    throttle: throttle::Throttle,
}

/// Run forever; works only while this node is the leader.
pub async fn run(service: Arc<MetaService>, connector: Connector) {
    let stats = service.repair.clone();
    let mut st = LoopState {
        exec: Executor {
            service,
            connector,
            stats,
        },
        first_seen: HashMap::new(),
        lens: HashMap::new(),
        running: Arc::new(Mutex::new(Vec::new())),
        permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        gc_permits: Arc::new(Semaphore::new(MAX_GC_IN_FLIGHT)),
        throttle: throttle::Throttle::default(),
    };
    loop {
        let busy = if st.exec.service.raft.as_leader().is_ok() {
            round(&mut st).await
        } else {
            st.first_seen.clear();
            st.exec.service.strays.clear();
            false
        };
        tokio::time::sleep(if busy { BUSY_TICK } else { TICK }).await;
    }
}

/// One round: snapshot, plan, dispatch. True if tasks are waiting for a slot.
async fn round(st: &mut LoopState) -> bool {
    let service = st.exec.service.clone();
    // Before reading the state: a task that ends after this point is still skipped, and
    // one that ended before it has its commit applied already, so the read sees it (taken
    // after the read, a task ending in between would be planned again from stale copies).
    let busy: HashSet<ChunkId> = lock(&st.running).iter().map(|(c, _)| *c).collect();
    if let Err(e) = service.linearize().await {
        tracing::debug!(error = %e, "reconcile: not confirmed as leader");
        return false;
    }
    let servers = match service.data_servers().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "reconcile: reading the data servers");
            return false;
        }
    };
    let read = service
        .sm
        .read(|v| {
            let live = namespace::live_chunks(v, MAX_LIVE_CHUNKS)?;
            let garbage = namespace::garbage(v, None, MAX_GARBAGE)?;
            let rebalance = namespace::rebalance_settings(v)?;
            Ok::<_, namespace::StoreError>((live, garbage, rebalance))
        })
        .await;
    let (chunks, garbage, rebalance) = match read {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "reconcile: reading chunks");
            return false;
        }
        Err(e) => {
            tracing::warn!(error = %e, "reconcile: reading chunks");
            return false;
        }
    };
    let now = Instant::now();
    let on_list: HashSet<ChunkId> = garbage.iter().map(|(id, _)| *id).collect();
    st.first_seen.retain(|id, _| on_list.contains(id));
    for c in &chunks {
        st.lens.insert(c.id, c.len);
    }
    let live: HashSet<ChunkId> = chunks.iter().map(|c| c.id).collect();
    let mut locations: BTreeMap<NodeId, u64> = BTreeMap::new();
    for s in chunks.iter().flat_map(|c| c.servers.iter()) {
        *locations.entry(*s).or_default() += 1;
    }
    st.lens
        .retain(|id, _| live.contains(id) || on_list.contains(id));
    let grace = service.settings.gc_grace;
    let garbage = garbage
        .into_iter()
        .map(|(id, servers)| {
            let first = *st.first_seen.entry(id).or_insert(now);
            GarbageChunk {
                id,
                servers,
                ripe: now.saturating_duration_since(first) >= grace,
            }
        })
        .collect();
    let strays = current_strays(&service.strays, &chunks);
    let snapshot = Snapshot {
        replication: service.settings.replication as usize,
        vnodes_per_weight: service.settings.vnodes_per_weight,
        servers,
        chunks,
        garbage,
        busy,
        strays,
    };
    let (tasks, summary) = plan::plan(&snapshot);
    st.exec
        .stats
        .set_misplaced(summary.misplaced, summary.misplaced_bytes, &locations);
    let waiting = dispatch(st, tasks, rebalance);
    let in_flight = lock(&st.running).len() as u64;
    st.exec.stats.set_pending(
        in_flight,
        summary.garbage_pending,
        summary.under_replicated,
        summary.under_replicated_bytes,
    );
    waiting || in_flight > 0
}

/// The reported stray copies still stray: a pair whose chunk went or whose server is
/// listed now is forgotten.
fn current_strays(
    strays: &Strays,
    chunks: &[namespace::LiveChunk],
) -> HashMap<ChunkId, Vec<NodeId>> {
    let mut reported = strays.snapshot();
    if reported.is_empty() {
        return reported;
    }
    let listed: HashMap<ChunkId, &[NodeId]> = chunks
        .iter()
        .map(|c| (c.id, c.servers.as_slice()))
        .collect();
    for (chunk, servers) in reported.iter_mut() {
        // No longer live, or listed on this server since: nothing to adopt.
        let holders = listed.get(chunk);
        servers.retain(|server| {
            let moot = holders.is_none_or(|h| h.contains(server));
            if moot {
                strays.forget(*chunk, *server);
            }
            !moot
        });
    }
    reported.retain(|_, servers| !servers.is_empty());
    reported
}

/// Start tasks in plan order while slots are free. A copy does not start while a copy of
/// a chunk with fewer live copies still runs, so the most endangered chunks finish first.
/// Rebalance moves start only when no repair is planned, not while paused, and within
/// the throttle of both servers. True if some task had to wait.
fn dispatch(st: &mut LoopState, tasks: Vec<Task>, rebalance: RebalanceSettings) -> bool {
    // Garbage collection and record keeping move no data: they have their own slots.
    let (collects, tasks): (Vec<Task>, Vec<Task>) = tasks
        .into_iter()
        .partition(|t| matches!(t, Task::Collect { .. } | Task::Forget { .. }));
    let data_waiting = dispatch_data_tasks(st, tasks, rebalance);
    let mut gc_waiting = false;
    for task in collects {
        let Ok(permit) = st.gc_permits.clone().try_acquire_owned() else {
            gc_waiting = true;
            break;
        };
        start(st, task, None, permit);
    }
    data_waiting || gc_waiting
}

/// `dispatch` for every task but garbage collection.
fn dispatch_data_tasks(st: &mut LoopState, tasks: Vec<Task>, rebalance: RebalanceSettings) -> bool {
    let repairs_planned = tasks.iter().any(|t| matches!(t, Task::Copy { .. }));
    let rate = u64::from(rebalance.rate_mib_per_sec).saturating_mul(1 << 20);
    let now = Instant::now();
    let mut waiting = false;
    for task in tasks {
        if let Task::Move {
            source,
            target,
            len,
            ..
        } = &task
        {
            if repairs_planned || rebalance.paused {
                continue;
            }
            if st.permits.available_permits() == 0 {
                return true;
            }
            if !st.throttle.try_take(source.id, target.id, *len, rate, now) {
                waiting = true;
                continue;
            }
        }
        let live = match &task {
            Task::Copy { live, .. } => Some(*live),
            _ => None,
        };
        if let Some(live) = live {
            let lower_running = lock(&st.running)
                .iter()
                .any(|(_, l)| l.is_some_and(|l| l < live));
            if lower_running {
                return true;
            }
        }
        let Ok(permit) = st.permits.clone().try_acquire_owned() else {
            return true;
        };
        start(st, task, live, permit);
    }
    waiting
}

/// Run `task` (a copy of a chunk with `live` copies, or another task) holding `permit`.
fn start(
    st: &mut LoopState,
    task: Task,
    live: Option<u32>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let chunk = task.chunk();
    lock(&st.running).push((chunk, live));
    let (exec, running) = (st.exec.clone(), st.running.clone());
    let len = st.lens.get(&chunk).copied();
    tokio::spawn(async move {
        if let Err(e) = exec.run(task, len).await {
            tracing::warn!(%chunk, error = %e, "reconcile task failed; retried next round");
        }
        let mut r = lock(&running);
        if let Some(i) = r.iter().position(|(c, l)| *c == chunk && *l == live) {
            r.swap_remove(i);
        }
        drop(permit);
    });
}
