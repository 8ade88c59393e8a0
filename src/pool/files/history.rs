//! The usage history in the state dir: `history/<connector>/<date>.log`, one
//! file per day kept, each a log of counts added (a line per key or client:
//! `k` or `c`, name, requests, tokens, rate limits, errors; tab-separated).
//!
//! Adding is one appended write (under a shared lock on `history/<connector>
//! /.lock`), so a call in a pool of 10,000 keys pays for its own line, not
//! the day's. A log that has grown to twice its last compaction (and at least
//! 64 KiB) is compacted — summed and written whole, a temp file renamed over
//! it — under the exclusive lock, so no append is lost and the day's file
//! stays about (keys + clients used that day) lines. Days beyond those kept
//! are removed when a new day begins.

use super::super::history::{History, Totals};
use super::{FileStore, io_error, open_private};
use anyhow::Result;
use fs2::FileExt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// A log smaller than this is never compacted.
const COMPACT_FROM: u64 = 64 * 1024;

/// The first line of a compacted log: `# compacted <bytes>`.
const COMPACTED: &str = "# compacted ";

impl FileStore {
    fn history_dir(&self) -> PathBuf {
        self.dir.join("history").join(&self.connector)
    }
}

/// Adds `delta` and keeps the newest `keep_days` days.
pub(super) fn add(store: &FileStore, delta: &History, keep_days: usize) -> Result<()> {
    let dir = store.history_dir();
    fs::create_dir_all(&dir).map_err(|e| io_error("can't create", &dir, e))?;
    let lock_path = dir.join(".lock");
    let lock =
        open_private(&lock_path, false).map_err(|e| io_error("can't open", &lock_path, e))?;
    for (date, day) in &delta.days {
        let mut lines = String::new();
        for (kind, map) in [("k", &day.keys), ("c", &day.clients)] {
            for (name, t) in map {
                lines.push_str(&line(kind, name, t));
            }
        }
        let path = dir.join(format!("{date}.log"));
        let new_day = !path.exists();
        lock.lock_shared()
            .map_err(|e| io_error("can't lock", &lock_path, e))?;
        let size = append(&path, lines.as_bytes());
        let _ = FileExt::unlock(&lock);
        let size = size?;
        if size >= COMPACT_FROM && size > 2 * compacted_size(&path) {
            lock.lock_exclusive()
                .map_err(|e| io_error("can't lock", &lock_path, e))?;
            let compacted = compact(store, &path);
            let _ = FileExt::unlock(&lock);
            compacted?;
        }
        if new_day {
            forget_old_days(&dir, keep_days);
        }
    }
    Ok(())
}

fn line(kind: &str, name: &str, t: &Totals) -> String {
    format!(
        "{kind}\t{name}\t{}\t{}\t{}\t{}\n",
        t.requests, t.tokens, t.rate_limited, t.errors
    )
}

/// Appends `bytes` in one write; the log's size after it.
fn append(path: &Path, bytes: &[u8]) -> Result<u64> {
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts
        .open(path)
        .map_err(|e| io_error("can't open", path, e))?;
    file.write_all(bytes)
        .map_err(|e| io_error("can't write", path, e))?;
    Ok(file.metadata().map(|m| m.len()).unwrap_or(0))
}

/// The size the log had when it was last compacted (0: never).
fn compacted_size(path: &Path) -> u64 {
    let mut head = [0u8; 40];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    std::str::from_utf8(&head[..n])
        .ok()
        .and_then(|h| h.strip_prefix(COMPACTED))
        .and_then(|h| h.split('\n').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Sums the log and writes it whole (the caller holds the exclusive lock).
fn compact(store: &FileStore, path: &Path) -> Result<()> {
    let mut day = super::super::history::Day::default();
    sum_into(path, &mut day)?;
    let mut body = String::new();
    for (kind, map) in [("k", &day.keys), ("c", &day.clients)] {
        for (name, t) in map {
            body.push_str(&line(kind, name, t));
        }
    }
    // The header counts itself: its size depends on the number it holds.
    let mut size = COMPACTED.len() + body.len() + 2;
    let text = loop {
        let text = format!("{COMPACTED}{size}\n{body}");
        if text.len() == size {
            break text;
        }
        size = text.len();
    };
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let written = fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error("can't write", path, e)
    })?;
    log::debug!("compacted {} ({})", path.display(), store.connector);
    Ok(())
}

/// Adds the log's lines to `day` (lines it can't read are skipped: a log
/// is never worth failing over).
fn sum_into(path: &Path, day: &mut super::super::history::Day) -> Result<()> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("can't read", path, e)),
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let [kind, name, requests, tokens, limited, errors] = f[..] else {
            continue;
        };
        let n = |s: &str| s.parse::<u64>().unwrap_or(0);
        let map = match kind {
            "k" => &mut day.keys,
            "c" => &mut day.clients,
            _ => continue,
        };
        let t = map.entry(name.to_string()).or_default();
        t.requests += n(requests);
        t.tokens += n(tokens);
        t.rate_limited += n(limited);
        t.errors += n(errors);
    }
    Ok(())
}

/// The dates of the logs in `dir`, oldest first.
fn dates(dir: &Path) -> Vec<String> {
    let mut dates: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".log").map(str::to_string))
                .filter(|d| d.parse::<jiff::civil::Date>().is_ok())
                .collect()
        })
        .unwrap_or_default();
    dates.sort();
    dates
}

fn forget_old_days(dir: &Path, keep_days: usize) {
    let dates = dates(dir);
    let extra = dates.len().saturating_sub(keep_days.max(1));
    for date in &dates[..extra] {
        let _ = fs::remove_file(dir.join(format!("{date}.log")));
    }
}

/// The history as it stands.
pub(super) fn read(store: &FileStore) -> Result<History> {
    let dir = store.history_dir();
    let mut history = History::default();
    for date in dates(&dir) {
        let day = history.days.entry(date.clone()).or_default();
        sum_into(&dir.join(format!("{date}.log")), day)?;
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::state::StateStore;

    /// Eight writers (each with its own open files, as processes have),
    /// 16,000 counts: none lost across the compactions, and the day's log
    /// stays near the size of its sums.
    #[test]
    fn appends_from_many_writers_survive_compaction() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        std::thread::scope(|s| {
            for w in 0..8 {
                let dir = dir.clone();
                s.spawn(move || {
                    let store = FileStore::new(&dir, "c", &[]);
                    for i in 0..2000 {
                        let mut delta = History::default();
                        let day = delta.days.entry("2026-12-05".into()).or_default();
                        let t = Totals {
                            requests: 1,
                            tokens: 10,
                            ..Totals::default()
                        };
                        day.keys.insert(format!("key{}", (w * 2000 + i) % 50), t);
                        day.clients.insert(format!("client{w}"), t);
                        store.add_history(&delta, 30).unwrap();
                    }
                });
            }
        });
        let store = FileStore::new(&dir, "c", &[]);
        let day = &store.history().unwrap().days["2026-12-05"];
        assert_eq!(day.total().requests, 16_000);
        assert_eq!(day.total().tokens, 160_000);
        assert_eq!(day.keys.len(), 50);
        assert!(day.clients.values().all(|t| t.requests == 2000));
        let size = fs::metadata(dir.join("history/c/2026-12-05.log"))
            .unwrap()
            .len();
        assert!(size < 2 * COMPACT_FROM + 4096, "{size} bytes");
        assert!(
            compacted_size(&dir.join("history/c/2026-12-05.log")) > 0,
            "it was compacted"
        );
    }
}
