//! A memo of rust-ini's reading of a key file, so that a pool of thousands of
//! keys isn't parsed again on every call while the file stays the same.
//!
//! It lives in the user's cache dir (`~/.cache/jongler/keyfiles/`), one file
//! per key file, keyed by a hash of the key file's content: any change to the
//! file, however small, misses the memo, and rust-ini reads it again (and
//! its errors are reported as always). A memo holds section and key names
//! and the byte ranges of the values in the key file — never a value. A memo
//! that is missing, damaged or from another version is ignored.

use super::{KeyFile, Settings};
use crate::pool::KeyEntry;
use crate::secret::ApiKey;
use std::hash::BuildHasher;
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &str = "jongler-keyfile-memo-v1";

/// Key files smaller than this are parsed every time (a few hundred keys
/// cost rust-ini less than reading a memo would save).
pub(crate) const WORTH_IT: usize = 16 * 1024;

/// Set to anything but empty to never use or write memos.
pub const DISABLE_ENV: &str = "JONGLER_NO_KEYFILE_MEMO";

fn hash(bytes: &[u8]) -> u64 {
    foldhash::quality::FixedState::with_seed(0x6a6f_6e67_6c65_7231).hash_one(bytes)
}

/// Where the memo of the key file at `path` lives, if memos are in use.
fn memo_path(path: &Path) -> Option<PathBuf> {
    if std::env::var_os(DISABLE_ENV).is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let absolute = std::path::absolute(path).ok()?;
    let dirs = directories::BaseDirs::new()?;
    let name = format!(
        "{:016x}.memo",
        hash(absolute.as_os_str().as_encoded_bytes())
    );
    Some(dirs.cache_dir().join("jongler").join("keyfiles").join(name))
}

/// The key file as rust-ini read it when its content was `text`, if a memo
/// of exactly this content exists.
pub(crate) fn recall(path: &Path, text: &str) -> Option<KeyFile> {
    recall_from(&memo_path(path)?, path, text)
}

fn recall_from(memo_path: &Path, path: &Path, text: &str) -> Option<KeyFile> {
    let memo = std::fs::read_to_string(memo_path).ok()?;
    let mut lines = memo.lines();
    let header = format!("{MAGIC} {:016x} {}", hash(text.as_bytes()), text.len());
    if lines.next()? != header {
        return None;
    }
    let range = |start: &str, end: &str| -> Option<&str> {
        text.get(start.parse::<usize>().ok()?..end.parse::<usize>().ok()?)
    };
    let mut file = KeyFile {
        path: path.to_path_buf(),
        ..KeyFile::default()
    };
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["S", name] => file.sections.push((name.to_string(), Vec::new())),
            ["T", name] => file.settings.push((name.to_string(), Vec::new())),
            ["K", name, start, end] => file.sections.last_mut()?.1.push(KeyEntry {
                name: name.to_string(),
                key: ApiKey::new(range(start, end)?),
            }),
            ["E", name, start, end, at] => file.settings.last_mut()?.1.push((
                name.to_string(),
                range(start, end)?.to_string(),
                at.parse().ok()?,
            )),
            _ => return None,
        }
    }
    Some(file)
}

/// Remembers how rust-ini read `text` (already parsed into `file`). Best
/// effort: a memo that can't be written is simply not there next time.
pub(crate) fn remember(path: &Path, text: &str, file: &KeyFile) {
    if let Some(memo_path) = memo_path(path) {
        remember_in(&memo_path, path, text, file);
    }
}

fn remember_in(memo_path: &Path, path: &Path, text: &str, file: &KeyFile) {
    let Some(memo) = describe(text, file) else {
        log::debug!("key file {} can't be memoized", path.display());
        return;
    };
    let result = (|| -> std::io::Result<()> {
        let dir = memo_path.parent().expect("invariant: a memo has a dir");
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(memo.as_bytes())?;
        tmp.persist(memo_path).map_err(|e| e.error)?;
        Ok(())
    })();
    if let Err(e) = result {
        log::debug!("can't write {}: {e}", memo_path.display());
    }
}

