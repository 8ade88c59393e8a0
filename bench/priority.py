#!/usr/bin/env python3
"""Interactive requests through `jongler serve` while a `jongler batch` in
another process saturates the same pool: 8 keys, the emulator answering in
500 ms, a 400-line batch with 8 workers, and a client sending 20 requests
one after another through serve.

Measured side by side in one run, each on fresh state:
  idle     the 20 interactive requests on an idle pool
  alone    the batch alone
  low      batch at its default priority (low) + the interactive client
  equal    batch at --priority normal (no priority) + the interactive client

Targets (issue: serve as an always-on gateway): with the batch low, the
interactive median <= 1.2x and p90 <= 1.4x their idle latency, and the batch
within 1.1x of its time alone. `equal` shows what the priority buys.

Usage: bench/priority.py [--redis] [--lines N] [--latency-ms MS]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINT = "/v1beta/models/gemini-2.5-flash:generateContent"
TEMPLATE = '{"contents":[{"parts":[{"text":"{{text}}"}]}]}'
KEYS = 8
TOKEN = "bench-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Setup:
    def __init__(self, work, label, args, bins):
        self.jongler, emulator_bin = bins
        keys = [f"AIzaSyPRIO{label}{i:04d}xxxxxxxxxxxxxxxxxxxxxx" for i in range(KEYS)]
        self.emulator = subprocess.Popen([emulator_bin, "--latency-ms", str(args.latency_ms),
                                          *sum((["--key", k] for k in keys), [])], stdout=subprocess.PIPE, text=True)
        self.url = self.emulator.stdout.readline().strip()
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.dir = os.path.join(work, label)
        os.makedirs(os.path.join(self.dir, "connectors"))
        with open(os.path.join(self.dir, "connectors", "bench.json"), "w") as f:
            json.dump({"name": "bench", "host": host, "port": int(port), "protocol": "http",
                       "api_key_header": "x-goog-api-key"}, f)
        with open(os.path.join(self.dir, "keys.ini"), "w") as f:
            f.write("[bench]\n" + "".join(f"key{i} = {k}\n" for i, k in enumerate(keys)))
        self.env = dict(os.environ, APIJONGLER_CONFIG=os.path.join(self.dir, "keys.ini"),
                        JONGLER_STATE_DIR=os.path.join(self.dir, "state"),
                        JONGLER_CONNECTORS_DIR=os.path.join(self.dir, "connectors"), HOME=self.dir, NO_COLOR="1")
        self.env.pop("JONGLER_STATE", None)
        if args.redis_url:
            self.env["JONGLER_STATE"] = args.redis_url + f"/{len(os.listdir(work))}"
        self.serve = subprocess.Popen([self.jongler, "serve", "bench", "--listen", "127.0.0.1:0", "--token", TOKEN],
                                      env=self.env, stderr=subprocess.PIPE, text=True)
        first = self.serve.stderr.readline()
        self.serve_url = next(w for w in first.split() if w.startswith("http://"))

    def interactive(self, n, tag):
        took = []
        for i in range(n):
            body = json.dumps({"contents": [{"parts": [{"text": f"{tag} {i}"}]}]}).encode()
            req = urllib.request.Request(self.serve_url + ENDPOINT, data=body,
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "content-type": "application/json"})
            start = time.perf_counter()
            with urllib.request.urlopen(req, timeout=120) as r:
                r.read()
            took.append(time.perf_counter() - start)
        return sorted(took)

    def batch(self, lines, extra):
        inp = os.path.join(self.dir, "in.txt")
        out = os.path.join(self.dir, "out.jsonl")
        if os.path.exists(out):
            os.remove(out)
        with open(inp, "w") as f:
            f.writelines(f"batch line {i}\n" for i in range(lines))
        return subprocess.Popen([self.jongler, "batch", "bench", "POST", ENDPOINT, "--in", inp, "--out", out,
                                 "--template", TEMPLATE, "--concurrency", "8", "--progress-every", "0", *extra],
                                env=self.env, stderr=subprocess.DEVNULL)

    def timed_batch(self, lines, extra):
        start = time.perf_counter()
        if self.batch(lines, extra).wait() != 0:
            sys.exit("the batch failed")
        return time.perf_counter() - start

    def beside(self, lines, extra, n):
        start = time.perf_counter()
        proc = self.batch(lines, extra)
        time.sleep(1.5)
        took = self.interactive(n, "busy")
        if proc.wait() != 0:
            sys.exit("the batch failed")
        return took, time.perf_counter() - start

    def overlaps(self):
        return json.load(urllib.request.urlopen(self.url + "/__emulator/stats"))["overlaps"]

    def close(self):
        self.serve.terminate()
        self.serve.wait()
        self.emulator.kill()


def quantile(sorted_values, q):
    return sorted_values[round((len(sorted_values) - 1) * q)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=400)
    ap.add_argument("--interactive", type=int, default=20)
    ap.add_argument("--latency-ms", type=int, default=500)
    ap.add_argument("--redis", action="store_true", help="keep the state in a redis-server of our own")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    bins = (os.path.join(ROOT, "target/release/jongler"), os.path.join(ROOT, "target/release/jongler-emulator"))
    redis = None
    args.redis_url = None
    if args.redis:
        port = free_port()
        redis = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        # jongler fences a Redis up for less than the lease TTL + 1 s (it may
        # have just restarted empty): measure past that.
        time.sleep(6.5)
        args.redis_url = f"redis://127.0.0.1:{port}"
    work = tempfile.mkdtemp(prefix="jongler-priority-")
    print(f"priority: {KEYS} keys, {args.latency_ms} ms answers, a {args.lines}-line batch (8 workers) beside "
          f"{args.interactive} interactive requests through serve; state {'Redis' if redis else 'files'}; "
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    ok = True
    try:
        s = Setup(work, "low", args, bins)
        idle = s.interactive(args.interactive, "idle")
        alone = s.timed_batch(args.lines, [])
        low, low_batch = s.beside(args.lines, [], args.interactive)
        overlaps = s.overlaps()
        s.close()
        e = Setup(work, "equal", args, bins)
        equal, equal_batch = e.beside(args.lines, ["--priority", "normal"], args.interactive)
        overlaps += e.overlaps()
        e.close()
    finally:
        if redis:
            redis.kill()
    med, p90 = quantile(idle, 0.5), quantile(idle, 0.9)
    print(f"  idle: median {med * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms; batch alone {alone:.1f}s")
    for label, took, batch in [("low", low, low_batch), ("equal", equal, equal_batch)]:
        rm, r90, rb = quantile(took, 0.5) / med, quantile(took, 0.9) / p90, batch / alone
        line = (f"  batch {label:5}: interactive median {rm:.2f}x, p90 {r90:.2f}x of idle; "
                f"batch {rb:.3f}x of alone")
        if label == "low":
            met = rm <= 1.2 and r90 <= 1.4 and rb <= 1.1 and overlaps == 0
            ok &= met
            line += f" (targets 1.2x, 1.4x, 1.1x) {'met' if met else 'NOT MET'}"
        print(line)
    print(f"  double-booked: {overlaps}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
