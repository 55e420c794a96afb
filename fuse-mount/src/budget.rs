//! A mount-wide bound on bytes held in memory, shared by every open file: one for the
//! read-ahead caches, one for the write-back buffers. Holders take a `Reservation`
//! and give the bytes back by dropping it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes that the caches (or buffers) of one mount may hold together.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: AtomicU64::new(0),
        })
    }

    /// Reserve `bytes`, or `None` if that would pass the limit.
    pub(crate) fn reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let next = cur.checked_add(bytes).filter(|n| *n <= self.limit)?;
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Reservation {
                        budget: self.clone(),
                        bytes,
                    })
                }
                Err(now) => cur = now,
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// The mount's two budgets, handed to every open file.
#[derive(Clone, Debug)]
pub(crate) struct Budgets {
    /// Chunks held by the read-ahead caches.
    pub(crate) read: Arc<Budget>,
    /// Dirty chunks held by the write-back buffers (beyond each file's first few).
    pub(crate) write: Arc<Budget>,
}

/// Bytes held against a `Budget`, given back on drop.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// Make `held` one reservation of `each` bytes per item of `wanted`: the surplus is
/// given back, the missing ones are reserved. False if the budget has no room for
/// them all (`held` then keeps what it could get).
pub(crate) fn hold(
    budget: &Arc<Budget>,
    held: &mut Vec<Reservation>,
    wanted: usize,
    each: u64,
) -> bool {
    held.truncate(wanted);
    while held.len() < wanted {
        match budget.reserve(each) {
            Some(r) => held.push(r),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_bounds_reservations_and_gets_them_back() {
        let b = Budget::new(10);
        let r1 = b.reserve(6).expect("room");
        assert!(b.reserve(5).is_none());
        let r2 = b.reserve(4).expect("room");
        assert_eq!(b.used(), 10);
        drop(r1);
        assert_eq!(b.used(), 4);
        drop(r2);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn hold_grows_and_shrinks_to_what_is_wanted_within_the_budget() {
        let b = Budget::new(10);
        let mut held = Vec::new();
        assert!(hold(&b, &mut held, 3, 3));
        assert_eq!(b.used(), 9);
        // A fourth does not fit: what was held stays held.
        assert!(!hold(&b, &mut held, 4, 3));
        assert_eq!((held.len(), b.used()), (3, 9));
        assert!(hold(&b, &mut held, 1, 3));
        assert_eq!(b.used(), 3);
        // Another holder of the same budget sees only what is left.
        let mut other = Vec::new();
        assert!(!hold(&b, &mut other, 3, 3));
        assert_eq!((other.len(), b.used()), (2, 9));
        assert!(hold(&b, &mut held, 0, 3));
        assert!(hold(&b, &mut other, 3, 3));
        assert_eq!(b.used(), 9);
    }
}
