//! The marker-file store: the only code that touches the state dir.
//!
//! Each key's state is a marker file named `<connector>_<key name>.<state>`,
//! as api-jongler names them:
//!
//! - `.lock` — LOCKED: it exists while a process holds the key, holding that
//!   process's pid and since when, and the holder has an exclusive `flock` on
//!   it. The holder moves it off that name before it lets go of the lock, so
//!   nobody can take the inode by that name afterwards; whoever opened it
//!   just before finds, once it has the lock, that the name no longer leads
//!   to it, and starts afresh. It rests as `.<connector>_<key>.lock` (a
//!   hidden name) until the next holder renames it back: no inode is made or
//!   freed per call (ext4's inode allocator, under many calls at once, cost
//!   more than all the rest). A holder killed by SIGKILL leaves its `.lock`,
//!   but not its `flock` (the kernel drops it with the process): a `.lock`
//!   nobody has locked is VACANT, and the next look (a call taking the key,
//!   `status`, `--cleanup`) takes it or puts it to rest.
//! - `.lockdown` — LOCKDOWN, with until-when and why, as JSON: for the whole
//!   key, or with `"models"` for the models a per-model quota set aside
//!   (those live in the usage record too, which rules the pacing; the
//!   marker shows the state and goes when they end).
//! - `.error` — ERROR, with why, as JSON.
//!
//! Lockdown and error markers are only written by the process holding the
//! key's lock, atomically (temp file, fsync, rename), so a reader sees either
//! the old marker or the new one, whole. Usage records live in `usage/`, one
//! per key or group, so listing the markers stays cheap.

#![allow(clippy::disallowed_methods)] // This module owns the file locks.

use super::quota::Usage;
use super::state::{
    BucketId, CleanReport, ErrorMark, KeyHold, KeyMarks, Lockdown, LockdownSource, Mark, MarkKind,
    StateStore,
};
use crate::error::usage;
use anyhow::{Context, Result};
use fs2::FileExt;
use jiff::Timestamp;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod history;
mod line;

const LOCK: &str = "lock";
const LOCKDOWN: &str = "lockdown";
const ERROR: &str = "error";

/// The marker files of one connector in one state dir.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    connector: String,
    /// Other connectors whose names start with `<connector>_`: their marker
    /// files start with ours, and `clean` must leave them alone.
    longer: Vec<String>,
    /// Whether `usage/` is known to exist (a long-running process needn't
    /// ask again on every request).
    usage_dir_made: Arc<std::sync::atomic::AtomicBool>,
    /// The cursor file, kept open.
    cursor_file: Arc<std::sync::Mutex<Option<File>>>,
}

/// A key held through its `.lock` file. Dropping it releases the key (the
/// lock is let go; the file stays for the next holder).
#[derive(Debug)]
struct FileHold {
    /// Opened read-only and locked: an attempt on a busy key writes nothing,
    /// so watchers hear only of releases.
    file: File,
    /// Opened for writing once the lock is ours (who holds it, for
    /// `status`).
    writer: Option<File>,
    path: PathBuf,
    key: String,
    /// Whether letting go moves `path` to rest under `spare` (not for a
    /// stale lock a cleanup has put to rest already).
    linked: bool,
    spare: PathBuf,
}

impl KeyHold for FileHold {
    fn key(&self) -> &str {
        &self.key
    }
}

impl Drop for FileHold {
    fn drop(&mut self) {
        // Off its name first, while the lock is ours: then nobody can take
        // this inode by that name after us.
        if self.linked
            && same_file(&self.file, &self.path).unwrap_or(false)
            && let Err(e) = put_to_rest(&self.path, &self.spare)
        {
            log::debug!("putting {} to rest: {e}", self.path.display());
        }
        if let Err(e) = FileExt::unlock(&self.file) {
            log::debug!("unlocking {}: {e}", self.path.display());
        }
        // Closing the writer, after the unlock, is what a watcher hears as
        // "released".
        drop(self.writer.take());
    }
}

