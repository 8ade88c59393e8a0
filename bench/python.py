#!/usr/bin/env python3
"""The Python package (`pip install .`), measured in one run against the
repository's emulator on loopback:

1. Per call from Python, in a warm process: `jongler.Jongler.request_json`
   against the same POST made with plain `http.client` (JSON in and out, as
   request_json does; with a new connection per call, and with one kept
   alive) and against api-jongler 2.0.7's `requestJSON` (from PyPI, in
   target/bench-api-jongler, its Gemini connector pointed at the emulator),
   both as its README uses it: one `APIJongler` reused (it holds one key for
   its whole life, so all its calls go out on that key) and an `APIJongler`
   per call (how its calls reach the other keys: its README's
   `robust_api_call` does so). 8 keys, answers at once. Each measurement is a
   process of its own (warmed up, then CALLS sequential calls; api-jongler a
   tenth of them), in shuffled order, ROUNDS times; medians are compared.
   Targets: jongler <= 1.5x http.client; api-jongler >= 10x jongler.
   Beside them, the same calls made from Rust against the library
   (python/examples/engine_call.rs), to tell the binding's share of a call
   from the engine's.
2. Pacing from Python threads: 8 keys, each allowed 5 requests per 2 s by
   the emulator and declared so by the connector; 200 requests from 16
   threads sharing one `Jongler`. Ideal = 200 / (8 * 5 / 2 s) = 10 s.
   Targets: <= 1.15x ideal, <= 2% of upstream calls answered 429.

The wheel is built from this checkout by maturin (release) and installed into
target/pyenv-jongler, as tests/python_package.rs does.

Usage: bench/python.py [--calls N] [--rounds N]
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "pyenv-jongler")
AJ_VENV = os.path.join(ROOT, "target", "bench-api-jongler")
API_JONGLER = "api-jongler==2.0.7"
GEMINI = "generativelanguage.googleapis.com"
ENDPOINT = "/v1beta/models/gemini-2.5-flash:generateContent"
KEYS, RATE, WINDOW, PACED_REQUESTS, THREADS = 8, 5, 2.0, 200, 16


def key(i):
    return f"AIzaSyPYBENCH{i:04d}xxxxxxxxxxxxxxxxxxxxxx"


def build():
    """The release emulator, and the wheel installed in the venv: its Python."""
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "jongler-emulator"], cwd=ROOT, check=True)
    python = os.path.join(VENV, "bin", "python")
    requirements = os.path.join(ROOT, "python", "tests", "requirements.txt")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", requirements], check=True)
    wheels = os.path.join(ROOT, "target", "python", "bench-wheels")
    subprocess.run(["rm", "-rf", wheels], check=True)
    subprocess.run([os.path.join(VENV, "bin", "maturin"), "build", "--release", "--quiet", "--out", wheels], cwd=ROOT,
                   env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target", "python")), check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "engine_call", "--manifest-path",
                    os.path.join(ROOT, "python", "Cargo.toml")], cwd=ROOT, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target", "python")))
    wheel = os.path.join(wheels, os.listdir(wheels)[0])
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--force-reinstall",
                    "--no-deps", wheel], check=True)
    return python


def setup_api_jongler():
    """api-jongler 2.0.7 in a venv of its own: its Python and its Gemini connector file."""
    python = os.path.join(AJ_VENV, "bin", "python")
    if not os.path.exists(os.path.join(AJ_VENV, "bin", "apijongler")):
        subprocess.run([sys.executable, "-m", "venv", AJ_VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", API_JONGLER], check=True)
    package = subprocess.run([python, "-c", "import api_jongler, os; print(os.path.dirname(api_jongler.__file__))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return python, os.path.join(package, "connectors", f"{GEMINI}.json")


def _vs_api_jongler():
    """bench/vs-api-jongler.py, for its Emulator."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("vs_api_jongler", os.path.join(ROOT, "bench", "vs-api-jongler.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def Emulator(*args):
    """The emulator with this bench's keys and `args`."""
    return _vs_api_jongler().Emulator([key(i) for i in range(KEYS)], 0, *args)


HOMES = []