/// The memo's text: every section, key and setting with the byte range of its
/// value in `text`, found by walking the file's lines in the order rust-ini
/// read them. `None` if anything doesn't line up (then: no memo).
fn describe(text: &str, file: &KeyFile) -> Option<String> {
    let mut out = format!("{MAGIC} {:016x} {}\n", hash(text.as_bytes()), text.len());
    // Every entry in file order, with where its section starts.
    let mut expected: Vec<(&str, &str)> = Vec::new();
    let mut sections: Vec<(&str, bool, usize)> = Vec::new();
    for (name, keys) in &file.sections {
        sections.push((name, true, keys.len()));
    }
    for (name, entries) in &file.settings {
        sections.push((name, false, entries.len()));
    }
    // Sections in the order their headers appear in the file.
    let mut order: Vec<(usize, usize)> = sections
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| (header_at(text, name), i))
        .collect();
    if order.iter().any(|(at, _)| *at == usize::MAX) {
        return None;
    }
    order.sort();
    for &(_, i) in &order {
        let (name, is_keys, _) = sections[i];
        if name.contains(['\t', '\n', '\r']) {
            return None;
        }
        if is_keys {
            let keys = &file.sections.iter().find(|(s, _)| s == name)?.1;
            expected.extend(keys.iter().map(|k| (k.name.as_str(), k.key.expose())));
        } else {
            let entries = &file.settings.iter().find(|(s, _)| s == name)?.1;
            expected.extend(entries.iter().map(|(n, v, _)| (n.as_str(), v.as_str())));
        }
    }
    // Walk the lines: each `name = value` line is the next expected entry.
    let mut ranges = Vec::with_capacity(expected.len());
    let mut next = expected.iter();
    let mut offset = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';', '[']) {
            continue;
        }
        let split = trimmed.find(['=', ':'])?;
        let (name, value) = next.next()?;
        if trimmed[..split].trim() != *name || name.contains('\t') {
            return None;
        }
        let raw = &trimmed[split + 1..];
        let value_in_line = raw.trim();
        if value_in_line != *value {
            return None;
        }
        let lead = line.len() - line.trim_start().len();
        let at = start + lead + split + 1 + (raw.len() - raw.trim_start().len());
        ranges.push((at, at + value_in_line.len(), number + 1));
    }
    if next.next().is_some() {
        return None;
    }
    let mut ranges = ranges.into_iter();
    for &(_, i) in &order {
        let (name, is_keys, count) = sections[i];
        out.push_str(if is_keys { "S\t" } else { "T\t" });
        out.push_str(name);
        out.push('\n');
        let names: Vec<&str> = if is_keys {
            let keys = &file.sections.iter().find(|(s, _)| s == name)?.1;
            keys.iter().map(|k| k.name.as_str()).collect()
        } else {
            let entries: &Settings = file.settings.iter().find(|(s, _)| s == name)?;
            entries.1.iter().map(|(n, _, _)| n.as_str()).collect()
        };
        debug_assert_eq!(names.len(), count);
        for entry in names {
            let (start, end, line) = ranges.next()?;
            if is_keys {
                out.push_str(&format!("K\t{entry}\t{start}\t{end}\n"));
            } else {
                out.push_str(&format!("E\t{entry}\t{start}\t{end}\t{line}\n"));
            }
        }
    }
    Some(out)
}

/// Where the header of `section` starts in `text` (`usize::MAX`: not found).
fn header_at(text: &str, section: &str) -> usize {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|s| s.trim() == section)
        {
            return offset;
        }
        offset += line.len();
    }
    usize::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        let mut text = String::from("\u{feff}; keys\n[gemini]\n");
        for i in 0..50 {
            text.push_str(&format!(
                "key{i} = AIzaSyMEMO{i:04}xxxxxxxxxxxxxxxxxxxxxxxx\n"
            ));
        }
        text.push_str("\n[limits gemini]\n* = 5/2s\n[other]\n  k2:  v with spaces  \n# end\n");
        text
    }

    fn same(a: &KeyFile, b: &KeyFile) -> bool {
        let keys = |f: &KeyFile| -> Vec<(String, Vec<(String, String)>)> {
            f.sections
                .iter()
                .map(|(s, k)| {
                    let pairs = k
                        .iter()
                        .map(|e| (e.name.clone(), e.key.expose().to_string()))
                        .collect();
                    (s.clone(), pairs)
                })
                .collect()
        };
        keys(a) == keys(b) && a.settings == b.settings
    }

    #[test]
    fn a_memo_gives_back_what_rust_ini_read_and_holds_no_value() {
        let home = tempfile::tempdir().unwrap();
        let memo_file = home.path().join("cache/jongler/keyfiles/x.memo");
        let path = home.path().join("keys.ini");
        let text = sample();
        let body = text.strip_prefix('\u{feff}').unwrap();
        let parsed = KeyFile::parse(&text, &path).unwrap();
        assert!(
            recall_from(&memo_file, &path, body).is_none(),
            "nothing remembered yet"
        );
        remember_in(&memo_file, &path, body, &parsed);
        let memo = std::fs::read_to_string(&memo_file).unwrap();
        assert!(!memo.contains("AIzaSy"), "{memo}");
        let recalled = recall_from(&memo_file, &path, body).expect("remembered");
        assert!(same(&parsed, &recalled));
        assert_eq!(
            recalled.section("other").unwrap()[0].key.expose(),
            "v with spaces"
        );
        assert_eq!(recalled.settings[0].1[0].2, 55, "setting lines are kept");
        // Any change to the content misses it, even one of the same length.
        let changed = body.replacen("key7 = AIzaSyMEMO0007", "key7 = AIzaSyMEMO0008", 1);
        assert_eq!(changed.len(), body.len());
        assert!(recall_from(&memo_file, &path, &changed).is_none());
        // A damaged memo is ignored.
        let damaged = memo.replacen("K\tkey1\t", "K\tkey1\t99999999", 1);
        std::fs::write(&memo_file, damaged).unwrap();
        assert!(recall_from(&memo_file, &path, body).is_none());
        std::fs::write(&memo_file, memo.replacen("S\tgemini", "Q\tgemini", 1)).unwrap();
        assert!(recall_from(&memo_file, &path, body).is_none());
    }
}
