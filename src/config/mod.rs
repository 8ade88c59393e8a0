//! Where things live (config file, state dir, connector dirs) and the keys
//! configured for a connector, from the INI file and the environment.

mod memo;

use crate::connector::{Connector, ConnectorDirs};
use crate::error::usage;
use crate::names;
use crate::pool::quota::{ALL_MODELS, Limit, Metric, Window};
use crate::pool::{KeyEntry, Quotas};
use crate::secret::ApiKey;
use anyhow::Result;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::path::{Path, PathBuf};

/// Environment variable naming the INI file (api-jongler's).
pub const CONFIG_ENV: &str = "APIJONGLER_CONFIG";
/// Environment variable naming the state dir.
pub const STATE_DIR_ENV: &str = "JONGLER_STATE_DIR";
/// Environment variable naming a connectors dir.
pub const CONNECTORS_DIR_ENV: &str = "JONGLER_CONNECTORS_DIR";

/// The resolved locations.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The INI file with the keys.
    pub config_file: PathBuf,
    /// Whether `config_file` was named by the user (then it must exist).
    pub config_explicit: bool,
    /// The state dir holding the marker files.
    pub state_dir: PathBuf,
    /// Where user connector files are read from.
    pub connector_dirs: ConnectorDirs,
}

impl Paths {
    /// Resolves each location: the flag, else the environment, else the platform default.
    pub fn resolve(
        config: Option<&Path>,
        state_dir: Option<&Path>,
        connectors_dir: Option<&Path>,
    ) -> Result<Paths> {
        let env_path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let config_base = directories::BaseDirs::new().map(|b| b.config_dir().join("jongler"));

        let (config_file, config_explicit) = match config
            .map(Path::to_path_buf)
            .or_else(|| env_path(CONFIG_ENV))
        {
            Some(path) => (path, true),
            None => match &config_base {
                Some(base) => (base.join("APIJongler.ini"), false),
                None => {
                    return Err(usage(format!(
                        "no home directory: pass --config or set {CONFIG_ENV}"
                    )));
                }
            },
        };

        let state_dir = match state_dir
            .map(Path::to_path_buf)
            .or_else(|| env_path(STATE_DIR_ENV))
        {
            Some(path) => path,
            None => directories::BaseDirs::new()
                .map(|b| b.state_dir().unwrap_or(b.data_local_dir()).join("jongler"))
                .ok_or_else(|| {
                    usage(format!(
                        "no home directory: pass --state-dir or set {STATE_DIR_ENV}"
                    ))
                })?,
        };

        let mut dirs = ConnectorDirs::default();
        if let Some(base) = &config_base {
            dirs.optional.push(base.join("connectors"));
        }
        if let Some(env) = env_path(CONNECTORS_DIR_ENV) {
            dirs.required.push(env);
        }
        if let Some(flag) = connectors_dir {
            dirs.required.push(flag.to_path_buf());
        }
        Ok(Paths {
            config_file,
            config_explicit,
            state_dir,
            connector_dirs: dirs,
        })
    }
}

/// A section as rust-ini read it: its name (`None` before any header) and
/// its `(name, value)` entries.
type RawSection<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>);

/// A settings section: its name and its `(name, value, line)` entries.
pub type Settings = (String, Vec<(String, String, usize)>);

/// The keys of every section of an INI file, in file order.
#[derive(Debug, Default)]
pub struct KeyFile {
    /// The file they came from.
    pub path: PathBuf,
    /// Section name → keys.
    pub sections: Vec<(String, Vec<KeyEntry>)>,
    /// Sections whose name has a space — `[limits <connector>]`,
    /// `[groups <connector>]` — as (section, [(name, value, line)]).
    pub settings: Vec<Settings>,
}

