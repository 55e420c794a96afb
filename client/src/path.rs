//! Absolute "/"-separated paths: splitting and validation (pure), and resolution
//! component by component through `lookup`, following symbolic links in the middle
//! of a path (at most `MAX_SYMLINK_HOPS`).

use crate::client::Client;
use crate::error::ClientError;
use ferrofs_proto::attr::{FileAttr, FileKind};
use ferrofs_proto::limits::{MAX_NAME_BYTES, MAX_PATH_BYTES};
use ferrofs_proto::{FsError, InodeId};
use std::collections::VecDeque;

/// Symbolic links followed while resolving one path before giving up (as Linux).
pub const MAX_SYMLINK_HOPS: u32 = 40;

/// Check one directory entry name: not empty, at most 255 bytes, no '/' or NUL.
pub(crate) fn check_name(op: &'static str, name: &[u8]) -> Result<(), ClientError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(ClientError::fs_err(op, FsError::NameTooLong));
    }
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(ClientError::fs_err(
            op,
            FsError::Invalid("bad entry name".into()),
        ));
    }
    Ok(())
}

/// Split bytes on '/', dropping empty components, checking every limit.
fn split_bytes<'a>(path: &'a [u8], shown: &str) -> Result<Vec<&'a [u8]>, ClientError> {
    let invalid = |reason| ClientError::InvalidPath {
        path: shown.to_string(),
        reason,
    };
    if path.len() > MAX_PATH_BYTES {
        return Err(ClientError::fs_err("resolve", FsError::NameTooLong));
    }
    if path.contains(&0) {
        return Err(invalid("contains a NUL byte"));
    }
    let parts: Vec<&[u8]> = path
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    if parts.iter().any(|c| c.len() > MAX_NAME_BYTES) {
        return Err(ClientError::fs_err("resolve", FsError::NameTooLong));
    }
    Ok(parts)
}

/// The components of an absolute path ("/a//b/" -> ["a", "b"]); "." and ".." are
/// kept for the resolver. Errors for relative paths, NUL bytes and over-long names.
pub fn split_path(path: &str) -> Result<Vec<&[u8]>, ClientError> {
    if !path.starts_with('/') {
        return Err(ClientError::InvalidPath {
            path: path.to_string(),
            reason: "not absolute",
        });
    }
    split_bytes(path.as_bytes(), path)
}

/// The parent's components and the final name of a path that must name an entry.
fn split_parent(path: &str) -> Result<(Vec<&[u8]>, &[u8]), ClientError> {
    let mut parts = split_path(path)?;
    match parts.pop() {
        Some(name) if name != b"." && name != b".." => Ok((parts, name)),
        _ => Err(ClientError::InvalidPath {
            path: path.to_string(),
            reason: "names no entry",
        }),
    }
}

impl Client {
    /// Attributes of the entry a path names. Symbolic links in the middle are
    /// followed; a final symbolic link is not (as `lstat`).
    pub async fn resolve(&self, path: &str) -> Result<FileAttr, ClientError> {
        let parts = split_path(path)?;
        self.walk(path, &parts, false).await
    }

    /// Like `resolve`, but a final symbolic link is followed too (as `stat`).
    pub async fn resolve_follow(&self, path: &str) -> Result<FileAttr, ClientError> {
        let parts = split_path(path)?;
        self.walk(path, &parts, true).await
    }

    /// The directory that would hold the entry `path` names, and that entry's name
    /// (a slice of `path`). The entry itself need not exist.
    pub async fn resolve_parent<'a>(
        &self,
        path: &'a str,
    ) -> Result<(FileAttr, &'a [u8]), ClientError> {
        let (parent, name) = split_parent(path)?;
        let dir = self.walk(path, &parent, true).await?;
        if dir.kind != FileKind::Dir {
            return Err(ClientError::fs_err("resolve", FsError::NotDir));
        }
        Ok((dir, name))
    }

    async fn walk(
        &self,
        path: &str,
        parts: &[&[u8]],
        follow_last: bool,
    ) -> Result<FileAttr, ClientError> {
        const OP: &str = "resolve";
        let mut stack: Vec<FileAttr> = vec![self.getattr(InodeId::ROOT).await?];
        let mut queue: VecDeque<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        let mut hops = 0u32;
        while let Some(name) = queue.pop_front() {
            let Some(cur) = stack.last() else {
                return Err(ClientError::protocol(OP, "empty resolution stack"));
            };
            if cur.kind != FileKind::Dir {
                return Err(ClientError::fs_err(OP, FsError::NotDir));
            }
            match name.as_slice() {
                b"." => continue,
                b".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let attr = self.lookup(cur.ino, &name).await?;
            let is_last = queue.is_empty();
            if attr.kind == FileKind::Symlink && (!is_last || follow_last) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(ClientError::SymlinkLoop {
                        path: path.to_string(),
                    });
                }
                let target = self.readlink(attr.ino).await?;
                let shown = String::from_utf8_lossy(&target).into_owned();
                let target_parts = split_bytes(&target, &shown)?;
                if target.first() == Some(&b'/') {
                    stack.truncate(1);
                }
                for p in target_parts.into_iter().rev() {
                    queue.push_front(p.to_vec());
                }
                continue;
            }
            stack.push(attr);
        }
        stack
            .pop()
            .ok_or_else(|| ClientError::protocol(OP, "empty resolution stack"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_drops_empty_components() {
        let parts = split_path("/a//b/./c/").expect("valid");
        assert_eq!(parts, vec![&b"a"[..], b"b", b".", b"c"]);
        assert!(split_path("/").expect("root").is_empty());
    }

    #[test]
    fn refuses_relative_nul_and_long_names() {
        assert!(matches!(
            split_path("a/b"),
            Err(ClientError::InvalidPath { .. })
        ));
        assert!(matches!(
            split_path("/a\0b"),
            Err(ClientError::InvalidPath { .. })
        ));
        let long = format!("/{}", "x".repeat(256));
        assert_eq!(
            split_path(&long).expect_err("too long").errno(),
            libc::ENAMETOOLONG
        );
        let ok = format!("/{}", "x".repeat(255));
        assert_eq!(split_path(&ok).expect("255 is fine").len(), 1);
        let huge = "/ab".repeat(2000);
        assert_eq!(
            split_path(&huge).expect_err("path too long").errno(),
            libc::ENAMETOOLONG
        );
    }

    #[test]
    fn parent_and_name() {
        let (parent, name) = split_parent("/a/b/c").expect("valid");
        assert_eq!(parent, vec![&b"a"[..], b"b"]);
        assert_eq!(name, b"c");
        let (parent, name) = split_parent("/top/").expect("valid");
        assert!(parent.is_empty());
        assert_eq!(name, b"top");
        assert!(split_parent("/").is_err());
        assert!(split_parent("/a/..").is_err());
    }

    #[test]
    fn entry_names_are_checked() {
        assert!(check_name("x", b"ok.txt").is_ok());
        assert_eq!(
            check_name("x", b"").expect_err("empty").errno(),
            libc::EINVAL
        );
        assert_eq!(
            check_name("x", b"a/b").expect_err("slash").errno(),
            libc::EINVAL
        );
        assert_eq!(
            check_name("x", &[b'n'; 256]).expect_err("long").errno(),
            libc::ENAMETOOLONG
        );
    }
}
