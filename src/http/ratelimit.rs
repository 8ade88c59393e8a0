//! Rate-limit headers: what an answer says of the key's quotas — the limit,
//! what is left, when it is whole again — read by a connector's scheme.
//!
//! The schemes and where their meaning comes from:
//! - `openai` (OpenAI, Groq, and OpenAI-compatible services that copy it):
//!   `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; the reset is
//!   "the time until the rate limit resets to its initial state" as a Go
//!   duration (`1s`, `6m0s`, `2m59.56s`, `20ms`) — platform.openai.com/docs/guides/rate-limits,
//!   console.groq.com/docs/rate-limits. Capacity comes back continuously.
//! - `anthropic`: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
//!   the reset "the time when the rate limit will be fully replenished" in
//!   RFC 3339; a token bucket — docs.anthropic.com/en/api/rate-limits.
//! - `cerebras`: `x-ratelimit-{limit,remaining,reset}-{requests-day,tokens-minute}`,
//!   the reset in seconds until the window resets — inference-docs.cerebras.ai/support/rate-limits.
//!   Read as a window that is whole again at the reset (the cautious reading).
//!
//! A connector may also spell a scheme out (see [`Mapping`]).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a reset header is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetFormat {
    /// A Go-style duration: `6m0s`, `1m30.5s`, `20ms`, `0s` (a bare number is seconds).
    Duration,
    /// Seconds from now, maybe with a fraction.
    Seconds,
    /// A Unix time in seconds.
    EpochSeconds,
    /// A Unix time in milliseconds.
    EpochMillis,
    /// An RFC 3339 time.
    Rfc3339,
}

/// How a quota's capacity comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refill {
    /// Continuously, whole again at the reset (a token bucket).
    Continuous,
    /// All at once, at the reset (a fixed window).
    AtReset,
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counts {
    /// Requests.
    Requests,
    /// Tokens in and out (paced on the request's estimate).
    Tokens,
    /// Input tokens (paced on the request's estimate).
    InputTokens,
    /// Output tokens: not known before the answer, so only reported.
    OutputTokens,
}

/// One quota's three headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaHeaders {
    /// A name for people (`requests`, `tokens-minute` …).
    pub name: String,
    /// What it counts.
    pub counts: Counts,
    /// The header with the limit.
    pub limit: String,
    /// The header with what is left.
    pub remaining: String,
    /// The header with the reset.
    pub reset: String,
    /// How the reset is written.
    pub reset_format: ResetFormat,
    /// How capacity comes back.
    #[serde(default = "continuous")]
    pub refill: Refill,
}

fn continuous() -> Refill {
    Refill::Continuous
}

/// A scheme spelled out in a connector: `{"quotas": [ … ]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The quotas the answers describe.
    pub quotas: Vec<QuotaHeaders>,
}

/// A connector's `rate_limit_headers`: a scheme's name or a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SchemeSpec {
    /// `"openai"`, `"anthropic"` or `"cerebras"`.
    Named(String),
    /// Spelled out.
    Mapping(Mapping),
}

/// The scheme names jongler knows.
pub const SCHEMES: &[&str] = &["openai", "anthropic", "cerebras"];

impl SchemeSpec {
    /// The quotas to read, or why the spec is wrong.
    pub fn quotas(&self) -> Result<Vec<QuotaHeaders>, String> {
        match self {
            SchemeSpec::Named(name) => match name.as_str() {
                "openai" => Ok(scheme(
                    &[("requests", Counts::Requests), ("tokens", Counts::Tokens)],
                    |quota, part| format!("x-ratelimit-{part}-{quota}"),
                    ResetFormat::Duration,
                    Refill::Continuous,
                )),
                "anthropic" => Ok(scheme(
                    &[
                        ("requests", Counts::Requests),
                        ("tokens", Counts::Tokens),
                        ("input-tokens", Counts::InputTokens),
                        ("output-tokens", Counts::OutputTokens),
                    ],
                    |quota, part| format!("anthropic-ratelimit-{quota}-{part}"),
                    ResetFormat::Rfc3339,
                    Refill::Continuous,
                )),
                "cerebras" => Ok(scheme(
                    &[
                        ("requests-day", Counts::Requests),
                        ("tokens-minute", Counts::Tokens),
                    ],
                    |quota, part| format!("x-ratelimit-{part}-{quota}"),
                    ResetFormat::Seconds,
                    Refill::AtReset,
                )),
                other => Err(format!(
                    "unknown rate_limit_headers scheme {other:?} (known: {}, or {{\"quotas\": [...]}})",
                    SCHEMES.join(", ")
                )),
            },
            SchemeSpec::Mapping(m) => {
                if m.quotas.is_empty() {
                    return Err("rate_limit_headers.quotas is empty".into());
                }
                for q in &m.quotas {
                    for h in [&q.limit, &q.remaining, &q.reset] {
                        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                            return Err(format!("rate_limit_headers: {h:?} is not a header name"));
                        }
                    }
                }
                Ok(m.quotas.clone())
            }
        }
    }
}

