//! The only writer to stdout: answers and status reports.

use crate::jongler::{KeyHealth, Response};
use crate::pool::history::{History, Totals};
use crate::pool::{KeyStatus, State};
use anyhow::Result;
use colored::Colorize;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;

/// One connector's key states, as `status --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorStatus {
    /// The connector's name.
    pub connector: String,
    /// Its keys.
    pub keys: Vec<KeyStatus>,
    /// `serve`'s clients and what each did since it started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<crate::serve::clients::ClientReport>,
    /// The usage history, oldest day first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<DayReport>,
}

/// One day of the usage history, as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DayReport {
    /// `2026-12-05` (the daily-quota day).
    pub date: String,
    /// Over every key.
    pub total: Totals,
    /// By `serve` client.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub clients: BTreeMap<String, Totals>,
    /// By key (`status --history` only: a big pool has many).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<BTreeMap<String, Totals>>,
}

/// The days of `history` as `status` shows them; `keys`: with each key's.
pub fn day_reports(history: &History, keys: bool) -> Vec<DayReport> {
    history
        .days
        .iter()
        .map(|(date, day)| DayReport {
            date: date.clone(),
            total: day.total(),
            clients: day.clients.clone(),
            keys: keys.then(|| day.keys.clone()),
        })
        .collect()
}

/// Writes `status --history`: per connector a line per day (requests,
/// tokens, rate limits absorbed, errors), then per client, then (verbose)
/// per key.
pub fn write_status_history(statuses: &[ConnectorStatus], verbose: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for status in statuses {
        writeln!(out, "{}: usage by day", status.connector)?;
        if status.history.is_empty() {
            writeln!(out, "  nothing counted yet")?;
            continue;
        }
        writeln!(
            out,
            "  {:<10}  {:>9}  {:>12}  {:>6}  {:>6}",
            "day", "requests", "tokens", "429s", "errors"
        )?;
        for day in &status.history {
            write_totals(&mut out, "  ", &day.date, &day.total)?;
        }
        let named: Vec<(&str, &str, &BTreeMap<String, Totals>)> = status
            .history
            .iter()
            .flat_map(|d| {
                let keys = d
                    .keys
                    .iter()
                    .filter(|_| verbose)
                    .map(|k| ("key", d.date.as_str(), k));
                std::iter::once(("client", d.date.as_str(), &d.clients)).chain(keys)
            })
            .collect();
        for (what, date, by) in named {
            for (name, totals) in by {
                write_totals(&mut out, "  ", &format!("{date} {what} {name}"), totals)?;
            }
        }
    }
    Ok(())
}

fn write_totals(out: &mut impl Write, indent: &str, label: &str, t: &Totals) -> Result<()> {
    writeln!(
        out,
        "{indent}{label:<10}  {:>9}  {:>12}  {:>6}  {:>6}",
        t.requests, t.tokens, t.rate_limited, t.errors
    )?;
    Ok(())
}

