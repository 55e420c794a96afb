//! The on-disk format of a metadata server's data folder. Records (Raft log entries,
//! namespace tables, snapshots) are postcard-encoded Rust types without a version of
//! their own, so a build reads only the format it writes. A folder of another format
//! is refused when the server starts, with a message saying what to do, instead of
//! failing to decode its records later (or decoding them wrongly).
//!
//! `DIR/FORMAT` holds one line, `ferrofs-metadata-format N`, written (synced) when
//! the folder is first used. Format history:
//! 1. Before this file existed (any folder with a Raft log and no `FORMAT`).
//! 2. Chunks carry small files' bytes inline (`ChunkRef::inline`).

use std::io::{self, Write};
use std::path::Path;

/// The format this build reads and writes; also the version of snapshot files.
pub const FORMAT_VERSION: u32 = 2;
const FILE_NAME: &str = "FORMAT";
const PREFIX: &str = "ferrofs-metadata-format ";

fn refused(dir: &Path, found: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{} holds metadata in {found}; this build reads format {FORMAT_VERSION} only \
             (no migration exists yet): run the build that wrote it, or start a new \
             cluster in empty folders",
            dir.display()
        ),
    )
}

/// Check that `dir` is in this build's format, labelling a new folder.
pub fn check_or_init(dir: &Path) -> io::Result<()> {
    let path = dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let version = text
                .trim()
                .strip_prefix(PREFIX)
                .and_then(|v| v.parse::<u32>().ok());
            match version {
                Some(FORMAT_VERSION) => Ok(()),
                Some(v) => Err(refused(dir, &format!("format {v}"))),
                None => Err(refused(dir, &format!("an unreadable format ({path:?})"))),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dir.join("raft-log").exists() || dir.join("sm").exists() {
                return Err(refused(dir, "format 1 (written before format labels)"));
            }
            write_label(dir)
        }
        Err(e) => Err(e),
    }
}

/// Write the label atomically: a temporary file, synced, renamed, the folder synced.
fn write_label(dir: &Path) -> io::Result<()> {
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{PREFIX}{FORMAT_VERSION}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(FILE_NAME))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_folder_is_labelled_and_then_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        check_or_init(dir.path()).expect("init");
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).expect("label");
        assert_eq!(text, format!("{PREFIX}{FORMAT_VERSION}\n"));
        check_or_init(dir.path()).expect("same format again");
    }

    #[test]
    fn other_formats_are_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE_NAME), format!("{PREFIX}1\n")).expect("write");
        let e = check_or_init(dir.path()).expect_err("format 1");
        assert!(e.to_string().contains("format 1"), "{e}");
        assert!(e.to_string().contains("new cluster"), "{e}");

        std::fs::write(dir.path().join(FILE_NAME), "garbage").expect("write");
        assert!(check_or_init(dir.path()).is_err());

        // A folder with data but no label predates labels.
        let old = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(old.path().join("raft-log")).expect("mkdir");
        let e = check_or_init(old.path()).expect_err("unlabelled data");
        assert!(e.to_string().contains("before format labels"), "{e}");
        assert!(!old.path().join(FILE_NAME).exists(), "nothing written");
    }
}
