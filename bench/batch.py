#!/usr/bin/env python3
"""`jongler batch`, measured: 1,000 requests over 8 keys, against the emulator
enforcing 5 requests per 2 s per key (the connector declares the same limit).

Two runs side by side, each with fresh state and a fresh emulator:
  one   a single `batch` of 1,000 lines
  two   the same 1,000 lines split over two `batch` processes at once, on
        one pool (one state dir): they share the keys and the quota record

Ideal time = requests / total rate = 1000 / (8 keys * 5 / 2 s) = 50 s.
Targets (batch issue): one <= 1.1x ideal, two <= 1.15x ideal, both with
<= 1% of upstream calls answered 429, every line answered in input order,
and no key double-booked (the emulator counts requests that arrive on a key
while another request on it is still being answered).

Usage: bench/batch.py [--requests N] [--latency-ms MS]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINT = "/v1beta/models/gemini-2.5-flash:generateContent"
TEMPLATE = '{"contents":[{"parts":[{"text":"{{text}}"}]}]}'
KEYS, RATE, WINDOW = 8, 5, 2.0


def run(label, parts, args, jongler, emulator_bin, work):
    keys = [f"AIzaSyBATCH{label}{i:04d}xxxxxxxxxxxxxxxxxxxxxx" for i in range(KEYS)]
    emulator = subprocess.Popen([emulator_bin, "--rate", f"{RATE}/{WINDOW}", "--latency-ms", str(args.latency_ms),
                                 *sum((["--key", k] for k in keys), [])], stdout=subprocess.PIPE, text=True)
    try:
        url = emulator.stdout.readline().strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        d = os.path.join(work, label)
        os.makedirs(os.path.join(d, "connectors"))
        connector = {"name": "paced", "host": host, "port": int(port), "protocol": "http",
                     "api_key_header": "x-goog-api-key", "limits": [{"requests": RATE, "per": f"{WINDOW:g}s"}]}
        with open(os.path.join(d, "connectors", "paced.json"), "w") as f:
            json.dump(connector, f)
        with open(os.path.join(d, "keys.ini"), "w") as f:
            f.write("[paced]\n" + "".join(f"key{i} = {k}\n" for i, k in enumerate(keys)))
        env = dict(os.environ, APIJONGLER_CONFIG=os.path.join(d, "keys.ini"), JONGLER_STATE_DIR=os.path.join(d, "state"),
                   JONGLER_CONNECTORS_DIR=os.path.join(d, "connectors"), HOME=d, NO_COLOR="1")
        env.pop("JONGLER_STATE", None)
        ids = list(range(1, args.requests + 1))
        share = -(-len(ids) // parts)
        procs, outs = [], []
        start = time.perf_counter()
        for p in range(parts):
            mine = ids[p * share:(p + 1) * share]
            inp = os.path.join(d, f"in-{p}.jsonl")
            with open(inp, "w") as f:
                for i in mine:
                    body = {"contents": [{"parts": [{"text": f"request {i}"}]}]}
                    f.write(json.dumps({"id": i, "body": body}) + "\n")
            out = os.path.join(d, f"out-{p}.jsonl")
            outs.append((mine, out))
            procs.append(subprocess.Popen([jongler, "batch", "paced", "POST", ENDPOINT, "--in", inp, "--out", out,
                                           "--wait", "120", "--progress-every", "0"], env=env,
                                          stderr=subprocess.PIPE, text=True))
        codes = [(p.wait(), p.stderr.read()) for p in procs]
        elapsed = time.perf_counter() - start
        stats = json.load(urllib.request.urlopen(url + "/__emulator/stats"))
    finally:
        emulator.kill()
    problems = [f"exit {c}: {e.strip()[-300:]}" for c, e in codes if c != 0]
    for mine, out in outs:
        with open(out) as f:
            answers = [json.loads(line) for line in f]
        got = [a["id"] for a in answers]
        if got != mine:
            problems.append(f"{out}: {len(got)} answers, not the {len(mine)} ids in input order")
        bad = [a["id"] for a in answers
               if a.get("status") != 200 or a["body"]["candidates"][0]["content"]["parts"][0]["text"]
               != f"echo: request {a['id']}"]
        if bad:
            problems.append(f"{out}: wrong answers for ids {bad[:5]}")
    return elapsed, stats, problems, [e for _, e in codes]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=0)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    emulator_bin = os.path.join(ROOT, "target/release/jongler-emulator")
    ideal = args.requests / (KEYS * RATE / WINDOW)
    work = tempfile.mkdtemp(prefix="jongler-batch-")
    print(f"batch: {args.requests} requests, {KEYS} keys at {RATE} per {WINDOW:g}s, upstream latency "
          f"{args.latency_ms} ms; ideal {ideal:.1f}s; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    ok = True
    for label, parts, max_ratio in [("one", 1, 1.10), ("two", 2, 1.15)]:
        elapsed, stats, problems, errs = run(label, parts, args, jongler, emulator_bin, work)
        upstream = stats["requests"]
        r429 = stats["by_status"].get("429", 0)
        ratio = elapsed / ideal
        share = r429 / upstream if upstream else 0
        met = not problems and ratio <= max_ratio and share <= 0.01 and stats["overlaps"] == 0
        ok &= met
        print(f"  {label}: {parts} process(es): {elapsed:.1f}s = {ratio:.3f}x ideal (target <= {max_ratio}x); "
              f"upstream {upstream} calls, {r429} answered 429 ({share:.1%}, target <= 1%); "
              f"double-booked {stats['overlaps']}; {'met' if met else 'NOT MET'}")
        for p in problems:
            print(f"    {p}")
        for e in errs:
            for line in e.strip().splitlines():
                if line.startswith("jongler: batch:"):
                    print(f"    {line}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
