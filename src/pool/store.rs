//! The state dir: the only code that touches it.
//!
//! Each key's state is a marker file named `<connector>_<key name>.<state>`:
//!
//! - `.lock` — LOCKED while some process holds an exclusive `flock` on it. A
//!   `.lock` nobody has locked is stale (its holder died) and means VACANT, so
//!   a SIGKILL never strands a key: the kernel drops the lock with the process.
//! - `.lockdown` — LOCKDOWN, with until-when and why, as JSON.
//! - `.error` — ERROR, with why, as JSON.
//!
//! Lockdown and error markers are only written by the process holding the
//! key's lock ([`KeyLock`] is required), atomically (temp file, fsync,
//! rename), so a reader sees either the old marker or the new one, whole.

#![allow(clippy::disallowed_methods)] // This module owns the file locks.

use super::quota::Usage;
use crate::error::usage;
use anyhow::{Context, Result};
use fs2::FileExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const LOCK: &str = "lock";
const LOCKDOWN: &str = "lockdown";
const ERROR: &str = "error";

/// Why a LOCKDOWN ends when it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockdownSource {
    /// The API said how long, in Gemini's `RetryInfo.retryDelay`.
    RetryInfo,
    /// The API said how long, in a `Retry-After` header.
    RetryAfter,
    /// A per-day quota ran out: until the next daily reset.
    DailyQuota,
    /// The API said nothing: the connector's default duration (a guess).
    Default,
    /// A marker without details, as api-jongler writes them (a guess).
    Legacy,
}

impl LockdownSource {
    /// Whether the end time came from the API rather than a guess. Only
    /// guessed lockdowns are tried as a last resort before they end.
    pub fn is_exact(self) -> bool {
        matches!(self, Self::RetryInfo | Self::RetryAfter | Self::DailyQuota)
    }
}

/// A LOCKDOWN marker's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lockdown {
    /// When it ends; `None` for markers that don't say (then: written + default).
    pub until: Option<Timestamp>,
    /// What the API said, for people.
    pub reason: String,
    /// Where `until` came from.
    pub source: LockdownSource,
    /// When it was written.
    pub since: Timestamp,
}

impl Lockdown {
    /// When it ends, using `default_secs` after it was written if it doesn't say.
    pub fn ends(&self, default_secs: u64) -> Timestamp {
        self.until.unwrap_or_else(|| {
            self.since
                .checked_add(jiff::SignedDuration::from_secs(default_secs as i64))
                .unwrap_or(Timestamp::MAX)
        })
    }
}

/// An ERROR marker's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMark {
    /// What the API said, for people.
    pub reason: String,
    /// When it was written.
    pub since: Timestamp,
}

/// The lockdown and error markers of one key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyMarkers {
    /// Its LOCKDOWN marker, if any (possibly already over).
    pub lockdown: Option<Lockdown>,
    /// Its ERROR marker, if any.
    pub error: Option<ErrorMark>,
}

/// What `clean` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// LOCKDOWN markers removed.
    pub lockdowns: usize,
    /// ERROR markers removed.
    pub errors: usize,
    /// Stale `.lock` files (no live holder) removed.
    pub stale_locks: usize,
    /// `.lock` files left alone because a live process holds them.
    pub held: usize,
}

/// The usage record of one connector, held for update: every process that
/// records a send takes this lock first, so no update is lost.
///
/// The record is double-buffered: two slot files, each `header + JSON` with a
/// generation number, length and checksum; a save overwrites the older slot
/// in place. A reader takes the valid slot with the newest generation, so a
/// writer killed mid-write leaves the previous record intact. (Replacing the
/// file by rename would do the same, but ext4 flushes the data of a file
/// renamed over another, which cost a millisecond per call.)
#[derive(Debug)]
pub struct UsageLock<'s> {
    store: &'s Store,
    _lock: File,
    base: PathBuf,
    newest: std::cell::Cell<Option<(usize, u64)>>,
}

