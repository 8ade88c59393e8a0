//! The Redis store: the only code that talks to Redis (or Valkey). One pool
//! for many machines: every process that names the same Redis shares its
//! leases, marks, usage records and cursor.
//!
//! Everything lives under `jongler:{<connector>}:` — the connector in a hash
//! tag, so one connector's data sits in one cluster slot — and only names are
//! stored, never a key's value:
//!
//! - `lease:<key>` — the holder's token (random, with its pid and host), set
//!   `NX PX <ttl>`: a key is LOCKED while its lease lives. The holder renews
//!   it while it holds the key (a background thread, every third of the TTL)
//!   and releases it by compare-and-delete, so it never deletes a lease it no
//!   longer owns. A holder killed by SIGKILL frees its key when the lease runs
//!   out, not at once as with `flock`.
//! - `lockdown:<key>` — the LOCKDOWN as JSON, expiring by itself (`PXAT`);
//!   `error:<key>` — the ERROR mark. Both set only by the lease's holder.
//! - `usage:<bucket>` — the usage record (the same JSON as the file store's),
//!   updated by compare-and-set on a version number: no update is lost.
//! - `cursor` — where the next key search starts.
//! - `history:days` — the dates of the usage history kept (a sorted set);
//!   `history:<date>` — that day's totals, a hash of `k|<key>|<field>` and
//!   `c|<client>|<field>` counters. Only the newest days are kept.
//! - `line:<model>` — the calls waiting for a key, by place (a sorted set);
//!   `waiting:<model>:<place>` — a place's lease, kept alive by its call.
//! - channel `released` — a release or a cleared mark is published there, so
//!   waiters on every machine look again at once.
//!
//! Each step that must be atomic is one Lua script, loaded once and called by
//! its SHA. Redis unreachable, refusing auth or erroring: the step fails, and
//! no request goes out without a lease (fails closed).

#![allow(clippy::disallowed_methods)] // This module owns the Redis connections.

use super::history::History;
use super::line::{InLine, Place};
use super::quota::Usage;
use super::state::{
    Attempt, BucketId, CleanReport, ErrorMark, KeyHold, KeyMarks, Lockdown, Mark, MarkKind,
    StateStore,
};
use crate::error::{Error, usage};
use anyhow::Result;
use redis::{Commands, Script};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

mod sentinel;

/// The default lease: how long a SIGKILLed holder keeps its key.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(5);

/// How long usage records live without a write (daily counts need a day).
const USAGE_TTL_MS: u64 = 8 * 24 * 3600 * 1000;

/// How long to wait for Redis to answer before failing the step.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts keys in order, stopping after the first held: a key is taken if
/// no lease lives on it (and, unless told to take marked keys, if it has no
/// mark); its marks are read under the lease, with the usage record the
/// caller updates next.
///
/// First, fencing: the pool's epoch record names the Redis that wrote it
/// (its run id). Naming another server (a restart, a promoted replica), or
/// missing where the server may have lost data (up for less than the fence,
/// flushed since it started, or a promoted replica), the state may have been
/// lost with leases still live: the fence is set for the lease TTL and a
/// margin, and while it stands no key is handed out (live holders re-assert
/// their leases meanwhile, see RENEW). A missing epoch on a server that
/// can't have lost anything is a new pool: no fence.
///
/// KEYS: epoch, fence, then 4 per key (lease, lockdown, error, usage). ARGV:
/// token, ttl ms, take marked (0/1), fence ms, a random word for a new
/// epoch. Returns one {status, lockdown, error, usage} per key attempted: 1
/// held, 0 busy, 2 marked; or one {3, fence ms left} when fenced.
const ATTEMPT_EACH: &str = r"
local epoch = redis.call('GET', KEYS[1])
local server = redis.call('INFO', 'server')
local run_id = string.match(server, 'run_id:(%x+)') or '?'
local lost = false
if epoch then
  lost = string.sub(epoch, 1, #run_id + 1) ~= run_id .. ' '
else
  local up = tonumber(string.match(server, 'uptime_in_seconds:(%d+)')) or 0
  local stats = redis.call('INFO', 'commandstats')
  local flushed = string.find(stats, 'cmdstat_flushall:', 1, true)
    or string.find(stats, 'cmdstat_flushdb:', 1, true)
  local replication = redis.call('INFO', 'replication')
  local promoted = not string.find(replication,
    'master_replid2:0000000000000000000000000000000000000000', 1, true)
  lost = up * 1000 < tonumber(ARGV[4]) or flushed ~= nil or promoted
end
if lost then
  redis.call('SET', KEYS[2], run_id, 'PX', ARGV[4], 'NX')
end
if lost or not epoch then
  redis.call('SET', KEYS[1], run_id .. ' ' .. ARGV[5])
end
local fenced = redis.call('PTTL', KEYS[2])
if fenced > 0 then
  return {{3, tostring(fenced), false, false}}
end
local out = {}
for i = 3, #KEYS, 4 do
  local holder = redis.call('GET', KEYS[i])
  -- Our own token: this very attempt, run again after a dropped reply.
  if holder and holder ~= ARGV[1] then
    out[#out + 1] = {0, false, false, false}
  else
    local lockdown = redis.call('GET', KEYS[i + 1])
    local err = redis.call('GET', KEYS[i + 2])
    if ARGV[3] == '0' and (lockdown or err) then
      out[#out + 1] = {2, lockdown, err, false}
    else
      redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
      out[#out + 1] = {1, lockdown, err, redis.call('GET', KEYS[i + 3])}
      return out
    end
  end
end
return out
";

/// Compare-and-delete of a lease, then a word to waiters. KEYS: lease.
/// ARGV: token, channel, key name. Returns 1 if it was still ours.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
";

/// Renews a lease that is still ours. One that is gone is set again only if
/// the store lost its state (the fence is up, or the epoch is missing or
/// names another server): the store hands out no key meanwhile. Gone for any
/// other reason (released an instant ago, or run out), it is not ours any
/// more. KEYS: lease, epoch, fence. ARGV: token, ttl ms. Returns 1 renewed,
/// 2 re-asserted, 0 not ours.
const RENEW: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if cur then return 0 end
local lost = redis.call('EXISTS', KEYS[3]) == 1
if not lost then
  local epoch = redis.call('GET', KEYS[2])
  local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or '?'
  lost = (not epoch) or string.sub(epoch, 1, #run_id + 1) ~= run_id .. ' '
end
if lost then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
";

/// Sets a mark if the lease is ours. KEYS: lease, mark. ARGV: token, JSON,
/// expiry (unix ms, or 0 for none). Returns 1 if set.
const MARK: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '0' then
  redis.call('SET', KEYS[2], ARGV[2])
else
  redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[3])
end
return 1
";

/// Clears a mark if the lease is ours. KEYS: lease, mark. ARGV: token,
/// channel, key name. Returns the number of marks removed, -1 if not ours.
const CLEAR: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local n = redis.call('DEL', KEYS[2])
if n > 0 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return n
";

/// A word nothing else of this process or another carries: the process's
/// own (its id and start time), and a count. Lease tokens and writes carry
/// one, so that a step run again knows its own work and never another's
/// (two threads in one nanosecond drew the same word from the clock).
fn unique_word() -> String {
    static PROCESS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let process = *PROCESS.get_or_init(crate::jitter_seed);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{process:016x}{n:x}")
}

/// Compare-and-set of a usage record on its version. KEYS: record. ARGV:
/// expected version, new value ("<version> <writer's word>\n<json>"), ttl
/// ms. Returns 1 if set.
const SWAP: &str = r"
local cur = redis.call('GET', KEYS[1])
-- Already this value (it holds the writer's own word): this very swap, run
-- again after a dropped reply.
if cur == ARGV[2] then return 1 end
local v = '0'
if cur then v = string.match(cur, '^(%d+)[ \n]') or '0' end
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Stands a call in a line. KEYS: the line (a sorted set, every score 0, so
/// places sort by name), the place's life key. ARGV: place, token, ttl ms.
const JOIN: &str = r"
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 86400000)
return 1
";

/// Leaves a line, and says so to waiters. KEYS: line, life key. ARGV: place,
/// channel.
const LEAVE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[2], 'line')
return 1
";

/// The first live place in the line; places whose life key ran out (their
/// process died) are removed. KEYS: line. ARGV: life key prefix, a process's
/// part of place names to skip ('' for none).
const FIRST: &str = r"
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. m) == 1 then
    if ARGV[2] == '' or not string.find(m, ARGV[2], 1, true) then return m end
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return false
";

/// Adds to one day of the usage history and keeps the newest days. KEYS:
/// the set of days (a sorted set, every score 0: dates sort by name), that
/// day's hash. ARGV: date, days kept, the day hashes' prefix, then field and
/// amount pairs.
const ADD_HISTORY: &str = r"
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
local keep = tonumber(ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n > keep then
  for _, day in ipairs(redis.call('ZRANGE', KEYS[1], 0, n - keep - 1)) do
    redis.call('DEL', ARGV[3] .. day)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - keep - 1)
end
return 1
";

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        attempt_each: Script::new(ATTEMPT_EACH),
        release: Script::new(RELEASE),
        renew: Script::new(RENEW),
        mark: Script::new(MARK),
        clear: Script::new(CLEAR),
        swap: Script::new(SWAP),
        join: Script::new(JOIN),
        add_history: Script::new(ADD_HISTORY),
        leave: Script::new(LEAVE),
        first: Script::new(FIRST),
    })
}

