//! What a run did: the lines people read at the end, and the exit code.

use crate::error::ExitCode;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What a run did, for the summary and the exit code.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Requests in the input.
    pub total: u64,
    /// Answered successfully by an earlier run.
    pub answered_before: u64,
    /// Answered successfully by this run.
    pub delivered: u64,
    /// Failed in this run, by exit code.
    pub failed: BTreeMap<u8, u64>,
    /// Lines not sent because the run stopped early.
    pub not_sent: u64,
    /// Rate-limit answers taken (and retried) on the way.
    pub rate_limits: u64,
    /// Wall time of the sending phase.
    pub wall: Duration,
    /// The time the declared quotas need for what this run sent.
    pub ideal: Option<Duration>,
    /// Why the run stopped before the end, if it did.
    pub stopped: Option<String>,
    /// Whether it was Ctrl-C.
    pub interrupted: bool,
    /// The answers file, for the resume hint.
    pub out: Option<PathBuf>,
}

impl Summary {
    /// 0 when every line has its answer; 130 after Ctrl-C; else the highest
    /// exit code among the failures (lines never sent count as 3, no key).
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            return 130;
        }
        let worst = self.failed.keys().copied().max().unwrap_or(0);
        if self.not_sent > 0 {
            worst.max(ExitCode::NoKey.code())
        } else {
            worst
        }
    }

    /// The lines people read at the end.
    pub fn render(&self) -> String {
        if self.total > 0 && self.answered_before == self.total {
            return format!(
                "jongler: batch: all {} line(s) have their answer in --out already; nothing was sent\n",
                self.total
            );
        }
        let mut text = self.answered_line();
        text.push_str(&self.pace_line());
        if let Some(failed) = self.failed_line() {
            text.push_str(&failed);
        }
        if let Some(why) = &self.stopped {
            text.push_str(&format!("jongler: batch: stopped: {why}\n"));
        }
        if let Some(left) = self.left_line() {
            text.push_str(&left);
        }
        text
    }

    /// One answer written by this run, with its exit code.
    pub(super) fn count(&mut self, code: u8) {
        if code == 0 {
            self.delivered += 1;
        } else {
            *self.failed.entry(code).or_default() += 1;
        }
    }

    fn answered_line(&self) -> String {
        let mut text = format!(
            "jongler: batch: {} of {} answered",
            self.answered_before + self.delivered,
            self.total
        );
        if self.answered_before > 0 {
            text.push_str(&format!(" ({} by an earlier run)", self.answered_before));
        }
        text.push_str(&format!(
            ", {} failed, {} rate limit(s) absorbed\n",
            self.failed.values().sum::<u64>(),
            self.rate_limits
        ));
        text
    }

    /// The time taken, beside what the quotas allow.
    fn pace_line(&self) -> String {
        let mut pace = format!("jongler: batch: {:.1}s", self.wall.as_secs_f64());
        if let Some(ideal) = self.ideal.filter(|i| !i.is_zero()) {
            pace.push_str(&format!(
                "; the quotas allow {:.1}s with the pool to itself ({:.2}x)",
                ideal.as_secs_f64(),
                self.wall.as_secs_f64() / ideal.as_secs_f64()
            ));
        }
        pace.push('\n');
        pace
    }

    /// The failures by exit code, if there are any.
    fn failed_line(&self) -> Option<String> {
        if self.failed.values().sum::<u64>() == 0 {
            return None;
        }
        let classes: Vec<String> = self
            .failed
            .iter()
            .map(|(code, n)| format!("{n} × exit {code} ({})", class_name(*code)))
            .collect();
        Some(format!("jongler: batch: failed: {}\n", classes.join(", ")))
    }

    /// How to send the lines still without an answer, if there are any.
    fn left_line(&self) -> Option<String> {
        let left = self.total - self.answered_before - self.delivered;
        if left == 0 {
            return None;
        }
        Some(match &self.out {
            Some(out) => format!(
                "jongler: batch: {left} line(s) have no answer yet; run the same command again (same --out {}) to send only those\n",
                out.display()
            ),
            None => format!(
                "jongler: batch: {left} line(s) have no answer; with --out FILE instead of stdout, a rerun sends only those\n"
            ),
        })
    }
}

fn class_name(code: u8) -> &'static str {
    match code {
        1 => "runtime or network failure",
        2 => "usage",
        3 => "no key",
        4 => "HTTP 4xx",
        5 => "HTTP 5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_is_the_worst_failure() {
        let mut s = Summary::default();
        assert_eq!(s.exit_code(), 0);
        s.failed.insert(4, 2);
        s.failed.insert(1, 1);
        assert_eq!(s.exit_code(), 4);
        s.not_sent = 1;
        assert_eq!(s.exit_code(), 4);
        s.failed.clear();
        assert_eq!(s.exit_code(), 3);
        s.interrupted = true;
        assert_eq!(s.exit_code(), 130);
    }
}
