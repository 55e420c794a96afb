//! The commands that talk to a cluster, one file per group, and what they share:
//! path normalisation, the caller's ids and error wording.

pub mod files;
pub mod fsck;
pub mod meta;
pub mod mount;
pub mod node;
pub mod put_get;
pub mod rebalance;
pub mod scrub;
pub mod status;

use anyhow::anyhow;
use ferrofs_client::ClientError;

/// Wording of errors: `get /missing: no such file or directory`. A file-system error
/// reported by the cluster is shown as just its description (the internal step that
/// failed, such as "lookup", means nothing to the user); other errors keep their text.
pub trait OpContext<T> {
    fn op(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T> OpContext<T> for Result<T, ClientError> {
    fn op(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| match e.fs() {
            Some(fs) => anyhow!("{}: {fs}", what()),
            None => anyhow::Error::new(e).context(what()),
        })
    }
}

/// Cluster paths are absolute; a relative one starts at the root.
pub fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// The last component of a path ("" for "/").
pub fn basename(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// Join a directory path and a name.
pub fn join(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// The uid and gid new files get: the caller's effective ids.
pub fn caller_ids() -> (u32, u32) {
    (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_client::FsError;

    #[test]
    fn paths() {
        assert_eq!(absolute("a/b"), "/a/b");
        assert_eq!(absolute("/a"), "/a");
        assert_eq!(basename("/a/b.txt"), "b.txt");
        assert_eq!(basename("/a/dir/"), "dir");
        assert_eq!(basename("/"), "");
        assert_eq!(basename("plain"), "plain");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/d/", "x"), "/d/x");
    }

    #[test]
    fn fs_errors_read_as_one_line() {
        let r: Result<(), ClientError> = Err(ClientError::Fs {
            op: "lookup",
            err: FsError::NotFound,
        });
        let e = r.op(|| "get /missing".to_string()).expect_err("error");
        assert_eq!(format!("{e:#}"), "get /missing: no such file or directory");
    }
}
