//! `jongler demo`: the whole job on this machine with no config, no keys and
//! no network — the Gemini emulator in-process, made-up keys (one invalid),
//! small quotas, a temporary state dir, and a live table of the key states.

use crate::connector::Connector;
use crate::emulator::{Behavior, Emulator, EmulatorConfig};
use crate::error::usage;
use crate::jongler::{Jongler, Options};
use crate::pool::KeyEntry;
use crate::pool::files::FileStore;
use crate::pool::state::StateStore;
use crate::pool::{KeyStatus, State};
use crate::secret::ApiKey;
use anyhow::Result;
use colored::Colorize;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Requests per window each demo key may send.
const QUOTA: u32 = 3;
/// The window of the demo quota.
const WINDOW: Duration = Duration::from_secs(2);
/// How long the emulator takes per answer.
const LATENCY: Duration = Duration::from_millis(80);

/// What the demo does.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Requests to deliver.
    pub requests: usize,
    /// Threads sending them at once.
    pub workers: usize,
    /// Keys in the pool, the last of them invalid.
    pub keys: usize,
    /// Draw a live table (a terminal) rather than plain lines.
    pub live: bool,
    /// Color the table.
    pub color: bool,
}

/// What the demo achieved.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// Requests delivered (2xx).
    pub delivered: usize,
    /// Requests asked for.
    pub requests: usize,
    /// 429s the pool absorbed (answered by the emulator, never seen by a caller).
    pub rate_limited: u64,
    /// Upstream requests beyond one per delivered request.
    pub retries: u64,
    /// Keys marked ERROR.
    pub errors: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
    /// The time the quotas allow at best.
    pub ideal: Duration,
}

/// Runs the demo; the table goes to stderr, the summary is returned. With
/// `redis` (`--state`), the pool's state is kept there rather than in a
/// temporary dir, and the demo's marks are cleaned up afterwards.
pub fn run(opts: DemoOptions, redis: Option<crate::pool::Backend>) -> Result<DemoSummary> {
    validate(&opts)?;
    let names: Vec<String> = (1..=opts.keys).map(|i| format!("demo-key-{i}")).collect();
    let values: Vec<String> = (1..=opts.keys)
        .map(|i| {
            format!(
                "AIzaDEMO-{i:02}-{:016x}",
                std::process::id() as u64 * 7919 + i as u64
            )
        })
        .collect();
    let emulator = start_emulator(&values)?;
    // On a shared Redis, a name of its own: demos running at once don't mix.
    let name = match &redis {
        Some(_) => format!("gemini-demo-{}", std::process::id()),
        None => "gemini-demo".to_string(),
    };
    let connector = Connector::parse(&emulator.connector_json(&name), "(demo)")?;
    let state = tempfile::Builder::new().prefix("jongler-demo-").tempdir()?;
    let keys = names
        .iter()
        .zip(&values)
        .map(|(name, value)| KeyEntry {
            name: name.clone(),
            key: ApiKey::new(value.as_str()),
        })
        .collect();
    let options = Options {
        wait: Duration::from_secs(120),
        ..Options::default()
    };
    let store: Arc<dyn StateStore> = match &redis {
        Some(backend) => backend.store(&connector.name, &[]),
        None => Arc::new(FileStore::new(state.path(), &connector.name, &[])),
    };
    let jongler = Jongler::with_keys(connector.clone(), keys, store.clone(), &options)?;
    // Whatever happens next, the demo's marks don't stay in a shared Redis.
    let _clean_up = CleanUp(store, redis.is_some());

    eprintln!(
        "jongler demo: {} requests, {} workers, {} keys, quota {QUOTA} per {}s per key",
        opts.requests,
        opts.workers,
        opts.keys,
        WINDOW.as_secs()
    );
    // Our own warnings would tear the table; the table shows what they say.
    let level = log::max_level();
    log::set_max_level(log::LevelFilter::Error);
    let started = Instant::now();
    let delivered = drive(&jongler, &emulator, &values, opts, started);
    log::set_max_level(level);

    let stats = emulator.stats();
    let errors = jongler
        .key_states()?
        .into_iter()
        .filter(|k| k.state == State::Error)
        .map(|k| k.name)
        .collect();
    Ok(DemoSummary {
        delivered,
        requests: opts.requests,
        rate_limited: stats.by_status.get(&429).copied().unwrap_or(0),
        retries: stats.requests.saturating_sub(delivered as u64),
        errors,
        elapsed: started.elapsed(),
        ideal: ideal_time(&opts),
    })
}

