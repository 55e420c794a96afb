//! `MountError` for the mount API, and the one place where a client error becomes
//! the errno the kernel hands to the application.

use ferrofs_client::ClientError;
use fuser::Errno;
use std::path::PathBuf;
use thiserror::Error;

/// Why mounting or unmounting failed.
#[derive(Debug, Error)]
pub enum MountError {
    /// The mount point does not exist or is not a directory.
    #[error("mount point {path}: {reason}")]
    BadMountPoint { path: PathBuf, reason: String },
    /// The kernel or fusermount3 refused the mount.
    #[error("mounting {path}: {source}")]
    Mount {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The FUSE session ended with an error.
    #[error("serving {path}: {source}")]
    Session {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Nothing is mounted there.
    #[error("{path} is not a mount point")]
    NotMounted { path: PathBuf },
    /// Neither `fusermount3 -u` nor a lazy unmount worked.
    #[error("unmounting {path}: {reason}")]
    Unmount { path: PathBuf, reason: String },
    /// Starting a helper thread or reading /proc failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// The errno of a failed client call. Logic errors keep their own errno (ENOENT,
/// EEXIST, ENOTEMPTY, ...); only transport and server failures become EIO, and those
/// are logged here because the application sees nothing but the number.
pub(crate) fn errno_of(op: &'static str, e: &ClientError) -> Errno {
    let code = e.errno();
    if matches!(
        code,
        libc::EIO | libc::EPROTO | libc::ETIMEDOUT | libc::EAGAIN
    ) {
        tracing::warn!(op, error = %e, errno = code, "cluster call failed");
    } else {
        tracing::debug!(op, error = %e, errno = code, "file system error");
    }
    Errno::from_i32(code)
}

/// `?` on a client result inside an operation: the error becomes its errno.
pub(crate) trait OrErrno<T> {
    fn or_errno(self, op: &'static str) -> Result<T, Errno>;
}

impl<T> OrErrno<T> for Result<T, ClientError> {
    fn or_errno(self, op: &'static str) -> Result<T, Errno> {
        self.map_err(|e| errno_of(op, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_client::{FsError, WireError};

    fn fs(err: FsError) -> ClientError {
        ClientError::Fs { op: "test", err }
    }

    #[test]
    fn logic_errors_keep_their_errno() {
        let cases = [
            (FsError::NotFound, Errno::ENOENT),
            (FsError::Exists, Errno::EEXIST),
            (FsError::NotEmpty, Errno::ENOTEMPTY),
            (FsError::IsDir, Errno::EISDIR),
            (FsError::NotDir, Errno::ENOTDIR),
            (FsError::PermissionDenied, Errno::EACCES),
            (FsError::NotPermitted, Errno::EPERM),
            (FsError::NameTooLong, Errno::ENAMETOOLONG),
            (FsError::Invalid("x".into()), Errno::EINVAL),
            (FsError::NoSpace, Errno::ENOSPC),
            (FsError::NoAttr, Errno::ENODATA),
        ];
        for (err, want) in cases {
            assert_eq!(errno_of("t", &fs(err.clone())), want, "{err:?}");
        }
        let looped = ClientError::SymlinkLoop { path: "/a".into() };
        assert_eq!(Err::<(), _>(looped).or_errno("t"), Err(Errno::ELOOP));
    }

    #[test]
    fn transport_failures_are_io_errors() {
        assert_eq!(
            errno_of("t", &ClientError::Wire(WireError::Truncated)),
            Errno::EIO
        );
        assert_eq!(
            errno_of("t", &fs(FsError::Internal("boom".into()))),
            Errno::EIO
        );
    }
}
