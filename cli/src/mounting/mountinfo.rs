//! Reading the mount table (/proc/self/mountinfo) and naming mount points the way it
//! does, without touching the mount itself (a dead FUSE mount answers ENOTCONN).

use anyhow::{Context, Result};
use std::path::{Component, Path, PathBuf};

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of mountinfo: the fields we use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// Unique id of the mount (first field); a new mount on the same path gets a new id.
    pub id: u64,
    /// Where it is mounted (fifth field, octal escapes decoded).
    pub mount_point: PathBuf,
    /// File system type after the ` - ` separator, e.g. `fuse.ferrofs`, `ext4`.
    pub fstype: String,
}

impl MountEntry {
    /// A FUSE mount (`fuse`, `fuse.<subtype>`, `fuseblk`).
    pub fn is_fuse(&self) -> bool {
        self.fstype == "fuse" || self.fstype.starts_with("fuse.") || self.fstype == "fuseblk"
    }
}

/// Parse a mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let mut fields = line.split(' ');
    let id = fields.next()?.parse().ok()?;
    let mount_point = fields.nth(3)?;
    // Optional fields end at a lone "-"; the file system type follows it.
    let fstype = fields.skip_while(|f| *f != "-").nth(1)?;
    Some(MountEntry {
        id,
        mount_point: PathBuf::from(unescape(mount_point)),
        fstype: fstype.to_string(),
    })
}

/// Decode mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4);
        match octal {
            Some(d) if bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)) => {
                let v = u32::from(d[0] - b'0') * 64
                    + u32::from(d[1] - b'0') * 8
                    + u32::from(d[2] - b'0');
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The current mount table.
pub fn read() -> Result<Vec<MountEntry>> {
    let text =
        std::fs::read_to_string(MOUNTINFO).with_context(|| format!("reading {MOUNTINFO}"))?;
    Ok(parse(&text))
}

/// The mounts stacked on `target` (an absolute path from `mount_target`), oldest first.
pub fn mounts_at(table: &[MountEntry], target: &Path) -> Vec<MountEntry> {
    table
        .iter()
        .filter(|e| e.mount_point == target)
        .cloned()
        .collect()
}

/// The absolute, clean path the mount table would show for `path`, found without
/// touching `path` itself: the parent is resolved, the last name kept.
pub fn mount_target(path: &Path) -> Result<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("reading the current folder")?
            .join(path)
    };
    let mut clean = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other.as_os_str()),
        }
    }
    Ok(match (clean.parent(), clean.file_name()) {
        (Some(parent), Some(name)) => match parent.canonicalize() {
            Ok(p) => p.join(name),
            Err(_) => clean,
        },
        _ => clean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
36 22 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw
40 22 0:44 / /tmp/f rw,nosuid,nodev shared:5 master:2 - fuse.ferrofs ferrofs rw,user_id=0
41 40 0:45 / /tmp/f rw - fuse ferrofs rw
garbage line
";

    #[test]
    fn lines_parse_with_optional_fields_and_escapes() {
        let t = parse(SAMPLE);
        assert_eq!(t.len(), 4, "the garbage line is skipped");
        assert_eq!(t[0].mount_point, PathBuf::from("/"));
        assert_eq!(t[0].fstype, "ext4");
        assert!(!t[0].is_fuse());
        assert_eq!(t[1].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(t[2].id, 40);
        assert_eq!(t[2].fstype, "fuse.ferrofs");
        assert!(t[2].is_fuse() && t[3].is_fuse());
        let at = mounts_at(&t, Path::new("/tmp/f"));
        assert_eq!(at.iter().map(|e| e.id).collect::<Vec<_>>(), vec![40, 41]);
        assert!(mounts_at(&t, Path::new("/tmp")).is_empty());
    }

    #[test]
    fn escapes_decode_and_bad_ones_stay() {
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("tail\\04"), "tail\\04");
        assert_eq!(unescape("\\777x"), "?x");
    }

    #[test]
    fn targets_are_absolute_and_clean() {
        let t = mount_target(Path::new("/tmp/./x/../mnt")).expect("target");
        assert!(t.is_absolute());
        assert!(t.ends_with("mnt"));
        assert!(!t.to_string_lossy().contains(".."));
        let rel = mount_target(Path::new("some-dir")).expect("target");
        assert!(rel.is_absolute() && rel.ends_with("some-dir"));
    }

    #[test]
    fn this_process_sees_the_root_mount() {
        let table = read().expect("mountinfo");
        assert!(!mounts_at(&table, Path::new("/")).is_empty());
    }
}
