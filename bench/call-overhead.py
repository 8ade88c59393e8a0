#!/usr/bin/env python3
"""Per-call cost of `jongler` against `curl` of the same request, side by side.

Starts the repository's Gemini emulator on a random loopback port, then runs,
in shuffled order each round: curl, jongler with 8 configured keys, and
jongler with 10,000 configured keys. Prints median wall times and the ratios
the core issue sets targets for:

    jongler (8 keys) / curl          target <= 1.5
    jongler (10,000 keys) / (8 keys) target <= 2.0

Usage: bench/call-overhead.py [--rounds N]   (builds the release binaries first)
"""

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINT = "/v1beta/models/gemini-2.5-flash:generateContent"
BODY = json.dumps({"contents": [{"parts": [{"text": "Hello from the benchmark"}]}]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    emulator_bin = os.path.join(ROOT, "target/release/jongler-emulator")
    curl = shutil.which("curl")
    if not curl:
        sys.exit("call-overhead: curl is not installed")

    work = tempfile.mkdtemp(prefix="jongler-bench-")
    emulator = subprocess.Popen([emulator_bin, "--accept-any-key"], stdout=subprocess.PIPE, text=True)
    try:
        url = emulator.stdout.readline().strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        conn_dir = os.path.join(work, "connectors")
        os.makedirs(conn_dir)
        for name in ("bench8", "bench10k"):
            with open(os.path.join(conn_dir, name + ".json"), "w") as f:
                json.dump({"name": name, "host": host, "port": int(port), "protocol": "http",
                           "api_key_header": "x-goog-api-key"}, f)
        ini8 = os.path.join(work, "keys8.ini")
        ini10k = os.path.join(work, "keys10k.ini")
        with open(ini8, "w") as f:
            f.write("[bench8]\n" + "".join(f"key{i} = AIzaSyBENCH{i:08d}xxxxxxxxxxxxxxxxxxxx\n" for i in range(8)))
        with open(ini10k, "w") as f:
            f.write("[bench10k]\n" + "".join(f"key{i} = AIzaSyBENCH{i:08d}xxxxxxxxxxxxxxxxxxxx\n" for i in range(10_000)))

        env = dict(os.environ, JONGLER_STATE_DIR=os.path.join(work, "state"), JONGLER_CONNECTORS_DIR=conn_dir,
                   NO_COLOR="1", HOME=work)
        env.pop("APIJONGLER_CONFIG", None)
        commands = {
            "curl": [curl, "-s", "-o", "/dev/null", "-X", "POST", "-H", "x-goog-api-key: AIzaSyBENCH00000000xxxxxxxxxxxxxxxxxxxx",
                     "-H", "content-type: application/json", "-d", BODY, url + ENDPOINT],
            "jongler (8 keys)": [jongler, "--config", ini8, "bench8", "POST", ENDPOINT, BODY],
            "jongler (10,000 keys)": [jongler, "--config", ini10k, "bench10k", "POST", ENDPOINT, BODY],
        }
        times = {name: [] for name in commands}
        # Warm up the page cache and the emulator.
        for cmd in commands.values():
            for _ in range(3):
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
        names = list(commands)
        for _ in range(args.rounds):
            random.shuffle(names)
            for name in names:
                start = time.perf_counter()
                subprocess.run(commands[name], env=env, stdout=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - start)
    finally:
        emulator.kill()
        shutil.rmtree(work, ignore_errors=True)

    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"call-overhead: {args.rounds} rounds, {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs), "
          f"{time.strftime('%Y-%m-%d')}")
    for name, t in times.items():
        print(f"  {name:<24} median {med[name] * 1000:7.2f} ms   p90 {sorted(t)[int(len(t) * 0.9)] * 1000:7.2f} ms")
    r1 = med["jongler (8 keys)"] / med["curl"]
    r2 = med["jongler (10,000 keys)"] / med["jongler (8 keys)"]
    print(f"  ratio jongler/curl:              {r1:.2f}x  (target <= 1.5x: {'met' if r1 <= 1.5 else 'MISSED'})")
    print(f"  ratio 10,000 keys / 8 keys:      {r2:.2f}x  (target <= 2.0x: {'met' if r2 <= 2.0 else 'MISSED'})")


if __name__ == "__main__":
    main()
