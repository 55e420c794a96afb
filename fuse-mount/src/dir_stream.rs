//! The state of one open directory: a cursor over the server's name-ordered listing
//! that is fetched page by page, never whole (DESIGN §7, JuiceFS #2831).
//!
//! FUSE hands back an opaque offset ("cookie") to resume a listing. Offsets 1 and 2
//! belong to "." and ".."; entries are numbered from 3 in the order fetched. The
//! entries fetched but not yet returned wait in `pending`; the names of recently
//! returned entries are remembered by offset, so the usual resume (at the offset of
//! the last entry the kernel took) becomes a `ReadDir { after: name }` at worst. An
//! offset older than that memory (a `seekdir` far back) restarts the listing and
//! skips forward: slower, still bounded in memory. Pure: the caller fetches.

use ferrofs_proto::attr::DirEntryPlus;
use std::collections::VecDeque;

/// Offset of the first real entry; 1 is ".", 2 is "..".
pub(crate) const FIRST_ENTRY_OFFSET: u64 = 3;
/// Returned entries whose names are remembered for resuming.
const RECENT_COOKIES: usize = 1024;

/// What the caller does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Return this entry (at this offset).
    Entry(u64, DirEntryPlus),
    /// Fetch the next page: the entries after this name (from the start if `None`).
    Fetch(Option<Vec<u8>>),
    /// The listing is complete.
    End,
}

#[derive(Debug)]
pub(crate) struct DirStream {
    pending: VecDeque<(u64, DirEntryPlus)>,
    /// Offset given to the next fetched entry.
    next_offset: u64,
    /// Name of the last fetched entry: where the next page starts.
    after: Option<Vec<u8>>,
    /// The server said there is nothing after `after`.
    done: bool,
    /// Fetched entries at or below this offset are dropped (seek fallback).
    skip_to: u64,
    recent: VecDeque<(u64, Vec<u8>)>,
}

impl Default for DirStream {
    fn default() -> Self {
        DirStream::new()
    }
}

impl DirStream {
    pub(crate) fn new() -> DirStream {
        DirStream {
            pending: VecDeque::new(),
            next_offset: FIRST_ENTRY_OFFSET,
            after: None,
            done: false,
            skip_to: 0,
            recent: VecDeque::new(),
        }
    }

    fn restart(&mut self, after: Option<Vec<u8>>, next_offset: u64, skip_to: u64) {
        self.pending.clear();
        self.after = after;
        self.next_offset = next_offset;
        self.done = false;
        self.skip_to = skip_to;
    }

    /// Position the stream so the next entry is the one after the entry at `offset`
    /// (`offset` < 3 means from the first real entry).
    pub(crate) fn seek(&mut self, offset: u64) {
        let target = offset.max(FIRST_ENTRY_OFFSET - 1);
        let next = self.pending.front().map_or(self.next_offset, |(o, _)| *o);
        if next == target + 1 {
            return; // the common case: continuing where the last reply stopped
        }
        if target == FIRST_ENTRY_OFFSET - 1 {
            self.recent.clear();
            self.restart(None, FIRST_ENTRY_OFFSET, 0);
            return;
        }
        let known = self
            .recent
            .iter()
            .rev()
            .find(|(o, _)| *o == target)
            .map(|(_, n)| n.clone());
        match known {
            Some(name) => self.restart(Some(name), target + 1, 0),
            None => self.restart(None, FIRST_ENTRY_OFFSET, target),
        }
    }

    /// The next thing to do.
    pub(crate) fn next_step(&mut self) -> Step {
        while let Some((offset, entry)) = self.pending.pop_front() {
            if offset > self.skip_to {
                return Step::Entry(offset, entry);
            }
        }
        if self.done {
            Step::End
        } else {
            Step::Fetch(self.after.clone())
        }
    }

    /// A page fetched after a `Step::Fetch`. An empty page ends the listing even if
    /// the server did not say so (it cannot make progress otherwise).
    pub(crate) fn push_page(&mut self, entries: Vec<DirEntryPlus>, done: bool) {
        self.done = done || entries.is_empty();
        for entry in entries {
            self.after = Some(entry.name.clone());
            self.pending.push_back((self.next_offset, entry));
            self.next_offset += 1;
        }
    }

