//! `serve` picks up configuration changes without a restart: on SIGHUP, and
//! when the key file, a connector file or the clients file changes (heard
//! through inotify or the platform's equivalent, on their directories, so an
//! editor's save-by-rename is heard too). A change that doesn't parse is
//! refused with the file and line, and the last good configuration keeps
//! serving.

use super::App;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Changes closer together than this are one reload (an editor writes a
/// file in steps; `keys import` writes a temp file and renames it).
const SETTLE: Duration = Duration::from_millis(150);

/// Reads every configuration file again; says what changed, or why nothing
/// did.
pub(super) fn reload_all(app: &App, why: &str) {
    let several = app.gateway.pools.len() > 1;
    for served in &app.gateway.pools {
        // With several connectors, each line names its own.
        let of = if several {
            format!(" `{}`", served.name())
        } else {
            String::new()
        };
        match served.jongler.reload() {
            Ok(changes) if changes.is_empty() => {
                log::debug!("reload ({why}): the keys and connector{of} are unchanged")
            }
            Ok(changes) => eprintln!("jongler: reloaded{of} ({why}): {changes}"),
            Err(e) => eprintln!(
                "jongler: reload{of} ({why}) refused, still serving the last good configuration: {e:#}"
            ),
        }
    }
    app.reload_clients(why);
    app.reload_aliases(why);
}

/// Whatever keeps the watch alive; dropping it stops it.
pub(super) struct Watching {
    _watcher: Option<notify::RecommendedWatcher>,
}

/// Watches `files` (files, or directories whose files count) and reloads
/// once they settle after a change.
pub(super) fn watch(app: Arc<App>, files: Vec<PathBuf>) -> Watching {
    use notify::Watcher;
    let files: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| std::path::absolute(f).ok())
        .collect();
    let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
    let watched = files.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Reads (our own included) are not changes.
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if let Some(path) = event.paths.iter().find(|p| concerns(&watched, p)) {
            let _ = tx.send(path.clone());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("jongler: can't watch the configuration files ({e}); reload with SIGHUP");
            return Watching { _watcher: None };
        }
    };
    let mut dirs: Vec<&Path> = files
        .iter()
        .map(|f| {
            if f.is_dir() {
                f.as_path()
            } else {
                f.parent().unwrap_or(f)
            }
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        if let Err(e) = watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
            log::debug!("can't watch {} ({e})", dir.display());
        }
    }
    std::thread::Builder::new()
        .name("jongler-reload".into())
        .spawn(move || settle_and_reload(&app, &rx))
        .expect("starting the reload thread");
    Watching {
        _watcher: Some(watcher),
    }
}

/// Whether a change at `path` concerns one of `watched`: the file itself, or
/// a file in a watched directory (not a hidden or temporary one).
fn concerns(watched: &[PathBuf], path: &Path) -> bool {
    watched.iter().any(|w| {
        w == path
            || (w.is_dir()
                && path.parent() == Some(w.as_path())
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.') && n.ends_with(".json")))
    })
}

fn settle_and_reload(app: &App, rx: &std::sync::mpsc::Receiver<PathBuf>) {
    while let Ok(first) = rx.recv() {
        while rx.recv_timeout(SETTLE).is_ok() {}
        let name = first
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        reload_all(app, &format!("{name} changed"));
    }
}

/// Reloads on every SIGHUP.
#[cfg(unix)]
pub(super) async fn on_hangup(app: Arc<App>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let app = app.clone();
        let _ = tokio::task::spawn_blocking(move || reload_all(&app, "SIGHUP")).await;
    }
}
