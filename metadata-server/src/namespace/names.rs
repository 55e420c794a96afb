//! Validation of entry names, xattr names and symlink targets.

use ferrofs_proto::error::FsError;
use ferrofs_proto::limits::{MAX_NAME_BYTES, MAX_PATH_BYTES, MAX_XATTR_VALUE_BYTES};

/// A directory entry name: non-empty, <= 255 bytes, no '/' or NUL, not "." or "..".
pub fn check_name(name: &[u8]) -> Result<(), FsError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(FsError::NameTooLong);
    }
    if name.is_empty() {
        return Err(FsError::Invalid("empty name".to_string()));
    }
    if name == b"." || name == b".." {
        return Err(FsError::Invalid(
            "\".\" and \"..\" are not entry names".to_string(),
        ));
    }
    if name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(FsError::Invalid(
            "a name may not contain '/' or NUL".to_string(),
        ));
    }
    Ok(())
}

/// A symlink target: non-empty (ENOENT, as Linux), <= 4096 bytes, no NUL.
pub fn check_target(target: &[u8]) -> Result<(), FsError> {
    if target.is_empty() {
        return Err(FsError::NotFound);
    }
    if target.len() > MAX_PATH_BYTES {
        return Err(FsError::NameTooLong);
    }
    if target.contains(&0) {
        return Err(FsError::Invalid(
            "a symlink target may not contain NUL".to_string(),
        ));
    }
    Ok(())
}

/// An xattr name: non-empty, <= 255 bytes, no NUL.
pub fn check_xattr_name(name: &[u8]) -> Result<(), FsError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(FsError::NameTooLong);
    }
    if name.is_empty() {
        return Err(FsError::Invalid("empty xattr name".to_string()));
    }
    if name.contains(&0) {
        return Err(FsError::Invalid(
            "an xattr name may not contain NUL".to_string(),
        ));
    }
    Ok(())
}

pub fn check_xattr_value(value: &[u8]) -> Result<(), FsError> {
    if value.len() > MAX_XATTR_VALUE_BYTES {
        return Err(FsError::Invalid(format!(
            "xattr value of {} bytes exceeds {MAX_XATTR_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name(b"a").is_ok());
        assert!(check_name(&[b'x'; 255]).is_ok());
        assert_eq!(check_name(&[b'x'; 256]), Err(FsError::NameTooLong));
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b"] {
            assert!(
                matches!(check_name(bad), Err(FsError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert!(check_name(b"...").is_ok());
    }

    #[test]
    fn targets_and_xattrs() {
        assert!(check_target(b"../x").is_ok());
        assert_eq!(check_target(b""), Err(FsError::NotFound));
        assert_eq!(check_target(&[b'a'; 4097]), Err(FsError::NameTooLong));
        assert!(check_target(&[b'a'; 4096]).is_ok());
        assert!(check_xattr_name(b"user.x").is_ok());
        assert_eq!(check_xattr_name(&[b'a'; 256]), Err(FsError::NameTooLong));
        assert!(check_xattr_name(b"").is_err());
        assert!(check_xattr_value(&vec![0; MAX_XATTR_VALUE_BYTES]).is_ok());
        assert!(check_xattr_value(&vec![0; MAX_XATTR_VALUE_BYTES + 1]).is_err());
    }
}
