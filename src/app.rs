//! The command-line program: arguments in, exit code out. Argument meaning
//! lives in `cli`, the work in the library; this only wires them together.

use crate::cli::{Cli, ColorChoice, Command};
use crate::config::{self, KeyFile, Paths};
use crate::connector::Connectors;
use crate::error::{ExitCode, exit_code_of, usage};
use crate::http::{NetOptions, TOR_PROXY};
use crate::jongler::{Jongler, Options};
use crate::output::{self, ConnectorStatus};
use crate::pool::state::{CleanReport, StateStore};
use crate::pool::{Backend, Pool};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;

/// Runs the program and returns its exit code; errors are printed here, once.
pub fn main(cli: Cli) -> ExitCode {
    let color = use_color(cli.global.color);
    init_logging(&cli, color);
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::Success;
            }
            let label = if color {
                colored::Colorize::bold(colored::Colorize::red("error")).to_string()
            } else {
                "error".into()
            };
            eprintln!("jongler: {label}: {err:#}");
            exit_code_of(&err)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Some(Command::Completions { shell }) => completions(&cli, *shell),
        Some(Command::Demo {
            requests,
            workers,
            keys,
        }) => demo(&cli, *requests, *workers, *keys),
        Some(Command::Serve(args)) => serve(&cli, args),
        Some(Command::Batch(args)) => batch(&cli, args),
        Some(Command::Check {
            connector,
            json,
            concurrency,
        }) => check(&cli, connector, *json, *concurrency),
        Some(Command::Keys { action }) => keys_command(&cli, action),
        Some(Command::Status {
            connector,
            json,
            history,
        }) => status_command(&cli, connector.as_deref(), *json, *history),
        None if cli.cleanup.is_some() || cli.cleanup_all => cleanup(&cli),
        None => request(&cli),
    }
}

/// `jongler completions SHELL`.
fn completions(cli: &Cli, shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut command = Cli::command();
    // The connectors known now (built-ins and the user's files) are
    // offered wherever a connector goes: regenerate after adding one.
    if let Ok(connectors) = paths(cli).and_then(|p| Connectors::load(&p.connector_dirs)) {
        // clap takes `&'static str` values (its owned-string feature
        // would cost every call's parsing); this command prints once
        // and ends, so the names are leaked.
        let names: Vec<&'static str> = connectors
            .names()
            .into_iter()
            .map(|n| &*Box::leak(n.into_boxed_str()))
            .collect();
        let offer = |arg: clap::Arg| {
            arg.value_parser(clap::builder::PossibleValuesParser::new(names.clone()))
        };
        command = command.mut_arg("connector", offer);
        for sub in ["status", "check", "batch"] {
            command = command.mut_subcommand(sub, |s| s.mut_arg("connector", offer));
        }
        command = command.mut_subcommand("serve", |s| s.mut_arg("connectors", offer));
    }
    output::write_completions(shell, &mut command)?;
    Ok(ExitCode::Success)
}

/// `jongler serve`.
fn serve(cli: &Cli, args: &crate::cli::ServeArgs) -> Result<ExitCode> {
    let crate::cli::ServeArgs {
        connectors,
        all,
        listen,
        token,
        token_file,
        clients,
        stall_timeout,
        header_timeout,
        shutdown_timeout,
        metrics_public,
    } = args;
    let token = match token_file {
        Some(path) => Some(crate::serve::read_token_file(path)?),
        None => token.clone(),
    };
    let options = Options {
        // Clients send one request after another: each gets its next key
        // before a lower-priority call of another process takes it.
        linger: Some(crate::serve::LINGER),
        ..request_options(cli)?
    };
    let names = match all {
        true => with_keys(cli)?,
        false => connectors.clone(),
    };
    if names.is_empty() {
        return Err(usage(
            "serve --all: no connector has keys (a [<connector name>] section of `name = key` lines in the key file, or its environment variables)",
        ));
    }
    let mut jonglers: Vec<Jongler> = Vec::new();
    for name in &names {
        let jongler = Jongler::connect(name, options.clone())?;
        if jonglers
            .iter()
            .any(|j| j.connector().name == jongler.connector().name)
        {
            return Err(usage(format!("serve: `{name}` is named twice")));
        }
        jonglers.push(jongler);
    }
    let opts = crate::serve::ServeOptions {
        stall_timeout: *stall_timeout,
        header_timeout: *header_timeout,
        shutdown_timeout: *shutdown_timeout,
        metrics_public: *metrics_public,
        clients: clients.clone(),
        ..crate::serve::ServeOptions::new(*listen, token)
    };
    crate::serve::run(jonglers, opts)?;
    Ok(ExitCode::Success)
}