impl UsageLock<'_> {
    /// Reads the record; a missing or unreadable one starts afresh.
    pub fn load(&self) -> Usage {
        let (usage, newest) = read_usage(&self.base);
        self.newest.set(newest);
        usage
    }

    /// Saves the record over the older slot.
    pub fn save(&self, usage: &Usage) -> Result<()> {
        let (slot, generation) = match self.newest.get() {
            Some((slot, generation)) => (1 - slot, generation + 1),
            None => (0, 1),
        };
        let json = serde_json::to_vec(usage).expect("invariant: usage serializes");
        let mut data = format!(
            "{USAGE_MAGIC} {generation} {} {:016x}\n",
            json.len(),
            fnv1a(&json)
        )
        .into_bytes();
        data.extend_from_slice(&json);
        let path = slot_path(&self.base, slot);
        let result = (|| {
            // In place, never truncated to zero first (ext4 would flush it).
            let mut file = open_private(&path, false)?;
            file.write_all(&data)?;
            file.set_len(data.len() as u64)
        })();
        result.map_err(|e| self.store.io_error("can't write", &path, e))?;
        self.newest.set(Some((slot, generation)));
        Ok(())
    }
}

const USAGE_MAGIC: &str = "jongler-usage-v1";

fn slot_path(base: &Path, slot: usize) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".usage{slot}"));
    PathBuf::from(name)
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The newest valid slot of a usage record: the record, and (slot, generation).
fn read_usage(base: &Path) -> (Usage, Option<(usize, u64)>) {
    let mut best: Option<(u64, usize, Usage)> = None;
    for slot in 0..2 {
        let Ok(data) = fs::read(slot_path(base, slot)) else {
            continue;
        };
        let Some(newline) = data.iter().position(|b| *b == b'\n') else {
            continue;
        };
        let header = String::from_utf8_lossy(&data[..newline]).into_owned();
        let body = &data[newline + 1..];
        let fields: Vec<&str> = header.split(' ').collect();
        let valid = fields.len() == 4
            && fields[0] == USAGE_MAGIC
            && fields[2].parse::<usize>().ok() == Some(body.len())
            && u64::from_str_radix(fields[3], 16).ok() == Some(fnv1a(body));
        let Some(generation) = fields
            .get(1)
            .and_then(|g| g.parse::<u64>().ok())
            .filter(|_| valid)
        else {
            continue;
        };
        if best.as_ref().is_some_and(|(g, _, _)| *g >= generation) {
            continue;
        }
        match serde_json::from_slice(body) {
            Ok(usage) => best = Some((generation, slot, usage)),
            Err(e) => log::warn!(
                "usage record {} is unreadable ({e})",
                slot_path(base, slot).display()
            ),
        }
    }
    match best {
        Some((generation, slot, usage)) => (usage, Some((slot, generation))),
        None => (Usage::default(), None),
    }
}

/// The state dir.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// An exclusive hold on one key, across every process on the machine. Dropping
/// it releases the key: the `.lock` file is removed, then the lock let go.
#[derive(Debug)]
pub struct KeyLock {
    file: File,
    path: PathBuf,
    marker_base: String,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock: anyone who opened this inode
        // earlier will find the path gone after locking it, and retry.
        if let Err(e) = fs::remove_file(&self.path) {
            log::debug!("removing {}: {e}", self.path.display());
        }
        let _ = FileExt::unlock(&self.file);
    }
}

