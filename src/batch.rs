//! `jongler batch`: a JSONL file of requests through the whole pool.
//!
//! The input is read twice and never held whole: once to check every line
//! before anything is sent, once to send. Answers are appended one line per
//! `write`, so a crash leaves only whole lines behind, and running the same
//! command again answers just the ids that have no successful line yet.
//! Requests go out on as many threads as the pool has usable keys, each one
//! an ordinary pooled call: the quota scheduler, the marker files (or Redis)
//! and the waiting are the same ones every other process uses.

use crate::error::{ExitCode, exit_code_of, usage};
use crate::jongler::{Jongler, parse_method};
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// At most this many threads by default, however large the pool.
pub const MAX_DEFAULT_CONCURRENCY: usize = 256;

/// Bad lines listed in the refusal; the rest are counted.
const MAX_LISTED_ERRORS: usize = 20;

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
        let failed: u64 = self.failed.values().sum();
        if self.total > 0 && self.answered_before == self.total {
            return format!(
                "jongler: batch: all {} line(s) have their answer in --out already; nothing was sent\n",
                self.total
            );
        }
        let mut text = format!(
            "jongler: batch: {} of {} answered",
            self.answered_before + self.delivered,
            self.total
        );
        if self.answered_before > 0 {
            text.push_str(&format!(" ({} by an earlier run)", self.answered_before));
        }
        text.push_str(&format!(
            ", {failed} failed, {} rate limit(s) absorbed\n",
            self.rate_limits
        ));
        let mut pace = format!("jongler: batch: {:.1}s", self.wall.as_secs_f64());
        if let Some(ideal) = self.ideal.filter(|i| !i.is_zero()) {
            pace.push_str(&format!(
                "; the quotas allow {:.1}s with the pool to itself ({:.2}x)",
                ideal.as_secs_f64(),
                self.wall.as_secs_f64() / ideal.as_secs_f64()
            ));
        }
        text.push_str(&pace);
        text.push('\n');
        if failed > 0 {
            let classes: Vec<String> = self
                .failed
                .iter()
                .map(|(code, n)| format!("{n} × exit {code} ({})", class_name(*code)))
                .collect();
            text.push_str(&format!("jongler: batch: failed: {}\n", classes.join(", ")));
        }
        if let Some(why) = &self.stopped {
            text.push_str(&format!("jongler: batch: stopped: {why}\n"));
        }
        let left = self.total - self.answered_before - self.delivered;
        if left > 0 {
            match &self.out {
                Some(out) => text.push_str(&format!(
                    "jongler: batch: {left} line(s) have no answer yet; run the same command again (same --out {}) to send only those\n",
                    out.display()
                )),
                None => text.push_str(&format!(
                    "jongler: batch: {left} line(s) have no answer; with --out FILE instead of stdout, a rerun sends only those\n"
                )),
            }
        }
        text
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

/// One request of the input.
#[derive(Debug)]
struct Item {
    /// 1-based line number.
    line: u64,
    id: Value,
    endpoint: Option<String>,
    body: Vec<u8>,
}

/// How input lines read.
enum Format {
    /// One JSON body, or an `{"id", "body", "endpoint"}` envelope, per line.
    Jsonl,
    /// Plain text, put into the template's `{{text}}` places.
    Template(Vec<String>),
}

const PLACEHOLDER: &str = "{{text}}";