impl FileStore {
    /// The store of `connector` in `dir`; `others` are the names of every
    /// other known connector (to keep `clean` to this one's files). Nothing
    /// is touched until it is used.
    pub fn new(dir: impl Into<PathBuf>, connector: &str, others: &[String]) -> FileStore {
        let prefix = format!("{connector}_");
        FileStore {
            dir: dir.into(),
            connector: connector.to_string(),
            longer: others
                .iter()
                .filter(|o| o.starts_with(&prefix))
                .map(|o| format!("{o}_"))
                .collect(),
            usage_dir_made: Default::default(),
            cursor_file: Default::default(),
        }
    }

    /// The state dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn marker_path(&self, key: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{}_{key}.{ext}", self.connector))
    }

    /// A `.lock` file, opened, and whether someone holds it (a shared lock
    /// tried and let go); `None` if there is none.
    fn probe(&self, path: &Path) -> Result<Option<(File, bool)>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("can't open", path, e)),
        };
        match FileExt::try_lock_shared(&file) {
            Ok(()) => {
                let _ = FileExt::unlock(&file);
                Ok(Some((file, false)))
            }
            Err(e) if is_contended(&e) => Ok(Some((file, true))),
            Err(e) => Err(anyhow::anyhow!(
                "the filesystem of state dir {} can't lock {}: {e}",
                self.dir.display(),
                path.display()
            )),
        }
    }

    /// Where a key's lock file rests while nobody holds it.
    fn spare_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!(".{}_{key}.{LOCK}", self.connector))
    }

    /// The part of a file name after `<connector>_`, if the file is this
    /// connector's (and not a longer-named connector's).
    fn own<'n>(&self, name: &'n str) -> Option<&'n str> {
        let rest = name
            .strip_prefix(self.connector.as_str())?
            .strip_prefix('_')?;
        if self.longer.iter().any(|l| name.starts_with(l.as_str())) {
            return None;
        }
        Some(rest)
    }

    /// Usage records live apart from the markers, so listing the markers
    /// stays cheap however many keys have been used.
    fn usage_dir(&self) -> PathBuf {
        self.dir.join("usage")
    }

    /// The file stem of a usage record: `<connector>_<key>`, or
    /// `<connector>_group~<group>` (`~` is never in a key name).
    fn usage_base(&self, bucket: &BucketId) -> PathBuf {
        let stem = match bucket {
            BucketId::Key(name) => format!("{}_{name}", self.connector),
            BucketId::Group(name) => format!("{}_group~{name}", self.connector),
        };
        self.usage_dir().join(stem)
    }

    fn cursor_path(&self) -> PathBuf {
        self.dir.join(format!("{}.cursor", self.connector))
    }

    /// Locks the usage record at `base` for update, waiting for other processes.
    fn lock_usage(&self, base: &Path) -> Result<UsageLock> {
        use std::sync::atomic::Ordering;
        if !self.usage_dir_made.load(Ordering::Relaxed) {
            let dir = self.usage_dir();
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            if let Err(e) = builder.create(&dir)
                && e.kind() != io::ErrorKind::AlreadyExists
            {
                return Err(io_error("can't create", &dir, e));
            }
            self.usage_dir_made.store(true, Ordering::Relaxed);
        }
        let mut lock_path = base.as_os_str().to_owned();
        lock_path.push(".usage.lock");
        let lock_path = PathBuf::from(lock_path);
        let file =
            open_private(&lock_path, false).map_err(|e| io_error("can't open", &lock_path, e))?;
        FileExt::lock_exclusive(&file).map_err(|e| io_error("can't lock", &lock_path, e))?;
        Ok(UsageLock {
            _lock: file,
            base: base.to_path_buf(),
            newest: Default::default(),
        })
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
            io_error("can't write", path, e)
        })
    }

    fn remove(&self, path: &Path) -> Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("can't remove", path, e)),
        }
    }

    /// This connector's files in the state dir: (path, key name, extension).
    fn own_files(&self) -> Result<Vec<(PathBuf, String, String)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("can't list", &self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("can't list", &self.dir, e))?;
            let name = entry.file_name();
            let Some((key, ext)) = name
                .to_str()
                .and_then(|n| self.own(n))
                .and_then(|rest| rest.rsplit_once('.'))
            else {
                continue;
            };
            out.push((entry.path(), key.to_string(), ext.to_string()));
        }
        Ok(out)
    }

    /// Removes a `.lock` nobody holds; whether it was stale (else held).
    fn remove_if_stale(&self, path: &Path, key: &str) -> Result<Option<bool>> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("can't open", path, e)),
        };
        match lock_state(&file, path, &self.dir)? {
            Locked::Busy => Ok(Some(false)),
            Locked::Ours => {
                if same_file(&file, path)? {
                    // Removed while locked: whoever opened it before us finds
                    // the path gone once it gets the lock, and opens afresh.
                    let hold = FileHold {
                        file,
                        writer: None,
                        path: path.to_path_buf(),
                        key: key.to_string(),
                        linked: false,
                        spare: self.spare_path(key),
                    };
                    put_to_rest(path, &hold.spare)
                        .map_err(|e| io_error("can't put to rest", path, e))?;
                    drop(hold);
                    Ok(Some(true))
                } else {
                    Ok(None)
                }
            }
        }
    }
}

