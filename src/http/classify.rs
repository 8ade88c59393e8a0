//! What an API's answer means for the key that was used: a pure function of
//! the status, headers and body, with the clock passed in.
//!
//! Answers are read by their structure — the status, Google's `error.status`
//! and `ErrorInfo.reason`, `RetryInfo`, `QuotaFailure`, `Retry-After` — never
//! by the words of a message, so a caller's mistake that happens to say
//! "invalid" and "token" can't mark a key bad. Everything taken from an
//! answer is parsed without panicking and clamped to sane bounds.

use crate::daily;
use crate::secret::ApiKey;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// The longest LOCKDOWN an API's say-so can cause (a typo'd header must not
/// lose a key for a year).
const MAX_LOCKDOWN: SignedDuration = SignedDuration::from_hours(48);

/// `ErrorInfo.reason` values (google.api.ErrorReason) that are about the key
/// or the project behind it, not about the request.
const KEY_REASONS: &[&str] = &[
    "API_KEY_INVALID",
    "API_KEY_EXPIRED",
    "API_KEY_SERVICE_BLOCKED",
    "API_KEY_HTTP_REFERRER_BLOCKED",
    "API_KEY_IP_ADDRESS_BLOCKED",
    "API_KEY_ANDROID_APP_BLOCKED",
    "API_KEY_IOS_APP_BLOCKED",
    "CONSUMER_SUSPENDED",
    "CONSUMER_INVALID",
    "SERVICE_DISABLED",
    "BILLING_DISABLED",
    "ACCOUNT_STATE_INVALID",
    "GCP_SUSPENDED",
];

/// What the connector says about its API's answers.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Statuses besides 429 that mean "this key is rate limited".
    pub rate_limit_statuses: &'a [u16],
    /// Text that, found in an error answer's `error.status`, `error.code`,
    /// `error.type` or an `ErrorInfo.reason`, means "this key is bad".
    pub bad_key_codes: &'a [String],
    /// The time zone per-day quotas reset in.
    pub reset_tz: &'a str,
}

impl Default for Rules<'_> {
    fn default() -> Self {
        Rules {
            rate_limit_statuses: &[],
            bad_key_codes: &[],
            reset_tz: daily::DAILY_RESET_TZ,
        }
    }
}

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
    BadKey {
        /// What the API said, for people.
        reason: String,
    },
    /// 403 `PERMISSION_DENIED` with nothing structured saying whether the key
    /// or the request is at fault (Gemini's "reported as leaked" looks so, and
    /// so does a file of another project): another key tells.
    SuspectKey {
        /// What the API said, for people.
        reason: String,
    },
    /// The caller's own request is wrong (4xx): return it as is.
    CallerError,
    /// The service is in trouble (500, 502, 503, 504), not the key: back off
    /// and try again, on another key where there is one.
    Unavailable {
        /// When the API says to come back, if it does.
        retry_after: Option<Timestamp>,
        /// What the API said, for people.
        reason: String,
    },
    /// Any other 5xx: return it as is.
    ServerError,
}

/// Classifies an answer. `key` is only used to keep it out of reasons.
pub fn classify(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    rules: &Rules<'_>,
    key: Option<&ApiKey>,
    now: Timestamp,
) -> Verdict {
    if (200..400).contains(&status) {
        return Verdict::Success;
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    // Google's `{"error": {...}}`, OpenAI's `{"error": {...}}`, or a bare object.
    let error = json.as_ref().and_then(|j| j.get("error")).or(json.as_ref());
    let field = |name: &str| error.and_then(|e| e.get(name)).and_then(Value::as_str);
    let api_status = field("status").unwrap_or("");
    let message = field("message")
        .or_else(|| {
            json.as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str)
        })
        .unwrap_or("");
    let details: &[Value] = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let reasons: Vec<&str> = details
        .iter()
        .filter(|d| type_is(d, "ErrorInfo"))
        .filter_map(|d| d.get("reason").and_then(Value::as_str))
        .collect();
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
    let retry_after = header(headers, "retry-after").and_then(|v| parse_retry_after(v, now));

    if status == 429 || rules.rate_limit_statuses.contains(&status) {
        let violations = quota_violations(details);
        let daily = violations.iter().any(|v| v.daily);
        let retry_delay = details
            .iter()
            .filter(|d| type_is(d, "RetryInfo"))
            .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
            .and_then(parse_duration);
        let hint = if daily {
            RetryHint::DailyReset(daily::next_reset(now, rules.reset_tz))
        } else if let Some(delay) = retry_delay {
            RetryHint::RetryInfo(now.saturating_add(delay).unwrap_or(now))
        } else if let Some(at) = retry_after {
            RetryHint::RetryAfter(at)
        } else {
            RetryHint::Unknown
        };
        let quota = violations
            .first()
            .map(|v| format!("[{}]", v.quota_id))
            .unwrap_or_default();
        return Verdict::RateLimited {
            hint,
            reason: describe(&quota),
            violations,
        };
    }

    // Codes a connector declares as "bad key", wherever the API puts them.
    let declared = [field("code"), field("type"), Some(api_status)]
        .into_iter()
        .flatten()
        .chain(reasons.iter().copied())
        .find(|code| !code.is_empty() && rules.bad_key_codes.iter().any(|b| b == code));
    let key_reason = reasons.iter().find(|r| KEY_REASONS.contains(r)).copied();
    if status == 401 || key_reason.is_some() || declared.is_some() {
        return Verdict::BadKey {
            reason: describe(key_reason.or(declared).unwrap_or("")),
        };
    }
    if status == 403 && api_status == "PERMISSION_DENIED" && reasons.is_empty() {
        return Verdict::SuspectKey {
            reason: describe(""),
        };
    }
    match status {
        500 | 502 | 503 | 504 => Verdict::Unavailable {
            retry_after,
            reason: describe(""),
        },
        500.. => Verdict::ServerError,
        _ => Verdict::CallerError,
    }
}

