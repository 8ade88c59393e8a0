//! The writer: runs on the calling thread, writes each answer line and
//! counts it in the summary. In ordered mode it owns the reorder window: an
//! answer that comes before its turn waits in a buffer, and the reader may
//! run only so far ahead of what has been written, so the buffer stays
//! bounded however slow one line is.

use super::worker::Done;
use super::{Shared, Summary};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Lets the reader run at most a fixed number of lines ahead of the writer.
pub(super) struct Window {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Window {
    /// Room for 16 lines a worker, and at least 256.
    pub(super) fn new(workers: usize) -> Window {
        Window {
            free: Mutex::new((workers * 16).max(256)),
            freed: Condvar::new(),
        }
    }

    /// Takes a place for one line, waiting for one; `false` if `stop` is
    /// set while there is none.
    pub(super) fn take(&self, stop: &AtomicBool) -> bool {
        let mut free = self.free.lock().expect("invariant: window lock");
        while *free == 0 {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            free = self
                .freed
                .wait_timeout(free, Duration::from_millis(100))
                .expect("invariant: window lock")
                .0;
        }
        *free -= 1;
        true
    }

    fn give(&self, n: usize) {
        *self.free.lock().expect("invariant: window lock") += n;
        self.freed.notify_all();
    }
}

/// The writer role.
pub(super) struct Writer<'a> {
    out: Box<dyn Write + Send>,
    /// The reorder window; `None` writes answers as they come (`--unordered`).
    window: Option<&'a Window>,
    /// Answers that came before their turn, by their place in the input.
    waiting: BTreeMap<u64, Done>,
    /// The place whose answer is written next.
    next: u64,
    shared: &'a Shared<'a>,
    summary: &'a mut Summary,
}

impl<'a> Writer<'a> {
    pub(super) fn new(
        out: Box<dyn Write + Send>,
        window: Option<&'a Window>,
        shared: &'a Shared<'a>,
        summary: &'a mut Summary,
    ) -> Writer<'a> {
        Writer {
            out,
            window,
            waiting: BTreeMap::new(),
            next: 0,
            shared,
            summary,
        }
    }

    /// Writes every answer the workers send until they are all done. After
    /// a failed write the rest are only received.
    pub(super) fn run(mut self, answers: Receiver<Done>) -> Result<()> {
        let mut result = Ok(());
        for done in answers {
            if result.is_ok() {
                result = self.accept(done);
                if result.is_err() {
                    // No more lines are sent whose answers can't be kept.
                    self.shared.stop.store(true, Ordering::Relaxed);
                }
            }
        }
        // Stopped early: whatever finished out of order is written still.
        for (_, done) in std::mem::take(&mut self.waiting) {
            if result.is_ok() {
                result = self.write(done);
            }
        }
        if let Some(window) = self.window {
            // Nothing is written any more: a reader still waiting goes on.
            window.give(usize::MAX / 2);
        }
        result
    }

    /// One answer from a worker: written now, or when its turn comes.
    fn accept(&mut self, done: Done) -> Result<()> {
        let Some(window) = self.window else {
            return self.write(done);
        };
        self.waiting.insert(done.seq, done);
        let mut written = 0;
        let mut result = Ok(());
        while let Some(done) = self.waiting.remove(&self.next) {
            self.next += 1;
            written += 1;
            if let Err(e) = self.write(done) {
                result = Err(e);
                break;
            }
        }
        window.give(written);
        result
    }

    fn write(&mut self, done: Done) -> Result<()> {
        match done.line {
            None => self.summary.not_sent += 1,
            Some(line) => {
                self.summary.count(done.code);
                self.out.write_all(&line).context("writing an answer")?;
            }
        }
        Ok(())
    }
}