/// An exclusive lock on `<path>.lock`, beside a file that is read, changed
/// and written whole (the key file, by `jongler keys`): two such edits never
/// lose each other's changes. Held until the returned file is dropped.
pub fn lock_beside(path: &Path) -> Result<File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| io_error("can't create", dir, e))?;
    }
    let file =
        open_private(&lock_path, false).map_err(|e| io_error("can't open", &lock_path, e))?;
    FileExt::lock_exclusive(&file).map_err(|e| io_error("can't lock", &lock_path, e))?;
    Ok(file)
}

/// Removes everything `--cleanup-all` removes: every connector's markers,
/// stale locks and model lockdowns in `dir`.
pub fn clean_all(dir: &Path) -> Result<CleanReport> {
    let mut report = CleanReport::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(io_error("can't list", dir, e)),
    };
    let mut connectors: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("can't list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((base, ext)) = name.rsplit_once('.')
            && matches!(ext, LOCK | LOCKDOWN | ERROR)
            && let Some((connector, _)) = base.split_once('_')
            && !connectors.iter().any(|c| c == connector)
        {
            connectors.push(connector.to_string());
        }
        if name.starts_with('.') && name.ends_with(".tmp") {
            // A temp file a crashed writer left behind.
            let _ = fs::remove_file(entry.path());
        }
    }
    if let Ok(entries) = fs::read_dir(dir.join("usage")) {
        for entry in entries.flatten() {
            if let Some(stem) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".usage0"))
                && let Some((connector, _)) = stem.split_once('_')
                && !connectors.iter().any(|c| c == connector)
            {
                connectors.push(connector.to_string());
            }
        }
    }
    // The shortest prefix before the first '_' is enough: with no names of
    // longer connectors given, a store cleans every file starting with it.
    for connector in connectors {
        report += FileStore::new(dir, &connector, &[]).clean()?;
    }
    Ok(report)
}

impl StateStore for FileStore {
    fn describe(&self) -> String {
        format!("state dir {}", self.dir.display())
    }