impl Store {
    /// The store at `dir`. Nothing is touched until it is used.
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    /// The state dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the dir (mode 0700) if needed and checks it can hold locks.
    pub fn prepare(&self) -> Result<()> {
        let dir = &self.dir;
        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(usage(format!(
                    "state dir {} is not a directory",
                    dir.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut builder = fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(dir).map_err(|e| {
                    usage(format!(
                        "can't create state dir {}: {e}; pass --state-dir or set JONGLER_STATE_DIR to a writable dir",
                        dir.display()
                    ))
                })?;
            }
            Err(e) => {
                return Err(usage(format!(
                    "can't use state dir {}: {e}; pass --state-dir or set JONGLER_STATE_DIR to a writable dir",
                    dir.display()
                )));
            }
        }
        refuse_network_fs(dir)
    }

    fn marker_base(connector: &str, key: &str) -> String {
        format!("{connector}_{key}")
    }

    fn marker_path(&self, base: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{base}.{ext}"))
    }

    /// Tries to take `key` of `connector` without waiting: `None` if another
    /// process holds it.
    pub fn try_lock(&self, connector: &str, key: &str) -> Result<Option<KeyLock>> {
        let marker_base = Self::marker_base(connector, key);
        let path = self.marker_path(&marker_base, LOCK);
        for _ in 0..16 {
            let file =
                open_private(&path, false).map_err(|e| self.io_error("can't open", &path, e))?;
            if let Err(e) = FileExt::try_lock_exclusive(&file) {
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.raw_os_error() == fs2::lock_contended_error().raw_os_error()
                {
                    return Ok(None);
                }
                return Err(anyhow::anyhow!(
                    "the filesystem of state dir {} can't lock {}: {e}",
                    self.dir.display(),
                    path.display()
                ));
            }
            // The path may have been unlinked (and maybe recreated) between
            // our open and our lock: then we locked a dead inode. Retry.
            if same_file(&file, &path)? {
                let mut lock = KeyLock {
                    file,
                    path,
                    marker_base,
                };
                let holder = format!("pid {} since {}\n", std::process::id(), Timestamp::now());
                let _ = lock
                    .file
                    .set_len(0)
                    .and_then(|()| lock.file.write_all(holder.as_bytes()));
                return Ok(Some(lock));
            }
        }
        Err(anyhow::anyhow!(
            "{} keeps changing under us; is something else deleting files in the state dir?",
            path.display()
        ))
    }

    /// Whether a live process holds `key`: its `.lock` content if so.
    pub fn holder(&self, connector: &str, key: &str) -> Result<Option<String>> {
        let path = self.marker_path(&Self::marker_base(connector, key), LOCK);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("can't open", &path, e)),
        };
        match FileExt::try_lock_shared(&file) {
            Ok(()) => {
                let _ = FileExt::unlock(&file);
                Ok(None)
            }
            Err(_) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Ok(Some(text.trim().to_string()))
            }
        }
    }

    /// The markers of every key of `connector` that has any, from one listing.
    pub fn markers(&self, connector: &str) -> Result<HashMap<String, KeyMarkers>> {
        let mut out: HashMap<String, KeyMarkers> = HashMap::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(self.io_error("can't list", &self.dir, e)),
        };
        let prefix = format!("{connector}_");
        for entry in entries {
            let entry = entry.map_err(|e| self.io_error("can't list", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let Some((key, ext)) = rest.rsplit_once('.') else {
                continue;
            };
            match ext {
                LOCKDOWN => {
                    out.entry(key.to_string()).or_default().lockdown = read_lockdown(&entry.path())?
                }
                ERROR => out.entry(key.to_string()).or_default().error = read_error(&entry.path())?,
                _ => {}
            }
        }
        Ok(out)
    }

    /// The markers of one key, read afresh.
    pub fn key_markers(&self, connector: &str, key: &str) -> Result<KeyMarkers> {
        let base = Self::marker_base(connector, key);
        Ok(KeyMarkers {
            lockdown: read_lockdown(&self.marker_path(&base, LOCKDOWN))?,
            error: read_error(&self.marker_path(&base, ERROR))?,
        })
    }

    /// Puts the held key in LOCKDOWN.
    pub fn write_lockdown(&self, lock: &KeyLock, lockdown: &Lockdown) -> Result<()> {
        let json = serde_json::to_vec_pretty(lockdown).expect("invariant: markers serialize");
        self.write_atomic(&self.marker_path(&lock.marker_base, LOCKDOWN), &json)
    }

    /// Puts the held key in ERROR.
    pub fn write_error(&self, lock: &KeyLock, mark: &ErrorMark) -> Result<()> {
        let json = serde_json::to_vec_pretty(mark).expect("invariant: markers serialize");
        self.write_atomic(&self.marker_path(&lock.marker_base, ERROR), &json)
    }

    /// Ends the held key's LOCKDOWN (after a success, or once it is over).
    pub fn clear_lockdown(&self, lock: &KeyLock) -> Result<()> {
        let path = self.marker_path(&lock.marker_base, LOCKDOWN);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(self.io_error("can't remove", &path, e))
            }
            _ => Ok(()),
        }
    }

    /// Ends the held key's ERROR; whether there was one.
    pub fn clear_error(&self, lock: &KeyLock) -> Result<bool> {
        let path = self.marker_path(&lock.marker_base, ERROR);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error("can't remove", &path, e)),
        }
    }

    /// Where the next key search of `connector` starts (a shared hint: a lost
    /// update only makes the spread a little less even).
    pub fn cursor(&self, connector: &str) -> usize {
        fs::read_to_string(self.dir.join(format!("{connector}.cursor")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Sets where the next key search starts.
    pub fn set_cursor(&self, connector: &str, at: usize) {
        let path = self.dir.join(format!("{connector}.cursor"));
        // Fixed width, written in place: a torn write reads back as 0.
        let text = format!("{at:<20}\n");
        if let Err(e) = open_private(&path, false).and_then(|mut f| f.write_all(text.as_bytes())) {
            log::debug!("updating {}: {e}", path.display());
        }
    }

    /// Removes LOCKDOWN and ERROR markers and stale `.lock` files, of one
    /// connector or of all. Locks held by live processes are left alone.
    pub fn clean(&self, connector: Option<&str>) -> Result<CleanReport> {
        let mut report = CleanReport::default();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(self.io_error("can't list", &self.dir, e)),
        };
        let prefix = connector.map(|c| format!("{c}_"));
        for entry in entries {
            let entry = entry.map_err(|e| self.io_error("can't list", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if prefix
                .as_ref()
                .is_some_and(|p| !name.starts_with(p.as_str()))
            {
                continue;
            }
            let Some((base, ext)) = name.rsplit_once('.') else {
                continue;
            };
            let path = entry.path();
            match ext {
                LOCKDOWN | ERROR => {
                    fs::remove_file(&path)
                        .or_else(ignore_not_found)
                        .map_err(|e| self.io_error("can't remove", &path, e))?;
                    if ext == LOCKDOWN {
                        report.lockdowns += 1;
                    } else {
                        report.errors += 1;
                    }
                }
                LOCK => {
                    let file = match OpenOptions::new().read(true).write(true).open(&path) {
                        Ok(f) => f,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(self.io_error("can't open", &path, e)),
                    };
                    if FileExt::try_lock_exclusive(&file).is_err() {
                        report.held += 1;
                    } else if same_file(&file, &path)? {
                        drop(KeyLock {
                            file,
                            path,
                            marker_base: base.to_string(),
                        });
                        report.stale_locks += 1;
                    }
                }
                "tmp" if name.starts_with('.') => {
                    // A temp file a crashed writer left behind.
                    fs::remove_file(&path)
                        .or_else(ignore_not_found)
                        .map_err(|e| self.io_error("can't remove", &path, e))?;
                }
                _ => {}
            }
        }
        // Model lockdowns and learned limits live in the usage records.
        if let Ok(entries) = fs::read_dir(self.usage_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".usage0")) else {
                    continue;
                };
                if prefix
                    .as_ref()
                    .is_some_and(|p| !stem.starts_with(p.as_str()))
                {
                    continue;
                }
                let lock = self.lock_usage(stem)?;
                let mut usage = lock.load();
                for bucket in usage.buckets.values_mut() {
                    report.lockdowns += bucket.lockdowns.len();
                    bucket.lockdowns.clear();
                    bucket.learned.clear();
                }
                lock.save(&usage)?;
            }
        }
        Ok(report)
    }

    /// Usage records live apart from the markers, so listing the markers
    /// stays cheap however many keys have been used.
    fn usage_dir(&self) -> PathBuf {
        self.dir.join("usage")
    }

    /// Locks the usage record `stem` (`<connector>_<bucket>`) for update,
    /// waiting for other processes.
    pub fn lock_usage(&self, stem: &str) -> Result<UsageLock<'_>> {
        let dir = self.usage_dir();
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        if let Err(e) = builder.create(&dir)
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            return Err(self.io_error("can't create", &dir, e));
        }
        let lock_path = dir.join(format!("{stem}.usage.lock"));
        let file = open_private(&lock_path, false)
            .map_err(|e| self.io_error("can't open", &lock_path, e))?;
        FileExt::lock_exclusive(&file).map_err(|e| self.io_error("can't lock", &lock_path, e))?;
        Ok(UsageLock {
            store: self,
            _lock: file,
            base: dir.join(stem),
            newest: Default::default(),
        })
    }

    /// Reads the usage record `stem` without locking (for `status`): a
    /// reader always finds the last whole record in one of the two slots.
    pub fn usage(&self, stem: &str) -> Usage {
        read_usage(&self.usage_dir().join(stem)).0
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("marker");
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut file = open_private(&tmp, true)?;
            file.write_all(data)?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            if let Ok(dir) = File::open(&self.dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        })();
        result.map_err(|e: io::Error| {
            let _ = fs::remove_file(&tmp);
            self.io_error("can't write", path, e)
        })
    }

    fn io_error(&self, what: &str, path: &Path, e: io::Error) -> anyhow::Error {
        let hint = match e.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                "; pass --state-dir or set JONGLER_STATE_DIR to a writable dir"
            }
            _ => "",
        };
        let err = anyhow::anyhow!("{what} {}: {e}{hint}", path.display());
        match e.kind() {
            io::ErrorKind::PermissionDenied
            | io::ErrorKind::ReadOnlyFilesystem
            | io::ErrorKind::NotADirectory => usage(format!("{err}")),
            _ => err,
        }
    }
}

