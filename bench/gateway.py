#!/usr/bin/env python3
"""`jongler serve` as a gateway over several providers (aliases), side by side
in one run. Two emulators play the providers: one Gemini (`gem`, model
gemini-2.5-flash, through its OpenAI-compatible /v1beta/openai) and one
OpenAI-style (`oai`, model llama-3.1-8b-instant, x-ratelimit-* headers), each
with 4 keys, served by one `jongler serve gem oai` with

    [alias fast]
    models = gem/gemini-2.5-flash, oai/llama-3.1-8b-instant

and every request a `POST /v1/chat/completions` naming `fast` (or a
`connector/model`); who answered is read from `x-jongler-served-by`.

  A. Fallback. Every Gemini key is out of its daily quota
     (`daily-exhausted`), the OpenAI-style provider answers in 20 ms. One
     warm-up request through `fast` (it teaches the pool that Gemini's keys
     are out for the day), then 100 requests through `fast` and 100 naming
     `oai/llama-3.1-8b-instant`, sequential and interleaved.
       delivered by the second provider          target 100/100
       requests reaching the Gemini emulator     target 0
       added latency, alias vs direct (median and mean)   target <= 5 ms

  B. Capacity adds up. Each provider's emulator limits every key to 5
     requests per 2 s (`--rate 5/2`), declared to jongler as `* = 5/2s`
     under `[limits gem]` and `[limits oai]`; 16 client threads send 400
     requests through `fast`. Summed rate: 2 x 4 x 5 per 2 s = 20/s, but the
     first window's 40 go out at once, so request k (1-based) can't start
     before floor((k-1)/40) x 2 s: ideal = floor((400-1)/40) x 2 s + one
     answer's latency = 18.02 s (a bucket refilling steadily reaches the same
     18 s: 20 at once, then 10/s on `oai` beside `gem`'s 20 every 2 s).
     jongler sends one request at a time per key, so a key's 5 go out over
     5 x 20 ms and each window ends ~80 ms later than the ideal's: its own
     floor is ~18.7 s (1.04x).
     Run with the OpenAI-style emulator refilling as a window and as a
     bucket (the provider doesn't document which): two rows. The load
     starts one window after serve is up: serve asks each provider for its
     model list as it starts, on a pool key, and without the pause that
     request's slot pushes the 400th request into an 11th window (20.5 s).
       wall / ideal                              target <= 1.15x
       answers that were 429                     target <= 1%
     also: the split per provider, the 429s the emulators sent, serve's CPU.

  C. Against LiteLLM, the capacity scenario with real one-minute windows
     (LiteLLM counts per calendar minute; a scaled-down window would be
     unfair to it): both emulators 4 keys x `--rate 10/60 --refill window`,
     200 ms answers; jongler is told `* = 10/1m` (and `--wait 5m`).
     LiteLLM's Router, configured as its docs recommend for rate-limit-aware
     routing across deployments (https://docs.litellm.ai/docs/routing,
     "Advanced - Routing Strategies", tab "Rate-Limit Aware v2 (ASYNC)": one
     model_name over the 8 deployments, each with its `rpm`;
     routing_strategy="usage-based-routing-v2", enable_pre_call_checks=True;
     "Retries": num_retries, exponential backoff on RateLimitError — 20
     here, so it could wait out a window rather than give up; as measured,
     over several deployments its "No deployments available" comes back
     within a second whatever num_retries, while one deployment alone does
     wait), the Gemini keys as `openai/gemini-2.5-flash` on
     …/v1beta/openai and the others as `openai/llama-3.1-8b-instant` on
     …/v1. Both tools get 200 requests (--quick: 100) from 16 concurrent
     clients (threads for jongler; asyncio tasks for LiteLLM, whose
     rate-limit-aware strategy is its async one); 80 a minute in all, so
     ideal = floor((N-1)/80) x 60 s + 200 ms (serve's two start-up
     model-list requests take 2 of the first minute's 80, which moves the
     ideal for neither N; one request at a time per key puts jongler's own
     floor ~1.8 s per window later, 1.03x). Reported for each:
     delivered, failed, wall vs ideal, the 429s the emulators sent, and
     requests sent on a key still answering another (emulator `overlaps`),
     and the CPU time of serve / of the LiteLLM process.
     LiteLLM runs in target/bench-litellm, made from
     bench/requirements-litellm.txt on first use (pip; the only network use).

Every process listens on 127.0.0.1, on a port of its own choosing, and is
stopped at the end. The default run takes 3 to 5 minutes (+ the venv once).

Usage: bench/gateway.py [--only A,B,C] [--quick] [--skip-litellm] [--no-build]
"""

