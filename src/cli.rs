//! The command line, as clap derive types; nothing else parses arguments.

use crate::error::EXIT_CODES_HELP;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The usage line of both parsers (the request form's and the full one).
const USAGE: &str = "jongler [OPTIONS] <CONNECTOR> <METHOD> <ENDPOINT> [BODY]\n       \
                     jongler --cleanup <CONNECTOR> | --cleanup-all\n       \
                     jongler <COMMAND>";

/// Send requests to LLM APIs through a pool of API keys shared safely by every process.
///
/// Each request gets a key that is free right now; rate-limited keys are set
/// aside for as long as the API says, bad keys are marked, and the request is
/// retried on another key. Key states live in marker files in the state dir.
#[derive(Debug, Parser)]
#[command(
    name = "jongler",
    version,
    after_help = EXIT_CODES_HELP,
    override_usage = USAGE
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub top: TopArgs,
}

/// The request form's arguments and the options every form takes (apart
/// from the subcommands, so that a request parses without building them).
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Connector name, e.g. generativelanguage.googleapis.com
    pub connector: Option<String>,

    /// HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS
    pub method: Option<String>,

    /// Path on the API, starting with '/', e.g. /v1beta/models/gemini-2.5-flash:generateContent
    pub endpoint: Option<String>,

    /// Request body: literal text, '-' for stdin, or '@FILE'
    pub body: Option<String>,

    /// Indent a JSON answer
    #[arg(long)]
    pub pretty: bool,

    /// Send a POST, PUT or PATCH without a body to a JSON connector (else refused:
    /// it would cost quota for an error)
    #[arg(long)]
    pub allow_empty_body: bool,

    /// Print the status line and headers before the body
    #[arg(short = 'i', long)]
    pub include: bool,

    /// Remove LOCKDOWN and ERROR markers and stale locks of one connector
    #[arg(long, value_name = "CONNECTOR", conflicts_with_all = ["connector", "cleanup_all"])]
    pub cleanup: Option<String>,

    /// Remove LOCKDOWN and ERROR markers and stale locks of every connector
    #[arg(long, conflicts_with = "connector")]
    pub cleanup_all: bool,

    /// How long to wait for a free key: 10s, 500ms, 2m, or seconds (0: fail at once)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60",
        value_parser = duration,
        allow_hyphen_values = true,
        env = "JONGLER_WAIT",
        global = true
    )]
    pub wait: std::time::Duration,

    /// Where this command's calls stand among those waiting for a key, in
    /// every process on the pool: high, normal or low [default: normal; batch: low]
    #[arg(long, value_name = "PRIORITY", value_parser = priority, env = "JONGLER_PRIORITY", global = true)]
    pub priority: Option<crate::pool::Priority>,

    /// Give up on a request after this long: 5m, 90s, or seconds (0: never)
    #[arg(long, value_name = "DURATION", default_value = "300", global = true,
          value_parser = duration, allow_hyphen_values = true)]
    pub timeout: std::time::Duration,

    /// When every key is out of its daily quota for the model asked for, use this
    /// one instead (repeat for a chain; default: the connector's fallback_models)
    #[arg(long, value_name = "MODEL", global = true)]
    pub fallback_model: Vec<String>,

    /// Send requests through Tor (socks5h://127.0.0.1:9050, names resolved by Tor)
    #[arg(long, conflicts_with = "proxy", global = true)]
    pub tor: bool,

    /// Send requests through this proxy (http://, https://, socks5://, socks5h://)
    #[arg(long, value_name = "URL", global = true)]
    pub proxy: Option<String>,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// INI file with the keys [default: $APIJONGLER_CONFIG, else <config dir>/jongler/APIJongler.ini]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Directory of the key state markers [default: $JONGLER_STATE_DIR, else <state dir>/jongler]
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,

    /// Keep key state in Redis instead of the state dir, shared by every machine
    /// that names it: redis://[user:password@]host:port[/db] (rediss:// for TLS)
    #[arg(
        long,
        value_name = "URL",
        global = true,
        env = "JONGLER_STATE",
        hide_env_values = true,
        conflicts_with = "state_dir"
    )]
    pub state: Option<String>,

    /// With --state: how long a key stays LOCKED after its holder dies (5s, 500ms …)
    /// (live holders renew their lease)
    #[arg(long, value_name = "DURATION", default_value = "5", global = true,
          value_parser = duration, allow_hyphen_values = true)]
    pub lease_ttl: std::time::Duration,

    /// How many days of usage history (per key and per client) the state
    /// keeps; older days are dropped as new ones come
    #[arg(long, value_name = "DAYS", default_value = "30", global = true, env = "JONGLER_HISTORY_DAYS",
          value_parser = clap::value_parser!(u16).range(1..=3660))]
    pub history_days: u16,

    /// Extra directory of connector JSON files (overrides $JONGLER_CONNECTORS_DIR and built-ins)
    #[arg(long, value_name = "DIR", global = true)]
    pub connectors_dir: Option<PathBuf>,

    /// Log level: error, warn, info, debug or trace [default: warn]
    #[arg(long, value_name = "LEVEL", global = true, env = "JONGLER_LOG")]
    pub log_level: Option<log::LevelFilter>,

    /// More log output (-v info, -vv debug)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to color stderr
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stderr is a terminal and NO_COLOR is not set
    Auto,
    /// Always
    Always,
    /// Never
    Never,
}

