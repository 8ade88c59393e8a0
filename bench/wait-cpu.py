#!/usr/bin/env python3
"""What a wait for quota room costs: CPU time of the waiting process against
the wall time of its wait, measured side by side in one run.

One key whose connector declares 2 requests per WINDOW; two calls use the
window up, then the call (or calls) measured must wait ~WINDOW for room:

  files        one CLI call waiting, state in a state dir
  files x20    twenty CLI calls waiting at once (their CPU summed, against
               one wait's wall time: the machine's cost of the crowd)
  redis        one CLI call waiting, state in a redis-server of our own
  serve        `jongler serve` with four requests waiting for room: serve's
               CPU (from /proc) over the wait

The figure is CPU seconds / wall seconds of the wait (1.00 = a whole core).
Target (scheduler issue): <= 0.03 for each.

Usage: bench/wait-cpu.py [--window 6]
"""

import argparse
import concurrent.futures
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("pacing", os.path.join(ROOT, "bench", "pacing.py"))
pacing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pacing)

KEY = "AIzaSyWAITxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0"
ENDPOINT = "/v1beta/models/gemini-2.5-flash:generateContent"
TOKEN = "bench-token"
TICKS = os.sysconf("SC_CLK_TCK")


def body(text):
    return json.dumps({"contents": [{"parts": [{"text": text}]}]})


def cpu_of(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def setup(work, label, url, window):
    d = os.path.join(work, label)
    os.makedirs(os.path.join(d, "connectors"))
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with open(os.path.join(d, "connectors", "waity.json"), "w") as f:
        json.dump({"name": "waity", "host": host, "port": int(port), "protocol": "http",
                   "api_key_header": "x-goog-api-key",
                   "limits": [{"requests": 2, "per": f"{window:g}s"}]}, f)
    with open(os.path.join(d, "keys.ini"), "w") as f:
        f.write(f"[waity]\nkey1 = {KEY}\n")
    env = dict(os.environ, APIJONGLER_CONFIG=os.path.join(d, "keys.ini"), HOME=d, NO_COLOR="1",
               JONGLER_STATE_DIR=os.path.join(d, "state"), JONGLER_CONNECTORS_DIR=os.path.join(d, "connectors"))
    env.pop("JONGLER_STATE", None)
    return env


def call(jongler, env, text):
    p = subprocess.run([jongler, "-q", "waity", "POST", ENDPOINT, body(text), "--wait", "60"], env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"call failed ({p.returncode}): {p.stderr.strip()}")


def waiting_calls(jongler, env, n, window):
    """Fills the window, then n calls that must wait: (wall of the wait, summed CPU)."""
    call(jongler, env, "first")
    call(jongler, env, "second")
    start = time.perf_counter()
    procs = [subprocess.Popen([jongler, "-q", "waity", "POST", ENDPOINT, body(f"waiting {i}"), "--wait", "120"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(n)]
    cpu = 0.0
    for p in procs:
        _, status, usage = os.wait4(p.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"a waiting call failed: {p.stderr.read().decode().strip()}")
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.perf_counter() - start
    return wall, cpu


def serve_waiting(jongler, env, url_of_serve, proc, window):
    """Four requests through serve that must wait: (wall of the wait, serve's CPU over it)."""
    def ask(text):
        req = urllib.request.Request(url_of_serve + ENDPOINT, data=body(text).encode(), method="POST",
                                     headers={"x-goog-api-key": TOKEN, "content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
    ask("first")
    ask("second")
    before = cpu_of(proc.pid)
    start = time.perf_counter()
    # Two at a time per window: four requests wait one window, then another.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(ask, [f"waiting {i}" for i in range(4)]))
    wall = time.perf_counter() - start
    return wall, cpu_of(proc.pid) - before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=6.0)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    emulator_bin = os.path.join(ROOT, "target/release/jongler-emulator")
    work = tempfile.mkdtemp(prefix="jongler-wait-")
    emulator = subprocess.Popen([emulator_bin, "--key", KEY], stdout=subprocess.PIPE, text=True)
    redis = None
    ok = True
    try:
        url = emulator.stdout.readline().strip()
        print(f"wait-cpu: one key at 2 per {args.window:g}s; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
        print("  CPU seconds per second of waiting (1.00 = a whole core); target <= 0.03")
        results = []
        print(flush=True)

        env = setup(work, "files", url, args.window)
        results.append(("files: one CLI call", *waiting_calls(jongler, env, 1, args.window)))
        env = setup(work, "crowd", url, args.window)
        wall, cpu = waiting_calls(jongler, env, 20, args.window)
        results.append(("files: 20 CLI calls at once (summed)", wall, cpu))

        redis, redis_url = pacing.start_redis(work)
        env = setup(work, "redis", url, args.window)
        env["JONGLER_STATE"] = redis_url
        results.append(("redis: one CLI call", *waiting_calls(jongler, env, 1, args.window)))

        env = setup(work, "serve", url, args.window)
        proc = subprocess.Popen([jongler, "-q", "serve", "waity", "--listen", "127.0.0.1:0", "--token", TOKEN],
                                env=env, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stderr.readline()
            serve_url = next(w for w in line.split() if w.startswith("http://"))
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            results.append(("serve: 4 requests waiting", *serve_waiting(jongler, env, serve_url, proc, args.window)))
        finally:
            proc.terminate()
            proc.wait()

        for label, wall, cpu in results:
            share = cpu / wall if wall else 0
            met = share <= 0.03
            ok &= met
            print(f"  {label:<38} waited {wall:5.2f}s, used {cpu:6.3f}s CPU = {share:.3f}  "
                  f"({'met' if met else 'MISSED'})")
    finally:
        emulator.kill()
        if redis:
            redis.kill()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
