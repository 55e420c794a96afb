//! Exponential backoff between retries, bounded by a deadline. Pure: the caller sleeps.

use std::time::Duration;

/// First delay after a failed attempt.
pub(crate) const INITIAL_DELAY: Duration = Duration::from_millis(50);
/// Longest delay between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL_DELAY, MAX_DELAY)
    }
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            next: initial.min(max),
            max,
        }
    }

    /// The delay before the next attempt, doubling each time up to the maximum.
    /// `None` when no time is left before the deadline; otherwise never longer than
    /// the time left, so the last attempt still happens before the deadline.
    pub(crate) fn delay_within(&mut self, remaining: Duration) -> Option<Duration> {
        if remaining.is_zero() {
            return None;
        }
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        Some(base.min(remaining))
    }

    /// Like `delay_within`, with a random spread of -25%..+0% so that many clients
    /// retrying together do not stay in lockstep.
    pub(crate) fn jittered_delay_within(&mut self, remaining: Duration) -> Option<Duration> {
        let d = self.delay_within(remaining)?;
        let factor = 0.75 + rand::random::<f64>() * 0.25;
        Some(d.mul_f64(factor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum() {
        let mut b = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        let far = Duration::from_secs(60);
        let got: Vec<u128> = (0..8)
            .filter_map(|_| b.delay_within(far))
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(got, vec![50, 100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn never_sleeps_past_the_deadline() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(1));
        assert_eq!(
            b.delay_within(Duration::from_millis(120)),
            Some(Duration::from_millis(120))
        );
        assert_eq!(b.delay_within(Duration::ZERO), None);
    }

    #[test]
    fn jitter_stays_within_a_quarter_below() {
        for _ in 0..100 {
            let mut b = Backoff::new(Duration::from_millis(400), Duration::from_secs(1));
            let d = b
                .jittered_delay_within(Duration::from_secs(10))
                .expect("time left");
            assert!(
                d >= Duration::from_millis(300) && d <= Duration::from_millis(400),
                "{d:?}"
            );
        }
    }
}
