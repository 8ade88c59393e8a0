//! jongler: send requests to LLM APIs (Google Gemini, Hugging Face, any
//! OpenAI-style API) through a pool of API keys shared safely by every
//! process on the machine.
//!
//! Every request gets a key that is free right now. A rate-limited key is set
//! aside (LOCKDOWN) for exactly as long as the API says, a bad key is marked
//! (ERROR), and the request is retried on another key. Key states are marker
//! files in a state dir; a key in use is held with an OS file lock, so a
//! crashed process never strands one.
//!
//! ```text
//! VACANT ──take──▶ LOCKED ──2xx/3xx, caller's 4xx, 5xx, network error──▶ VACANT
//!                    │──429 / 503 / 509──▶ LOCKDOWN ──time's up, or a success──▶ VACANT
//!                    └──401, API_KEY_INVALID, suspended──▶ ERROR ──--cleanup──▶ VACANT
//! ```
//!
//! The library entry point is [`Jongler`]; the `jongler` binary is a thin
//! wrapper around [`app::main`].

pub mod app;
pub mod cli;
pub mod config;
pub mod connector;
pub mod demo;
pub mod emulator;
pub mod error;
pub mod http;
mod jongler;
pub mod names;
pub mod output;
pub mod pool;
pub mod secret;
pub mod serve;

pub use error::{Error, ExitCode};
pub use jongler::{Call, Health, Jongler, KeyHealth, Options, Reply, Response, StreamReply};
pub use pool::store::CleanReport;
pub use pool::{KeyStatus, State};
pub use secret::ApiKey;

/// The README's Rust examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