struct Scripts {
    add_history: Script,
    join: Script,
    leave: Script,
    first: Script,
    attempt_each: Script,
    release: Script,
    renew: Script,
    mark: Script,
    clear: Script,
    swap: Script,
}

/// Where connections go: one server, or the master the sentinels name.
#[derive(Clone)]
enum Target {
    Plain(redis::Client),
    Sentinel(Arc<Mutex<redis::sentinel::SentinelClient>>),
}

/// A Redis server, as named by a `redis://` or `rediss://` URL, or the
/// master of a `redis+sentinel://` URL's sentinels.
#[derive(Clone)]
pub struct Server {
    target: Target,
    /// The URL without its password, for messages.
    shown: String,
    /// Idle connections, reused.
    idle: Arc<Mutex<Vec<redis::Connection>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Server {
    /// Parses the URL; nothing is connected yet.
    pub fn open(url: &str) -> Result<Server> {
        let shown = without_password(url);
        let target = if sentinel::is_sentinel_url(url) {
            let parsed = sentinel::parse(url).map_err(|why| {
                usage(format!(
                    "--state {shown} is not a sentinel URL: {why}; use redis+sentinel://[user:password@]host[:port][,host2[:port2]…]/MASTER_NAME[/db]"
                ))
            })?;
            let client = parsed.client().map_err(|e| {
                usage(format!(
                    "--state {shown}: {}",
                    without_password(&e.to_string())
                ))
            })?;
            Target::Sentinel(Arc::new(Mutex::new(client)))
        } else {
            Target::Plain(redis::Client::open(url).map_err(|e| {
                usage(format!(
                    "--state {shown} is not a Redis URL ({e}); use redis://[user:password@]host:port[/db], rediss://… or redis+sentinel://…"
                ))
            })?)
        };
        Ok(Server {
            target,
            shown,
            idle: Default::default(),
        })
    }

    /// Runs `step` on a connection (an idle one, or a new one). A connection
    /// that failed is dropped rather than reused.
    /// A step that fails on an idle connection for want of the connection
    /// (the server restarted, or failed over and this one is a replica now)
    /// is tried once more on a new one.
    fn with<T>(
        &self,
        step: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        self.step(step, true)
    }

    /// [`Server::with`] for a step that must not run twice (an increment):
    /// never tried again.
    fn with_once<T>(
        &self,
        step: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        self.step(step, false)
    }

    fn step<T>(
        &self,
        mut step: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
        again: bool,
    ) -> Result<T> {
        let idle = self
            .idle
            .lock()
            .expect("invariant: no panics under lock")
            .pop();
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let mut result = step(&mut conn);
        if again && reused && result.as_ref().is_err_and(stale_connection) {
            conn = self.connect()?;
            result = step(&mut conn);
        }
        match result {
            Ok(value) => {
                let mut idle = self.idle.lock().expect("invariant: no panics under lock");
                if idle.len() < 64 {
                    idle.push(conn);
                }
                Ok(value)
            }
            Err(e) => Err(self.unavailable(&e)),
        }
    }

    fn connect(&self) -> Result<redis::Connection> {
        self.connect_within(IO_TIMEOUT)
    }

    /// A new connection whose connecting and every step time out after
    /// `limit`.
    fn connect_within(&self, limit: Duration) -> Result<redis::Connection> {
        let client = match &self.target {
            Target::Plain(client) => client.clone(),
            // Asked afresh for each connection: a failover is followed.
            Target::Sentinel(sentinels) => sentinels
                .lock()
                .expect("invariant: no panics under lock")
                .get_client()
                .map_err(|e| self.unavailable(&e))?,
        };
        let conn = client
            .get_connection_with_timeout(limit)
            .map_err(|e| self.unavailable(&e))?;
        conn.set_read_timeout(Some(limit))
            .and_then(|()| conn.set_write_timeout(Some(limit)))
            .map_err(|e| self.unavailable(&e))?;
        Ok(conn)
    }

    /// The error for a failed step: names the server, never the password.
    fn unavailable(&self, e: &redis::RedisError) -> anyhow::Error {
        let text = e.to_string();
        let hint = if e.kind() == redis::ErrorKind::AuthenticationFailed {
            "check the user and password in the URL"
        } else if text.contains("NOAUTH") || text.contains("unauthenticated") {
            "this Redis wants a password: redis://[user]:password@host:port"
        } else if e.is_connection_refusal() || e.is_timeout() || e.is_io_error() {
            "check that Redis is running and reachable from here"
        } else {
            "check the server's log"
        };
        let text = without_password(&text);
        Error::Unavailable(format!(
            "state store {} failed: {text}; {hint} (no request is sent without a lease)",
            self.shown
        ))
        .into()
    }

    /// Every key (name) matching `pattern`, by SCAN.
    fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        self.with(|conn| {
            let keys: Vec<String> = conn.scan_match(pattern)?.collect();
            Ok(keys)
        })
    }
}

