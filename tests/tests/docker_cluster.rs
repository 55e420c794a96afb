//! Issue 6, acceptance 1: the compose cluster comes up, files written through the client
//! container's FUSE mount read back intact (also through the CLI), and `ferrofs status`
//! shows 3 voters and 4 healthy data servers. Data survives `down` and `up`.
//! Needs docker and the ferrofs:local image (see tests/src/docker.rs); skips otherwise.

use ferrofs_tests::data::{content, hash};
use ferrofs_tests::docker::{self, counts, Compose, CLIENT, MNT};
use std::time::Duration;

#[test]
fn compose_cluster_serves_the_mount_and_survives_down_up() {
    if !docker::usable("compose_cluster_serves_the_mount_and_survives_down_up") {
        return;
    }
    let mut c = Compose::up("accept1").expect("compose up");

    let status = c.status().expect("status");
    assert_eq!(counts(&status), (3, 4), "status: {status}");
    assert_eq!(
        status["voters"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );

    // Files of several sizes, one spanning chunks, through the mount.
    c.exec_ok(CLIENT, &["mkdir", "-p", &format!("{MNT}/dir")])
        .expect("mkdir through the mount");
    let files: Vec<(String, Vec<u8>)> = [(0u64, 0usize), (1, 1), (2, 100_000), (3, 9_000_000)]
        .iter()
        .map(|&(seed, len)| (format!("dir/f{seed}"), content(seed, len)))
        .collect();
    for (name, bytes) in &files {
        c.write_via_mount(name, bytes)
            .expect("write through the mount");
    }
    for (name, bytes) in &files {
        let back = c.read_via_mount(name).expect("read through the mount");
        assert_eq!(
            hash(&back),
            hash(bytes),
            "{name} read back through the mount"
        );
        // The CLI (a separate client) sees the same bytes.
        let out = c
            .exec(CLIENT, &["ferrofs", "get", &format!("/{name}"), "-"])
            .expect("ferrofs get");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            hash(&out.stdout),
            hash(bytes),
            "{name} through `ferrofs get`"
        );
    }
    let listing = c
        .exec_ok(CLIENT, &["ls", &format!("{MNT}/dir")])
        .expect("ls");
    assert_eq!(listing.lines().count(), files.len(), "{listing}");

    // down (volumes kept) and up: everything is still there.
    c.compose(&["down", "-t", "10"]).expect("compose down");
    c.compose(&["up", "-d", "--no-build"])
        .expect("compose up again");
    c.forget_ids();
    c.wait_healthy(Duration::from_secs(120))
        .expect("healthy after down/up");
    for (name, bytes) in &files {
        let back = c.read_via_mount(name).expect("read after down/up");
        assert_eq!(hash(&back), hash(bytes), "{name} after down/up");
    }
}