impl KeyFile {
    /// Reads and validates an INI key file. `Ok(None)` if it does not exist.
    pub fn read(path: &Path) -> Result<Option<KeyFile>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(usage(format!(
                    "can't read config file {}: {e}",
                    path.display()
                )));
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        // Big pools: rust-ini's reading of this very content, remembered.
        if text.len() >= memo::WORTH_IT
            && let Some(file) = memo::recall(path, text)
        {
            return Ok(Some(file));
        }
        let file = Self::parse(text, path)?;
        if text.len() >= memo::WORTH_IT {
            memo::remember(path, text, &file);
        }
        Ok(Some(file))
    }

    /// Parses INI text with rust-ini — `[section]` headers, `name = value` or
    /// `name: value` lines, `#` and `;` comment lines; no quotes, no escapes,
    /// no interpolation, as api-jongler's configparser reads a key file — and
    /// holds it to configparser's strict mode on top: a section or a name
    /// given twice is an error, and `[DEFAULT]` (whose keys configparser
    /// would copy into every section) is refused. Error messages give line
    /// numbers, never a line's text (it may hold a key).
    pub fn parse(text: &str, path: &Path) -> Result<KeyFile> {
        let file = path.display().to_string();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let parts = parse_ini(text).map_err(|(line, msg)| not_ini(text, &file, line, msg))?;
        let merged = merge_parts(&parts);
        let at = Place { text, file: &file };
        let mut sections: Vec<(String, Vec<KeyEntry>)> = Vec::new();
        let mut settings: Vec<Settings> = Vec::new();
        let mut seen_sections: HashSet<&str> = HashSet::with_capacity(8);
        for (section, properties) in &merged {
            let Some(section) = *section else {
                at.check_outside_sections(properties)?;
                continue;
            };
            at.check_header(section, &mut seen_sections)?;
            if let Some((name, _)) = properties.iter().find(|(n, _)| n.contains(['\n', '\r'])) {
                // rust-ini reads a name up to the next '=' or ':', across lines.
                return Err(usage(format!(
                    "config file {file} is not valid INI: line {}: neither a [section] nor a `name = key` line",
                    line_starting(text, name)
                )));
            }
            if section.contains(' ') {
                settings.push((section.to_string(), at.settings(section, properties)?));
            } else {
                sections.push((section.to_string(), at.keys(section, properties)?));
            }
        }
        Ok(KeyFile {
            path: path.to_path_buf(),
            sections,
            settings,
        })
    }

    /// The keys of one section, if it exists.
    pub fn section(&self, name: &str) -> Option<&[KeyEntry]> {
        self.sections
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, k)| k.as_slice())
    }
}

/// Above this size a key file is parsed in two halves at once (rust-ini
/// costs about 0.4 µs a key; 10,000 keys are about 450 KB).
const PARALLEL_FROM: usize = 128 * 1024;

/// rust-ini's error at `line`, made to name the line at fault: an unclosed
/// header, or the line without '=' (rust-ini reports where it gave up).
fn not_ini(text: &str, file: &str, mut line: usize, mut msg: String) -> anyhow::Error {
    let unclosed = text
        .lines()
        .position(|l| l.trim_start().starts_with('[') && !l.contains(']'));
    if let Some(n) = unclosed {
        // rust-ini reads a header up to the next ']', to the end.
        line = n + 1;
        msg = "a section header needs a closing ']' on its line".into();
    } else if msg.starts_with("expecting") {
        // rust-ini ran to the end looking for '=': name the line
        // that lacks one rather than the end of the file.
        line = text
            .lines()
            .enumerate()
            .take(line)
            .filter(|(_, l)| {
                let l = l.trim();
                !(l.is_empty() || l.starts_with(['#', ';', '[']) || l.contains(['=', ':']))
            })
            .last()
            .map_or(line, |(n, _)| n + 1);
        msg = "neither a [section] nor a `name = key` line".into();
    }
    // Never past the last line (rust-ini counts on at the end).
    let line = line.clamp(1, text.lines().count().max(1));
    usage(format!(
        "config file {file} is not valid INI: line {line}: {msg}"
    ))
}

/// The sections of every part in file order; a part that starts in the
/// middle of a section continues it.
fn merge_parts(parts: &[(ini::Ini, usize)]) -> Vec<RawSection<'_>> {
    let mut merged: Vec<RawSection<'_>> = Vec::new();
    for (n, (ini, _)) in parts.iter().enumerate() {
        let mut continues = n > 0;
        for (section, properties) in ini {
            if section.is_none() && properties.is_empty() {
                continue;
            }
            match merged.last_mut() {
                Some((last, list)) if continues && *last == section => {
                    list.extend(properties.iter())
                }
                _ => merged.push((section, properties.iter().collect())),
            }
            continues = false;
        }
    }
    merged
}