/// `jongler batch`.
fn batch(cli: &Cli, args: &crate::cli::BatchArgs) -> Result<ExitCode> {
    use crate::batch::{BatchOptions, Progress, Sink, Source};
    let crate::cli::BatchArgs {
        connector,
        method,
        endpoint,
        input,
        out,
        template,
        unordered,
        concurrency,
        progress_every,
    } = args;
    let path = |arg: &str| (arg != "-").then(|| std::path::PathBuf::from(arg));
    let every = *progress_every;
    let opts = BatchOptions {
        input: path(input).map_or(Source::Stdin, Source::Path),
        out: path(out).map_or(Sink::Stdout, Sink::Path),
        method: method.clone(),
        endpoint: endpoint.clone(),
        template: template.clone(),
        unordered: *unordered,
        concurrency: concurrency.map(|n| n as usize),
        progress: if cli.global.quiet {
            Progress::Off
        } else if std::io::stderr().is_terminal() {
            Progress::Bar
        } else if every.is_zero() {
            Progress::Off
        } else {
            Progress::Lines { every }
        },
        stop: interrupt_flag(),
    };
    let options = Options {
        // Batch work goes after interactive calls unless told otherwise.
        priority: cli.priority.unwrap_or(crate::pool::Priority::Low),
        ..request_options(cli)?
    };
    let jongler = Jongler::connect(connector, options)?;
    let summary = crate::batch::run(&jongler, &opts)?;
    if !cli.global.quiet || summary.exit_code() != 0 {
        let _ = std::io::stderr().write_all(summary.render().as_bytes());
    }
    jongler.flush_history();
    std::mem::forget(jongler);
    Ok(ExitCode::from_code(summary.exit_code()))
}

/// `jongler check`: every key, with progress on stderr at a terminal for a
/// check that takes a while.
fn check(cli: &Cli, connector: &str, json: bool, concurrency: usize) -> Result<ExitCode> {
    if concurrency == 0 {
        return Err(usage("--concurrency must be at least 1"));
    }
    let jongler = Jongler::connect(connector, request_options(cli)?)?;
    let bar = if std::io::stderr().is_terminal() && !cli.global.quiet {
        indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr_with_hz(4),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("checking {bar:30} {pos}/{len} keys {eta}")
            .expect("invariant: a valid template"),
    );
    let report = jongler.check_with(concurrency, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    output::write_health(&report, json, cli.global.verbose > 0)?;
    Ok(check_exit(&report))
}

/// Ctrl-C during a call: say so and exit 130. (A held key's `flock` goes
/// with the process; a Redis lease lapses.) Async-signal-safe: one write,
/// then `_exit`; no thread is started for it, which a call would pay for.
/// `holding` is said when a key is held at the time, `waiting` when none is.
fn on_interrupt(holding: &'static str, waiting: &'static str) {
    #[cfg(unix)]
    {
        static MESSAGES: std::sync::OnceLock<(&'static str, &'static str)> =
            std::sync::OnceLock::new();
        let _ = MESSAGES.set((holding, waiting));
        extern "C" fn handler(_: libc::c_int) {
            if let Some(&(holding, waiting)) = MESSAGES.get() {
                // An atomic load is async-signal-safe.
                let m = if crate::pool::holding_any() {
                    holding
                } else {
                    waiting
                };
                // SAFETY: write(2) and _exit(2) are async-signal-safe; the
                // message is a static string.
                unsafe {
                    libc::write(2, m.as_ptr().cast(), m.len());
                    libc::_exit(130);
                }
            }
        }
        // SAFETY: installs a handler that only calls async-signal-safe functions.
        unsafe {
            libc::signal(libc::SIGINT, handler as *const () as libc::sighandler_t);
        }
    }
    #[cfg(not(unix))]
    let _ = (holding, waiting);
}

/// A flag Ctrl-C (and SIGTERM) sets: the first asks to stop taking new
/// work and finish what is in flight; the second ends the process at once
/// (exit 130; what was written stays whole).
fn interrupt_flag() -> Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let result = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            let _ = writeln!(
                std::io::stderr(),
                "\njongler: abandoned the requests in flight; run the same command again to send what has no answer"
            );
            std::process::exit(130);
        }
        let _ = writeln!(
            std::io::stderr(),
            "\njongler: stopping: no new lines are sent; the ones in flight finish (Ctrl-C again to abandon them)"
        );
    });
    if let Err(e) = result {
        log::warn!("can't catch Ctrl-C: {e}");
    }
    flag
}

