//! Answering a directory scan from one listing.
//!
//! After `drop_caches`, or in a fresh mount, `stat` of every file of a directory (a
//! backup tool, `find`, `du`, `ls` without readdirplus, a build checking timestamps)
//! sends the kernel's lookups one name at a time, each a round trip to the metadata
//! leader. When this mount sees many lookups in one directory with no change of its own
//! in between, it fetches the directory's listing (with attributes, page by page) once
//! and answers the following lookups from it, including "no such name", until the
//! entry TTL runs out. That is the staleness the kernel's own entry cache already
//! allows, so the consistency promise does not change: a change made on another mount
//! shows here within the entry TTL.
//!
//! A change made through this mount (any mutating request, any commit of file data)
//! bumps `changes`; a listing fetched before the latest change is never used, and the
//! count of lookups starts again, so creating files one after another never triggers
//! a fetch.

use ferrofs_client::{FileAttr, InodeId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lookups in one directory, with no change in between, before its listing is fetched.
const SCAN_LOOKUPS: u32 = 16;
/// Directories larger than this are never fetched whole.
pub(crate) const MAX_SCAN_ENTRIES: usize = 200_000;
/// Directories whose listings are kept at once.
const MAX_LISTINGS: usize = 8;
/// Directories tracked for lookup counts before the oldest are forgotten.
const MAX_TRACKED: usize = 1024;

/// Bumped by every change this mount makes to the namespace or to file data.
#[derive(Default, Debug)]
pub(crate) struct Changes(AtomicU64);

impl Changes {
    pub(crate) fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// What the listing says about a name.
#[derive(Debug, PartialEq)]
pub(crate) enum Answer {
    /// The name's attributes, from a fresh listing.
    Found(FileAttr),
    /// A fresh listing has no such name.
    Missing,
    /// Ask the cluster; `fetch` says this lookup should also start fetching the
    /// listing (at most one fetch runs per directory).
    Ask { fetch: bool },
}

/// A fetched listing.
pub(crate) struct Listing {
    /// `Changes` before the fetch started.
    changes: u64,
    fetched: Instant,
    names: HashMap<Vec<u8>, FileAttr>,
}

impl Listing {
    pub(crate) fn new(changes: u64, fetched: Instant, entries: Vec<(Vec<u8>, FileAttr)>) -> Self {
        Listing {
            changes,
            fetched,
            names: entries.into_iter().collect(),
        }
    }
}

#[derive(Default)]
struct DirState {
    /// Lookups counted while `Changes` was `counted_at` (a change resets the count).
    lookups: u32,
    counted_at: u64,
    last_lookup: Option<Instant>,
    fetching: bool,
    /// Too big to fetch: not tried again before this.
    refused_until: Option<Instant>,
    listing: Option<Listing>,
}

pub(crate) struct ScanCache {
    ttl: Duration,
    pub(crate) changes: Arc<Changes>,
    dirs: Mutex<HashMap<InodeId, DirState>>,
}

impl ScanCache {
    /// A cache whose listings live `ttl` (the entry TTL); zero turns it off.
    pub(crate) fn new(ttl: Duration, changes: Arc<Changes>) -> ScanCache {
        ScanCache {
            ttl,
            changes,
            dirs: Mutex::new(HashMap::new()),
        }
    }

    /// Answer a lookup of `name` in `parent` at time `now`, and count it.
    pub(crate) fn lookup(&self, parent: InodeId, name: &[u8], now: Instant) -> Answer {
        if self.ttl.is_zero() {
            return Answer::Ask { fetch: false };
        }
        let changes = self.changes.current();
        let mut dirs = self.dirs.lock();
        if dirs.len() >= MAX_TRACKED && !dirs.contains_key(&parent) {
            self.forget_idle(&mut dirs, now);
        }
        let st = dirs.entry(parent).or_default();
        if let Some(listing) = &st.listing {
            if listing.changes == changes && now.duration_since(listing.fetched) < self.ttl {
                st.last_lookup = Some(now);
                return match listing.names.get(name) {
                    Some(attr) => Answer::Found(attr.clone()),
                    None => Answer::Missing,
                };
            }
            st.listing = None;
        }
        let idle = st
            .last_lookup
            .is_none_or(|t| now.duration_since(t) >= self.ttl);
        if st.counted_at != changes || idle {
            st.lookups = 0;
            st.counted_at = changes;
        }
        st.last_lookup = Some(now);
        st.lookups = st.lookups.saturating_add(1);
        let refused = st.refused_until.is_some_and(|t| now < t);
        let fetch = st.lookups >= SCAN_LOOKUPS && !st.fetching && !refused;
        if fetch {
            st.fetching = true;
        }
        Answer::Ask { fetch }
    }

    /// A fetch started by `lookup` ended: with the listing, or `None` when it failed
    /// or the directory is too big to fetch.
    pub(crate) fn fetched(&self, parent: InodeId, listing: Option<Listing>, now: Instant) {
        let mut dirs = self.dirs.lock();
        let with_listings = dirs.values().filter(|d| d.listing.is_some()).count();
        let Some(st) = dirs.get_mut(&parent) else {
            return;
        };
        st.fetching = false;
        match listing {
            Some(l) if with_listings < MAX_LISTINGS || st.listing.is_some() => {
                st.listing = Some(l);
            }
            Some(_) => {}
            None => st.refused_until = Some(now + self.ttl * 10),
        }
    }

    /// Drop the state of directories not looked up within the TTL.
    fn forget_idle(&self, dirs: &mut HashMap<InodeId, DirState>, now: Instant) {
        dirs.retain(|_, st| {
            st.fetching
                || st
                    .last_lookup
                    .is_some_and(|t| now.duration_since(t) < self.ttl)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::test_attr;
    use ferrofs_proto::attr::FileKind;

    const TTL: Duration = Duration::from_secs(1);
    const DIR: InodeId = InodeId(7);

    fn attr(ino: u64) -> FileAttr {
        test_attr(ino, FileKind::File, 0o644)
    }

    fn cache() -> ScanCache {
        ScanCache::new(TTL, Arc::new(Changes::default()))
    }

    /// Count lookups until one asks for a fetch; returns how many it took.
    fn lookups_until_fetch(c: &ScanCache, now: Instant) -> u32 {
        for n in 1..=SCAN_LOOKUPS * 2 {
            if c.lookup(DIR, b"x", now) == (Answer::Ask { fetch: true }) {
                return n;
            }
        }
        panic!("no fetch was asked for");
    }

    fn listing(c: &ScanCache, at: Instant) -> Listing {
        Listing::new(c.changes.current(), at, vec![(b"a".to_vec(), attr(10))])
    }

    #[test]
    fn a_scan_fetches_once_then_answers_from_the_listing() {
        let c = cache();
        let t = Instant::now();
        assert_eq!(lookups_until_fetch(&c, t), SCAN_LOOKUPS);
        // While the fetch runs, no second fetch starts.
        assert_eq!(c.lookup(DIR, b"x", t), Answer::Ask { fetch: false });
        c.fetched(DIR, Some(listing(&c, t)), t);
        assert_eq!(c.lookup(DIR, b"a", t), Answer::Found(attr(10)));
        assert_eq!(c.lookup(DIR, b"b", t), Answer::Missing);
    }

    #[test]
    fn a_listing_expires_after_the_ttl() {
        let c = cache();
        let t = Instant::now();
        lookups_until_fetch(&c, t);
        c.fetched(DIR, Some(listing(&c, t)), t);
        assert_eq!(c.lookup(DIR, b"a", t + TTL), Answer::Ask { fetch: false });
    }

    #[test]
    fn a_change_of_this_mount_drops_the_listing_and_the_count() {
        let c = cache();
        let t = Instant::now();
        lookups_until_fetch(&c, t);
        c.fetched(DIR, Some(listing(&c, t)), t);
        c.changes.bump();
        assert_eq!(c.lookup(DIR, b"a", t), Answer::Ask { fetch: false });
        // Lookup, change, lookup, change...: a create loop never fetches.
        for _ in 0..SCAN_LOOKUPS * 2 {
            assert_eq!(c.lookup(DIR, b"new", t), Answer::Ask { fetch: false });
            c.changes.bump();
        }
    }

    #[test]
    fn a_listing_fetched_across_a_change_is_not_used() {
        let c = cache();
        let t = Instant::now();
        lookups_until_fetch(&c, t);
        let stale = listing(&c, t);
        c.changes.bump();
        c.fetched(DIR, Some(stale), t);
        assert_eq!(c.lookup(DIR, b"a", t), Answer::Ask { fetch: false });
    }

    #[test]
    fn a_directory_too_big_is_not_fetched_again_soon() {
        let c = cache();
        let t = Instant::now();
        lookups_until_fetch(&c, t);
        c.fetched(DIR, None, t);
        for _ in 0..SCAN_LOOKUPS * 2 {
            assert_eq!(c.lookup(DIR, b"x", t), Answer::Ask { fetch: false });
        }
        assert_eq!(lookups_until_fetch(&c, t + TTL * 11), SCAN_LOOKUPS);
    }

    #[test]
    fn sparse_lookups_never_fetch() {
        let c = cache();
        let mut t = Instant::now();
        for _ in 0..SCAN_LOOKUPS * 3 {
            assert_eq!(c.lookup(DIR, b"x", t), Answer::Ask { fetch: false });
            t += TTL;
        }
    }

    #[test]
    fn a_zero_ttl_turns_it_off() {
        let c = ScanCache::new(Duration::ZERO, Arc::new(Changes::default()));
        for _ in 0..SCAN_LOOKUPS * 2 {
            assert_eq!(
                c.lookup(DIR, b"x", Instant::now()),
                Answer::Ask { fetch: false }
            );
        }
    }
}