/// The key file being read, for messages that name a line of it (never its
/// text: a line may hold a key).
struct Place<'a> {
    text: &'a str,
    file: &'a str,
}

impl Place<'_> {
    /// Lines before any header are an error: keys go under a section.
    fn check_outside_sections(&self, properties: &[(&str, &str)]) -> Result<()> {
        let (text, file) = (self.text, self.file);
        if let Some((name, _)) = properties.first().filter(|(n, _)| n.contains(['\n', '\r'])) {
            // A line without '=' before any header: rust-ini read on
            // to the next '='. Its text may be a key: not shown.
            return Err(usage(format!(
                "config file {file}, line {}: neither a [section] header nor a `name = key` line; keys go under [<connector name>]",
                line_starting(text, name)
            )));
        }
        if let Some((name, _)) = properties.first() {
            return Err(usage(format!(
                "config file {file}, line {}: `{}` is outside any [section]; put keys under [<connector name>]",
                line_of(text, None, name, 0),
                name.escape_debug()
            )));
        }
        Ok(())
    }

    /// A header must have a name, close on its line, come once, and not be
    /// `[DEFAULT]`.
    fn check_header<'t>(&self, section: &'t str, seen: &mut HashSet<&'t str>) -> Result<()> {
        let (text, file) = (self.text, self.file);
        if section.is_empty() {
            return Err(usage(format!(
                "config file {file} is not valid INI: line {}: a section header needs a name",
                line_of(text, Some(section), "", 0)
            )));
        }
        if section.contains(['\n', '\r']) {
            // rust-ini reads a header up to the next ']', across lines.
            let line = line_starting(text, &format!("[{section}"));
            return Err(usage(format!(
                "config file {file} is not valid INI: line {line}: a section header needs a closing ']' on its line"
            )));
        }
        if !seen.insert(section) {
            return Err(usage(format!(
                "config file {file} is not valid INI: line {}: section [{section}] appears twice",
                section_line(text, section, 1)
            )));
        }
        if section == "DEFAULT" {
            return Err(usage(format!(
                "config file {file}, line {}: [DEFAULT] is not supported (configparser would give its \
                 entries to every section); put keys under [<connector name>]",
                section_line(text, section, 0)
            )));
        }
        Ok(())
    }

    fn twice(&self, section: &str, name: &str, what: &str) -> anyhow::Error {
        let line = line_of(self.text, Some(section), name, 1);
        usage(format!(
            "config file {}, section [{section}], line {line}: {what} `{name}` appears twice",
            self.file
        ))
    }

    /// A settings section's `(name, value, line)` entries, each name once.
    fn settings(
        &self,
        section: &str,
        properties: &[(&str, &str)],
    ) -> Result<Vec<(String, String, usize)>> {
        let mut names: HashSet<&str> = HashSet::with_capacity(properties.len());
        let mut entries = Vec::with_capacity(properties.len());
        for &(name, value) in properties {
            if !names.insert(name) {
                return Err(self.twice(section, name, "setting"));
            }
            let line = line_of(self.text, Some(section), name, 0);
            entries.push((name.to_string(), value.trim().to_string(), line));
        }
        Ok(entries)
    }

    /// A connector section's keys: each name once, usable as a file name,
    /// with a value.
    fn keys(&self, section: &str, properties: &[(&str, &str)]) -> Result<Vec<KeyEntry>> {
        let (text, file) = (self.text, self.file);
        let mut names: HashSet<&str> = HashSet::with_capacity(properties.len());
        let mut keys = Vec::with_capacity(properties.len());
        for &(name, value) in properties {
            if !names.insert(name) {
                return Err(self.twice(section, name, "key name"));
            }
            names::check(name).map_err(|why| {
                usage(format!(
                    "config file {file}, section [{section}], line {}: key name {name:?} can't be used ({why}); \
                     key names become file names in the state dir",
                    line_of(text, Some(section), name, 0)
                ))
            })?;
            let value = value.trim();
            if value.is_empty() {
                return Err(usage(format!(
                    "config file {file}, section [{section}], line {}: key `{name}` has no value",
                    line_of(text, Some(section), name, 0)
                )));
            }
            keys.push(KeyEntry {
                name: name.to_string(),
                key: ApiKey::new(value),
            });
        }
        Ok(keys)
    }
}