/// Where key state lives: `--state` (Redis) or the state dir.
fn backend(cli: &Cli, paths: &Paths) -> Result<Backend> {
    let g = &cli.global;
    Backend::resolve(g.state.as_deref(), &paths.state_dir, g.lease_ttl)
}

fn paths(cli: &Cli) -> Result<Paths> {
    let g = &cli.global;
    Paths::resolve(
        g.config.as_deref(),
        g.state_dir.as_deref(),
        g.connectors_dir.as_deref(),
    )
}

fn demo(cli: &Cli, requests: usize, workers: usize, keys: usize) -> Result<ExitCode> {
    let redis = match backend(cli, &paths(cli)?)? {
        redis @ Backend::Redis { .. } => Some(redis),
        Backend::Files(_) => None,
    };
    let summary = crate::demo::run(
        crate::demo::DemoOptions {
            requests,
            workers,
            keys,
            live: std::io::stderr().is_terminal(),
            color: use_color(cli.global.color),
        },
        redis,
    )?;
    output::write_text(&summary.render())?;
    Ok(if summary.delivered == summary.requests {
        ExitCode::Success
    } else {
        ExitCode::Runtime
    })
}

fn status_command(
    cli: &Cli,
    connector: Option<&str>,
    json: bool,
    history: bool,
) -> Result<ExitCode> {
    let paths = paths(cli)?;
    let statuses = status(cli, &paths, connector, history)?;
    if history && !json {
        output::write_status_history(&statuses, cli.global.verbose > 0)?;
    } else if json {
        output::write_status_json(&statuses, connector.is_some())?;
    } else {
        output::write_status_table(
            &statuses,
            use_color_stdout(cli.global.color),
            cli.global.verbose > 0,
        )?;
        if statuses.is_empty() {
            eprintln!(
                "jongler: no keys in {} (a [<connector name>] section of `name = key` lines) nor in GEMINI_API_KEY_N / HF_TOKEN_N",
                paths.config_file.display()
            );
        }
    }
    Ok(ExitCode::Success)
}

fn cleanup(cli: &Cli) -> Result<ExitCode> {
    let paths = paths(cli)?;
    let report = match &cli.cleanup {
        Some(name) => {
            crate::names::check(name)
                .map_err(|why| usage(format!("connector name {name:?} can't be used: {why}")))?;
            // Markers of connectors whose names start with `<name>_` are theirs.
            let connectors = match Connectors::load(&paths.connector_dirs) {
                Ok(connectors) => Some(connectors),
                Err(e) => {
                    log::debug!("cleaning up without the connector list: {e:#}");
                    None
                }
            };
            let others = connectors
                .as_ref()
                .map(Connectors::names)
                .unwrap_or_default();
            let report = Pool::new(
                name,
                Vec::new(),
                backend(cli, &paths)?.store(name, &others),
                60,
            )
            .clean()?;
            // A connector no longer defined may still have state to clean; a
            // name that is neither defined nor in the state is a typo.
            if report == CleanReport::default()
                && let Some(Err(unknown)) = connectors.as_ref().map(|c| c.get(name))
            {
                return Err(usage(format!(
                    "{unknown:#}; nothing under that name in {}",
                    backend(cli, &paths)?.describe()
                )));
            }
            report
        }
        None => backend(cli, &paths)?.clean_all()?,
    };
    report_cleanup(&report, cli.cleanup.as_deref(), cli.global.quiet);
    Ok(ExitCode::Success)
}

/// `jongler keys …`: the key file edited from the command line.
fn keys_command(cli: &Cli, action: &crate::cli::KeysAction) -> Result<ExitCode> {
    use crate::cli::KeysAction;
    let paths = paths(cli)?;
    let connectors = Connectors::load(&paths.connector_dirs)?;
    match action {
        KeysAction::Import {
            connector,
            file,
            check,
        } => {
            let found = connectors.get(connector)?;
            keys_import(cli, &paths, connector, found, file, *check)
        }
        KeysAction::Add { connector, name } => {
            connectors.get(connector)?;
            let key = read_secret(&format!("key for `{name}`: "))?;
            crate::keys::add(&paths.config_file, connector, name, &key)?;
            if !cli.global.quiet {
                eprintln!(
                    "jongler: added `{name}` to [{connector}] of {}",
                    paths.config_file.display()
                );
            }
            Ok(ExitCode::Success)
        }
        KeysAction::Remove { connector, names } => {
            connectors.get(connector)?;
            keys_remove(cli, &paths, connector, names)
        }
        KeysAction::List { connector, json } => {
            let jongler = Jongler::connect(connector, request_options(cli)?)?;
            output::write_key_list(&jongler.key_states()?, *json)?;
            Ok(ExitCode::Success)
        }
    }
}