/// Whether an error says the connection (not the step) is at fault: closed,
/// reset, or to a server that is a read-only replica now.
fn stale_connection(e: &redis::RedisError) -> bool {
    e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.kind() == redis::ErrorKind::ReadOnly
        || (e.is_io_error() && !e.is_timeout())
}

/// The URL (or any text) with the password of a `user:password@` part hidden.
fn without_password(text: &str) -> String {
    let mut out = text.to_string();
    for scheme in [
        "redis://",
        "rediss://",
        "redis+sentinel://",
        "rediss+sentinel://",
    ] {
        let mut from = 0;
        while let Some(at) = out[from..].find(scheme) {
            let start = from + at + scheme.len();
            let rest = &out[start..];
            let end = rest.find(['/', ' ', '?']).unwrap_or(rest.len());
            if let Some(at_sign) = rest[..end].rfind('@') {
                let creds = &rest[..at_sign];
                let shown = match creds.split_once(':') {
                    Some((user, _)) => format!("{user}:***"),
                    None => "***".to_string(),
                };
                out.replace_range(start..start + at_sign, &shown);
            }
            from = start;
        }
    }
    out
}

/// The keys of one connector in one Redis.
#[derive(Debug, Clone)]
pub struct RedisStore {
    server: Server,
    prefix: String,
    lease_ttl: Duration,
    renewer: Arc<Renewer>,
    /// Usage records fetched by an attempt, for the update that follows it
    /// (the update's compare-and-set still checks they are current).
    prefetched: Arc<Mutex<HashMap<String, Option<String>>>>,
}

/// A key held through its lease.
#[derive(Debug)]
struct RedisHold {
    key: String,
    token: String,
    lease_key: String,
    store: RedisStore,
    alive: Arc<AtomicBool>,
    /// Fires if the lease can't be kept.
    lost: crate::http::Cancel,
}

impl KeyHold for RedisHold {
    fn key(&self) -> &str {
        &self.key
    }

    fn cancel(&self) -> Option<crate::http::Cancel> {
        Some(self.lost.clone())
    }
}

impl Drop for RedisHold {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Relaxed);
        let store = &self.store;
        let released = store.server.with(|conn| {
            scripts()
                .release
                .key(&self.lease_key)
                .arg(&self.token)
                .arg(store.channel())
                .arg(&self.key)
                .invoke::<i64>(conn)
        });
        match released {
            Ok(1) => {}
            Ok(_) => log::warn!(
                "the lease on key `{}` ran out while this process held it (stopped for longer than --lease-ttl?); \
                 another holder may have used the key meanwhile",
                self.key
            ),
            Err(e) => log::warn!(
                "can't release key `{}`: {e:#}; it comes free when its lease runs out",
                self.key
            ),
        }
    }
}

/// A call standing in a line, its place kept alive by the renewer.
#[derive(Debug)]
struct RedisStanding {
    store: RedisStore,
    line_key: String,
    life_key: String,
    place: String,
    alive: Arc<AtomicBool>,
}

impl InLine for RedisStanding {}

impl Drop for RedisStanding {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Relaxed);
        let left = self.store.server.with(|conn| {
            scripts()
                .leave
                .key(&self.line_key)
                .key(&self.life_key)
                .arg(&self.place)
                .arg(self.store.channel())
                .invoke::<i64>(conn)
        });
        if let Err(e) = left {
            log::debug!("can't leave the line: {e:#}; the place lapses with its lease");
        }
    }
}

/// Renews the leases this process holds, from one background thread.
#[derive(Debug)]
struct Renewer {
    leases: Mutex<Vec<Renewal>>,
    started: std::sync::Once,
}

impl Default for Renewer {
    fn default() -> Renewer {
        Renewer {
            leases: Mutex::default(),
            started: std::sync::Once::new(),
        }
    }
}

#[derive(Debug)]
struct Renewal {
    lease_key: String,
    token: String,
    alive: Arc<AtomicBool>,
    /// When it was last known to be ours (taken or renewed), by this
    /// process's monotonic clock.
    ours_at: std::time::Instant,
    /// Stops the request on the key when the lease can't be kept (`None`:
    /// a place in the line, not a key).
    stop: Option<crate::http::Canceller>,
}