import argparse
import collections
import http.client
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEM_MODEL, OAI_MODEL, ALIAS = "gemini-2.5-flash", "llama-3.1-8b-instant", "fast"
KEYS = 4
THREADS = 16
TICK = os.sysconf("SC_CLK_TCK")
VENV = os.path.join(ROOT, "target", "bench-litellm")
REQUIREMENTS = os.path.join(ROOT, "bench", "requirements-litellm.txt")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def gem_key(tag, i):
    return f"AIzaSyGW{tag}{i:03d}".ljust(39, "x")


def oai_key(tag, i):
    return f"sk-gw-{tag}-{i:03d}-".ljust(51, "x")


class Emulator:
    def __init__(self, binary, flavor, keys, rate=None, refill=None, latency_ms=0, models=()):
        cmd = [binary, "--flavor", flavor, "--latency-ms", str(latency_ms)]
        for k in keys:
            cmd += ["--key", k]
        if rate:
            cmd += ["--rate", rate]
        if refill:
            cmd += ["--refill", refill]
        for m in models:
            cmd += ["--model", m]
        self.flavor = flavor
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise SystemExit(f"the emulator didn't start: {' '.join(cmd)}")
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def stats(self):
        with urllib.request.urlopen(self.url + "/__emulator/stats", timeout=10) as r:
            return json.load(r)

    def connector(self, name):
        """The connector file for it, the shape the emulator's own helper writes."""
        c = {"name": name, "host": self.host, "port": self.port, "protocol": "http", "format": "json",
             "requires_api_key": True, "api_key_header": "x-goog-api-key", "rate_limit_statuses": [429],
             "lockdown_seconds": 60, "check_endpoint": "/v1beta/models", "openai_base_path": "/v1beta/openai",
             "default_api_version": "/v1beta"}
        if self.flavor == "openai":
            del c["default_api_version"]
            c.update(api_key_header="Authorization", api_key_prefix="Bearer ", rate_limit_headers="openai",
                     check_endpoint="/v1/models", openai_base_path="/v1")
        return c

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def status_count(stats, code):
    return stats["by_status"].get(str(code), 0)


