//! A set of half-open byte ranges `[start, end)`, kept sorted and merged. Pure.
//! Sequential writes keep it at one range, so every operation is cheap in practice.

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ranges {
    /// Sorted, non-overlapping, non-adjacent, non-empty ranges.
    spans: Vec<(u64, u64)>,
}

impl Ranges {
    pub(crate) fn new() -> Ranges {
        Ranges::default()
    }

    /// Add `[start, end)`, merging with overlapping or adjacent ranges.
    pub(crate) fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut lo, mut hi) = (start, end);
        // First span that ends at or after `start` (it may touch the new range).
        let first = self.spans.partition_point(|&(_, e)| e < lo);
        let mut last = first;
        while last < self.spans.len() && self.spans[last].0 <= hi {
            lo = lo.min(self.spans[last].0);
            hi = hi.max(self.spans[last].1);
            last += 1;
        }
        self.spans.splice(first..last, [(lo, hi)]);
    }

    /// True if every byte of `[start, end)` is in the set (an empty range is covered).
    pub(crate) fn covers(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        let i = self.spans.partition_point(|&(_, e)| e <= start);
        matches!(self.spans.get(i), Some(&(s, e)) if s <= start && e >= end)
    }

    /// The parts of `[start, end)` that are not in the set, in order.
    pub(crate) fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut pos = start;
        for &(s, e) in &self.spans {
            if pos >= end {
                break;
            }
            if e <= pos {
                continue;
            }
            if s > pos {
                out.push((pos, s.min(end)));
            }
            pos = pos.max(e);
        }
        if pos < end {
            out.push((pos, end));
        }
        out
    }

    /// The ranges, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.spans.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(r: &Ranges) -> Vec<(u64, u64)> {
        r.iter().collect()
    }

    #[test]
    fn inserts_merge_overlapping_and_adjacent_ranges() {
        let mut r = Ranges::new();
        r.insert(10, 20);
        r.insert(30, 40);
        assert_eq!(spans(&r), vec![(10, 20), (30, 40)]);
        r.insert(20, 25); // adjacent to the first
        assert_eq!(spans(&r), vec![(10, 25), (30, 40)]);
        r.insert(5, 35); // swallows both
        assert_eq!(spans(&r), vec![(5, 40)]);
        r.insert(50, 50); // empty: ignored
        assert_eq!(spans(&r), vec![(5, 40)]);
        r.insert(0, 1);
        assert_eq!(spans(&r), vec![(0, 1), (5, 40)]);
    }

    #[test]
    fn coverage_and_gaps() {
        let mut r = Ranges::new();
        r.insert(0, 10);
        r.insert(20, 30);
        assert!(r.covers(0, 10));
        assert!(r.covers(2, 8));
        assert!(!r.covers(5, 15));
        assert!(!r.covers(10, 20));
        assert!(r.covers(7, 7));
        assert_eq!(r.gaps(0, 40), vec![(10, 20), (30, 40)]);
        assert_eq!(r.gaps(5, 25), vec![(10, 20)]);
        assert_eq!(r.gaps(0, 10), Vec::<(u64, u64)>::new());
        assert_eq!(Ranges::new().gaps(3, 9), vec![(3, 9)]);
    }
}
