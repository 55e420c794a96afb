//! What the scrubber shares with the request handlers: a way to ask for a full pass
//! now (`ScrubStart`) and the record of the pass in progress and the last one
//! (`ScrubStatus`).

use ferrofs_proto::data_msg::{ScrubPass, ScrubReport, SCRUB_CORRUPT_IDS};
use ferrofs_proto::ChunkId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Default)]
struct Passes {
    current: Option<ScrubPass>,
    last: Option<ScrubPass>,
    completed: u64,
    /// Start time handed out by the last `request` not yet begun.
    pending_start: Option<u64>,
}

/// Shared between the scrub loop and the service.
#[derive(Debug)]
pub struct ScrubControl {
    rate: u64,
    requested: AtomicBool,
    wake: Notify,
    passes: Mutex<Passes>,
}

impl ScrubControl {
    pub fn new(rate: u64) -> ScrubControl {
        ScrubControl {
            rate,
            requested: AtomicBool::new(false),
            wake: Notify::new(),
            passes: Mutex::new(Passes::default()),
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    fn passes(&self) -> std::sync::MutexGuard<'_, Passes> {
        // A panic while holding this lock leaves only counters behind; keep going.
        self.passes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask for a full pass from the first chunk now; returns the time it counts as
    /// started (ms since the epoch), so a caller can wait for a `last` pass that
    /// started no earlier.
    pub fn request(&self) -> u64 {
        let at = now_unix_ms();
        {
            let mut p = self.passes();
            p.pending_start = Some(at);
        }
        self.requested.store(true, Ordering::Release);
        self.wake.notify_one();
        at
    }

    /// Taken by the scrub loop between chunks: was a new pass requested?
    pub fn take_request(&self) -> bool {
        self.requested.swap(false, Ordering::AcqRel)
    }

    /// Wait until a pass is requested.
    pub async fn requested(&self) {
        self.wake.notified().await
    }

    /// A pass begins over `chunks_total` chunks. A pass in progress is abandoned.
    pub fn begin(&self, requested: bool, chunks_total: u64) {
        let mut p = self.passes();
        let started = match p.pending_start.take() {
            Some(at) if requested => at,
            _ => now_unix_ms(),
        };
        p.current = Some(ScrubPass {
            requested,
            started_unix_ms: started,
            chunks_total,
            ..ScrubPass::default()
        });
    }

    pub fn checked(&self, bytes: u64) {
        if let Some(c) = self.passes().current.as_mut() {
            c.chunks_checked += 1;
            c.bytes_checked += bytes;
        }
    }

    pub fn corrupt(&self, id: ChunkId) {
        if let Some(c) = self.passes().current.as_mut() {
            c.corrupt += 1;
            if c.corrupt_ids.len() < SCRUB_CORRUPT_IDS {
                c.corrupt_ids.push(id);
            }
        }
    }

    /// The pass in progress reached the last chunk.
    pub fn finish(&self) {
        let mut p = self.passes();
        if let Some(mut done) = p.current.take() {
            done.finished_unix_ms = Some(now_unix_ms());
            p.last = Some(done);
            p.completed += 1;
        }
    }

    pub fn report(&self) -> ScrubReport {
        let p = self.passes();
        ScrubReport {
            rate: self.rate,
            passes: p.completed,
            current: p.current.clone(),
            last: p.last.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_pass_is_recorded_from_start_to_finish() {
        let c = ScrubControl::new(0);
        let at = c.request();
        assert!(c.take_request());
        assert!(!c.take_request(), "a request is taken once");
        c.begin(true, 3);
        c.checked(10);
        c.corrupt(ChunkId(7));
        let r = c.report();
        let cur = r.current.expect("in progress");
        assert_eq!(cur.started_unix_ms, at);
        assert_eq!(
            (cur.chunks_checked, cur.bytes_checked, cur.corrupt),
            (1, 10, 1)
        );
        assert!(r.last.is_none());
        c.finish();
        let r = c.report();
        assert!(r.current.is_none());
        let last = r.last.expect("finished");
        assert!(last.requested && last.finished_unix_ms.is_some());
        assert_eq!(last.corrupt_ids, vec![ChunkId(7)]);
        assert_eq!(r.passes, 1);
    }
}
