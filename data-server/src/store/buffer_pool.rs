//! Chunk-sized buffers kept for reuse.
//!
//! Each chunk a data server receives fills a fresh buffer of about 4 MiB, which is
//! written to its file and dropped on another thread. glibc hands such a buffer back
//! to the kernel when it is freed, so the next chunk paid a page fault for every
//! 4 KiB page it filled and an `munmap` afterwards: 14% of a data server's CPU during
//! a sequential write (perf, docs/benchmarks.md). Buffers of a megabyte or more are
//! kept here instead, up to `KEPT_BYTES` in all, and the next buffer of a similar size
//! reuses one.

use std::sync::Mutex;

/// Smaller buffers are left to the allocator, which keeps them mapped anyway.
const MIN_KEPT: usize = 1 << 20;
/// Idle bytes kept at most (the in-flight limit bounds the buffers in use).
const KEPT_BYTES: usize = 64 << 20;

static POOL: BufferPool = BufferPool::new(KEPT_BYTES);

/// An empty vector with room for at least `capacity` bytes, from the process's pool.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    POOL.take(capacity)
}

/// Keep `buf` in the process's pool for a later `take`, if it is large and fits.
pub(crate) fn give(buf: Vec<u8>) {
    POOL.give(buf)
}

struct BufferPool {
    kept: Mutex<Vec<Vec<u8>>>,
    max_bytes: usize,
}

impl BufferPool {
    const fn new(max_bytes: usize) -> BufferPool {
        BufferPool {
            kept: Mutex::new(Vec::new()),
            max_bytes,
        }
    }

    /// A kept vector if one fits without wasting more than half of it, else a new one.
    fn take(&self, capacity: usize) -> Vec<u8> {
        if capacity >= MIN_KEPT {
            if let Ok(mut kept) = self.kept.lock() {
                let fits = |v: &Vec<u8>| v.capacity() >= capacity && v.capacity() / 2 <= capacity;
                if let Some(at) = kept.iter().position(fits) {
                    let mut v = kept.swap_remove(at);
                    v.clear();
                    return v;
                }
            }
        }
        Vec::with_capacity(capacity)
    }

    fn give(&self, buf: Vec<u8>) {
        if buf.capacity() < MIN_KEPT {
            return;
        }
        if let Ok(mut kept) = self.kept.lock() {
            let held: usize = kept.iter().map(Vec::capacity).sum();
            if held + buf.capacity() <= self.max_bytes {
                kept.push(buf);
            }
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.kept
            .lock()
            .map(|k| k.iter().map(Vec::capacity).sum())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_buffers_come_back_and_small_ones_do_not() {
        let pool = BufferPool::new(16 << 20);
        let big = pool.take(3 << 20);
        let ptr = big.as_ptr();
        pool.give(big);
        let mut again = pool.take(3 << 20);
        assert_eq!(again.as_ptr(), ptr, "the kept buffer is reused");
        assert!(again.capacity() >= 3 << 20);
        again.push(7);
        pool.give(again);
        assert!(
            pool.take(3 << 20).is_empty(),
            "a reused buffer comes back empty"
        );
        pool.give(pool.take(3 << 20));
        let other = pool.take(1 << 20);
        assert_ne!(other.as_ptr(), ptr, "a 3 MiB buffer is not wasted on 1 MiB");
        pool.give(Vec::with_capacity(4096));
        assert_eq!(pool.held(), 3 << 20, "small buffers are not kept");
        for _ in 0..10 {
            pool.give(Vec::with_capacity(4 << 20));
        }
        assert!(pool.held() <= 16 << 20, "{} bytes kept", pool.held());
    }
}