impl Renewer {
    fn add(self: &Arc<Self>, store: &RedisStore, renewal: Renewal) {
        self.leases
            .lock()
            .expect("invariant: no panics under lock")
            .push(renewal);
        self.started.call_once(|| {
            let renewer = Arc::downgrade(self);
            let watched = Arc::downgrade(self);
            let (server, prefix) = (store.server.clone(), store.prefix.clone());
            let ttl = store.lease_ttl;
            let spawned = std::thread::Builder::new()
                .name("lease-renewer".into())
                .spawn(move || renew_loop(renewer, server, &prefix, ttl))
                .and_then(|_| {
                    std::thread::Builder::new()
                        .name("lease-watchdog".into())
                        .spawn(move || watchdog(watched, ttl))
                });
            if let Err(e) = spawned {
                log::warn!("can't start the lease renewer: {e}");
            }
        });
    }
}

/// Every third of the TTL: renews the leases, over a connection of its own
/// whose every step times out at a quarter of the TTL.
fn renew_loop(renewer: Weak<Renewer>, server: Server, prefix: &str, ttl: Duration) {
    let mut conn: Option<redis::Connection> = None;
    let fencing = (format!("{prefix}epoch:"), format!("{prefix}fence:"));
    loop {
        std::thread::sleep(ttl / 3);
        let Some(renewer) = renewer.upgrade() else {
            return;
        };
        renew_round(&renewer, &server, &mut conn, &fencing, ttl);
    }
}

/// Every tenth of the TTL, on a thread of its own (renewals stuck on a
/// stalled Redis, or a sentinel lookup, can't hold it up): gives up every
/// lease not known to be ours for two thirds of the TTL — its request is
/// stopped, before the lease could run out on Redis and another holder take
/// the key. This assumes the clocks of this machine and of Redis run at about
/// the same rate (they measure the same TTL): drift of a few percent is
/// covered by the third of the TTL left.
fn watchdog(renewer: Weak<Renewer>, ttl: Duration) {
    loop {
        std::thread::sleep(ttl / 10);
        let Some(renewer) = renewer.upgrade() else {
            return;
        };
        give_up_lost(&renewer, ttl, None);
    }
}

/// Renews every live lease, stopping at the first failure (the connection
/// is then dropped: the next round makes a new one).
fn renew_round(
    renewer: &Renewer,
    server: &Server,
    conn: &mut Option<redis::Connection>,
    (epoch, fence): &(String, String),
    ttl: Duration,
) {
    let ttl_ms = ttl.as_millis().max(1) as u64;
    let due: Vec<(String, String)> = {
        let mut leases = renewer
            .leases
            .lock()
            .expect("invariant: no panics under lock");
        leases.retain(|l| l.alive.load(Ordering::Relaxed));
        leases
            .iter()
            .map(|l| (l.lease_key.clone(), l.token.clone()))
            .collect()
    };
    if due.is_empty() {
        return;
    }
    if conn.is_none() {
        match server.connect_within(ttl / 4) {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                log::warn!("can't renew leases: {e:#}");
                return;
            }
        }
    }
    let c = conn.as_mut().expect("invariant: connected above");
    for (lease_key, token) in due {
        let started = std::time::Instant::now();
        let renewed = scripts()
            .renew
            .key(&lease_key)
            .key(epoch)
            .key(fence)
            .arg(&token)
            .arg(ttl_ms)
            .invoke::<i64>(c);
        match renewed {
            Ok(1 | 2) => {
                let mut leases = renewer
                    .leases
                    .lock()
                    .expect("invariant: no panics under lock");
                if let Some(l) = leases
                    .iter_mut()
                    .find(|l| l.lease_key == lease_key && l.token == token)
                {
                    // Ours from when the renewal was sent.
                    l.ours_at = started;
                }
            }
            // Released an instant ago, or not ours any more: a holder still
            // using it gives it up now.
            Ok(_) => give_up_lost(renewer, ttl, Some((&lease_key, &token))),
            Err(e) => {
                log::warn!("can't renew lease {lease_key}: {}", server.unavailable(&e));
                *conn = None;
                return;
            }
        }
        if let Ok(2) = renewed {
            log::info!("lease {lease_key} was gone (the store lost its state) and is set again");
        }
    }
}

/// Gives up the leases not known to be ours for two thirds of the TTL, and
/// the one `now` names (found not ours) at once.
fn give_up_lost(renewer: &Renewer, ttl: Duration, now: Option<(&str, &str)>) {
    let mut leases = renewer
        .leases
        .lock()
        .expect("invariant: no panics under lock");
    for lease in leases.iter_mut() {
        let unsure = lease.ours_at.elapsed();
        let named = now.is_some_and(|(k, t)| lease.lease_key == k && lease.token == t);
        if lease.alive.load(Ordering::Relaxed) && (named || unsure > ttl * 2 / 3) {
            lease.alive.store(false, Ordering::Relaxed);
            let why = format!(
                "its lease in Redis ({}) could not be renewed for {:.1}s of its {:.1}s",
                lease.lease_key,
                unsure.as_secs_f64(),
                ttl.as_secs_f64()
            );
            log::warn!("giving up key: {why}");
            if let Some(stop) = &lease.stop {
                stop.cancel(why);
            }
        }
    }
}

impl RedisStore {
    /// The store of `connector` on `server`; nothing is touched until used.
    pub fn new(server: Server, connector: &str, lease_ttl: Duration) -> RedisStore {
        RedisStore {
            server,
            prefix: format!("jongler:{{{connector}}}:"),
            lease_ttl,
            renewer: Default::default(),
            prefetched: Default::default(),
        }
    }

    fn cursor_key(&self) -> String {
        format!("{}cursor", self.prefix)
    }

    fn name(&self, kind: &str, key: &str) -> String {
        format!("{}{kind}:{key}", self.prefix)
    }

    /// Where the life keys of a line's places are: the prefix and the place.
    fn life_prefix(&self, line: &str) -> String {
        self.name("waiting", &format!("{line}:"))
    }

    fn channel(&self) -> String {
        format!("{}released", self.prefix)
    }

    fn usage_key(&self, bucket: &BucketId) -> String {
        self.name("usage", &bucket.label())
    }

