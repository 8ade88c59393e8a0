//! The progress view, on a thread of its own: a live bar at a terminal, or a
//! plain line every so often, until the writer is done. It reads only the
//! shared counters and the pool's key states.

use super::{Plan, Progress, Shared};
use crate::jongler::Jongler;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the bar is redrawn, and the longest nap between looks.
const BAR_TICK: Duration = Duration::from_millis(250);

/// The progress role and what it remembers between draws.
pub(super) struct ProgressView<'a> {
    jongler: &'a Jongler,
    shared: &'a Shared<'a>,
    plan: &'a Plan,
    /// The live bar, or `None` for plain lines.
    bar: Option<ProgressBar>,
    /// How often a plain line is printed.
    tick: Duration,
    /// When the last plain line was (or would have been) printed.
    last_line: Instant,
    rate: Observed,
    keys: Keys,
}

impl<'a> ProgressView<'a> {
    /// Draws progress until the writer is done (nothing with `Progress::Off`).
    pub(super) fn show(
        jongler: &'a Jongler,
        mode: Progress,
        shared: &'a Shared<'a>,
        plan: &'a Plan,
    ) {
        let tick = match mode {
            Progress::Off => return,
            Progress::Bar => BAR_TICK,
            Progress::Lines { every } => every,
        };
        let view = ProgressView {
            jongler,
            shared,
            plan,
            bar: (mode == Progress::Bar).then(|| bar(plan.total, plan.answered_before)),
            tick,
            last_line: Instant::now(),
            rate: Observed::default(),
            keys: Keys::default(),
        };
        view.run();
    }

    fn run(mut self) {
        loop {
            let end = self.shared.finished.load(Ordering::Relaxed);
            let (done, failed) = self.shared.answered();
            let now = Instant::now();
            let msg = self.message(now, done, failed);
            self.draw(now, end, done, msg);
            if end {
                if let Some(bar) = self.bar {
                    bar.finish_and_clear();
                }
                return;
            }
            // Short sleeps, so the end is noticed at once.
            let until = now + self.tick.min(BAR_TICK);
            while Instant::now() < until && !self.shared.finished.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `12.5/s eta 3m05s · 2 failed · 7×429 · keys 5 free 3 busy`.
    fn message(&mut self, now: Instant, done: u64, failed: u64) -> String {
        let observed = self.rate.observe(now, done);
        let average = done as f64 / self.shared.started.elapsed().as_secs_f64().max(1e-3);
        let mut msg = format!("{:.1}/s", observed.unwrap_or(average));
        if let Some(eta) = self.eta(observed, done) {
            msg.push_str(&format!(" eta {eta}"));
        }
        if failed > 0 {
            msg.push_str(&format!(" · {failed} failed"));
        }
        let keys = self.keys.summary(self.jongler, now);
        let absorbed = self.shared.rate_limits(self.jongler);
        msg.push_str(&format!(" · {absorbed}×429 · keys {keys}"));
        msg
    }

    /// The time the lines left need: the quotas bound the rate; a slow
    /// upstream may hold it lower.
    fn eta(&self, observed: Option<f64>, done: u64) -> Option<String> {
        let expected = match (self.plan.pace.map(|p| p.rate), observed) {
            (Some(r), Some(o)) if o > 0.0 => Some(r.min(o)),
            (Some(r), _) => Some(r),
            (None, o) => o.filter(|o| *o > 0.0),
        };
        let left = self.plan.pending.saturating_sub(done);
        expected.map(|r| human(Duration::from_secs_f64(left as f64 / r)))
    }

    fn draw(&mut self, now: Instant, end: bool, done: u64, msg: String) {
        let at = self.plan.answered_before + done;
        match &self.bar {
            Some(bar) => {
                bar.set_position(at);
                bar.set_message(msg);
            }
            None if end || now - self.last_line >= self.tick => {
                if !end {
                    let total = self.plan.total;
                    eprintln!(
                        "jongler: batch: {at}/{total} ({:.0}%) {msg}",
                        at as f64 * 100.0 / total.max(1) as f64
                    );
                }
                self.last_line = now;
            }
            None => {}
        }
    }
}

fn bar(total: u64, before: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{bar:20} {pos}/{len} {wide_msg}")
            .expect("invariant: a valid template")
            .progress_chars("=> "),
    );
    bar.set_position(before);
    bar
}

/// Recent completions, for the rate seen over the last ten seconds.
#[derive(Default)]
struct Observed {
    samples: VecDeque<(Instant, u64)>,
}

impl Observed {
    /// Lines a second, once there is a second to measure over.
    fn observe(&mut self, now: Instant, done: u64) -> Option<f64> {
        self.samples.push_back((now, done));
        while self.samples.len() > 2 && now - self.samples[0].0 > Duration::from_secs(10) {
            self.samples.pop_front();
        }
        let (t0, d0) = self.samples[0];
        let span = (now - t0).as_secs_f64();
        (span >= 1.0).then(|| (done - d0) as f64 / span)
    }
}

/// The keys' states, read at most once a second.
#[derive(Default)]
struct Keys {
    text: String,
    at: Option<Instant>,
}

impl Keys {
    /// `5 free 3 busy 1 out 0 bad`.
    fn summary(&mut self, jongler: &Jongler, now: Instant) -> &str {
        if self.at.is_none_or(|t| now - t >= Duration::from_secs(1)) {
            self.text = key_summary(jongler);
            self.at = Some(now);
        }
        &self.text
    }
}

fn key_summary(jongler: &Jongler) -> String {
    let Ok(states) = jongler.key_states() else {
        return "?".into();
    };
    let count = |s| states.iter().filter(|k| k.state == s).count();
    use crate::pool::State;
    let mut text = format!(
        "{} free {} busy",
        count(State::Vacant),
        count(State::Locked)
    );
    for (n, label) in [
        (count(State::Lockdown), "out"),
        (count(State::Error), "bad"),
    ] {
        if n > 0 {
            text.push_str(&format!(" {n} {label}"));
        }
    }
    text
}

fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}