/// Parses INI text with rust-ini: `(ini, lines before it)` per part. A big
/// file is cut in two at a line boundary and the halves are parsed on two
/// threads, the second starting with the header of the section it falls in
/// (values are one line each, so a line boundary is a safe cut). An error is
/// `(line from 1, message)`.
fn parse_ini(text: &str) -> Result<Vec<(ini::Ini, usize)>, (usize, String)> {
    let parse = |text: &str, offset: usize| {
        let option = ini::ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..ini::ParseOption::default()
        };
        ini::Ini::load_from_str_opt(text, option)
            .map(|ini| (ini, offset))
            .map_err(|e| (e.line + 1 + offset, e.msg.into_owned()))
    };
    let cut = (text.len() >= PARALLEL_FROM)
        .then(|| text[text.len() / 2..].find('\n'))
        .flatten()
        .map(|i| text.len() / 2 + i + 1)
        .filter(|&cut| cut < text.len());
    let Some(cut) = cut else {
        return parse(text, 0).map(|part| vec![part]);
    };
    let (first, second) = text.split_at(cut);
    let header = first
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .unwrap_or("");
    let lines_before = first.bytes().filter(|b| *b == b'\n').count();
    let second = format!("{header}\n{second}");
    let (a, b) = std::thread::scope(|scope| {
        let b = scope.spawn(|| parse(&second, lines_before - 1));
        (parse(first, 0), b.join())
    });
    let b = b.map_err(|_| (0, "the parser panicked".to_string()))?;
    Ok(vec![a?, b?])
}

/// The line (from 1) where `fragment` (from rust-ini's result) starts.
fn line_starting(text: &str, fragment: &str) -> usize {
    let first = fragment.lines().next().unwrap_or("");
    text.find(first)
        .map_or(0, |at| text[..at].matches('\n').count() + 1)
}

/// The line (from 1) of the `nth` header of `section` (0 if not found). Only
/// for error messages: the parse itself is rust-ini's.
fn section_line(text: &str, section: &str, nth: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            l.trim()
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|s| s.trim() == section)
        })
        .nth(nth)
        .map_or(0, |(n, _)| n + 1)
}

/// The line (from 1) of the `nth` entry `name` in `section` (`None`: before
/// any section), 0 if not found. Only for error messages.
fn line_of(text: &str, section: Option<&str>, name: &str, nth: usize) -> usize {
    let mut current: Option<&str> = None;
    let mut found = 0;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = Some(header.trim_end_matches(']').trim());
            if name.is_empty() && current == section {
                return n + 1;
            }
            continue;
        }
        if current != section {
            continue;
        }
        let key = trimmed.split(['=', ':']).next().unwrap_or("").trim();
        if key == name {
            if found == nth {
                return n + 1;
            }
            found += 1;
        }
    }
    0
}

/// Keys from the environment: `PREFIX`, then `PREFIX_1`, `PREFIX_2` … in numeric order.
pub fn env_keys(prefix: &str, vars: impl IntoIterator<Item = (String, String)>) -> Vec<KeyEntry> {
    let mut found: Vec<(u64, KeyEntry)> = Vec::new();
    for (name, value) in vars {
        let order = if name == prefix {
            Some(0)
        } else {
            name.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('_'))
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok())
                .map(|n| n.saturating_add(1))
        };
        let value = value.trim();
        if let (Some(order), false) = (order, value.is_empty()) {
            found.push((
                order,
                KeyEntry {
                    name,
                    key: ApiKey::new(value),
                },
            ));
        }
    }
    found.sort_by_key(|(order, _)| *order);
    found.into_iter().map(|(_, k)| k).collect()
}