/// A check's exit code: 0 when every key works, 1 otherwise.
fn check_exit(report: &[crate::jongler::KeyHealth]) -> ExitCode {
    if report
        .iter()
        .all(|k| k.health == crate::jongler::Health::Ok)
    {
        ExitCode::Success
    } else {
        ExitCode::Runtime
    }
}

/// `jongler keys import`: the file's new keys into the connector's section,
/// then (with --check) a check of the keys added.
fn keys_import(
    cli: &Cli,
    paths: &Paths,
    connector: &str,
    found: &crate::connector::Connector,
    file: &str,
    check: bool,
) -> Result<ExitCode> {
    let input = read_body(&if file == "-" {
        "-".to_string()
    } else {
        format!("@{file}")
    })?;
    let input =
        String::from_utf8(input).map_err(|_| usage(format!("{file} is not text (UTF-8)")))?;
    // Keys the pool has from elsewhere (the environment) count too.
    let known: Vec<(String, crate::ApiKey)> = match &found.key_env_prefix {
        Some(prefix) => config::env_keys(prefix, std::env::vars())
            .into_iter()
            .map(|k| (k.name, k.key))
            .collect(),
        _ => Vec::new(),
    };
    let report = crate::keys::import(&paths.config_file, connector, &input, &known)?;
    if !cli.global.quiet {
        let range = match (report.added.first(), report.added.last()) {
            (Some(a), Some(b)) if a != b => format!(" ({a} … {b})"),
            (Some(a), _) => format!(" ({a})"),
            _ => String::new(),
        };
        eprintln!(
            "jongler: imported {} key(s) into [{connector}] of {}{range}; {} already in the pool; {} blank or comment line(s) skipped",
            report.added.len(),
            paths.config_file.display(),
            report.duplicates.len(),
            report.skipped
        );
        for (line, name) in report.duplicates.iter().take(10) {
            eprintln!("jongler:   line {line} is `{name}` already");
        }
        if report.duplicates.len() > 10 {
            eprintln!("jongler:   … and {} more", report.duplicates.len() - 10);
        }
    }
    if !check || report.added.is_empty() {
        return Ok(ExitCode::Success);
    }
    let jongler = Jongler::connect(connector, request_options(cli)?)?;
    let added: std::collections::HashSet<&str> = report.added.iter().map(String::as_str).collect();
    let health = jongler.check_only(
        crate::jongler::DEFAULT_CHECK_CONCURRENCY,
        &|_, _| {},
        &|name| added.contains(name),
    )?;
    output::write_health(&health, false, cli.global.verbose > 0)?;
    Ok(check_exit(&health))
}

/// `jongler keys remove`: the keys out of the file, then their marks.
fn keys_remove(cli: &Cli, paths: &Paths, connector: &str, names: &[String]) -> Result<ExitCode> {
    // The pool as it stands, to clear the keys' marks once they are out.
    let jongler = Jongler::connect(connector, request_options(cli)?).ok();
    crate::keys::remove(&paths.config_file, connector, names)?;
    let mut cleared = 0;
    if let Some(jongler) = &jongler {
        for name in names {
            cleared += jongler.clear_marks(name)?;
        }
    }
    if !cli.global.quiet {
        eprintln!(
            "jongler: removed {} key(s) from [{connector}] of {} and {cleared} mark(s)",
            names.len(),
            paths.config_file.display()
        );
    }
    Ok(ExitCode::Success)
}

/// One secret line from stdin; at a terminal, asked for on stderr with the
/// echo off (so it doesn't stay on the screen).
fn read_secret(prompt: &str) -> Result<crate::ApiKey> {
    use std::io::BufRead;
    let stdin = std::io::stdin();
    let at_terminal = stdin.is_terminal();
    #[cfg(unix)]
    let restore = at_terminal.then(|| {
        eprint!("{prompt}");
        // SAFETY: termios of stdin, read then written back with ECHO off.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let old = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Some(old)
        }
    });
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    #[cfg(unix)]
    if let Some(Some(old)) = restore {
        // SAFETY: the termios read above, written back.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &old);
        }
        eprintln!();
    }
    #[cfg(not(unix))]
    let _ = (at_terminal, prompt);
    read.context("can't read the key from stdin")?;
    let value = line.trim();
    if value.is_empty() {
        return Err(usage(
            "no key on stdin: give the key's value on stdin (never on the command line, where `ps` shows it)",
        ));
    }
    Ok(crate::ApiKey::new(value))
}