/// The subcommands; their names win over connector names.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show every key's state, until-when and why (-v: every limit, every key)
    ///
    /// One summary line per connector, then a line per key with the limit
    /// closest to full; a pool of more than 40 keys folds its VACANT keys with
    /// room into one line.
    Status {
        /// Only this connector
        connector: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// The usage history: per day, requests, tokens, rate limits and
        /// errors, per client (and -v or --json: per key)
        #[arg(long)]
        history: bool,
    },
    /// Check every key with a request that costs no quota; mark bad keys ERROR
    ///
    /// Exits 0 when every key works, 1 otherwise.
    Check {
        /// The connector whose keys to check
        connector: String,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// How many keys to check at once (each key by one request at a time)
        #[arg(long, value_name = "N", default_value_t = crate::jongler::DEFAULT_CHECK_CONCURRENCY,
              value_parser = clap::value_parser!(usize))]
        concurrency: usize,
    },
    /// Serve a local proxy on the same pool, for SDKs and OpenAI-style tools
    ///
    /// Any method and path is forwarded to the connector with a key from the
    /// pool; /v1/chat/completions, /v1/models and /v1/embeddings go to the
    /// connector's OpenAI-compatible API. /status shows the keys (a dashboard
    /// in a browser), /metrics the counters in Prometheus text format. Clients authenticate with the token
    /// as x-goog-api-key, x-api-key, Authorization: Bearer, or ?key=.
    Serve(ServeArgs),
    /// Send a JSONL file of requests through the whole pool; resumable
    ///
    /// Each input line is a JSON body, or {"id": …, "body": …, "endpoint": …};
    /// with --template, plain text put into the template at {{text}}. Each
    /// answer is one line of --out: {"id", "status", "key", "body"}, or
    /// {"id", "error", "exit"}. Running the same command again sends only the
    /// lines without a successful answer in --out. Exits 0 when every line
    /// has one, else with the highest exit code among the failures (130 after
    /// Ctrl-C).
    Batch(BatchArgs),
    /// See the whole job done on this machine: no config, keys or network needed
    ///
    /// Starts a Gemini emulator in-process with made-up keys (the last one
    /// invalid) and small quotas, and pushes a batch of requests through the
    /// pool while a table shows each key's state.
    Demo {
        /// Requests to deliver
        #[arg(long, default_value_t = 60)]
        requests: usize,
        /// Requests in flight at once
        #[arg(long, default_value_t = 6)]
        workers: usize,
        /// Keys in the pool (the last one is invalid)
        #[arg(long, default_value_t = 5)]
        keys: usize,
    },
    /// Import, add, remove and list keys in the key file
    ///
    /// The key file is edited in place: only the lines of the keys added or
    /// removed change (comments, order, other sections and its mode stay),
    /// written whole and renamed over the old one under a lock. Key values
    /// are never printed.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print a shell completion script
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// `jongler serve`'s arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The connectors to serve; with several, OpenAI-style requests go to the
    /// one whose model the body names (or down an alias's chain), and each
    /// connector's own API is under /<connector>/
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub connectors: Vec<String>,
    /// Serve every connector that has keys (in the key file or the environment)
    #[arg(long)]
    pub all: bool,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8787", value_parser = listen_address)]
    pub listen: std::net::SocketAddr,
    /// The token clients must present (without one, only loopback listening is
    /// allowed); prefer JONGLER_PROXY_TOKEN or --token-file: a command line is
    /// visible to every user in `ps`
    #[arg(long, env = "JONGLER_PROXY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Read the token from this file (its first line)
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<std::path::PathBuf>,
    /// Named clients: a file of [client NAME] sections, each with its token
    /// and optionally priority, max_in_flight and limits [default: those in
    /// the key file]; edits apply without a restart
    #[arg(long, value_name = "FILE")]
    pub clients: Option<std::path::PathBuf>,
    /// A client that reads nothing of a streamed answer for this long
    /// (30s, 1m …) loses it, and its key is released
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = duration,
          allow_hyphen_values = true)]
    pub stall_timeout: std::time::Duration,
    /// A connection gets this long (30s, 1m …) to send a request's headers, from
    /// when it opens or its last answer ends (idle connections close too)
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = duration,
          allow_hyphen_values = true)]
    pub header_timeout: std::time::Duration,
    /// Serve /metrics (Prometheus) without the token, for a scraper that
    /// can't send one; everything else still needs it
    #[arg(long)]
    pub metrics_public: bool,
    /// After SIGTERM/SIGINT, requests in flight get this long to finish (30s …)
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = duration,
          allow_hyphen_values = true)]
    pub shutdown_timeout: std::time::Duration,
}