    /// Creates the dir (mode 0700) if needed and checks it can hold locks.
    fn prepare(&self) -> Result<()> {
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

    fn try_hold(&self, key: &str) -> Result<Option<Box<dyn KeyHold>>> {
        let path = self.marker_path(key, LOCK);
        let spare = self.spare_path(key);
        for _ in 0..16 {
            // A `.lock` there is held, or its holder died; else the file at
            // rest comes back under the name (made only the first time).
            // Opened for writing when it comes from rest (the holder line is
            // written through it; closing it, after the unlock, is what a
            // watcher hears as "released"), read-only when it is there: an
            // attempt on a busy key writes nothing, so nobody hears of it.
            let mut writable = false;
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    writable = true;
                    match rename_noreplace(&spare, &path) {
                        Ok(()) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
                            ) => {}
                        Err(e) => return Err(io_error("can't rename", &spare, e)),
                    }
                    open_private(&path, false).map_err(|e| io_error("can't open", &path, e))?
                }
                Err(e) => return Err(io_error("can't open", &path, e)),
            };
            if let Locked::Busy = lock_state(&file, &path, &self.dir)? {
                return Ok(None);
            }
            // A cleanup may have removed the path between our open and our
            // lock: then we locked a dead inode. Retry.
            if same_file(&file, &path)? {
                // Who holds it, for `status`: fixed width, written in place.
                let holder = format!("pid {} since {}", std::process::id(), Timestamp::now());
                let writer = if writable {
                    None
                } else {
                    OpenOptions::new().write(true).open(&path).ok()
                };
                let _ = write_at(
                    writer.as_ref().unwrap_or(&file),
                    format!("{holder:<63}\n").as_bytes(),
                );
                return Ok(Some(Box::new(FileHold {
                    file,
                    writer,
                    path,
                    key: key.to_string(),
                    linked: true,
                    spare,
                })));
            }
        }
        Err(anyhow::anyhow!(
            "{} keeps changing under us; is something else deleting files in the state dir?",
            path.display()
        ))
    }

    /// A `.lock` that exists and is `flock`ed (a stale one is not held).
    /// It exists only while its key is held (or its holder died), so one
    /// `open` tells a busy key.
    fn is_held(&self, key: &str) -> Result<bool> {
        Ok(self
            .probe(&self.marker_path(key, LOCK))?
            .is_some_and(|(_, held)| held))
    }

    fn holder(&self, key: &str) -> Result<Option<String>> {
        let path = self.marker_path(key, LOCK);
        match self.probe(&path)? {
            None => Ok(None),
            Some((mut file, true)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Ok(Some(text.trim().to_string()))
            }
            Some((file, false)) => {
                // Nobody holds it: its holder died mid-call. This look
                // cleans it away, so the state dir shows the key VACANT.
                drop(file);
                if let Err(e) = self.remove_if_stale(&path, key) {
                    log::debug!("removing the stale {}: {e:#}", path.display());
                }
                Ok(None)
            }
        }
    }

    fn marks(&self, key: &str) -> Result<KeyMarks> {
        Ok(KeyMarks {
            lockdown: read_lockdown(&self.marker_path(key, LOCKDOWN))?,
            error: read_error(&self.marker_path(key, ERROR))?,
        })
    }

    fn all_marks(&self) -> Result<HashMap<String, KeyMarks>> {
        let mut out: HashMap<String, KeyMarks> = HashMap::new();
        for (path, key, ext) in self.own_files()? {
            match ext.as_str() {
                LOCKDOWN => out.entry(key).or_default().lockdown = read_lockdown(&path)?,
                ERROR => out.entry(key).or_default().error = read_error(&path)?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn mark(&self, hold: &dyn KeyHold, mark: &Mark) -> Result<()> {
        let (ext, json) = match mark {
            Mark::Lockdown(lockdown) => (LOCKDOWN, serde_json::to_vec_pretty(lockdown)),
            Mark::Error(error) => (ERROR, serde_json::to_vec_pretty(error)),
        };
        let json = json.expect("invariant: marks serialize");
        self.write_atomic(&self.marker_path(hold.key(), ext), &json)
    }

    fn clear(&self, hold: &dyn KeyHold, kind: MarkKind) -> Result<bool> {
        let ext = match kind {
            MarkKind::Lockdown => LOCKDOWN,
            MarkKind::Error => ERROR,
        };
        self.remove(&self.marker_path(hold.key(), ext))
    }

    fn update_usage(
        &self,
        bucket: &BucketId,
        update: &mut dyn FnMut(&mut Usage) -> bool,
    ) -> Result<()> {
        let lock = self.lock_usage(&self.usage_base(bucket))?;
        let mut usage = lock.load();
        if update(&mut usage) {
            lock.save(&usage)?;
        }
        Ok(())
    }

    /// A reader always finds the last whole record in one of the two slots.
    fn usage(&self, bucket: &BucketId) -> Usage {
        read_usage(&self.usage_base(bucket)).0
    }

    /// A shared hint: a lost update only makes the spread a little less even.
    fn cursor(&self) -> usize {
        let mut cached = self
            .cursor_file
            .lock()
            .expect("invariant: no panics under lock");
        if cached.is_none() {
            *cached = open_private(&self.cursor_path(), false).ok();
        }
        let mut text = [0u8; 24];
        let n = cached
            .as_ref()
            .map_or(0, |f| read_at(f, &mut text).unwrap_or(0));
        std::str::from_utf8(&text[..n])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn set_cursor(&self, at: usize) {
        let mut cached = self
            .cursor_file
            .lock()
            .expect("invariant: no panics under lock");
        if cached.is_none() {
            *cached = open_private(&self.cursor_path(), false).ok();
        }
        // Fixed width, written in place: a torn write reads back as 0.
        let text = format!("{at:<20}\n");
        if let Some(Err(e)) = cached.as_ref().map(|f| write_at(f, text.as_bytes())) {
            log::debug!("updating {}: {e}", self.cursor_path().display());
        }
    }

    fn clean(&self) -> Result<CleanReport> {
        let mut report = CleanReport::default();
        for (path, key, ext) in self.own_files()? {
            match ext.as_str() {
                LOCKDOWN => {
                    // A marker of model lockdowns is counted with them, below.
                    let key_wide = read_lockdown(&path)?.is_none_or(|l| l.is_key_wide());
                    let removed = usize::from(self.remove(&path)?);
                    if key_wide {
                        report.lockdowns += removed;
                    }
                }
                ERROR => report.errors += usize::from(self.remove(&path)?),
                LOCK => match self.remove_if_stale(&path, &key)? {
                    Some(true) => report.stale_locks += 1,
                    Some(false) => report.held += 1,
                    None => {}
                },
                _ => {}
            }
        }
        // Lock files at rest go too (nobody holds one; a holder to be
        // renames it back or, finding none, makes a new one).
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let resting = name
                    .to_str()
                    .and_then(|n| n.strip_prefix('.'))
                    .and_then(|n| self.own(n))
                    .and_then(|rest| rest.rsplit_once('.'))
                    .is_some_and(|(_, ext)| ext == LOCK);
                if resting {
                    self.remove(&entry.path())?;
                }
            }
        }
        // Model lockdowns and learned limits live in the usage records.
        if let Ok(entries) = fs::read_dir(self.usage_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if self.own(name).is_none() {
                    continue;
                }
                let Some(stem) = name.strip_suffix(".usage0") else {
                    continue;
                };
                let lock = self.lock_usage(&self.usage_dir().join(stem))?;
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

    /// inotify (or the platform's equivalent) on the state dir: a removed
    /// file is a released key or a cleared mark.
    fn add_history(&self, delta: &super::history::History, keep_days: usize) -> Result<()> {
        history::add(self, delta, keep_days)
    }

    fn history(&self) -> Result<super::history::History> {
        history::read(self)
    }

    fn join_line(
        &self,
        line: &str,
        place: &super::line::Place,
    ) -> Result<Option<Box<dyn super::line::InLine>>> {
        Ok(Some(Box::new(line::Standing::join(self, line, place)?)))
    }

    fn first_in_line(&self, line: &str, others_only: bool) -> Result<Option<String>> {
        line::first(self, line, others_only)
    }

    fn watch(
        &self,
        on_change: Arc<dyn Fn() + Send + Sync>,
    ) -> Option<Box<dyn std::any::Any + Send + Sync>> {
        use notify::Watcher;
        use notify::event::{AccessKind, AccessMode, EventKind};
        let store = self.clone();
        let lines = self.lines_dir();
        let handler = move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            // A call leaving a line: whoever waited behind it may go.
            if matches!(event.kind, EventKind::Remove(_))
                && event.paths.iter().any(|p| p.starts_with(&lines))
            {
                on_change();
                return;
            }
            // A holder closing its `.lock` after letting go, or a mark or a
            // stale lock removed: this connector's only.
            // Renames are not heard: a holder renames before it lets go.
            let (wanted, at_rest): (&[&str], bool) = match event.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => (&[LOCK], true),
                EventKind::Remove(_) => (&[LOCK, LOCKDOWN, ERROR], false),
                EventKind::Any | EventKind::Other => (&[LOCK, LOCKDOWN, ERROR], true),
                _ => return,
            };
            let ours = event.paths.iter().any(|p| {
                let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                    return false;
                };
                let name = match name.strip_prefix('.') {
                    Some(rest) if at_rest => rest,
                    Some(_) => return false,
                    None => name,
                };
                store
                    .own(name)
                    .and_then(|rest| rest.rsplit_once('.'))
                    .is_some_and(|(_, ext)| wanted.contains(&ext))
            });
            if ours || event.need_rescan() {
                on_change();
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                log::debug!("can't watch the state dir ({e}); polling instead");
                return None;
            }
        };
        if let Err(e) = watcher.watch(&self.dir, notify::RecursiveMode::NonRecursive) {
            log::debug!("can't watch {} ({e}); polling instead", self.dir.display());
            return None;
        }
        let lines = self.lines_dir();
        if let Err(e) = fs::create_dir_all(&lines)
            .map_err(notify::Error::io)
            .and_then(|()| watcher.watch(&lines, notify::RecursiveMode::Recursive))
        {
            log::debug!(
                "can't watch {} ({e}); polling for the line",
                lines.display()
            );
        }
        Some(Box::new(std::sync::Mutex::new(watcher)))
    }
}