fn ignore_not_found(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

fn open_private(path: &Path, truncate: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata().context("stat of a locked file")?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow::anyhow!("can't stat {}: {e}", path.display())),
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> Result<bool> {
    Ok(path.exists())
}

fn read_marker(path: &Path) -> Result<Option<(Vec<u8>, Timestamp)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("can't read {}: {e}", path.display())),
    };
    let mtime = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| Timestamp::try_from(t).ok())
        .unwrap_or_else(Timestamp::now);
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .with_context(|| format!("can't read {}", path.display()))?;
    Ok(Some((data, mtime)))
}

/// Reads a `.lockdown`; one that is empty or not ours (api-jongler's) is a
/// LOCKDOWN without details.
fn read_lockdown(path: &Path) -> Result<Option<Lockdown>> {
    Ok(read_marker(path)?.map(|(data, mtime)| {
        serde_json::from_slice(&data).unwrap_or(Lockdown {
            until: None,
            reason: "marker without details (api-jongler's?)".into(),
            source: LockdownSource::Legacy,
            since: mtime,
        })
    }))
}

/// Reads a `.error`; one that is empty or not ours is an ERROR without details.
fn read_error(path: &Path) -> Result<Option<ErrorMark>> {
    Ok(read_marker(path)?.map(|(data, mtime)| {
        serde_json::from_slice(&data).unwrap_or(ErrorMark {
            reason: "marker without details (api-jongler's?)".into(),
            since: mtime,
        })
    }))
}