/// `jongler <CONNECTOR> <METHOD> <ENDPOINT> [BODY]`.
fn request(cli: &Cli) -> Result<ExitCode> {
    let (Some(connector), Some(method), Some(endpoint)) =
        (&cli.connector, &cli.method, &cli.endpoint)
    else {
        // One word alone is more likely a mistyped command than a connector.
        if let (Some(word), None) = (&cli.connector, &cli.method)
            && let Some(command) = crate::cli::closest_command(word)
        {
            return Err(usage(format!(
                "unknown command `{word}`; did you mean `jongler {command}`? (a request is `jongler <CONNECTOR> <METHOD> <ENDPOINT> [BODY]`)"
            )));
        }
        let what = if cli.connector.is_none() {
            "<CONNECTOR> <METHOD> <ENDPOINT>"
        } else {
            "<METHOD> <ENDPOINT>"
        };
        return Err(usage(format!("missing {what}; try `jongler --help`")));
    };
    if crate::jongler::METHODS.contains(&connector.to_ascii_uppercase().as_str()) {
        return Err(usage(format!(
            "`{connector}` is an HTTP method, not a connector: the connector comes first, as in `jongler {method} {connector} {endpoint}`"
        )));
    }
    let options = request_options(cli)?;
    let body = cli.body.as_deref().map(read_body).transpose()?;
    let jongler = Jongler::connect(connector, options)?;
    // (A bad endpoint is the first thing to say: `request` says it.)
    if body.is_none()
        && endpoint.starts_with('/')
        && !cli.allow_empty_body
        && jongler.connector().is_json()
        && ["POST", "PUT", "PATCH"].contains(&method.to_ascii_uppercase().as_str())
    {
        return Err(usage(format!(
            "{} to `{connector}` without a body: give the JSON body (or '-' for stdin, '@FILE'), or --allow-empty-body to send none",
            method.to_ascii_uppercase()
        )));
    }
    on_interrupt(
        if cli.global.state.is_some() {
            "\njongler: interrupted; the key's lease lapses within --lease-ttl\n"
        } else {
            "\njongler: interrupted; the key was released\n"
        },
        "\njongler: interrupted while waiting for a key; nothing was sent\n",
    );
    let response = jongler.request(method, endpoint, body.as_deref())?;
    if let Some(key) = &response.key_name {
        log::info!(
            "{} {endpoint} answered {} (key `{key}`)",
            method.to_uppercase(),
            response.status
        );
    }
    output::write_response(&response, cli.include, cli.pretty)?;
    jongler.flush_history();
    // The process ends next: freeing a big pool key by key would only cost
    // time (every key is released already, and nothing else is held).
    std::mem::forget(jongler);
    Ok(ExitCode::for_status(response.status))
}

/// The options a request takes from the command line.
fn request_options(cli: &Cli) -> Result<Options> {
    let g = &cli.global;
    let timeout = cli.timeout;
    Ok(Options {
        config: g.config.clone(),
        state_dir: g.state_dir.clone(),
        state: g.state.clone(),
        lease_ttl: g.lease_ttl,
        connectors_dir: g.connectors_dir.clone(),
        env_keys: true,
        wait: cli.wait,
        net: NetOptions {
            proxy: if cli.tor {
                Some(TOR_PROXY.to_string())
            } else {
                cli.proxy.clone()
            },
            timeout: (!timeout.is_zero()).then_some(timeout),
        },
        fallback_models: cli.fallback_model.clone(),
        priority: cli.priority.unwrap_or_default(),
        linger: None,
        history_days: usize::from(cli.global.history_days),
    })
}

/// BODY: `-` is stdin, `@file` a file, anything else the body itself.
fn read_body(arg: &str) -> Result<Vec<u8>> {
    if arg == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .context("reading the body from stdin")?;
        Ok(body)
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read(path).map_err(|e| usage(format!("can't read body file {path}: {e}")))
    } else {
        Ok(arg.as_bytes().to_vec())
    }
}

