//! The workers: each takes the next line from the reader, sends it as an
//! ordinary pooled call and hands its answer line to the writer. After a
//! stop, the lines still queued are handed on unsent.

use super::format::Item;
use super::{BatchOptions, Shared};
use crate::error::{ExitCode, exit_code_of};
use crate::jongler::{Jongler, Response};
use serde_json::Value;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender};

/// One finished line for the writer.
pub(super) struct Done {
    /// Its place among the lines sent, from 0.
    pub(super) seq: u64,
    /// The line to write (with its newline); `None`: skipped, nothing to write.
    pub(super) line: Option<Vec<u8>>,
    /// Its exit code (0 for success).
    pub(super) code: u8,
}

/// A worker role: all share the queue of lines, each has its sender of
/// answers (the writer is done when the last one is dropped).
#[derive(Clone)]
pub(super) struct Worker<'a> {
    pub(super) jongler: &'a Jongler,
    pub(super) opts: &'a BatchOptions,
    pub(super) items: &'a Mutex<Receiver<(u64, Item)>>,
    pub(super) answers: Sender<Done>,
    pub(super) shared: &'a Shared<'a>,
}

impl Worker<'_> {
    /// Takes lines until the reader is done.
    pub(super) fn run(self) {
        loop {
            let next = self.items.lock().expect("invariant: queue lock").recv();
            let Ok((seq, item)) = next else { return };
            let done = if self.shared.stopping() {
                Done {
                    seq,
                    line: None,
                    code: 0,
                }
            } else {
                let (line, code) = self.send(&item);
                self.shared.count(code);
                Done {
                    seq,
                    line: Some(line),
                    code,
                }
            };
            if self.answers.send(done).is_err() {
                return;
            }
        }
    }

    /// Sends one line and renders its answer line.
    fn send(&self, item: &Item) -> (Vec<u8>, u8) {
        let endpoint = item.endpoint.as_deref().unwrap_or(&self.opts.endpoint);
        let (value, code) =
            match self
                .jongler
                .request(&self.opts.method, endpoint, Some(&item.body))
            {
                Ok(response) => answer(item, &response),
                Err(err) => {
                    let code = exit_code_of(&err);
                    if code == ExitCode::NoKey {
                        self.shared.stop_for_no_key(|| format!("{err:#}"));
                    }
                    let value = serde_json::json!({
                        "id": item.id,
                        "error": format!("{err:#}"),
                        "exit": code.code(),
                    });
                    (value, code.code())
                }
            };
        log::debug!("line {}: exit {code}", item.line);
        let mut line = serde_json::to_vec(&value).expect("invariant: a Value serializes");
        line.push(b'\n');
        (line, code)
    }
}

/// The answer line of a request that got an HTTP answer, and its exit code.
fn answer(item: &Item, response: &Response) -> (Value, u8) {
    let body = serde_json::from_slice::<Value>(&response.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()));
    let code = ExitCode::for_status(response.status).code();
    let mut line = serde_json::json!({
        "id": item.id,
        "status": response.status,
        "key": response.key_name,
        "body": body,
    });
    if code != 0 {
        line["exit"] = Value::from(code);
    }
    (line, code)
}