    /// Reads a usage record and its version.
    fn read_usage(&self, bucket: &BucketId) -> Result<(u64, Usage)> {
        let raw: Option<String> = self.server.with(|conn| conn.get(self.usage_key(bucket)))?;
        Ok(parse_usage(raw.as_deref()))
    }

    /// How long a fence stands: the lease TTL, so every lease that may still
    /// be live has run out (a holder gives up its request before its lease
    /// can), and a second of margin.
    fn fence_ms(&self) -> u64 {
        (self.lease_ttl + Duration::from_secs(1)).as_millis() as u64
    }

    fn lease_token(&self) -> String {
        static HOST: OnceLock<String> = OnceLock::new();
        let host = HOST.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "?".into())
        });
        format!("pid {} on {host} ({})", std::process::id(), unique_word())
    }
}

fn parse_usage(raw: Option<&str>) -> (u64, Usage) {
    let Some((version, json)) = raw.and_then(|r| r.split_once('\n')) else {
        return (0, Usage::default());
    };
    let version = version
        .split(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match serde_json::from_str(json) {
        Ok(usage) => (version, usage),
        Err(e) => {
            log::warn!("a usage record in Redis is unreadable ({e}); starting it afresh");
            (version, Usage::default())
        }
    }
}

fn parse_marks(lockdown: Option<String>, error: Option<String>) -> KeyMarks {
    KeyMarks {
        lockdown: lockdown.and_then(|l| serde_json::from_str::<Lockdown>(&l).ok()),
        error: error.map(|e| {
            serde_json::from_str::<ErrorMark>(&e).unwrap_or(ErrorMark {
                reason: "a mark without details".into(),
                since: jiff::Timestamp::now(),
            })
        }),
    }
}

impl StateStore for RedisStore {
    fn describe(&self) -> String {
        format!("Redis {}", self.server.shown)
    }

    /// Nothing to prepare: the first step reports an unreachable Redis (and
    /// a refused password) as well as a PING would, one round trip sooner.
    fn prepare(&self) -> Result<()> {
        Ok(())
    }

    fn try_hold(&self, key: &str) -> Result<Option<Box<dyn KeyHold>>> {
        match self.attempt(key, true, &BucketId::Key(key.to_string()))? {
            Attempt::Held(hold, _) => Ok(Some(hold)),
            _ => Ok(None),
        }
    }

    fn attempt(&self, key: &str, take_marked: bool, bucket: &BucketId) -> Result<Attempt> {
        let mut attempts = self.attempt_each(&[(key, bucket.clone())], take_marked)?;
        Ok(attempts.pop().unwrap_or(Attempt::Busy))
    }

    fn batch(&self) -> usize {
        16
    }

    fn attempt_each(&self, keys: &[(&str, BucketId)], take_marked: bool) -> Result<Vec<Attempt>> {
        let token = self.lease_token();
        let ttl_ms = self.lease_ttl.as_millis().max(1) as u64;
        let usage_keys: Vec<String> = keys.iter().map(|(_, b)| self.usage_key(b)).collect();
        let sent = std::time::Instant::now();
        let rows: Vec<Row> = self.server.with(|conn| {
            let mut call = scripts().attempt_each.prepare_invoke();
            call.key(self.name("epoch", "")).key(self.name("fence", ""));
            for ((key, _), usage_key) in keys.iter().zip(&usage_keys) {
                call.key(self.name("lease", key))
                    .key(self.name("lockdown", key))
                    .key(self.name("error", key))
                    .key(usage_key);
            }
            call.arg(&token)
                .arg(ttl_ms)
                .arg(if take_marked { "1" } else { "0" })
                .arg(self.fence_ms())
                .arg(unique_word())
                .invoke(conn)
        })?;
        if let [(3, Some(left), _, _)] = rows.as_slice() {
            let left = Duration::from_millis(left.parse().unwrap_or(0));
            log::debug!(
                "the state in {} was lost (restarted empty, flushed or failed over): no key is handed out for {:.1}s, until every lease that may still be live has run out",
                self.server.shown,
                left.as_secs_f64()
            );
            return Ok(vec![Attempt::Fenced(left)]);
        }
        Ok(rows
            .into_iter()
            .zip(keys.iter().zip(&usage_keys))
            .map(|(row, ((key, _), usage_key))| self.outcome(key, &token, usage_key, row, sent))
            .collect())
    }

    /// One MGET for the whole batch.
    fn peek(&self, keys: &[(&str, BucketId)]) -> Result<Vec<Option<(KeyMarks, Usage)>>> {
        let names: Vec<String> = keys
            .iter()
            .flat_map(|(key, bucket)| {
                [
                    self.name("lease", key),
                    self.name("lockdown", key),
                    self.name("error", key),
                    self.usage_key(bucket),
                ]
            })
            .collect();
        let values: Vec<Option<String>> = self.server.with(|conn| conn.mget(&names))?;
        let mut values = values.into_iter();
        let mut out = Vec::with_capacity(keys.len());
        while let (Some(lease), Some(lockdown), Some(error), Some(usage)) =
            (values.next(), values.next(), values.next(), values.next())
        {
            out.push(lease.is_none().then(|| {
                (
                    parse_marks(lockdown, error),
                    parse_usage(usage.as_deref()).1,
                )
            }));
        }
        Ok(out)
    }

    fn is_held(&self, key: &str) -> Result<bool> {
        let lease_key = self.name("lease", key);
        self.server.with(|conn| conn.exists(&lease_key))
    }

    fn holder(&self, key: &str) -> Result<Option<String>> {
        let lease_key = self.name("lease", key);
        let (token, ttl): (Option<String>, i64) = self
            .server
            .with(|conn| redis::pipe().get(&lease_key).pttl(&lease_key).query(conn))?;
        Ok(token.map(|t| {
            let who = t.rsplit_once(" (").map_or(t.as_str(), |(who, _)| who);
            format!("{who}, lease {:.1} s left", ttl.max(0) as f64 / 1000.0)
        }))
    }

    fn marks(&self, key: &str) -> Result<KeyMarks> {
        let (lockdown, error): (Option<String>, Option<String>) = self
            .server
            .with(|conn| conn.mget((self.name("lockdown", key), self.name("error", key))))?;
        Ok(parse_marks(lockdown, error))
    }

    fn all_marks(&self) -> Result<HashMap<String, KeyMarks>> {
        let mut out: HashMap<String, KeyMarks> = HashMap::new();
        for kind in ["lockdown", "error"] {
            let pattern = format!("{}{kind}:*", self.prefix);
            let names = self.server.scan(&pattern)?;
            if names.is_empty() {
                continue;
            }
            let values: Vec<Option<String>> = self.server.with(|conn| conn.mget(&names))?;
            for (name, value) in names.iter().zip(values) {
                let Some(key) = name.strip_prefix(&pattern[..pattern.len() - 1]) else {
                    continue;
                };
                let marks = out.entry(key.to_string()).or_default();
                if kind == "lockdown" {
                    marks.lockdown = parse_marks(value, None).lockdown;
                } else {
                    marks.error = parse_marks(None, value).error;
                }
            }
        }
        out.retain(|_, m| !m.is_empty());
        Ok(out)
    }

    fn mark(&self, hold: &dyn KeyHold, mark: &Mark) -> Result<()> {
        let key = hold.key();
        let (kind, json, expires) = match mark {
            Mark::Lockdown(lockdown) => (
                "lockdown",
                serde_json::to_string(lockdown),
                lockdown
                    .until
                    .map_or(0, |t| t.as_millisecond().max(1) as u64),
            ),
            Mark::Error(error) => ("error", serde_json::to_string(error), 0),
        };
        let json = json.expect("invariant: marks serialize");
        let set: i64 = self.server.with(|conn| {
            scripts()
                .mark
                .key(self.name("lease", key))
                .key(self.name(kind, key))
                .arg(self.holder_token(hold))
                .arg(&json)
                .arg(expires)
                .invoke(conn)
        })?;
        if set != 1 {
            anyhow::bail!("can't mark key `{key}`: its lease ran out while this process held it");
        }
        Ok(())
    }

    fn clear(&self, hold: &dyn KeyHold, kind: MarkKind) -> Result<bool> {
        let key = hold.key();
        let name = match kind {
            MarkKind::Lockdown => "lockdown",
            MarkKind::Error => "error",
        };
        let removed: i64 = self.server.with(|conn| {
            scripts()
                .clear
                .key(self.name("lease", key))
                .key(self.name(name, key))
                .arg(self.holder_token(hold))
                .arg(self.channel())
                .arg(key)
                .invoke(conn)
        })?;
        if removed < 0 {
            anyhow::bail!(
                "can't clear key `{key}`'s mark: its lease ran out while this process held it"
            );
        }
        Ok(removed > 0)
    }

    fn update_usage(
        &self,
        bucket: &BucketId,
        update: &mut dyn FnMut(&mut Usage) -> bool,
    ) -> Result<()> {
        let record = self.usage_key(bucket);
        let mut prefetched = self
            .prefetched
            .lock()
            .expect("invariant: no panics under lock")
            .remove(&record);
        for _ in 0..100 {
            let (version, mut usage) = match prefetched.take() {
                Some(raw) => parse_usage(raw.as_deref()),
                None => self.read_usage(bucket)?,
            };
            if !update(&mut usage) {
                return Ok(());
            }
            let json = serde_json::to_string(&usage).expect("invariant: usage serializes");
            // A word of this write's own: a swap run again after a dropped
            // reply knows its own write, and no other write is taken for it
            // (two threads making the same update from the same version).
            let value = format!("{} {}\n{json}", version + 1, unique_word());
            let swapped: i64 = self.server.with(|conn| {
                scripts()
                    .swap
                    .key(&record)
                    .arg(version.to_string())
                    .arg(&value)
                    .arg(USAGE_TTL_MS)
                    .invoke(conn)
            })?;
            if swapped == 1 {
                return Ok(());
            }
            // Someone else updated it first: run the update again on theirs.
        }
        anyhow::bail!(
            "usage record {record} keeps changing under us; too many processes updating one bucket at once"
        )
    }

    fn usage(&self, bucket: &BucketId) -> Usage {
        match self.read_usage(bucket) {
            Ok((_, usage)) => usage,
            Err(e) => {
                log::warn!("{e:#}");
                Usage::default()
            }
        }
    }

    fn cursor(&self) -> usize {
        let name = format!("{}cursor", self.prefix);
        self.server
            .with(|conn| conn.get::<_, Option<u64>>(&name))
            .ok()
            .flatten()
            .unwrap_or(0) as usize
    }

    fn set_cursor(&self, at: usize) {
        if let Err(e) = self
            .server
            .with(|conn| conn.pset_ex::<_, _, ()>(self.cursor_key(), at as u64, USAGE_TTL_MS))
        {
            log::debug!("updating the cursor: {e:#}");
        }
    }

    fn clean(&self) -> Result<CleanReport> {
        let mut report = CleanReport::default();
        for (kind, count) in [
            ("lockdown", &mut report.lockdowns),
            ("error", &mut report.errors),
        ] {
            let names = self.server.scan(&format!("{}{kind}:*", self.prefix))?;
            if !names.is_empty() {
                let removed: usize = self.server.with(|conn| conn.del(&names))?;
                *count += removed;
            }
        }
        // Leases end by themselves: a live one is a live holder's.
        report.held = self.server.scan(&format!("{}lease:*", self.prefix))?.len();
        for record in self.server.scan(&format!("{}usage:*", self.prefix))? {
            let Some(label) = record.strip_prefix(&format!("{}usage:", self.prefix)) else {
                continue;
            };
            let bucket = match label.split_once(':') {
                Some(("group", name)) => BucketId::Group(name.to_string()),
                Some((_, name)) => BucketId::Key(name.to_string()),
                None => continue,
            };
            let mut cleared = 0;
            self.update_usage(&bucket, &mut |usage| {
                cleared = 0;
                for bucket in usage.buckets.values_mut() {
                    cleared += bucket.lockdowns.len();
                    bucket.lockdowns.clear();
                    bucket.learned.clear();
                }
                true
            })?;
            report.lockdowns += cleared;
        }
        let _: std::result::Result<i64, _> = self
            .server
            .with(|conn| conn.publish(self.channel(), "cleanup"));
        Ok(report)
    }

    /// A subscription to the connector's `released` channel, on a thread of
    /// its own that reconnects when Redis comes back.
    fn add_history(&self, delta: &History, keep_days: usize) -> Result<()> {
        for (date, day) in &delta.days {
            let mut fields: Vec<(String, u64)> = Vec::new();
            for (kind, map) in [("k", &day.keys), ("c", &day.clients)] {
                for (name, totals) in map {
                    for (field, n) in totals.fields() {
                        if n > 0 {
                            fields.push((format!("{kind}|{name}|{field}"), n));
                        }
                    }
                }
            }
            self.server.with_once(|conn| {
                let mut call = scripts().add_history.prepare_invoke();
                call.key(self.name("history", "days"))
                    .key(self.name("history", date))
                    .arg(date)
                    .arg(keep_days.max(1))
                    .arg(self.name("history", ""));
                for (field, n) in &fields {
                    call.arg(field).arg(n);
                }
                call.invoke::<i64>(conn)
            })?;
        }
        Ok(())
    }

    fn history(&self) -> Result<History> {
        let days: Vec<String> = self
            .server
            .with(|conn| conn.zrange(self.name("history", "days"), 0, -1))?;
        let mut history = History::default();
        for date in days {
            let fields: HashMap<String, u64> = self
                .server
                .with(|conn| conn.hgetall(self.name("history", &date)))?;
            let day = history.days.entry(date).or_default();
            for (field, n) in fields {
                let mut parts = field.splitn(3, '|');
                let (Some(kind), Some(name), Some(what)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let map = if kind == "k" {
                    &mut day.keys
                } else {
                    &mut day.clients
                };
                let totals = map.entry(name.to_string()).or_default();
                let was = totals
                    .fields()
                    .iter()
                    .find(|(f, _)| *f == what)
                    .map_or(0, |(_, v)| *v);
                totals.set(what, was + n);
            }
        }
        Ok(history)
    }

    fn join_line(&self, line: &str, place: &Place) -> Result<Option<Box<dyn InLine>>> {
        let token = self.lease_token();
        let line_key = self.name("line", line);
        let life_key = format!("{}{}", self.life_prefix(line), place.name());
        let ttl_ms = self.lease_ttl.as_millis().max(1) as u64;
        let sent = std::time::Instant::now();
        self.server.with(|conn| {
            scripts()
                .join
                .key(&line_key)
                .key(&life_key)
                .arg(place.name())
                .arg(&token)
                .arg(ttl_ms)
                .invoke::<i64>(conn)
        })?;
        let alive = Arc::new(AtomicBool::new(true));
        self.renewer.add(
            self,
            Renewal {
                lease_key: life_key.clone(),
                token,
                alive: alive.clone(),
                ours_at: sent,
                stop: None,
            },
        );
        Ok(Some(Box::new(RedisStanding {
            store: self.clone(),
            line_key,
            life_key,
            place: place.name().to_string(),
            alive,
        })))
    }

    fn first_in_line(&self, line: &str, others_only: bool) -> Result<Option<String>> {
        let skip = if others_only {
            Place::process_part()
        } else {
            String::new()
        };
        self.server.with(|conn| {
            scripts()
                .first
                .key(self.name("line", line))
                .arg(self.life_prefix(line))
                .arg(&skip)
                .invoke(conn)
        })
    }

    fn watch(
        &self,
        on_change: Arc<dyn Fn() + Send + Sync>,
    ) -> Option<Box<dyn std::any::Any + Send + Sync>> {
        let stop = Arc::new(AtomicBool::new(false));
        let guard = StopOnDrop(stop.clone());
        let server = self.server.clone();
        let channel = self.channel();
        let spawned = std::thread::Builder::new()
            .name("redis-watch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let listened = (|| -> redis::RedisResult<()> {
                        let mut conn = server.connect_within(IO_TIMEOUT).map_err(|e| {
                            redis::RedisError::from(std::io::Error::other(e.to_string()))
                        })?;
                        let mut pubsub = conn.as_pubsub();
                        pubsub.set_read_timeout(Some(Duration::from_millis(500)))?;
                        pubsub.subscribe(&channel)?;
                        // Anything may have been released while we were away.
                        on_change();
                        while !stop.load(Ordering::Relaxed) {
                            match pubsub.get_message() {
                                Ok(_) => on_change(),
                                Err(e) if e.is_timeout() => {}
                                Err(e) => return Err(e),
                            }
                        }
                        Ok(())
                    })();
                    if let Err(e) = listened {
                        log::debug!("listening for releases: {e}; again in 1 s");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            });
        spawned
            .ok()
            .map(|_| Box::new(guard) as Box<dyn std::any::Any + Send + Sync>)
    }
}

