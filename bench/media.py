#!/usr/bin/env python3
"""Requests carrying images, paced under the built-in Gemini connector's own
limits (gemini-2.5-flash: 10 requests/min and 250,000 tokens/min per key):
two keys, 14 requests one after another, each with a ~1.2 MB PNG (a real
one, of noise, so it doesn't compress) — half as native `inlineData`, half
as OpenAI-style data URLs on /v1beta/openai/chat/completions.

Gemini counts such an image by its 768x768 tiles (258 tokens each), not by
its base64: 14 requests fit the two keys' minute. Counted as text (a
quarter of the base64's characters, ~400,000 tokens) each key would take one
a minute.

Target (scheduler issue): all 14 within 10 s, no 429.

Usage: bench/media.py [--requests 14]
"""

import argparse
import base64
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = [f"AIzaSyMEDIA{i}xxxxxxxxxxxxxxxxxxxxxxxxxxx" for i in range(2)]


def png(width, height, seed=1):
    """A real PNG of random RGB noise (it doesn't compress)."""
    rng = random.Random(seed)
    raw = b"".join(b"\0" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=14)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    emulator_bin = os.path.join(ROOT, "target/release/jongler-emulator")
    work = tempfile.mkdtemp(prefix="jongler-media-")
    emulator = subprocess.Popen([emulator_bin, *sum((["--key", k] for k in KEYS), [])],
                                stdout=subprocess.PIPE, text=True)
    try:
        url = emulator.stdout.readline().strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        os.makedirs(os.path.join(work, "connectors"))
        # The built-in Gemini connector, limits and all, pointed at the emulator.
        with open(os.path.join(work, "connectors", "gemini-emu.json"), "w") as f:
            json.dump({"name": "gemini-emu", "extends": "generativelanguage.googleapis.com",
                       "host": host, "port": int(port), "protocol": "http"}, f)
        with open(os.path.join(work, "keys.ini"), "w") as f:
            f.write("[gemini-emu]\n" + "".join(f"key{i} = {k}\n" for i, k in enumerate(KEYS)))
        env = dict(os.environ, APIJONGLER_CONFIG=os.path.join(work, "keys.ini"), HOME=work, NO_COLOR="1",
                   JONGLER_STATE_DIR=os.path.join(work, "state"),
                   JONGLER_CONNECTORS_DIR=os.path.join(work, "connectors"))
        env.pop("JONGLER_STATE", None)
        image = png(700, 580)
        data = base64.b64encode(image).decode()
        print(f"media: {args.requests} requests, each with a {len(image) / 1e6:.2f} MB PNG (700x580; "
              f"{len(data) / 1e6:.2f} MB of base64), 2 keys under the built-in Gemini limits; "
              f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
        body_native = lambda i: json.dumps({"contents": [{"parts": [
            {"text": f"request {i}: what is in this picture?"},
            {"inlineData": {"mimeType": "image/png", "data": data}}]}]})
        body_openai = lambda i: json.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
            {"type": "text", "text": f"request {i}: what is in this picture?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}]}]})
        start = time.perf_counter()
        waits = []
        for i in range(args.requests):
            native = i % 2 == 0
            endpoint = ("/v1beta/models/gemini-2.5-flash:generateContent" if native
                        else "/v1beta/openai/chat/completions")
            body = (body_native if native else body_openai)(i)
            path = os.path.join(work, "body.json")
            with open(path, "w") as f:
                f.write(body)
            t = time.perf_counter()
            p = subprocess.run([jongler, "gemini-emu", "POST", endpoint, f"@{path}", "--wait", "90"],
                               env=env, capture_output=True, text=True)
            waits.append(time.perf_counter() - t)
            if p.returncode != 0 or f"request {i}" not in p.stdout:
                raise SystemExit(f"request {i} failed ({p.returncode}): {p.stderr.strip()[-400:]}")
        elapsed = time.perf_counter() - start
        stats = json.load(urllib.request.urlopen(url + "/__emulator/stats"))
        status = subprocess.run([jongler, "status", "gemini-emu", "--json"], env=env,
                                capture_output=True, text=True, check=True).stdout
    finally:
        emulator.kill()
        shutil.rmtree(work, ignore_errors=True)
    r429 = stats["by_status"].get("429", 0)
    # Every limit of each key as `status --json` shows it, wherever it nests.
    def limits(node):
        if isinstance(node, dict):
            if "used" in node and "tokens" in json.dumps(node.get("limit", node)):
                yield node
            for v in node.values():
                yield from limits(v)
        elif isinstance(node, list):
            for v in node:
                yield from limits(v)
    tokens = list(limits(json.loads(status)))
    met = elapsed <= 10 and r429 == 0
    print(f"  {args.requests} requests in {elapsed:.2f}s (slowest call {max(waits):.2f}s); "
          f"{stats['requests']} upstream calls, {r429} answered 429  (target: <= 10 s, no 429: "
          f"{'met' if met else 'MISSED'})")
    print(f"  a request counted as text would be ~{len(data) // 4:,} tokens (a quarter of its base64)")
    for u in tokens:
        if "(gemini-2.5-flash)" in u["limit"]:
            print(f"  a key's record afterwards: {u['used']:,} of {u['limit']} (the answers' own counts)")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
