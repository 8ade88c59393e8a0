//! The answers file: opened (or created) and locked for the run, read first
//! to learn which ids have a successful answer already, and compacted when
//! it holds failed answers or a torn last line, so every id appears once.

use super::Sink;
use super::format::fingerprint;
use super::reader::RawLines;
use crate::error::usage;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

/// Where the writer writes, and the ids answered before (none on stdout).
pub(super) fn resume(sink: &Sink) -> Result<(Box<dyn Write + Send>, HashSet<u128>)> {
    match sink {
        Sink::Path(path) => {
            let Answers { file, done } = Answers::open(path)?;
            Ok((Box::new(file), done))
        }
        Sink::Stdout => Ok((Box::new(crate::output::Lines), HashSet::new())),
    }
}

/// The answers file, appended to; locked as long as it lives.
struct Locked {
    file: File,
    /// The lock on the file as found (kept until the end: a compacted file
    /// is a new inode, locked too).
    _locks: Vec<File>,
}

impl Write for Locked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The answers file, locked for this run, with the ids it has answered.
struct Answers {
    file: Locked,
    done: HashSet<u128>,
}

impl Answers {
    /// Opens (or creates) the answers file, locks it, and reads which ids it
    /// answered successfully. Failed answers and a torn last line are dropped
    /// by rewriting the file (temp file + rename).
    fn open(path: &Path) -> Result<Answers> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| usage(format!("can't open --out {}: {e}", path.display())))?;
        lock_answers(&file, path)?;
        let scan = Scan::of(&file, path)?;
        if !scan.torn && scan.dropped == 0 {
            return Ok(Answers {
                file: Locked {
                    file,
                    _locks: Vec::new(),
                },
                done: scan.done,
            });
        }
        log::info!(
            "--out {}: dropping {} failed answer(s){} before trying again",
            path.display(),
            scan.dropped,
            if scan.torn {
                " and a torn last line"
            } else {
                ""
            }
        );
        Ok(Answers {
            file: Locked {
                file: compact(path, scan.keep)?,
                _locks: vec![file],
            },
            done: scan.done,
        })
    }
}

/// What the answers file holds.
#[derive(Default)]
struct Scan {
    /// The ids answered successfully.
    done: HashSet<u128>,
    /// Whole lines with a successful answer.
    keep: u64,
    /// Whole lines with a failed one.
    dropped: u64,
    /// Whether the last line has no newline (a crash mid-write).
    torn: bool,
}

impl Scan {
    /// Reads the file from where it was opened; refuses a file that isn't
    /// `jongler batch` output.
    fn of(file: &File, path: &Path) -> Result<Scan> {
        let mut scan = Scan::default();
        let mut lines = RawLines::new(BufReader::new(file));
        let mut line = 0u64;
        while let Some(raw) = lines.next_line()? {
            line += 1;
            if raw.last() != Some(&b'\n') {
                scan.torn = true;
                break;
            }
            let answer: Value = serde_json::from_slice(raw)
                .ok()
                .filter(|v: &Value| v.get("id").is_some())
                .ok_or_else(|| {
                    usage(format!(
                        "--out {} line {line} is not an answer written by `jongler batch`; give another --out (nothing was sent)",
                        path.display()
                    ))
                })?;
            if is_success(&answer) {
                scan.done.insert(fingerprint(&answer["id"]));
                scan.keep += 1;
            } else {
                scan.dropped += 1;
            }
        }
        Ok(scan)
    }
}

/// Replaces the answers file with its first `keep` whole, successful lines
/// (temp file + fsync + rename), locked before it takes the file's place.
fn compact(path: &Path, keep: u64) -> Result<File> {
    let shown = path.display();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut fresh = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("making a temp file beside {shown}"))?;
    {
        let mut writer = std::io::BufWriter::new(fresh.as_file_mut());
        let mut lines = RawLines::new(BufReader::new(File::open(path)?));
        let mut kept = 0u64;
        while kept < keep
            && let Some(raw) = lines.next_line()?
        {
            if raw.last() == Some(&b'\n')
                && serde_json::from_slice::<Value>(raw).is_ok_and(|v| is_success(&v))
            {
                writer.write_all(raw)?;
                kept += 1;
            }
        }
        writer.flush()?;
    }
    fresh.as_file().sync_all()?;
    lock_answers(fresh.as_file(), path)?;
    // The temp file's offset is at its end, and nobody else writes to it.
    fresh
        .persist(path)
        .with_context(|| format!("replacing {shown}"))
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
