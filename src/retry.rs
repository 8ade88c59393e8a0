//! The retry policy of one call, as a pure state machine: it is told what
//! came back on which key and answers what to do next — send again (after
//! what pause, with what done to the key), deliver this answer, or fail. No
//! pool, network, clock or sleep inside: the request loop in `jongler.rs`
//! runs it and does what it says, and the tests below feed it canned
//! outcomes (cargo's `util/network/retry.rs` is the model).

use crate::pool::quota::Violation;
use crate::pool::state::LockdownSource;
use jiff::Timestamp;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Network errors say nothing about the key, and an outage would otherwise
/// be tried on every key of a large pool: retry on at most this many others.
pub const MAX_NETWORK_RETRIES: usize = 2;

/// How often one call may use one key that keeps answering "rate limited,
/// come back at T": each time only after T, so this only bounds a call that
/// would otherwise wait out --wait on a key that never recovers.
pub const MAX_TRIES_PER_KEY: usize = 3;

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

/// A rate-limit answer, read: until when its key is set aside, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    /// When the key (or the quotas named) may be used again.
    pub until: Timestamp,
    /// How that time is known.
    pub source: LockdownSource,
    /// What the API said, for people.
    pub reason: String,
    /// The quotas the API said ran out (empty: the whole key).
    pub violations: Vec<Violation>,
}

/// What an answer means for the call, as the policy sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    /// 2xx or 3xx with a body as expected.
    Success,
    /// A 200 without the JSON body a JSON API always sends (Gemini does this
    /// now and then): worth one more try on another key.
    EmptySuccess,
    /// The caller's own request is wrong (4xx): the answer stands.
    CallerError,
    /// A 5xx that isn't the service being away: the answer stands.
    ServerError,
    /// The service is in trouble (not the key): back off and try again.
    Unavailable {
        /// How long the API asks to wait, if it does.
        retry_after: Option<Duration>,
        /// What the API said, for people.
        reason: String,
    },
    /// A refusal that may be the key's or the request's: another key tells.
    SuspectKey {
        /// What the API said, for people.
        reason: String,
    },
    /// The key is bad.
    BadKey {
        /// What the API said, for people.
        reason: String,
    },
    /// The key is rate limited.
    RateLimited(RateLimit),
}

/// What one try came to.
#[derive(Debug)]
pub enum Outcome<A> {
    /// No answer (connect, timeout, reset …); `unsent` when the request
    /// surely never reached the API (no connection was made).
    NetworkError {
        /// What went wrong, for people.
        error: String,
        /// Whether it never left.
        unsent: bool,
    },
    /// The key's hold was lost while its request was in flight, and the
    /// request was stopped: it may have reached the API, so it is not sent
    /// again anywhere — the call fails.
    LeaseLost {
        /// What happened, for people.
        error: String,
    },
    /// An answer, with its status and meaning.
    Answered {
        /// The answer itself (the policy only keeps and hands it back).
        answer: A,
        /// Its HTTP status.
        status: u16,
        /// What it means.
        meaning: Meaning,
    },
}

/// The hold on key `name` was lost mid-request: the call fails, and the
/// request is not sent again anywhere (it may have reached the API).
fn lease_lost<L, A>(name: &str, lease: L, error: &str) -> Step<L, A> {
    Step {
        effects: vec![(lease, KeyEffect::Release)],
        next: Next::Fail(format!(
            "the hold on key `{name}` was lost while its request was in flight, so the request was stopped before another holder could take the key; it is not sent again (it may have reached the API): {error}"
        )),
    }
}

/// What to do with a key the call holds.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyEffect {
    /// The request went through on it: a LOCKDOWN it was in is over.
    Succeeded,
    /// Let it go as it is (its send still counts).
    Release,
    /// The service was in trouble, or the request never left: the send
    /// doesn't count.
    Unavailable,
    /// Set it aside as the answer said.
    RateLimited(RateLimit),
    /// Mark it ERROR for this reason.
    Bad(String),
}

/// What the call does next.
#[derive(Debug)]
pub enum Next<L, A> {
    /// Take another key (one not in [`Policy::tried`]) after this pause.
    Again {
        /// How long to sleep first.
        pause: Duration,
    },
    /// Give the caller this answer; `holder` is the key that got it, with
    /// what to do with it once the answer is taken (`None`: already let go).
    Deliver {
        /// The answer.
        answer: A,
        /// The key that got it, still held.
        holder: Option<(L, KeyEffect)>,
    },
    /// Fail with this message.
    Fail(String),
    /// No key is left to try: fail saying why (the pool knows), with this
    /// call's history.
    NoKey(Vec<String>),
}