/// `jongler batch`'s arguments.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The connector to send to
    pub connector: String,
    /// HTTP method of every request
    pub method: String,
    /// Endpoint of lines that name none
    pub endpoint: String,
    /// The requests, one per line ('-': stdin)
    #[arg(long = "in", value_name = "FILE")]
    pub input: String,
    /// Where answers go, one per line; appended to, and read first to resume ('-': stdout)
    #[arg(long, value_name = "FILE")]
    pub out: String,
    /// Input lines are plain text, JSON-escaped into this body at {{text}}
    #[arg(long, value_name = "JSON")]
    pub template: Option<String>,
    /// Write answers as they complete instead of in input order
    #[arg(long)]
    pub unordered: bool,
    /// At most this many requests in flight [default: the keys not in ERROR, up to 256]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: Option<u32>,
    /// Without a terminal, a progress line this often (10s, 1m …; 0: none)
    #[arg(long, value_name = "DURATION", default_value = "10", value_parser = duration,
          allow_hyphen_values = true)]
    pub progress_every: std::time::Duration,
}

/// What `jongler keys` does.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Add the keys of FILE ('-': stdin), one a line (blank lines and `#`
    /// comments skipped), as import-0001, import-0002 …; a key the pool has
    /// already, under any name, is skipped and named
    Import {
        /// The connector whose section the keys go to
        connector: String,
        /// The file of keys, or '-' for stdin
        file: String,
        /// Check each key added (a request that costs no quota)
        #[arg(long)]
        check: bool,
    },
    /// Add one key named NAME; its value is read from stdin (at a terminal,
    /// asked for without echo), never from the command line
    Add {
        /// The connector whose section the key goes to
        connector: String,
        /// The key's name
        name: String,
    },
    /// Remove keys by name, and their LOCKDOWN and ERROR marks
    Remove {
        /// The connector whose section the keys are in
        connector: String,
        /// The keys' names
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List the keys' names and states (never their values)
    List {
        /// The connector
        connector: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

/// Ends the process for a parse error in jongler's own voice
/// (`jongler: error: …`, exit 2); help and the version go out as clap writes them.
fn exit(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let mut err = std::io::stderr().lock();
    let _ = std::io::Write::write_fmt(&mut err, format_args!("{}", in_our_voice(&e)));
    std::process::exit(2)
}

/// A parse error as jongler prints it: `jongler: error: …`.
pub fn in_our_voice(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!("jongler: error: {text}")
}

/// An address to listen on: `127.0.0.1:8787`, `[::1]:8787`, or a host name
/// with a port (`localhost:8787`), resolved here (loopback IPv4 first).
pub fn listen_address(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let wrong = || {
        format!(
            "{text:?} is not an address to listen on: write HOST:PORT, e.g. 127.0.0.1:8787 or localhost:8787"
        )
    };
    if !text.contains(':') {
        return Err(wrong());
    }
    let addrs: Vec<std::net::SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("{} ({e})", wrong()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(wrong)
}

/// A duration: `500ms`, `10s`, `2m`, `1h 30m`, or plain seconds (`2.5`),
/// the way limits are written in connectors.
/// `low`, `normal` or `high`.
fn priority(text: &str) -> Result<crate::pool::Priority, String> {
    crate::pool::Priority::parse(text)
}

pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{text:?} is not a duration ≥ 0"));
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("{text:?} is not a duration ({e}); write it as 500ms, 10s, 2m or plain seconds")
    })
}

