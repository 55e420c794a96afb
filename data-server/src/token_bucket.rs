//! A byte-rate limiter. Taking more than is available puts the bucket in debt and
//! waits until the debt is repaid, so any request size works at any rate.

use std::time::{Duration, Instant};

pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` tokens per second (must be > 0), holding at most one second's worth.
    pub fn new(rate: u64) -> TokenBucket {
        let rate = rate.max(1) as f64;
        TokenBucket {
            rate,
            burst: rate,
            tokens: rate,
            last: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Take `n` tokens; returns how long the caller must wait before proceeding.
    pub fn take_at(&mut self, n: u64, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    /// Take `n` tokens, pausing as long as the rate requires.
    pub async fn take(&mut self, n: u64) {
        let wait = self.take_at(n, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000);
        b.last = t0;
        assert_eq!(
            b.take_at(1000, t0),
            Duration::ZERO,
            "a full second is available"
        );
        assert_eq!(b.take_at(500, t0), Duration::from_millis(500));
        // After the wait the debt is repaid and the next take must wait for its own share.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(b.take_at(100, t1), Duration::from_millis(100));
    }

    #[test]
    fn tokens_never_exceed_one_second() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100);
        b.last = t0;
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.take_at(100, later), Duration::ZERO);
        assert!(b.take_at(1, later) > Duration::ZERO);
    }
}
