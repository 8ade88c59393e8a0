//! `jongler batch`: a JSONL file of requests through the whole pool.
//!
//! The input is read once a pass and never held whole: once to check every
//! line before anything is sent, once to count what an earlier run answered,
//! once to send. Answers are appended one line per `write`, so a crash
//! leaves only whole lines behind, and running the same command again
//! answers just the ids that have no successful line yet.
//! Requests go out on as many threads as the pool has usable keys, each one
//! an ordinary pooled call: the quota scheduler, the marker files (or Redis)
//! and the waiting are the same ones every other process uses.
//!
//! The run is split into roles, one a file, that share only `Shared`:
//! - `reader`: checks the input, then feeds the lines with no answer yet;
//! - `worker`: sends one line at a time and renders its answer line;
//! - `writer`: writes the answers, in input order through a bounded
//!   reorder window unless `--unordered`;
//! - `progress`: the bar or the plain lines on stderr;
//! - `summary`: what the run did, and its exit code;
//! - `answers`: the answers file (locked, resumed from, compacted);
//! - `format`: what an input line means.
//!
//! [`run`] only wires them.

mod answers;
mod format;
mod progress;
mod reader;
mod summary;
mod worker;
mod writer;

pub use summary::Summary;

use crate::error::usage;
use crate::jongler::{Jongler, parse_method};
use anyhow::Result;
use progress::ProgressView;
use reader::{Backlog, Reader};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use worker::Worker;
use writer::{Window, Writer};

/// At most this many threads by default, however large the pool.
pub const MAX_DEFAULT_CONCURRENCY: usize = 256;

/// Where requests come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, read twice.
    Path(PathBuf),
    /// Standard input, copied to an unnamed temp file first (to be read twice).
    Stdin,
}

/// Where answers go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// A file, appended to, and read first to resume.
    Path(PathBuf),
    /// Standard output (no resuming).
    Stdout,
}

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A live bar (stderr is a terminal).
    Bar,
    /// A plain line every `every`.
    Lines {
        /// How often.
        every: Duration,
    },
    /// Nothing but the summary.
    Off,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The requests.
    pub input: Source,
    /// The answers.
    pub out: Sink,
    /// The method of every request.
    pub method: String,
    /// The endpoint of lines that name none.
    pub endpoint: String,
    /// Input lines are plain text, JSON-escaped into this body at `{{text}}`.
    pub template: Option<String>,
    /// Write answers as they complete instead of in input order.
    pub unordered: bool,
    /// At most this many requests in flight (default: the usable keys).
    pub concurrency: Option<usize>,
    /// The progress display.
    pub progress: Progress,
    /// Set (by a signal handler) to stop taking new lines.
    pub stop: Arc<AtomicBool>,
}

/// Runs a batch: checks the input, resumes from the answers file, sends the
/// rest through `jongler`'s pool and writes every answer.
pub fn run(jongler: &Jongler, opts: &BatchOptions) -> Result<Summary> {
    check_options(opts)?;
    let mut reader = Reader::open(opts, jongler.connector().is_json())?;
    let total = reader.check()?;
    let (out, answered) = answers::resume(&opts.out)?;
    let backlog = reader.skip(answered)?;
    let mut summary = Summary {
        total,
        answered_before: backlog.answered_before,
        out: match &opts.out {
            Sink::Path(path) => Some(path.clone()),
            Sink::Stdout => None,
        },
        ..Summary::default()
    };
    if opts.stop.load(Ordering::Relaxed) {
        summary.interrupted = true;
        summary.not_sent = backlog.pending;
        return Ok(summary);
    }
    if backlog.pending == 0 {
        return Ok(summary);
    }
    let plan = Plan::new(jongler, opts, total, &backlog)?;
    send_all(jongler, opts, &reader, &plan, out, &mut summary)?;
    Ok(summary)
}

/// The checks on the options that need no file read.
fn check_options(opts: &BatchOptions) -> Result<()> {
    parse_method(&opts.method)?;
    crate::jongler::check_endpoint(&opts.endpoint, "endpoint")?;
    if let (Source::Path(i), Sink::Path(o)) = (&opts.input, &opts.out)
        && (i == o
            || std::fs::canonicalize(i)
                .ok()
                .is_some_and(|i| std::fs::canonicalize(o).ok().is_some_and(|o| i == o)))
    {
        return Err(usage("--in and --out are the same file"));
    }
    Ok(())
}

/// What the sending phase has to do and with how many threads, known before
/// it starts.
struct Plan {
    /// Requests in the input.
    total: u64,
    /// Of those, answered by an earlier run.
    answered_before: u64,
    /// Lines to send now.
    pending: u64,
    /// Worker threads.
    workers: usize,
    /// What the declared quotas allow, if they say.
    pace: Option<crate::pool::Pace>,
}

