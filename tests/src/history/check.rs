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
        best: (0, Vec::new()),
    };
    match search.run(max_states) {
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

/// Which operations are placed, one bit each.
type Done = Vec<u64>;

fn is_set(done: &Done, i: usize) -> bool {
    done[i / 64] & (1 << (i % 64)) != 0
}

fn set(done: &mut Done, i: usize) {
    done[i / 64] |= 1 << (i % 64);
}

/// One level of the depth-first search (kept on an explicit stack: histories have
/// thousands of operations).
struct Frame {
    done: Done,
    model: Model,
    placed: usize,
    /// Operations with a known outcome not yet placed.
    known_left: usize,
    /// Only operations that started before this may come next.
    horizon: u64,
    /// The next candidate index to try.
    next: usize,
    failed: Vec<usize>,
}

struct Search<'a> {
    ops: Vec<&'a Event>,
    seen: HashSet<(Done, Model)>,
    /// The most operations placed so far, and the candidates that failed there.
    best: (usize, Vec<usize>),
}

impl Search<'_> {
    fn frame(&self, done: Done, model: Model, placed: usize, known_left: usize) -> Frame {
        // An operation may come next only if it started before every pending one ended.
        let horizon = self
            .ops
            .iter()
            .enumerate()
            .filter(|(i, _)| !is_set(&done, *i))
            .filter_map(|(_, e)| e.end)
            .min()
            .unwrap_or(u64::MAX);
        Frame {
            done,
            model,
            placed,
            known_left,
            horizon,
            next: 0,
            failed: Vec::new(),
        }
    }

    /// Some(true): a linearization exists; Some(false): none; None: out of budget.
    fn run(&mut self, max_states: usize) -> Option<bool> {
        let known = self
            .ops
            .iter()
            .filter(|e| e.outcome != Outcome::Unknown)
            .count();
        let words = self.ops.len().div_ceil(64).max(1);
        let mut stack = vec![self.frame(vec![0; words], Model::default(), 0, known)];
        while let Some(top) = stack.last_mut() {
            if top.known_left == 0 {
                return Some(true);
            }
            // The next candidate of this frame, if any.
            let mut pick = None;
            while top.next < self.ops.len() {
                let i = top.next;
                top.next += 1;
                let e = self.ops[i];
                if e.start > top.horizon {
                    break; // sorted by start: no later one qualifies either
                }
                if is_set(&top.done, i) {
                    continue;
                }
                let mut model = top.model.clone();
                let got = model.apply(&e.op);
                if e.outcome != Outcome::Unknown && got != e.outcome {
                    top.failed.push(i);
                    continue;
                }
                let mut done = top.done.clone();
                set(&mut done, i);
                if self.seen.insert((done.clone(), model.clone())) {
                    pick = Some((i, done, model));
                    break;
                }
            }
            match pick {
                Some((i, done, model)) => {
                    if self.seen.len() > max_states {
                        return None;
                    }
                    let known_left =
                        top.known_left - usize::from(self.ops[i].outcome != Outcome::Unknown);
                    let placed = top.placed + 1;
                    let frame = self.frame(done, model, placed, known_left);
                    stack.push(frame);
                }
                None => {
                    if top.placed >= self.best.0 && !top.failed.is_empty() {
                        self.best = (top.placed, std::mem::take(&mut top.failed));
                    }
                    stack.pop();
                }
            }
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

    #[test]
    fn long_histories_do_not_overflow_the_stack() {
        // 3 clients, 4000 operations each, overlapping in time.
        let mut h = Vec::new();
        for k in 0..4000u64 {
            for c in 0..3usize {
                let name = format!("c{c}");
                let op = if k % 2 == 0 {
                    Op::Create(name)
                } else {
                    Op::Unlink(name)
                };
                let t = k * 10 + c as u64;
                h.push(ev(c, op, Outcome::Ok, t, Some(t + 5)));
            }
        }
        assert_eq!(check(&h, 1_000_000), Verdict::Linearizable);
    }
}
