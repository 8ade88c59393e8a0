//! One key's rate limit in the emulator, refilling by either rule an API may
//! follow: a sliding window (each request counts for one window from when it
//! was made) or a token bucket (capacity comes back steadily). What it
//! states is what both OpenAI and Anthropic define their headers as: the
//! limit, what is left, and the time until the limit is whole again.

use super::Refill;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A key's requests (and the tokens they carried) against its limit.
#[derive(Debug)]
pub(super) struct Limiter {
    rule: Refill,
    limit: f64,
    token_limit: f64,
    window: Duration,
    /// Window: the requests still in it, with their tokens.
    sent: VecDeque<(Instant, f64)>,
    /// Bucket: what is left, as of `at`.
    requests: f64,
    tokens: f64,
    at: Instant,
}

/// What charging one request found.
#[derive(Debug, Clone, Copy)]
pub(super) struct Charged {
    /// Whether the request is let through.
    pub admitted: bool,
    /// Requests left after it.
    pub requests_left: f64,
    /// Time until the request limit is whole again.
    pub requests_reset: Duration,
    /// Tokens left after it.
    pub tokens_left: f64,
    /// Time until the token limit is whole again.
    pub tokens_reset: Duration,
    /// For a refused request: when one more would be let through.
    pub retry_in: Duration,
}

impl Limiter {
    pub(super) fn new(
        rule: Refill,
        limit: u32,
        window: Duration,
        token_limit: f64,
        now: Instant,
    ) -> Limiter {
        Limiter {
            rule,
            limit: f64::from(limit),
            token_limit,
            window,
            sent: VecDeque::new(),
            requests: f64::from(limit),
            tokens: token_limit,
            at: now,
        }
    }

    /// Charges a request of `tokens` at `now`; a refused one still counts
    /// as a request when `count_refused` (OpenAI: "unsuccessful requests
    /// contribute to your per-minute limit").
    pub(super) fn charge(&mut self, now: Instant, tokens: f64, count_refused: bool) -> Charged {
        match self.rule {
            Refill::Window => self.charge_window(now, tokens, count_refused),
            Refill::Bucket => self.charge_bucket(now, tokens, count_refused),
        }
    }

    fn charge_window(&mut self, now: Instant, tokens: f64, count_refused: bool) -> Charged {
        let window = self.window;
        while self
            .sent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= window)
        {
            self.sent.pop_front();
        }
        let admitted = (self.sent.len() as f64) < self.limit;
        if admitted {
            self.sent.push_back((now, tokens));
        } else if count_refused {
            self.sent.push_back((now, 0.0));
        }
        let until_out = |t: Instant| window.saturating_sub(now.duration_since(t));
        let retry_in = if admitted {
            Duration::ZERO
        } else {
            // When enough of the oldest have aged out for one more.
            let over = self.sent.len() + 1 - self.limit as usize;
            until_out(self.sent[over - 1].0)
        };
        let used_tokens: f64 = self.sent.iter().map(|(_, n)| n).sum();
        let newest = self
            .sent
            .back()
            .map_or(Duration::ZERO, |(t, _)| until_out(*t));
        let newest_tokens = self
            .sent
            .iter()
            .rev()
            .find(|(_, n)| *n > 0.0)
            .map_or(Duration::ZERO, |(t, _)| until_out(*t));
        Charged {
            admitted,
            requests_left: (self.limit - self.sent.len() as f64).max(0.0),
            requests_reset: newest,
            tokens_left: (self.token_limit - used_tokens).max(0.0),
            tokens_reset: newest_tokens,
            retry_in,
        }
    }

    fn charge_bucket(&mut self, now: Instant, tokens: f64, count_refused: bool) -> Charged {
        let per = self.window.as_secs_f64();
        let dt = now.duration_since(self.at).as_secs_f64();
        self.requests = (self.requests + dt * self.limit / per).min(self.limit);
        self.tokens = (self.tokens + dt * self.token_limit / per).min(self.token_limit);
        self.at = now;
        let admitted = self.requests >= 1.0;
        if admitted {
            self.requests -= 1.0;
            self.tokens = (self.tokens - tokens).max(0.0);
        } else if count_refused {
            self.requests = (self.requests - 1.0).max(0.0);
        }
        let to_full = |left: f64, cap: f64| Duration::from_secs_f64((cap - left) / cap * per);
        Charged {
            admitted,
            requests_left: self.requests,
            requests_reset: to_full(self.requests, self.limit),
            tokens_left: self.tokens,
            tokens_reset: to_full(self.tokens, self.token_limit),
            retry_in: Duration::from_secs_f64(((1.0 - self.requests) * per / self.limit).max(0.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(2);

    #[test]
    fn a_window_gives_capacity_back_only_as_requests_age_out() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Refill::Window, 5, W, 1000.0, t0);
        for i in 0..5 {
            let c = l.charge(t0 + Duration::from_millis(i * 100), 10.0, true);
            assert!(c.admitted);
            assert_eq!(c.requests_left, (4 - i) as f64);
            assert_eq!(c.requests_reset, W, "whole again a window after the newest");
        }
        // A bucket would have refilled two requests by 0.9 s: a window none.
        let c = l.charge(t0 + Duration::from_millis(900), 10.0, true);
        assert!(!c.admitted);
        // The refused request counts too: two must age out (at 2.0 and 2.1 s).
        assert_eq!(c.retry_in, Duration::from_millis(1200));
        assert!(
            !l.charge(t0 + Duration::from_millis(2000), 10.0, false)
                .admitted
        );
        let c = l.charge(t0 + Duration::from_millis(2100), 10.0, false);
        assert!(c.admitted);
        assert_eq!(c.requests_left, 0.0);
    }

    #[test]
    fn a_bucket_refills_steadily_and_states_the_time_until_whole() {
        let t0 = Instant::now();
        let mut l = Limiter::new(Refill::Bucket, 5, W, 1000.0, t0);
        for _ in 0..5 {
            assert!(l.charge(t0, 10.0, false).admitted);
        }
        let c = l.charge(t0 + Duration::from_millis(400), 10.0, false);
        assert!(c.admitted, "one request refilled in 0.4 s");
        assert!(c.requests_left.abs() < 1e-9);
        assert_eq!(c.requests_reset, W);
        let c = l.charge(t0 + Duration::from_millis(500), 10.0, false);
        assert!(!c.admitted);
        assert!(
            (c.retry_in.as_secs_f64() - 0.3).abs() < 1e-6,
            "{:?}",
            c.retry_in
        );
    }
}