enum Locked {
    /// We have the lock now.
    Ours,
    /// Someone else has it.
    Busy,
}

fn is_contended(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || e.raw_os_error() == fs2::lock_contended_error().raw_os_error()
}

/// Tries an exclusive lock, keeping "someone else holds it" apart from "this
/// filesystem can't lock" (cargo's flock.rs does the same).
fn lock_state(file: &File, path: &Path, dir: &Path) -> Result<Locked> {
    match FileExt::try_lock_exclusive(file) {
        Ok(()) => Ok(Locked::Ours),
        Err(e) if is_contended(&e) => Ok(Locked::Busy),
        Err(e) => Err(anyhow::anyhow!(
            "the filesystem of state dir {} can't lock {}: {e}",
            dir.display(),
            path.display()
        )),
    }
}

fn io_error(what: &str, path: &Path, e: io::Error) -> anyhow::Error {
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

/// One usage record, held for update: every process that
/// records a send takes this lock first, so no update is lost.
///
/// The record is double-buffered: two slot files, each `header + JSON` with a
/// generation number, length and checksum; a save overwrites the older slot
/// in place. A reader takes the valid slot with the newest generation, so a
/// writer killed mid-write leaves the previous record intact. (Replacing the
/// file by rename would do the same, but ext4 flushes the data of a file
/// renamed over another, which cost a millisecond per call.)
#[derive(Debug)]
struct UsageLock {
    _lock: File,
    base: PathBuf,
    newest: std::cell::Cell<Option<(usize, u64)>>,
}

impl UsageLock {
    /// Reads the record; a missing or unreadable one starts afresh.
    fn load(&self) -> Usage {
        let (usage, newest) = read_usage(&self.base);
        self.newest.set(newest);
        usage
    }

    /// Saves the record over the older slot.
    fn save(&self, usage: &Usage) -> Result<()> {
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
        result.map_err(|e| io_error("can't write", &path, e))?;
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
    // Both slots' headers first; only the newest valid body is parsed (the
    // other one only if that fails): parsing is most of a read's cost.
    let mut valid: Vec<(u64, usize, Vec<u8>, usize)> = Vec::with_capacity(2);
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
        let ok = fields.len() == 4
            && fields[0] == USAGE_MAGIC
            && fields[2].parse::<usize>().ok() == Some(body.len())
            && u64::from_str_radix(fields[3], 16).ok() == Some(fnv1a(body));
        if let Some(generation) = fields
            .get(1)
            .and_then(|g| g.parse::<u64>().ok())
            .filter(|_| ok)
        {
            valid.push((generation, slot, data, newline + 1));
        }
    }
    valid.sort_by_key(|v| std::cmp::Reverse(v.0));
    for (generation, slot, data, start) in valid {
        match serde_json::from_slice(&data[start..]) {
            Ok(usage) => return (usage, Some((slot, generation))),
            Err(e) => log::warn!(
                "usage record {} is unreadable ({e})",
                slot_path(base, slot).display()
            ),
        }
    }
    (Usage::default(), None)
}

/// Moves a lock file off its `.lock` name to rest under `spare`; where one
/// rests there already (a second inode, from a cleanup or an older jongler),
/// it is removed instead.
fn put_to_rest(path: &Path, spare: &Path) -> io::Result<()> {
    match rename_noreplace(path, spare) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => fs::remove_file(path),
        other => other,
    }
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        };
        let (f, t) = (c(from)?, c(to)?);
        // SAFETY: two NUL-terminated paths that live across the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                f.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // A filesystem without RENAME_NOREPLACE: a link does the same.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(e);
        }
    }
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

