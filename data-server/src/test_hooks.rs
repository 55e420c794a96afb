//! Test-only behaviour switched on by hidden `ferrofs-data` flags. Never set in
//! production: the defaults change nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Extra time every chunk read waits before it is served (`--test-read-delay-ms`),
/// so that tests can make one server slow.
static READ_DELAY_MS: AtomicU64 = AtomicU64::new(0);

/// Delay every chunk read of this process by `delay` (test only).
pub fn set_read_delay(delay: Duration) {
    let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    READ_DELAY_MS.store(ms, Ordering::Relaxed);
}

/// Wait the test read delay, if one is set.
pub(crate) async fn delay_read() {
    let ms = READ_DELAY_MS.load(Ordering::Relaxed);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
