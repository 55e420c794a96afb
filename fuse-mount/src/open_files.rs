//! Which files this mount has open: handles by number, and per inode the shared IO
//! state, the open count, and the hidden name of a file unlinked while open.
//! Generic over the per-inode IO type so the bookkeeping is tested without a cluster.

use ferrofs_client::InodeId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One open handle (one `open`/`create` reply).
#[derive(Debug)]
pub(crate) struct Handle<T> {
    pub(crate) ino: InodeId,
    pub(crate) io: Arc<T>,
    /// End of the last read requested through this handle, to spot sequential reads.
    pub(crate) last_read_end: AtomicU64,
    /// The last read started within the slack of the one before it.
    pub(crate) last_read_near: AtomicBool,
}

impl<T> Handle<T> {
    /// Note a read of `size` bytes at `offset` as it arrives, and say whether it
    /// continues the reads before it: it starts exactly where the previous request
    /// ended, or within `slack` bytes of it right after another request that did too.
    /// One near read alone is not enough: a random reader of a file a few hundred MiB
    /// long lands within a 2 MiB slack of its last read every ~60 reads, and each such
    /// read used to start a whole-chunk read-ahead (16 MiB fetched for a 4 KiB read).
    /// The end is recorded when the request arrives, not when it is answered: the
    /// kernel's read-ahead keeps several requests in flight, and one waiting for its
    /// chunk must not make the requests behind it look like jumps.
    pub(crate) fn note_read(&self, offset: u64, size: u32, slack: u64) -> bool {
        let last = self
            .last_read_end
            .swap(offset + u64::from(size), Ordering::Relaxed);
        let near = offset.abs_diff(last) <= slack;
        let near_before = self.last_read_near.swap(near, Ordering::Relaxed);
        offset == last || (near && near_before)
    }
}

struct OpenInode<T> {
    opens: u32,
    io: Arc<T>,
    /// Hidden name (in the unlinked folder) keeping an unlinked file alive.
    hidden: Option<Vec<u8>>,
}

/// A released handle, and what to clean up if it was the inode's last.
pub(crate) struct Released<T> {
    pub(crate) handle: Arc<Handle<T>>,
    pub(crate) last: Option<LastClose<T>>,
}

/// What the last release of an inode leaves to clean up.
pub(crate) struct LastClose<T> {
    pub(crate) io: Arc<T>,
    pub(crate) hidden: Option<Vec<u8>>,
}

pub(crate) struct OpenFiles<T> {
    inner: Mutex<Inner<T>>,
    next_fh: AtomicU64,
}

struct Inner<T> {
    inodes: HashMap<InodeId, OpenInode<T>>,
    handles: HashMap<u64, Arc<Handle<T>>>,
}

impl<T> Default for OpenFiles<T> {
    fn default() -> Self {
        OpenFiles {
            inner: Mutex::new(Inner {
                inodes: HashMap::new(),
                handles: HashMap::new(),
            }),
            next_fh: AtomicU64::new(1),
        }
    }
}

impl<T> OpenFiles<T> {
    /// A new handle number (shared with directory handles).
    pub(crate) fn next_fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    /// Open `ino`: its IO state is made by `make` on the first open. Returns the handle
    /// number, the IO state and whether it already existed.
    pub(crate) fn open(&self, ino: InodeId, make: impl FnOnce() -> T) -> (u64, Arc<T>, bool) {
        let fh = self.next_fh();
        let mut inner = self.inner.lock();
        let existed = inner.inodes.contains_key(&ino);
        let entry = inner.inodes.entry(ino).or_insert_with(|| OpenInode {
            opens: 0,
            io: Arc::new(make()),
            hidden: None,
        });
        entry.opens += 1;
        let io = entry.io.clone();
        let handle = Handle {
            ino,
            io: io.clone(),
            last_read_end: AtomicU64::new(0),
            last_read_near: AtomicBool::new(false),
        };
        inner.handles.insert(fh, Arc::new(handle));
        (fh, io, existed)
    }

    pub(crate) fn handle(&self, fh: u64) -> Option<Arc<Handle<T>>> {
        self.inner.lock().handles.get(&fh).cloned()
    }

    /// The IO state of `ino` if it is open here.
    pub(crate) fn io(&self, ino: InodeId) -> Option<Arc<T>> {
        self.inner.lock().inodes.get(&ino).map(|o| o.io.clone())
    }

    /// Every open file's IO state (to flush them all at unmount).
    pub(crate) fn all_io(&self) -> Vec<(InodeId, Arc<T>)> {
        self.inner
            .lock()
            .inodes
            .iter()
            .map(|(i, o)| (*i, o.io.clone()))
            .collect()
    }