/// Writes `data` at the start of `file`, whatever its cursor.
fn write_at(file: &File, data: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, data, 0)
    }
    #[cfg(not(unix))]
    {
        use std::io::Seek;
        let mut file = file;
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(data)
    }
}

/// Reads from the start of `file`, whatever its cursor.
fn read_at(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, 0)
    }
    #[cfg(not(unix))]
    {
        use std::io::Seek;
        let mut file = file;
        file.seek(io::SeekFrom::Start(0))?;
        file.read(buf)
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
            models: Vec::new(),
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

    fn store(connector: &str) -> (tempfile::TempDir, FileStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path().join("state"), connector, &[]);
        store.prepare().unwrap();
        (tmp, store)
    }

    #[test]
    fn the_file_store_meets_the_contract() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let known = ["local".to_string(), "local_b".to_string()];
        super::super::contract::run_all(&|connector| {
            Arc::new(FileStore::new(&dir, connector, &known)) as Arc<dyn StateStore>
        });
    }

    #[test]
    fn markers_are_named_as_api_jongler_names_them() {
        let (_t, store) = store("c");
        let hold = store.try_hold("k1").unwrap().expect("free");
        assert!(store.dir().join("c_k1.lock").exists());
        assert!(
            store
                .holder("k1")
                .unwrap()
                .unwrap()
                .contains(&std::process::id().to_string())
        );
        store
            .mark(
                hold.as_ref(),
                &Mark::Error(ErrorMark {
                    reason: "x".into(),
                    since: Timestamp::now(),
                }),
            )
            .unwrap();
        assert!(store.dir().join("c_k1.error").exists());
        drop(hold);
        assert!(store.holder("k1").unwrap().is_none(), "released");
        assert!(
            !store.dir().join("c_k1.lock").exists(),
            "a .lock exists only while the key is held"
        );
    }

    #[test]
    fn a_stale_lock_file_is_vacant_and_the_next_look_removes_it() {
        let (_t, store) = store("c");
        fs::write(store.dir().join("c_k1.lock"), "pid 1 since then").unwrap();
        assert!(store.holder("k1").unwrap().is_none());
        assert!(!store.dir().join("c_k1.lock").exists(), "status cleaned it");
        fs::write(store.dir().join("c_k1.lock"), "pid 1 since then").unwrap();
        let hold = store.try_hold("k1").unwrap().expect("a stale lock is free");
        let text = fs::read_to_string(store.dir().join("c_k1.lock")).unwrap();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(hold);
        assert!(!store.dir().join("c_k1.lock").exists());
    }

    #[test]
    fn a_holder_that_opened_the_lock_just_before_its_release_starts_afresh() {
        let (_t, store) = store("c");
        let path = store.dir().join("c_k1.lock");
        let first = store.try_hold("k1").unwrap().unwrap();
        // Another process opened the file while it was held …
        let late = File::open(&path).unwrap();
        drop(first);
        assert!(!path.exists(), "off its name");
        assert!(store.dir().join(".c_k1.lock").exists(), "at rest");
        // … and gets its lock once free: the name no longer leads to it, so
        // it lets go and starts afresh.
        assert!(matches!(
            lock_state(&late, &path, store.dir()),
            Ok(Locked::Ours)
        ));
        assert!(!same_file(&late, &path).unwrap());
        drop(late);
        // The key is taken afresh by the next holder, one at a time, with
        // the same inode (none is made per call).
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        let resting = inode(&store.dir().join(".c_k1.lock"));
        let second = store.try_hold("k1").unwrap().expect("free");
        assert_eq!(inode(&path), resting);
        assert!(store.try_hold("k1").unwrap().is_none(), "held once");
        drop(second);
    }

    #[test]
    fn empty_or_foreign_markers_are_valid_states() {
        let (_t, store) = store("c");
        fs::write(store.dir().join("c_k2.error"), "").unwrap();
        fs::write(store.dir().join("c_k3.lockdown"), "").unwrap();
        fs::write(store.dir().join("other_k1.error"), "").unwrap();
        let all = store.all_marks().unwrap();
        assert_eq!(all.len(), 2);
        assert!(all["k2"].error.is_some());
        assert_eq!(
            all["k3"].lockdown.as_ref().unwrap().source,
            LockdownSource::Legacy
        );
        let hold = store.try_hold("k1").unwrap().unwrap();
        store
            .mark(
                hold.as_ref(),
                &Mark::Lockdown(Lockdown {
                    until: None,
                    reason: "r".into(),
                    source: LockdownSource::Default,
                    since: Timestamp::now(),
                    models: Vec::new(),
                }),
            )
            .unwrap();
        #[cfg(unix)]
        {
            let mode = fs::metadata(store.dir().join("c_k1.lockdown")).unwrap();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn cleanup_of_one_connector_leaves_longer_named_ones_and_clean_all_takes_everything() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let known = ["local".to_string(), "local_b".to_string()];
        let local = FileStore::new(&dir, "local", &known);
        local.prepare().unwrap();
        for name in [
            "local_k1.error",
            "local_b_k1.error",
            "local_b_k2.lock",
            "x_k.lockdown",
        ] {
            fs::write(dir.join(name), "").unwrap();
        }
        fs::write(dir.join(".local_k1.error.99.tmp"), "").unwrap();
        let report = local.clean().unwrap();
        assert_eq!((report.errors, report.stale_locks), (1, 0), "{report:?}");
        assert!(dir.join("local_b_k1.error").exists());
        assert!(dir.join("local_b_k2.lock").exists());
        let report = clean_all(&dir).unwrap();
        assert_eq!(
            (report.errors, report.lockdowns, report.stale_locks),
            (1, 1, 1),
            "{report:?}"
        );
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.iter().all(|n| n == "usage"), "{left:?}");
    }

    #[test]
    fn a_torn_usage_write_leaves_the_previous_record() {
        let (_t, store) = store("c");
        let bucket = BucketId::Key("k".into());
        for id in [1, 2] {
            store
                .update_usage(&bucket, &mut |u| {
                    u.next_id = id;
                    true
                })
                .unwrap();
        }
        assert_eq!(store.usage(&bucket).next_id, 2);
        // A writer killed halfway through its write of the newest slot.
        let (newest, _) = read_usage(&store.usage_base(&bucket)).1.unwrap();
        let slot = slot_path(&store.usage_base(&bucket), newest);
        let data = fs::read(&slot).unwrap();
        fs::write(&slot, &data[..data.len() - 3]).unwrap();
        assert_eq!(
            store.usage(&bucket).next_id,
            1,
            "the older whole record wins"
        );
        store.update_usage(&bucket, &mut |_| true).unwrap();
        assert_eq!(
            store.usage(&bucket).next_id,
            1,
            "and the next save goes over the torn slot"
        );
    }

    #[test]
    fn network_filesystems_are_recognised() {
        assert_eq!(network_fs_name(0x6969), Some("NFS"));
        assert_eq!(network_fs_name(0xFF53_4D42), Some("CIFS"));
        assert_eq!(network_fs_name(0xEF53), None, "ext4");
        assert_eq!(network_fs_name(0x0102_1994), None, "tmpfs");
        // The dir the tests run in is local: it must pass.
        let (_t, store) = store("c");
        assert!(refuse_network_fs(store.dir()).is_ok());
    }

    #[test]
    fn state_dir_is_private() {
        let (_t, store) = store("c");
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
        let err = FileStore::new(tmp.path().join("f"), "c", &[])
            .prepare()
            .unwrap_err();
        assert_eq!(crate::error::exit_code_of(&err).code(), 2);
        let err = FileStore::new(tmp.path().join("f/state"), "c", &[])
            .prepare()
            .unwrap_err();
        assert_eq!(crate::error::exit_code_of(&err).code(), 2, "{err}");
    }
}
