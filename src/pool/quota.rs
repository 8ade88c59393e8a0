//! Quota accounting: declared and learned limits, what each key (or group of
//! keys sharing a quota) has sent, whether a request fits now, and when it
//! will. Pure functions of the usage record and the clock passed in; the store
//! keeps the record in the state dir and `Pool` applies it.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The most sends kept per bucket (the longest window's worth, capped).
const MAX_SENDS: usize = 4096;
/// The last sends of this long are kept to learn a window from a 429 …
const LEARNING_WINDOW: SignedDuration = SignedDuration::from_secs(60);
/// … at most this many of them (a learned window needs `quotaValue` sends).
const LEARNING_SENDS: usize = 64;
/// Shown and stored for limits and lockdowns that cover every model.
pub const ALL_MODELS: &str = "*";
/// How long past its reset a rate-limit header reading is kept.
const OBSERVED_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Requests.
    Requests,
    /// Tokens (estimated before sending, corrected from the answer).
    Tokens,
}

/// The window a limit counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// A sliding window of this many milliseconds.
    Millis(i64),
    /// The calendar day, resetting at midnight in the connector's time zone.
    Day,
}

impl Window {
    /// `"2s"`, `"1m"`, `"1h"`, `"day"`.
    pub fn parse(text: &str) -> Result<Window, String> {
        let text = text.trim();
        if text == "day" || text == "1d" {
            return Ok(Window::Day);
        }
        let (number, unit_ms) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
            Some((i, _)) => {
                let unit = match &text[i..] {
                    "ms" => 1.0,
                    "s" => 1000.0,
                    "m" | "min" => 60_000.0,
                    "h" => 3_600_000.0,
                    other => {
                        return Err(format!(
                            "unknown unit {other:?} in {text:?} (use ms, s, m, h or \"day\")"
                        ));
                    }
                };
                (&text[..i], unit)
            }
            None => {
                return Err(format!(
                    "{text:?} needs a unit: \"2s\", \"1m\", \"1h\" or \"day\""
                ));
            }
        };
        let n: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a duration"))?;
        let ms = (n * unit_ms).round();
        if !(1.0..=86_400_000.0).contains(&ms) {
            return Err(format!("{text:?} must be between 1ms and 24h, or \"day\""));
        }
        Ok(Window::Millis(ms as i64))
    }

    /// For people: `2s`, `1m`, `day`.
    pub fn label(self) -> String {
        match self {
            Window::Day => "day".into(),
            Window::Millis(ms) if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
            Window::Millis(ms) if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
            Window::Millis(ms) if ms % 1000 == 0 => format!("{}s", ms / 1000),
            Window::Millis(ms) => format!("{ms}ms"),
        }
    }
}

/// One limit: at most `amount` of `metric` per `window`, for one model or all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Requests or tokens.
    pub metric: Metric,
    /// How many.
    pub amount: u64,
    /// Per what.
    pub window: Window,
    /// `None`: every request on the key counts; else only this model's.
    pub model: Option<String>,
}

impl Limit {
    fn applies_to(&self, model: Option<&str>) -> bool {
        match &self.model {
            None => true,
            Some(m) => model == Some(m.as_str()),
        }
    }

    fn counts(&self, send_model: Option<&str>) -> bool {
        self.applies_to(send_model)
    }

    /// `10 requests/1m (gemini-2.5-flash)`.
    pub fn label(&self) -> String {
        let metric = match self.metric {
            Metric::Requests => "requests",
            Metric::Tokens => "tokens",
        };
        let model = self
            .model
            .as_ref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        format!("{} {metric}/{}{model}", self.amount, self.window.label())
    }
}

/// One request that went out (or is going out) on a bucket. Stored as a
/// short array, `[t, tok, id]` or `[t, tok, id, m]` — every call reads and
/// writes the record, and a map per send cost twice as much to parse; the
/// older `{"t", "m", "tok", "id"}` form is still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// When, in Unix milliseconds.
    pub t: i64,
    /// Which model, if known.
    pub m: Option<String>,
    /// Tokens: estimated, then corrected.
    pub tok: u64,
    /// Identifies it for the correction.
    pub id: u64,
}

