//! jongler: send requests to LLM APIs (Google Gemini, Hugging Face, any
//! OpenAI-style API) through a pool of API keys shared safely by every
//! process on the machine.
//!
//! Every request gets a key that is free right now. A rate-limited key is set
//! aside (LOCKDOWN) for exactly as long as the API says, a bad key is marked
//! (ERROR), and the request is retried on another key. Key states are marker
//! files in a state dir, where a key in use is held with an OS file lock so a
//! crashed process never strands one — or, for many machines, leases in a
//! Redis (`--state redis://…`), behind the same [`pool::state::StateStore`]
//! interface.
//!
//! ```text
//! VACANT ──take──▶ LOCKED ──2xx/3xx, caller's 4xx, 5xx, network error──▶ VACANT
//!                    │──429 (or a status the connector declares)──▶ LOCKDOWN ──time's up, or a success──▶ VACANT
//!                    └──401, ErrorInfo API_KEY_INVALID, suspended──▶ ERROR ──--cleanup──▶ VACANT
//! ```
//!
//! The library entry point is [`Jongler`]; the `jongler` binary is a thin
//! wrapper around [`app::main`].

// The library: what a program that sends requests through a pool needs.
pub mod batch;
pub mod config;
pub mod connector;
pub mod daily;
pub mod error;
pub mod http;
mod jongler;
pub mod pool;
pub mod retry;
pub mod secret;
pub mod serve;

/// A stand-in for the APIs on loopback (Gemini, and the OpenAI, Anthropic and
/// other flavours): public for the tests, the benchmarks and `jongler demo`,
/// and for programs that test their own use of jongler without a network.
/// Not a part of the request path.
pub mod emulator;

// The `jongler` program: public for the binary (src/main.rs), not a library API.
#[doc(hidden)]
pub mod app;
#[doc(hidden)]
pub mod cli;

// Inside the crate only.
mod bridge;
mod dashboard;
mod demo;
mod keys;
mod metrics;
mod names;
mod output;

pub use error::{Error, ExitCode};
pub use jongler::{
    Call, Gone, Health, Jongler, KeyHealth, Observer, Options, Reloaded, Reply, Response,
    StreamReply,
};
pub use pool::state::CleanReport;
pub use pool::{Held, KeyStatus, State};
pub use secret::ApiKey;

/// A seed for jitter: different in every process and call.
pub(crate) fn jitter_seed() -> u64 {
    let nanos = jiff::Timestamp::now().as_nanosecond() as u64;
    (u64::from(std::process::id()) << 32 ^ nanos) | 1
}

/// xorshift64: good enough for jitter.
pub(crate) fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// The README's Rust examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