/// The keys for `connector`: its INI section, then its environment keys. The
/// same value under two names is kept once (else one key could be used twice).
pub fn keys_for(
    connector: &Connector,
    paths: &Paths,
    use_env: bool,
) -> Result<(Vec<KeyEntry>, Quotas)> {
    let file = KeyFile::read(&paths.config_file)?;
    if file.is_none() && paths.config_explicit {
        return Err(usage(format!(
            "config file {} does not exist (named by --config or {CONFIG_ENV}); write one: a [<connector name>] section of `name = key` lines, e.g. [generativelanguage.googleapis.com] then key1 = AIza…",
            paths.config_file.display()
        )));
    }
    let has_file = file.is_some();
    let settings = file
        .as_ref()
        .map(|f| f.settings.clone())
        .unwrap_or_default();
    let mut keys: Vec<KeyEntry> = file
        .and_then(|f| f.sections.into_iter().find(|(s, _)| *s == connector.name))
        .map(|(_, keys)| keys)
        .unwrap_or_default();
    let from_file = keys.len();
    if let (true, Some(prefix)) = (use_env, &connector.key_env_prefix) {
        keys.extend(env_keys(prefix, std::env::vars()));
    }
    // Hashes of values are enough to find duplicates cheaply at 10,000 keys.
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
    let mut keep = vec![true; keys.len()];
    for (i, entry) in keys.iter().enumerate() {
        if let Some(&first) = seen.get(entry.key.expose()) {
            // The same key in the file and in the environment is the usual
            // way to have both at hand: said at -v only. Twice in one place
            // is likely a paste mistake.
            let level = if first < from_file && i >= from_file {
                log::Level::Info
            } else {
                log::Level::Warn
            };
            log::log!(
                level,
                "key `{}` holds the same key as `{}`; using it once, as `{}`",
                entry.name,
                keys[first].name,
                keys[first].name
            );
            keep[i] = false;
        } else {
            seen.insert(entry.key.expose(), i);
        }
    }
    drop(seen);
    let mut keep = keep.into_iter();
    keys.retain(|_| keep.next().unwrap_or(true));
    let unique = keys;
    if unique.is_empty() && connector.requires_api_key {
        let name = &connector.name;
        let env_hint = connector
            .key_env_prefix
            .as_ref()
            .map(|p| format!(", or set {p} / {p}_1 … {p}_N"))
            .unwrap_or_default();
        let where_ = if has_file {
            format!(
                "config file {} has no [{name}] section",
                paths.config_file.display()
            )
        } else {
            format!("config file {} does not exist", paths.config_file.display())
        };
        return Err(usage(format!(
            "no keys for `{name}`: {where_}; add\n\n    [{name}]\n    key1 = <your key>\n\nto it \
             (pass --config or set {CONFIG_ENV} to use another file{env_hint})"
        )));
    }
    let quotas = quotas_for(connector, &unique, &settings, &paths.config_file)?;
    Ok((unique, quotas))
}

/// The limits (the connector's, with `[limits <connector>]` lines of the INI
/// file replacing those for the same model) and the key groups
/// (`[groups <connector>]`: `group = key1, key2`).
fn quotas_for(
    connector: &Connector,
    keys: &[KeyEntry],
    settings: &[Settings],
    path: &Path,
) -> Result<Quotas> {
    let file = path.display();
    let name = &connector.name;
    let mut limits = connector.declared_limits();
    let mut groups = std::collections::HashMap::new();
    for (section, entries) in settings {
        let Some((kind, target)) = section.split_once(' ') else {
            continue;
        };
        if target.trim() != name {
            continue;
        }
        match kind {
            "limits" => {
                for (model, value, line) in entries {
                    let model = (model != ALL_MODELS).then(|| model.clone());
                    let mut parsed = Vec::new();
                    for item in value.split(',') {
                        let limit = parse_limit(item.trim(), model.clone()).map_err(|e| {
                            usage(format!(
                                "config file {file}, section [{section}], line {line}: {e}"
                            ))
                        })?;
                        parsed.push(limit);
                    }
                    limits.retain(|l| l.model != model);
                    limits.extend(parsed);
                }
            }
            "groups" => {
                for (group, value, line) in entries {
                    for member in value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                        if !keys.iter().any(|k| k.name == member) {
                            return Err(usage(format!(
                                "config file {file}, section [{section}], line {line}: group `{group}` names `{member}`, which is not a key of `{name}`"
                            )));
                        }
                        if let Some(other) = groups.insert(member.to_string(), group.clone()) {
                            return Err(usage(format!(
                                "config file {file}, section [{section}], line {line}: key `{member}` is in groups `{other}` and `{group}`"
                            )));
                        }
                    }
                }
            }
            // serve's clients (a client may share a connector's name).
            "client" => {}
            _ => {
                return Err(usage(format!(
                    "config file {file}: section [{section}] is neither [limits {name}] nor [groups {name}]"
                )));
            }
        }
    }
    Ok(Quotas {
        limits,
        groups,
        tz: connector.reset_tz().to_string(),
    })
}