impl Serialize for Sent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(3 + usize::from(self.m.is_some())))?;
        seq.serialize_element(&self.t)?;
        seq.serialize_element(&self.tok)?;
        seq.serialize_element(&self.id)?;
        if let Some(m) = &self.m {
            seq.serialize_element(m)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Sent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Sent, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Sent;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a send: [t, tok, id, model?] or {\"t\", ...}")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Sent, A::Error> {
                let missing = |i| serde::de::Error::invalid_length(i, &"3 or 4 elements");
                let t = seq.next_element()?.ok_or_else(|| missing(0))?;
                let tok = seq.next_element()?.ok_or_else(|| missing(1))?;
                let id = seq.next_element()?.ok_or_else(|| missing(2))?;
                let m = seq.next_element()?;
                Ok(Sent { t, m, tok, id })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Sent, A::Error> {
                let mut sent = Sent {
                    t: 0,
                    m: None,
                    tok: 0,
                    id: 0,
                };
                let mut has_t = false;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "t" => {
                            sent.t = map.next_value()?;
                            has_t = true;
                        }
                        "m" => sent.m = map.next_value()?,
                        "tok" => sent.tok = map.next_value()?,
                        "id" => sent.id = map.next_value()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                if !has_t {
                    return Err(serde::de::Error::missing_field("t"));
                }
                Ok(sent)
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// Per-day counts since the last daily reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// The reset these counts started at, Unix milliseconds.
    pub start: i64,
    /// The next reset, Unix milliseconds (0: not known): until then the
    /// counts are today's, and no time-zone arithmetic is needed to know it.
    #[serde(default)]
    pub until: i64,
    /// Requests per model (`*`: all).
    pub requests: BTreeMap<String, u64>,
    /// Tokens per model (`*`: all).
    pub tokens: BTreeMap<String, u64>,
    /// Rate-limit answers taken today (each retried elsewhere or later).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limited: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A LOCKDOWN of one model (or `*`) on a bucket, learned from a 429.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLockdown {
    /// Until when.
    pub until: Timestamp,
    /// What the API said.
    pub reason: String,
    /// Whether it lasts until the daily reset (a per-day quota ran out).
    #[serde(default)]
    pub daily: bool,
}

/// What one bucket (a key, or a group of keys sharing a quota) has done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Recent sends, oldest first.
    #[serde(default)]
    pub sends: VecDeque<Sent>,
    /// Today's counts.
    #[serde(default)]
    pub day: DayCount,
    /// Model lockdowns.
    #[serde(default)]
    pub lockdowns: BTreeMap<String, ModelLockdown>,
    /// Limits learned from 429s, where none was declared.
    #[serde(default)]
    pub learned: Vec<Limit>,
    /// What the answers' rate-limit headers said, newest per quota.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<Observed>,
}

/// What an answer's rate-limit headers said of one quota of a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The quota's name (`requests`, `tokens`, `requests-day` …).
    pub name: String,
    /// Requests or tokens (`None`: reported only, not paced — output tokens).
    pub metric: Option<Metric>,
    /// The limit.
    pub limit: u64,
    /// What was left.
    pub remaining: u64,
    /// When the request whose answer said so was sent, Unix ms: later sends
    /// are not in `remaining`.
    pub at: i64,
    /// When the quota is whole again, Unix ms.
    pub reset: i64,
    /// Whether capacity comes back continuously (a token bucket) rather than
    /// all at `reset`.
    pub continuous: bool,
    /// The shortest span from a send to the reset its successful answer
    /// stated, over the readings of this quota (ms): never shorter than the
    /// window of a sliding-window limit, since the answer's own request is
    /// in that window. `None` until a successful answer stated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
    /// The model of the request it came with: providers keep limits per
    /// model, so a reading speaks for that model's requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl Observed {
    /// What is left now, and when `need` more will be (`None`: now).
    fn left(&self, sends: &VecDeque<Sent>, now: i64, need: u64) -> (f64, Option<i64>) {
        let Some(metric) = self.metric else {
            return (self.remaining as f64, None);
        };
        let amount = |s: &Sent| match metric {
            Metric::Requests => 1.0,
            Metric::Tokens => s.tok as f64,
        };
        let limit = self.limit as f64;
        let need = need as f64;
        let later: Vec<&Sent> = sends
            .iter()
            .filter(|s| s.t > self.at && (self.model.is_none() || s.m == self.model))
            .collect();
        if !self.continuous {
            // A fixed window: what was left, less what went out since, until
            // the reset; then the whole limit, less what went out after it.
            let (left, then) = if now >= self.reset {
                let after: f64 = later
                    .iter()
                    .filter(|s| s.t >= self.reset)
                    .map(|s| amount(s))
                    .sum();
                (limit - after, None)
            } else {
                let since: f64 = later.iter().map(|s| amount(s)).sum();
                (self.remaining as f64 - since, Some(self.reset))
            };
            return if left >= need {
                (left, None)
            } else {
                (left, then.or(Some(now + 1000)))
            };
        }
        // Both OpenAI and Anthropic define the reset as the time until the
        // limit is whole again, and neither says how capacity comes back
        // before then: a token bucket returns it steadily, a sliding window
        // as the requests in it age out. Each model is exact (or cautious)
        // under its own rule and may be too hopeful under the other: what is
        // left is the smaller of the two, which holds under either.
        let mine: Vec<&Sent> = sends
            .iter()
            .filter(|s| self.model.is_none() || s.m == self.model)
            .collect();
        let (bucket, bucket_at) = self.bucket_left(&later, now, need, &amount);
        let (window, window_at) = self.window_left(&mine, now, need, &amount);
        let left = bucket.min(window);
        if need > limit {
            return (left, None);
        }
        match (bucket_at, window_at) {
            (None, None) => (left, None),
            (a, b) => (left, Some(a.unwrap_or(now).max(b.unwrap_or(now)))),
        }
    }

    /// The token-bucket reading: capacity returns at the rate that makes it
    /// whole at the reset.
    fn bucket_left(
        &self,
        later: &[&Sent],
        now: i64,
        need: f64,
        amount: &dyn Fn(&Sent) -> f64,
    ) -> (f64, Option<i64>) {
        let limit = self.limit as f64;
        let span = (self.reset - self.at) as f64;
        if self.remaining >= self.limit || span <= 0.0 {
            // Whole (or no time given): no refill to go by.
            let left = limit - later.iter().map(|s| amount(s)).sum::<f64>();
            return (left, (left < need).then(|| now.max(self.reset) + 1000));
        }
        let rate = (limit - self.remaining as f64) / span;
        let mut tokens = self.remaining as f64;
        let mut last = self.at;
        for s in later {
            tokens = (tokens + rate * (s.t - last) as f64).min(limit) - amount(s);
            last = s.t;
        }
        tokens = (tokens + rate * (now - last).max(0) as f64).min(limit);
        if tokens >= need {
            (tokens, None)
        } else {
            (tokens, Some(now + ((need - tokens) / rate).ceil() as i64))
        }
    }

    /// The sliding-window reading: what our own sends hold comes back one
    /// window after each (the window: the shortest span a successful answer
    /// stated, which is never shorter than the real one); what others hold,
    /// at the reset. With no window known yet, everything at the reset.
    fn window_left(
        &self,
        mine: &[&Sent],
        now: i64,
        need: f64,
        amount: &dyn Fn(&Sent) -> f64,
    ) -> (f64, Option<i64>) {
        let limit = self.limit as f64;
        let Some(w) = self.window.filter(|w| *w > 0) else {
            return self.reset_left(mine, now, need, amount);
        };
        // Our send time is taken before the request leaves, the API's on
        // arrival, which may come later for one send than for the one whose
        // span measured the window: the same margin as declared windows get.
        let w = w + (w / 40).clamp(25, 1000);
        let recent: Vec<&Sent> = mine
            .iter()
            .copied()
            .filter(|s| s.t > self.at.saturating_sub(w))
            .collect();
        let held = (limit - self.remaining as f64).max(0.0);
        let ours_then: f64 = recent
            .iter()
            .filter(|s| s.t <= self.at)
            .map(|s| amount(s))
            .sum();
        let others = (held - ours_then).max(0.0);
        let left_at = |t: i64| {
            let in_window: f64 = recent
                .iter()
                .filter(|s| s.t.saturating_add(w) > t)
                .map(|s| amount(s))
                .sum();
            limit - in_window - if t < self.reset { others } else { 0.0 }
        };
        let left = left_at(now);
        if left >= need {
            return (left, None);
        }
        let mut times: Vec<i64> = recent
            .iter()
            .map(|s| s.t.saturating_add(w))
            .chain([self.reset])
            .filter(|t| *t > now)
            .collect();
        times.sort_unstable();
        let at = times.into_iter().find(|&t| left_at(t) >= need);
        (left, Some(at.unwrap_or(now + 1000)))
    }

    /// Whole again at the reset and not before, less what went out since
    /// the reading (which a window may still hold after it).
    fn reset_left(
        &self,
        mine: &[&Sent],
        now: i64,
        need: f64,
        amount: &dyn Fn(&Sent) -> f64,
    ) -> (f64, Option<i64>) {
        let later: Vec<&Sent> = mine.iter().copied().filter(|s| s.t > self.at).collect();
        let since: f64 = later.iter().map(|s| amount(s)).sum();
        let (left, then) = if now >= self.reset {
            (self.limit as f64 - since, None)
        } else {
            (self.remaining as f64 - since, Some(self.reset))
        };
        if left >= need {
            return (left, None);
        }
        // Past the reset and still full: what went out since the reading
        // leaves a window no longer than the reading's own span.
        let span = (self.reset - self.at).max(1);
        let aged = later.first().map_or(now + 1000, |s| s.t + span);
        (left, Some(then.unwrap_or(aged.max(now + 1))))
    }

    /// `5 requests`, `5 requests (gpt-4o)`.
    pub fn label(&self) -> String {
        match &self.model {
            Some(m) => format!("{} {} ({m})", self.limit, self.name),
            None => format!("{} {}", self.limit, self.name),
        }
    }
}

