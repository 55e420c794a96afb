//! DIR/pids: the processes of a running local cluster, one `name pid` per line.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const PIDS_FILE: &str = "pids";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidEntry {
    pub name: String,
    pub pid: i32,
}

pub fn pids_path(dir: &Path) -> PathBuf {
    dir.join(PIDS_FILE)
}

/// Parse `name pid` lines; blank lines and `#` comments are skipped.
pub fn parse(text: &str) -> Result<Vec<PidEntry>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(pid), None) = (parts.next(), parts.next(), parts.next()) else {
            bail!("line {}: expected `name pid`, found {line:?}", i + 1);
        };
        let pid: i32 = pid
            .parse()
            .with_context(|| format!("line {}: bad pid {pid:?}", i + 1))?;
        if pid <= 0 {
            bail!("line {}: pid {pid} is not a process id", i + 1);
        }
        out.push(PidEntry {
            name: name.to_string(),
            pid,
        });
    }
    Ok(out)
}

pub fn format(entries: &[PidEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{} {}\n", e.name, e.pid))
        .collect()
}

/// The entries of DIR/pids, or `None` if there is no such file.
pub fn read(dir: &Path) -> Result<Option<Vec<PidEntry>>> {
    let path = pids_path(dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text)
            .with_context(|| format!("parsing {}", path.display()))
            .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Write DIR/pids atomically.
pub fn write(dir: &Path, entries: &[PidEntry]) -> Result<()> {
    let path = pids_path(dir);
    let tmp = dir.join(format!("{PIDS_FILE}.tmp"));
    std::fs::write(&tmp, format(entries)).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

/// Remove DIR/pids; a missing file is fine.
pub fn remove(dir: &Path) -> Result<()> {
    let path = pids_path(dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_comments() {
        let entries = vec![
            PidEntry {
                name: "meta-1".into(),
                pid: 100,
            },
            PidEntry {
                name: "data-1".into(),
                pid: 2001,
            },
        ];
        let text = format(&entries);
        assert_eq!(text, "meta-1 100\ndata-1 2001\n");
        assert_eq!(parse(&text).expect("parse"), entries);
        assert_eq!(
            parse("# header\n\n  meta-1   100  \n").expect("parse"),
            entries[..1].to_vec()
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse("meta-1\n").is_err());
        assert!(parse("meta-1 12 extra\n").is_err());
        assert!(parse("meta-1 abc\n").is_err());
        assert!(parse("meta-1 0\n").is_err());
        assert!(parse("meta-1 -5\n").is_err());
        let err = parse("ok 1\nbad\n").expect_err("bad line").to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()).expect("read"), None);
        let entries = vec![PidEntry {
            name: "meta-1".into(),
            pid: 42,
        }];
        write(dir.path(), &entries).expect("write");
        assert_eq!(read(dir.path()).expect("read"), Some(entries));
        remove(dir.path()).expect("remove");
        remove(dir.path()).expect("remove twice");
        assert_eq!(read(dir.path()).expect("read"), None);
    }
}
