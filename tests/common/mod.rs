//! Test harness: a Gemini emulator on loopback, a temp HOME with an INI file,
//! a connectors dir pointing at the emulator, and a hermetic `jongler` command.
#![allow(dead_code)]

use jongler::emulator::{Behavior, Emulator, EmulatorConfig};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// The connector name the tests use for the emulator.
pub const CONN: &str = "gemini-test";

/// The token tests start `serve` with.
pub const PROXY_TOKEN: &str = "proxy-token-0123456789";

/// A generateContent endpoint.
pub const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub emulator: Emulator,
    /// (name, value) of every configured key, to check none ever leaks.
    pub keys: Vec<(String, String)>,
}

/// A key value long enough to look real, unique per name.
pub fn key_value(name: &str) -> String {
    format!("AIzaSyTEST-{name}-0123456789abcdefSECRET")
}

pub struct EnvBuilder {
    keys: Vec<(String, Behavior)>,
    exhausted: Vec<String>,
    connector_extra: serde_json::Value,
    ini_extra: String,
    rate: Option<(u32, Duration)>,
    latency: Duration,
    flavor: jongler::emulator::Flavor,
    refill: Option<jongler::emulator::Refill>,
    models: Vec<String>,
}

impl EnvBuilder {
    pub fn key(mut self, name: &str, behavior: Behavior) -> Self {
        self.keys.push((name.to_string(), behavior));
        self
    }
    pub fn keys(mut self, n: usize) -> Self {
        for i in 1..=n {
            self.keys.push((format!("key{i}"), Behavior::Valid));
        }
        self
    }
    pub fn rate(mut self, n: u32, per: Duration) -> Self {
        self.rate = Some((n, per));
        self
    }
    /// Every key is out of its daily quota for `model`.
    pub fn exhausted(mut self, model: &str) -> Self {
        self.exhausted.push(model.to_string());
        self
    }
    /// Sets a field of the test connector, e.g. `"limits"`.
    pub fn connector_field(mut self, field: &str, value: serde_json::Value) -> Self {
        self.connector_extra[field] = value;
        self
    }
    /// Appends text to the INI file.
    pub fn ini(mut self, text: &str) -> Self {
        self.ini_extra.push_str(text);
        self
    }
    /// The API the emulator stands in for.
    /// How the emulator's `rate` refills (default: the flavour's own).
    pub fn refill(mut self, refill: jongler::emulator::Refill) -> Self {
        self.refill = Some(refill);
        self
    }
    pub fn flavor(mut self, flavor: jongler::emulator::Flavor) -> Self {
        self.flavor = flavor;
        self
    }
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    /// The models the emulator serves (default: its flavour's); a call
    /// naming another gets the API's "model not found" 404.
    pub fn models(mut self, models: &[&str]) -> Self {
        self.models = models.iter().map(|m| m.to_string()).collect();
        self
    }
    pub fn build(self) -> Env {
        let keys: Vec<(String, String)> = self
            .keys
            .iter()
            .map(|(n, _)| (n.clone(), key_value(n)))
            .collect();
        let emulator = Emulator::start(EmulatorConfig {
            keys: self.keys.iter().map(|(n, b)| (key_value(n), *b)).collect(),
            rate: self.rate,
            latency: self.latency,
            accept_unknown: false,
            daily_exhausted_models: self.exhausted.clone(),
            flavor: self.flavor,
            refill: self.refill,
            models: self.models.clone(),
        })
        .expect("emulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("connectors")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let mut connector: serde_json::Value =
            serde_json::from_str(&emulator.connector_json(CONN)).unwrap();
        for (field, value) in self.connector_extra.as_object().unwrap() {
            connector[field] = value.clone();
        }
        std::fs::write(
            dir.path().join("connectors").join(format!("{CONN}.json")),
            connector.to_string(),
        )
        .unwrap();
        let mut ini = format!("[{CONN}]\n");
        for (name, value) in &keys {
            ini.push_str(&format!("{name} = {value}\n"));
        }
        ini.push_str(&self.ini_extra);
        std::fs::write(dir.path().join("keys.ini"), ini).unwrap();
        Env {
            dir,
            emulator,
            keys,
        }
    }
}

impl Env {
    pub fn builder() -> EnvBuilder {
        EnvBuilder {
            keys: Vec::new(),
            exhausted: Vec::new(),
            connector_extra: serde_json::json!({}),
            ini_extra: String::new(),
            rate: None,
            latency: Duration::ZERO,
            flavor: Default::default(),
            refill: None,
            models: Vec::new(),
        }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn ini(&self) -> PathBuf {
        self.dir.path().join("keys.ini")
    }

    pub fn connectors(&self) -> PathBuf {
        self.dir.path().join("connectors")
    }

    /// A hermetic `jongler` command: temp HOME, the test INI, state dir and connectors.
    pub fn cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_jongler"));
        cmd.env_clear()
            .env("HOME", self.dir.path().join("home"))
            .env("NO_COLOR", "1")
            .env("APIJONGLER_CONFIG", self.ini())
            .env("JONGLER_STATE_DIR", self.state())
            .env("JONGLER_CONNECTORS_DIR", self.connectors())
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs `jongler ARGS` and checks that no key value appears in its output.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("jongler runs");
        self.assert_no_secrets(&out);
        out
    }