/// The usage record of one connector: every bucket's sends and lockdowns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Bucket name → its record.
    #[serde(default)]
    pub buckets: BTreeMap<String, Bucket>,
    /// The last reservation id handed out.
    #[serde(default)]
    pub next_id: u64,
}

/// The clock-dependent facts a decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Clock<'a> {
    /// Now.
    pub now: Timestamp,
    /// The time zone daily quotas reset in.
    pub tz: &'a str,
}

impl Clock<'_> {
    fn ms(&self) -> i64 {
        self.now.as_millisecond()
    }

    /// The daily reset that started today.
    pub fn day_start(&self) -> Timestamp {
        crate::daily::previous_reset(self.now, self.tz)
    }

    /// The next daily reset.
    pub fn next_reset(&self) -> Timestamp {
        crate::daily::next_reset(self.now, self.tz)
    }
}

/// One limit's standing in a bucket, for `status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitUse {
    /// The limit.
    pub limit: String,
    /// Declared (connector or INI) or learned from a 429.
    pub learned: bool,
    /// `declared`, `learned from a 429` or `learned from headers`.
    pub source: &'static str,
    /// Used in the current window.
    pub used: u64,
    /// Left in the current window.
    pub left: u64,
    /// When the next unit frees up, if none is left.
    pub frees_at: Option<Timestamp>,
    /// A short name for its window and model, for one-line displays:
    /// `1m`, `day`, `day gemini-2.5-pro`, `requests`.
    pub short: String,
}

impl LimitUse {
    /// How full it is, 0 to 1.
    pub fn fill(&self) -> f64 {
        let amount = self.used + self.left;
        if amount == 0 {
            1.0
        } else {
            self.used as f64 / amount as f64
        }
    }

    /// `day 212/250`, `1m 3/10 gemini-2.5-pro`.
    pub fn compact(&self) -> String {
        let (window, model) = self.short.split_once(' ').unwrap_or((&self.short, ""));
        let figure = format!("{window} {}/{}", self.used, self.used + self.left);
        if model.is_empty() {
            figure
        } else {
            format!("{figure} {model}")
        }
    }
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX)
}

impl Bucket {
    fn roll_day(&mut self, clock: &Clock) {
        if self.is_today(clock) {
            return;
        }
        let start = clock.day_start().as_millisecond();
        let until = clock.next_reset().as_millisecond();
        if self.day.start != start {
            self.day = DayCount {
                start,
                until,
                ..DayCount::default()
            };
        } else {
            self.day.until = until;
        }
    }

    /// Whether the day counts are today's (cheap: no time zones).
    fn is_today(&self, clock: &Clock) -> bool {
        self.day.start != 0 && self.day.start <= clock.ms() && clock.ms() < self.day.until
    }

    /// Forgets what no window needs any more: sends older than the longest
    /// window, except the last few of the past minute, kept to learn a
    /// window from a 429.
    fn prune(&mut self, clock: &Clock, limits: &[Limit]) {
        let longest = limits
            .iter()
            .chain(&self.learned)
            .filter_map(|l| match l.window {
                Window::Millis(ms) => Some(ms + (ms / 40).clamp(25, 1000)),
                Window::Day => None,
            })
            .max()
            .unwrap_or(0);
        let mut needed = clock.ms() - longest;
        if let Some(oldest) = self.observed.iter().map(|o| o.at).min() {
            // Sends after a reading are what its `remaining` lacks.
            needed = needed.min(oldest);
        }
        let for_learning = clock.ms() - LEARNING_WINDOW.as_millis() as i64;
        while let Some(front) = self.sends.front() {
            let old_for_limits = front.t <= needed;
            let old_for_learning = front.t <= for_learning || self.sends.len() > LEARNING_SENDS;
            if (old_for_limits && old_for_learning) || self.sends.len() > MAX_SENDS {
                self.sends.pop_front();
            } else {
                break;
            }
        }
        self.lockdowns.retain(|_, l| l.until > clock.now);
        // A reading long past its reset says nothing any more.
        let now = clock.ms();
        self.observed
            .retain(|o| now < o.reset.max(o.at) + OBSERVED_KEPT.as_millis() as i64);
        self.roll_day(clock);
    }

    fn is_idle(&self) -> bool {
        self.sends.is_empty()
            && self.lockdowns.is_empty()
            && self.learned.is_empty()
            && self.observed.is_empty()
            && self.day.requests.is_empty()
    }

