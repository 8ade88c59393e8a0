//! `jongler keys`: keys imported, added, removed and listed in the INI key
//! file from the command line. The file is edited as text — only the lines
//! of the keys added or removed change; comments, order, other sections and
//! the file's mode stay as they were — and written whole to a temp file,
//! synced and renamed over the old one, under a lock, so two edits at once
//! lose nothing and a crash leaves the old file or the new one. A key's
//! value is never printed: a duplicate is named by the key it duplicates.

use crate::config::KeyFile;
use crate::error::usage;
use crate::secret::ApiKey;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// Names given to the keys added, in order.
    pub added: Vec<String>,
    /// Keys skipped as already in the pool: (line of the input, the name
    /// of the key it duplicates).
    pub duplicates: Vec<(usize, String)>,
    /// Blank and comment lines skipped.
    pub skipped: usize,
}

/// Names of imported keys: `import-0001`, `import-0002` …, on from the
/// highest such number in the section (never one that exists).
const IMPORT_PREFIX: &str = "import-";

/// Adds each key of `input` (one a line; blank lines and `#` comments
/// skipped) to section `[connector]` of `path`, unless the pool has it
/// already under any name (`known`: keys from elsewhere, such as the
/// environment, as (name, value)).
pub fn import(
    path: &Path,
    connector: &str,
    input: &str,
    known: &[(String, ApiKey)],
) -> Result<Imported> {
    edit(path, |text, file| {
        let mut report = Imported::default();
        let existing = section_keys(file, connector);
        let mut by_value: HashMap<String, String> = known
            .iter()
            .map(|(n, k)| (k.expose().to_string(), n.clone()))
            .collect();
        for (name, key) in &existing {
            by_value.insert(key.expose().to_string(), name.clone());
        }
        let mut next = existing
            .iter()
            .filter_map(|(n, _)| n.strip_prefix(IMPORT_PREFIX)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let taken: std::collections::HashSet<&str> =
            existing.iter().map(|(n, _)| n.as_str()).collect();
        let mut lines = Vec::new();
        for (i, line) in input.lines().enumerate() {
            let value = line.trim();
            if value.is_empty() || value.starts_with('#') {
                report.skipped += 1;
                continue;
            }
            if value.contains(char::is_whitespace) || value.contains(['=', ';', '[']) {
                return Err(usage(format!(
                    "line {} of the input is not one key (it holds spaces, '=', ';' or '['); one key a line",
                    i + 1
                )));
            }
            if let Some(name) = by_value.get(value) {
                report.duplicates.push((i + 1, name.clone()));
                continue;
            }
            let name = loop {
                next += 1;
                let name = format!("{IMPORT_PREFIX}{next:04}");
                if !taken.contains(name.as_str()) {
                    break name;
                }
            };
            by_value.insert(value.to_string(), name.clone());
            lines.push(format!("{name} = {value}"));
            report.added.push(name);
        }
        Ok((append_to_section(text, connector, &lines), report))
    })
}

/// Adds one key named `name`.
pub fn add(path: &Path, connector: &str, name: &str, key: &ApiKey) -> Result<()> {
    crate::names::check(name)
        .map_err(|why| usage(format!("key name {name:?} can't be used: {why}")))?;
    let value = key.expose().trim();
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(usage(
            "the key is empty or holds spaces; give the key alone on stdin",
        ));
    }
    edit(path, |text, file| {
        for (other, existing) in section_keys(file, connector) {
            if other == name {
                return Err(usage(format!(
                    "[{connector}] has a key named `{name}` already; remove it first or pick another name"
                )));
            }
            if existing.expose() == value {
                return Err(usage(format!(
                    "[{connector}] has this key already, as `{other}`"
                )));
            }
        }
        Ok((
            append_to_section(text, connector, &[format!("{name} = {value}")]),
            (),
        ))
    })
}

/// Removes keys `names` from the section; the names not in it are an error
/// (and nothing is removed).
pub fn remove(path: &Path, connector: &str, names: &[String]) -> Result<()> {
    edit(path, |text, file| {
        let existing = section_keys(file, connector);
        if let Some(missing) = names
            .iter()
            .find(|n| !existing.iter().any(|(e, _)| e == *n))
        {
            return Err(usage(format!(
                "[{connector}] in {} has no key named `{missing}`; nothing was removed",
                file.map_or_else(String::new, |f| f.path.display().to_string())
            )));
        }
        Ok((remove_from_section(text, connector, names), ()))
    })
}