/// flock is unreliable on network filesystems: refuse them outright.
/// The name of a network filesystem, from `statfs`'s `f_type`, if it is one.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn network_fs_name(f_type: u32) -> Option<&'static str> {
    const NETWORK_FS: &[(u32, &str)] = &[
        (0x6969, "NFS"),
        (0x517B, "SMB"),
        (0xFF53_4D42, "CIFS"),
        (0xFE53_4D42, "SMB2"),
        (0x0BD0_0BD0, "Lustre"),
        (0x6B41_4653, "AFS"),
        (0x0102_1997, "9P"),
    ];
    NETWORK_FS
        .iter()
        .find(|(magic, _)| *magic == f_type)
        .map(|(_, name)| *name)
}

#[cfg(target_os = "linux")]
fn refuse_network_fs(dir: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| {
        usage(format!(
            "state dir {} has a NUL byte in its path",
            dir.display()
        ))
    })?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and stat a valid out-pointer.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Ok(());
    }
    // f_type's width and sign differ between platforms; the magic numbers are 32-bit.
    #[allow(clippy::unnecessary_cast)]
    let kind = stat.f_type as u32;
    if let Some(name) = network_fs_name(kind) {
        return Err(usage(format!(
            "state dir {} is on {name}, where file locks are unreliable; \
             pass --state-dir or set JONGLER_STATE_DIR to a local dir",
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn refuse_network_fs(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("state"));
        store.prepare().unwrap();
        (tmp, store)
    }

    #[test]
    fn a_held_key_cannot_be_taken_twice_and_is_free_after_drop() {
        let (_t, store) = store();
        let lock = store.try_lock("c", "k1").unwrap().expect("free");
        assert!(store.try_lock("c", "k1").unwrap().is_none());
        assert!(
            store
                .holder("c", "k1")
                .unwrap()
                .unwrap()
                .contains(&std::process::id().to_string())
        );
        drop(lock);
        assert!(!store.dir().join("c_k1.lock").exists());
        assert!(store.holder("c", "k1").unwrap().is_none());
        assert!(store.try_lock("c", "k1").unwrap().is_some());
    }

    #[test]
    fn a_stale_lock_file_is_vacant() {
        let (_t, store) = store();
        fs::write(store.dir().join("c_k1.lock"), "pid 1 since then").unwrap();
        assert!(store.holder("c", "k1").unwrap().is_none());
        assert!(store.try_lock("c", "k1").unwrap().is_some());
    }

    #[test]
    fn markers_round_trip_and_empty_ones_are_valid_states() {
        let (_t, store) = store();
        let lock = store.try_lock("c", "k1").unwrap().unwrap();
        let lockdown = Lockdown {
            until: Some(Timestamp::from_second(2_000_000_000).unwrap()),
            reason: "429".into(),
            source: LockdownSource::RetryInfo,
            since: Timestamp::from_second(1_900_000_000).unwrap(),
        };
        store.write_lockdown(&lock, &lockdown).unwrap();
        fs::write(store.dir().join("c_k2.error"), "").unwrap();
        fs::write(store.dir().join("c_k3.lockdown"), "").unwrap();
        fs::write(store.dir().join("other_k1.error"), "").unwrap();
        let all = store.markers("c").unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all["k1"].lockdown.as_ref(), Some(&lockdown));
        assert!(all["k2"].error.is_some());
        assert_eq!(
            all["k3"].lockdown.as_ref().unwrap().source,
            LockdownSource::Legacy
        );
        let mode = fs::metadata(store.dir().join("c_k1.lockdown")).unwrap();
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        store.clear_lockdown(&lock).unwrap();
        assert_eq!(store.key_markers("c", "k1").unwrap(), KeyMarkers::default());
    }

    #[test]
    fn clean_removes_markers_and_stale_locks_but_not_held_ones() {
        let (_t, store) = store();
        let _held = store.try_lock("c", "k1").unwrap().unwrap();
        fs::write(store.dir().join("c_k2.lock"), "").unwrap();
        fs::write(store.dir().join("c_k3.error"), "").unwrap();
        fs::write(store.dir().join("d_k3.error"), "").unwrap();
        let report = store.clean(Some("c")).unwrap();
        assert_eq!(
            report,
            CleanReport {
                lockdowns: 0,
                errors: 1,
                stale_locks: 1,
                held: 1
            }
        );
        assert!(store.dir().join("c_k1.lock").exists());
        assert!(store.dir().join("d_k3.error").exists());
        assert_eq!(store.clean(None).unwrap().errors, 1);
    }

    #[test]
    fn a_torn_usage_write_leaves_the_previous_record() {
        let (_t, store) = store();
        let lock = store.lock_usage("c_k").unwrap();
        let mut usage = lock.load();
        usage.next_id = 1;
        lock.save(&usage).unwrap();
        let mut usage = lock.load();
        usage.next_id = 2;
        lock.save(&usage).unwrap();
        assert_eq!(store.usage("c_k").next_id, 2);
        // A writer killed halfway through its write of slot 1 (the newest).
        let slot = store.dir().join("usage/c_k.usage1");
        let data = fs::read(&slot).unwrap();
        fs::write(&slot, &data[..data.len() - 3]).unwrap();
        assert_eq!(store.usage("c_k").next_id, 1, "the older whole record wins");
        drop(lock);
        let lock = store.lock_usage("c_k").unwrap();
        let usage = lock.load();
        lock.save(&usage).unwrap();
        assert_eq!(
            store.usage("c_k").next_id,
            1,
            "and the next save goes over the torn slot"
        );
        assert!(
            fs::read(store.dir().join("usage/c_k.usage0"))
                .unwrap()
                .len()
                > 10
        );
    }

    #[test]
    fn network_filesystems_are_recognised() {
        assert_eq!(network_fs_name(0x6969), Some("NFS"));
        assert_eq!(network_fs_name(0xFF53_4D42), Some("CIFS"));
        assert_eq!(network_fs_name(0xEF53), None, "ext4");
        assert_eq!(network_fs_name(0x0102_1994), None, "tmpfs");
        // The dir the tests run in is local: it must pass.
        let (_t, store) = store();
        assert!(refuse_network_fs(store.dir()).is_ok());
    }

    #[test]
    fn state_dir_is_private() {
        let (_t, store) = store();
        #[cfg(unix)]
        {
            let mode = fs::metadata(store.dir()).unwrap();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
                0o700
            );
        }
    }

    #[test]
    fn a_file_in_the_way_is_a_usage_error() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("f"), "").unwrap();
        let err = Store::new(tmp.path().join("f")).prepare().unwrap_err();
        assert_eq!(crate::error::exit_code_of(&err).code(), 2);
        let err = Store::new(tmp.path().join("f/state"))
            .prepare()
            .unwrap_err();
        assert_eq!(crate::error::exit_code_of(&err).code(), 2, "{err}");
    }
}