impl Format {
    fn new(template: Option<&str>, json: bool) -> Result<Format> {
        let Some(template) = template else {
            return Ok(Format::Jsonl);
        };
        if !template.contains(PLACEHOLDER) {
            return Err(usage(format!(
                "--template has no {PLACEHOLDER}: it is where each input line goes, e.g. '{{\"contents\":[{{\"parts\":[{{\"text\":\"{PLACEHOLDER}\"}}]}}]}}'"
            )));
        }
        let format = Format::Template(template.split(PLACEHOLDER).map(str::to_string).collect());
        if json {
            let sample = format.fill("a \"quoted\" line");
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&sample) {
                return Err(usage(format!(
                    "--template is not JSON once {PLACEHOLDER} is filled in ({e}); put {PLACEHOLDER} inside a JSON string: \"{PLACEHOLDER}\""
                )));
            }
        }
        Ok(format)
    }

    /// The template with `text`, JSON-escaped, in every placeholder.
    fn fill(&self, text: &str) -> Vec<u8> {
        let Format::Template(parts) = self else {
            unreachable!("invariant: fill is for templates")
        };
        let quoted = serde_json::to_string(text).expect("invariant: a str serializes");
        let escaped = &quoted[1..quoted.len() - 1];
        parts.join(escaped).into_bytes()
    }

    /// One input line: `None` when blank (skipped; its number stays unused).
    fn parse(&self, line: u64, text: &str) -> Result<Option<Item>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        if let Format::Template(_) = self {
            return Ok(Some(Item {
                line,
                id: Value::from(line),
                endpoint: None,
                body: self.fill(text),
            }));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        let envelope = match &value {
            Value::Object(map) if map.contains_key("body") => map,
            _ => {
                return Ok(Some(Item {
                    line,
                    id: Value::from(line),
                    endpoint: None,
                    body: text.trim().as_bytes().to_vec(),
                }));
            }
        };
        if let Some(other) = envelope
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "body" | "endpoint"))
        {
            return Err(format!(
                "unknown field `{other}` beside `body` (a line with `body` takes only `id`, `body` and `endpoint`)"
            ));
        }
        let id = match envelope.get("id") {
            None => Value::from(line),
            Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
            Some(other) => return Err(format!("`id` must be a string or a number, not {other}")),
        };
        let endpoint = match envelope.get("endpoint") {
            None => None,
            Some(Value::String(e)) if e.starts_with('/') => Some(e.clone()),
            Some(other) => {
                return Err(format!(
                    "`endpoint` must be a path starting with '/', not {other}"
                ));
            }
        };
        let body = serde_json::to_vec(&envelope["body"]).expect("invariant: a Value serializes");
        Ok(Some(Item {
            line,
            id,
            endpoint,
            body,
        }))
    }
}

/// A 128-bit fingerprint of an id's JSON text: ids are compared by these, so
/// a run keeps 16 bytes per line, not the ids.
fn fingerprint(id: &Value) -> u128 {
    let text = id.to_string();
    let a = foldhash::quality::FixedState::with_seed(0x6a6f_6e67_6c65_7231).hash_one(&text);
    let b = foldhash::quality::FixedState::with_seed(0x6261_7463_6865_7332).hash_one(&text);
    (u128::from(a) << 64) | u128::from(b)
}

/// The input, readable from the start as often as needed.
struct Input {
    file: File,
    name: String,
}

impl Input {
    fn open(source: &Source) -> Result<Input> {
        match source {
            Source::Path(path) => Ok(Input {
                file: File::open(path)
                    .map_err(|e| usage(format!("can't read --in {}: {e}", path.display())))?,
                name: path.display().to_string(),
            }),
            Source::Stdin => {
                let mut file = tempfile::tempfile().context("making a temp file for stdin")?;
                std::io::copy(&mut std::io::stdin().lock(), &mut file)
                    .context("reading the requests from stdin")?;
                Ok(Input {
                    file,
                    name: "stdin".into(),
                })
            }
        }
    }

    /// Calls `each` with every line's number and text, from the start.
    fn lines(&self, mut each: impl FnMut(u64, &str) -> Result<bool>) -> Result<()> {
        let mut file = self.file.try_clone().context("reopening the input")?;
        file.rewind().context("rewinding the input")?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut buf = Vec::new();
        let mut line = 0u64;
        loop {
            buf.clear();
            if reader
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("reading {}", self.name))?
                == 0
            {
                return Ok(());
            }
            line += 1;
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            let text = std::str::from_utf8(&buf).map_err(|_| {
                usage(format!(
                    "{} line {line}: not UTF-8 text; nothing was sent",
                    self.name
                ))
            })?;
            if !each(line, text)? {
                return Ok(());
            }
        }
    }
}

