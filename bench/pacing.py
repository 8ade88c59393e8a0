#!/usr/bin/env python3
"""Quota pacing, measured: 200 requests from 16 processes over 8 keys, against
the emulator enforcing 5 requests per 2 s per key.

Two runs side by side, each with a fresh state dir:
  declared  the connector declares the limit ({"requests": 5, "per": "2s"})
  learned   nothing declared: jongler learns from the 429 bodies alone

Ideal time = requests / total rate = 200 / (8 keys * 5 / 2 s) = 10 s.
Targets (quota issue): declared <= 1.15x ideal with <= 2% of upstream calls
answered 429; learned <= 1.5x ideal.

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


def run(label, limits, args, jongler, emulator_bin, work):
    keys = [f"AIzaSyPACE{label}{i:04d}xxxxxxxxxxxxxxxxxxxxx" for i in range(KEYS)]
    emulator = subprocess.Popen([emulator_bin, "--rate", f"{RATE}/{WINDOW}", *sum((["--key", k] for k in keys), [])],
                                stdout=subprocess.PIPE, text=True)
    try:
        url = emulator.stdout.readline().strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        d = os.path.join(work, label)
        os.makedirs(os.path.join(d, "connectors"))
        connector = {"name": "paced", "host": host, "port": int(port), "protocol": "http",
                     "api_key_header": "x-goog-api-key", "limits": limits}
        with open(os.path.join(d, "connectors", "paced.json"), "w") as f:
            json.dump(connector, f)
        with open(os.path.join(d, "keys.ini"), "w") as f:
            f.write("[paced]\n" + "".join(f"key{i} = {k}\n" for i, k in enumerate(keys)))
        env = dict(os.environ, APIJONGLER_CONFIG=os.path.join(d, "keys.ini"), JONGLER_STATE_DIR=os.path.join(d, "state"),
                   JONGLER_CONNECTORS_DIR=os.path.join(d, "connectors"), HOME=d, NO_COLOR="1")

        counter = iter(range(args.requests))
        failures = []

        def worker(_):
            for i in counter:
                body = json.dumps({"contents": [{"parts": [{"text": f"request {i}"}]}]})
                p = subprocess.run([jongler, "paced", "POST", ENDPOINT, body, "--wait", "120"], env=env,
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
        for label, limits, max_ratio, max_429 in [
            ("declared", [{"requests": RATE, "per": f"{WINDOW:g}s"}], 1.15, 0.02),
            ("learned", [], 1.5, None),
        ]:
            elapsed, upstream, r429, failures, overlaps = run(label, limits, args, jongler, emulator_bin, work)
            ratio = elapsed / ideal
            share = r429 / upstream if upstream else 0
            met = not failures and ratio <= max_ratio and (max_429 is None or share <= max_429)
            ok &= met
            target = f"<= {max_ratio}x" + (f", <= {max_429:.0%} 429s" if max_429 is not None else "")
            print(f"  {label:<9} {elapsed:6.2f}s = {ratio:.2f}x ideal; {upstream} upstream calls, {r429} answered 429 "
                  f"({share:.1%}); delivered {args.requests - len(failures)}/{args.requests}; overlaps {overlaps}  "
                  f"(target {target}: {'met' if met else 'MISSED'})")
            for f in failures[:5]:
                print(f"    failed: {f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
