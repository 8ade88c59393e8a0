//! The line of waiting calls in the state dir: `line/<connector>/<model>/`,
//! one empty file per waiting call, named by its place (so the names sort as
//! the line goes), held locked by its call. A file nobody holds is a call
//! that died: it is removed by whoever finds it.

use super::super::line::{InLine, Place};
use super::{FileStore, Locked, io_error, lock_state, open_private};
use anyhow::Result;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;

impl FileStore {
    /// `line/<connector>/` in the state dir: every line of this connector.
    pub(super) fn lines_dir(&self) -> PathBuf {
        self.dir.join("line").join(&self.connector)
    }

    fn line_dir(&self, line: &str) -> PathBuf {
        self.lines_dir().join(line)
    }
}

/// A call standing in a line: its file, held locked.
#[derive(Debug)]
pub(super) struct Standing {
    path: PathBuf,
    _file: File,
}

impl InLine for Standing {}

impl Standing {
    /// Makes the call's file, locked before it gets its name (so nobody
    /// takes it for a dead call's).
    pub(super) fn join(store: &FileStore, line: &str, place: &Place) -> Result<Standing> {
        let dir = store.line_dir(line);
        fs::create_dir_all(&dir).map_err(|e| io_error("can't create", &dir, e))?;
        let temp = dir.join(format!(".{}", place.name()));
        let file = open_private(&temp, true).map_err(|e| io_error("can't create", &temp, e))?;
        if let Locked::Busy = lock_state(&file, &temp, &store.dir)? {
            anyhow::bail!("{} is locked by another process", temp.display());
        }
        let path = dir.join(place.name());
        fs::rename(&temp, &path).map_err(|e| io_error("can't rename", &temp, e))?;
        Ok(Standing { path, _file: file })
    }
}

impl Drop for Standing {
    fn drop(&mut self) {
        // Removed before the lock goes with the file: nobody finds it
        // unlocked and takes it for a dead call's in between.
        let _ = fs::remove_file(&self.path);
    }
}

/// The first live place in `line` (of another process, with `others_only`).
pub(super) fn first(store: &FileStore, line: &str, others_only: bool) -> Result<Option<String>> {
    let dir = store.line_dir(line);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("can't read", &dir, e)),
    };
    let mut places: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| Place::is_place(name))
        .filter(|name| !(others_only && Place::is_ours(name)))
        .collect();
    places.sort();
    for name in places {
        let path = dir.join(&name);
        let file = match File::open(&path) {
            Ok(file) => file,
            // It left the line meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("can't open", &path, e)),
        };
        match lock_state(&file, &path, &store.dir)? {
            Locked::Busy => return Ok(Some(name)),
            Locked::Ours => {
                // Its call died (or is just leaving: it removes the file
                // before it lets go, so a file found unlocked is dead).
                log::debug!("removing the place of a call that died: {name}");
                let _ = fs::remove_file(&path);
            }
        }
    }
    Ok(None)
}
