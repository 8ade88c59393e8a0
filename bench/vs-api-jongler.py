#!/usr/bin/env python3
"""jongler and the Python api-jongler it ports, side by side, against the same
local emulator (api-jongler is installed from PyPI into target/bench-api-jongler;
its Gemini connector file is pointed at the emulator).

1. Per call: 40 sequential calls each, median wall time (emulator latency 0).
2. Contention: 128 calls from 16 concurrent workers over 8 keys, 100 ms per
   answer: calls that failed, requests the emulator saw overlap on one key,
   requests that carried the key in the URL.
3. A holder SIGKILLed mid-request: is its key usable by the next call at once?

Usage: bench/vs-api-jongler.py
"""

import concurrent.futures
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "bench-api-jongler")
GEMINI = "generativelanguage.googleapis.com"
ENDPOINT = "/v1beta/models/gemini-2.5-flash:generateContent"
API_JONGLER = "api-jongler==2.0.7"


def key(i):
    return f"AIzaSyCOMPARE{i:04d}xxxxxxxxxxxxxxxxxxxxxx"


def setup_api_jongler():
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(os.path.join(VENV, "bin", "apijongler")):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", API_JONGLER], check=True)
    package = subprocess.run([python, "-c", "import api_jongler, os; print(os.path.dirname(api_jongler.__file__))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(VENV, "bin", "apijongler"), os.path.join(package, "connectors", f"{GEMINI}.json")


class Emulator:
    """The emulator (release build) with `keys`, answering after `latency_ms`;
    `extra` are more of its arguments (bench/python.py uses this class too)."""

    def __init__(self, keys, latency_ms=0, *extra):
        self.proc = subprocess.Popen([os.path.join(ROOT, "target/release/jongler-emulator"), "--latency-ms",
                                      str(latency_ms), *extra, *sum((["--key", k] for k in keys), [])],
                                     stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        self.host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)

    def stats(self):
        return json.load(urllib.request.urlopen(self.url + "/__emulator/stats"))

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Tool:
    """One of the two, configured for one emulator in a fresh home."""

    def __init__(self, name, binary, emulator, keys, connector_file=None):
        self.name, self.binary = name, binary
        self.home = tempfile.mkdtemp(prefix=f"cmp-{name}-")
        connector = {"name": GEMINI, "host": emulator.host, "port": emulator.port, "protocol": "http",
                     "format": "json", "requires_api_key": True, "api_key_header": "x-goog-api-key"}
        conn_dir = os.path.join(self.home, "connectors")
        os.makedirs(conn_dir)
        if connector_file:  # api-jongler reads only its own package's connector files
            with open(connector_file, "w") as f:
                json.dump(connector, f)
        with open(os.path.join(conn_dir, f"{GEMINI}.json"), "w") as f:
            json.dump(connector, f)
        ini = os.path.join(self.home, "keys.ini")
        with open(ini, "w") as f:
            f.write(f"[{GEMINI}]\n" + "".join(f"key{i} = {k}\n" for i, k in enumerate(keys)))
        self.env = dict(os.environ, HOME=self.home, APIJONGLER_CONFIG=ini, JONGLER_CONNECTORS_DIR=conn_dir,
                        JONGLER_STATE_DIR=os.path.join(self.home, "state"), NO_COLOR="1")

    def argv(self, text):
        body = json.dumps({"contents": [{"parts": [{"text": text}]}]})
        return [self.binary, GEMINI, "POST", ENDPOINT, body]

    def call(self, text):
        p = subprocess.run(self.argv(text), env=self.env, capture_output=True, text=True)
        return p.returncode == 0 and f"echo: {text}" in p.stdout

    def spawn(self, text):
        return subprocess.Popen(self.argv(text), env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    apijongler, aj_connector = setup_api_jongler()
    keys = [key(i) for i in range(8)]
    print(f"jongler vs {API_JONGLER}, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")

    # 1. Per call.
    emu = Emulator(keys, 0)
    tools = [Tool("jongler", jongler, emu, keys), Tool("api-jongler", apijongler, emu, keys, aj_connector)]
    times = {t.name: [] for t in tools}
    for i in range(40):
        for t in tools:
            start = time.perf_counter()
            ok = t.call(f"per call {i}")
            times[t.name].append(time.perf_counter() - start)
            if not ok:
                print(f"  {t.name}: call {i} failed")
    emu.stop()
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"  per call (median of 40): jongler {med['jongler'] * 1000:.1f} ms, api-jongler "
          f"{med['api-jongler'] * 1000:.1f} ms: api-jongler costs {med['api-jongler'] / med['jongler']:.1f}x")

    # 2. Contention.
    for name in ["jongler", "api-jongler"]:
        emu = Emulator(keys, 100)
        tool = Tool(name, jongler if name == "jongler" else apijongler, emu, keys,
                    None if name == "jongler" else aj_connector)
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(tool.call, [f"contention {i}" for i in range(128)]))
        elapsed = time.perf_counter() - start
        stats = emu.stats()
        emu.stop()
        print(f"  {name:<11} 128 calls, 16 at a time, 8 keys: {results.count(False)} failed, "
              f"{stats['overlaps']} requests overlapped on a key, {stats['key_in_url']} sent the key in the URL, "
              f"{elapsed:.1f}s")

    # 3. SIGKILL.
    for name in ["jongler", "api-jongler"]:
        emu = Emulator(keys[:1], 3000)
        tool = Tool(name, jongler if name == "jongler" else apijongler, emu, keys[:1],
                    None if name == "jongler" else aj_connector)
        victim = tool.spawn("doomed")
        deadline = time.time() + 30
        while "doomed" not in emu.stats()["started"] and time.time() < deadline:
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        urllib.request.urlopen(urllib.request.Request(emu.url + "/__emulator/latency?ms=0", method="POST"))
        start = time.perf_counter()
        argv = tool.argv("after the kill") + (["--wait", "10"] if name == "jongler" else [])
        p = subprocess.run(argv, env=tool.env, capture_output=True, text=True, timeout=60)
        took = time.perf_counter() - start
        ok = p.returncode == 0 and "echo: after the kill" in p.stdout
        emu.stop()
        print(f"  {name:<11} next call after a SIGKILLed holder: {'delivered' if ok else 'FAILED'} in {took:.1f}s"
              + ("" if ok else " (\"No API keys available\": the dead holder's .lock strands the key)"
                 if "No API keys available" in p.stdout + p.stderr else f" (exit {p.returncode})"))
        shutil.rmtree(tool.home, ignore_errors=True)


if __name__ == "__main__":
    main()
