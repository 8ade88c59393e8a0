//! The only writer to stdout: answers and status reports.

use crate::jongler::{KeyHealth, Response};
use crate::pool::{KeyStatus, State};
use anyhow::Result;
use colored::Colorize;
use serde::Serialize;
use std::io::Write;

/// One connector's key states, as `status --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorStatus {
    /// The connector's name.
    pub connector: String,
    /// Its keys.
    pub keys: Vec<KeyStatus>,
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

/// Writes `status` as a table.
pub fn write_status_table(statuses: &[ConnectorStatus], color: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if statuses.is_empty() {
        writeln!(out, "no keys configured")?;
    }
    let now = jiff::Timestamp::now();
    for status in statuses {
        let width = status.keys.iter().map(|k| k.name.len()).max().unwrap_or(0);
        writeln!(out, "{}", status.connector)?;
        for key in &status.keys {
            let state = format!("{:<8}", key.state.as_str());
            let state = if color {
                match key.state {
                    State::Vacant => state.green().to_string(),
                    State::Locked => state.cyan().to_string(),
                    State::Lockdown => state.yellow().to_string(),
                    State::Error => state.red().to_string(),
                }
            } else {
                state
            };
            let mut line = format!("  {:<width$}  {state}", key.name);
            if let Some(until) = key.until {
                let left = until.duration_since(now);
                line.push_str(&format!("  until {until:.0} (in {})", human(left)));
            }
            if let Some(reason) = &key.reason {
                line.push_str(&format!("  {reason}"));
            }
            if let Some(group) = &key.group {
                line.push_str(&format!("  (group {group})"));
            }
            writeln!(out, "{}", line.trim_end())?;
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
        }
    }
    Ok(())
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

/// Writes a `check` report.
pub fn write_health(report: &[KeyHealth], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let width = report.iter().map(|k| k.name.len()).max().unwrap_or(0);
    for key in report {
        let line = format!(
            "{:<width$}  {:<12}  {}",
            key.name,
            key.health.as_str(),
            key.detail
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn human(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}