fn validate(opts: &DemoOptions) -> Result<()> {
    if !(2..=26).contains(&opts.keys) {
        return Err(usage(
            "--keys must be between 2 and 26 (one of them is invalid on purpose)",
        ));
    }
    if !(1..=64).contains(&opts.workers) {
        return Err(usage("--workers must be between 1 and 64"));
    }
    if !(1..=100_000).contains(&opts.requests) {
        return Err(usage("--requests must be between 1 and 100000"));
    }
    Ok(())
}

/// The emulator with the demo's keys, the last one invalid, and small quotas.
fn start_emulator(values: &[String]) -> Result<Emulator> {
    let invalid = values.len() - 1;
    Emulator::start(EmulatorConfig {
        keys: values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let behavior = if i == invalid {
                    Behavior::Invalid
                } else {
                    Behavior::Valid
                };
                (v.clone(), behavior)
            })
            .collect(),
        rate: Some((QUOTA, WINDOW)),
        latency: LATENCY,
        accept_unknown: false,
        daily_exhausted_models: Vec::new(),
        flavor: Default::default(),
        refill: None,
        models: Vec::new(),
    })
}

/// The time the quotas allow at best: `valid × QUOTA` requests at once,
/// then as many per window; or the answers' latency over the workers.
fn ideal_time(opts: &DemoOptions) -> Duration {
    let valid = (opts.keys - 1) as f64;
    let batches = opts.requests.div_ceil((opts.keys - 1) * QUOTA as usize);
    let by_quota = (batches - 1) as f64 * WINDOW.as_secs_f64() + LATENCY.as_secs_f64();
    let by_latency = opts.requests as f64 * LATENCY.as_secs_f64() / valid.min(opts.workers as f64);
    Duration::from_secs_f64(by_quota.max(by_latency))
}

/// Cleans the demo's state out of a shared Redis when dropped.
struct CleanUp(Arc<dyn StateStore>, bool);

impl Drop for CleanUp {
    fn drop(&mut self) {
        if self.1
            && let Err(e) = self.0.clean()
        {
            log::warn!("cleaning the demo's state up: {e:#}");
        }
    }
}

/// Sends the requests from the workers while the view draws; how many were
/// delivered.
fn drive(
    jongler: &Jongler,
    emulator: &Emulator,
    values: &[String],
    opts: DemoOptions,
    started: Instant,
) -> usize {
    let next = AtomicUsize::new(0);
    let delivered = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..opts.workers)
            .map(|_| scope.spawn(|| work(jongler, &next, &delivered, opts.requests)))
            .collect();
        scope.spawn(|| {
            let mut view = View::new(values, opts);
            while !done.load(Ordering::Relaxed) {
                view.draw(
                    jongler,
                    emulator,
                    delivered.load(Ordering::Relaxed),
                    started,
                );
                std::thread::sleep(Duration::from_millis(if opts.live { 100 } else { 50 }));
            }
            view.draw(
                jongler,
                emulator,
                delivered.load(Ordering::Relaxed),
                started,
            );
        });
        for worker in workers {
            let _ = worker.join();
        }
        done.store(true, Ordering::Relaxed);
    });
    delivered.into_inner()
}