/// A named scheme's quotas: `header(quota, "limit" | "remaining" | "reset")`
/// names each header.
fn scheme(
    quotas: &[(&str, Counts)],
    header: impl Fn(&str, &str) -> String,
    reset_format: ResetFormat,
    refill: Refill,
) -> Vec<QuotaHeaders> {
    quotas
        .iter()
        .map(|(name, counts)| QuotaHeaders {
            name: name.to_string(),
            counts: *counts,
            limit: header(name, "limit"),
            remaining: header(name, "remaining"),
            reset: header(name, "reset"),
            reset_format,
            refill,
        })
        .collect()
}

/// What one answer said of one quota.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The quota's name.
    pub name: String,
    /// What it counts.
    pub counts: Counts,
    /// The limit.
    pub limit: u64,
    /// What is left.
    pub remaining: u64,
    /// How long until it is whole again, from when the answer came.
    pub reset_in: Duration,
    /// How capacity comes back.
    pub refill: Refill,
}

/// The longest reset believed: a day and a bit (a garbled header must not
/// hold a key for years).
const MAX_RESET: Duration = Duration::from_secs(26 * 3600);

/// Reads every quota whose three headers are all present and make sense.
pub fn read(quotas: &[QuotaHeaders], headers: &[(String, String)], now: Timestamp) -> Vec<Reading> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let number = |v: &str| -> Option<u64> {
        v.parse::<u64>().ok().or_else(|| {
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.floor().min(u64::MAX as f64) as u64)
        })
    };
    quotas
        .iter()
        .filter_map(|q| {
            let limit = number(get(&q.limit)?)?;
            let remaining = number(get(&q.remaining)?)?.min(limit);
            let reset_in = parse_reset(get(&q.reset)?, q.reset_format, now)?.min(MAX_RESET);
            (limit > 0).then(|| Reading {
                name: q.name.clone(),
                counts: q.counts,
                limit,
                remaining,
                reset_in,
                refill: q.refill,
            })
        })
        .collect()
}

/// A reset header's value as the time from now; `None` when unreadable.
pub fn parse_reset(value: &str, format: ResetFormat, now: Timestamp) -> Option<Duration> {
    let until =
        |t: Timestamp| -> Duration { t.duration_since(now).try_into().unwrap_or(Duration::ZERO) };
    match format {
        ResetFormat::Duration => go_duration(value),
        ResetFormat::Seconds => seconds(value),
        ResetFormat::EpochSeconds => {
            let s: f64 = value.parse().ok().filter(|s: &f64| s.is_finite())?;
            Timestamp::from_millisecond((s * 1000.0) as i64)
                .ok()
                .map(until)
        }
        ResetFormat::EpochMillis => {
            let ms: i64 = value.parse().ok()?;
            Timestamp::from_millisecond(ms).ok().map(until)
        }
        ResetFormat::Rfc3339 => {
            let t = value.parse::<Timestamp>().ok()?;
            // Whole seconds (Anthropic writes them so) mean "within this
            // second": read as its end, or the pool runs ahead of the bucket.
            let whole = !value.contains('.');
            let end = if whole {
                t.checked_add(jiff::SignedDuration::from_secs(1)).ok()?
            } else {
                t
            };
            Some(until(end))
        }
    }
}

fn seconds(value: &str) -> Option<Duration> {
    let s: f64 = value.parse().ok()?;
    (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(MAX_RESET.as_secs_f64())))
}