/// One decision: first do these to these keys, then `next`.
#[derive(Debug)]
pub struct Step<L, A> {
    /// Keys to act on, in order.
    pub effects: Vec<(L, KeyEffect)>,
    /// What next.
    pub next: Next<L, A>,
}

impl<L, A> Step<L, A> {
    fn then(next: Next<L, A>) -> Step<L, A> {
        Step {
            effects: Vec::new(),
            next,
        }
    }
}

/// One try, as the policy looks at it: which key, its lease, the answer.
struct Tried<'n, L, A> {
    index: usize,
    name: &'n str,
    lease: L,
    answer: A,
    status: u16,
}

/// A key held on suspicion, with the answer it got.
#[derive(Debug)]
struct Suspect<L, A> {
    lease: L,
    reason: String,
    answer: A,
}

/// Everything one call has learned so far (for one model: a fallback model
/// starts afresh), and the rules that turn it into the next step.
#[derive(Debug)]
pub struct Policy<L, A> {
    tried: HashSet<usize>,
    history: Vec<String>,
    /// The last network error, and whether nothing else went wrong.
    last_network: Option<String>,
    only_network: bool,
    network_errors: usize,
    /// Rate-limit answers per key.
    rate_limited: HashMap<usize, usize>,
    backoff: Backoff,
    /// The answer to give if no other key can be had: the last 5xx of a
    /// service in trouble, or an empty 200 that another key didn't better.
    reserve: Option<A>,
    suspect: Option<Suspect<L, A>>,
    empty_retried: bool,
}

impl<L, A> Policy<L, A> {
    /// A call that has tried nothing yet; `seed` drives the backoff's jitter.
    pub fn new(seed: u64) -> Policy<L, A> {
        Policy {
            tried: HashSet::new(),
            history: Vec::new(),
            last_network: None,
            only_network: true,
            network_errors: 0,
            rate_limited: HashMap::new(),
            backoff: Backoff::new(seed),
            reserve: None,
            suspect: None,
            empty_retried: false,
        }
    }

    /// Keys not to take again in this call.
    pub fn tried(&self) -> &HashSet<usize> {
        &self.tried
    }

    /// What happened so far, for messages (`` `key1` rate limited until … ``).
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// The outcome of one try on key `index` (named `name`, held by
    /// `lease`), with `left` until the call's deadline.
    pub fn on_outcome(
        &mut self,
        index: usize,
        name: &str,
        lease: L,
        outcome: Outcome<A>,
        left: Duration,
    ) -> Step<L, A> {
        self.tried.insert(index);
        let (answer, status, meaning) = match outcome {
            Outcome::NetworkError { error, unsent } => {
                return self.network_error(name, lease, error, unsent);
            }
            Outcome::LeaseLost { error } => return lease_lost(name, lease, &error),
            Outcome::Answered {
                answer,
                status,
                meaning,
            } => (answer, status, meaning),
        };
        let mut effects = Vec::new();
        if let Some(settled) = self.settle_suspect(&meaning, &mut effects) {
            effects.push((lease, KeyEffect::Release));
            return Step {
                effects,
                next: Next::Deliver {
                    answer: settled,
                    holder: None,
                },
            };
        }
        let again = Next::Again {
            pause: Duration::ZERO,
        };
        let next = match meaning {
            Meaning::EmptySuccess if !self.empty_retried => {
                self.empty_retried = true;
                log::warn!(
                    "key `{name}` got a 200 without a JSON body; trying once more on another key"
                );
                self.history.push(format!("`{name}` empty answer"));
                effects.push((lease, KeyEffect::Succeeded));
                self.reserve = Some(answer);
                again
            }
            Meaning::Success | Meaning::EmptySuccess => Next::Deliver {
                answer,
                holder: Some((lease, KeyEffect::Succeeded)),
            },
            Meaning::CallerError | Meaning::ServerError => Next::Deliver {
                answer,
                holder: Some((lease, KeyEffect::Release)),
            },
            Meaning::Unavailable {
                retry_after,
                reason,
            } => {
                let tried = Tried {
                    index,
                    name,
                    lease,
                    answer,
                    status,
                };
                let (effect, next) = self.unavailable(tried, retry_after, reason, left);
                effects.extend(effect);
                next
            }
            Meaning::SuspectKey { reason } => {
                self.only_network = false;
                log::info!(
                    "key `{name}`: {reason}; asking another key whether the key or the request is at fault"
                );
                self.suspect = Some(Suspect {
                    lease,
                    reason,
                    answer,
                });
                again
            }
            Meaning::RateLimited(limit) => {
                effects.push(self.rate_limited(index, name, lease, limit));
                again
            }
            Meaning::BadKey { reason } => {
                self.only_network = false;
                self.history.push(format!("`{name}` bad key"));
                effects.push((lease, KeyEffect::Bad(reason)));
                again
            }
        };
        Step { effects, next }
    }