/// Writes an answer: optionally the status line and headers, then the body,
/// indented when `pretty` and it is JSON.
pub fn write_response(response: &Response, include: bool, pretty: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if include {
        writeln!(out, "{} {}", response.version, status_line(response.status))?;
        for (name, value) in &response.headers {
            writeln!(out, "{name}: {value}")?;
        }
        writeln!(out)?;
    }
    if pretty {
        match serde_json::from_slice::<serde_json::Value>(&response.body) {
            Ok(json) => {
                serde_json::to_writer_pretty(&mut out, &json)?;
                writeln!(out)?;
            }
            Err(_) => {
                log::warn!("--pretty: the answer is not JSON; printing it as is");
                out.write_all(&response.body)?;
            }
        }
    } else {
        out.write_all(&response.body)?;
        // At a terminal the prompt would land on the last line of the body;
        // in a pipe the body goes out byte for byte.
        if !response.body.is_empty()
            && !response.body.ends_with(b"\n")
            && std::io::IsTerminal::is_terminal(&std::io::stdout())
        {
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn status_line(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_string()
}

/// Writes `status` as JSON: one object for one connector, a list for all.
pub fn write_status_json(statuses: &[ConnectorStatus], one: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if one && statuses.len() == 1 {
        serde_json::to_writer_pretty(&mut out, &statuses[0])?;
    } else {
        serde_json::to_writer_pretty(&mut out, statuses)?;
    }
    writeln!(out)?;
    Ok(())
}

/// Pools larger than this fold their VACANT keys with room into one line.
const FOLD_ABOVE: usize = 40;

/// Writes `status`: per connector a summary line, then one line per key —
/// state, until when, why, and the limit closest to full. `verbose` lists
/// every limit and every key.
pub fn write_status_table(statuses: &[ConnectorStatus], color: bool, verbose: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if statuses.is_empty() {
        writeln!(out, "no keys configured")?;
    }
    let now = jiff::Timestamp::now();
    let paint = Paint(color);
    for status in statuses {
        writeln!(out, "{}", summary_line(status, now))?;
        let width = status.keys.iter().map(|k| k.name.len()).max().unwrap_or(0);
        let fold = !verbose && status.keys.len() > FOLD_ABOVE;
        let mut folded: Vec<&str> = Vec::new();
        for key in &status.keys {
            let closest = key
                .usage
                .iter()
                .max_by(|a, b| a.fill().total_cmp(&b.fill()));
            if fold
                && key.state == State::Vacant
                && key.models.is_empty()
                && closest.is_none_or(|u| u.fill() < 0.8)
            {
                folded.push(&key.name);
                continue;
            }
            let closest = closest.filter(|_| !verbose);
            let line = key_line(key, &status.connector, width, closest, now, paint);
            writeln!(out, "{}", line.trim_end())?;
            if verbose {
                write_key_details(&mut out, key, width)?;
            }
        }
        if !folded.is_empty() {
            let names = match folded.as_slice() {
                [one] => one.to_string(),
                [first, .., last] => format!("{first} … {last}"),
                [] => String::new(),
            };
            writeln!(
                out,
                "  {} {} with room ({names}; -v lists them)",
                folded.len(),
                paint.state("vacant".into(), State::Vacant),
            )?;
        }
    }
    Ok(())
}

/// Colours a state's name, or not.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn state(self, text: String, state: State) -> String {
        if !self.0 {
            return text;
        }
        match state {
            State::Vacant => text.green().to_string(),
            State::Locked => text.cyan().to_string(),
            State::Lockdown => text.yellow().to_string(),
            State::Error => text.red().to_string(),
        }
    }
}

/// A key's line in the status table: name, state, until when and why, and
/// the limit `closest` to full (or, for a bad key, how to fix it).
fn key_line(
    key: &KeyStatus,
    connector: &str,
    width: usize,
    closest: Option<&crate::pool::quota::LimitUse>,
    now: jiff::Timestamp,
    paint: Paint,
) -> String {
    let state = paint.state(format!("{:<8}", key.state.as_str()), key.state);
    let mut line = format!("  {:<width$}  {state}", key.name);
    if let Some(until) = key.until {
        line.push_str(&format!(
            "  in {} (until {until:.0})",
            human(until.duration_since(now))
        ));
    }
    if let Some(reason) = &key.reason {
        line.push_str(&format!("  {reason}"));
    }
    if key.state == State::Error {
        line.push_str(&format!(
            "  → fix the key, then `jongler --cleanup {connector}`"
        ));
    } else if let Some(u) = closest {
        line.push_str(&format!("  {}", u.compact()));
    }
    if let Some(group) = &key.group {
        line.push_str(&format!("  (group {group})"));
    }
    line
}

/// `-v`: every limit of a key and its model lockdowns, under its line.
fn write_key_details(out: &mut impl Write, key: &KeyStatus, width: usize) -> Result<()> {
    let pad = " ".repeat(width + 4);
    // A bad key's quota is beside the point.
    for u in key.usage.iter().filter(|_| key.state != State::Error) {
        let frees = u
            .frees_at
            .map(|t| format!(", frees at {t:.0}"))
            .unwrap_or_default();
        let learned = match u.source {
            "declared" => String::new(),
            source => format!(" ({source})"),
        };
        writeln!(
            out,
            "{pad}{}{learned}: {} used, {} left{frees}",
            u.limit, u.used, u.left
        )?;
    }
    for m in key.models.iter().skip(usize::from(
        key.state == State::Lockdown && key.models.len() == 1,
    )) {
        writeln!(
            out,
            "{pad}{} locked down until {:.0}: {}",
            m.model, m.until, m.reason
        )?;
    }
    Ok(())
}

/// `gemini: 8 keys: 5 vacant, 1 locked, 1 lockdown, 1 error · today 212
/// requests, 3 rate limits absorbed · next back in 4m 10s`.
pub fn summary_line(status: &ConnectorStatus, now: jiff::Timestamp) -> String {
    let count = |s: State| status.keys.iter().filter(|k| k.state == s).count();
    let states: Vec<String> = [State::Vacant, State::Locked, State::Lockdown, State::Error]
        .into_iter()
        .filter(|s| count(*s) > 0)
        .map(|s| format!("{} {}", count(s), s.as_str()))
        .collect();
    // Keys of one group share one count: take it once.
    let mut groups = std::collections::HashSet::new();
    let (mut requests, mut limited) = (0, 0);
    for key in &status.keys {
        if key.group.as_ref().is_none_or(|g| groups.insert(g.clone())) {
            requests += key.requests_today;
            limited += key.rate_limited_today;
        }
    }
    let mut line = format!(
        "{}: {} key{}: {} · today {requests} request{}, {limited} rate limit{} absorbed",
        status.connector,
        status.keys.len(),
        if status.keys.len() == 1 { "" } else { "s" },
        states.join(", "),
        if requests == 1 { "" } else { "s" },
        if limited == 1 { "" } else { "s" },
    );
    if let Some(next) = status
        .keys
        .iter()
        .filter(|k| k.state == State::Lockdown)
        .filter_map(|k| k.until)
        .min()
    {
        line.push_str(&format!(
            " · next back in {}",
            human(next.duration_since(now))
        ));
    }
    line
}

/// Standard output for whole lines: each `write_all` goes out at once
/// (`jongler batch --out -`: a reader sees only whole answers).
pub struct Lines;

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = std::io::stdout().lock();
        out.write_all(buf)?;
        out.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
}

