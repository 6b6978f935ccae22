//! When a background round that failed runs again: after twice the wait of the last failure,
//! up to a ceiling, and at the usual interval again after a success. Nothing is lost meanwhile:
//! what a round would have done stays queued.

use std::time::Duration;

/// The wait before a loop's next round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after a success.
    pub interval: Duration,
    /// The longest wait after failures.
    pub ceiling: Duration,
    /// The wait now.
    pub wait: Duration,
}

impl Backoff {
    /// Rounds every `interval`, backing off to at most `ceiling`.
    pub fn new(interval: Duration, ceiling: Duration) -> Backoff {
        Backoff { interval, ceiling, wait: interval }
    }

    /// The wait after a round that succeeded or failed.
    pub fn after(&mut self, succeeded: bool) -> Duration {
        self.wait = if succeeded { self.interval } else { (self.wait * 2).min(self.ceiling.max(self.interval)) };
        self.wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_double_the_wait_up_to_the_ceiling_and_a_success_resets_it() {
        let s = Duration::from_secs;
        let mut backoff = Backoff::new(s(2), s(60));
        let waits: Vec<Duration> =
            [false, false, false, false, false, false, true, false].into_iter().map(|ok| backoff.after(ok)).collect();
        assert_eq!(waits, [s(4), s(8), s(16), s(32), s(60), s(60), s(2), s(4)]);
        // A ceiling below the interval never shortens it.
        let mut slow = Backoff::new(s(120), s(60));
        assert_eq!(slow.after(false), s(120));
    }
}
