//! The reader: owns the input, which it reads from the start three times and
//! never holds whole. The first pass checks every line and refuses the input
//! if one is bad; the second counts what an earlier run answered; the third,
//! on a thread of its own, feeds the rest to the workers in input order, no
//! further ahead of the writer than its window allows.

use super::format::{Format, Item, fingerprint};
use super::writer::Window;
use super::{BatchOptions, Shared, Source};
use crate::error::usage;
use anyhow::{Context, Result};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek};
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;

/// Bad lines listed in the refusal; the rest are counted.
const MAX_LISTED_ERRORS: usize = 20;

/// Lines read one at a time into one buffer, each with its newline if it has
/// one (the last line may not).
pub(super) struct RawLines<R> {
    reader: R,
    buf: Vec<u8>,
}

impl<R: BufRead> RawLines<R> {
    pub(super) fn new(reader: R) -> RawLines<R> {
        RawLines {
            reader,
            buf: Vec::new(),
        }
    }

    /// The next line, or `None` at the end.
    pub(super) fn next_line(&mut self) -> std::io::Result<Option<&[u8]>> {
        self.buf.clear();
        let read = self.reader.read_until(b'\n', &mut self.buf)?;
        Ok((read > 0).then_some(self.buf.as_slice()))
    }
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

    /// Calls `each` with every line's number and text, from the start, until
    /// it returns `false`.
    fn lines(&self, mut each: impl FnMut(u64, &str) -> Result<bool>) -> Result<()> {
        let mut file = self.file.try_clone().context("reopening the input")?;
        file.rewind().context("rewinding the input")?;
        let mut lines = RawLines::new(BufReader::with_capacity(64 * 1024, file));
        let mut line = 0u64;
        while let Some(mut raw) = lines
            .next_line()
            .with_context(|| format!("reading {}", self.name))?
        {
            line += 1;
            while let [rest @ .., b'\n' | b'\r'] = raw {
                raw = rest;
            }
            let text = std::str::from_utf8(raw).map_err(|_| {
                usage(format!(
                    "{} line {line}: not UTF-8 text; nothing was sent",
                    self.name
                ))
            })?;
            if !each(line, text)? {
                break;
            }
        }
        Ok(())
    }
}

/// Bad lines found by the first pass: the first few listed, all counted.
#[derive(Default)]
struct Problems {
    listed: Vec<String>,
    bad: usize,
}

impl Problems {
    fn add(&mut self, line: u64, why: String) {
        self.bad += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(format!("  line {line}: {why}"));
        }
    }

    /// The refusal of the whole input, if any line is bad.
    fn refuse(self, name: &str) -> Result<()> {
        if self.bad == 0 {
            return Ok(());
        }
        let more = self.bad - self.listed.len();
        let mut msg = format!(
            "{} bad line(s) in {name}; nothing was sent:\n{}",
            self.bad,
            self.listed.join("\n")
        );
        if more > 0 {
            msg.push_str(&format!("\n  … and {more} more"));
        }
        Err(usage(msg))
    }
}

/// The lines of the input an earlier run answered, and the lines left.
pub(super) struct Backlog {
    pub(super) answered_before: u64,
    pub(super) pending: u64,
}

/// The reader role.
pub(super) struct Reader {
    input: Input,
    format: Format,
    /// Fingerprints of the ids with a successful answer already: not sent.
    answered: HashSet<u128>,
}

impl Reader {
    pub(super) fn open(opts: &BatchOptions, json: bool) -> Result<Reader> {
        let format = Format::new(opts.template.as_deref(), json)?;
        Ok(Reader {
            input: Input::open(&opts.input)?,
            format,
            answered: HashSet::new(),
        })
    }

    /// The first pass: every line checked, ids counted. Refuses the whole
    /// input when a line is bad.
    pub(super) fn check(&self) -> Result<u64> {
        let mut seen: HashMap<u128, u64> = HashMap::new();
        let mut problems = Problems::default();
        self.input.lines(|line, text| {
            let problem = match self.format.parse(line, text) {
                Ok(None) => None,
                Ok(Some(item)) => seen
                    .insert(fingerprint(&item.id), line)
                    .map(|first| format!("duplicate id {} (first on line {first})", item.id)),
                Err(why) => Some(why),
            };
            if let Some(why) = problem {
                problems.add(line, why);
            }
            Ok(true)
        })?;
        problems.refuse(&self.input.name)?;
        Ok(seen.len() as u64)
    }

    /// The second pass: remembers the ids `answered` already, and counts
    /// those still in the input and the lines left to send.
    pub(super) fn skip(&mut self, answered: HashSet<u128>) -> Result<Backlog> {
        self.answered = answered;
        let mut backlog = Backlog {
            answered_before: 0,
            pending: 0,
        };
        self.input.lines(|line, text| {
            if let Ok(Some(item)) = self.format.parse(line, text) {
                if self.answered.contains(&fingerprint(&item.id)) {
                    backlog.answered_before += 1;
                } else {
                    backlog.pending += 1;
                }
            }
            Ok(true)
        })?;
        Ok(backlog)
    }

    /// The third pass: hands each line with no answer yet to the workers,
    /// numbered in input order, until the end or a stop. With a `window`
    /// (ordered output), each line first takes a place in it.
    pub(super) fn feed(
        &self,
        items: SyncSender<(u64, Item)>,
        window: Option<&Window>,
        shared: &Shared,
    ) -> Result<()> {
        let mut seq = 0u64;
        self.input.lines(|line, text| {
            if shared.stopping() {
                return Ok(false);
            }
            let item = match self.format.parse(line, text) {
                Ok(Some(item)) => item,
                Ok(None) => return Ok(true),
                Err(why) => anyhow::bail!(
                    "{} changed while the batch ran (line {line}: {why})",
                    self.input.name
                ),
            };
            if self.answered.contains(&fingerprint(&item.id)) {
                return Ok(true);
            }
            if window.is_some_and(|w| !w.take(shared.stop)) || items.send((seq, item)).is_err() {
                return Ok(false);
            }
            seq += 1;
            shared.sent.store(seq, Ordering::Relaxed);
            Ok(true)
        })
    }
}
