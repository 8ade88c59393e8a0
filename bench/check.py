#!/usr/bin/env python3
"""`jongler check` of a big pool: keys checked at once, against the same
checked one at a time, in one run.

The emulator answers every request (the check's GET /v1beta/models) after
100 ms. A pool of 1,000 keys (1% of them invalid, 1% out of quota for the
day) is checked at the default concurrency; a pool of 100 keys is checked
with --concurrency 1 (what `check` did before), and its time per key
scaled to 1,000 gives the sequential figure to compare.

Target (keys issue): 1,000 keys <= 10 s at the default concurrency; the
report fits a screen (24 lines).

Usage: bench/check.py [--keys 1000]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def key(i):
    return f"AIzaSyCHECK{i:06d}xxxxxxxxxxxxxxxxxxxxxxx"


def pool(work, name, n, url, emulator_args):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn_dir = os.path.join(work, "connectors")
    os.makedirs(conn_dir, exist_ok=True)
    with open(os.path.join(conn_dir, name + ".json"), "w") as f:
        json.dump({"name": name, "host": host, "port": int(port), "protocol": "http",
                   "api_key_header": "x-goog-api-key", "check_endpoint": "/v1beta/models"}, f)
    ini = os.path.join(work, name + ".ini")
    with open(ini, "w") as f:
        f.write(f"[{name}]\n" + "".join(f"key{i:05d} = {key(i)}\n" for i in range(n)))
    return dict(os.environ, APIJONGLER_CONFIG=ini, HOME=work, NO_COLOR="1",
                JONGLER_STATE_DIR=os.path.join(work, "state-" + name), JONGLER_CONNECTORS_DIR=conn_dir)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1000)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    n = args.keys
    bad = [i for i in range(n) if i % 100 == 7]
    daily = [i for i in range(n) if i % 100 == 42]
    keys = [f"{key(i)}=invalid" if i in bad else f"{key(i)}=daily-exhausted" if i in daily else key(i)
            for i in range(n)]
    work = tempfile.mkdtemp(prefix="jongler-check-")
    with open(os.path.join(work, "keys.txt"), "w") as f:
        f.write("\n".join(keys))
    emulator = subprocess.Popen([os.path.join(ROOT, "target/release/jongler-emulator"), "--latency-ms", "100",
                                 *sum((["--key", k] for k in keys), [])], stdout=subprocess.PIPE, text=True)
    try:
        url = emulator.stdout.readline().strip()
        env = pool(work, "big", n, url, keys)
        start = time.perf_counter()
        p = subprocess.run([jongler, "check", "big"], env=env, capture_output=True, text=True)
        concurrent = time.perf_counter() - start
        report = p.stdout
        small = max(n // 10, 1)
        env = pool(work, "small", small, url, keys)
        start = time.perf_counter()
        subprocess.run([jongler, "check", "small", "--concurrency", "1"], env=env, capture_output=True, text=True)
        sequential = (time.perf_counter() - start) / small * n
    finally:
        emulator.kill()
        shutil.rmtree(work, ignore_errors=True)
    lines = report.count("\n")
    met = concurrent <= 10 and lines <= 24
    print(f"check: {n} keys ({len(bad)} invalid, {len(daily)} out for the day), 100 ms a request; "
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    print(f"  default concurrency: {concurrent:.2f}s; one at a time: {sequential:.1f}s (from {small} keys) "
          f"= {sequential / concurrent:.1f}x faster; report {lines} lines (exit {p.returncode})")
    print(f"  target <= 10 s and a screenful: {'met' if met else 'MISSED'}")
    print("  --- the report")
    print("  " + report.replace("\n", "\n  ").rstrip())
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
