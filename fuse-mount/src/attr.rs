//! Conversions between ferrofs attributes and the kernel's view of them. Pure.

use ferrofs_client::{FileAttr, FileKind, TimeChange, Timestamp};
use fuser::{FileType, INodeNo, TimeOrNow};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `st_blksize`: the I/O size tools such as cp use; one FUSE write.
pub(crate) const BLOCK_SIZE: u32 = 1 << 20;

pub(crate) fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::File => FileType::RegularFile,
        FileKind::Dir => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::Fifo => FileType::NamedPipe,
    }
}

pub(crate) fn system_time(t: Timestamp) -> SystemTime {
    let (secs, nanos) = (t.secs(), t.subsec_nanos());
    let since = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs as u64, nanos))
    } else {
        // secs is negative and nanos counts forward from it.
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
    };
    since.unwrap_or(UNIX_EPOCH)
}

pub(crate) fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp(d.as_nanos() as i128),
        Err(e) => Timestamp(-(e.duration().as_nanos() as i128)),
    }
}

pub(crate) fn time_change(t: TimeOrNow) -> TimeChange {
    match t {
        TimeOrNow::Now => TimeChange::Now,
        TimeOrNow::SpecificTime(t) => TimeChange::Set(timestamp(t)),
    }
}

/// The kernel's attributes of a ferrofs file.
pub(crate) fn kernel_attr(a: &FileAttr) -> fuser::FileAttr {
    fuser::FileAttr {
        ino: INodeNo(a.ino.0),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: system_time(a.atime),
        mtime: system_time(a.mtime),
        ctime: system_time(a.ctime),
        crtime: system_time(a.ctime),
        kind: file_type(a.kind),
        perm: (a.mode & 0o7777) as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}

/// Attributes for unit tests: owned by uid 0, gid 0, empty, times at the epoch.
#[cfg(test)]
pub(crate) fn test_attr(ino: u64, kind: FileKind, mode: u32) -> FileAttr {
    FileAttr {
        ino: ferrofs_client::InodeId(ino),
        kind,
        mode,
        uid: 0,
        gid: 0,
        size: 0,
        nlink: 1,
        atime: Timestamp(0),
        mtime: Timestamp(0),
        ctime: Timestamp(0),
        generation: 1,
        has_xattrs: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_client::InodeId;

    #[test]
    fn times_round_trip_before_and_after_the_epoch() {
        for ns in [
            0i128,
            1,
            1_500_000_000_123_456_789,
            -1,
            -1_000_000_000,
            -2_500_000_001,
        ] {
            assert_eq!(timestamp(system_time(Timestamp(ns))), Timestamp(ns), "{ns}");
        }
        assert_eq!(time_change(TimeOrNow::Now), TimeChange::Now);
    }

    #[test]
    fn attributes_carry_mode_kind_and_size() {
        let a = FileAttr {
            ino: InodeId(42),
            kind: FileKind::Fifo,
            mode: 0o104755,
            uid: 7,
            gid: 8,
            size: 1025,
            nlink: 2,
            atime: Timestamp(0),
            mtime: Timestamp(5_000_000_000),
            ctime: Timestamp(0),
            generation: 3,
            has_xattrs: false,
        };
        let k = kernel_attr(&a);
        assert_eq!(k.ino, INodeNo(42));
        assert_eq!(k.kind, FileType::NamedPipe);
        assert_eq!(k.perm, 0o4755);
        assert_eq!(k.blocks, 3);
        assert_eq!((k.uid, k.gid, k.nlink), (7, 8, 2));
        assert_eq!(k.mtime, UNIX_EPOCH + Duration::from_secs(5));
    }
}
