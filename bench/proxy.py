#!/usr/bin/env python3
"""`jongler serve` against the API it fronts, side by side in one run.

Scenarios (64 keep-alive clients; the emulator answers each request after
100 ms, in one piece):

  A. 64 keys: requests/s through serve vs straight to the emulator (each
     direct client with a key of its own), and serve's CPU time per proxied
     request (process CPU / requests).   targets: >= 0.95x direct, <= 0.3 ms
  B. 1,000 keys of which 500 (a random half) carry a .lockdown marker left
     by an earlier run: requests/s through serve vs direct.  target: >= 0.9x
  C. 16 keys: requests/s against the ideal keys / latency (160/s), and the
     p99 latency against clients / keys x latency (0.4 s): a request that
     waits for a key gets one as soon as it is free, in arrival order.
                                           targets: >= 0.95x, p99 <= 1.3x
  D. Time to first byte of a stream (:streamGenerateContent?alt=sse), direct
     vs through serve, sequential, median of 40.

Direct and proxied rounds alternate. Usage: bench/proxy.py [--seconds N] [--rounds N]
"""

import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENTS, LATENCY_MS = 64, 100
TOKEN = "bench-proxy-token"
BODY = json.dumps({"contents": [{"parts": [{"text": "Hello from the proxy benchmark"}]}]})
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
TICK = os.sysconf("SC_CLK_TCK")


def key(i):
    return f"AIzaSyPROXYBENCH{i:05d}xxxxxxxxxxxxxxxxxx"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def load(host, port, seconds, header_for, targets=None):
    """64 clients for `seconds`: (requests/s, latencies, non-200 statuses).
    With `targets` [(host, port), …], client n goes to targets[n % len]."""
    stop = time.perf_counter() + seconds
    latencies = [[] for _ in range(CLIENTS)]
    errors = []

    def client(n):
        h, p = targets[n % len(targets)] if targets else (host, port)
        conn = http.client.HTTPConnection(h, p, timeout=60)
        headers = {"content-type": "application/json", **header_for(n)}
        while time.perf_counter() < stop:
            start = time.perf_counter()
            conn.request("POST", GENERATE, BODY, headers)
            r = conn.getresponse()
            r.read()
            latencies[n].append(time.perf_counter() - start)
            if r.status != 200:
                errors.append(r.status)
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_latencies = [x for per in latencies for x in per]
    return len(all_latencies) / (time.perf_counter() - start), all_latencies, errors


def ttfb(host, port, headers, n=40):
    times = []
    for _ in range(n):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        start = time.perf_counter()
        conn.request("POST", STREAM, BODY, {"content-type": "application/json", **headers})
        r = conn.getresponse()
        r.read(1)
        times.append(time.perf_counter() - start)
        r.read()
        conn.close()
    return statistics.median(times)


