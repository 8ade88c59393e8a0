//! `jongler-emulator`: the emulator (Gemini, OpenAI or Anthropic) as a
//! process, for benchmarks and trying jongler without keys. Prints its URL
//! on the first line of stdout.

use clap::Parser;
use jongler::emulator::{Behavior, Emulator, EmulatorConfig};
use std::time::Duration;

/// A local Gemini API stand-in: quota windows, real 429 bodies, bad keys, latency.
#[derive(Parser)]
#[command(name = "jongler-emulator", version)]
struct Args {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// A key it accepts, as VALUE or VALUE=BEHAVIOUR (valid, invalid, suspended, leaked, exhausted, daily-exhausted, overloaded)
    #[arg(long = "key", value_name = "VALUE[=BEHAVIOUR]")]
    keys: Vec<String>,
    /// Per-key rate limit, as REQUESTS/SECONDS, e.g. 5/2
    #[arg(long, value_name = "N/SECONDS")]
    rate: Option<String>,
    /// A model whose daily quota every key has used up (repeatable)
    #[arg(long, value_name = "MODEL")]
    daily_exhausted_model: Vec<String>,
    /// Accept keys not given with --key as valid
    #[arg(long)]
    accept_any_key: bool,
    /// The API it stands in for: gemini, openai (x-ratelimit-* headers) or
    /// anthropic (anthropic-ratelimit-* headers)
    #[arg(long, default_value = "gemini")]
    flavor: jongler::emulator::Flavor,
    /// How --rate refills: window (each request counts for one window from
    /// when it was made) or bucket (capacity comes back steadily); default:
    /// window for gemini, bucket for openai and anthropic
    #[arg(long, value_name = "RULE")]
    refill: Option<jongler::emulator::Refill>,
    /// A model it serves (repeatable); a call naming another gets the
    /// API's "model not found" 404. Default: gemini's five current models
    /// (and any gemini- model), or model-small and model-large
    #[arg(long = "model", value_name = "NAME")]
    models: Vec<String>,
    /// Latency of each successful request, in milliseconds
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut keys = Vec::new();
    for spec in &args.keys {
        let (value, behavior) = match spec.split_once('=') {
            Some((v, b)) => (v, b.parse::<Behavior>().map_err(anyhow::Error::msg)?),
            None => (spec.as_str(), Behavior::Valid),
        };
        keys.push((value.to_string(), behavior));
    }
    let rate = match &args.rate {
        Some(spec) => {
            let (n, secs) = spec
                .split_once('/')
                .ok_or_else(|| anyhow::anyhow!("--rate wants N/SECONDS"))?;
            Some((n.parse()?, Duration::from_secs_f64(secs.parse()?)))
        }
        None => None,
    };
    let emulator = Emulator::start_on(
        args.listen,
        EmulatorConfig {
            keys,
            rate,
            latency: Duration::from_millis(args.latency_ms),
            accept_unknown: args.accept_any_key,
            daily_exhausted_models: args.daily_exhausted_model.clone(),
            flavor: args.flavor,
            refill: args.refill,
            models: args.models.clone(),
        },
    )?;
    println!("{}", emulator.url());
    loop {
        std::thread::park();
    }
}
