//! fuser's `Filesystem` for ferrofs: every request is copied out of the kernel buffer,
//! handed to a task on the tokio runtime, and answered from that task. Nothing here
//! blocks or panics; a task that fails to reply is answered with EIO by fuser.

use super::attrs::AttrChange;
use super::dir::PlusSink;
use super::entries::Caller;
use super::locks::LockRequest;
use super::xattr::XattrAnswer;
use super::{Core, Entry};
use crate::metrics::{MountMetrics, Op, OpTimer};
use crate::options::MountOptions;
use ferrofs_client::{Client, InodeId};
use fuser::{
    AccessFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLock, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::runtime::Handle;

/// Largest write the kernel sends in one request.
const MAX_WRITE: u32 = 1 << 20;
/// Requests (read-ahead, async reads) the kernel keeps in flight in the background.
const MAX_BACKGROUND: u16 = 64;

/// A reply that can carry an errno.
trait ErrorReply: Send + 'static {
    fn fail(self, e: Errno);
}

macro_rules! error_reply {
    ($($t:ty),*) => {$(
        impl ErrorReply for $t {
            fn fail(self, e: Errno) {
                self.error(e)
            }
        }
    )*};
}
error_reply!(
    ReplyEntry,
    ReplyAttr,
    ReplyData,
    ReplyEmpty,
    ReplyOpen,
    ReplyWrite,
    ReplyStatfs,
    ReplyCreate,
    ReplyXattr,
    ReplyLock
);

