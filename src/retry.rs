//! How long to wait before trying again when the service (not the key) is in
//! trouble: a pure policy, so it can be tested without sleeping.

use std::time::Duration;

/// The first pause after a transient answer; each further one doubles.
const FIRST: Duration = Duration::from_millis(250);
/// The longest pause.
const MOST: Duration = Duration::from_secs(8);
/// How many transient answers one call takes before it gives up.
pub const MAX_TRANSIENT_TRIES: u32 = 10;

/// Growing, jittered pauses after answers like 503 "overloaded", within a
/// time budget and a bounded number of tries.
#[derive(Debug, Clone)]
pub struct Backoff {
    tries: u32,
    seed: u64,
}

impl Backoff {
    /// A fresh policy; `seed` drives the jitter.
    pub fn new(seed: u64) -> Backoff {
        Backoff {
            tries: 0,
            seed: seed | 1,
        }
    }

    /// The pause before the next try after a transient answer, or `None` to
    /// give up: too many tries, or the pause (at least what the API's
    /// `Retry-After` asks) doesn't fit in `left`.
    pub fn next(&mut self, retry_after: Option<Duration>, left: Duration) -> Option<Duration> {
        if self.tries >= MAX_TRANSIENT_TRIES {
            return None;
        }
        let base = FIRST
            .checked_mul(1u32 << self.tries.min(16))
            .unwrap_or(MOST)
            .min(MOST);
        self.tries += 1;
        // ±20%, so that many callers don't come back in step.
        let jitter = 0.8 + (crate::xorshift(&mut self.seed) % 401) as f64 / 1000.0;
        let pause = base.mul_f64(jitter).max(retry_after.unwrap_or_default());
        (pause <= left).then_some(pause)
    }

    /// How many transient answers it has seen.
    pub fn tries(&self) -> u32 {
        self.tries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_with_jitter_and_stop_at_the_budget() {
        let mut policy = Backoff::new(42);
        let budget = Duration::from_secs(60);
        let pauses: Vec<Duration> = (0..6).map(|_| policy.next(None, budget).unwrap()).collect();
        for (i, p) in pauses.iter().enumerate() {
            let base = FIRST * (1 << i);
            assert!(
                *p >= base.mul_f64(0.79) && *p <= base.mul_f64(1.21),
                "{i}: {p:?}"
            );
        }
        // Capped at MOST, and bounded in number.
        let later: Vec<_> = std::iter::from_fn(|| policy.next(None, budget)).collect();
        assert!(later.iter().all(|p| *p <= MOST.mul_f64(1.21)));
        assert_eq!(policy.tries(), MAX_TRANSIENT_TRIES);
    }

    #[test]
    fn retry_after_is_honoured_and_the_budget_is_never_exceeded() {
        let mut policy = Backoff::new(7);
        assert_eq!(
            policy.next(Some(Duration::from_secs(3)), Duration::from_secs(10)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            policy.next(Some(Duration::from_secs(30)), Duration::from_secs(10)),
            None
        );
        let mut policy = Backoff::new(7);
        assert_eq!(policy.next(None, Duration::from_millis(100)), None);
    }
}