impl std::ops::Deref for Cli {
    type Target = TopArgs;
    fn deref(&self) -> &TopArgs {
        &self.top
    }
}

/// The request form alone: what a call parses with when no argument names a
/// subcommand or asks for help, so clap builds neither the subcommands nor
/// copies of the global options for each of them. Same arguments, same
/// usage line, same errors.
#[derive(Debug, Parser)]
#[command(
    name = "jongler",
    version,
    after_help = EXIT_CODES_HELP,
    override_usage = USAGE
)]
struct RequestCli {
    #[command(flatten)]
    top: TopArgs,
}

/// Words that send a command line to the full parser.
const FULL_PARSE: &[&str] = &[
    "keys",
    "status",
    "check",
    "serve",
    "batch",
    "demo",
    "completions",
    "help",
    "-h",
    "--help",
];

/// The subcommand `word` was probably meant to be, if one is close.
pub fn closest_command(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    FULL_PARSE
        .iter()
        .filter(|c| !c.starts_with('-'))
        .map(|c| (strsim::damerau_levenshtein(&word, c), *c))
        .filter(|(d, c)| *d > 0 && *d <= (c.len() / 3).clamp(1, 2))
        .min()
        .map(|(_, c)| c)
}

impl Cli {
    /// Parses the process's arguments like [`Parser::parse`] (errors and
    /// `--help` exit, errors in jongler's voice), without dropping clap's
    /// command tree afterwards: the process ends after one command, and
    /// freeing the tree costs a call more than the rest of its argument
    /// handling.
    pub fn parse_args() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        Cli::parse_from_with(&args, Tree::Leak).unwrap_or_else(|e| exit(e))
    }

    /// Parses `args` (the program's name first) and returns clap's error
    /// instead of exiting: help and `--version` come back as errors of kind
    /// `DisplayHelp` / `DisplayVersion`, as with clap's own `try_parse_from`.
    pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        Cli::parse_from_with(&args, Tree::Free)
    }

    /// Which parser a command line goes to: the request form's alone unless
    /// a word names a subcommand or asks for help.
    fn parse_from_with(args: &[std::ffi::OsString], tree: Tree) -> Result<Cli, clap::Error> {
        if !needs_full_parser(args) {
            let request: RequestCli = parse(args, tree)?;
            return Ok(Cli {
                command: None,
                top: request.top,
            });
        }
        match parse::<Cli>(args, tree) {
            Ok(full) if full.command.is_none() || full.top.connector.is_none() => Ok(full),
            // A command word after a request's first words (`gemini POST /x
            // status`) is part of the request, as the request parser reads it;
            // a line that starts with a command (`keys add gemini`, missing
            // its NAME) keeps the full parser's error.
            full => match parse::<RequestCli>(args, tree) {
                Ok(request)
                    if request
                        .top
                        .connector
                        .as_deref()
                        .is_some_and(|c| !FULL_PARSE.contains(&c)) =>
                {
                    Ok(Cli {
                        command: None,
                        top: request.top,
                    })
                }
                _ => full,
            },
        }
    }
}

