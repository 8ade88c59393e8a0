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
    Serve {
        /// The connector to serve
        connector: String,
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8787", value_parser = listen_address)]
        listen: std::net::SocketAddr,
        /// The token clients must present (without one, only loopback listening is
        /// allowed); prefer JONGLER_PROXY_TOKEN or --token-file: a command line is
        /// visible to every user in `ps`
        #[arg(long, env = "JONGLER_PROXY_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Read the token from this file (its first line)
        #[arg(long, value_name = "FILE", conflicts_with = "token")]
        token_file: Option<std::path::PathBuf>,
        /// A client that reads nothing of a streamed answer for this long
        /// (30s, 1m …) loses it, and its key is released
        #[arg(long, value_name = "DURATION", default_value = "30", value_parser = duration,
              allow_hyphen_values = true)]
        stall_timeout: std::time::Duration,
        /// A connection gets this long (30s, 1m …) to send a request's headers, from
        /// when it opens or its last answer ends (idle connections close too)
        #[arg(long, value_name = "DURATION", default_value = "30", value_parser = duration,
              allow_hyphen_values = true)]
        header_timeout: std::time::Duration,
        /// Serve /metrics (Prometheus) without the token, for a scraper that
        /// can't send one; everything else still needs it
        #[arg(long)]
        metrics_public: bool,
        /// After SIGTERM/SIGINT, requests in flight get this long to finish (30s …)
        #[arg(long, value_name = "DURATION", default_value = "30", value_parser = duration,
              allow_hyphen_values = true)]
        shutdown_timeout: std::time::Duration,
    },
    /// Send a JSONL file of requests through the whole pool; resumable
    ///
    /// Each input line is a JSON body, or {"id": …, "body": …, "endpoint": …};
    /// with --template, plain text put into the template at {{text}}. Each
    /// answer is one line of --out: {"id", "status", "key", "body"}, or
    /// {"id", "error", "exit"}. Running the same command again sends only the
    /// lines without a successful answer in --out. Exits 0 when every line
    /// has one, else with the highest exit code among the failures (130 after
    /// Ctrl-C).
    Batch {
        /// The connector to send to
        connector: String,
        /// HTTP method of every request
        method: String,
        /// Endpoint of lines that name none
        endpoint: String,
        /// The requests, one per line ('-': stdin)
        #[arg(long = "in", value_name = "FILE")]
        input: String,
        /// Where answers go, one per line; appended to, and read first to resume ('-': stdout)
        #[arg(long, value_name = "FILE")]
        out: String,
        /// Input lines are plain text, JSON-escaped into this body at {{text}}
        #[arg(long, value_name = "JSON")]
        template: Option<String>,
        /// Write answers as they complete instead of in input order
        #[arg(long)]
        unordered: bool,
        /// At most this many requests in flight [default: the keys not in ERROR, up to 256]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
        concurrency: Option<u32>,
        /// Without a terminal, a progress line this often (10s, 1m …; 0: none)
        #[arg(long, value_name = "DURATION", default_value = "10", value_parser = duration,
              allow_hyphen_values = true)]
        progress_every: std::time::Duration,
    },
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
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let mut err = std::io::stderr().lock();
    let _ = std::io::Write::write_fmt(&mut err, format_args!("jongler: error: {text}"));
    std::process::exit(2)
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
    /// `--help` exit), without dropping clap's command tree afterwards: the
    /// process ends after one command, and freeing the tree costs a call more
    /// than the rest of its argument handling.
    pub fn parse_args() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let full = args.iter().skip(1).any(|a| {
            a.to_str().is_none_or(|a| {
                FULL_PARSE.contains(&a)
                        // A cluster of short flags asking for help.
                        || (a.starts_with('-')
                            && !a.starts_with("--")
                            && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                            && a.contains('h'))
            })
        });
        if !full {
            let request: RequestCli = parse(&args);
            return Cli {
                command: None,
                top: request.top,
            };
        }
        parse(&args)
    }
}

/// Parses `args` with `P`'s parser, errors in jongler's voice, without
/// dropping clap's command tree afterwards: the process ends after one
/// command, and freeing the tree costs a call more than the rest of its
/// argument handling.
fn parse<P: clap::CommandFactory + clap::FromArgMatches>(args: &[std::ffi::OsString]) -> P {
    let mut command = P::command();
    let mut matches = command
        .try_get_matches_from_mut(args)
        .unwrap_or_else(|e| exit(e));
    let parsed =
        P::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| exit(e.format(&mut command)));
    std::mem::forget(command);
    std::mem::forget(matches);
    parsed
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
}
