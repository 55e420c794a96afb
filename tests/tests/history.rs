//! Issue 6, acceptance 4 on local processes: clients run create/mkdir/rename/unlink/
//! write-and-close with their start and end times recorded while the metadata leader is
//! paused for 3 x the election timeout and then killed -9 and restarted; the history is
//! linearizable against the namespace model. (tests/tests/history_broken.rs shows the
//! checker failing a server that acknowledges before commit.)

use ferrofs_tests::history::local::record_with_faults;
use ferrofs_tests::history::{check, Outcome, Verdict};
use ferrofs_tests::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_through_leader_pause_and_kill_is_linearizable() -> anyhow::Result<()> {
    let mut cluster = TestCluster::start(3, 3)?;
    let events = record_with_faults(&mut cluster).await?;
    let known = events
        .iter()
        .filter(|e| e.outcome != Outcome::Unknown)
        .count();
    eprintln!("{} operations, {known} with a known outcome", events.len());
    assert!(known >= 60, "too few operations completed: {known}");
    let verdict = check(&events, 2_000_000);
    assert_eq!(
        verdict,
        Verdict::Linearizable,
        "{} operations",
        events.len()
    );
    Ok(())
}