def home(emulator, limits=None):
    """A fresh home: key file, a Gemini connector at the emulator, state dir; its environment."""
    d = tempfile.mkdtemp(prefix="jongler-pybench-")
    HOMES.append(d)
    os.makedirs(os.path.join(d, "connectors"))
    connector = {"name": GEMINI, "host": emulator.host, "port": emulator.port, "protocol": "http",
                 "format": "json", "requires_api_key": True, "api_key_header": "x-goog-api-key"}
    if limits is not None:
        connector["limits"] = limits
    with open(os.path.join(d, "connectors", f"{GEMINI}.json"), "w") as f:
        json.dump(connector, f)
    with open(os.path.join(d, "keys.ini"), "w") as f:
        f.write(f"[{GEMINI}]\n" + "".join(f"key{i} = {key(i)}\n" for i in range(KEYS)))
    return dict(os.environ, HOME=d, APIJONGLER_CONFIG=os.path.join(d, "keys.ini"), NO_COLOR="1",
                JONGLER_STATE_DIR=os.path.join(d, "state"), JONGLER_CONNECTORS_DIR=os.path.join(d, "connectors"))


# Each measured in a process of its own: warm up, then time CALLS calls.
PER_CALL = r"""
import http.client, json, os, sys, time
tool, host, port, endpoint, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
body = lambda i: {"contents": [{"parts": [{"text": f"call {i}"}]}]}
headers = {"content-type": "application/json", "x-goog-api-key": os.environ["BENCH_KEY"]}
if tool == "jongler":
    import jongler
    j = jongler.Jongler("generativelanguage.googleapis.com")
    call = lambda i: j.request_json(endpoint, body(i))
elif tool == "api-jongler":
    from api_jongler import APIJongler
    j = APIJongler("generativelanguage.googleapis.com")
    call = lambda i: j.requestJSON(endpoint=endpoint, data=body(i))
elif tool == "api-jongler, object per call":
    from api_jongler import APIJongler
    def call(i):
        j = APIJongler("generativelanguage.googleapis.com")
        try:
            return j.requestJSON(endpoint=endpoint, data=body(i))
        finally:
            j.disconnect()
elif tool == "http.client":
    def call(i):
        c = http.client.HTTPConnection(host, port)
        c.request("POST", endpoint, json.dumps(body(i)), headers)
        answer = json.loads(c.getresponse().read())
        c.close()
        return answer
else:
    c = http.client.HTTPConnection(host, port)
    def call(i):
        c.request("POST", endpoint, json.dumps(body(i)), headers)
        return json.loads(c.getresponse().read())
for i in range(20):
    assert call(i)["candidates"][0]["content"]["parts"][0]["text"] == f"echo: call {i}"
start = time.perf_counter()
for i in range(calls):
    call(i)
print((time.perf_counter() - start) / calls)
"""