class Serve:
    """`jongler serve gem oai` with the alias, on a work dir of its own."""

    def __init__(self, jongler, work, providers, limit=None, extra=()):
        """providers: [(name, emulator, keys)]; limit: e.g. "5/2s" for every model of each."""
        self.work = work
        conn_dir = os.path.join(work, "connectors")
        state = os.path.join(work, "state")
        os.makedirs(conn_dir)
        os.makedirs(state)
        ini = []
        for name, emu, keys in providers:
            with open(os.path.join(conn_dir, name + ".json"), "w") as f:
                json.dump(emu.connector(name), f)
            ini.append(f"[{name}]\n" + "".join(f"key{i} = {k}\n" for i, k in enumerate(keys)))
            if limit:
                ini.append(f"[limits {name}]\n* = {limit}\n")
        ini.append(f"[alias {ALIAS}]\nmodels = gem/{GEM_MODEL}, oai/{OAI_MODEL}\n")
        self.ini = os.path.join(work, "keys.ini")
        with open(self.ini, "w") as f:
            f.write("\n".join(ini))
        env = dict(os.environ, APIJONGLER_CONFIG=self.ini, HOME=work, NO_COLOR="1", JONGLER_STATE_DIR=state,
                   JONGLER_CONNECTORS_DIR=conn_dir)
        for var in ("JONGLER_STATE", "JONGLER_PROXY_TOKEN", "JONGLER_WAIT", "JONGLER_PRIORITY"):
            env.pop(var, None)
        self.cmd = [jongler, "-q", "serve", *[p[0] for p in providers], "--listen", "127.0.0.1:0", *extra]
        self.proc = subprocess.Popen(self.cmd, env=env, stderr=subprocess.PIPE, text=True)
        # What serve says before it listens (warnings) is kept for the report.
        self.startup = []
        while True:
            line = self.proc.stderr.readline()
            if not line:
                self.stop()
                raise SystemExit("serve didn't start: " + "".join(self.startup))
            urls = [w.rstrip(",;:") for w in line.split() if w.startswith("http://")]
            if "serving" in line and urls:
                break
            self.startup.append(line.rstrip())
        self.host, port = urls[0].removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        self.log = collections.deque(maxlen=40)
        threading.Thread(target=lambda: [self.log.append(x.rstrip()) for x in self.proc.stderr], daemon=True).start()

    def connection(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=600)

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def chat(conn, model, text):
    """One chat completion: (status, x-jongler-served-by, seconds, body)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body,
                 {"content-type": "application/json", "authorization": "Bearer bench-gateway"})
    r = conn.getresponse()
    data = r.read()
    return r.status, r.getheader("x-jongler-served-by"), time.perf_counter() - start, data


def load(serve, n, threads, model, tag):
    """`n` requests from `threads` keep-alive clients: wall time, statuses, who served, a few failures.
    `model` is one name, or a list: client t names model[t % len]."""
    models = model if isinstance(model, list) else [model]
    lock = threading.Lock()
    counter = iter(range(n))
    statuses, served, failures = collections.Counter(), collections.Counter(), []

    def client(model):
        conn = serve.connection()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            try:
                status, by, _, data = chat(conn, model, f"{tag} {i}")
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = serve.connection()
                status, by, data = 0, None, repr(e).encode()
            with lock:
                statuses[status] += 1
                if status == 200:
                    served[(by or "?").split("/")[0]] += 1
                elif len(failures) < 3:
                    failures.append(f"{status}: {data[:300].decode(errors='replace')}")
        conn.close()

    workers = [threading.Thread(target=client, args=(models[t % len(models)],)) for t in range(threads)]
    start = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return time.perf_counter() - start, statuses, served, failures


class Run:
    """Emulators and serves started for one scenario, all stopped by close()."""

    def __init__(self, bins, work, label, notes):
        self.jongler, self.emulator_bin = bins
        self.label, self.notes = label.upper(), notes
        self.work = os.path.join(work, label)
        os.makedirs(self.work)
        self.procs = []

    def emulator(self, *args, **kwargs):
        e = Emulator(self.emulator_bin, *args, **kwargs)
        self.procs.append(e)
        return e

    def serve(self, *args, **kwargs):
        s = Serve(self.jongler, os.path.join(self.work, f"serve{len(self.procs)}"), *args, **kwargs)
        self.procs.append(s)
        self.notes.extend(f"{self.label}: serve said before listening: {line}" for line in s.startup)
        return s

    def close(self):
        for p in reversed(self.procs):
            p.stop()


def scenario_a(bins, work, results, notes):
    run = Run(bins, work, "a", notes)
    try:
        gem_keys = [gem_key("A", i) for i in range(KEYS)]
        oai_keys = [oai_key("a", i) for i in range(KEYS)]
        gem = run.emulator("gemini", [k + "=daily-exhausted" for k in gem_keys], latency_ms=20)
        oai = run.emulator("openai", oai_keys, latency_ms=20, models=[OAI_MODEL])
        serve = run.serve([("gem", gem, gem_keys), ("oai", oai, oai_keys)])
        conn = serve.connection()
        before = gem.stats()["requests"]
        notes.append(f"A. requests the Gemini emulator got while serve started: {before}")
        status, by, took, data = chat(conn, ALIAS, "warm-up")
        warm_gem = gem.stats()["requests"] - before
        notes.append(f"A. warm-up through `{ALIAS}`: {status}, served by {by}, {took * 1000:.0f} ms, "
                     f"{warm_gem} request(s) reached the Gemini emulator"
                     + ("" if status == 200 else f"; body: {data[:300].decode(errors='replace')}"))
        gem_before, oai_before = gem.stats(), oai.stats()
        alias_t, direct_t, delivered, failures = [], [], 0, []
        for i in range(100):
            status, by, took, data = chat(conn, ALIAS, f"alias {i}")
            alias_t.append(took)
            if status == 200 and by == f"oai/{OAI_MODEL}":
                delivered += 1
            elif len(failures) < 3:
                failures.append(f"alias {i}: {status}, served by {by}: {data[:200].decode(errors='replace')}")
            status, by, took, data = chat(conn, f"oai/{OAI_MODEL}", f"direct {i}")
            direct_t.append(took)
            if status != 200 and len(failures) < 3:
                failures.append(f"direct {i}: {status}: {data[:200].decode(errors='replace')}")
        conn.close()
        gem_after, oai_after = gem.stats(), oai.stats()
        reached = gem_after["requests"] - gem_before["requests"]
        med = (statistics.median(alias_t) - statistics.median(direct_t)) * 1000
        mean = (statistics.mean(alias_t) - statistics.mean(direct_t)) * 1000
        results.append(("A. delivered by oai via the alias", f"{delivered}/100", delivered, ">=", 100,
                        f"oai emulator saw {oai_after['requests'] - oai_before['requests']} of the 200"))
        results.append(("A. requests reaching the Gemini emulator", f"{reached}", reached, "<=", 0,
                        f"429s it sent during the 100: {status_count(gem_after, 429) - status_count(gem_before, 429)}"))
        results.append(("A. added latency alias vs direct, median", f"{med:+.2f} ms", med, "<=", 5,
                        f"direct median {statistics.median(direct_t) * 1000:.1f} ms"))
        results.append(("A. added latency alias vs direct, mean", f"{mean:+.2f} ms", mean, "<=", 5,
                        f"direct mean {statistics.mean(direct_t) * 1000:.1f} ms"))
        notes.extend(f"A. failure: {f}" for f in failures)
        if failures:
            notes.append(f"A. serve's last stderr lines: {list(serve.log)[-5:]}")
    finally:
        run.close()


def scenario_b(bins, work, refill, n, results, notes):
    latency_ms = 20
    run = Run(bins, work, f"b-{refill}", notes)
    try:
        gem_keys = [gem_key("B" + refill[0], i) for i in range(KEYS)]
        oai_keys = [oai_key("b" + refill[0], i) for i in range(KEYS)]
        gem = run.emulator("gemini", gem_keys, rate="5/2", latency_ms=latency_ms)
        oai = run.emulator("openai", oai_keys, rate="5/2", refill=refill, latency_ms=latency_ms, models=[OAI_MODEL])
        serve = run.serve([("gem", gem, gem_keys), ("oai", oai, oai_keys)], limit="5/2s")
        # serve asks each provider for its models as it starts, on a pool key:
        # let that request's window pass before the load.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not (gem.stats()["requests"] and oai.stats()["requests"]):
            time.sleep(0.05)
        startup = gem.stats()["requests"] + oai.stats()["requests"]
        time.sleep(2.2)
        cpu = serve.cpu()
        wall, statuses, served, failures = load(serve, n, THREADS, ALIAS, f"b-{refill}")
        cpu = serve.cpu() - cpu
        gs, os_ = gem.stats(), oai.stats()
        ideal = (n - 1) // 40 * 2 + latency_ms / 1000
        share = statuses[429] / n * 100
        up = status_count(gs, 429) + status_count(os_, 429)
        label = f"B. oai refills as a {refill}"
        results.append((f"{label}: wall / ideal", f"{wall:.2f} s vs {ideal:.2f} s", wall / ideal, "<=", 1.15,
                        f"{statuses[200]}/{n} delivered: gem {served['gem']}, oai {served['oai']}"))
        results.append((f"{label}: answers that were 429", f"{statuses[429]}/{n}", share, "<=", 1.0,
                        f"upstream 429s: gem {status_count(gs, 429)}, oai {status_count(os_, 429)}; "
                        f"overlaps {gs['overlaps'] + os_['overlaps']}"))
        results.append((f"{label}: serve CPU", f"{cpu:.2f} s, {cpu / n * 1000:.2f} ms/request", cpu / n * 1000,
                        None, None, f"upstream requests {gs['requests'] + os_['requests']} ({startup} as serve "
                        f"started), 429s {up}"))
        # The same load without the alias, half the clients naming each
        # provider's model: what routing through the chain costs in CPU.
        time.sleep(2.2)
        direct_cpu = serve.cpu()
        direct_wall, direct_statuses, _, _ = load(
            serve, n, THREADS, [f"gem/{GEM_MODEL}", f"oai/{OAI_MODEL}"], f"b-{refill}-direct")
        direct_cpu = serve.cpu() - direct_cpu
        results.append((f"{label}: serve CPU, alias / direct", f"{cpu / n * 1000:.2f} / "
                        f"{direct_cpu / n * 1000:.2f} ms/request", cpu / max(direct_cpu, 1e-9), None, None,
                        f"direct: {direct_wall:.2f} s, {direct_statuses[200]}/{n} delivered"))
        other = {s: c for s, c in statuses.items() if s not in (200, 429)}
        if other or failures:
            notes.append(f"B ({refill}): non-200 answers {dict(statuses)}; e.g. {failures}")
            notes.append(f"B ({refill}): serve's last stderr lines: {list(serve.log)[-5:]}")
    finally:
        run.close()


C_LATENCY_MS = 200


def c_emulators(run, tag):
    gem_keys = [gem_key("C" + tag, i) for i in range(KEYS)]
    oai_keys = [oai_key("c" + tag, i) for i in range(KEYS)]
    gem = run.emulator("gemini", gem_keys, rate="10/60", refill="window", latency_ms=C_LATENCY_MS)
    oai = run.emulator("openai", oai_keys, rate="10/60", refill="window", latency_ms=C_LATENCY_MS, models=[OAI_MODEL])
    return gem, oai, gem_keys, oai_keys


def c_row(tool, n, delivered, failed, wall, split, gem, oai, cpu):
    gs, os_ = gem.stats(), oai.stats()
    ideal = (n - 1) // 80 * 60 + C_LATENCY_MS / 1000
    return {"tool": tool, "delivered": delivered, "failed": failed, "wall": wall, "ideal": ideal, "split": split,
            "up429": status_count(gs, 429) + status_count(os_, 429), "upstream": gs["requests"] + os_["requests"],
            "overlaps": gs["overlaps"] + os_["overlaps"], "cpu": cpu}


def scenario_c_jongler(bins, work, n, notes):
    run = Run(bins, work, "c-jongler", notes)
    try:
        gem, oai, gem_keys, oai_keys = c_emulators(run, "j")
        serve = run.serve([("gem", gem, gem_keys), ("oai", oai, oai_keys)], limit="10/1m", extra=["--wait", "5m"])
        notes.append(f"C. jongler started at second {time.gmtime().tm_sec} of the minute")
        cpu = serve.cpu()
        wall, statuses, served, failures = load(serve, n, THREADS, ALIAS, "c-jongler")
        cpu = serve.cpu() - cpu
        if failures:
            notes.append(f"C. jongler: non-200 answers {dict(statuses)}; e.g. {failures}")
            notes.append(f"C. jongler: serve's last stderr lines: {list(serve.log)[-5:]}")
        return c_row("jongler serve", n, statuses[200], n - statuses[200], wall,
                     f"gem {served['gem']}, oai {served['oai']}", gem, oai, cpu)
    finally:
        run.close()


LITELLM_RUNNER = r'''
import asyncio, collections, json, os, sys, time
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm
from litellm import Router

cfg = json.load(sys.stdin)
litellm.suppress_debug_info = True
model_list = [
    {"model_name": cfg["alias"],
     "litellm_params": {"model": "openai/" + d["model"], "api_base": d["api_base"], "api_key": d["key"],
                        "rpm": cfg["rpm"]}}
    for d in cfg["deployments"]
]
router = Router(model_list=model_list, routing_strategy="usage-based-routing-v2",
                enable_pre_call_checks=True, num_retries=cfg["retries"])


async def main():
    todo = iter(range(cfg["n"]))
    served, failures = collections.Counter(), collections.Counter()
    examples, failed_after = [], []

    async def client():
        for i in todo:
            t0 = time.perf_counter()
            try:
                r = await router.acompletion(model=cfg["alias"], messages=[{"role": "user", "content": f"c-litellm {i}"}])
                base = (getattr(r, "_hidden_params", None) or {}).get("api_base") or ""
                served["gem" if "/v1beta/" in base else "oai" if base else "?"] += 1
            except Exception as e:
                failures[type(e).__name__] += 1
                failed_after.append(time.perf_counter() - t0)
                if len(examples) < 3:
                    examples.append(f"{type(e).__name__}: {str(e)[:300]}")

    print(json.dumps({"start_second": time.gmtime().tm_sec}), flush=True)
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(cfg["clients"])))
    wall = time.perf_counter() - start
    failed_after.sort()
    print(json.dumps({"wall": wall, "served": served, "failures": failures, "examples": examples,
                      "failed_after": failed_after[len(failed_after) // 2] if failed_after else None}), flush=True)


asyncio.run(main())
'''


def ensure_litellm():
    """target/bench-litellm with bench/requirements-litellm.txt installed; its python."""
    python = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, ".requirements")
    with open(REQUIREMENTS) as f:
        wanted = f.read()
    if os.path.exists(stamp) and open(stamp).read() == wanted and os.path.exists(python):
        return python
    print(f"(creating {os.path.relpath(VENV, ROOT)} from {os.path.relpath(REQUIREMENTS, ROOT)} …)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "-r", REQUIREMENTS], check=True)
    with open(stamp, "w") as f:
        f.write(wanted)
    return python


def scenario_c_litellm(bins, work, n, retries, notes):
    python = ensure_litellm()
    version = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                             capture_output=True, text=True).stdout.strip()
    run = Run(bins, work, "c-litellm", notes)
    try:
        gem, oai, gem_keys, oai_keys = c_emulators(run, "l")
        deployments = ([{"model": GEM_MODEL, "api_base": gem.url + "/v1beta/openai", "key": k} for k in gem_keys]
                       + [{"model": OAI_MODEL, "api_base": oai.url + "/v1", "key": k} for k in oai_keys])
        cfg = {"alias": ALIAS, "rpm": 10, "retries": retries, "n": n, "clients": THREADS, "deployments": deployments}
        script = os.path.join(run.work, "runner.py")
        with open(script, "w") as f:
            f.write(LITELLM_RUNNER)
        log = os.path.join(run.work, "litellm.log")
        env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_TELEMETRY="False", NO_PROXY="*")
        for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY"):
            env.pop(var, None)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(log, "w") as err:
            p = subprocess.run([python, script], input=json.dumps(cfg), stdout=subprocess.PIPE, stderr=err,
                               text=True, env=env, cwd=run.work)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
        if p.returncode != 0 or len(lines) < 2:
            with open(log) as f:
                tail = f.read()[-2000:]
            notes.append(f"C. LiteLLM runner failed (exit {p.returncode}): {tail}")
            return None
        notes.append(f"C. LiteLLM {version} started at second {lines[0]['start_second']} of the minute "
                     f"(it counts rpm per calendar minute, UTC)")
        out = lines[1]
        failed = sum(out["failures"].values())
        if failed:
            notes.append(f"C. LiteLLM failures {out['failures']}, answered after {out['failed_after']:.2f} s "
                         f"(median); e.g. {out['examples'][:1]}")
        served = out["served"]
        return c_row(f"LiteLLM {version} Router", n, sum(served.values()), failed, out["wall"],
                     f"gem {served.get('gem', 0)}, oai {served.get('oai', 0)}", gem, oai, cpu)
    finally:
        run.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="A,B,C", help="scenarios to run, e.g. A,B")
    ap.add_argument("--quick", action="store_true", help="C with 100 requests instead of 200")
    ap.add_argument("--requests-c", type=int, help="C's request count (default 200, --quick 100)")
    ap.add_argument("--skip-litellm", action="store_true", help="C without LiteLLM")
    ap.add_argument("--litellm-retries", type=int, default=20, help="LiteLLM Router num_retries (default 20)")
    ap.add_argument("--no-build", action="store_true", help="use target/release as it is")
    args = ap.parse_args()
    # A SIGTERM (timeout, CI) unwinds through the finally blocks that stop every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    only = {s.strip().upper() for s in args.only.split(",")}
    n_c = args.requests_c or (100 if args.quick else 200)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    bins = (os.path.join(ROOT, "target/release/jongler"), os.path.join(ROOT, "target/release/jongler-emulator"))
    work = tempfile.mkdtemp(prefix="jongler-gateway-bench-")
    print(f"gateway: jongler serve over 2 providers x {KEYS} keys, alias `{ALIAS}`; "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs", flush=True)
    results, notes, c_rows = [], [], []
    try:
        if "A" in only:
            scenario_a(bins, work, results, notes)
        if "B" in only:
            for refill in ("window", "bucket"):
                scenario_b(bins, work, refill, 400, results, notes)
        if "C" in only:
            c_rows.append(scenario_c_jongler(bins, work, n_c, notes))
            if not args.skip_litellm:
                row = scenario_c_litellm(bins, work, n_c, args.litellm_retries, notes)
                if row:
                    c_rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ok = True
    for label, shown, value, op, target, detail in results:
        verdict = ""
        if target is not None:
            met = value >= target if op == ">=" else value <= target
            ok &= met
            verdict = f"  (target {op} {target}: {'met' if met else 'MISSED'})"
        print(f"  {label:<46} {shown:>28}{verdict}\n  {'':<46} {detail}")
    if c_rows:
        print(f"  C. {n_c} requests, {THREADS} clients, 8 keys x 10/min (window), {C_LATENCY_MS} ms answers:")
        print(f"     {'':<24} {'delivered':>9} {'failed':>6} {'wall':>8} {'/ideal':>7} {'upstream':>8} "
              f"{'429s':>5} {'overlaps':>8} {'CPU':>6}  split")
        for r in c_rows:
            print(f"     {r['tool']:<24} {r['delivered']:>9} {r['failed']:>6} {r['wall']:>7.1f}s "
                  f"{r['wall'] / r['ideal']:>6.2f}x {r['upstream']:>8} {r['up429']:>5} {r['overlaps']:>8} {r['cpu']:>5.1f}s  "
                  f"{r['split']}  (ideal {r['ideal']:.1f} s)")
    for note in notes:
        print(f"  note: {note}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
