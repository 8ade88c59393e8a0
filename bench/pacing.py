#!/usr/bin/env python3
"""Quota pacing, measured: 200 requests from 16 processes over 8 keys, against
the emulator enforcing 5 requests per 2 s per key.

Five runs side by side, each with fresh state:
  declared  the connector declares the limit ({"requests": 5, "per": "2s"})
  learned   nothing declared: jongler learns from the 429 bodies alone
  redis     declared, with the processes split over four "machines" that
            share nothing but a Redis URL (--state; own HOME, config copy,
            state dir): the Redis issue's scenario
  openai-bucket, openai-window
            nothing declared; the built-in api.openai.com connector pointed at
            the emulator playing OpenAI (Bearer keys, /v1/chat/completions,
            x-ratelimit-* headers on every answer, 429s without retry-after
            that still count against the limit), its limit refilling as a
            token bucket, then as a sliding window: OpenAI defines the reset
            header as the time until the limit is whole again and documents
            no rule in between
  anthropic-bucket, anthropic-window
            the same with the built-in api.anthropic.com connector
            (x-api-key, anthropic-version, /v1/messages,
            anthropic-ratelimit-* headers with RFC 3339 resets, retry-after
            on 429s)

Ideal time = requests / total rate = 200 / (8 keys * 5 / 2 s) = 10 s.
Targets (quota issue): declared <= 1.15x ideal with <= 2% of upstream calls
answered 429; learned <= 1.5x ideal; (Redis issue) redis <= 1.15x, <= 2%;
(scheduler issue) all four openai/anthropic runs <= 1.15x with <= 1% 429s.

Usage: bench/pacing.py [--requests N] [--processes N]
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINT = "/v1beta/models/gemini-2.5-flash:generateContent"
KEYS, RATE, WINDOW = 8, 5, 2.0


def start_redis(work):
    """A redis-server of our own on a free loopback port: (process, URL)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.01)
    # jongler fences a Redis up for less than the lease TTL + 1 s (it may
    # have just restarted empty): measure past that.
    time.sleep(6.5)
    return proc, f"redis://127.0.0.1:{port}"