/// The connectors that have keys: a section in the key file, or variables
/// in the environment; in that order, each once.
fn named_with_keys(connectors: &Connectors, file: Option<&KeyFile>) -> Vec<String> {
    let mut names: Vec<String> = file
        .iter()
        .flat_map(|f| f.sections.iter().map(|(s, _)| s.clone()))
        .collect();
    for (c, _) in connectors.iter() {
        if c.key_env_prefix
            .as_ref()
            .is_some_and(|p| !config::env_keys(p, std::env::vars()).is_empty())
        {
            names.push(c.name.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// `serve --all`: the known connectors that have keys.
fn with_keys(cli: &Cli) -> Result<Vec<String>> {
    let paths = paths(cli)?;
    let connectors = Connectors::load(&paths.connector_dirs)?;
    let file = KeyFile::read(&paths.config_file)?;
    Ok(named_with_keys(&connectors, file.as_ref())
        .into_iter()
        .filter(|name| connectors.get(name).is_ok_and(|c| c.requires_api_key))
        .collect())
}

/// Every key's state for one connector, or for every connector with keys.
fn status(
    cli: &Cli,
    paths: &Paths,
    only: Option<&str>,
    key_history: bool,
) -> Result<Vec<ConnectorStatus>> {
    let connectors = Connectors::load(&paths.connector_dirs)?;
    let file = KeyFile::read(&paths.config_file)?;
    if file.is_none() && paths.config_explicit {
        return Err(usage(format!(
            "config file {} does not exist",
            paths.config_file.display()
        )));
    }
    let all_names = connectors.names();
    let backend = backend(cli, paths)?;
    let store = |name: &str| -> Arc<dyn StateStore> { backend.store(name, &all_names) };
    let names: Vec<String> = match only {
        Some(name) => vec![connectors.get(name)?.name.clone()],
        None => named_with_keys(&connectors, file.as_ref()),
    };
    let mut out = Vec::new();
    for name in names {
        let pool = match connectors.get(&name) {
            Ok(connector) if connector.requires_api_key => {
                let (keys, quotas) = config::keys_for(connector, paths, true)?;
                Pool::new(&name, keys, store(&name), connector.lockdown_seconds).with_quotas(quotas)
            }
            Ok(_) => continue,
            Err(e) if only.is_some() => return Err(e),
            Err(_) => {
                log::warn!("config section [{name}] names no known connector");
                let keys = file
                    .as_ref()
                    .and_then(|f| f.section(&name))
                    .map(<[_]>::to_vec)
                    .unwrap_or_default();
                Pool::new(&name, keys, store(&name), 60)
            }
        };
        out.push(ConnectorStatus {
            connector: name,
            keys: pool.states()?,
            clients: Vec::new(),
            history: output::day_reports(&pool.store().history()?, key_history),
        });
    }
    Ok(out)
}

fn report_cleanup(report: &CleanReport, connector: Option<&str>, quiet: bool) {
    if quiet {
        return;
    }
    let scope = connector.map_or("all connectors".to_string(), |c| format!("`{c}`"));
    let mut line = format!(
        "jongler: cleaned {scope}: {} LOCKDOWN, {} ERROR, {} stale lock(s) removed",
        report.lockdowns, report.errors, report.stale_locks
    );
    if report.held > 0 {
        line.push_str(&format!(
            "; {} key(s) in use by live processes left alone",
            report.held
        ));
    }
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

fn use_color_stdout(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
        other => use_color(other),
    }
}

fn init_logging(cli: &Cli, color: bool) {
    let g = &cli.global;
    let level = if g.quiet {
        log::LevelFilter::Error
    } else if let Some(level) = g.log_level {
        level
    } else {
        match g.verbose {
            0 => log::LevelFilter::Warn,
            1 => log::LevelFilter::Info,
            2 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        }
    };
    colored::control::set_override(color);
    env_logger::Builder::new()
        // Our own messages only: the HTTP stack's trace lines could carry headers.
        .filter_level(log::LevelFilter::Off)
        .filter_module("jongler", level)
        .format(move |buf, record| {
            let level = record.level().as_str().to_lowercase();
            let level = if color {
                use colored::Colorize;
                match record.level() {
                    log::Level::Error => level.red().bold().to_string(),
                    log::Level::Warn => level.yellow().bold().to_string(),
                    _ => level.dimmed().to_string(),
                }
            } else {
                level
            };
            writeln!(buf, "jongler: {level}: {}", record.args())
        })
        .target(env_logger::Target::Stderr)
        .init();
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