/// `6m0s`, `1m30.5s`, `2h1m`, `20ms`, `1.5us`, `0s`; a bare number is seconds.
pub fn go_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let Some(d) = seconds(value) {
        return Some(d);
    }
    let mut total = 0.0f64;
    let mut rest = value;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    (total.is_finite()).then(|| Duration::from_secs_f64(total.min(MAX_RESET.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn go_durations_in_every_shape() {
        let d = |s| go_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(d("1s"), Some(1.0));
        assert_eq!(d("6m0s"), Some(360.0));
        assert_eq!(d("1m30.5s"), Some(90.5));
        assert_eq!(d("2m59.56s"), Some(179.56));
        assert_eq!(d("0s"), Some(0.0));
        assert_eq!(d("20ms"), Some(0.02));
        assert_eq!(d("1h2m3s"), Some(3723.0));
        assert_eq!(d("7.66"), Some(7.66));
        assert!(d("1.5us").unwrap() > 0.0);
        for bad in ["", "s", "5x", "1m-3s", "abc", "NaN", "-1s"] {
            assert_eq!(d(bad), None, "{bad}");
        }
        // A garbled figure is capped, not believed.
        assert_eq!(d("99999999h"), Some(MAX_RESET.as_secs_f64()));
    }

    #[test]
    fn the_openai_scheme_reads_requests_and_tokens() {
        let quotas = SchemeSpec::Named("openai".into()).quotas().unwrap();
        let now = Timestamp::now();
        let got = read(
            &quotas,
            &h(&[
                ("X-RateLimit-Limit-Requests", "60"),
                ("x-ratelimit-remaining-requests", "59"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-limit-tokens", "150000"),
                ("x-ratelimit-remaining-tokens", "149984"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ]),
            now,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "requests");
        assert_eq!((got[0].limit, got[0].remaining), (60, 59));
        assert_eq!(got[0].reset_in, Duration::from_secs(1));
        assert_eq!(got[1].counts, Counts::Tokens);
        assert_eq!(got[1].reset_in, Duration::from_secs(360));
    }

    #[test]
    fn missing_or_garbled_headers_give_no_reading() {
        let quotas = SchemeSpec::Named("openai".into()).quotas().unwrap();
        let now = Timestamp::now();
        assert!(read(&quotas, &[], now).is_empty());
        let partial = h(&[
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-requests", "59"),
        ]);
        assert!(read(&quotas, &partial, now).is_empty());
        let garbled = h(&[
            ("x-ratelimit-limit-requests", "sixty"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-reset-requests", "1s"),
        ]);
        assert!(read(&quotas, &garbled, now).is_empty());
        let zero = h(&[
            ("x-ratelimit-limit-requests", "0"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
        ]);
        assert!(read(&quotas, &zero, now).is_empty());
        // More left than the limit is clamped.
        let over = h(&[
            ("x-ratelimit-limit-requests", "5"),
            ("x-ratelimit-remaining-requests", "9"),
            ("x-ratelimit-reset-requests", "0s"),
        ]);
        assert_eq!(read(&quotas, &over, now)[0].remaining, 5);
    }

    #[test]
    fn the_anthropic_scheme_reads_rfc3339_resets() {
        let quotas = SchemeSpec::Named("anthropic".into()).quotas().unwrap();
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let got = read(
            &quotas,
            &h(&[
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "49"),
                (
                    "anthropic-ratelimit-requests-reset",
                    "2026-01-01T00:00:01.2Z",
                ),
                ("anthropic-ratelimit-input-tokens-limit", "40000"),
                ("anthropic-ratelimit-input-tokens-remaining", "39000"),
                (
                    "anthropic-ratelimit-input-tokens-reset",
                    "2025-12-31T23:58:00Z",
                ),
            ]),
            now,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].reset_in, Duration::from_millis(1200));
        assert_eq!(got[1].counts, Counts::InputTokens);
        // A reset in the past is now.
        assert_eq!(got[1].reset_in, Duration::ZERO);
        // Whole seconds are read as the end of that second.
        let whole = parse_reset("2026-01-01T00:00:05Z", ResetFormat::Rfc3339, now).unwrap();
        assert_eq!(whole, Duration::from_secs(6));
    }

    #[test]
    fn the_cerebras_scheme_and_a_mapping() {
        let quotas = SchemeSpec::Named("cerebras".into()).quotas().unwrap();
        let got = read(
            &quotas,
            &h(&[
                ("x-ratelimit-limit-requests-day", "14400"),
                ("x-ratelimit-remaining-requests-day", "14399"),
                ("x-ratelimit-reset-requests-day", "33011.382867097855"),
            ]),
            Timestamp::now(),
        );
        assert_eq!(got[0].refill, Refill::AtReset);
        assert_eq!(got[0].reset_in.as_secs(), 33011);

        let spec: SchemeSpec = serde_json::from_str(
            r#"{"quotas": [{"name": "requests", "counts": "requests", "limit": "ratelimit-limit",
                "remaining": "ratelimit-remaining", "reset": "ratelimit-reset",
                "reset_format": "epoch_millis", "refill": "at_reset"}]}"#,
        )
        .unwrap();
        let now = Timestamp::now();
        let at = now.as_millisecond() + 1500;
        let got = read(
            &spec.quotas().unwrap(),
            &h(&[
                ("ratelimit-limit", "10"),
                ("ratelimit-remaining", "3"),
                ("ratelimit-reset", &at.to_string()),
            ]),
            now,
        );
        let ms = got[0].reset_in.as_millis();
        assert!((1498..=1500).contains(&ms), "{ms}");
        assert!(
            SchemeSpec::Named("nope".into())
                .quotas()
                .unwrap_err()
                .contains("openai")
        );
    }
}