/// The keys of section `[connector]`, as (name, key).
fn section_keys(file: Option<&KeyFile>, connector: &str) -> Vec<(String, ApiKey)> {
    file.and_then(|f| f.sections.iter().find(|(s, _)| s == connector))
        .map(|(_, keys)| {
            keys.iter()
                .map(|k| (k.name.clone(), k.key.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the file (if any) under its lock, lets `change` make the new text,
/// and writes it whole: temp file, fsync, rename, the old mode kept (0600
/// for a new file).
fn edit<T>(
    path: &Path,
    change: impl FnOnce(&str, Option<&KeyFile>) -> Result<(String, T)>,
) -> Result<T> {
    let _lock = crate::pool::files::lock_beside(path)?;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(usage(format!(
                "can't read config file {}: {e}",
                path.display()
            )));
        }
    };
    let file = if text.is_empty() {
        None
    } else {
        Some(KeyFile::parse(&text, path)?)
    };
    let (new_text, result) = change(&text, file.as_ref())?;
    if new_text == text {
        return Ok(result);
    }
    // The new text must read back: never write a file the tool can't use.
    KeyFile::parse(&new_text, path).context("invariant: the edited key file reads back")?;
    write_whole(path, &new_text)?;
    Ok(result)
}

fn write_whole(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("can't create {}", dir.display()))?;
    let mode = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut tmp = tempfile::Builder::new()
        .prefix(".jongler-keys-")
        .tempfile_in(&dir)
        .with_context(|| format!("can't write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = mode.unwrap_or_else(|| std::fs::Permissions::from_mode(0o600));
        std::fs::set_permissions(tmp.path(), perms)?;
    }
    #[cfg(not(unix))]
    if let Some(perms) = mode {
        std::fs::set_permissions(tmp.path(), perms)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("can't replace {}: {}", path.display(), e.error))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Where a line is a header, its section name.
fn header(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// The text with `lines` added at the end of section `[connector]` (after
/// its last key), or in a new section at the end.
fn append_to_section(text: &str, connector: &str, lines: &[String]) -> String {
    if lines.is_empty() {
        return text.to_string();
    }
    let all: Vec<&str> = text.split_inclusive('\n').collect();
    let start = all.iter().position(|l| header(l) == Some(connector));
    let Some(start) = start else {
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("[{connector}]\n"));
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
        return out;
    };
    let end = all[start + 1..]
        .iter()
        .position(|l| header(l).is_some())
        .map_or(all.len(), |p| start + 1 + p);
    // After the section's last key: blank lines and comments just before
    // the next header belong with that header.
    let last = (start + 1..end)
        .rev()
        .find(|&i| {
            let t = all[i].trim();
            !t.is_empty() && !t.starts_with(['#', ';'])
        })
        .unwrap_or(start);
    let mut out = String::with_capacity(text.len() + lines.len() * 64);
    for (i, line) in all.iter().enumerate() {
        out.push_str(line);
        if i == last {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            for new in lines {
                out.push_str(new);
                out.push('\n');
            }
        }
    }
    out
}

/// The text without the lines of keys `names` in section `[connector]`.
fn remove_from_section(text: &str, connector: &str, names: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        if let Some(name) = header(line) {
            inside = name == connector;
        } else if inside {
            let name = line.split(['=', ':']).next().unwrap_or("").trim();
            if names.iter().any(|n| n == name) && line.contains(['=', ':']) {
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_at_the_end_of_their_section_and_everything_else_stays() {
        let text = "# my keys\n[a]\nk1 = v1\n\n; old\n[b]\nx = y\n";
        let out = append_to_section(text, "a", &["k2 = v2".into()]);
        assert_eq!(
            out,
            "# my keys\n[a]\nk1 = v1\nk2 = v2\n\n; old\n[b]\nx = y\n"
        );
        let out = append_to_section(text, "c", &["n = v".into()]);
        assert_eq!(out, format!("{text}\n[c]\nn = v\n"));
        let out = append_to_section("[a]\nk1 = v1", "a", &["k2 = v2".into()]);
        assert_eq!(out, "[a]\nk1 = v1\nk2 = v2\n");
        let out = remove_from_section(text, "a", &["k1".into()]);
        assert_eq!(out, "# my keys\n[a]\n\n; old\n[b]\nx = y\n");
        // The same name in another section stays.
        let out = remove_from_section(text, "b", &["k1".into()]);
        assert_eq!(out, text);
    }
}