    /// How much of `limit` is used now, and when the room for `need` comes.
    fn standing(&self, limit: &Limit, clock: &Clock, need: u64) -> (u64, Option<Timestamp>) {
        match limit.window {
            Window::Day => {
                let model = limit.model.as_deref().unwrap_or(ALL_MODELS);
                let counts = match limit.metric {
                    Metric::Requests => &self.day.requests,
                    Metric::Tokens => &self.day.tokens,
                };
                let today =
                    self.is_today(clock) || self.day.start == clock.day_start().as_millisecond();
                let used = if today {
                    counts.get(model).copied().unwrap_or(0)
                } else {
                    0
                };
                let full = used > 0 && used + need > limit.amount;
                (used, full.then(|| clock.next_reset()))
            }
            Window::Millis(w) => {
                // Our send time is taken before the request leaves; the API
                // stamps it on arrival. A small margin keeps the two windows
                // from disagreeing at their edges.
                let w = w + (w / 40).clamp(25, 1000);
                let since = clock.ms() - w;
                let inside: Vec<&Sent> = self
                    .sends
                    .iter()
                    .filter(|s| s.t > since && limit.counts(s.m.as_deref()))
                    .collect();
                let amount_of = |s: &Sent| match limit.metric {
                    Metric::Requests => 1,
                    Metric::Tokens => s.tok,
                };
                let used: u64 = inside.iter().map(|s| amount_of(s)).sum();
                if used == 0 || used + need <= limit.amount {
                    return (used, None);
                }
                // Room comes when enough of the oldest sends have left the window.
                let mut freed = 0;
                for s in &inside {
                    freed += amount_of(s);
                    if used - freed + need <= limit.amount || used == freed {
                        return (used, Some(ts(s.t + w)));
                    }
                }
                (used, Some(ts(clock.ms() + w)))
            }
        }
    }
}

/// A request's shape, for the accounting.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// The model, if the request names one.
    pub model: Option<String>,
    /// Estimated tokens.
    pub tokens: u64,
}

impl Usage {
    /// The bucket, created if new.
    pub fn bucket_mut(&mut self, name: &str) -> &mut Bucket {
        self.buckets.entry(name.to_string()).or_default()
    }

    /// Drops what no longer matters, so the record stays small.
    pub fn prune(&mut self, clock: &Clock, limits: &[Limit]) {
        for bucket in self.buckets.values_mut() {
            bucket.prune(clock, limits);
        }
        self.buckets.retain(|_, b| !b.is_idle());
    }

    /// `Ok` if `ask` fits every limit of `bucket` now; else when it will.
    pub fn room(
        &self,
        bucket: &str,
        limits: &[Limit],
        ask: &Ask,
        clock: &Clock,
    ) -> Result<(), RoomLater> {
        let Some(b) = self.buckets.get(bucket) else {
            return Ok(());
        };
        let model = ask.model.as_deref();
        let mut later: Option<RoomLater> = None;
        let mut note = |at: Timestamp, why: String, daily: bool| {
            if later.as_ref().is_none_or(|l| at > l.at) {
                later = Some(RoomLater { at, why, daily });
            }
        };
        for key in [model.unwrap_or(ALL_MODELS), ALL_MODELS] {
            if let Some(l) = b.lockdowns.get(key).filter(|l| l.until > clock.now) {
                note(l.until, format!("locked down: {}", l.reason), l.daily);
            }
        }
        for limit in effective(limits, &b.learned, model) {
            let need = match limit.metric {
                Metric::Requests => 1,
                Metric::Tokens => ask.tokens,
            };
            if let (_, Some(at)) = b.standing(limit, clock, need) {
                note(
                    at,
                    format!("at its limit of {}", limit.label()),
                    limit.window == Window::Day,
                );
            }
        }
        for o in b
            .observed
            .iter()
            .filter(|o| o.model.is_none() || o.model.as_deref() == model)
        {
            let need = match o.metric {
                Some(Metric::Requests) => 1,
                Some(Metric::Tokens) => ask.tokens,
                None => continue,
            };
            if let (_, Some(at)) = o.left(&b.sends, clock.ms(), need) {
                note(
                    ts(at),
                    format!("its {} are used up (rate-limit headers)", o.label()),
                    false,
                );
            }
        }
        later.map_or(Ok(()), Err)
    }

