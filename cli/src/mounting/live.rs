//! Waiting for a mount started by another process to go live.

use super::check::top_mount;
use super::mountinfo;
use crate::dev::processes::log_tail;
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Duration;
use tokio::process::Child;
use tokio::time::Instant;

const POLL: Duration = Duration::from_millis(50);
/// Lines of the mount process's log shown when it fails.
const TAIL_LINES: usize = 20;

/// Poll until a live FUSE mount sits on top of `target`: listed in the mount table and
/// answering statfs (a dead mount left by a killed process answers ENOTCONN; mount ids
/// are reused, so they cannot tell an old mount from a new one). Fails, with the end of
/// `log`, if `child` exits first or `timeout` passes.
pub async fn wait_live(
    target: &Path,
    child: &mut Child,
    log: &Path,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let table = mountinfo::read()?;
        if let Some(top) = top_mount(&table, target) {
            if top.is_fuse() && nix::sys::statfs::statfs(target).is_ok() {
                return Ok(());
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the mount process exited ({status}) before {} was mounted; last lines of {}:\n{}",
                target.display(),
                log.display(),
                shown_tail(log)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "{} is not mounted after {}; last lines of {}:\n{}",
                target.display(),
                humantime::format_duration(timeout),
                log.display(),
                shown_tail(log)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn shown_tail(log: &Path) -> String {
    let tail = log_tail(log, TAIL_LINES);
    if tail.trim().is_empty() {
        "(the log is empty)".to_string()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_child_that_exits_early_is_reported_with_its_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        std::fs::write(&log, "starting\nboom: no cluster\n").expect("write");
        let mut child = tokio::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let err = wait_live(dir.path(), &mut child, &log, Duration::from_secs(20))
            .await
            .expect_err("never mounted");
        let text = err.to_string();
        assert!(
            text.contains("exited") && text.contains("boom: no cluster"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn nothing_mounted_times_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = tokio::process::Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .expect("spawn sleep");
        let err = wait_live(
            dir.path(),
            &mut child,
            &dir.path().join("missing-log"),
            Duration::from_millis(200),
        )
        .await
        .expect_err("times out");
        let text = err.to_string();
        assert!(
            text.contains("is not mounted after") && text.contains("(the log is empty)"),
            "{text}"
        );
    }
}
