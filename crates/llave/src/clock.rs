//! The clock the requisition rules read (and any code that wants a time tests can move):
//! the system clock by default, plus an offset a test can advance (`app.clock().advance(…)`)
//! to see what happens after a non-disclosure order ends or a deadline passes, without
//! waiting. Other modules keep `crypto::now()`: this is the injectable time, not a
//! replacement of every reading.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Clock {
    /// Seconds added to the system clock; never negative (time only moves forward).
    offset: AtomicI64,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Seconds since the Unix epoch, as this clock tells them.
    pub fn now(&self) -> i64 {
        crate::crypto::now() + self.offset.load(Ordering::Relaxed)
    }

    /// Moves the clock forward by `by` (tests, and demonstrations of deadlines).
    pub fn advance(&self, by: Duration) {
        let seconds = i64::try_from(by.as_secs()).unwrap_or(i64::MAX / 2);
        self.offset.fetch_add(seconds, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_is_ahead_of_the_system_clock_by_the_advance() {
        let clock = Clock::system();
        let before = clock.now();
        clock.advance(Duration::from_secs(31 * 86_400));
        let after = clock.now();
        assert!(after - before >= 31 * 86_400 && after - before < 31 * 86_400 + 5);
    }
}