/// One key's outcome as the attempt scripts return it.
type Row = (i64, Option<String>, Option<String>, Option<String>);

impl RedisStore {
    /// The attempt a script's row stands for; a held key gets its lease
    /// renewed from now on, and its usage record is kept for the update.
    fn outcome(
        &self,
        key: &str,
        token: &str,
        usage_key: &str,
        row: Row,
        sent: std::time::Instant,
    ) -> Attempt {
        let (status, lockdown, error, usage) = row;
        let marks = parse_marks(lockdown, error);
        match status {
            1 => {
                self.prefetched
                    .lock()
                    .expect("invariant: no panics under lock")
                    .insert(usage_key.to_string(), usage);
                let lease_key = self.name("lease", key);
                let alive = Arc::new(AtomicBool::new(true));
                let (stop, lost) = crate::http::cancel_pair();
                self.renewer.add(
                    self,
                    Renewal {
                        lease_key: lease_key.clone(),
                        token: token.to_string(),
                        alive: alive.clone(),
                        ours_at: sent,
                        stop: Some(stop),
                    },
                );
                Attempt::Held(
                    Box::new(RedisHold {
                        key: key.to_string(),
                        token: token.to_string(),
                        lease_key,
                        store: self.clone(),
                        alive,
                        lost,
                    }),
                    marks,
                )
            }
            2 => Attempt::Marked(marks),
            _ => Attempt::Busy,
        }
    }

