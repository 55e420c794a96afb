//! A scan of lookups answered from one directory listing (`src/dir_scan.rs`): the
//! listing answers, another mount's change shows within the entry TTL, and a change
//! made through the scanning mount itself shows at once.

mod common;

use common::{errno, wait_for, Mounted};
use ferrofs_fuse::MountOptions;
use std::path::Path;
use std::time::{Duration, Instant};

const FILES: usize = 40;

fn stat_all(root: &Path) -> anyhow::Result<()> {
    for i in 0..FILES {
        std::fs::metadata(root.join(format!("d/f{i:02}")))?;
    }
    Ok(())
}

/// Until `scanner` answers from a listing: scan the directory, then have `writer`
/// create a new name that `scanner` cannot see yet. Returns that name.
fn until_listing_answers(writer: &Path, scanner: &Path, round: &mut u32) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        stat_all(scanner)?;
        *round += 1;
        let name = format!("d/probe{round}");
        std::fs::write(writer.join(&name), b"p")?;
        let seen = std::fs::metadata(scanner.join(&name));
        if seen.err().and_then(|e| e.raw_os_error()) == Some(libc::ENOENT) {
            return Ok(name);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the scanning mount never answered from a listing"
        );
    }
}

#[test]
fn a_scan_is_answered_from_a_listing_that_never_hides_own_changes() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    let ttl = Duration::from_secs(2);
    let opts = MountOptions {
        attr_ttl: ttl,
        entry_ttl: ttl,
        ..MountOptions::default()
    };
    let b = m.mount_again(opts)?;
    let (a_root, b_root) = (m.root().to_path_buf(), b.root().to_path_buf());
    std::fs::create_dir(a_root.join("d"))?;
    for i in 0..FILES {
        std::fs::write(a_root.join(format!("d/f{i:02}")), b"x")?;
    }
    let mut round = 0;

    // Another mount's new file shows on B within the entry TTL.
    let probe = until_listing_answers(&a_root, &b_root, &mut round)?;
    eprintln!("B answered from a listing after {round} scan(s)");
    wait_for(
        "another mount's file to show within the entry TTL",
        ttl * 3,
        || std::fs::metadata(b_root.join(&probe)).is_ok(),
    )?;

    // A change made through B drops B's listing: what A made before it shows at once.
    let probe = until_listing_answers(&a_root, &b_root, &mut round)?;
    std::fs::create_dir(b_root.join("d/own"))?;
    std::fs::metadata(b_root.join(&probe))?;

    // A file written through B counts as a change too.
    let probe = until_listing_answers(&a_root, &b_root, &mut round)?;
    std::fs::write(b_root.join("d/f00"), b"longer")?;
    std::fs::metadata(b_root.join(&probe))?;
    assert_eq!(std::fs::metadata(b_root.join("d/f00"))?.len(), 6);

    // B's own unlink is never undone by its listing.
    until_listing_answers(&a_root, &b_root, &mut round)?;
    std::fs::remove_file(b_root.join("d/f01"))?;
    assert_eq!(errno(std::fs::metadata(b_root.join("d/f01"))), libc::ENOENT);
    Ok(())
}