/// One worker: takes the next request number until all are taken.
fn work(jongler: &Jongler, next: &AtomicUsize, delivered: &AtomicUsize, requests: usize) {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= requests {
            break;
        }
        let body = serde_json::json!({"contents": [{"parts": [{"text": format!("request {i}")}]}]});
        match jongler.request(
            "POST",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            Some(body.to_string().as_bytes()),
        ) {
            Ok(r) if r.is_success() => {
                delivered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => log::error!("request {i} answered {}", r.status),
            Err(e) => log::error!("request {i}: {e:#}"),
        }
    }
}

impl DemoSummary {
    /// The summary, a few plain lines.
    pub fn render(&self) -> String {
        let ratio = self.elapsed.as_secs_f64() / self.ideal.as_secs_f64().max(1e-9);
        format!(
            "delivered {}/{} in {:.1}s (ideal {:.1}s from the quotas: {ratio:.2}x)\n\
             429s absorbed: {}   retries: {}   keys marked ERROR: {}{}\n",
            self.delivered,
            self.requests,
            self.elapsed.as_secs_f64(),
            self.ideal.as_secs_f64(),
            self.rate_limited,
            self.retries,
            self.errors.len(),
            if self.errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.errors.join(", "))
            },
        )
    }
}

/// The live table (terminal) or a log of state changes (anything else).
struct View<'a> {
    values: &'a [String],
    opts: DemoOptions,
    drawn_lines: usize,
    last: Vec<Option<State>>,
    /// The end of the LOCKDOWN last said, per key.
    told_lockdown: Vec<Option<jiff::Timestamp>>,
    last_progress: usize,
}

