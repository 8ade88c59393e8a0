//! What an API's answer means for the key that was used: a pure function of
//! the status, headers and body, with the clock passed in.

use crate::secret::ApiKey;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The time zone Gemini's daily quotas reset in.
pub const DAILY_RESET_TZ: &str = "America/Los_Angeles";

/// The longest LOCKDOWN an API's say-so can cause (a typo'd header must not
/// lose a key for a year).
const MAX_LOCKDOWN: SignedDuration = SignedDuration::from_hours(48);

/// When a rate-limited key may be used again, and how we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Gemini's `RetryInfo.retryDelay`.
    RetryInfo(Timestamp),
    /// The `Retry-After` header.
    RetryAfter(Timestamp),
    /// A per-day quota ran out: the next daily reset.
    DailyReset(Timestamp),
    /// The answer doesn't say.
    Unknown,
}

/// One quota a 429's `QuotaFailure` says ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaViolation {
    /// The `quotaId`, e.g. `GenerateRequestsPerDayPerProjectPerModel-FreeTier`.
    pub quota_id: String,
    /// Whether it counts tokens (else requests).
    pub tokens: bool,
    /// Whether it is a per-day quota.
    pub daily: bool,
    /// `quotaValue`: the limit.
    pub limit: Option<u64>,
    /// `quotaDimensions.model`.
    pub model: Option<String>,
}

/// The meaning of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx or 3xx.
    Success,
    /// Rate limited: set the key aside until the hint says, try another.
    RateLimited {
        /// When the key may be used again.
        hint: RetryHint,
        /// What the API said, for people.
        reason: String,
        /// The quotas Gemini's `QuotaFailure` says ran out.
        violations: Vec<QuotaViolation>,
    },
    /// The key itself is bad: mark it ERROR, try another.
    BadKey { reason: String },
    /// The caller's own request is wrong (4xx): return it as is.
    CallerError,
    /// The API failed (5xx not counted as a rate limit): return it as is.
    ServerError,
}

