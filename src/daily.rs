//! When daily quotas reset: midnight in a connector's time zone, from the
//! time-zone database bundled into the binary (no directory walks).

use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp};
use std::sync::OnceLock;

/// The time zone Gemini's daily quotas reset in.
pub const DAILY_RESET_TZ: &str = "America/Los_Angeles";

/// The time zone called `name`, from the database bundled into the binary:
/// looking it up costs no walk of the system's zoneinfo directory (jiff's
/// default database), and answers the same on every machine.
pub fn zone(name: &str) -> Option<TimeZone> {
    static BUNDLED: OnceLock<TimeZoneDatabase> = OnceLock::new();
    BUNDLED
        .get_or_init(TimeZoneDatabase::bundled)
        .get(name)
        .ok()
}

/// The last midnight in `tz` at or before `now`: when today's daily counts began.
pub fn previous_reset(now: Timestamp, tz: &str) -> Timestamp {
    zone(tz)
        .map(|zone| now.to_zoned(zone))
        .and_then(|z| z.start_of_day().ok())
        .map(|z| z.timestamp())
        .unwrap_or_else(|| {
            Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(86_400))
                .unwrap_or(now)
        })
}

/// The next midnight in `tz` after `now` (Gemini's daily quotas reset at
/// midnight Pacific time). Falls back to 24 hours on an unknown zone.
pub fn next_reset(now: Timestamp, tz: &str) -> Timestamp {
    let next = (|| {
        let zoned = now.to_zoned(zone(tz)?);
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

    #[test]
    fn resets_are_midnights_pacific_across_daylight_saving() {
        // In summer (PDT) midnight is 07:00 UTC; just before it, the reset is minutes away.
        assert_eq!(
            next_reset(at("2026-07-01T06:59:00Z"), DAILY_RESET_TZ),
            at("2026-07-01T07:00:00Z")
        );
        // Across the spring-forward day the next midnight is still a midnight.
        assert_eq!(
            next_reset(at("2026-03-08T09:00:00Z"), DAILY_RESET_TZ),
            at("2026-03-09T07:00:00Z")
        );
        assert_eq!(
            previous_reset(at("2026-03-01T20:00:00Z"), DAILY_RESET_TZ),
            at("2026-03-01T08:00:00Z")
        );
        // An unknown zone falls back to UTC days rather than failing.
        assert_eq!(
            previous_reset(at("2026-03-01T20:00:00Z"), "Nowhere/Nothing"),
            at("2026-03-01T00:00:00Z")
        );
    }
}