/// The first pass: every line checked, ids counted. Refuses the whole input
/// when a line is bad.
fn check_input(input: &Input, format: &Format) -> Result<u64> {
    let mut seen: HashMap<u128, u64> = HashMap::new();
    let mut errors = Vec::new();
    let mut bad = 0usize;
    input.lines(|line, text| {
        let problem = match format.parse(line, text) {
            Ok(None) => None,
            Ok(Some(item)) => match seen.insert(fingerprint(&item.id), line) {
                Some(first) => Some(format!("duplicate id {} (first on line {first})", item.id)),
                None => None,
            },
            Err(why) => Some(why),
        };
        if let Some(why) = problem {
            bad += 1;
            if errors.len() < MAX_LISTED_ERRORS {
                errors.push(format!("  line {line}: {why}"));
            }
        }
        Ok(true)
    })?;
    if bad > 0 {
        let more = bad - errors.len();
        let mut msg = format!(
            "{bad} bad line(s) in {}; nothing was sent:\n{}",
            input.name,
            errors.join("\n")
        );
        if more > 0 {
            msg.push_str(&format!("\n  … and {more} more"));
        }
        return Err(usage(msg));
    }
    Ok(seen.len() as u64)
}

/// The answers file, locked for this run, with the ids it has answered.
struct Answers {
    file: File,
    /// The lock on the file as found (kept until the end: a compacted file
    /// is a new inode, locked too).
    _locks: Vec<File>,
    done: HashSet<u128>,
}

/// Opens (or creates) the answers file, locks it, and reads which ids it
/// answered successfully. Failed answers and a torn last line are dropped by
/// rewriting the file (temp file + rename), so every id appears once.
fn open_answers(path: &Path) -> Result<Answers> {
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| usage(format!("can't open --out {shown}: {e}")))?;
    lock_answers(&file, path)?;
    let mut done = HashSet::new();
    let mut keep = 0u64;
    let mut dropped = 0u64;
    let mut torn = false;
    {
        let mut reader = BufReader::new(&file);
        let mut buf = Vec::new();
        let mut line = 0u64;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            line += 1;
            if buf.last() != Some(&b'\n') {
                torn = true;
                break;
            }
            let answer: Value = serde_json::from_slice(&buf)
                .ok()
                .filter(|v: &Value| v.get("id").is_some())
                .ok_or_else(|| {
                    usage(format!(
                        "--out {shown} line {line} is not an answer written by `jongler batch`; give another --out (nothing was sent)"
                    ))
                })?;
            if is_success(&answer) {
                done.insert(fingerprint(&answer["id"]));
                keep += 1;
            } else {
                dropped += 1;
            }
        }
    }
    if !torn && dropped == 0 {
        return Ok(Answers {
            file,
            _locks: Vec::new(),
            done,
        });
    }
    log::info!(
        "--out {shown}: dropping {dropped} failed answer(s){} before trying again",
        if torn { " and a torn last line" } else { "" }
    );
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut fresh = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("making a temp file beside {shown}"))?;
    {
        let mut writer = std::io::BufWriter::new(fresh.as_file_mut());
        let mut reader = BufReader::new(File::open(path)?);
        let mut buf = Vec::new();
        let mut kept = 0u64;
        while kept < keep && reader.read_until(b'\n', &mut buf)? > 0 {
            if buf.last() == Some(&b'\n')
                && serde_json::from_slice::<Value>(&buf).is_ok_and(|v| is_success(&v))
            {
                writer.write_all(&buf)?;
                kept += 1;
            }
            buf.clear();
        }
        writer.flush()?;
    }
    fresh.as_file().sync_all()?;
    lock_answers(fresh.as_file(), path)?;
    // The temp file's offset is at its end, and nobody else writes to it.
    let new = fresh
        .persist(path)
        .with_context(|| format!("replacing {shown}"))?;
    Ok(Answers {
        file: new,
        _locks: vec![file],
        done,
    })
}

