//! `ClientError`: what every client call returns, and its errno for the FUSE edge.

use ferrofs_proto::config::ConfigError;
use ferrofs_proto::{ChunkId, FsError, WireError};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    /// The metadata or a data server answered with a file-system error.
    #[error("{op}: {err}")]
    Fs { op: &'static str, err: FsError },
    /// Talking to a server failed and retrying did not help (or the failure is not
    /// one that a retry can fix, such as a malformed reply).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// No server answered within the failover timeout.
    #[error("{op}: no answer from the cluster within {after:?} (last error: {last})")]
    Timeout {
        op: &'static str,
        after: Duration,
        last: String,
    },
    /// The client configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading the local source or writing the local destination failed.
    #[error("local io: {0}")]
    Io(#[from] std::io::Error),
    /// A path is not absolute, holds a NUL byte or an over-long component, or names
    /// no entry where one is needed (e.g. "/" as the target of a create).
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// More than 40 symbolic links were followed while resolving a path.
    #[error("too many levels of symbolic links resolving {path:?}")]
    SymlinkLoop { path: String },
    /// A server answered with a message that does not fit the request.
    #[error("{op}: unexpected reply from the server: {detail}")]
    Protocol { op: &'static str, detail: String },
    /// A chunk could not be stored on enough data servers.
    #[error("{op}: storing chunk {chunk}: {reason}")]
    Upload {
        op: &'static str,
        chunk: ChunkId,
        reason: String,
    },
    /// A spawned transfer task panicked or was cancelled.
    #[error("transfer task failed: {0}")]
    TaskFailed(String),
}

impl ClientError {
    /// The file-system error the cluster reported, if that is what this is.
    pub fn fs(&self) -> Option<&FsError> {
        match self {
            ClientError::Fs { err, .. } => Some(err),
            _ => None,
        }
    }

    /// The libc errno that best describes this error (for FUSE and the CLI's exit codes).
    pub fn errno(&self) -> i32 {
        match self {
            ClientError::Fs { err, .. } => fs_errno(err),
            ClientError::Wire(_) => libc::EIO,
            ClientError::Timeout { .. } => libc::ETIMEDOUT,
            ClientError::Config(_) => libc::EINVAL,
            ClientError::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
            ClientError::InvalidPath { .. } => libc::EINVAL,
            ClientError::SymlinkLoop { .. } => libc::ELOOP,
            ClientError::Protocol { .. } => libc::EPROTO,
            ClientError::Upload { .. } | ClientError::TaskFailed(_) => libc::EIO,
        }
    }

    pub(crate) fn fs_err(op: &'static str, err: FsError) -> ClientError {
        ClientError::Fs { op, err }
    }

    pub(crate) fn protocol(op: &'static str, detail: impl std::fmt::Debug) -> ClientError {
        let mut detail = format!("{detail:?}");
        detail.truncate(200);
        ClientError::Protocol { op, detail }
    }
}

/// errno of a file-system error reported by a server.
pub fn fs_errno(err: &FsError) -> i32 {
    match err {
        FsError::NotFound => libc::ENOENT,
        FsError::Exists => libc::EEXIST,
        FsError::NotDir => libc::ENOTDIR,
        FsError::IsDir => libc::EISDIR,
        FsError::NotEmpty => libc::ENOTEMPTY,
        FsError::NameTooLong => libc::ENAMETOOLONG,
        FsError::Invalid(_) => libc::EINVAL,
        FsError::PermissionDenied => libc::EACCES,
        FsError::NotPermitted => libc::EPERM,
        FsError::NoAttr => libc::ENODATA,
        FsError::NoSpace => libc::ENOSPC,
        FsError::WouldBlock => libc::EAGAIN,
        FsError::TooManyLocks => libc::ENOLCK,
        // Not EAGAIN: event loops read that as "would block" and spin.
        FsError::NotLeader { .. }
        | FsError::Unavailable(_)
        | FsError::DataUnavailable(_)
        | FsError::Internal(_) => libc::EIO,
        FsError::Unsupported => libc::EOPNOTSUPP,
        // The client rewrites (or patches again) the chunk itself; seen only if that
        // failed too.
        FsError::ChunkCollected(_) | FsError::ChunkChanged { .. } => libc::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_follows_the_fs_error() {
        let e = ClientError::fs_err("lookup", FsError::NotFound);
        assert_eq!(e.errno(), libc::ENOENT);
        assert_eq!(e.fs(), Some(&FsError::NotFound));
        assert_eq!(
            ClientError::fs_err("rmdir", FsError::NotEmpty).errno(),
            libc::ENOTEMPTY
        );
        assert_eq!(
            ClientError::fs_err("getxattr", FsError::NoAttr).errno(),
            libc::ENODATA
        );
        assert_eq!(
            ClientError::SymlinkLoop { path: "/a".into() }.errno(),
            libc::ELOOP
        );
        assert_eq!(ClientError::Wire(WireError::Timeout).errno(), libc::EIO);
        assert!(ClientError::Wire(WireError::Timeout).fs().is_none());
    }

    #[test]
    fn local_io_keeps_its_os_errno() {
        let e = ClientError::Io(std::io::Error::from_raw_os_error(libc::EPIPE));
        assert_eq!(e.errno(), libc::EPIPE);
    }
}
