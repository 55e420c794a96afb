//! `access(2)` checks from mode bits (the kernel does the same checks itself for
//! every other operation under `default_permissions`). Pure.

use ferrofs_client::{FileAttr, FileKind};

/// True if user `uid` (primary group `gid`) may access `attr` for `mask`
/// (a combination of `libc::R_OK`, `W_OK`, `X_OK`; `F_OK` is 0 and always passes).
pub(crate) fn allowed(attr: &FileAttr, uid: u32, gid: u32, mask: i32) -> bool {
    let want = (mask & (libc::R_OK | libc::W_OK | libc::X_OK)) as u32;
    if want == 0 {
        return true;
    }
    if uid == 0 {
        // Root may read and write anything, and execute what anyone may execute.
        let any_x = attr.mode & 0o111 != 0 || attr.kind == FileKind::Dir;
        return want & libc::X_OK as u32 == 0 || any_x;
    }
    let bits = if uid == attr.uid {
        (attr.mode >> 6) & 7
    } else if gid == attr.gid {
        (attr.mode >> 3) & 7
    } else {
        attr.mode & 7
    };
    bits & want == want
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::test_attr;

    fn attr(kind: FileKind, mode: u32) -> FileAttr {
        FileAttr {
            uid: 1000,
            gid: 100,
            ..test_attr(2, kind, mode)
        }
    }

    #[test]
    fn owner_group_and_other_bits_apply() {
        let a = attr(FileKind::File, 0o640);
        assert!(allowed(&a, 1000, 1, libc::R_OK | libc::W_OK));
        assert!(!allowed(&a, 1000, 1, libc::X_OK));
        assert!(allowed(&a, 2000, 100, libc::R_OK));
        assert!(!allowed(&a, 2000, 100, libc::W_OK));
        assert!(!allowed(&a, 2000, 200, libc::R_OK));
        assert!(allowed(&a, 2000, 200, libc::F_OK));
    }

    #[test]
    fn root_passes_except_execute_without_any_x_bit() {
        let a = attr(FileKind::File, 0o600);
        assert!(allowed(&a, 0, 0, libc::R_OK | libc::W_OK));
        assert!(!allowed(&a, 0, 0, libc::X_OK));
        assert!(allowed(&attr(FileKind::File, 0o001), 0, 0, libc::X_OK));
        assert!(allowed(&attr(FileKind::Dir, 0o000), 0, 0, libc::X_OK));
    }
}
