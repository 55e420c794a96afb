//! `MountOptions` and their translation into fuser's session configuration. Pure.

use fuser::{Config, MountOption, SessionACL};
use std::time::Duration;

/// How a ferrofs file system is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Let other users than the mounting one use the mount (needed for non-root users
    /// when the mount is made by root). The kernel still checks mode bits and owners.
    pub allow_other: bool,
    /// Refuse every change (EROFS).
    pub read_only: bool,
    /// How long the kernel may cache attributes.
    pub attr_ttl: Duration,
    /// How long the kernel may cache name lookups.
    pub entry_ttl: Duration,
    /// Bytes of partially written chunks that the open files of this mount may
    /// buffer together before flushing (each file also buffers a few chunks outside
    /// it). Random writes rewrite a chunk per flush, so this is what makes them cheap.
    pub write_buffer: u64,
    /// Keep `fcntl` and `flock` locks in this mount's kernel instead of the cluster:
    /// no round trip per lock, but no exclusion between mounts (for a cluster only one
    /// mount uses, like NFS's `local_lock=all`).
    pub local_locks: bool,
    /// More `-o` options, passed through to the kernel (e.g. "noatime", "noexec").
    pub extra: Vec<String>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            allow_other: false,
            read_only: false,
            attr_ttl: Duration::from_secs(1),
            entry_ttl: Duration::from_secs(1),
            write_buffer: DEFAULT_WRITE_BUFFER,
            local_locks: false,
            extra: Vec::new(),
        }
    }
}

/// The default write buffer of a mount: as much as the read-ahead caches may hold.
pub const DEFAULT_WRITE_BUFFER: u64 = 256 << 20;

/// Event-loop threads reading the FUSE device. Work runs on the tokio runtime; these
/// only decode requests and copy write payloads.
const FUSE_THREADS: usize = 2;

fn parse_extra(opt: &str) -> Option<MountOption> {
    let opt = opt.trim();
    Some(match opt {
        "" => return None,
        // Set by ferrofs itself or by MountOptions fields.
        "default_permissions" | "allow_other" | "rw" => return None,
        "ro" => MountOption::RO,
        "dev" => MountOption::Dev,
        "nodev" => MountOption::NoDev,
        "suid" => MountOption::Suid,
        "nosuid" => MountOption::NoSuid,
        "exec" => MountOption::Exec,
        "noexec" => MountOption::NoExec,
        "atime" => MountOption::Atime,
        "noatime" => MountOption::NoAtime,
        "sync" => MountOption::Sync,
        "async" => MountOption::Async,
        "dirsync" => MountOption::DirSync,
        other => match other.strip_prefix("fsname=") {
            Some(name) => MountOption::FSName(name.to_string()),
            None => MountOption::CUSTOM(other.to_string()),
        },
    })
}

impl MountOptions {
    /// The fuser configuration: the kernel checks permissions (`default_permissions`),
    /// `allow_other` when asked, read-only when asked, and the extra options.
    pub(crate) fn fuser_config(&self) -> Config {
        let mut opts = vec![
            MountOption::Subtype("ferrofs".to_string()),
            MountOption::DefaultPermissions,
        ];
        let extra: Vec<MountOption> = self
            .extra
            .iter()
            .flat_map(|s| s.split(','))
            .filter_map(parse_extra)
            .collect();
        if !extra.iter().any(|o| matches!(o, MountOption::FSName(_))) {
            opts.push(MountOption::FSName("ferrofs".to_string()));
        }
        if self.read_only {
            opts.push(MountOption::RO);
        }
        for o in extra {
            if !opts.contains(&o) {
                opts.push(o);
            }
        }
        let wants_other = self.allow_other
            || self
                .extra
                .iter()
                .flat_map(|s| s.split(','))
                .any(|o| o.trim() == "allow_other");
        let mut config = Config::default();
        config.mount_options = opts;
        config.acl = if wants_other {
            SessionACL::All
        } else {
            SessionACL::Owner
        };
        config.n_threads = Some(FUSE_THREADS);
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_check_permissions_in_the_kernel_with_one_second_ttls() {
        let o = MountOptions::default();
        assert_eq!(o.attr_ttl, Duration::from_secs(1));
        assert_eq!(o.entry_ttl, Duration::from_secs(1));
        let c = o.fuser_config();
        assert!(c.mount_options.contains(&MountOption::DefaultPermissions));
        assert!(c
            .mount_options
            .contains(&MountOption::FSName("ferrofs".into())));
        assert!(!c.mount_options.contains(&MountOption::RO));
        assert_eq!(c.acl, SessionACL::Owner);
    }

    #[test]
    fn flags_and_extra_options_are_translated() {
        let o = MountOptions {
            allow_other: false,
            read_only: false,
            extra: vec![
                "noatime,allow_other".into(),
                "ro".into(),
                "fsname=photos".into(),
                "max_read=65536".into(),
            ],
            ..MountOptions::default()
        };
        let c = o.fuser_config();
        assert_eq!(c.acl, SessionACL::All);
        assert!(c.mount_options.contains(&MountOption::NoAtime));
        assert!(c.mount_options.contains(&MountOption::RO));
        assert!(c
            .mount_options
            .contains(&MountOption::FSName("photos".into())));
        assert!(!c
            .mount_options
            .contains(&MountOption::FSName("ferrofs".into())));
        assert!(c
            .mount_options
            .contains(&MountOption::CUSTOM("max_read=65536".into())));
        let ro = MountOptions {
            read_only: true,
            allow_other: true,
            ..MountOptions::default()
        };
        let c = ro.fuser_config();
        assert_eq!(
            c.mount_options
                .iter()
                .filter(|o| **o == MountOption::RO)
                .count(),
            1
        );
        assert_eq!(c.acl, SessionACL::All);
    }
}
