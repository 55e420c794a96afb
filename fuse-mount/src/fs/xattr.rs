//! Extended attributes: get, list, set, remove. POSIX ACLs are not supported (the
//! kernel would store them without enforcing them), so their names are refused.

use super::Core;
use crate::error::OrErrno;
use ferrofs_client::{InodeId, XattrMode};
use fuser::Errno;

fn is_acl(name: &[u8]) -> bool {
    name == b"system.posix_acl_access" || name == b"system.posix_acl_default"
}

/// How a sized xattr reply answers: the size, the bytes, or ERANGE.
pub(crate) enum XattrAnswer {
    Size(u32),
    Data(Vec<u8>),
}

/// `size == 0` asks for the length; a value longer than `size` is ERANGE.
pub(crate) fn sized(value: Vec<u8>, size: u32) -> Result<XattrAnswer, Errno> {
    let len = u32::try_from(value.len()).map_err(|_| Errno::E2BIG)?;
    if size == 0 {
        Ok(XattrAnswer::Size(len))
    } else if len > size {
        Err(Errno::ERANGE)
    } else {
        Ok(XattrAnswer::Data(value))
    }
}

/// The names as listxattr(2) wants them: each followed by a NUL byte.
pub(crate) fn name_list(names: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(names.iter().map(|n| n.len() + 1).sum());
    for n in names {
        out.extend_from_slice(n);
        out.push(0);
    }
    out
}

impl Core {
    pub(crate) async fn getxattr(
        &self,
        ino: InodeId,
        name: &[u8],
        size: u32,
    ) -> Result<XattrAnswer, Errno> {
        if is_acl(name) {
            return Err(Errno::EOPNOTSUPP);
        }
        if self.xattr_hints.known_absent(ino, name) {
            return Err(Errno::ENODATA);
        }
        let value = match self.client.getxattr(ino, name).await.or_errno("getxattr") {
            Err(e) if e == Errno::ENODATA => {
                self.xattr_hints.note_absent(ino, name);
                return Err(e);
            }
            other => other?,
        };
        sized(value, size)
    }

    pub(crate) async fn listxattr(&self, ino: InodeId, size: u32) -> Result<XattrAnswer, Errno> {
        if self.xattr_hints.known_empty(ino) {
            return sized(Vec::new(), size);
        }
        let names = self.client.listxattr(ino).await.or_errno("listxattr")?;
        sized(name_list(&names), size)
    }

    pub(crate) async fn setxattr(
        &self,
        ino: InodeId,
        name: &[u8],
        value: &[u8],
        flags: i32,
        position: u32,
    ) -> Result<(), Errno> {
        if position != 0 {
            return Err(Errno::EINVAL);
        }
        if is_acl(name) {
            return Err(Errno::EOPNOTSUPP);
        }
        let mode = match flags & (libc::XATTR_CREATE | libc::XATTR_REPLACE) {
            0 => XattrMode::Upsert,
            libc::XATTR_CREATE => XattrMode::Create,
            libc::XATTR_REPLACE => XattrMode::Replace,
            _ => return Err(Errno::EINVAL),
        };
        if value.len() > ferrofs_proto::limits::MAX_XATTR_VALUE_BYTES {
            return Err(Errno::E2BIG);
        }
        self.xattr_hints.forget(ino);
        self.client
            .setxattr(ino, name, value, mode)
            .await
            .or_errno("setxattr")
    }

    pub(crate) async fn removexattr(&self, ino: InodeId, name: &[u8]) -> Result<(), Errno> {
        if is_acl(name) {
            return Err(Errno::EOPNOTSUPP);
        }
        self.client
            .removexattr(ino, name)
            .await
            .or_errno("removexattr")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_answers_follow_getxattr_rules() {
        assert!(matches!(
            sized(b"abc".to_vec(), 0),
            Ok(XattrAnswer::Size(3))
        ));
        assert!(matches!(sized(b"abc".to_vec(), 3), Ok(XattrAnswer::Data(v)) if v == b"abc"));
        assert!(matches!(sized(b"abc".to_vec(), 2), Err(e) if e == Errno::ERANGE));
    }

    #[test]
    fn names_are_nul_terminated() {
        assert_eq!(
            name_list(&[b"user.a".to_vec(), b"user.bc".to_vec()]),
            b"user.a\0user.bc\0".to_vec()
        );
        assert!(name_list(&[]).is_empty());
        assert!(is_acl(b"system.posix_acl_access"));
        assert!(!is_acl(b"user.x"));
    }
}
