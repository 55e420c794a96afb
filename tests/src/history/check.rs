//! Wing & Gong's linearizability search with Lowe's memoisation: repeatedly pick an
//! operation that may come next (no pending operation ended before it started), apply it
//! to the model, and require the recorded outcome; remember every (set of done operations,
//! model state) already explored so each is searched once. Operations with an unknown
//! outcome may take effect (with any outcome) at any point after their start, or never.

use super::model::{Model, Outcome};
use super::Event;
use std::collections::HashSet;

/// What the search found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order works; the message names the operations the longest order could not place.
    NotLinearizable(String),
    /// The search hit its bound before deciding.
    Inconclusive(usize),
}

/// Check a history; explores at most `max_states` (done-set, model) pairs.
pub fn check(events: &[Event], max_states: usize) -> Verdict {
    let mut ops: Vec<&Event> = events
        .iter()
        // A read whose outcome is unknown says nothing.
        .filter(|e| !(e.outcome == Outcome::Unknown && matches!(e.op, super::Op::Read(_))))
        .collect();
    ops.sort_by_key(|e| e.start);
    let mut search = Search {
        ops,
        seen: HashSet::new(),
        max_states,
        best: (0, Vec::new()),
    };
    let done = vec![false; search.ops.len()];
    match search.dfs(&done, &Model::default(), 0) {
        Some(true) => Verdict::Linearizable,
        Some(false) => {
            let (placed, stuck) = &search.best;
            let stuck: Vec<String> = stuck
                .iter()
                .map(|&i| {
                    let e = search.ops[i];
                    format!(
                        "client {} {:?} -> {:?} [{}..{:?}]",
                        e.client, e.op, e.outcome, e.start, e.end
                    )
                })
                .collect();
            Verdict::NotLinearizable(format!(
                "at most {placed} of {} operations can be ordered; none of these fits next: {}",
                search.ops.len(),
                stuck.join("; ")
            ))
        }
        None => Verdict::Inconclusive(max_states),
    }
}

struct Search<'a> {
    ops: Vec<&'a Event>,
    seen: HashSet<(Vec<bool>, Model)>,
    max_states: usize,
    /// The most operations placed so far, and the candidates that failed there.
    best: (usize, Vec<usize>),
}

impl Search<'_> {
    /// Some(true): a linearization exists from here; Some(false): none; None: out of budget.
    fn dfs(&mut self, done: &[bool], model: &Model, placed: usize) -> Option<bool> {
        // Finished when every operation with a known outcome is placed.
        if self
            .ops
            .iter()
            .zip(done)
            .all(|(e, d)| *d || e.outcome == Outcome::Unknown)
        {
            return Some(true);
        }
        if !self.seen.insert((done.to_vec(), model.clone())) {
            return Some(false);
        }
        if self.seen.len() > self.max_states {
            return None;
        }
        // An operation may come next only if it started before every pending operation ended.
        let horizon = self
            .ops
            .iter()
            .zip(done)
            .filter(|(_, d)| !**d)
            .filter_map(|(e, _)| e.end)
            .min()
            .unwrap_or(u64::MAX);
        let mut failed = Vec::new();
        for i in 0..self.ops.len() {
            if done[i] || self.ops[i].start > horizon {
                continue;
            }
            let e = self.ops[i];
            let mut next = model.clone();
            let got = next.apply(&e.op);
            if e.outcome != Outcome::Unknown && got != e.outcome {
                failed.push(i);
                continue;
            }
            let mut d = done.to_vec();
            d[i] = true;
            match self.dfs(&d, &next, placed + 1) {
                Some(true) => return Some(true),
                Some(false) => {}
                None => return None,
            }
        }
        if placed >= self.best.0 && !failed.is_empty() {
            self.best = (placed, failed);
        }
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;

    fn ev(client: usize, op: Op, outcome: Outcome, start: u64, end: Option<u64>) -> Event {
        Event {
            client,
            op,
            outcome,
            start,
            end,
        }
    }

    #[test]
    fn concurrent_creates_one_wins() {
        let h = vec![
            ev(0, Op::Create("a".into()), Outcome::Exists, 0, Some(10)),
            ev(1, Op::Create("a".into()), Outcome::Ok, 1, Some(9)),
        ];
        assert_eq!(check(&h, 10_000), Verdict::Linearizable);
    }

    #[test]
    fn both_creates_succeeding_is_caught() {
        let h = vec![
            ev(0, Op::Create("a".into()), Outcome::Ok, 0, Some(10)),
            ev(1, Op::Create("a".into()), Outcome::Ok, 1, Some(9)),
        ];
        assert!(matches!(check(&h, 10_000), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught() {
        let h = vec![
            ev(0, Op::Create("a".into()), Outcome::Ok, 0, Some(1)),
            ev(0, Op::Write("a".into(), 5), Outcome::Ok, 2, Some(3)),
            ev(1, Op::Read("a".into()), Outcome::Value(0), 4, Some(5)),
        ];
        assert!(matches!(check(&h, 10_000), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn real_time_order_is_respected() {
        // The unlink ended before the create started: the create must see no file.
        let h = vec![
            ev(0, Op::Create("a".into()), Outcome::Ok, 0, Some(1)),
            ev(1, Op::Unlink("a".into()), Outcome::Ok, 2, Some(3)),
            ev(0, Op::Create("a".into()), Outcome::Exists, 4, Some(5)),
        ];
        assert!(matches!(check(&h, 10_000), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn unknown_outcomes_may_or_may_not_happen() {
        let happened = vec![
            ev(0, Op::Create("a".into()), Outcome::Unknown, 0, None),
            ev(1, Op::Create("a".into()), Outcome::Exists, 5, Some(6)),
        ];
        assert_eq!(check(&happened, 10_000), Verdict::Linearizable);
        let never = vec![
            ev(0, Op::Create("a".into()), Outcome::Unknown, 0, None),
            ev(1, Op::Unlink("a".into()), Outcome::NotFound, 5, Some(6)),
        ];
        assert_eq!(check(&never, 10_000), Verdict::Linearizable);
    }

    #[test]
    fn rename_moves_content() {
        let h = vec![
            ev(0, Op::Create("a".into()), Outcome::Ok, 0, Some(1)),
            ev(0, Op::Write("a".into(), 3), Outcome::Ok, 2, Some(3)),
            ev(
                0,
                Op::Rename("a".into(), "b".into()),
                Outcome::Ok,
                4,
                Some(5),
            ),
            ev(1, Op::Read("b".into()), Outcome::Value(3), 6, Some(7)),
            ev(1, Op::Read("a".into()), Outcome::NotFound, 8, Some(9)),
        ];
        assert_eq!(check(&h, 10_000), Verdict::Linearizable);
    }
}