    /// The token of a hold this store made.
    fn holder_token(&self, hold: &dyn KeyHold) -> String {
        // Holds reach a store only from that store's own attempts.
        let any: &dyn std::any::Any = hold;
        let lease = any.downcast_ref::<RedisHold>();
        lease.map(|l| l.token.clone()).unwrap_or_default()
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Removes every connector's marks, model lockdowns and learned limits in
/// this Redis (`--cleanup-all`).
pub fn clean_all(server: &Server) -> Result<CleanReport> {
    let mut connectors: Vec<String> = Vec::new();
    for name in server.scan("jongler:{*}:*")? {
        if let Some(rest) = name.strip_prefix("jongler:{")
            && let Some((connector, _)) = rest.split_once("}:")
            && !connectors.iter().any(|c| c == connector)
        {
            connectors.push(connector.to_string());
        }
    }
    let mut report = CleanReport::default();
    for connector in connectors {
        report += RedisStore::new(server.clone(), &connector, DEFAULT_LEASE_TTL).clean()?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            without_password("redis://user:s3cret@host:6379/2"),
            "redis://user:***@host:6379/2"
        );
        assert_eq!(
            without_password("rediss://s3cret@host:6380"),
            "rediss://***@host:6380"
        );
        assert_eq!(without_password("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            without_password("error: rediss://a:b@h failed"),
            "error: rediss://a:***@h failed"
        );
    }

    /// Waits out the fence a server just started puts up (it may have
    /// restarted empty, for all jongler can tell).
    fn settled(store: &RedisStore) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while let Attempt::Fenced(left) = store
            .attempt("settle", true, &BucketId::Key("settle".into()))
            .unwrap()
        {
            assert!(std::time::Instant::now() < deadline, "fenced for good");
            std::thread::sleep(left);
        }
    }

    #[test]
    fn lost_state_fences_new_holders_while_live_holders_reassert() {
        let server = crate::pool::redis::testing::RedisServer::start();
        let shared = Server::open(&server.url()).unwrap();
        let ttl = Duration::from_millis(600);
        let (a, b) = (
            RedisStore::new(shared.clone(), "fence", ttl),
            RedisStore::new(shared.clone(), "fence", ttl),
        );
        let k = |name: &str| BucketId::Key(name.into());
        // A server up for less than the fence may have restarted empty.
        let started = std::time::Instant::now();
        match a.attempt("k1", true, &k("k1")).unwrap() {
            Attempt::Fenced(left) => assert!(left <= ttl + Duration::from_secs(1), "{left:?}"),
            _ => panic!("a fresh server fences first"),
        }
        settled(&a);
        assert!(started.elapsed() >= Duration::from_millis(500));
        let Attempt::Held(h1, _) = a.attempt("k1", true, &k("k1")).unwrap() else {
            panic!("k1 is free once the fence is down")
        };
        // The data goes (FLUSHALL): nobody gets a key for the fence's time,
        // and the live holder's lease comes back by its renewal.
        shared
            .with(|conn| redis::cmd("FLUSHALL").query::<()>(conn))
            .unwrap();
        assert!(matches!(
            b.attempt("k2", true, &k("k2")).unwrap(),
            Attempt::Fenced(_)
        ));
        assert!(matches!(
            b.attempt("k1", true, &k("k1")).unwrap(),
            Attempt::Fenced(_)
        ));
        settled(&b);
        assert!(
            matches!(b.attempt("k1", true, &k("k1")).unwrap(), Attempt::Busy),
            "the live holder re-asserted its lease"
        );
        assert!(matches!(
            b.attempt("k2", true, &k("k2")).unwrap(),
            Attempt::Held(..)
        ));
        drop(h1);
        assert!(matches!(
            b.attempt("k1", true, &k("k1")).unwrap(),
            Attempt::Held(..)
        ));
    }

    /// A renewal that comes just after its lease was released (or ran out)
    /// doesn't bring it back: only a lost state does.
    #[test]
    fn a_renewal_brings_back_a_lease_only_after_a_loss() {
        let server = crate::pool::redis::testing::RedisServer::start();
        let shared = Server::open(&server.url()).unwrap();
        let store = RedisStore::new(shared.clone(), "renew", Duration::from_millis(500));
        settled(&store);
        let renew = |lease: &str| -> i64 {
            shared
                .with(|conn| {
                    scripts()
                        .renew
                        .key(lease)
                        .key(store.name("epoch", ""))
                        .key(store.name("fence", ""))
                        .arg("token-1")
                        .arg(500)
                        .invoke(conn)
                })
                .unwrap()
        };
        let lease = store.name("lease", "k1");
        assert_eq!(
            renew(&lease),
            0,
            "a lease gone while the state is whole stays gone"
        );
        shared
            .with(|conn| redis::cmd("FLUSHALL").query::<()>(conn))
            .unwrap();
        assert_eq!(renew(&lease), 2, "after a loss it is set again");
        assert_eq!(renew(&lease), 1);
    }

    #[test]
    fn the_redis_store_meets_the_contract() {
        let server = crate::pool::redis::testing::RedisServer::start();
        let shared = Server::open(&server.url()).unwrap();
        settled(&RedisStore::new(
            shared.clone(),
            "settle",
            DEFAULT_LEASE_TTL,
        ));
        super::super::contract::run_all(&|connector| {
            Arc::new(RedisStore::new(
                shared.clone(),
                connector,
                DEFAULT_LEASE_TTL,
            )) as Arc<dyn StateStore>
        });
        // The simulated year left one hash per day kept, and the set of days.
        let history_keys = shared.scan("jongler:{history}:history:*").unwrap();
        assert_eq!(history_keys.len(), 31, "{history_keys:?}");
    }
}

/// A `redis-server` of our own on a random loopback port, for tests.
#[cfg(test)]
pub(crate) mod testing {
    /// Stops the server when dropped.
    pub(crate) struct RedisServer {
        child: std::process::Child,
        port: u16,
        _dir: tempfile::TempDir,
    }

    impl RedisServer {
        pub(crate) fn start() -> RedisServer {
            let dir = tempfile::tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is installed (.ci/run installs it)");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server never listened"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            RedisServer {
                child,
                port,
                _dir: dir,
            }
        }

        pub(crate) fn url(&self) -> String {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