impl Plan {
    fn new(jongler: &Jongler, opts: &BatchOptions, total: u64, backlog: &Backlog) -> Result<Plan> {
        let usable = jongler
            .key_states()?
            .iter()
            .filter(|k| k.state != crate::pool::State::Error)
            .count()
            .max(1);
        let workers = opts
            .concurrency
            .unwrap_or_else(|| usable.min(MAX_DEFAULT_CONCURRENCY))
            .clamp(1, backlog.pending.try_into().unwrap_or(usize::MAX));
        let model = crate::pool::quota::model_of(&opts.endpoint, None);
        Ok(Plan {
            total,
            answered_before: backlog.answered_before,
            pending: backlog.pending,
            workers,
            pace: jongler.pace(model.as_deref()).unwrap_or(None),
        })
    }
}

/// What the roles share while the batch runs.
struct Shared<'a> {
    /// Set to stop taking new lines: Ctrl-C, no key, a failed write.
    stop: &'a AtomicBool,
    /// Why no key could be had, when that stopped the run.
    no_key: Mutex<Option<String>>,
    /// Lines answered successfully so far (the writer may not have them yet).
    ok: AtomicU64,
    /// Lines answered with a failure so far.
    failed: AtomicU64,
    /// Lines the reader has handed to the workers.
    sent: AtomicU64,
    /// Set once the writer has written all it will.
    finished: AtomicBool,
    /// When sending started, and the pool's count of 429s then.
    started: Instant,
    rate_limits_before: u64,
}

impl<'a> Shared<'a> {
    fn new(jongler: &Jongler, stop: &'a AtomicBool) -> Shared<'a> {
        Shared {
            stop,
            no_key: Mutex::new(None),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            started: Instant::now(),
            rate_limits_before: jongler.rate_limits_absorbed(),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// No key within `--wait`: the lines after this one would wait the same
    /// way, so no new ones are taken. The first reason is kept.
    fn stop_for_no_key(&self, why: impl FnOnce() -> String) {
        let mut no_key = self.no_key.lock().expect("invariant: no panics");
        no_key.get_or_insert_with(why);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// One line answered, with this exit code.
    fn count(&self, code: u8) {
        let counter = if code == 0 { &self.ok } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Lines answered so far, and how many of them failed.
    fn answered(&self) -> (u64, u64) {
        let failed = self.failed.load(Ordering::Relaxed);
        (self.ok.load(Ordering::Relaxed) + failed, failed)
    }

    /// Rate-limit answers the pool took (and retried) since sending started.
    fn rate_limits(&self, jongler: &Jongler) -> u64 {
        jongler.rate_limits_absorbed() - self.rate_limits_before
    }

    /// What the summary takes from the run once every role is done.
    fn conclude(self, jongler: &Jongler, plan: &Plan, summary: &mut Summary) {
        summary.wall = self.started.elapsed();
        summary.rate_limits = self.rate_limits(jongler);
        let attempted = summary.delivered + summary.failed.values().sum::<u64>();
        summary.ideal = plan.pace.map(|p| p.ideal(attempted));
        // Lines the reader never got to.
        summary.not_sent += plan.pending.saturating_sub(self.sent.into_inner());
        summary.stopped = self.no_key.into_inner().expect("invariant: no panics");
        if self.stop.load(Ordering::Relaxed) && summary.stopped.is_none() {
            summary.interrupted = true;
        }
    }
}

/// The sending phase: the reader, the workers and the progress view on
/// threads of their own, the writer on this one.
fn send_all(
    jongler: &Jongler,
    opts: &BatchOptions,
    reader: &Reader,
    plan: &Plan,
    out: Box<dyn Write + Send>,
    summary: &mut Summary,
) -> Result<()> {
    let shared = Shared::new(jongler, &opts.stop);
    let window = (!opts.unordered).then(|| Window::new(plan.workers));
    let (item_tx, item_rx) = mpsc::sync_channel(plan.workers);
    let item_rx = Mutex::new(item_rx);
    let (done_tx, done_rx) = mpsc::channel();
    let result = std::thread::scope(|scope| -> Result<()> {
        let (shared, window) = (&shared, window.as_ref());
        let reader = scope.spawn(move || reader.feed(item_tx, window, shared));
        let worker = Worker {
            jongler,
            opts,
            items: &item_rx,
            answers: done_tx,
            shared,
        };
        for _ in 0..plan.workers {
            let worker = worker.clone();
            scope.spawn(move || worker.run());
        }
        drop(worker);
        let progress =
            scope.spawn(move || ProgressView::show(jongler, opts.progress, shared, plan));
        let written = Writer::new(out, window, shared, summary).run(done_rx);
        shared.finished.store(true, Ordering::Relaxed);
        let read = reader.join().expect("invariant: the reader doesn't panic");
        progress.join().expect("invariant: progress doesn't panic");
        written.and(read)
    });
    shared.conclude(jongler, plan, summary);
    result
}