/// Whether a word of `args` (after the program's name) names a subcommand
/// or asks for help (alone or in a cluster of short flags, `-vh`).
fn needs_full_parser(args: &[std::ffi::OsString]) -> bool {
    args.iter().skip(1).any(|a| {
        a.to_str().is_none_or(|a| {
            FULL_PARSE.contains(&a)
                || (a.starts_with('-')
                    && !a.starts_with("--")
                    && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                    && a.contains('h'))
        })
    })
}

/// What to do with clap's command tree after a parse.
#[derive(Clone, Copy)]
enum Tree {
    /// Leak it: the process ends after one command anyway.
    Leak,
    /// Free it (a library caller or a test parses many times).
    Free,
}

/// Parses `args` with `P`'s parser.
fn parse<P: clap::CommandFactory + clap::FromArgMatches>(
    args: &[std::ffi::OsString],
    tree: Tree,
) -> Result<P, clap::Error> {
    let mut command = P::command();
    let mut matches = command.try_get_matches_from_mut(args)?;
    let parsed = P::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))?;
    if let Tree::Leak = tree {
        std::mem::forget(command);
        std::mem::forget(matches);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_take_host_names_and_say_what_is_wrong() {
        assert_eq!(
            listen_address("127.0.0.1:8787").unwrap(),
            "127.0.0.1:8787".parse().unwrap()
        );
        assert_eq!(
            listen_address("[::1]:9").unwrap(),
            "[::1]:9".parse().unwrap()
        );
        let local = listen_address("localhost:18791").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 18791, "{local}");
        for bad in ["localhost", "8787", "no such host:80:80", ""] {
            let err = listen_address(bad).unwrap_err();
            assert!(err.contains("HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_mistyped_command_is_matched_to_the_closest_one() {
        assert_eq!(closest_command("statsu"), Some("status"));
        assert_eq!(closest_command("Serv"), Some("serve"));
        assert_eq!(closest_command("batc"), Some("batch"));
        assert_eq!(closest_command("status"), None, "not a typo");
        assert_eq!(closest_command("generativelanguage.googleapis.com"), None);
        assert_eq!(closest_command("xyz"), None);
    }

    fn parse(args: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("jongler").chain(args.split_whitespace()))
    }

    fn kind(args: &str) -> clap::error::ErrorKind {
        parse(args).expect_err(args).kind()
    }

    #[test]
    fn a_request_goes_to_the_request_parser_with_its_options() {
        let cli = parse("gemini POST /v1/x {} --pretty -i --wait 2s --timeout 0").unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.connector.as_deref(), Some("gemini"));
        assert_eq!(cli.method.as_deref(), Some("POST"));
        assert_eq!(cli.endpoint.as_deref(), Some("/v1/x"));
        assert_eq!(cli.body.as_deref(), Some("{}"));
        assert!(cli.pretty && cli.include);
        assert_eq!(cli.wait, std::time::Duration::from_secs(2));
        assert_eq!(cli.timeout, std::time::Duration::ZERO);
        assert!(!needs_full_parser(&["jongler".into(), "gemini".into()]));
    }

    #[test]
    fn a_subcommand_goes_to_the_full_parser_and_takes_global_options_on_either_side() {
        let cli = parse("--wait 5 status gemini --json -q").unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Status { ref connector, json: true, .. }) if connector.as_deref() == Some("gemini")
        ));
        assert_eq!(cli.wait, std::time::Duration::from_secs(5));
        assert!(cli.global.quiet);
        let cli = parse("serve gemini --listen 127.0.0.1:9 --lease-ttl 500ms").unwrap();
        match cli.command {
            Some(Command::Serve(ServeArgs { listen, .. })) => assert_eq!(listen.port(), 9),
            other => panic!("{other:?}"),
        }
        assert_eq!(cli.global.lease_ttl, std::time::Duration::from_millis(500));
        let cli = parse("keys remove gemini a b").unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Keys { action: KeysAction::Remove { ref names, .. } }) if names.len() == 2
        ));
        assert!(matches!(
            parse("check gemini").unwrap().command,
            Some(Command::Check { concurrency, .. }) if concurrency == crate::jongler::DEFAULT_CHECK_CONCURRENCY
        ));
    }

    #[test]
    fn cleanup_forms_parse_and_conflict_with_a_request() {
        assert_eq!(
            parse("--cleanup gemini").unwrap().cleanup.as_deref(),
            Some("gemini")
        );
        assert!(parse("--cleanup-all").unwrap().cleanup_all);
        use clap::error::ErrorKind;
        assert_eq!(kind("--cleanup a b POST /x"), ErrorKind::ArgumentConflict);
        assert_eq!(
            kind("--cleanup a --cleanup-all"),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            kind("--tor --proxy http://p:1 g POST /x"),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn bad_arguments_come_back_as_errors_instead_of_ending_the_process() {
        use clap::error::ErrorKind;
        assert_eq!(kind("g POST /x --wait soon"), ErrorKind::ValueValidation);
        assert_eq!(kind("g POST /x --no-such-flag"), ErrorKind::UnknownArgument);
        assert_eq!(kind("serve g --listen nowhere"), ErrorKind::ValueValidation);
        assert_eq!(
            kind("batch g POST /x --in a --out b --concurrency 0"),
            ErrorKind::ValueValidation
        );
        assert_eq!(kind("--help"), ErrorKind::DisplayHelp);
        assert_eq!(kind("-vh"), ErrorKind::DisplayHelp, "help in a cluster");
        assert_eq!(kind("status --help"), ErrorKind::DisplayHelp);
        assert_eq!(kind("--version"), ErrorKind::DisplayVersion);
        // A command missing an argument is named as such, not read as a
        // request to a connector called `keys`.
        assert_eq!(kind("keys add gemini"), ErrorKind::MissingRequiredArgument);
        assert_eq!(kind("status a b c d"), ErrorKind::UnknownArgument);
        let e = parse("g POST /x --wait soon").unwrap_err();
        let text = in_our_voice(&e);
        assert!(
            text.starts_with("jongler: error: ") && text.contains("'soon'"),
            "{text}"
        );
        assert!(text.contains("try '--help'"), "{text}");
    }

    #[test]
    fn a_body_that_is_a_command_word_is_the_body() {
        // The word sends the line to the full parser, which must read it as
        // the request parser would: a body, not `status` run after a request.
        let cli = parse("gemini POST /x status --pretty").unwrap();
        assert!(cli.command.is_none(), "{:?}", cli.command);
        assert_eq!(cli.body.as_deref(), Some("status"));
        assert!(cli.pretty);
    }
}