    /// `jongler gemini-test POST <generate> <body for text>` with extra args.
    pub fn generate(&self, text: &str, extra: &[&str]) -> Output {
        let body = prompt(text);
        let mut args = vec![CONN, "POST", GENERATE, body.as_str()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    pub fn assert_no_secrets(&self, out: &Output) {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for (name, value) in &self.keys {
            assert!(
                !all.contains(value.as_str()),
                "key `{name}`'s value leaked:\n{all}"
            );
        }
    }

    /// Waits until the emulator is answering the request whose prompt is
    /// `text`; `false` if `child` (its sender) exits first or a minute passes.
    pub fn wait_started(&self, text: &str, mut child: Option<&mut std::process::Child>) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if self.emulator.stats().started.contains(text) {
                return true;
            }
            if let Some(child) = child.as_deref_mut()
                && child.try_wait().unwrap().is_some()
            {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// Every file in the state dir with its content, to check nothing changed.
    pub fn state_snapshot(&self) -> Vec<(String, Vec<u8>)> {
        snapshot(&self.state())
    }

    /// `status --json` for the test connector, parsed.
    pub fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", CONN, "--json"]);
        assert!(out.status.success(), "status failed: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// The state of one key according to `status --json`.
    pub fn key_state(&self, name: &str) -> (String, serde_json::Value, serde_json::Value) {
        let status = self.status();
        let key = status["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .unwrap_or_else(|| panic!("no key {name} in {status}"))
            .clone();
        (
            key["state"].as_str().unwrap().to_string(),
            key["until"].clone(),
            key["reason"].clone(),
        )
    }
}

pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap_or_default(),
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// A generateContent body for `text`.
pub fn prompt(text: &str) -> String {
    serde_json::json!({"contents": [{"parts": [{"text": text}]}]}).to_string()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// If the test process dies without dropping the child (a panic on another
/// thread), the child goes with it instead of holding pipes open.
fn dies_with_the_test(command: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// A `redis-server` of the test's own on a random loopback port, with a temp
/// dir and no persistence; stopped (SIGKILL) when dropped.
pub struct Redis {
    pub child: std::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Redis::start_on(port, tempfile::tempdir().unwrap())
    }

    fn start_on(port: u16, dir: tempfile::TempDir) -> Redis {
        let mut command = std::process::Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null());
        dies_with_the_test(&mut command);
        let child = command
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server never listened"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Redis { child, port, dir }
    }

    /// A server that has been up longer than a fence lasts (the default
    /// lease TTL and a second): jongler fences a server up for less, as it
    /// may have just restarted empty. For tests about something else.
    pub fn start_settled() -> Redis {
        let redis = Redis::start();
        std::thread::sleep(Duration::from_millis(6200));
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs the server (its data goes with it).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, empty.
    pub fn restart(mut self) -> Redis {
        self.kill();
        let port = self.port;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Redis::start_on(port, dir)
    }

    /// Sends one command (`FLUSHALL`, …) and reads its one-line answer.
    pub fn command(&self, words: &[&str]) -> String {
        use std::io::{BufRead, BufReader, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut request = format!("*{}\r\n", words.len());
        for w in words {
            request.push_str(&format!("${}\r\n{w}\r\n", w.len()));
        }
        conn.write_all(request.as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(conn).read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    /// `redis-cli`-free: the keys matching `pattern`, by a raw KEYS command.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        use std::io::{BufRead, BufReader, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            conn,
            "*2\r\n$4\r\nKEYS\r\n${}\r\n{pattern}\r\n",
            pattern.len()
        )
        .unwrap();
        let mut reader = BufReader::new(conn);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let n: usize = line.trim().trim_start_matches('*').parse().unwrap();
        let mut keys = Vec::new();
        for _ in 0..n {
            line.clear();
            reader.read_line(&mut line).unwrap();
            line.clear();
            reader.read_line(&mut line).unwrap();
            keys.push(line.trim().to_string());
        }
        keys
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a SIGKILL stress run came to.
pub struct Stress {
    /// Calls that delivered their own answer.
    pub delivered: usize,
    /// The prompt texts of the calls SIGKILLed mid-request.
    pub killed: std::collections::HashSet<String>,
}

/// `slots` threads each making `per_slot` calls one after another — every
/// tenth SIGKILLed once its request has reached the emulator, the others
/// checked for their own answer and for secrets. `command(slot)` is the
/// `jongler` (with its environment) a slot runs.
pub fn sigkill_stress<F>(
    env: &std::sync::Arc<Env>,
    slots: usize,
    per_slot: usize,
    command: F,
) -> Stress
where
    F: Fn(usize) -> std::process::Command + Send + Sync + 'static,
{
    let command = std::sync::Arc::new(command);
    let threads: Vec<_> = (0..slots)
        .map(|slot| {
            let (env, command) = (env.clone(), command.clone());
            std::thread::spawn(move || {
                let mut delivered = 0;
                let mut killed = Vec::new();
                for n in 0..per_slot {
                    let text = format!("call {slot}-{n}");
                    let mut child = command(slot)
                        .args([CONN, "POST", GENERATE, &prompt(&text), "--wait", "120"])
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .unwrap();
                    if (slot * per_slot + n) % 10 == 7 {
                        assert!(
                            env.wait_started(&text, Some(&mut child)),
                            "{text} never reached the API"
                        );
                        child.kill().unwrap();
                        child.wait().unwrap();
                        killed.push(text);
                        continue;
                    }
                    let out = child.wait_with_output().unwrap();
                    env.assert_no_secrets(&out);
                    assert_eq!(code(&out), 0, "{text}: {}", stderr(&out));
                    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                    assert_eq!(
                        body["candidates"][0]["content"]["parts"][0]["text"],
                        format!("echo: {text}"),
                        "each call gets its own answer"
                    );
                    delivered += 1;
                }
                (delivered, killed)
            })
        })
        .collect();
    let mut stress = Stress {
        delivered: 0,
        killed: Default::default(),
    };
    for t in threads {
        let (delivered, killed) = t.join().unwrap();
        stress.delivered += delivered;
        stress.killed.extend(killed);
    }
    stress
}

impl Stress {
    /// No request overlapped another on one key — except behind a SIGKILLed
    /// caller: its request may still be answered upstream when its key, freed
    /// for the next caller, is taken (the price of never stranding a key).
    pub fn assert_no_double_booking(&self, env: &Env) {
        let stats = env.emulator.stats();
        let double_booked: Vec<_> = stats
            .overlap_pairs
            .iter()
            .filter(|(earlier, _)| !self.killed.contains(earlier))
            .collect();
        assert!(
            double_booked.is_empty(),
            "a key was in use twice at once: {double_booked:?}"
        );
        eprintln!(
            "{} overlaps, each behind a SIGKILLed caller's request",
            stats.overlaps
        );
    }
}

/// Runs `cmd` with stderr (and stdout) on a pseudo-terminal of 80 columns;
/// returns its exit code and what it drew.
#[cfg(target_os = "linux")]
pub fn on_terminal(mut cmd: std::process::Command, stdout_too: bool) -> (i32, String) {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty");
    let slave = unsafe { std::fs::File::from_raw_fd(slave) };
    cmd.env("TERM", "xterm-256color")
        .stderr(slave.try_clone().unwrap());
    if stdout_too {
        cmd.stdout(slave.try_clone().unwrap());
    }
    let mut child = cmd.spawn().unwrap();
    drop(slave);
    drop(cmd);
    let mut master = unsafe { std::fs::File::from_raw_fd(master) };
    let mut drawn = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO once the child's side is closed
            Ok(n) => drawn.extend_from_slice(&buf[..n]),
        }
    }
    let status = child.wait().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&drawn).into_owned(),
    )
}

/// A test binary runs its tests on parallel threads. Tests that time
/// something take the machine to themselves ([`quiet`]); tests that load it
/// with many processes take a share ([`loaded`]) — on a 2-CPU machine, 32
/// processes or a Node.js SDK run beside a latency measurement would measure
/// the test suite, not jongler.
static LOAD: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Runs alone among the tests that take [`loaded`].
pub fn quiet() -> std::sync::RwLockWriteGuard<'static, ()> {
    LOAD.write().unwrap_or_else(|e| e.into_inner())
}

/// Keeps [`quiet`] tests from running meanwhile.
pub fn loaded() -> std::sync::RwLockReadGuard<'static, ()> {
    LOAD.read().unwrap_or_else(|e| e.into_inner())
}

/// Waits for `child`: its exit code and the kernel's own account of it
/// (`wait4`'s rusage: CPU times, peak RSS).
#[cfg(target_os = "linux")]
pub fn wait_rusage(child: std::process::Child) -> (i32, libc::rusage) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as i32;
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid);
    std::mem::forget(child);
    (libc::WEXITSTATUS(status), usage)
}

/// Fills one key's declared window (2 requests per 6 s, which the
/// connector must declare), then runs a third call (at `-v`) that must wait
/// for room, and checks the wait: it lasts until there is room (6 s after
/// the first fill went out), costs under 15% of a core (it used to spin on
/// its own writes: a whole core), and is said once. Returns the waiting
/// call's stderr.
#[cfg(target_os = "linux")]
pub fn assert_a_wait_for_room_sleeps(env: &Env, extra_env: &[(&str, String)]) -> String {
    let first_fill = std::time::Instant::now();
    for i in 0..2 {
        let mut cmd = env.cmd();
        cmd.envs(extra_env.iter().map(|(k, v)| (k, v)));
        let out = cmd
            .args([
                CONN,
                "POST",
                GENERATE,
                &prompt(&format!("fill {i}")),
                "--wait",
                "30",
            ])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let log = env.dir.path().join("waiting.log");
    let started = std::time::Instant::now();
    let mut cmd = env.cmd();
    cmd.envs(extra_env.iter().map(|(k, v)| (k, v)));
    let child = cmd
        .args([
            CONN,
            "POST",
            GENERATE,
            &prompt("waiting"),
            "--wait",
            "30",
            "-v",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let (status, usage) = wait_rusage(child);
    let wall = started.elapsed();
    let log = std::fs::read_to_string(&log).unwrap();
    let tv =
        |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    assert_eq!(status, 0, "{log}");
    // Room comes 6 s after the first fill was sent (a slow machine may have
    // spent some of that on the fills themselves).
    let room_in = Duration::from_secs(6).saturating_sub(started - first_fill);
    assert!(
        room_in >= Duration::from_secs(2),
        "the fills took {:?}: too slow a machine to see a wait",
        started - first_fill
    );
    assert!(
        wall + Duration::from_millis(300) >= room_in,
        "it waited for room: {wall:?} of {room_in:?}"
    );
    assert!(
        cpu < wall.mul_f64(0.15),
        "a waiting call used {cpu:?} of CPU over {wall:?}"
    );
    assert_eq!(
        log.matches("no key has room").count(),
        1,
        "-v says once what it waits for:\n{log}"
    );
    log
}

/// A `jongler serve` child process, its URL and its stderr, line by line.
pub struct Proxy {
    pub child: std::process::Child,
    pub url: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proxy {
    /// `jongler serve` of the test connector with the test token.
    pub fn start(env: &Env, extra: &[&str]) -> Proxy {
        let mut args = vec!["--token", PROXY_TOKEN];
        args.extend_from_slice(extra);
        Proxy::with(env, &args)
    }

    /// `jongler serve` of the test connector on a random port, with `args`.
    pub fn with(env: &Env, args: &[&str]) -> Proxy {
        let mut cmd = env.cmd();
        cmd.args(["serve", CONN, "--listen", "127.0.0.1:0"])
            .args(args);
        Proxy::spawn(&mut cmd)
    }

    /// A `jongler serve` command (listening on a random port), started.
    pub fn spawn(cmd: &mut std::process::Command) -> Proxy {
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
        let first = lines
            .next()
            .expect("serve prints where it listens")
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_string();
        let log = std::sync::Arc::new(std::sync::Mutex::new(vec![first]));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                log2.lock().unwrap().push(line);
            }
        });
        Proxy { child, url, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits (up to 20 s) for a log line containing `text`; the line.
    pub fn wait_log(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {text:?} in:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> (bool, String) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let ok = self.child.wait().unwrap().success();
        std::thread::sleep(Duration::from_millis(50));
        (ok, self.log())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // A test that doesn't stop its proxy (or panics first) leaves none running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP relay of our own between a client and a server on loopback, that
/// can stall: stop forwarding in both directions without closing anything
/// (a partition, a paused VM, a firewall dropping packets), and heal.
pub struct Relay {
    pub port: u16,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    /// Relays 127.0.0.1:<new port> to 127.0.0.1:`to`.
    pub fn start(to: u16) -> Relay {
        use std::sync::atomic::AtomicBool;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || relay_one_way(from, to, &flag));
                }
            }
        });
        Relay { port, stalled }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops forwarding; every connection stays open.
    pub fn stall(&self) {
        self.stalled
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.stalled
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

fn relay_one_way(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    stalled: &std::sync::atomic::AtomicBool,
) {
    use std::io::{Read, Write};
    from.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if stalled.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => {
                let _ = to.shutdown(std::net::Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// `INFO <section>` of the server on `port` (a raw RESP exchange).
pub fn redis_info(port: u16, section: &str) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let request = format!("*2\r\n$4\r\nINFO\r\n${}\r\n{section}\r\n", section.len());
    if conn.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut reader = BufReader::new(conn);
    let mut head = String::new();
    if reader.read_line(&mut head).is_err() {
        return String::new();
    }
    let Some(len) = head
        .trim()
        .strip_prefix('$')
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return String::new();
    };
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A master, a replica and three sentinels watching them (`mymaster`, two
/// needed to agree, a second without answers to call the master down), each
/// its own `redis-server` on a random loopback port; all SIGKILLed when
/// dropped.
pub struct Sentinels {
    pub master: Redis,
    pub replica: Redis,
    sentinels: Vec<std::process::Child>,
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sentinels {
    pub fn start() -> Sentinels {
        let master = Redis::start();
        let replica = Redis::start();
        assert_eq!(
            replica.command(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]),
            "+OK"
        );
        let dir = tempfile::tempdir().unwrap();
        let mut sentinels = Vec::new();
        let mut ports = Vec::new();
        for i in 0..3 {
            let port = free_port();
            let conf = dir.path().join(format!("sentinel-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {} 2\n\
                     sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 4000\n",
                    dir.path().display(),
                    master.port
                ),
            )
            .unwrap();
            let mut command = std::process::Command::new("redis-server");
            command
                .arg(&conf)
                .arg("--sentinel")
                .stdout(std::process::Stdio::null());
            dies_with_the_test(&mut command);
            sentinels.push(command.spawn().unwrap());
            ports.push(port);
        }
        let set = Sentinels {
            master,
            replica,
            sentinels,
            ports,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !redis_info(set.replica.port, "replication").contains("master_link_status:up")
            || set
                .ports
                .iter()
                .any(|p| !redis_info(*p, "sentinel").contains("sentinels=3"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the replica and sentinels never came up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        set
    }

    /// `redis+sentinel://…/mymaster`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/mymaster", hosts.join(","))
    }

    /// Waits until the sentinels have made the replica the master.
    pub fn wait_promoted(&self, limit: Duration) -> Duration {
        let started = std::time::Instant::now();
        while !redis_info(self.replica.port, "replication").contains("role:master") {
            assert!(started.elapsed() < limit, "the replica was never promoted");
            std::thread::sleep(Duration::from_millis(20));
        }
        started.elapsed()
    }
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        for s in &mut self.sentinels {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

/// A virtual environment `target/<name>` with the packages `requirements`
/// lists installed the first time, or again when the file changes (one test
/// at a time: a lock beside it); its `python`.
pub fn python_venv(name: &str, requirements: &Path) -> PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target").join(name);
    let python = venv.join("bin/python");
    std::fs::create_dir_all(root.join("target")).unwrap();
    let lock = std::fs::File::create(root.join(format!("target/{name}.venv.lock"))).unwrap();
    #[allow(clippy::disallowed_methods)] // one test at a time builds the venv
    fs2::FileExt::lock_exclusive(&lock).unwrap();
    let stamp = venv.join("requirements.txt");
    if std::fs::read(&stamp).ok() != std::fs::read(requirements).ok() {
        let ok = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap()
            .success();
        assert!(ok, "python3 -m venv failed");
        let ok = std::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements)
            .status()
            .unwrap()
            .success();
        assert!(ok, "pip install -r {} failed", requirements.display());
        std::fs::copy(requirements, &stamp).unwrap();
    }
    python
}

/// The test venv's python, with the SDKs of tests/python/requirements.txt.
pub fn python() -> std::path::PathBuf {
    python_env("pyenv", "requirements.txt")
}

/// A virtual environment `target/<name>` with `tests/python/<requirements>`.
pub fn python_env(name: &str, requirements: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    python_venv(name, &root.join("tests/python").join(requirements))
}

/// The JavaScript clients, installed (once) under target/node from
/// tests/node/package.json.
pub fn node_clients() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/node");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(root.join("target/node.lock")).unwrap();
    #[allow(clippy::disallowed_methods)] // one test at a time installs them
    fs2::FileExt::lock_exclusive(&lock).unwrap();
    let manifest = root.join("tests/node/package.json");
    let stamp = dir.join("package.json");
    if std::fs::read(&stamp).ok() != std::fs::read(&manifest).ok()
        || !dir.join("node_modules").exists()
    {
        std::fs::copy(&manifest, &stamp).unwrap();
        let ok = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (.ci/run installs Node.js and npm)")
            .success();
        assert!(ok, "npm install in target/node failed");
    }
    for script in ["matrix.mjs", "alias.mjs", "check.mjs"] {
        std::fs::copy(root.join("tests/node").join(script), dir.join(script)).unwrap();
    }
    dir
}
