//! The floor for one pooled call: take one key's marker with `flock`, make
//! one blocking POST with the same reqwest build jongler uses, print the
//! body. Nothing else — no config, no connector, no quota, no retry. Built
//! as an example (`cargo build --release --example floor`) for
//! bench/call-overhead.py.
//!
//! Usage: floor <lock file> <url> <key> <json body>

#![allow(clippy::disallowed_methods)] // the floor takes its own lock and makes its own request

use fs2::FileExt;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, lock, url, key, body] = args.as_slice() else {
        eprintln!("usage: floor <lock file> <url> <key> <json body>");
        std::process::exit(2);
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .expect("lock file");
    file.lock_exclusive().expect("flock");
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let answer = client
        .post(url)
        .header("x-goog-api-key", key)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .expect("send");
    let bytes = answer.bytes().expect("body");
    std::io::stdout().write_all(&bytes).expect("stdout");
    FileExt::unlock(&file).expect("unlock");
}
