//! Issue 6, acceptance 4, the other half: metadata servers started with the hidden
//! `--test-ack-before-commit` (through its environment variable, which `ferrofs dev up`
//! passes on) answer writes before they commit; the same workload and faults as
//! tests/tests/history.rs then give a history the checker rejects. Own test binary: the
//! environment variable must not reach other tests' clusters.

use ferrofs_tests::history::check;
use ferrofs_tests::history::local::record_with_faults;
use ferrofs_tests::history::Verdict;
use ferrofs_tests::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checker_rejects_a_server_that_acknowledges_before_commit() -> anyhow::Result<()> {
    std::env::set_var("FERROFS_TEST_ACK_BEFORE_COMMIT", "true");
    let mut cluster = TestCluster::start(3, 3)?;
    let events = record_with_faults(&mut cluster).await?;
    let verdict = check(&events, 2_000_000);
    eprintln!("verdict: {verdict:?}");
    assert!(
        matches!(verdict, Verdict::NotLinearizable(_)),
        "the checker accepted a server that acknowledges before commit: {verdict:?}"
    );
    Ok(())
}
