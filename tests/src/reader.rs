//! A background reader that checks files against their blake3 again and again while a test
//! moves, repairs or kills things underneath, counting reads and full passes.

use crate::data::hash;
use crate::files::get_bytes;
use ferrofs_client::Client;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Files to check: path and the blake3 of the bytes it must hold.
pub type Files = Vec<(String, blake3::Hash)>;

pub struct VerifyingReader {
    /// Files read so far (right or wrong).
    pub reads: Arc<AtomicU64>,
    /// Full passes over every file so far.
    pub passes: Arc<AtomicU64>,
    handle: JoinHandle<Vec<String>>,
}

impl VerifyingReader {
    /// Read every file until `stop` is set; a wrong or failed read is recorded, not fatal.
    pub fn spawn(client: Client, files: Files, stop: Arc<AtomicBool>) -> VerifyingReader {
        let reads = Arc::new(AtomicU64::new(0));
        let passes = Arc::new(AtomicU64::new(0));
        let (r, p) = (reads.clone(), passes.clone());
        let handle = tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for (path, want) in &files {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match get_bytes(&client, path).await {
                        Ok(bytes) if hash(&bytes) == *want => {}
                        Ok(_) => failures.push(format!("{path}: wrong bytes")),
                        Err(e) => failures.push(format!("{path}: {e:#}")),
                    }
                    r.fetch_add(1, Ordering::Relaxed);
                }
                p.fetch_add(1, Ordering::Relaxed);
            }
            failures
        });
        VerifyingReader {
            reads,
            passes,
            handle,
        }
    }

    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    /// Wait for the reader to see `stop` and return its failures (at most the first 5 are
    /// worth printing).
    pub async fn failures(self) -> anyhow::Result<Vec<String>> {
        Ok(self.handle.await?)
    }
}