/// Classifies an answer. `rate_limit_statuses` are the statuses besides 429
/// that mean "rate limited"; `key` is only used to keep it out of reasons.
pub fn classify(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    rate_limit_statuses: &[u16],
    key: Option<&ApiKey>,
    now: Timestamp,
) -> Verdict {
    if (200..400).contains(&status) {
        return Verdict::Success;
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let error = json.as_ref().and_then(|j| j.get("error"));
    let api_status = error
        .and_then(|e| e.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = error
        .and_then(|e| e.get("message").or_else(|| e.as_str().map(|_| e)))
        .and_then(Value::as_str)
        .or_else(|| {
            json.as_ref()
                .and_then(|j| j.get("message"))
                .and_then(Value::as_str)
        })
        .unwrap_or("");
    let details: &[Value] = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let describe = |extra: &str| {
        let mut reason = format!("{status}");
        for part in [api_status, extra, message] {
            if !part.is_empty() {
                reason.push(' ');
                reason.push_str(part);
            }
        }
        tidy(&reason, key)
    };

    if status == 429 || rate_limit_statuses.contains(&status) {
        let violations: Vec<QuotaViolation> = details
            .iter()
            .filter(|d| type_is(d, "QuotaFailure"))
            .filter_map(|d| d.get("violations").and_then(Value::as_array))
            .flatten()
            .filter_map(|v| {
                let quota_id = v.get("quotaId").and_then(Value::as_str)?.to_string();
                let limit = match v.get("quotaValue") {
                    Some(Value::String(s)) => s.parse().ok(),
                    Some(n) => n.as_u64(),
                    None => None,
                };
                let model = v
                    .pointer("/quotaDimensions/model")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Some(QuotaViolation {
                    tokens: quota_id.contains("Token"),
                    daily: quota_id.contains("PerDay"),
                    quota_id,
                    limit,
                    model,
                })
            })
            .collect();
        let quota_ids: Vec<&str> = violations.iter().map(|v| v.quota_id.as_str()).collect();
        let daily = violations.iter().any(|v| v.daily);
        let retry_delay = details
            .iter()
            .filter(|d| type_is(d, "RetryInfo"))
            .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
            .and_then(parse_duration);
        let retry_after = header(headers, "retry-after").and_then(|v| parse_retry_after(v, now));
        let hint = if daily {
            RetryHint::DailyReset(next_daily_reset(now, DAILY_RESET_TZ))
        } else if let Some(delay) = retry_delay {
            RetryHint::RetryInfo(now.saturating_add(delay.min(MAX_LOCKDOWN)).unwrap_or(now))
        } else if let Some(at) = retry_after {
            RetryHint::RetryAfter(at)
        } else {
            RetryHint::Unknown
        };
        let quota = quota_ids
            .first()
            .map(|id| format!("[{id}]"))
            .unwrap_or_default();
        return Verdict::RateLimited {
            hint,
            reason: describe(&quota),
            violations,
        };
    }

    let reasons: Vec<&str> = details
        .iter()
        .filter_map(|d| d.get("reason").and_then(Value::as_str))
        .collect();
    const KEY_REASONS: &[&str] = &[
        "API_KEY_INVALID",
        "API_KEY_EXPIRED",
        "CONSUMER_SUSPENDED",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
    ];
    let lower = message.to_ascii_lowercase();
    let names_key =
        lower.contains("api key") || lower.contains("api_key") || lower.contains("token");
    let key_words = [
        "not valid",
        "invalid",
        "expired",
        "leaked",
        "suspended",
        "revoked",
    ];
    let bad_key = status == 401
        || (matches!(status, 400 | 403)
            && (reasons.iter().any(|r| KEY_REASONS.contains(r))
                || (status == 403 && api_status == "PERMISSION_DENIED")
                || (names_key && key_words.iter().any(|w| lower.contains(w)))));
    if bad_key {
        let reason = reasons
            .iter()
            .find(|r| KEY_REASONS.contains(r))
            .copied()
            .unwrap_or("");
        return Verdict::BadKey {
            reason: describe(reason),
        };
    }
    if status >= 500 {
        Verdict::ServerError
    } else {
        Verdict::CallerError
    }
}

fn type_is(detail: &Value, name: &str) -> bool {
    detail
        .get("@type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.rsplit('.').next() == Some(name))
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One line, at most 300 characters, with the key's value masked out.
fn tidy(text: &str, key: Option<&ApiKey>) -> String {
    let mut text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(key) = key.filter(|k| !k.expose().is_empty()) {
        text = text.replace(key.expose(), &key.masked());
    }
    if text.chars().count() > 300 {
        text = text.chars().take(299).collect::<String>() + "…";
    }
    text
}

/// A protobuf JSON duration: `"33s"`, `"1.5s"`.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| SignedDuration::from_secs_f64(secs))
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Timestamp> {
    let value = value.trim();
    let at = if let Ok(secs) = value.parse::<u64>() {
        now.saturating_add(SignedDuration::from_secs(secs.min(i64::MAX as u64) as i64))
            .ok()?
    } else {
        jiff::fmt::rfc2822::parse(value).ok()?.timestamp()
    };
    let latest = now.saturating_add(MAX_LOCKDOWN).ok()?;
    Some(at.clamp(now, latest))
}

/// The last midnight in `tz` at or before `now`: when today's daily counts began.
pub fn previous_daily_reset(now: Timestamp, tz: &str) -> Timestamp {
    now.in_tz(tz)
        .ok()
        .and_then(|z| z.start_of_day().ok())
        .map(|z| z.timestamp())
        .unwrap_or_else(|| {
            Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(86_400))
                .unwrap_or(now)
        })
}

/// The next midnight in `tz` after `now` (Gemini's daily quotas reset at
/// midnight Pacific time). Falls back to 24 hours on an unknown zone.
pub fn next_daily_reset(now: Timestamp, tz: &str) -> Timestamp {
    let next = (|| {
        let zoned = now.in_tz(tz).ok()?;
        zoned
            .date()
            .tomorrow()
            .ok()?
            .to_zoned(zoned.time_zone().clone())
            .ok()
    })();
    next.map(|z| z.timestamp()).unwrap_or_else(|| {
        now.saturating_add(SignedDuration::from_hours(24))
            .unwrap_or(now)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn quota_429(quota_id: &str, delay: &str) -> Vec<u8> {
        serde_json::json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota.",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                 "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                                 "quotaId": quota_id, "quotaValue": "10"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn per_minute_quota_uses_retry_delay() {
        let now = at("2026-03-01T12:00:00Z");
        let body = quota_429(
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "33s",
        );
        let v = classify(429, &[], &body, &[], None, now);
        let Verdict::RateLimited {
            hint,
            reason,
            violations,
        } = v
        else {
            panic!("{v:?}")
        };
        assert_eq!(violations[0].limit, Some(10));
        assert!(!violations[0].daily && !violations[0].tokens);
        assert_eq!(hint, RetryHint::RetryInfo(at("2026-03-01T12:00:33Z")));
        assert!(reason.contains("PerMinute"), "{reason}");
    }

    #[test]
    fn per_day_quota_waits_for_midnight_pacific() {
        // 20:00 UTC on 1 March is 12:00 PST; the reset is 08:00 UTC on 2 March.
        let now = at("2026-03-01T20:00:00Z");
        let body = quota_429("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "20s");
        let v = classify(429, &[], &body, &[], None, now);
        assert!(
            matches!(v, Verdict::RateLimited { hint: RetryHint::DailyReset(t), .. } if t == at("2026-03-02T08:00:00Z")),
            "{v:?}"
        );
        // In summer (PDT) midnight is 07:00 UTC; just before it, the reset is minutes away.
        let now = at("2026-07-01T06:59:00Z");
        assert_eq!(
            next_daily_reset(now, DAILY_RESET_TZ),
            at("2026-07-01T07:00:00Z")
        );
        // Across the spring-forward day the next midnight is still a midnight.
        assert_eq!(
            next_daily_reset(at("2026-03-08T09:00:00Z"), DAILY_RESET_TZ),
            at("2026-03-09T07:00:00Z")
        );
    }

    #[test]
    fn retry_after_seconds_and_dates_are_honoured_and_capped() {
        let now = at("2026-03-01T12:00:00Z");
        let h = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        let v = classify(429, &h("7"), b"slow down", &[], None, now);
        assert!(
            matches!(v, Verdict::RateLimited { hint: RetryHint::RetryAfter(t), .. } if t == at("2026-03-01T12:00:07Z"))
        );
        let v = classify(
            503,
            &h("Sun, 01 Mar 2026 12:01:00 GMT"),
            b"",
            &[503],
            None,
            now,
        );
        assert!(
            matches!(v, Verdict::RateLimited { hint: RetryHint::RetryAfter(t), .. } if t == at("2026-03-01T12:01:00Z"))
        );
        let v = classify(429, &h("99999999"), b"", &[], None, now);
        assert!(
            matches!(v, Verdict::RateLimited { hint: RetryHint::RetryAfter(t), .. } if t == at("2026-03-03T12:00:00Z"))
        );
        let v = classify(509, &[], b"", &[503, 509], None, now);
        assert!(matches!(
            v,
            Verdict::RateLimited {
                hint: RetryHint::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn bad_keys_are_told_from_bad_requests() {
        let now = Timestamp::UNIX_EPOCH;
        let invalid = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        assert!(matches!(
            classify(400, &[], invalid, &[], None, now),
            Verdict::BadKey { .. }
        ));
        let leaked = br#"{"error":{"code":403,"message":"Your API key was reported as leaked.","status":"PERMISSION_DENIED"}}"#;
        assert!(matches!(
            classify(403, &[], leaked, &[], None, now),
            Verdict::BadKey { .. }
        ));
        assert!(matches!(
            classify(401, &[], b"", &[], None, now),
            Verdict::BadKey { .. }
        ));
        let bad_request = br#"{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(
            classify(400, &[], bad_request, &[], None, now),
            Verdict::CallerError
        );
        assert_eq!(
            classify(404, &[], b"not found", &[], None, now),
            Verdict::CallerError
        );
        assert_eq!(
            classify(500, &[], b"", &[503], None, now),
            Verdict::ServerError
        );
        assert_eq!(classify(204, &[], b"", &[], None, now), Verdict::Success);
    }

    #[test]
    fn reasons_never_carry_the_key() {
        let key = ApiKey::new("AIzaSyTHISISTHESECRET1234");
        let body = br#"{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:AIzaSyTHISISTHESECRET1234' has been suspended.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CONSUMER_SUSPENDED"}]}}"#;
        let Verdict::BadKey { reason } =
            classify(403, &[], body, &[], Some(&key), Timestamp::UNIX_EPOCH)
        else {
            panic!()
        };
        assert!(!reason.contains("SECRET"), "{reason}");
        assert!(reason.contains("CONSUMER_SUSPENDED"), "{reason}");
    }
}