/// `10/1m`, `250 requests/day`, `250000 tokens/1m`.
pub(crate) fn parse_limit(text: &str, model: Option<String>) -> Result<Limit, String> {
    let (amount, window) = text.split_once('/').ok_or_else(|| {
        format!("limit {text:?} should look like `10/1m`, `250000 tokens/1m` or `250/day`")
    })?;
    let mut words = amount.split_whitespace();
    let n: u64 = words
        .next()
        .and_then(|n| n.replace('_', "").parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("limit {text:?} needs a positive number"))?;
    let metric = match words.next() {
        None | Some("requests") | Some("request") => Metric::Requests,
        Some("tokens") | Some("token") => Metric::Tokens,
        Some(other) => {
            return Err(format!(
                "limit {text:?}: {other:?} is neither requests nor tokens"
            ));
        }
    };
    Ok(Limit {
        metric,
        amount: n,
        window: Window::parse(window)?,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections_become_named_keys() {
        let f = KeyFile::parse(
            "[a.com]\nkey1 = v1\nkey2: v2\n\n[b]\nk=x=y\n",
            Path::new("t.ini"),
        )
        .unwrap();
        let a = f.section("a.com").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!((a[1].name.as_str(), a[1].key.expose()), ("key2", "v2"));
        assert_eq!(f.section("b").unwrap()[0].key.expose(), "x=y");
    }

    #[test]
    fn hostile_or_duplicate_key_names_are_refused_with_file_and_section() {
        for text in [
            "[s]\n../../etc = v\n",
            "[s]\n.x = v\n",
            "[s]\nk = a\nk = b\n",
            "[s]\nk =\n",
            "k = v\n",
        ] {
            let err = KeyFile::parse(text, Path::new("/x/keys.ini")).unwrap_err();
            assert!(format!("{err}").contains("/x/keys.ini"), "{err}");
            assert_eq!(crate::error::exit_code_of(&err).code(), 2);
        }
        let err = KeyFile::parse("[s\nk = v\n", Path::new("g.ini")).unwrap_err();
        assert!(format!("{err}").contains("not valid INI"), "{err}");
    }

    #[test]
    fn a_big_file_parsed_in_halves_reads_the_same_and_stays_strict() {
        let mut text = String::from("; a pool\n[a]\n");
        for i in 0..6000 {
            text.push_str(&format!(
                "key{i} = AIzaSyVALUE{i:08}xxxxxxxxxxxxxxxxxxxxxx\n"
            ));
        }
        text.push_str("[limits a]\n* = 5/2s\n[b]\nk = v\n");
        assert!(text.len() > PARALLEL_FROM);
        let f = KeyFile::parse(&text, Path::new("big.ini")).unwrap();
        let a = f.section("a").unwrap();
        assert_eq!(a.len(), 6000);
        assert_eq!(a[4321].name, "key4321");
        assert_eq!(
            a[4321].key.expose(),
            "AIzaSyVALUE00004321xxxxxxxxxxxxxxxxxxxxxx"
        );
        assert_eq!(f.section("b").unwrap().len(), 1);
        assert_eq!(f.settings.len(), 1);
        // A name given twice, once in each half.
        let twice = format!("{text}[c]\nx = 1\n").replace("[b]\nk = v", "[b]\nk = v\nk = w");
        let err = KeyFile::parse(&twice, Path::new("big.ini")).unwrap_err();
        assert!(format!("{err}").contains("`k` appears twice"), "{err}");
        let dup = text.replacen("key5999 =", "key1 =", 1);
        let err = KeyFile::parse(&dup, Path::new("big.ini")).unwrap_err();
        assert!(format!("{err}").contains("line 6002"), "{err}");
        // A broken line in the second half is reported at its own line.
        let broken = text.replacen("key5000 = ", "[key5000 = ", 1);
        let err = KeyFile::parse(&broken, Path::new("big.ini")).unwrap_err();
        assert!(format!("{err}").contains("line 5003"), "{err}");
        for broken in ["[a]\nk\n", "[a]\nk\nj = v\n"] {
            let err = KeyFile::parse(broken, Path::new("small.ini")).unwrap_err();
            assert!(
                format!("{err}").contains("line 2: neither a [section] nor a `name = key` line"),
                "{err}"
            );
        }
        let err = KeyFile::parse("[DEFAULT]\nk = v\n", Path::new("d.ini")).unwrap_err();
        assert!(
            format!("{err}").contains("[DEFAULT] is not supported"),
            "{err}"
        );
    }

    #[test]
    fn ini_limits_and_groups_override_the_connector() {
        let connector = Connector::parse(
            r#"{"name":"c","host":"h","limits":[{"requests":10,"per":"1m","model":"m1"},{"requests":5,"per":"1m"}]}"#,
            "t",
        )
        .unwrap();
        let f = KeyFile::parse(
            "[c]\nk1 = a\nk2 = b\n[limits c]\nm1 = 3/2s, 1000 tokens/1m\n[groups c]\nproject = k1, k2\n",
            Path::new("t.ini"),
        )
        .unwrap();
        let keys = f.section("c").unwrap().to_vec();
        let q = quotas_for(&connector, &keys, &f.settings, Path::new("t.ini")).unwrap();
        let labels: Vec<String> = q.limits.iter().map(Limit::label).collect();
        assert_eq!(
            labels,
            ["5 requests/1m", "3 requests/2s (m1)", "1000 tokens/1m (m1)"]
        );
        assert_eq!(q.groups["k2"], "project");
        let bad = KeyFile::parse("[c]\nk1 = a\n[groups c]\np = k9\n", Path::new("t.ini")).unwrap();
        assert!(quotas_for(&connector, &keys, &bad.settings, Path::new("t.ini")).is_err());
        let bad =
            KeyFile::parse("[c]\nk1 = a\n[limits c]\n* = lots\n", Path::new("t.ini")).unwrap();
        let err = quotas_for(&connector, &keys, &bad.settings, Path::new("t.ini")).unwrap_err();
        assert!(err.to_string().contains("line 4"), "{err}");
    }

    #[test]
    fn the_shipped_example_file_is_valid() {
        let text = include_str!("../../APIJongler.ini.example");
        let f = KeyFile::parse(text, Path::new("APIJongler.ini.example")).unwrap();
        assert_eq!(
            f.section("generativelanguage.googleapis.com")
                .unwrap()
                .len(),
            3
        );
        // Its commented-out settings are valid once uncommented.
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix(';')
                    .filter(|r| !r.is_empty() && !r.starts_with(' '))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let f = KeyFile::parse(&uncommented, Path::new("x")).unwrap();
        let connectors = crate::connector::Connectors::load(&Default::default()).unwrap();
        let gemini = connectors.get("generativelanguage.googleapis.com").unwrap();
        let keys = f.section(&gemini.name).unwrap().to_vec();
        let q = quotas_for(gemini, &keys, &f.settings, Path::new("x")).unwrap();
        assert_eq!(q.groups.len(), 2);
        assert!(
            q.limits
                .iter()
                .any(|l| l.label() == "250 requests/day (gemini-2.5-flash)")
        );
    }

    #[test]
    fn env_keys_come_in_numeric_order() {
        let vars = [
            ("P_10", "j"),
            ("P_2", "b"),
            ("P", "a"),
            ("P_X", "no"),
            ("PX_1", "no"),
            ("P_3", ""),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let keys = env_keys("P", vars);
        let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["P", "P_2", "P_10"]);
    }
}