    /// Drop handle `fh`. Returns the handle, and what to clean up if it was the last
    /// open of its inode.
    pub(crate) fn release(&self, fh: u64) -> Option<Released<T>> {
        let mut inner = self.inner.lock();
        let handle = inner.handles.remove(&fh)?;
        let last = match inner.inodes.get_mut(&handle.ino) {
            Some(o) if o.opens > 1 => {
                o.opens -= 1;
                None
            }
            Some(_) => inner.inodes.remove(&handle.ino).map(|o| LastClose {
                io: o.io,
                hidden: o.hidden,
            }),
            None => None,
        };
        Some(Released { handle, last })
    }

    /// True if `ino` is open here and not yet hidden.
    pub(crate) fn needs_hiding(&self, ino: InodeId) -> bool {
        matches!(self.inner.lock().inodes.get(&ino), Some(o) if o.hidden.is_none())
    }

    /// Record the hidden name of open inode `ino`; false if it is no longer open.
    pub(crate) fn set_hidden(&self, ino: InodeId, name: Vec<u8>) -> bool {
        match self.inner.lock().inodes.get_mut(&ino) {
            Some(o) => {
                o.hidden = Some(name);
                true
            }
            None => false,
        }
    }

    /// Forget the hidden name (the hiding was undone).
    pub(crate) fn clear_hidden(&self, ino: InodeId) {
        if let Some(o) = self.inner.lock().inodes.get_mut(&ino) {
            o.hidden = None;
        }
    }

    pub(crate) fn is_hidden(&self, ino: InodeId) -> bool {
        matches!(self.inner.lock().inodes.get(&ino), Some(o) if o.hidden.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_share_one_io_state_until_the_last_release() {
        let files: OpenFiles<u32> = OpenFiles::default();
        let ino = InodeId(5);
        let (fh1, io1, existed) = files.open(ino, || 7);
        assert!(!existed);
        let (fh2, io2, existed) = files.open(ino, || 8);
        assert!(existed);
        assert!(Arc::ptr_eq(&io1, &io2));
        assert_ne!(fh1, fh2);
        assert_eq!(files.handle(fh2).expect("open").ino, ino);
        let r = files.release(fh1).expect("known handle");
        assert!(r.last.is_none());
        assert_eq!(r.handle.ino, ino);
        assert!(files.io(ino).is_some());
        let r = files.release(fh2).expect("known handle");
        assert_eq!(*r.last.expect("last close").io, 7);
        assert!(files.io(ino).is_none());
        assert!(files.release(fh2).is_none());
    }

    #[test]
    fn hidden_names_come_back_at_the_last_close() {
        let files: OpenFiles<()> = OpenFiles::default();
        let ino = InodeId(9);
        assert!(!files.needs_hiding(ino));
        assert!(!files.set_hidden(ino, b"x".to_vec()));
        let (fh, _, _) = files.open(ino, || ());
        assert!(files.needs_hiding(ino));
        assert!(files.set_hidden(ino, b"9-a".to_vec()));
        assert!(!files.needs_hiding(ino));
        assert!(files.is_hidden(ino));
        let r = files.release(fh).expect("handle");
        assert_eq!(r.last.expect("last").hidden.as_deref(), Some(&b"9-a"[..]));
    }

    #[test]
    fn sequential_reads_are_spotted() {
        let files: OpenFiles<()> = OpenFiles::default();
        let (fh, _, _) = files.open(InodeId(1), || ());
        let h = files.handle(fh).expect("handle");
        assert!(h.note_read(0, 4096, 0));
        assert!(h.note_read(4096, 4096, 0));
        assert!(!h.note_read(1 << 30, 4096, 1 << 20));
    }

    #[test]
    fn one_random_read_near_the_last_is_not_a_sequential_reader() {
        let files: OpenFiles<()> = OpenFiles::default();
        let (fh, _, _) = files.open(InodeId(1), || ());
        let h = files.handle(fh).expect("handle");
        let slack = 2 << 20;
        assert!(!h.note_read(100 << 20, 4096, slack), "a jump");
        assert!(
            !h.note_read(101 << 20, 4096, slack),
            "near, but after a jump"
        );
        assert!(
            h.note_read(102 << 20, 131_072, slack),
            "near twice in a row"
        );
        // Read-ahead requests of the kernel arrive a little out of order.
        assert!(h.note_read((102 << 20) + 262_144, 131_072, slack));
        assert!(!h.note_read(7 << 20, 4096, slack), "a jump again");
        assert!(
            h.note_read((7 << 20) + 4096, 4096, slack),
            "exactly where the last ended"
        );
    }

    #[test]
    fn requests_in_flight_together_stay_sequential() {
        // The kernel sends 256 KiB read-ahead requests back to back before the first
        // is answered; each continues the one requested before it.
        let files: OpenFiles<()> = OpenFiles::default();
        let (fh, _, _) = files.open(InodeId(1), || ());
        let h = files.handle(fh).expect("handle");
        let slack = 2 << 20;
        for i in 0..64u64 {
            assert!(h.note_read(i * 262_144, 262_144, slack), "request {i}");
        }
    }
}