/// Two runs appending to one answers file would send the same lines twice.
// The user's answers file, not key state: the lock rule in clippy.toml is
// about the state dir.
#[allow(clippy::disallowed_methods)]
fn lock_answers(file: &File, path: &Path) -> Result<()> {
    fs2::FileExt::try_lock_exclusive(file).map_err(|e| {
        if e.kind() == fs2::lock_contended_error().kind() {
            usage(format!(
                "another `jongler batch` is writing {} now; wait for it, or give another --out",
                path.display()
            ))
        } else {
            anyhow::anyhow!("can't lock {}: {e}", path.display())
        }
    })
}

fn is_success(answer: &Value) -> bool {
    answer.get("error").is_none()
        && answer
            .get("status")
            .and_then(Value::as_u64)
            .is_some_and(|s| (200..400).contains(&s))
}

/// One finished line for the writer.
struct Done {
    seq: u64,
    /// The line to write (with its newline); `None`: skipped, nothing to write.
    line: Option<Vec<u8>>,
    /// Its exit code (0 for success).
    code: u8,
}

/// Lets the reader run at most `size` lines ahead of the writer, so ordered
/// output waiting on one slow line buffers a bounded number of answers.
struct Window {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Window {
    fn take(&self, stop: &AtomicBool) -> bool {
        let mut free = self.free.lock().expect("invariant: window lock");
        while *free == 0 {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            free = self
                .freed
                .wait_timeout(free, Duration::from_millis(100))
                .expect("invariant: window lock")
                .0;
        }
        *free -= 1;
        true
    }