    /// Records a send; returns its id for [`Usage::correct`] and [`Usage::forget`].
    pub fn record(&mut self, bucket: &str, ask: &Ask, clock: &Clock) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let b = self.bucket_mut(bucket);
        b.roll_day(clock);
        b.sends.push_back(Sent {
            t: clock.ms(),
            m: ask.model.clone(),
            tok: ask.tokens,
            id,
        });
        for key in [ask.model.as_deref().unwrap_or(ALL_MODELS), ALL_MODELS]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
        {
            *b.day.requests.entry(key.to_string()).or_default() += 1;
            *b.day.tokens.entry(key.to_string()).or_default() += ask.tokens;
        }
        id
    }

    /// Sets a send's tokens to what the answer reported.
    pub fn correct(&mut self, bucket: &str, id: u64, tokens: u64) {
        let Some(b) = self.buckets.get_mut(bucket) else {
            return;
        };
        let Some(sent) = b.sends.iter_mut().find(|s| s.id == id) else {
            return;
        };
        let old = std::mem::replace(&mut sent.tok, tokens);
        let model = sent.m.clone();
        for key in [model.as_deref().unwrap_or(ALL_MODELS), ALL_MODELS]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
        {
            if let Some(n) = b.day.tokens.get_mut(key) {
                *n = (*n + tokens).saturating_sub(old);
            }
        }
    }

    /// Takes back a send the API refused (a 429 uses no quota).
    pub fn forget(&mut self, bucket: &str, id: u64) {
        let Some(b) = self.buckets.get_mut(bucket) else {
            return;
        };
        let Some(pos) = b.sends.iter().position(|s| s.id == id) else {
            return;
        };
        let sent = b
            .sends
            .remove(pos)
            .expect("invariant: position is in range");
        for key in [sent.m.as_deref().unwrap_or(ALL_MODELS), ALL_MODELS]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
        {
            if let Some(n) = b.day.requests.get_mut(key) {
                *n = n.saturating_sub(1);
            }
            if let Some(n) = b.day.tokens.get_mut(key) {
                *n = n.saturating_sub(sent.tok);
            }
        }
    }

    /// Keeps what an answer's rate-limit headers said, unless a reading of a
    /// later request is there already.
    pub fn observe(&mut self, bucket: &str, readings: Vec<Observed>) {
        let b = self.bucket_mut(bucket);
        for reading in readings {
            match b
                .observed
                .iter_mut()
                .find(|o| o.name == reading.name && o.model == reading.model)
            {
                Some(old) if old.at > reading.at => {}
                Some(old) => {
                    let mut reading = reading;
                    if old.limit == reading.limit {
                        reading.window = match (old.window, reading.window) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                    }
                    *old = reading;
                }
                None => b.observed.push(reading),
            }
        }
    }

    /// Learns from a 429: locks the model (or everything) down on the bucket
    /// until `until`, and where no limit was declared for what ran out, takes
    /// the API's figure as the limit, with the window measured from our own
    /// sends when the quota is per minute.
    pub fn learn(
        &mut self,
        bucket: &str,
        declared: &[Limit],
        violation: &Violation,
        until: Timestamp,
        reason: &str,
        clock: &Clock,
    ) {
        let b = self.bucket_mut(bucket);
        b.roll_day(clock);
        let model_key = violation
            .model
            .clone()
            .unwrap_or_else(|| ALL_MODELS.to_string());
        b.lockdowns.insert(
            model_key,
            ModelLockdown {
                until,
                reason: reason.to_string(),
                daily: violation.daily,
            },
        );
        let Some(amount) = violation.limit else {
            return;
        };
        let already = declared.iter().chain(&b.learned).any(|l| {
            l.metric == violation.metric
                && l.model == violation.model
                && matches!(
                    (l.window, violation.daily),
                    (Window::Day, true) | (Window::Millis(_), false)
                )
        });
        if already {
            return;
        }
        let window = if violation.daily {
            Window::Day
        } else {
            // The API says the window frees at `until`: it began at the send
            // `amount` sends back, if we have seen that many.
            let model = violation.model.as_deref();
            let sends: Vec<i64> = b
                .sends
                .iter()
                .filter(|s| violation.model.is_none() || s.m.as_deref() == model)
                .map(|s| s.t)
                .collect();
            let n = amount as usize;
            let measured = (violation.metric == Metric::Requests && n > 0 && sends.len() >= n)
                .then(|| until.as_millisecond() - sends[sends.len() - n]);
            // Measured from our send to the API's free time, it runs a few ms
            // long; real windows are round figures.
            let round = |ms: i64| {
                let step = if ms < 10_000 { 100 } else { 1000 };
                (ms + step / 2) / step * step
            };
            Window::Millis(measured.map_or(60_000, round).clamp(1000, 60_000))
        };
        b.learned.push(Limit {
            metric: violation.metric,
            amount,
            window,
            model: violation.model.clone(),
        });
    }

    /// Each limit's standing on `bucket`, for `status`.
    pub fn standing(&self, bucket: &str, limits: &[Limit], clock: &Clock) -> Vec<LimitUse> {
        let empty = Bucket::default();
        let b = self.buckets.get(bucket).unwrap_or(&empty);
        let mut uses: Vec<LimitUse> = limits
            .iter()
            .map(|l| (l, false))
            .chain(b.learned.iter().map(|l| (l, true)))
            .map(|(limit, learned)| {
                let (used, _) = b.standing(limit, clock, 0);
                let (_, frees_at) = b.standing(limit, clock, 1);
                LimitUse {
                    short: match &limit.model {
                        Some(m) => format!("{} {m}", limit.window.label()),
                        None => limit.window.label(),
                    },
                    limit: limit.label(),
                    learned,
                    source: if learned {
                        "learned from a 429"
                    } else {
                        "declared"
                    },
                    used,
                    left: limit.amount.saturating_sub(used),
                    frees_at: frees_at.filter(|_| used >= limit.amount),
                }
            })
            .collect();
        for o in &b.observed {
            let (left, frees_at) = o.left(&b.sends, clock.ms(), 1);
            let left = left.max(0.0).floor() as u64;
            uses.push(LimitUse {
                short: match &o.model {
                    Some(m) => format!("{} {m}", o.name),
                    None => o.name.clone(),
                },
                limit: o.label(),
                learned: true,
                source: "learned from headers",
                used: o.limit.saturating_sub(left),
                left,
                frees_at: frees_at.filter(|_| o.metric.is_some()).map(ts),
            });
        }
        uses
    }

    /// Counts a rate-limit answer on `bucket` today.
    pub fn note_limited(&mut self, bucket: &str, clock: &Clock) {
        let b = self.bucket_mut(bucket);
        b.roll_day(clock);
        b.day.limited += 1;
    }

    /// Today's requests and rate-limit answers on `bucket`.
    pub fn today(&self, bucket: &str, clock: &Clock) -> (u64, u64) {
        match self.buckets.get(bucket) {
            Some(b) if b.is_today(clock) => (
                b.day.requests.get(ALL_MODELS).copied().unwrap_or(0),
                b.day.limited,
            ),
            _ => (0, 0),
        }
    }

    /// Active model lockdowns on `bucket`.
    pub fn lockdowns(&self, bucket: &str, clock: &Clock) -> Vec<(String, ModelLockdown)> {
        self.buckets
            .get(bucket)
            .map(|b| {
                b.lockdowns
                    .iter()
                    .filter(|(_, l)| l.until > clock.now)
                    .map(|(m, l)| (m.clone(), l.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Declared limits win over learned ones for the same metric, window kind and model.
fn effective<'a>(
    declared: &'a [Limit],
    learned: &'a [Limit],
    model: Option<&str>,
) -> impl Iterator<Item = &'a Limit> {
    let declared_for: Vec<&Limit> = declared.iter().filter(|l| l.applies_to(model)).collect();
    let extra: Vec<&Limit> = learned
        .iter()
        .filter(|l| l.applies_to(model))
        .filter(|l| {
            !declared_for.iter().any(|d| {
                d.metric == l.metric
                    && d.model == l.model
                    && matches!(
                        (d.window, l.window),
                        (Window::Day, Window::Day) | (Window::Millis(_), Window::Millis(_))
                    )
            })
        })
        .collect();
    declared_for.into_iter().chain(extra)
}

/// When a request will fit, and why it doesn't now.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomLater {
    /// The first time it fits.
    pub at: Timestamp,
    /// Why not now.
    pub why: String,
    /// Whether it waits for the daily reset.
    pub daily: bool,
}

/// One quota a 429 says ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Requests or tokens.
    pub metric: Metric,
    /// Whether it is a per-day quota.
    pub daily: bool,
    /// The API's figure for the limit (`quotaValue`).
    pub limit: Option<u64>,
    /// The model it is for, if the API says.
    pub model: Option<String>,
}

/// The model a request is for: the `/models/<model>:` part of a Gemini path,
/// else a JSON body's `"model"` (OpenAI style).
pub fn model_of(endpoint: &str, body: Option<&[u8]>) -> Option<String> {
    let path = endpoint.split('?').next().unwrap_or(endpoint);
    if let Some(rest) = path.split("/models/").nth(1) {
        let model = rest.split([':', '/']).next().unwrap_or("");
        if !model.is_empty() {
            return Some(model.to_string());
        }
    }
    // Only the one field is read: a huge body builds no tree.
    #[derive(serde::Deserialize)]
    struct WithModel {
        model: Option<String>,
    }
    let parsed: WithModel = serde_json::from_slice(body?).ok()?;
    parsed
        .model
        .map(|m| m.trim_start_matches("models/").to_string())
}

/// The tokens an answer reports against a tokens-per-minute quota: Gemini's
/// `usageMetadata.promptTokenCount` (its TPM counts input tokens), or
/// OpenAI's `usage.total_tokens`.
pub fn reported_tokens(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    #[allow(non_snake_case)]
    struct Reported {
        usageMetadata: Option<Gemini>,
        usage: Option<OpenAi>,
    }
    #[derive(serde::Deserialize)]
    #[allow(non_snake_case)]
    struct Gemini {
        promptTokenCount: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct OpenAi {
        total_tokens: Option<u64>,
    }
    let parsed: Reported = serde_json::from_slice(body).ok()?;
    parsed
        .usageMetadata
        .and_then(|g| g.promptTokenCount)
        .or_else(|| parsed.usage.and_then(|u| u.total_tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn clock(text: &str) -> Clock<'static> {
        Clock {
            now: at(text),
            tz: "America/Los_Angeles",
        }
    }

    fn per(amount: u64, window: &str) -> Limit {
        Limit {
            metric: Metric::Requests,
            amount,
            window: Window::parse(window).unwrap(),
            model: None,
        }
    }

    fn tokens(n: u64) -> Ask {
        Ask {
            model: None,
            tokens: n,
        }
    }

    fn ask() -> Ask {
        Ask {
            model: Some("gemini-2.5-flash".into()),
            tokens: 10,
        }
    }

    fn reading(
        name: &str,
        limit: u64,
        remaining: u64,
        at: i64,
        reset: i64,
        continuous: bool,
    ) -> Observed {
        Observed {
            name: name.into(),
            metric: Some(Metric::Requests),
            limit,
            remaining,
            at,
            reset,
            continuous,
            window: None,
            model: None,
        }
    }

    /// `n` sends of `ask()` at these times.
    fn sends_at(usage: &mut Usage, bucket: &str, times: &[i64], c: &Clock) {
        for &t in times {
            usage.record(bucket, &ask(), &Clock { now: ts(t), ..*c });
        }
    }

    /// When the next request fits, as ms after `t`, asked at `now`.
    fn next_room(usage: &Usage, bucket: &str, now: i64, t: i64, c: &Clock) -> Option<i64> {
        usage
            .room(bucket, &[], &ask(), &Clock { now: ts(now), ..*c })
            .err()
            .map(|later| later.at.as_millisecond() - t)
    }

    #[test]
    fn header_readings_hold_under_a_token_bucket_and_a_sliding_window_alike() {
        let c = clock("2026-01-01T00:00:10Z");
        let t = c.now.as_millisecond();
        // A burst of 5 (a 5 per 2 s limit) ends at t; its last answer says
        // nothing is left and the limit is whole 2 s on.
        let burst = [t - 4, t - 3, t - 2, t - 1, t];
        let exhausted = |window: Option<i64>| {
            let mut usage = Usage::default();
            sends_at(&mut usage, "key:a", &burst, &c);
            let mut r = reading("requests", 5, 0, t, t + 2000, true);
            r.window = window;
            usage.observe("key:a", vec![r]);
            usage
        };
        // Which rule holds isn't known yet: nothing before the reset (a
        // bucket would give one back at 0.4 s, a window none until 2 s).
        assert_eq!(
            next_room(&exhausted(None), "key:a", t + 1, t, &c),
            Some(2000)
        );
        // Answers have shown a window of 2 s (the shortest send-to-reset
        // span of a success): each send comes back 2 s after it went (and
        // a margin of 50 ms for its way to the API).
        assert_eq!(
            next_room(&exhausted(Some(2000)), "key:a", t + 1, t, &c),
            Some(2046)
        );
        // Answers have shown spans of 0.4 s, as only a bucket states them:
        // the window model would give all five back at 0.4 s (plus its
        // margin); the bucket's own pace, one each 0.4 s, is the smaller.
        let mut usage = exhausted(Some(400));
        assert_eq!(next_room(&usage, "key:a", t + 1, t, &c), Some(421));
        sends_at(&mut usage, "key:a", &[t + 400], &c);
        assert_eq!(next_room(&usage, "key:a", t + 401, t, &c), Some(800));
    }

    #[test]
    fn a_request_larger_than_a_whole_token_limit_goes_once_its_window_is_empty() {
        let c = clock("2026-01-01T00:00:10Z");
        let t = c.now.as_millisecond();
        let limits = [per(1_000, "1m")];
        let mut limits = limits.to_vec();
        limits[0].metric = Metric::Tokens;
        let big = tokens(5_000);
        let mut usage = Usage::default();
        // Nothing in the window: it goes, estimate and all.
        assert!(usage.room("key:a", &limits, &big, &c).is_ok());
        usage.record("key:a", &big, &c);
        // The next waits for that one to leave the window, not forever.
        let later = usage.room("key:a", &limits, &big, &c).unwrap_err();
        let wait = later.at.as_millisecond() - t;
        assert!((60_000..=61_600).contains(&wait), "{wait}");
        let after = Clock { now: later.at, ..c };
        assert!(usage.room("key:a", &limits, &big, &after).is_ok());
    }

    #[test]
    fn the_shortest_span_of_a_successful_answer_is_kept_as_the_window() {
        let c = clock("2026-01-01T00:00:10Z");
        let t = c.now.as_millisecond();
        let mut usage = Usage::default();
        let with_window = |at: i64, reset: i64, window: Option<i64>| {
            let mut r = reading("requests", 5, 3, at, reset, true);
            r.window = window;
            r
        };
        usage.observe("key:a", vec![with_window(t, t + 2600, Some(2600))]);
        usage.observe("key:a", vec![with_window(t + 10, t + 2050, Some(2040))]);
        // A refused request's reading says nothing of the window.
        usage.observe("key:a", vec![with_window(t + 20, t + 900, None)]);
        assert_eq!(usage.buckets["key:a"].observed[0].window, Some(2040));
        // A new limit starts afresh.
        let mut r = with_window(t + 30, t + 3030, Some(3000));
        r.limit = 10;
        usage.observe("key:a", vec![r]);
        assert_eq!(usage.buckets["key:a"].observed[0].window, Some(3000));
    }

    #[test]
    fn header_readings_are_kept_newest_first_per_quota_and_model() {
        let c = clock("2026-01-01T00:00:10Z");
        let t = c.now.as_millisecond();
        let mut usage = Usage::default();
        usage.observe("key:a", vec![reading("requests", 5, 1, t, t + 1600, true)]);
        assert!(usage.room("key:a", &[], &ask(), &c).is_ok());
        // A reading of an earlier send doesn't replace a later one …
        usage.observe("key:a", vec![reading("requests", 5, 5, t - 50, t, true)]);
        assert_eq!(usage.buckets["key:a"].observed[0].remaining, 1);
        // … and a limit that changes mid-run is taken from the newest.
        usage.observe(
            "key:a",
            vec![reading("requests", 2, 0, t + 3, t + 1003, true)],
        );
        let b = &usage.buckets["key:a"];
        assert_eq!((b.observed.len(), b.observed[0].limit), (1, 2));
        assert!(
            usage
                .room(
                    "key:a",
                    &[],
                    &ask(),
                    &Clock {
                        now: ts(t + 10),
                        ..c
                    }
                )
                .is_err()
        );
        assert!(
            usage
                .room(
                    "key:a",
                    &[],
                    &ask(),
                    &Clock {
                        now: ts(t + 1010),
                        ..c
                    }
                )
                .is_ok()
        );
        // "0s" to the reset with nothing left: the rate can't be known, so
        // it doesn't hold the key back (a 429 would say more).
        usage.observe("key:b", vec![reading("requests", 5, 0, t, t, true)]);
        assert!(usage.room("key:b", &[], &ask(), &c).is_ok());
        // Output tokens are reported, never paced on.
        let mut out = reading("output-tokens", 100, 0, t, t + 60_000, true);
        out.metric = None;
        usage.observe("key:c", vec![out]);
        assert!(usage.room("key:c", &[], &ask(), &c).is_ok());
        let standing = usage.standing("key:a", &[], &c);
        assert_eq!(standing[0].source, "learned from headers");
        // A reading of one model's limit doesn't hold back another model.
        let mut pro = reading("requests", 2, 0, t, t + 60_000, true);
        pro.model = Some("gemini-2.5-pro".into());
        usage.observe("key:d", vec![pro]);
        assert!(usage.room("key:d", &[], &ask(), &c).is_ok());
        let pro_ask = Ask {
            model: Some("gemini-2.5-pro".into()),
            tokens: 1,
        };
        assert!(usage.room("key:d", &[], &pro_ask, &c).is_err());
    }

    #[test]
    fn header_readings_of_a_fixed_window_wait_for_its_reset() {
        let c = clock("2026-01-01T00:00:10Z");
        let t = c.now.as_millisecond();
        let mut usage = Usage::default();
        usage.observe(
            "key:a",
            vec![reading("requests-day", 100, 1, t, t + 30_000, false)],
        );
        assert!(usage.room("key:a", &[], &ask(), &c).is_ok());
        usage.record(
            "key:a",
            &ask(),
            &Clock {
                now: ts(t + 1),
                ..c
            },
        );
        let later = usage
            .room(
                "key:a",
                &[],
                &ask(),
                &Clock {
                    now: ts(t + 5),
                    ..c
                },
            )
            .unwrap_err();
        assert_eq!(later.at.as_millisecond(), t + 30_000);
        assert!(
            usage
                .room(
                    "key:a",
                    &[],
                    &ask(),
                    &Clock {
                        now: ts(t + 30_000),
                        ..c
                    }
                )
                .is_ok()
        );
        // The reading is dropped a while after its reset.
        usage.prune(
            &Clock {
                now: ts(t + 200_000),
                ..c
            },
            &[],
        );
        assert!(
            usage
                .buckets
                .get("key:a")
                .is_none_or(|b| b.observed.is_empty())
        );
    }

    #[test]
    fn sends_are_stored_as_arrays_and_the_old_maps_still_read() {
        let sent = Sent {
            t: 1_700_000_000_123,
            m: Some("gemini-2.5-flash".into()),
            tok: 42,
            id: 7,
        };
        let text = serde_json::to_string(&sent).unwrap();
        assert_eq!(text, r#"[1700000000123,42,7,"gemini-2.5-flash"]"#);
        assert_eq!(serde_json::from_str::<Sent>(&text).unwrap(), sent);
        let bare = Sent {
            m: None,
            ..sent.clone()
        };
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            "[1700000000123,42,7]"
        );
        let old: Sent =
            serde_json::from_str(r#"{"t":1700000000123,"m":"gemini-2.5-flash","tok":42,"id":7}"#)
                .unwrap();
        assert_eq!(old, sent);
        assert!(serde_json::from_str::<Sent>("[1]").is_err());
        assert!(serde_json::from_str::<Sent>(r#"{"tok":1}"#).is_err());
    }

    #[test]
    fn windows_parse_and_print() {
        assert_eq!(Window::parse("2s"), Ok(Window::Millis(2000)));
        assert_eq!(Window::parse("1m"), Ok(Window::Millis(60_000)));
        assert_eq!(Window::parse("day"), Ok(Window::Day));
        assert_eq!(Window::parse("1.5s").unwrap().label(), "1500ms");
        assert!(Window::parse("2").is_err());
        assert!(Window::parse("3 weeks").is_err());
    }

    #[test]
    fn a_sliding_window_fills_and_frees_exactly() {
        let limits = [per(2, "2s")];
        let mut usage = Usage::default();
        let c0 = clock("2026-03-01T12:00:00Z");
        assert!(usage.room("k", &limits, &ask(), &c0).is_ok());
        usage.record("k", &ask(), &c0);
        let c1 = clock("2026-03-01T12:00:00.500Z");
        usage.record("k", &ask(), &c1);
        let later = usage.room("k", &limits, &ask(), &c1).unwrap_err();
        assert_eq!(
            later.at,
            at("2026-03-01T12:00:02.050Z"),
            "the first send leaves the window (+ margin)"
        );
        assert!(
            usage
                .room("k", &limits, &ask(), &clock("2026-03-01T12:00:02.051Z"))
                .is_ok()
        );
        assert!(
            usage.room("other", &limits, &ask(), &c1).is_ok(),
            "buckets are separate"
        );
    }

    #[test]
    fn token_limits_count_estimates_and_corrections() {
        let limits = [Limit {
            metric: Metric::Tokens,
            amount: 100,
            window: Window::Millis(60_000),
            model: None,
        }];
        let mut usage = Usage::default();
        let c = clock("2026-03-01T12:00:00Z");
        let id = usage.record("k", &tokens(30), &c);
        assert!(usage.room("k", &limits, &tokens(60), &c).is_ok());
        usage.correct("k", id, 80);
        assert!(usage.room("k", &limits, &tokens(60), &c).is_err());
        usage.forget("k", id);
        assert!(usage.room("k", &limits, &tokens(60), &c).is_ok());
    }

    #[test]
    fn per_day_counts_reset_at_midnight_pacific() {
        let limits = [per(2, "day")];
        let mut usage = Usage::default();
        // 23:00 PST on 1 March = 07:00 UTC on 2 March.
        let evening = clock("2026-03-02T07:00:00Z");
        usage.record("k", &ask(), &evening);
        usage.record("k", &ask(), &evening);
        let later = usage.room("k", &limits, &ask(), &evening).unwrap_err();
        assert_eq!(later.at, at("2026-03-02T08:00:00Z"), "midnight PST");
        assert!(later.daily);
        // One minute after midnight Pacific, the count is fresh.
        let after = clock("2026-03-02T08:01:00Z");
        assert!(usage.room("k", &limits, &ask(), &after).is_ok());
        usage.prune(&after, &limits);
        usage.record("k", &ask(), &after);
        assert_eq!(usage.standing("k", &limits, &after)[0].used, 1);
    }

    #[test]
    fn model_limits_and_lockdowns_touch_only_their_model() {
        let flash = Limit {
            model: Some("gemini-2.5-flash".into()),
            ..per(1, "1m")
        };
        let mut usage = Usage::default();
        let c = clock("2026-03-01T12:00:00Z");
        usage.record("k", &ask(), &c);
        let lite = Ask {
            model: Some("gemini-2.5-flash-lite".into()),
            tokens: 1,
        };
        assert!(
            usage
                .room("k", std::slice::from_ref(&flash), &ask(), &c)
                .is_err()
        );
        assert!(
            usage
                .room("k", std::slice::from_ref(&flash), &lite, &c)
                .is_ok()
        );
        let v = Violation {
            metric: Metric::Requests,
            daily: true,
            limit: Some(250),
            model: Some("gemini-2.5-flash-lite".into()),
        };
        usage.learn("k", &[], &v, c.next_reset(), "429 PerDay", &c);
        assert!(usage.room("k", &[], &lite, &c).unwrap_err().daily);
        assert!(
            usage
                .room(
                    "k",
                    &[],
                    &Ask {
                        model: Some("gemini-2.5-pro".into()),
                        tokens: 1
                    },
                    &c
                )
                .is_ok()
        );
    }

    #[test]
    fn learning_measures_the_window_from_our_own_sends() {
        let mut usage = Usage::default();
        for ms in [0, 100, 200, 300, 400] {
            usage.record(
                "k",
                &ask(),
                &clock(&format!("2026-03-01T12:00:00.{ms:03}Z")),
            );
        }
        let now = clock("2026-03-01T12:00:00.500Z");
        // The API: 5 per "minute", but the oldest of the 5 frees at 2.0s: the window is 2s.
        let v = Violation {
            metric: Metric::Requests,
            daily: false,
            limit: Some(5),
            model: Some("gemini-2.5-flash".into()),
        };
        usage.learn("k", &[], &v, at("2026-03-01T12:00:02Z"), "429", &now);
        assert_eq!(usage.buckets["k"].learned[0].window, Window::Millis(2000));
        // A declared limit is not overridden by learning.
        let mut usage2 = Usage::default();
        let declared = [Limit {
            model: Some("gemini-2.5-flash".into()),
            ..per(4, "1m")
        }];
        usage2.learn("k", &declared, &v, at("2026-03-01T12:00:02Z"), "429", &now);
        assert!(usage2.buckets["k"].learned.is_empty());
    }

    #[test]
    fn models_come_from_gemini_paths_or_openai_bodies() {
        assert_eq!(
            model_of("/v1beta/models/gemini-2.5-flash:generateContent", None).as_deref(),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            model_of("/v1/chat/completions", Some(br#"{"model":"gpt-4o"}"#)).as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(model_of("/v1beta/models", None), None);
        assert_eq!(
            reported_tokens(br#"{"usageMetadata":{"promptTokenCount":40,"totalTokenCount":42}}"#),
            Some(40)
        );
        assert_eq!(reported_tokens(br#"{"usage":{"total_tokens":7}}"#), Some(7));
    }
}