/// Writes plain text as is (the demo's summary).
pub fn write_text(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Writes a shell completion script for `cmd`.
pub fn write_completions(shell: clap_complete::Shell, cmd: &mut clap::Command) -> Result<()> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, cmd, "jongler", &mut out);
    out.flush()?;
    Ok(())
}

/// Pools bigger than this get a `check` summary instead of a line a key.
const CHECK_LINES: usize = 40;

/// Writes `keys list`: a name and state a line, or a JSON array of
/// `{"name", "state"}`. Never a value.
pub fn write_key_list(states: &[KeyStatus], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<serde_json::Value> = states
            .iter()
            .map(|k| serde_json::json!({"name": k.name, "state": k.state.as_str()}))
            .collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
    } else {
        let width = states.iter().map(|k| k.name.len()).max().unwrap_or(0);
        for key in states {
            writeln!(out, "{:<width$}  {}", key.name, key.state.as_str())?;
        }
    }
    Ok(())
}

/// Writes a `check` report: a line a key (JSON with `json`); for a pool of
/// more than [`CHECK_LINES`] keys, unless `every_key`, counts by outcome and
/// the keys that are not ok (the first screenful of them).
pub fn write_health(report: &[KeyHealth], json: bool, every_key: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let width = report.iter().map(|k| k.name.len()).max().unwrap_or(0);
    let shown: Vec<&KeyHealth> = if every_key || report.len() <= CHECK_LINES {
        report.iter().collect()
    } else {
        use crate::jongler::Health;
        let mut counts: Vec<(Health, usize)> = Vec::new();
        for key in report {
            match counts.iter_mut().find(|(h, _)| *h == key.health) {
                Some((_, n)) => *n += 1,
                None => counts.push((key.health, 1)),
            }
        }
        counts.sort_by_key(|(h, _)| *h != Health::Ok);
        let summary: Vec<String> = counts
            .iter()
            .map(|(h, n)| format!("{n} {}", h.as_str()))
            .collect();
        writeln!(out, "{} keys checked: {}", report.len(), summary.join(", "))?;
        let not_ok: Vec<&KeyHealth> = report.iter().filter(|k| k.health != Health::Ok).collect();
        if not_ok.len() > CHECK_LINES {
            for key in &not_ok[..CHECK_LINES - 1] {
                writeln!(out, "{}", health_line(key, width))?;
            }
            writeln!(
                out,
                "… {} more not ok (-v lists every key, --json too)",
                not_ok.len() - (CHECK_LINES - 1)
            )?;
            return Ok(());
        }
        not_ok
    };
    for key in shown {
        writeln!(out, "{}", health_line(key, width))?;
    }
    Ok(())
}

fn health_line(key: &KeyHealth, width: usize) -> String {
    let line = format!(
        "{:<width$}  {:<12}  {}",
        key.name,
        key.health.as_str(),
        key.detail
    );
    line.trim_end().to_string()
}

/// A duration as people say it: `42s`, `4m 10s`, `3h 5m`.
pub(crate) fn human(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}