def per_call(python, aj_python, aj_connector, calls, rounds):
    emulator = Emulator()
    env = home(emulator)
    with open(aj_connector, "w") as f:  # api-jongler reads only its own package's connector files
        json.dump({"name": GEMINI, "host": emulator.host, "port": emulator.port, "protocol": "http",
                   "format": "json", "requires_api_key": True, "api_key_header": "x-goog-api-key"}, f)
    env["BENCH_KEY"] = key(0)
    tools = {"jongler": python, "http.client": python, "http.client keep-alive": python, "api-jongler": aj_python,
             "api-jongler, object per call": aj_python, "jongler from Rust": None}
    engine_call = os.path.join(ROOT, "target", "python", "release", "examples", "engine_call")
    times = {t: [] for t in tools}
    try:
        for _ in range(rounds):
            for tool in random.sample(list(tools), len(tools)):
                n = calls if not tool.startswith("api-jongler") else max(calls // 10, 20)
                argv = ([engine_call, GEMINI, ENDPOINT, str(n)] if tools[tool] is None else
                        [tools[tool], "-c", PER_CALL, tool, emulator.host, str(emulator.port), ENDPOINT, str(n)])
                out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
                times[tool].append(float(out.stdout.strip().splitlines()[-1]))
        stats = emulator.stats()
    finally:
        emulator.stop()
    return {t: statistics.median(v) for t, v in times.items()}, stats


PACED = r"""
import concurrent.futures, json, sys, time
import jongler
j = jongler.Jongler("generativelanguage.googleapis.com", wait=120)
requests, threads, endpoint = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def call(i):
    answer = j.request_json(endpoint, {"contents": [{"parts": [{"text": f"request {i}"}]}]})
    return answer["candidates"][0]["content"]["parts"][0]["text"] == f"echo: request {i}"
start = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    ok = sum(pool.map(call, range(requests)))
print(json.dumps({"elapsed": time.perf_counter() - start, "delivered": ok}))
"""


def pacing(python):
    emulator = Emulator("--rate", f"{RATE}/{WINDOW:g}")
    env = home(emulator, limits=[{"requests": RATE, "per": f"{WINDOW:g}s"}])
    try:
        out = subprocess.run([python, "-c", PACED, str(PACED_REQUESTS), str(THREADS), ENDPOINT], env=env,
                             capture_output=True, text=True, check=True)
        stats = emulator.stats()
    finally:
        emulator.stop()
    return json.loads(out.stdout), stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500, help="timed calls per process (api-jongler: a tenth)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    python = build()
    aj_python, aj_connector = setup_api_jongler()
    print(f"bench/python.py: {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, Python "
          f"{subprocess.run([python, '-c', 'import sys; print(sys.version.split()[0])'], capture_output=True, text=True).stdout.strip()}")
    ok = True

    med, stats = per_call(python, aj_python, aj_connector, args.calls, args.rounds)
    us = {t: v * 1e6 for t, v in med.items()}
    vs_new, vs_alive = med["jongler"] / med["http.client"], med["jongler"] / med["http.client keep-alive"]
    vs_aj = med["api-jongler"] / med["jongler"]
    vs_aj_each = med["api-jongler, object per call"] / med["jongler"]
    print(f"per call (warm process, median of {args.rounds} rounds of {args.calls}; api-jongler {max(args.calls // 10, 20)}):")
    for tool in ["jongler", "jongler from Rust", "http.client", "http.client keep-alive", "api-jongler",
                 "api-jongler, object per call"]:
        print(f"  {tool:<30} {us[tool]:9.0f} us")
    met = vs_new <= 1.5
    ok &= met and vs_aj >= 10
    print(f"  jongler / http.client (a connection per call)   {vs_new:.2f}x  (target <= 1.5x: {'met' if met else 'MISSED'})")
    print(f"  jongler / http.client (one connection kept)     {vs_alive:.2f}x")
    print(f"  api-jongler / jongler (one APIJongler: one key)  {vs_aj:.1f}x  "
          f"(target >= 10x: {'met' if vs_aj >= 10 else 'MISSED'})")
    print(f"  api-jongler / jongler (an APIJongler per call)   {vs_aj_each:.1f}x  "
          f"(target >= 10x: {'met' if vs_aj_each >= 10 else 'MISSED'})")
    print(f"  the binding and Python's json: {us['jongler'] - us['jongler from Rust']:.0f} us of jongler's "
          f"{us['jongler']:.0f} us a call")
    print(f"  emulator: {stats['requests']} requests, {stats['overlaps']} overlapped on a key, "
          f"{stats['key_in_url']} carried the key in the URL")

    result, stats = pacing(python)
    ideal = PACED_REQUESTS / (KEYS * RATE / WINDOW)
    ratio = result["elapsed"] / ideal
    r429 = stats["by_status"].get("429", 0)
    share = r429 / stats["requests"] if stats["requests"] else 0
    met = result["delivered"] == PACED_REQUESTS and ratio <= 1.15 and share <= 0.02
    ok &= met
    print(f"pacing: {PACED_REQUESTS} requests from {THREADS} threads on one Jongler, {KEYS} keys x {RATE} per "
          f"{WINDOW:g}s (ideal {ideal:.0f}s):")
    print(f"  {result['elapsed']:.2f}s = {ratio:.3f}x ideal; {stats['requests']} upstream calls, {r429} answered 429 "
          f"({share:.1%}); delivered {result['delivered']}/{PACED_REQUESTS}; overlaps {stats['overlaps']}  "
          f"(target <= 1.15x, <= 2%: {'met' if met else 'MISSED'})")
    return ok


if __name__ == "__main__":
    try:
        passed = main()
    finally:
        for d in HOMES:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(0 if passed else 1)