fn quota_violations(details: &[Value]) -> Vec<QuotaViolation> {
    details
        .iter()
        .filter(|d| type_is(d, "QuotaFailure"))
        .filter_map(|d| d.get("violations").and_then(Value::as_array))
        .flatten()
        .filter_map(|v| {
            let quota_id = v.get("quotaId").and_then(Value::as_str)?;
            let quota_id: String = quota_id.chars().take(200).collect();
            let limit = match v.get("quotaValue") {
                Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
                Some(n) => n.as_u64(),
                None => None,
            }
            .filter(|n| *n > 0)
            // A limit of more than a trillion is as good as none.
            .map(|n| n.min(1_000_000_000_000));
            let model = v
                .pointer("/quotaDimensions/model")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty() && m.len() <= 200)
                .map(str::to_string);
            Some(QuotaViolation {
                tokens: quota_id.contains("Token"),
                daily: quota_id.contains("PerDay"),
                quota_id,
                limit,
                model,
            })
        })
        .collect()
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
    // Only the start matters: don't fold a 10 MB message whole.
    let head: String = text.chars().take(2000).collect();
    let mut text: String = head.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(key) = key.filter(|k| !k.expose().is_empty()) {
        text = text.replace(key.expose(), &key.masked());
    }
    if text.chars().count() > 300 {
        text = text.chars().take(299).collect::<String>() + "…";
    }
    text
}

/// A protobuf JSON duration (`"33s"`, `"1.5s"`), clamped to at most
/// 48 hours; negative, non-finite or malformed ones are ignored.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let secs: f64 = text.trim().strip_suffix('s')?.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    let max = MAX_LOCKDOWN.as_secs_f64();
    Some(SignedDuration::from_secs_f64(secs.min(max)))
}