impl<'a> View<'a> {
    fn new(values: &'a [String], opts: DemoOptions) -> View<'a> {
        View {
            values,
            opts,
            drawn_lines: 0,
            last: vec![None; values.len()],
            told_lockdown: vec![None; values.len()],
            last_progress: 0,
        }
    }

    fn draw(&mut self, jongler: &Jongler, emulator: &Emulator, delivered: usize, started: Instant) {
        let Ok(states) = jongler.key_states() else {
            return;
        };
        let stats = emulator.stats();
        let elapsed = started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        if !self.opts.live {
            for (i, key) in states.iter().enumerate() {
                if self.last[i] != Some(key.state) {
                    self.last[i] = Some(key.state);
                    // A LOCKDOWN is said once, not again each time the key
                    // comes back to it from being tried.
                    if key.state == State::Lockdown {
                        if self.told_lockdown[i] == key.until {
                            continue;
                        }
                        self.told_lockdown[i] = key.until;
                    }
                    let _ = writeln!(
                        err,
                        "{elapsed:6.2}s  {:<12} {}{}",
                        key.name,
                        key.state.as_str(),
                        detail(key, false)
                    );
                }
            }
            let step = (self.opts.requests / 10).max(1);
            if delivered / step > self.last_progress / step
                || delivered == self.opts.requests && self.last_progress != delivered
            {
                let _ = writeln!(
                    err,
                    "{elapsed:6.2}s  delivered {delivered}/{}",
                    self.opts.requests
                );
                self.last_progress = delivered;
            }
            return;
        }
        let mut lines = vec![format!(
            "{:<12} {:<9} {:>6} {:>5}  {}",
            "key", "state", "served", "429s", "until / why"
        )];
        // The table fits the terminal: a table taller than the screen would
        // leave a copy of itself in the scrollback at every redraw.
        let room = terminal_rows().saturating_sub(3).max(3);
        let shown = if states.len() > room {
            room - 1
        } else {
            states.len()
        };
        for (key, value) in states.iter().zip(self.values).take(shown) {
            let per_status = stats.by_key_status.get(value);
            let count = |s: u16| per_status.and_then(|m| m.get(&s)).copied().unwrap_or(0);
            let state = format!("{:<9}", key.state.as_str().to_uppercase());
            let state = if self.opts.color {
                paint(&state, key.state)
            } else {
                state
            };
            let line = format!(
                "{:<12} {state} {:>6} {:>5}  {}",
                key.name,
                count(200),
                count(429),
                detail(key, true)
            );
            lines.push(line);
        }
        if shown < states.len() {
            let hidden = &states[shown..];
            let count = |st: State| hidden.iter().filter(|k| k.state == st).count();
            lines.push(format!(
                "… {} more keys ({} vacant, {} locked, {} lockdown, {} error)",
                hidden.len(),
                count(State::Vacant),
                count(State::Locked),
                count(State::Lockdown),
                count(State::Error)
            ));
        }
        let width = 30;
        let filled = delivered * width / self.opts.requests.max(1);
        lines.push(format!(
            "[{}{}] {delivered}/{} delivered  {elapsed:.1}s",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.opts.requests
        ));
        if self.drawn_lines > 0 {
            let _ = write!(err, "\x1b[{}A", self.drawn_lines);
        }
        for line in &lines {
            let _ = writeln!(err, "\x1b[2K{}", truncate(line, 79));
        }
        self.drawn_lines = lines.len();
    }
}

fn detail(key: &KeyStatus, short: bool) -> String {
    match key.state {
        State::Lockdown => {
            let left = key
                .until
                .map(|u| {
                    u.duration_since(jiff::Timestamp::now())
                        .as_secs_f64()
                        .max(0.0)
                })
                .unwrap_or(0.0);
            if short {
                format!("free in {left:.1}s")
            } else {
                format!(" for {left:.1}s (the API said so)")
            }
        }
        State::Error => {
            let why = key.reason.as_deref().unwrap_or("bad key");
            let why = if why.contains("API_KEY_INVALID") {
                "API_KEY_INVALID"
            } else {
                why
            };
            if short {
                why.to_string()
            } else {
                format!(": {why}")
            }
        }
        // In use: its quota is beside the point until it is free again.
        State::Locked => String::new(),
        State::Vacant => {
            // VACANT but at its quota: jongler waits for room instead of sending.
            let now = jiff::Timestamp::now();
            let full = key
                .usage
                .iter()
                .filter(|u| u.left == 0)
                .filter_map(|u| u.frees_at)
                // Room within a tenth of a second is room now ("0.0s" says nothing).
                .filter(|t| t.duration_since(now).as_secs_f64() >= 0.05)
                .min();
            match full {
                Some(at) => {
                    let left = at
                        .duration_since(jiff::Timestamp::now())
                        .as_secs_f64()
                        .max(0.0);
                    if short {
                        format!("quota full, room in {left:.1}s")
                    } else {
                        format!(" (quota full, room in {left:.1}s)")
                    }
                }
                None => String::new(),
            }
        }
    }
}

/// The terminal's height (stderr's), or 24.
fn terminal_rows() -> usize {
    #[cfg(unix)]
    {
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ fills a winsize; a failure leaves it zeroed.
        if unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_row > 0 {
            return usize::from(size.ws_row);
        }
    }
    24
}

fn paint(text: &str, state: State) -> String {
    match state {
        State::Vacant => text.green().to_string(),
        State::Locked => text.cyan().to_string(),
        State::Lockdown => text.yellow().to_string(),
        State::Error => text.red().to_string(),
    }
}

/// Cuts a line to `max` visible characters (escape sequences don't count).
fn truncate(line: &str, max: usize) -> String {
    let mut out = String::new();
    let (mut visible, mut in_escape) = (0, false);
    for c in line.chars() {
        if c == '\x1b' {
            in_escape = true;
        }
        if !in_escape {
            if visible == max {
                break;
            }
            visible += 1;
        }
        out.push(c);
        if in_escape && c == 'm' {
            in_escape = false;
        }
    }
    if in_escape || line.contains('\x1b') {
        out.push_str("\x1b[0m");
    }
    out
}