    fn give(&self, n: usize) {
        *self.free.lock().expect("invariant: window lock") += n;
        self.freed.notify_all();
    }
}

/// Counters the progress display reads.
#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// Runs a batch: checks the input, resumes from the answers file, sends the
/// rest through `jongler`'s pool and writes every answer.
pub fn run(jongler: &Jongler, opts: &BatchOptions) -> Result<Summary> {
    parse_method(&opts.method)?;
    if !opts.endpoint.starts_with('/') {
        return Err(usage(format!(
            "endpoint `{}` must start with '/'",
            opts.endpoint
        )));
    }
    if let (Source::Path(i), Sink::Path(o)) = (&opts.input, &opts.out)
        && (i == o
            || std::fs::canonicalize(i)
                .ok()
                .is_some_and(|i| std::fs::canonicalize(o).ok().is_some_and(|o| i == o)))
    {
        return Err(usage("--in and --out are the same file"));
    }
    let format = Format::new(opts.template.as_deref(), jongler.connector().is_json())?;
    let input = Input::open(&opts.input)?;
    let total = check_input(&input, &format)?;
    let (mut out, done, out_path): (Box<dyn Write + Send>, HashSet<u128>, Option<PathBuf>) =
        match &opts.out {
            Sink::Path(path) => {
                let answers = open_answers(path)?;
                let Answers { file, _locks, done } = answers;
                // The locks live as long as the writer.
                struct Locked(File, #[allow(dead_code)] Vec<File>);
                impl Write for Locked {
                    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                        self.0.write(buf)
                    }
                    fn flush(&mut self) -> std::io::Result<()> {
                        self.0.flush()
                    }
                }
                (Box::new(Locked(file, _locks)), done, Some(path.clone()))
            }
            Sink::Stdout => (Box::new(crate::output::Lines), HashSet::new(), None),
        };
    let mut summary = Summary {
        total,
        out: out_path,
        ..Summary::default()
    };
    // Ids answered before that are still in the input.
    let mut pending = 0u64;
    input.lines(|line, text| {
        if let Ok(Some(item)) = format.parse(line, text) {
            if done.contains(&fingerprint(&item.id)) {
                summary.answered_before += 1;
            } else {
                pending += 1;
            }
        }
        Ok(true)
    })?;
    if opts.stop.load(Ordering::Relaxed) {
        summary.interrupted = true;
        summary.not_sent = pending;
        return Ok(summary);
    }
    if pending == 0 {
        return Ok(summary);
    }
    let usable = jongler
        .key_states()?
        .iter()
        .filter(|k| k.state != crate::pool::State::Error)
        .count()
        .max(1);
    let workers = opts
        .concurrency
        .unwrap_or_else(|| usable.min(MAX_DEFAULT_CONCURRENCY))
        .clamp(1, pending.try_into().unwrap_or(usize::MAX));
    let model = crate::pool::quota::model_of(&opts.endpoint, None);
    let pace = jongler.pace(model.as_deref()).unwrap_or(None);
    let rate = pace.map(|p| p.rate);
    let window = Window {
        free: Mutex::new((workers * 16).max(256)),
        freed: Condvar::new(),
    };
    let counters = Counters::default();
    let no_key: Mutex<Option<String>> = Mutex::new(None);
    let stop = &opts.stop;
    let started = Instant::now();
    let rate_limits_before = jongler.rate_limits_absorbed();
    let (item_tx, item_rx) = mpsc::sync_channel::<(u64, Item)>(workers);
    let item_rx = Mutex::new(item_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let sent = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let in_flight = AtomicUsize::new(0);
    let write_result = std::thread::scope(|scope| -> Result<()> {
        // The reader: the second pass, sending what has no answer yet.
        let reader = scope.spawn(|| -> Result<()> {
            let mut seq = 0u64;
            let item_tx = item_tx;
            input.lines(|line, text| {
                if stop.load(Ordering::Relaxed) {
                    return Ok(false);
                }
                let item = match format.parse(line, text) {
                    Ok(Some(item)) => item,
                    Ok(None) => return Ok(true),
                    Err(why) => anyhow::bail!(
                        "{} changed while the batch ran (line {line}: {why})",
                        input.name
                    ),
                };
                if done.contains(&fingerprint(&item.id)) {
                    return Ok(true);
                }
                if !opts.unordered && !window.take(stop) {
                    return Ok(false);
                }
                if item_tx.send((seq, item)).is_err() {
                    return Ok(false);
                }
                seq += 1;
                sent.store(seq, Ordering::Relaxed);
                Ok(true)
            })
        });
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (item_rx, stop, counters, no_key, in_flight) =
                (&item_rx, stop, &counters, &no_key, &in_flight);
            scope.spawn(move || {
                loop {
                    let next = item_rx.lock().expect("invariant: queue lock").recv();
                    let Ok((seq, item)) = next else { return };
                    if stop.load(Ordering::Relaxed) {
                        let _ = done_tx.send(Done {
                            seq,
                            line: None,
                            code: 0,
                        });
                        continue;
                    }
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let (line, code) = send(jongler, opts, &item, stop, no_key);
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    if code == 0 {
                        counters.ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    if done_tx
                        .send(Done {
                            seq,
                            line: Some(line),
                            code,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let (total, before) = (summary.total, summary.answered_before);
        let (counters, finished) = (&counters, &finished);
        let progress = scope.spawn(move || {
            show_progress(
                jongler,
                opts.progress,
                counters,
                finished,
                total,
                before,
                pending,
                rate,
                started,
                rate_limits_before,
            )
        });
        // The writer: this thread.
        let mut buffered: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next = 0u64;
        let mut result = Ok(());
        let mut write = |done: Done, summary: &mut Summary| -> Result<()> {
            match done.line {
                None => summary.not_sent += 1,
                Some(line) => {
                    if done.code == 0 {
                        summary.delivered += 1;
                    } else {
                        *summary.failed.entry(done.code).or_default() += 1;
                    }
                    out.write_all(&line).context("writing an answer")?;
                }
            }
            Ok(())
        };
        for done in done_rx {
            if result.is_err() {
                continue;
            }
            if opts.unordered {
                result = write(done, &mut summary);
                continue;
            }
            buffered.insert(done.seq, done);
            let mut written = 0;
            while let Some(done) = buffered.remove(&next) {
                next += 1;
                written += 1;
                if let Err(e) = write(done, &mut summary) {
                    result = Err(e);
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
            window.give(written);
        }
        // Stopped early: whatever finished out of order is written still.
        for (_, done) in std::mem::take(&mut buffered) {
            if result.is_ok() {
                result = write(done, &mut summary);
            }
        }
        finished.store(true, Ordering::Relaxed);
        window.give(usize::MAX / 2);
        let read = reader.join().expect("invariant: the reader doesn't panic");
        progress.join().expect("invariant: progress doesn't panic");
        result.and(read)
    });
    summary.wall = started.elapsed();
    summary.rate_limits = jongler.rate_limits_absorbed() - rate_limits_before;
    let attempted = summary.delivered + summary.failed.values().sum::<u64>();
    summary.ideal = pace.map(|p| p.ideal(attempted));
    // Lines the reader never got to.
    summary.not_sent += pending.saturating_sub(sent.load(Ordering::Relaxed));
    summary.stopped = no_key.into_inner().expect("invariant: no panics");
    if opts.stop.load(Ordering::Relaxed) && summary.stopped.is_none() {
        summary.interrupted = true;
    }
    write_result?;
    Ok(summary)
}

/// Sends one line and renders its answer line.
fn send(
    jongler: &Jongler,
    opts: &BatchOptions,
    item: &Item,
    stop: &AtomicBool,
    no_key: &Mutex<Option<String>>,
) -> (Vec<u8>, u8) {
    let endpoint = item.endpoint.as_deref().unwrap_or(&opts.endpoint);
    let (value, code) = match jongler.request(&opts.method, endpoint, Some(&item.body)) {
        Ok(response) => {
            let body = serde_json::from_slice::<Value>(&response.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&response.body).into_owned())
            });
            let code = ExitCode::for_status(response.status).code();
            let mut line = serde_json::json!({
                "id": item.id,
                "status": response.status,
                "key": response.key_name,
                "body": body,
            });
            if code != 0 {
                line["exit"] = Value::from(code);
            }
            (line, code)
        }
        Err(err) => {
            let code = exit_code_of(&err);
            if code == ExitCode::NoKey {
                // No key within --wait: the lines after this one would wait
                // the same way. Stop taking new ones.
                let mut why = no_key.lock().expect("invariant: no panics");
                why.get_or_insert_with(|| format!("{err:#}"));
                stop.store(true, Ordering::Relaxed);
            }
            (
                serde_json::json!({
                    "id": item.id,
                    "error": format!("{err:#}"),
                    "exit": code.code(),
                }),
                code.code(),
            )
        }
    };
    log::debug!("line {}: exit {code}", item.line);
    let mut line = serde_json::to_vec(&value).expect("invariant: a Value serializes");
    line.push(b'\n');
    (line, code)
}

/// Draws progress until `finished`.
#[allow(clippy::too_many_arguments)]
fn show_progress(
    jongler: &Jongler,
    mode: Progress,
    counters: &Counters,
    finished: &AtomicBool,
    total: u64,
    before: u64,
    pending: u64,
    rate: Option<f64>,
    started: Instant,
    rate_limits_before: u64,
) {
    let tick = match mode {
        Progress::Off => return,
        Progress::Bar => Duration::from_millis(250),
        Progress::Lines { every } => every,
    };
    let bar = (mode == Progress::Bar).then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr_with_hz(4),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:20} {pos}/{len} {wide_msg}")
                .expect("invariant: a valid template")
                .progress_chars("=> "),
        );
        bar.set_position(before);
        bar
    });
    // Recent completions, for the rate.
    let mut samples: std::collections::VecDeque<(Instant, u64)> = Default::default();
    let mut keys = String::new();
    let mut keys_at: Option<Instant> = None;
    let mut last_line = Instant::now();
    loop {
        let end = finished.load(Ordering::Relaxed);
        let done = counters.ok.load(Ordering::Relaxed) + counters.failed.load(Ordering::Relaxed);
        let failed = counters.failed.load(Ordering::Relaxed);
        let now = Instant::now();
        samples.push_back((now, done));
        while samples.len() > 2 && now - samples[0].0 > Duration::from_secs(10) {
            samples.pop_front();
        }
        let (t0, d0) = samples[0];
        let span = (now - t0).as_secs_f64();
        let observed = if span >= 1.0 {
            Some((done - d0) as f64 / span)
        } else {
            None
        };
        // The quotas bound the rate; a slow upstream may hold it lower.
        let expected = match (rate, observed) {
            (Some(r), Some(o)) if o > 0.0 => Some(r.min(o)),
            (Some(r), _) => Some(r),
            (None, o) => o.filter(|o| *o > 0.0),
        };
        let left = pending.saturating_sub(done);
        let eta = expected.map(|r| human(Duration::from_secs_f64(left as f64 / r)));
        if keys_at.is_none_or(|t| now - t >= Duration::from_secs(1)) {
            keys = key_summary(jongler);
            keys_at = Some(now);
        }
        let absorbed = jongler.rate_limits_absorbed() - rate_limits_before;
        let mut msg = format!(
            "{:.1}/s",
            observed.unwrap_or(done as f64 / started.elapsed().as_secs_f64().max(1e-3))
        );
        if let Some(eta) = &eta {
            msg.push_str(&format!(" eta {eta}"));
        }
        if failed > 0 {
            msg.push_str(&format!(" · {failed} failed"));
        }
        msg.push_str(&format!(" · {absorbed}×429 · keys {keys}"));
        match &bar {
            Some(bar) => {
                bar.set_position(before + done);
                bar.set_message(msg);
            }
            None if end || now - last_line >= tick => {
                if !end {
                    eprintln!(
                        "jongler: batch: {}/{total} ({:.0}%) {msg}",
                        before + done,
                        (before + done) as f64 * 100.0 / total.max(1) as f64
                    );
                }
                last_line = now;
            }
            None => {}
        }
        if end {
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            return;
        }
        // Short sleeps, so the end is noticed at once.
        let until = now + tick.min(Duration::from_millis(250));
        while Instant::now() < until && !finished.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `5 free 3 busy 1 out 0 bad`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bodies_or_envelopes() {
        let f = Format::Jsonl;
        let item = f.parse(3, r#"{"contents": []}"#).unwrap().unwrap();
        assert_eq!(item.id, Value::from(3));
        assert_eq!(item.body, br#"{"contents": []}"#);
        let item = f
            .parse(4, r#"{"id": "a", "body": {"x": 1}, "endpoint": "/v1/x"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(item.id, Value::from("a"));
        assert_eq!(item.endpoint.as_deref(), Some("/v1/x"));
        assert_eq!(item.body, br#"{"x":1}"#);
        assert!(f.parse(5, "  ").unwrap().is_none());
        assert!(f.parse(6, "{nope").unwrap_err().contains("not JSON"));
        assert!(
            f.parse(7, r#"{"body": {}, "model": "m"}"#)
                .unwrap_err()
                .contains("`model`")
        );
        assert!(
            f.parse(8, r#"{"body": {}, "id": null}"#)
                .unwrap_err()
                .contains("`id`")
        );
        assert!(
            f.parse(9, r#"{"body": {}, "endpoint": "v1"}"#)
                .unwrap_err()
                .contains("`endpoint`")
        );
    }

    #[test]
    fn templates_escape_the_text_and_need_the_placeholder() {
        let f = Format::new(Some(r#"{"text": "{{text}}"}"#), true).unwrap();
        let item = f.parse(2, "say \"hi\"\\ \u{1}").unwrap().unwrap();
        let body: Value = serde_json::from_slice(&item.body).unwrap();
        assert_eq!(body["text"], "say \"hi\"\\ \u{1}");
        assert_eq!(item.id, Value::from(2));
        let err = Format::new(Some(r#"{"text": "x"}"#), true).err().unwrap();
        assert!(err.to_string().contains("{{text}}"));
        let err = Format::new(Some(r#"{"text": {{text}}}"#), true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("inside a JSON string"));
    }

    #[test]
    fn ids_compare_by_their_json_text() {
        assert_eq!(
            fingerprint(&Value::from("a")),
            fingerprint(&Value::from("a"))
        );
        assert_ne!(fingerprint(&Value::from(3)), fingerprint(&Value::from("3")));
    }

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