/// `Retry-After`: delay-seconds or an HTTP date, clamped to between now and
/// now + 48 hours.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Timestamp> {
    let value = value.trim();
    let latest = now.saturating_add(MAX_LOCKDOWN).ok()?;
    let at = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Any number of digits: too many for a u64 is "a long time".
        let secs = value
            .parse::<u64>()
            .unwrap_or(u64::MAX)
            .min(MAX_LOCKDOWN.as_secs() as u64);
        now.saturating_add(SignedDuration::from_secs(secs as i64))
            .ok()?
    } else {
        jiff::fmt::rfc2822::parse(value).ok()?.timestamp()
    };
    Some(at.clamp(now, latest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn rules() -> Rules<'static> {
        Rules::default()
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
        let v = classify(429, &[], &body, &rules(), None, now);
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
    fn per_day_quota_waits_for_midnight_in_the_connectors_zone() {
        // 20:00 UTC on 1 March is 12:00 PST; the reset is 08:00 UTC on 2 March.
        let now = at("2026-03-01T20:00:00Z");
        let body = quota_429("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "20s");
        let v = classify(429, &[], &body, &rules(), None, now);
        assert!(
            matches!(v, Verdict::RateLimited { hint: RetryHint::DailyReset(t), .. } if t == at("2026-03-02T08:00:00Z")),
            "{v:?}"
        );
        let utc = Rules {
            reset_tz: "UTC",
            ..rules()
        };
        let v = classify(429, &[], &body, &utc, None, now);
        assert!(
            matches!(v, Verdict::RateLimited { hint: RetryHint::DailyReset(t), .. } if t == at("2026-03-02T00:00:00Z")),
            "{v:?}"
        );
    }

    #[test]
    fn retry_after_seconds_and_dates_are_honoured_and_capped() {
        let now = at("2026-03-01T12:00:00Z");
        let h = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        let v = classify(429, &h("7"), b"slow down", &rules(), None, now);
        assert!(
            matches!(v, Verdict::RateLimited { hint: RetryHint::RetryAfter(t), .. } if t == at("2026-03-01T12:00:07Z"))
        );
        let declared = Rules {
            rate_limit_statuses: &[509],
            ..rules()
        };
        let v = classify(
            509,
            &h("Sun, 01 Mar 2026 12:01:00 GMT"),
            b"",
            &declared,
            None,
            now,
        );
        assert!(
            matches!(v, Verdict::RateLimited { hint: RetryHint::RetryAfter(t), .. } if t == at("2026-03-01T12:01:00Z"))
        );
        for huge in ["99999999", "99999999999999999999999999999"] {
            let v = classify(429, &h(huge), b"", &rules(), None, now);
            assert!(
                matches!(v, Verdict::RateLimited { hint: RetryHint::RetryAfter(t), .. } if t == at("2026-03-03T12:00:00Z")),
                "{huge}: {v:?}"
            );
        }
        let v = classify(429, &h("-5"), b"", &rules(), None, now);
        assert!(matches!(
            v,
            Verdict::RateLimited {
                hint: RetryHint::Unknown,
                ..
            }
        ));
    }

    #[test]
    fn retry_delays_from_upstream_never_panic_and_are_clamped() {
        let now = at("2026-03-01T12:00:00Z");
        for (delay, expect) in [
            ("1e300s", Some("2026-03-03T12:00:00Z")),
            ("1e30s", Some("2026-03-03T12:00:00Z")),
            ("-5s", None),
            ("NaNs", None),
            ("NaN", None),
            ("infs", None),
            ("s", None),
            ("", None),
            ("0.5s", Some("2026-03-01T12:00:00.5Z")),
        ] {
            let body = quota_429("PerMinute", delay);
            let v = classify(429, &[], &body, &rules(), None, now);
            let Verdict::RateLimited { hint, .. } = v else {
                panic!("{v:?}")
            };
            match expect {
                Some(t) => assert_eq!(hint, RetryHint::RetryInfo(at(t)), "{delay}"),
                None => assert_eq!(hint, RetryHint::Unknown, "{delay}"),
            }
        }
    }

    #[test]
    fn bad_keys_are_told_from_bad_requests_by_structure() {
        let now = Timestamp::UNIX_EPOCH;
        let invalid = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        assert!(matches!(
            classify(400, &[], invalid, &rules(), None, now),
            Verdict::BadKey { .. }
        ));
        assert!(matches!(
            classify(401, &[], b"", &rules(), None, now),
            Verdict::BadKey { .. }
        ));
        // What Gemini says to an OpenAI-style body: "invalid" and "token", and the caller's fault.
        let max_tokens = br#"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"max_tokens\": Cannot find field.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"description":"Invalid JSON payload received. Unknown name \"max_tokens\": Cannot find field."}]}]}}"#;
        assert_eq!(
            classify(400, &[], max_tokens, &rules(), None, now),
            Verdict::CallerError
        );
        let words = br#"{"error":{"code":400,"message":"The API key token is invalid, expired, revoked","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(
            classify(400, &[], words, &rules(), None, now),
            Verdict::CallerError,
            "words alone mark nothing"
        );
        let leaked = br#"{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}"#;
        assert!(matches!(
            classify(403, &[], leaked, &rules(), None, now),
            Verdict::SuspectKey { .. }
        ));
        let disabled = br#"{"error":{"code":403,"message":"Generative Language API has not been used in project 1 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED"}]}}"#;
        assert!(matches!(
            classify(403, &[], disabled, &rules(), None, now),
            Verdict::BadKey { .. }
        ));
        let location = br#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#;
        assert_eq!(
            classify(400, &[], location, &rules(), None, now),
            Verdict::CallerError
        );
        assert_eq!(
            classify(404, &[], b"not found", &rules(), None, now),
            Verdict::CallerError
        );
        assert_eq!(
            classify(204, &[], b"", &rules(), None, now),
            Verdict::Success
        );
    }

    #[test]
    fn connectors_can_declare_bad_key_codes() {
        let now = Timestamp::UNIX_EPOCH;
        let codes = vec!["invalid_api_key".to_string()];
        let openai = Rules {
            bad_key_codes: &codes,
            ..rules()
        };
        let body = br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert!(matches!(
            classify(400, &[], body, &openai, None, now),
            Verdict::BadKey { .. }
        ));
        assert_eq!(
            classify(400, &[], body, &rules(), None, now),
            Verdict::CallerError
        );
    }

    #[test]
    fn service_trouble_is_not_the_keys() {
        let now = at("2026-03-01T12:00:00Z");
        let overloaded = br#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;
        let v = classify(503, &[], overloaded, &rules(), None, now);
        assert!(
            matches!(&v, Verdict::Unavailable { retry_after: None, reason } if reason.contains("overloaded")),
            "{v:?}"
        );
        let h = vec![("retry-after".to_string(), "3".to_string())];
        for status in [500, 502, 503, 504] {
            let v = classify(status, &h, b"", &rules(), None, now);
            assert!(
                matches!(v, Verdict::Unavailable { retry_after: Some(t), .. } if t == at("2026-03-01T12:00:03Z")),
                "{status}: {v:?}"
            );
        }
        assert_eq!(
            classify(501, &[], b"", &rules(), None, now),
            Verdict::ServerError
        );
        // A connector may still say a 503 means "this key is rate limited".
        let declared = Rules {
            rate_limit_statuses: &[503],
            ..rules()
        };
        assert!(matches!(
            classify(503, &[], overloaded, &declared, None, now),
            Verdict::RateLimited { .. }
        ));
    }

    #[test]
    fn reasons_never_carry_the_key() {
        let key = ApiKey::new("AIzaSyTHISISTHESECRET1234");
        let body = br#"{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:AIzaSyTHISISTHESECRET1234' has been suspended.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CONSUMER_SUSPENDED"}]}}"#;
        let Verdict::BadKey { reason } =
            classify(403, &[], body, &rules(), Some(&key), Timestamp::UNIX_EPOCH)
        else {
            panic!()
        };
        assert!(!reason.contains("SECRET"), "{reason}");
        assert!(reason.contains("CONSUMER_SUSPENDED"), "{reason}");
    }

    /// Random and garbled answers: nothing an upstream sends may panic.
    #[test]
    fn garbled_answers_never_panic() {
        let now = Timestamp::now();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"error\"",
            "\"details\"",
            "\"@type\"",
            "\"type.googleapis.com/google.rpc.RetryInfo\"",
            "\"type.googleapis.com/google.rpc.QuotaFailure\"",
            "\"type.googleapis.com/google.rpc.ErrorInfo\"",
            "\"retryDelay\"",
            "\"1e300s\"",
            "\"-1s\"",
            "\"NaNs\"",
            "\"violations\"",
            "\"quotaId\"",
            "\"PerDay\"",
            "\"quotaValue\"",
            "\"99999999999999999999999\"",
            "-1",
            "1e999",
            "null",
            "\"reason\"",
            "\"API_KEY_INVALID\"",
            "\"status\"",
            "\"message\"",
            "\"\u{0}\u{ffff}é\"",
            "true",
        ];
        let header_values: &[&str] = &[
            "",
            "-1",
            "1e300",
            "18446744073709551616",
            "Sun, 99 Foo 9999 99:99:99 GMT",
            "Mon, 01 Jan 0001 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "   7   ",
            "NaN",
        ];
        for _ in 0..20_000 {
            let n = (next() % 40) as usize;
            let body: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let headers = vec![(
                "retry-after".to_string(),
                header_values[(next() % header_values.len() as u64) as usize].to_string(),
            )];
            let status = [400, 401, 403, 404, 429, 500, 503, 509, 599][(next() % 9) as usize];
            let _ = classify(status, &headers, body.as_bytes(), &rules(), None, now);
        }
        // Structurally valid bodies with wild values.
        for delay in ["1e300s", "-5s", "NaNs", "1e-300s", "184467440737095516160s"] {
            for value in [
                serde_json::json!("1e300"),
                serde_json::json!(-1),
                serde_json::json!(1e300),
            ] {
                let body = serde_json::json!({"error": {"code": 429, "details": [
                    {"@type": "x.QuotaFailure", "violations": [{"quotaId": "PerMinute", "quotaValue": value}]},
                    {"@type": "x.RetryInfo", "retryDelay": delay}]}});
                let _ = classify(429, &[], body.to_string().as_bytes(), &rules(), None, now);
            }
        }
        // A 10 MB error body.
        let big = format!(
            "{{\"error\":{{\"code\":400,\"message\":\"{}\",\"status\":\"INVALID_ARGUMENT\"}}}}",
            "x ".repeat(5 * 1024 * 1024)
        );
        assert_eq!(
            classify(400, &[], big.as_bytes(), &rules(), None, now),
            Verdict::CallerError
        );
        let v = classify(429, &[], big.as_bytes(), &rules(), None, now);
        assert!(matches!(v, Verdict::RateLimited { reason, .. } if reason.chars().count() <= 300));
        let _ = classify(503, &[], &vec![b'{'; 10 * 1024 * 1024], &rules(), None, now);
    }
}