def run(label, limits, args, jongler, emulator_bin, work, redis_url=None, groups=1, flavor="gemini", refill=None):
    keys = [f"AIzaSyPACE{label}{i:04d}xxxxxxxxxxxxxxxxxxxxx" for i in range(KEYS)]
    emulator = subprocess.Popen([emulator_bin, "--rate", f"{RATE}/{WINDOW}", "--flavor", flavor,
                                 *(["--refill", refill] if refill else []),
                                 *sum((["--key", k] for k in keys), [])],
                                stdout=subprocess.PIPE, text=True)
    try:
        url = emulator.stdout.readline().strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        d = os.path.join(work, label)
        os.makedirs(os.path.join(d, "connectors"))
        connector = {"name": "paced", "host": host, "port": int(port), "protocol": "http",
                     "api_key_header": "x-goog-api-key", "limits": limits}
        if flavor in ("openai", "anthropic"):
            # The built-in connector, header scheme and all, pointed at the emulator.
            built_in = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}[flavor]
            connector = {"name": "paced", "extends": built_in, "host": host, "port": int(port),
                         "protocol": "http"}
        with open(os.path.join(d, "connectors", "paced.json"), "w") as f:
            json.dump(connector, f)
        with open(os.path.join(d, "keys.ini"), "w") as f:
            f.write("[paced]\n" + "".join(f"key{i} = {k}\n" for i, k in enumerate(keys)))
        envs = []
        for g in range(groups):
            # A "machine": its own HOME, config copy and state dir.
            home = os.path.join(d, f"machine-{g}")
            shutil.copytree(os.path.join(d, "connectors"), os.path.join(home, "connectors"))
            shutil.copy(os.path.join(d, "keys.ini"), os.path.join(home, "keys.ini"))
            env = dict(os.environ, APIJONGLER_CONFIG=os.path.join(home, "keys.ini"),
                       JONGLER_STATE_DIR=os.path.join(home, "state"),
                       JONGLER_CONNECTORS_DIR=os.path.join(home, "connectors"), HOME=home, NO_COLOR="1")
            env.pop("JONGLER_STATE", None)
            if redis_url:
                env["JONGLER_STATE"] = redis_url
            envs.append(env)

        counter = iter(range(args.requests))
        failures = []

        def worker(w):
            env = envs[w % groups]
            for i in counter:
                endpoint, body = ENDPOINT, json.dumps({"contents": [{"parts": [{"text": f"request {i}"}]}]})
                if flavor == "openai":
                    endpoint = "/v1/chat/completions"
                    body = json.dumps({"model": "model-small", "messages": [{"role": "user", "content": f"request {i}"}]})
                elif flavor == "anthropic":
                    endpoint = "/v1/messages"
                    body = json.dumps({"model": "model-small", "max_tokens": 64,
                                       "messages": [{"role": "user", "content": f"request {i}"}]})
                p = subprocess.run([jongler, "paced", "POST", endpoint, body, "--wait", "120"], env=env,
                                   capture_output=True, text=True)
                if p.returncode != 0 or f"echo: request {i}" not in p.stdout:
                    failures.append((i, p.returncode, p.stderr.strip()[-300:]))

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.processes) as pool:
            list(pool.map(worker, range(args.processes)))
        elapsed = time.perf_counter() - start
        stats = json.load(urllib.request.urlopen(url + "/__emulator/stats"))
    finally:
        emulator.kill()
    upstream = stats["requests"]
    r429 = stats["by_status"].get("429", 0)
    return elapsed, upstream, r429, failures, stats["overlaps"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--processes", type=int, default=16)
    ap.add_argument("--only", help="comma-separated run labels (default: all)")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    emulator_bin = os.path.join(ROOT, "target/release/jongler-emulator")
    ideal = args.requests / (KEYS * RATE / WINDOW)
    work = tempfile.mkdtemp(prefix="jongler-pacing-")
    ok = True
    try:
        print(f"pacing: {args.requests} requests, {args.processes} processes, {KEYS} keys at {RATE} per {WINDOW:g}s; "
              f"ideal {ideal:.1f}s; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
        redis, redis_url = start_redis(work)
        only = set(args.only.split(",")) if args.only else None
        for label, limits, max_ratio, max_429, url, groups, flavor, refill in [
            ("declared", [{"requests": RATE, "per": f"{WINDOW:g}s"}], 1.15, 0.02, None, 1, "gemini", None),
            ("learned", [], 1.5, None, None, 1, "gemini", None),
            ("redis", [{"requests": RATE, "per": f"{WINDOW:g}s"}], 1.15, 0.02, redis_url, 4, "gemini", None),
            ("openai-bucket", [], 1.15, 0.01, None, 1, "openai", "bucket"),
            ("openai-window", [], 1.15, 0.01, None, 1, "openai", "window"),
            ("anthropic-bucket", [], 1.15, 0.01, None, 1, "anthropic", "bucket"),
            ("anthropic-window", [], 1.15, 0.01, None, 1, "anthropic", "window"),
        ]:
            if only and label not in only:
                continue
            elapsed, upstream, r429, failures, overlaps = run(label, limits, args, jongler, emulator_bin, work,
                                                              url, groups, flavor, refill)
            ratio = elapsed / ideal
            share = r429 / upstream if upstream else 0
            met = not failures and ratio <= max_ratio and (max_429 is None or share <= max_429)
            ok &= met
            target = f"<= {max_ratio}x" + (f", <= {max_429:.0%} 429s" if max_429 is not None else "")
            print(f"  {label:<16} {elapsed:6.2f}s = {ratio:.2f}x ideal; {upstream} upstream calls, {r429} answered 429 "
                  f"({share:.1%}); delivered {args.requests - len(failures)}/{args.requests}; overlaps {overlaps}  "
                  f"(target {target}: {'met' if met else 'MISSED'})")
            for f in failures[:5]:
                print(f"    failed: {f}")
    finally:
        if "redis" in locals():
            redis.kill()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
