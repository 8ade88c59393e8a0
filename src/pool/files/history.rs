//! The usage history in the state dir: `history/<connector>.json`, changed
//! under a lock on `history/<connector>.lock` and written whole (a temp file
//! renamed over it), so a reader never sees half of it.

use super::super::history::History;
use super::{FileStore, io_error, open_private};
use anyhow::Result;
use fs2::FileExt;
use std::fs;
use std::io;
use std::path::PathBuf;

impl FileStore {
    fn history_path(&self, ext: &str) -> PathBuf {
        self.dir
            .join("history")
            .join(format!("{}.{ext}", self.connector))
    }
}

/// Adds `delta` and keeps the newest `keep_days` days.
pub(super) fn add(store: &FileStore, delta: &History, keep_days: usize) -> Result<()> {
    let path = store.history_path("json");
    let dir = path.parent().expect("invariant: history/ is a parent");
    fs::create_dir_all(dir).map_err(|e| io_error("can't create", dir, e))?;
    let lock_path = store.history_path("lock");
    let lock = open_private(&lock_path, false).map_err(|e| io_error("can't open", &lock_path, e))?;
    lock.lock_exclusive()
        .map_err(|e| io_error("can't lock", &lock_path, e))?;
    let mut history = read(store)?;
    history.add(delta);
    history.keep(keep_days);
    let json = serde_json::to_vec(&history)?;
    store.write_atomic(&path, &json)
}

/// The history as it stands (empty if there is none, or it is unreadable).
pub(super) fn read(store: &FileStore) -> Result<History> {
    let path = store.history_path("json");
    match fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            log::warn!("{} is unreadable ({e}); starting it afresh", path.display());
            History::default()
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(History::default()),
        Err(e) => Err(io_error("can't read", &path, e)),
    }
}