    /// An entry that did not fit in the reply: it comes first next time.
    pub(crate) fn unread(&mut self, offset: u64, entry: DirEntryPlus) {
        self.pending.push_front((offset, entry));
    }

    /// The entry at `offset` was returned (or skipped on purpose).
    pub(crate) fn returned(&mut self, offset: u64, name: &[u8]) {
        if self.recent.len() >= RECENT_COOKIES {
            self.recent.pop_front();
        }
        self.recent.push_back((offset, name.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::test_attr;
    use ferrofs_proto::attr::FileKind;

    fn entry(name: &str) -> DirEntryPlus {
        let attr = test_attr(name.len() as u64 + 10, FileKind::File, 0o644);
        DirEntryPlus {
            name: name.as_bytes().to_vec(),
            attr,
        }
    }

    /// Take up to `n` entries as a reply would, fetching pages of `page` from `all`.
    fn reply(
        s: &mut DirStream,
        offset: u64,
        n: usize,
        all: &[&str],
        page: usize,
    ) -> Vec<(u64, String)> {
        s.seek(offset);
        let mut out = Vec::new();
        loop {
            match s.next_step() {
                Step::Entry(o, e) => {
                    if out.len() == n {
                        s.unread(o, e);
                        break;
                    }
                    s.returned(o, &e.name);
                    out.push((o, String::from_utf8_lossy(&e.name).into_owned()));
                }
                Step::Fetch(after) => {
                    let start = match after {
                        Some(a) => all
                            .iter()
                            .position(|x| x.as_bytes() == a.as_slice())
                            .map_or(all.len(), |i| i + 1),
                        None => 0,
                    };
                    let end = (start + page).min(all.len());
                    s.push_page(
                        all[start..end].iter().map(|x| entry(x)).collect(),
                        end == all.len(),
                    );
                }
                Step::End => break,
            }
        }
        out
    }

    #[test]
    fn pages_stream_through_in_order_with_increasing_offsets() {
        let all = ["a", "b", "c", "d", "e", "f", "g"];
        let mut s = DirStream::new();
        let first = reply(&mut s, 2, 3, &all, 2);
        assert_eq!(
            first,
            vec![(3, "a".into()), (4, "b".into()), (5, "c".into())]
        );
        let second = reply(&mut s, 5, 3, &all, 2);
        assert_eq!(
            second,
            vec![(6, "d".into()), (7, "e".into()), (8, "f".into())]
        );
        let third = reply(&mut s, 8, 3, &all, 2);
        assert_eq!(third, vec![(9, "g".into())]);
        assert!(reply(&mut s, 9, 3, &all, 2).is_empty());
    }

    #[test]
    fn an_older_cookie_resumes_after_its_name() {
        let all = ["a", "b", "c", "d", "e"];
        let mut s = DirStream::new();
        reply(&mut s, 2, 4, &all, 10);
        // Back to the cookie of "b" (offset 4): "c" comes next, same offsets as before.
        assert_eq!(
            reply(&mut s, 4, 2, &all, 10),
            vec![(5, "c".into()), (6, "d".into())]
        );
    }

    #[test]
    fn an_unknown_cookie_restarts_and_skips_forward() {
        let all = ["a", "b", "c", "d", "e"];
        let mut s = DirStream::new();
        reply(&mut s, 2, 5, &all, 2);
        s.recent.clear(); // as if the cookie had been forgotten
        assert_eq!(
            reply(&mut s, 5, 10, &all, 2),
            vec![(6, "d".into()), (7, "e".into())]
        );
    }

    #[test]
    fn rewind_starts_over() {
        let all = ["a", "b"];
        let mut s = DirStream::new();
        reply(&mut s, 2, 5, &all, 1);
        assert_eq!(
            reply(&mut s, 0, 5, &all, 1),
            vec![(3, "a".into()), (4, "b".into())]
        );
    }

    #[test]
    fn an_empty_page_ends_the_listing() {
        let mut s = DirStream::new();
        s.seek(2);
        assert_eq!(s.next_step(), Step::Fetch(None));
        s.push_page(Vec::new(), false);
        assert_eq!(s.next_step(), Step::End);
    }
}