class Serve:
    """A `jongler serve` over `keys` keys, `locked` of them locked down."""

    def __init__(self, jongler, work, name, host, port, keys, locked, extra_env=None):
        conn_dir = os.path.join(work, "connectors")
        os.makedirs(conn_dir, exist_ok=True)
        with open(os.path.join(conn_dir, name + ".json"), "w") as f:
            json.dump({"name": name, "host": host, "port": int(port), "protocol": "http",
                       "api_key_header": "x-goog-api-key"}, f)
        ini = os.path.join(work, name + ".ini")
        with open(ini, "w") as f:
            f.write(f"[{name}]\n" + "".join(f"key{i} = {key(i)}\n" for i in range(keys)))
        state = os.path.join(work, "state")
        os.makedirs(state, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        marker = json.dumps({"until": (now + datetime.timedelta(hours=12)).strftime(fmt),
                             "reason": "429 (an earlier run)", "source": "daily-quota", "since": now.strftime(fmt)})
        for i in random.Random(keys).sample(range(keys), locked):
            with open(os.path.join(state, f"{name}_key{i}.lockdown"), "w") as f:
                f.write(marker)
        env = dict(os.environ, APIJONGLER_CONFIG=ini, HOME=work, NO_COLOR="1", JONGLER_STATE_DIR=state,
                   JONGLER_CONNECTORS_DIR=conn_dir, **(extra_env or {}))
        self.proc = subprocess.Popen([jongler, "-q", "serve", name, "--listen", "127.0.0.1:0", "--token", TOKEN],
                                     env=env, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        url = next(w for w in line.split() if w.startswith("http://"))
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)
        # Drain the access log so serve never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def load(self, seconds):
        before = cpu_seconds(self.proc.pid)
        rps, latencies, errors = load(self.host, self.port, seconds, lambda n: {"x-goog-api-key": TOKEN})
        return rps, latencies, errors, cpu_seconds(self.proc.pid) - before

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def p99(xs):
    return sorted(xs)[int(len(xs) * 0.99)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    work = tempfile.mkdtemp(prefix="jongler-proxy-bench-")
    emulator = subprocess.Popen([os.path.join(ROOT, "target/release/jongler-emulator"), "--accept-any-key",
                                 "--latency-ms", str(LATENCY_MS)], stdout=subprocess.PIPE, text=True)
    results, errors = [], []
    serves = []
    try:
        url = emulator.stdout.readline().strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        port = int(port)
        direct = lambda: load(host, port, args.seconds, lambda n: {"x-goog-api-key": key(n)})  # noqa: E731

        for label, keys, locked, target in (("A. 64 keys", 64, 0, 0.95),
                                            ("B. 1,000 keys, 500 locked down", 1000, 500, 0.9)):
            serve = Serve(jongler, work, f"bench{keys}", host, port, keys, locked)
            serves.append(serve)
            d_rps, p_rps, cpu, reqs = [], [], 0.0, 0
            for _ in range(args.rounds):
                rps, _, err = direct()
                d_rps.append(rps)
                errors += err
                rps, lat, err, used = serve.load(args.seconds)
                p_rps.append(rps)
                errors += err
                cpu += used
                reqs += len(lat)
            serve.stop()
            d, p = statistics.mean(d_rps), statistics.mean(p_rps)
            results.append((label, f"direct {d:7.1f} req/s, through serve {p:7.1f} req/s", p / d, ">=", target))
            results.append((f"{label}: serve CPU per request", f"{cpu:.2f} s CPU / {reqs} requests",
                            cpu / reqs * 1000, "<=", 0.3 if keys == 64 else None))

        serve = Serve(jongler, work, "bench16", host, port, 16, 0)
        serves.append(serve)
        rps, lat, err, _ = serve.load(args.seconds * args.rounds)
        errors += err
        serve.stop()
        ideal_rps = 16 / (LATENCY_MS / 1000)
        ideal_latency = CLIENTS / 16 * LATENCY_MS / 1000
        results.append(("C. 16 keys, 64 clients: req/s vs keys/latency", f"{rps:.1f} vs {ideal_rps:.0f} req/s",
                        rps / ideal_rps, ">=", 0.95))
        results.append(("C. p99 latency vs clients/keys x latency", f"{p99(lat) * 1000:.0f} vs {ideal_latency * 1000:.0f} ms",
                        p99(lat) / ideal_latency, "<=", 1.3))

        serve = Serve(jongler, work, "bench1", host, port, 1, 0)
        serves.append(serve)
        d = ttfb(host, port, {"x-goog-api-key": key(0)})
        p = ttfb(serve.host, serve.port, {"x-goog-api-key": TOKEN})
        serve.stop()
        results.append(("D. stream time to first byte", f"direct {d * 1000:.1f} ms, through serve {p * 1000:.1f} ms",
                        p / d, None, None))
    finally:
        for serve in serves:
            if serve.proc.poll() is None:
                serve.stop()
        emulator.kill()
        shutil.rmtree(work, ignore_errors=True)

    print(f"proxy: {CLIENTS} clients, emulator latency {LATENCY_MS} ms, {args.rounds}x{args.seconds:g} s rounds; "
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    ok = not errors
    for label, detail, value, op, target in results:
        verdict = ""
        if target is not None:
            met = value >= target if op == ">=" else value <= target
            ok &= met
            verdict = f"  (target {op} {target}: {'met' if met else 'MISSED'})"
        unit = " ms" if "CPU per request" in label else "x"
        print(f"  {label:<52} {value:6.3f}{unit}  {detail}{verdict}")
    if errors:
        print(f"  non-200 answers: {len(errors)} ({sorted(set(errors))})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