    /// Key `index` was rate limited: locked down, and tried again in this
    /// call once the time the API gave has come (within --wait).
    fn rate_limited(
        &mut self,
        index: usize,
        name: &str,
        lease: L,
        limit: RateLimit,
    ) -> (L, KeyEffect) {
        self.only_network = false;
        let times = self.rate_limited.entry(index).or_insert(0);
        *times += 1;
        if limit.source.is_exact() && *times < MAX_TRIES_PER_KEY {
            self.tried.remove(&index);
        }
        self.history
            .push(format!("`{name}` rate limited until {:.0}", limit.until));
        (lease, KeyEffect::RateLimited(limit))
    }

    /// A key held on suspicion is judged by the next answer: a success
    /// elsewhere convicts it (ERROR); a second suspect means the request is
    /// at fault, and the first answer stands (returned: both keys go free);
    /// anything else lets it go unjudged.
    fn settle_suspect(
        &mut self,
        meaning: &Meaning,
        effects: &mut Vec<(L, KeyEffect)>,
    ) -> Option<A> {
        let suspect = self.suspect.take()?;
        match meaning {
            Meaning::Success => effects.push((suspect.lease, KeyEffect::Bad(suspect.reason))),
            Meaning::SuspectKey { .. } => {
                effects.push((suspect.lease, KeyEffect::Release));
                return Some(suspect.answer);
            }
            _ => effects.push((suspect.lease, KeyEffect::Release)),
        }
        None
    }

    /// The service is in trouble (a 503 and the like): not the key's fault,
    /// so the key may be tried again later in this call; again after a
    /// backoff while time is left, else the answer is delivered.
    fn unavailable(
        &mut self,
        tried: Tried<'_, L, A>,
        retry_after: Option<Duration>,
        reason: String,
        left: Duration,
    ) -> (Option<(L, KeyEffect)>, Next<L, A>) {
        let Tried {
            index,
            name,
            lease,
            answer,
            status,
        } = tried;
        self.only_network = false;
        self.tried.remove(&index);
        match self.backoff.next(retry_after, left) {
            None => {
                log::warn!(
                    "the service is in trouble ({reason}); giving up after {} tries",
                    self.backoff.tries() + 1
                );
                let next = Next::Deliver {
                    answer,
                    holder: Some((lease, KeyEffect::Unavailable)),
                };
                (None, next)
            }
            Some(pause) => {
                log::warn!("the service is in trouble ({reason}); trying again in {pause:.1?}");
                self.history.push(format!("`{name}` {status}"));
                self.reserve = Some(answer);
                (Some((lease, KeyEffect::Unavailable)), Next::Again { pause })
            }
        }
    }

    fn network_error(&mut self, name: &str, lease: L, error: String, unsent: bool) -> Step<L, A> {
        self.history.push(format!("`{name}` network error"));
        self.network_errors += 1;
        let next = if self.network_errors > MAX_NETWORK_RETRIES {
            Next::Fail(format!(
                "{error}; gave up after {} network errors ({})",
                self.network_errors,
                self.history.join("; ")
            ))
        } else {
            log::warn!("key `{name}`: {error}; trying another key");
            self.last_network = Some(error);
            Next::Again {
                pause: Duration::ZERO,
            }
        };
        // A request that never left used no quota: it isn't counted.
        let effect = if unsent {
            KeyEffect::Unavailable
        } else {
            KeyEffect::Release
        };
        Step {
            effects: vec![(lease, effect)],
            next,
        }
    }

