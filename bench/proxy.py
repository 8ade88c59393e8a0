#!/usr/bin/env python3
"""Proxy overhead, measured side by side in one run.

1. Throughput: requests/s with 64 concurrent clients (keep-alive connections)
   straight to the emulator vs through `jongler serve` in front of it, with
   128 keys so keys are not the bottleneck and 50 ms of emulator latency per
   answer (an LLM takes far longer; 50 ms keeps the proxy's own cost visible).
   Alternating rounds, 5 s each.                    target: proxy >= 0.9 of direct
2. Time to first byte of a stream (:streamGenerateContent?alt=sse), direct vs
   through the proxy, sequential, median of 40.

Usage: bench/proxy.py [--seconds N] [--rounds N]
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS, CLIENTS, LATENCY_MS = 128, 64, 50
TOKEN = "bench-proxy-token"
BODY = json.dumps({"contents": [{"parts": [{"text": "Hello from the proxy benchmark"}]}]})
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def key(i):
    return f"AIzaSyPROXYBENCH{i:05d}xxxxxxxxxxxxxxxxxx"


def load(host, port, seconds, header_for):
    stop = time.perf_counter() + seconds
    counts = [0] * CLIENTS
    errors = []

    def client(n):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        headers = {"content-type": "application/json", **header_for(n)}
        while time.perf_counter() < stop:
            conn.request("POST", GENERATE, BODY, headers)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
            counts[n] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start), errors


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
    proxy = None
    try:
        url = emulator.stdout.readline().strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        os.makedirs(os.path.join(work, "connectors"))
        with open(os.path.join(work, "connectors", "bench.json"), "w") as f:
            json.dump({"name": "bench", "host": host, "port": int(port), "protocol": "http",
                       "api_key_header": "x-goog-api-key"}, f)
        with open(os.path.join(work, "keys.ini"), "w") as f:
            f.write("[bench]\n" + "".join(f"key{i} = {key(i)}\n" for i in range(KEYS)))
        env = dict(os.environ, APIJONGLER_CONFIG=os.path.join(work, "keys.ini"), HOME=work, NO_COLOR="1",
                   JONGLER_STATE_DIR=os.path.join(work, "state"), JONGLER_CONNECTORS_DIR=os.path.join(work, "connectors"))
        proxy = subprocess.Popen([jongler, "-q", "serve", "bench", "--listen", "127.0.0.1:0", "--token", TOKEN],
                                 env=env, stderr=subprocess.PIPE, text=True)
        line = proxy.stderr.readline()
        proxy_url = next(w for w in line.split() if w.startswith("http://"))
        phost, pport = proxy_url.removeprefix("http://").rsplit(":", 1)
        # Drain the access log so the proxy never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in proxy.stderr], daemon=True).start()

        direct_rps, proxy_rps, errors = [], [], []
        for _ in range(args.rounds):
            rps, err = load(host, int(port), args.seconds, lambda n: {"x-goog-api-key": key(n)})
            direct_rps.append(rps)
            errors += err
            rps, err = load(phost, int(pport), args.seconds, lambda n: {"x-goog-api-key": TOKEN})
            proxy_rps.append(rps)
            errors += err
        direct_ttfb = ttfb(host, int(port), {"x-goog-api-key": key(0)})
        proxy_ttfb = ttfb(phost, int(pport), {"x-goog-api-key": TOKEN})
    finally:
        if proxy:
            proxy.terminate()
            proxy.wait()
        emulator.kill()
        shutil.rmtree(work, ignore_errors=True)

    d, p = statistics.mean(direct_rps), statistics.mean(proxy_rps)
    ratio = p / d
    print(f"proxy: {CLIENTS} clients, {KEYS} keys, emulator latency {LATENCY_MS} ms, {args.rounds}x{args.seconds:g}s "
          f"rounds; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    print(f"  direct   {d:8.1f} req/s   {[round(x) for x in direct_rps]}")
    print(f"  proxied  {p:8.1f} req/s   {[round(x) for x in proxy_rps]}")
    print(f"  throughput ratio proxy/direct: {ratio:.3f}  (target >= 0.9: {'met' if ratio >= 0.9 else 'MISSED'})")
    print(f"  stream TTFB: direct {direct_ttfb * 1000:.1f} ms, proxied {proxy_ttfb * 1000:.1f} ms, "
          f"ratio {proxy_ttfb / direct_ttfb:.3f}")
    if errors:
        print(f"  non-200 answers: {len(errors)} ({sorted(set(errors))})")
    sys.exit(0 if ratio >= 0.9 and not errors else 1)


if __name__ == "__main__":
    main()
