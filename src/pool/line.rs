//! The line of calls waiting for a key, shared by every process on a store:
//! a higher priority goes first, then whoever came first. A call that has to
//! wait stands in the line (a file it holds locked, or a Redis entry it keeps
//! alive) until it gets a key or gives up; a call about to take a free key
//! looks first, and lets anyone before it in the line have it. A process
//! that dies leaves the line with it (its lock goes, or its entry runs out).
//!
//! Lines are per model (keys have room per model): calls for different
//! models don't order against each other.

use super::Priority;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a call stands: its name sorts as the line goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// `<rank><arrival ns, 20 digits>-<process>-<call>`: rank 0 for high
    /// priority, 1 normal, 2 low; the process part tells our own places.
    name: String,
}

/// This process in place names: its pid and a random part (pids are reused,
/// and a shared store sees several machines).
fn process() -> &'static str {
    static PROCESS: OnceLock<String> = OnceLock::new();
    PROCESS.get_or_init(|| {
        let random = crate::jitter_seed() as u32;
        format!("{:x}{random:08x}", std::process::id())
    })
}

impl Place {
    /// A place for a call of `priority` arriving now.
    pub fn arriving(priority: Priority) -> Place {
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let rank = match priority {
            Priority::High => 0,
            Priority::Normal => 1,
            Priority::Low => 2,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let call = CALLS.fetch_add(1, Ordering::Relaxed);
        Place {
            name: format!("{rank}{now:020}-{}-{call}", process()),
        }
    }

    /// Its name, which sorts as the line goes (and is a safe file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the place named `other` is before this one.
    pub fn is_after(&self, other: &str) -> bool {
        other < self.name.as_str()
    }

    /// What every place name of this process holds: `-<process>-`.
    pub fn process_part() -> String {
        format!("-{}-", process())
    }

    /// Whether the place named `other` is one of this process's.
    pub fn is_ours(other: &str) -> bool {
        other.split('-').nth(1).is_some_and(|p| p == process())
    }

    /// Whether `name` looks like a place's name (anything else in a line is
    /// ignored).
    pub fn is_place(name: &str) -> bool {
        let mut parts = name.split('-');
        let head = parts.next().unwrap_or("");
        head.len() == 21
            && head.bytes().all(|b| b.is_ascii_digit())
            && parts
                .next()
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit()))
            && parts
                .next()
                .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
            && parts.next().is_none()
    }
}

/// A model's line's name, safe in a file name and a Redis key: the model,
/// with anything but letters, digits, `.`, `_` and `-` as `_` (`-` for
/// calls that name none).
pub fn line_name(model: Option<&str>) -> String {
    match model {
        None | Some("") => "-".into(),
        Some(m) => m
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    }
}

/// A call's standing in a line; dropping it leaves the line.
pub trait InLine: Send + Sync + std::fmt::Debug {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_sort_by_priority_then_arrival() {
        let low = Place::arriving(Priority::Low);
        let normal = Place::arriving(Priority::Normal);
        let high = Place::arriving(Priority::High);
        let later_normal = Place::arriving(Priority::Normal);
        assert!(low.is_after(normal.name()));
        assert!(normal.is_after(high.name()));
        assert!(later_normal.is_after(normal.name()));
        assert!(!normal.is_after(later_normal.name()));
        assert!(!normal.is_after(low.name()));
        for p in [&low, &normal, &high] {
            assert!(Place::is_place(p.name()), "{}", p.name());
            assert!(Place::is_ours(p.name()));
        }
        assert!(!Place::is_ours("100000000000000000001-abc-1"));
        assert!(!Place::is_place(".tmp-x") && !Place::is_place("1-2-3"));
        assert_eq!(
            line_name(Some("models/gemini 2.5:x")),
            "models_gemini_2.5_x"
        );
        assert_eq!(line_name(None), "-");
    }
}