    /// No key is left to try: the answer held on suspicion stands, else the
    /// one kept in reserve; a call that only met network errors fails with
    /// the last; else the pool's reason, with this call's history.
    pub fn out_of_keys(&mut self) -> Step<L, A> {
        if let Some(suspect) = self.suspect.take() {
            return Step::then(Next::Deliver {
                answer: suspect.answer,
                holder: Some((suspect.lease, KeyEffect::Release)),
            });
        }
        if let Some(answer) = self.reserve.take() {
            return Step::then(Next::Deliver {
                answer,
                holder: None,
            });
        }
        match &self.last_network {
            Some(error) if self.only_network => Step::then(Next::Fail(format!(
                "{error}; every key was tried: {}",
                self.history.join("; ")
            ))),
            _ => Step::then(Next::NoKey(self.history.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pool::quota::Metric;

    /// A lease in tests: the key's name.
    type TestPolicy = Policy<&'static str, &'static str>;

    fn answer(status: u16, meaning: Meaning) -> Outcome<&'static str> {
        Outcome::Answered {
            answer: match status {
                200 => "ok",
                _ => "refused",
            },
            status,
            meaning,
        }
    }

    fn answered(text: &'static str, status: u16, meaning: Meaning) -> Outcome<&'static str> {
        Outcome::Answered {
            answer: text,
            status,
            meaning,
        }
    }

    fn limited(source: LockdownSource) -> Meaning {
        Meaning::RateLimited(RateLimit {
            until: Timestamp::from_second(1_900_000_000).unwrap(),
            source,
            reason: "429 RESOURCE_EXHAUSTED".into(),
            violations: Vec::new(),
        })
    }

    const WAIT: Duration = Duration::from_secs(60);

    fn network(error: &str, unsent: bool) -> Outcome<&'static str> {
        Outcome::NetworkError {
            error: error.into(),
            unsent,
        }
    }

    #[test]
    fn a_request_that_never_left_is_not_counted_as_sent() {
        let mut policy = TestPolicy::new(1);
        let s = step(&mut policy, 0, "k0", network("could not connect", true));
        assert_eq!(s.effects, vec![("k0", KeyEffect::Unavailable)]);
        // One that may have reached the API (a timeout) still counts.
        let s = step(&mut policy, 1, "k1", network("timed out", false));
        assert_eq!(s.effects, vec![("k1", KeyEffect::Release)]);
    }

    fn step(
        policy: &mut TestPolicy,
        i: usize,
        name: &'static str,
        outcome: Outcome<&'static str>,
    ) -> Step<&'static str, &'static str> {
        policy.on_outcome(i, name, name, outcome, WAIT)
    }

    fn is_again(next: &Next<&str, &str>) -> bool {
        matches!(next, Next::Again { .. })
    }

    #[test]
    fn a_success_is_delivered_and_its_key_marked_as_having_worked() {
        let mut policy = TestPolicy::new(1);
        let s = step(&mut policy, 0, "k0", answer(200, Meaning::Success));
        assert!(s.effects.is_empty());
        match s.next {
            Next::Deliver { answer, holder } => {
                assert_eq!(answer, "ok");
                assert_eq!(holder, Some(("k0", KeyEffect::Succeeded)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_callers_4xx_is_returned_at_once_and_the_key_let_go_as_it_is() {
        let mut policy = TestPolicy::new(1);
        let s = step(&mut policy, 0, "k0", answer(400, Meaning::CallerError));
        match s.next {
            Next::Deliver { answer, holder } => {
                assert_eq!(answer, "refused");
                assert_eq!(holder, Some(("k0", KeyEffect::Release)));
            }
            other => panic!("{other:?}"),
        }
        let s = step(&mut policy, 1, "k1", answer(500, Meaning::ServerError));
        assert!(matches!(s.next, Next::Deliver { .. }));
    }

    #[test]
    fn a_suspect_key_is_convicted_when_another_key_succeeds() {
        let mut policy = TestPolicy::new(1);
        let s = step(
            &mut policy,
            0,
            "k0",
            answered(
                "denied",
                403,
                Meaning::SuspectKey {
                    reason: "403 PERMISSION_DENIED".into(),
                },
            ),
        );
        // Held, not let go: nothing done to it yet.
        assert!(s.effects.is_empty());
        assert!(is_again(&s.next));
        assert!(policy.tried().contains(&0));
        let s = step(&mut policy, 1, "k1", answer(200, Meaning::Success));
        assert_eq!(
            s.effects,
            vec![("k0", KeyEffect::Bad("403 PERMISSION_DENIED".into()))]
        );
        assert!(matches!(s.next, Next::Deliver { answer: "ok", .. }));
    }

    #[test]
    fn two_suspects_mean_the_request_is_at_fault_and_the_first_answer_stands() {
        let mut policy = TestPolicy::new(1);
        let suspect = |text| {
            answered(
                text,
                403,
                Meaning::SuspectKey {
                    reason: "403".into(),
                },
            )
        };
        step(&mut policy, 0, "k0", suspect("first"));
        let s = step(&mut policy, 1, "k1", suspect("second"));
        assert_eq!(
            s.effects,
            vec![("k0", KeyEffect::Release), ("k1", KeyEffect::Release)]
        );
        match s.next {
            Next::Deliver { answer, holder } => {
                assert_eq!(answer, "first");
                assert_eq!(holder, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_suspect_with_no_other_key_to_ask_gets_its_own_answer_and_no_mark() {
        let mut policy = TestPolicy::new(1);
        step(
            &mut policy,
            0,
            "k0",
            answered(
                "denied",
                403,
                Meaning::SuspectKey {
                    reason: "403".into(),
                },
            ),
        );
        match policy.out_of_keys().next {
            Next::Deliver { answer, holder } => {
                assert_eq!(answer, "denied");
                assert_eq!(holder, Some(("k0", KeyEffect::Release)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_suspect_is_let_go_unjudged_when_the_next_key_is_rate_limited() {
        let mut policy = TestPolicy::new(1);
        step(
            &mut policy,
            0,
            "k0",
            answered(
                "denied",
                403,
                Meaning::SuspectKey {
                    reason: "403".into(),
                },
            ),
        );
        let s = step(
            &mut policy,
            1,
            "k1",
            answer(429, limited(LockdownSource::RetryInfo)),
        );
        assert_eq!(s.effects[0], ("k0", KeyEffect::Release));
        assert!(matches!(s.effects[1], ("k1", KeyEffect::RateLimited(_))));
        assert!(is_again(&s.next));
    }

    #[test]
    fn an_empty_200_is_retried_once_and_a_second_one_stands() {
        let mut policy = TestPolicy::new(1);
        let s = step(
            &mut policy,
            0,
            "k0",
            answered("", 200, Meaning::EmptySuccess),
        );
        assert_eq!(s.effects, vec![("k0", KeyEffect::Succeeded)]);
        assert!(is_again(&s.next));
        let s = step(
            &mut policy,
            1,
            "k1",
            answered(" ", 200, Meaning::EmptySuccess),
        );
        match s.next {
            Next::Deliver { answer, holder } => {
                assert_eq!(answer, " ");
                assert_eq!(holder, Some(("k1", KeyEffect::Succeeded)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_200_is_delivered_when_no_other_key_is_left() {
        let mut policy = TestPolicy::new(1);
        step(
            &mut policy,
            0,
            "k0",
            answered("", 200, Meaning::EmptySuccess),
        );
        assert!(matches!(
            policy.out_of_keys().next,
            Next::Deliver {
                answer: "",
                holder: None
            }
        ));
    }

    #[test]
    fn network_errors_move_to_other_keys_and_stop_at_the_cap() {
        let mut policy = TestPolicy::new(1);
        for i in 0..MAX_NETWORK_RETRIES {
            let s = step(&mut policy, i, "k", network("reset", false));
            assert_eq!(s.effects, vec![("k", KeyEffect::Release)]);
            assert!(is_again(&s.next), "{i}");
        }
        let s = step(
            &mut policy,
            MAX_NETWORK_RETRIES,
            "k",
            network("reset", false),
        );
        match s.next {
            Next::Fail(message) => {
                assert!(
                    message.starts_with("reset; gave up after 3 network errors"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pool_that_only_met_network_errors_fails_with_the_last_one() {
        let mut policy = TestPolicy::new(1);
        step(&mut policy, 0, "k0", network("timed out", false));
        match policy.out_of_keys().next {
            Next::Fail(message) => {
                assert_eq!(
                    message,
                    "timed out; every key was tried: `k0` network error"
                )
            }
            other => panic!("{other:?}"),
        }
        // Once anything else happened, the pool's own reason is given.
        let mut policy = TestPolicy::new(1);
        step(&mut policy, 0, "k0", network("timed out", false));
        step(
            &mut policy,
            1,
            "k1",
            answer(429, limited(LockdownSource::Default)),
        );
        match policy.out_of_keys().next {
            Next::NoKey(history) => assert_eq!(history.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_exactly_timed_lockdown_is_retried_at_most_the_allowed_number_of_times() {
        let mut policy = TestPolicy::new(1);
        for n in 1..=MAX_TRIES_PER_KEY {
            let s = step(
                &mut policy,
                0,
                "k0",
                answer(429, limited(LockdownSource::RetryInfo)),
            );
            assert!(matches!(s.effects[0].1, KeyEffect::RateLimited(_)));
            assert!(is_again(&s.next));
            // The key may be taken again (after its time) until the cap.
            assert_eq!(!policy.tried().contains(&0), n < MAX_TRIES_PER_KEY, "{n}");
        }
        // A guessed lockdown is never retried in the same call.
        let mut policy = TestPolicy::new(1);
        step(
            &mut policy,
            0,
            "k0",
            answer(429, limited(LockdownSource::Default)),
        );
        assert!(policy.tried().contains(&0));
    }

    #[test]
    fn a_bad_key_is_marked_and_another_tried() {
        let mut policy = TestPolicy::new(1);
        let s = step(
            &mut policy,
            0,
            "k0",
            answer(
                400,
                Meaning::BadKey {
                    reason: "API_KEY_INVALID".into(),
                },
            ),
        );
        assert_eq!(
            s.effects,
            vec![("k0", KeyEffect::Bad("API_KEY_INVALID".into()))]
        );
        assert!(is_again(&s.next));
        assert_eq!(policy.history(), ["`k0` bad key"]);
    }

    #[test]
    fn backoff_on_an_unavailable_service_stays_within_the_wait() {
        let mut policy = TestPolicy::new(9);
        let unavailable = || {
            answered(
                "overloaded",
                503,
                Meaning::Unavailable {
                    retry_after: None,
                    reason: "503 UNAVAILABLE".into(),
                },
            )
        };
        let budget = Duration::from_secs(3);
        let mut left = budget;
        let mut slept = Duration::ZERO;
        loop {
            let s = policy.on_outcome(0, "k0", "k0", unavailable(), left);
            match s.next {
                Next::Again { pause } => {
                    assert_eq!(s.effects, vec![("k0", KeyEffect::Unavailable)]);
                    // The key stays eligible: the service, not the key, failed.
                    assert!(!policy.tried().contains(&0));
                    assert!(pause <= left);
                    slept += pause;
                    left -= pause;
                }
                Next::Deliver { answer, holder } => {
                    assert_eq!(answer, "overloaded");
                    assert_eq!(holder, Some(("k0", KeyEffect::Unavailable)));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(
            slept <= budget && slept >= Duration::from_secs(1),
            "{slept:?}"
        );
        // A Retry-After longer than the wait gives the answer at once.
        let mut policy = TestPolicy::new(9);
        let s = policy.on_outcome(
            0,
            "k0",
            "k0",
            answered(
                "busy",
                503,
                Meaning::Unavailable {
                    retry_after: Some(Duration::from_secs(120)),
                    reason: "503".into(),
                },
            ),
            WAIT,
        );
        assert!(matches!(s.next, Next::Deliver { answer: "busy", .. }));
    }

    #[test]
    fn an_answer_kept_in_reserve_is_delivered_when_keys_run_out() {
        let mut policy = TestPolicy::new(3);
        step(
            &mut policy,
            0,
            "k0",
            answered(
                "overloaded",
                503,
                Meaning::Unavailable {
                    retry_after: None,
                    reason: "503".into(),
                },
            ),
        );
        step(
            &mut policy,
            1,
            "k1",
            answer(429, limited(LockdownSource::Default)),
        );
        assert!(matches!(
            policy.out_of_keys().next,
            Next::Deliver {
                answer: "overloaded",
                holder: None
            }
        ));
    }

    #[test]
    fn rate_limits_name_their_quotas_in_the_effect() {
        let mut policy = TestPolicy::new(1);
        let limit = RateLimit {
            until: Timestamp::from_second(1_900_000_000).unwrap(),
            source: LockdownSource::DailyQuota,
            reason: "429".into(),
            violations: vec![Violation {
                metric: Metric::Requests,
                daily: true,
                limit: Some(250),
                model: Some("gemini-2.5-flash".into()),
            }],
        };
        let s = step(
            &mut policy,
            2,
            "k2",
            answer(429, Meaning::RateLimited(limit.clone())),
        );
        assert_eq!(s.effects, vec![("k2", KeyEffect::RateLimited(limit))]);
        assert!(policy.history()[0].starts_with("`k2` rate limited until 2030-03-17"));
    }

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