fn ino(i: INodeNo) -> InodeId {
    InodeId(i.0)
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

fn xattr_reply(reply: ReplyXattr, answer: XattrAnswer) {
    match answer {
        XattrAnswer::Size(n) => reply.size(n),
        XattrAnswer::Data(v) => reply.data(&v),
    }
}

/// Requests that change names or attributes (data commits count themselves, in
/// `FileIo`). Failed ones count too: a timed-out change may still have been made.
fn changes_namespace(op: Op) -> bool {
    matches!(
        op,
        Op::Setattr
            | Op::Mknod
            | Op::Mkdir
            | Op::Unlink
            | Op::Rmdir
            | Op::Symlink
            | Op::Rename
            | Op::Link
            | Op::Create
            | Op::Setxattr
            | Op::Removexattr
            | Op::Fallocate
    )
}

/// The mounted file system.
pub(crate) struct FerroFs {
    core: Arc<Core>,
}

impl FerroFs {
    pub(crate) fn new(
        client: Client,
        rt: Handle,
        opts: MountOptions,
        metrics: Arc<MountMetrics>,
    ) -> FerroFs {
        let core = Arc::new(Core::new(client.clone(), rt.clone(), opts, metrics));
        let held = Arc::downgrade(&core.held_locks);
        rt.spawn(crate::held_locks::keep_sessions(client, held));
        FerroFs { core }
    }

    /// Start timing `op` (recorded by `OpTimer::done` when it is answered).
    fn timer(&self, op: Op) -> OpTimer {
        OpTimer::start(&self.core.metrics, op)
    }

    fn ttls(&self) -> (Duration, Duration) {
        (self.core.opts.attr_ttl, self.core.opts.entry_ttl)
    }

    /// Run `work` (operation `op`) on the runtime and answer with `send` or the errno.
    /// The metrics are recorded just before the answer, so a caller that sees the
    /// answer also sees it counted.
    fn spawn<R, T, F, S>(&self, op: Op, reply: R, work: F, send: S)
    where
        R: ErrorReply,
        T: Send + 'static,
        F: Future<Output = Result<T, Errno>> + Send + 'static,
        S: FnOnce(R, T) + Send + 'static,
    {
        let timer = self.timer(op);
        let changes = changes_namespace(op).then(|| self.core.clone());
        self.core.rt.spawn(async move {
            let result = work.await;
            // Before the answer: a lookup the caller sends next must not be answered
            // from a listing fetched before this change.
            if let Some(core) = changes {
                core.scans.changes.bump();
                core.dir_attrs.namespace_changed();
            }
            match result {
                Ok(v) => {
                    timer.done(Ok(()));
                    send(reply, v);
                }
                Err(e) => {
                    timer.done(Err(e));
                    reply.fail(e);
                }
            }
        });
    }

    fn reply_entry(
        &self,
        op: Op,
        reply: ReplyEntry,
        work: impl Future<Output = Result<Entry, Errno>> + Send + 'static,
    ) {
        let (attr_ttl, entry_ttl) = self.ttls();
        self.spawn(op, reply, work, move |r, e: Entry| {
            r.entry_with_ttls(&attr_ttl, &entry_ttl, &e.attr, Generation(e.generation))
        });
    }

    fn reply_empty(
        &self,
        op: Op,
        reply: ReplyEmpty,
        work: impl Future<Output = Result<(), Errno>> + Send + 'static,
    ) {
        self.spawn(op, reply, work, |r, ()| r.ok());
    }
}

impl Filesystem for FerroFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(max) = config.set_max_write(MAX_WRITE) {
            let _ = config.set_max_write(max);
        }
        let _ = config.set_max_background(MAX_BACKGROUND);
        let _ = config.set_congestion_threshold(MAX_BACKGROUND * 3 / 4);
        // Each capability is optional: an old kernel simply goes without.
        for cap in [
            InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_ATOMIC_O_TRUNC,
            InitFlags::FUSE_AUTO_INVAL_DATA,
            InitFlags::FUSE_CACHE_SYMLINKS,
        ] {
            if let Err(missing) = config.add_capabilities(cap) {
                tracing::debug!(?missing, "kernel lacks a FUSE capability");
            }
        }
        // Locks go to the cluster (`fs::locks`) unless asked to stay in this kernel.
        if !self.core.opts.local_locks {
            for locks in [InitFlags::FUSE_POSIX_LOCKS, InitFlags::FUSE_FLOCK_LOCKS] {
                if let Err(missing) = config.add_capabilities(locks) {
                    tracing::warn!(?missing, "the kernel keeps these locks local to this mount");
                }
            }
        }
        Ok(())
    }

    fn destroy(&mut self) {
        // Runs on the session thread. A scoped thread keeps `block_on` legal even if
        // that thread is inside a runtime.
        let (core, rt) = (self.core.clone(), self.core.rt.clone());
        std::thread::scope(|s| {
            let flushed = s.spawn(move || rt.block_on(async move { core.flush_all().await }));
            if flushed.join().is_err() {
                tracing::error!("flushing open files at unmount panicked");
            }
        });
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let (core, name) = (self.core.clone(), name.as_bytes().to_vec());
        self.reply_entry(Op::Lookup, reply, async move {
            core.lookup(ino(parent), &name).await
        });
    }

    fn getattr(&self, _req: &Request, i: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let core = self.core.clone();
        let ttl = self.core.opts.attr_ttl;
        self.spawn(
            Op::Getattr,
            reply,
            async move { core.getattr(ino(i)).await },
            move |r, a| r.attr(&ttl, &a),
        );
    }

    fn setattr(
        &self,
        _req: &Request,
        i: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let core = self.core.clone();
        let ttl = self.core.opts.attr_ttl;
        let change = AttrChange {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        self.spawn(
            Op::Setattr,
            reply,
            async move { core.setattr(ino(i), change).await },
            move |r, a| r.attr(&ttl, &a),
        );
    }

    fn readlink(&self, _req: &Request, i: INodeNo, reply: ReplyData) {
        let core = self.core.clone();
        self.spawn(
            Op::Readlink,
            reply,
            async move { core.readlink(ino(i)).await },
            |r, t: Vec<u8>| r.data(&t),
        );
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let (core, name, who) = (self.core.clone(), name.as_bytes().to_vec(), caller(req));
        let mode = (mode & libc::S_IFMT) | (mode & 0o7777 & !umask);
        self.reply_entry(Op::Mknod, reply, async move {
            core.mknod(ino(parent), &name, mode, who).await
        });
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let (core, name, who) = (self.core.clone(), name.as_bytes().to_vec(), caller(req));
        self.reply_entry(Op::Mkdir, reply, async move {
            core.mkdir(ino(parent), &name, mode & !umask, who).await
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (core, name) = (self.core.clone(), name.as_bytes().to_vec());
        self.reply_empty(Op::Unlink, reply, async move {
            core.unlink(ino(parent), &name).await
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (core, name) = (self.core.clone(), name.as_bytes().to_vec());
        self.reply_empty(Op::Rmdir, reply, async move {
            core.rmdir(ino(parent), &name).await
        });
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (core, who) = (self.core.clone(), caller(req));
        let (name, target) = (
            link_name.as_bytes().to_vec(),
            target.as_os_str().as_bytes().to_vec(),
        );
        self.reply_entry(Op::Symlink, reply, async move {
            core.symlink(ino(parent), &name, &target, who).await
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let core = self.core.clone();
        let (name, newname) = (name.as_bytes().to_vec(), newname.as_bytes().to_vec());
        self.reply_empty(Op::Rename, reply, async move {
            core.rename(ino(parent), &name, ino(newparent), &newname, flags)
                .await
        });
    }

    fn link(
        &self,
        _req: &Request,
        i: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let (core, name) = (self.core.clone(), newname.as_bytes().to_vec());
        self.reply_entry(Op::Link, reply, async move {
            core.link(ino(i), ino(newparent), &name).await
        });
    }

    fn open(&self, _req: &Request, i: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let core = self.core.clone();
        self.spawn(
            Op::Open,
            reply,
            async move { core.open(ino(i), flags.0).await },
            |r, fh| r.opened(FileHandle(fh), FopenFlags::empty()),
        );
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let core = self.core.clone();
        let noted = core.note_read(fh.0, offset, size);
        self.spawn(
            Op::Read,
            reply,
            async move {
                let (handle, sequential) = noted?;
                let data = handle.io.read(offset, size, sequential).await?;
                core.metrics.read_bytes(data.len());
                Ok(data)
            },
            |r, d: bytes::Bytes| r.data(&d),
        );
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let (core, data) = (self.core.clone(), data.to_vec());
        self.spawn(
            Op::Write,
            reply,
            async move {
                let n = core.write(fh.0, offset, &data).await?;
                core.metrics.written_bytes(u64::from(n));
                Ok(n)
            },
            |r, n| r.written(n),
        );
    }

    /// A close: the data first, then (POSIX) the closing process's locks on the file,
    /// so whoever takes the lock next reads what was written under it.
    fn flush(
        &self,
        _req: &Request,
        i: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let core = self.core.clone();
        self.reply_empty(Op::Flush, reply, async move {
            let flushed = core.flush(fh.0).await;
            let unlocked = core.release_locks(ino(i), lock_owner.0).await;
            flushed.and(unlocked)
        });
    }

    /// The last close of an open file: its data, then the locks taken through it.
    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let core = self.core.clone();
        self.reply_empty(Op::Release, reply, async move {
            core.release(fh.0).await;
            core.release_handle_locks(fh.0).await;
            Ok(())
        });
    }

    fn getlk(
        &self,
        _req: &Request,
        i: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
        reply: ReplyLock,
    ) {
        let core = self.core.clone();
        let r = LockRequest {
            ino: ino(i),
            fh: fh.0,
            owner: lock_owner.0,
            start,
            end,
            typ,
            pid,
        };
        self.spawn(
            Op::Getlk,
            reply,
            async move { core.getlk(r).await },
            |reply, l| reply.locked(l.start, l.end, l.typ, l.pid),
        );
    }

    fn setlk(
        &self,
        req: &Request,
        i: INodeNo,
        fh: FileHandle,
        lock_owner: LockOwner,
        start: u64,
        end: u64,
        typ: i32,
        pid: u32,
        sleep: bool,
        reply: ReplyEmpty,
    ) {
        let (core, tid) = (self.core.clone(), req.pid());
        let r = LockRequest {
            ino: ino(i),
            fh: fh.0,
            owner: lock_owner.0,
            start,
            end,
            typ,
            pid,
        };
        self.reply_empty(
            Op::Setlk,
            reply,
            async move { core.setlk(r, sleep, tid).await },
        );
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let core = self.core.clone();
        self.reply_empty(Op::Fsync, reply, async move { core.flush(fh.0).await });
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let timer = self.timer(Op::Opendir);
        let fh = self.core.opendir();
        timer.done(Ok(()));
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        i: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        let (core, timer) = (self.core.clone(), self.timer(Op::Readdir));
        self.core.rt.spawn(async move {
            let mut reply = reply;
            let filled = core.fill_dir(ino(i), fh.0, offset, &mut reply).await;
            timer.done(filled);
            match filled {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readdirplus(
        &self,
        _req: &Request,
        i: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        let (core, timer) = (self.core.clone(), self.timer(Op::Readdirplus));
        let ttl = self.core.opts.entry_ttl;
        self.core.rt.spawn(async move {
            let xattr_hints = core.xattr_hints.clone();
            let mut sink = PlusSink {
                reply,
                ttl,
                xattr_hints,
            };
            let filled = core.fill_dir(ino(i), fh.0, offset, &mut sink).await;
            timer.done(filled);
            match filled {
                Ok(()) => sink.reply.ok(),
                Err(e) => sink.reply.error(e),
            }
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        let timer = self.timer(Op::Releasedir);
        self.core.releasedir(fh.0);
        timer.done(Ok(()));
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Namespace changes are committed through Raft before they are answered.
        self.timer(Op::Fsyncdir).done(Ok(()));
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let core = self.core.clone();
        self.spawn(
            Op::Statfs,
            reply,
            async move { core.statfs().await },
            |r, s| {
                r.statfs(
                    s.blocks, s.bfree, s.bfree, s.files, s.ffree, s.bsize, s.namelen, s.bsize,
                )
            },
        );
    }

    fn setxattr(
        &self,
        _req: &Request,
        i: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        position: u32,
        reply: ReplyEmpty,
    ) {
        let (core, name, value) = (self.core.clone(), name.as_bytes().to_vec(), value.to_vec());
        self.reply_empty(Op::Setxattr, reply, async move {
            core.setxattr(ino(i), &name, &value, flags, position).await
        });
    }

    fn getxattr(&self, _req: &Request, i: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let (core, name) = (self.core.clone(), name.as_bytes().to_vec());
        self.spawn(
            Op::Getxattr,
            reply,
            async move { core.getxattr(ino(i), &name, size).await },
            xattr_reply,
        );
    }

    fn listxattr(&self, _req: &Request, i: INodeNo, size: u32, reply: ReplyXattr) {
        let core = self.core.clone();
        self.spawn(
            Op::Listxattr,
            reply,
            async move { core.listxattr(ino(i), size).await },
            xattr_reply,
        );
    }

    fn removexattr(&self, _req: &Request, i: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (core, name) = (self.core.clone(), name.as_bytes().to_vec());
        self.reply_empty(Op::Removexattr, reply, async move {
            core.removexattr(ino(i), &name).await
        });
    }

    fn access(&self, req: &Request, i: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let (core, who) = (self.core.clone(), caller(req));
        self.reply_empty(Op::Access, reply, async move {
            core.access(ino(i), mask.bits(), who).await
        });
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (core, name, who) = (self.core.clone(), name.as_bytes().to_vec(), caller(req));
        let (attr_ttl, _) = self.ttls();
        self.spawn(
            Op::Create,
            reply,
            async move {
                core.create(ino(parent), &name, mode & !umask, flags, who)
                    .await
            },
            move |r, (e, fh): (Entry, u64)| {
                r.created(
                    &attr_ttl,
                    &e.attr,
                    Generation(e.generation),
                    FileHandle(fh),
                    FopenFlags::empty(),
                )
            },
        );
    }

    fn fallocate(
        &self,
        _req: &Request,
        i: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let core = self.core.clone();
        self.reply_empty(Op::Fallocate, reply, async move {
            core.fallocate(ino(i), offset, length, mode).await
        });
    }
}
