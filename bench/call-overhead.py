#!/usr/bin/env python3
"""Per-call cost of `jongler` against `curl` of the same request, and against
itself with big pools, side by side in one run.

Starts the repository's Gemini emulator on a random loopback port, then runs,
in shuffled order each round: curl, and jongler with 8, 1,000 and 10,000
configured keys. In the two big pools half of the keys (a random half) carry
a `.lockdown` marker left by an earlier run, as a big free-tier pool does late
in the day. A key file that big is read by rust-ini once per change and
remembered (names and byte ranges, in the cache dir); the same pools are also
run with that memo switched off (JONGLER_NO_KEYFILE_MEMO=1), rust-ini reading
the file on every call, for comparison. Prints median wall times and the
ratios the issues set targets for:

    jongler (8 keys) / curl                  target <= 1.5
    jongler (1,000 keys, half locked down)   target <= 1.3x the 8-key call
    jongler (10,000 keys, half locked down)  target <= 2.5x the 8-key call

It also runs bench/floor.rs — one flock'd marker and one blocking reqwest POST,
the floor for any pooled call — and prints jongler's ratio to it.

With --baseline BIN (another build of jongler, e.g. the commit before a
change, built side by side), the 8-key and 10,000-key calls also run with
that binary, in the same shuffled rounds (each with a state dir of its
own), and the ratios of this build to it are printed (target <= 1.2x).

Usage: bench/call-overhead.py [--rounds N] [--baseline BIN]   (builds the release binaries first)
"""

import argparse
import datetime
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
POOLS = {"8 keys": 8, "1,000 keys, half locked down": 1_000, "10,000 keys, half locked down": 10_000}


def lockdown_marker():
    now = datetime.datetime.now(datetime.timezone.utc)
    until = now + datetime.timedelta(hours=12)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return json.dumps({"until": until.strftime(fmt), "reason": "429 RESOURCE_EXHAUSTED (an earlier run)",
                       "source": "daily-quota", "since": now.strftime(fmt)})


def run(cmd, env):
    """Runs one command; a failure stops the benchmark saying what failed."""
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"call-overhead: {cmd[0]} exited {p.returncode}: {p.stderr.strip()[-500:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--baseline", help="another jongler binary to compare with, side by side")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins", "--example", "floor"], cwd=ROOT, check=True)
    floor = os.path.join(ROOT, "target/release/examples/floor")
    jongler = os.path.join(ROOT, "target/release/jongler")
    emulator_bin = os.path.join(ROOT, "target/release/jongler-emulator")
    curl = shutil.which("curl")
    if not curl:
        sys.exit("call-overhead: curl is not installed")

    work = tempfile.mkdtemp(prefix="jongler-bench-")
    state = os.path.join(work, "state")
    os.makedirs(state)
    rng = random.Random(8)
    emulator = subprocess.Popen([emulator_bin, "--accept-any-key"], stdout=subprocess.PIPE, text=True)
    try:
        url = emulator.stdout.readline().strip()
        host, port = url.removeprefix("http://").rsplit(":", 1)
        conn_dir = os.path.join(work, "connectors")
        os.makedirs(conn_dir)
        commands = {"curl": [curl, "-s", "-o", "/dev/null", "-X", "POST", "-H",
                             "x-goog-api-key: AIzaSyBENCH00000000xxxxxxxxxxxxxxxxxxxx",
                             "-H", "content-type: application/json", "-d", BODY, url + ENDPOINT],
                    # One flock'd marker and one blocking reqwest POST: the floor for any pooled call.
                    "floor (bench/floor.rs)": [floor, os.path.join(state, "floor.lock"), url + ENDPOINT,
                                               "AIzaSyBENCH00000000xxxxxxxxxxxxxxxxxxxx", BODY]}
        marker = lockdown_marker()
        # The built-in Gemini connector's limits (per model: requests and tokens
        # per minute, requests per day), every figure x1000 so that none binds
        # here: what counting costs, not waiting.
        with open(os.path.join(ROOT, "connectors", "generativelanguage.googleapis.com.json")) as f:
            limits = json.load(f)["limits"]
        for limit in limits:
            for field in ("requests", "tokens"):
                if field in limit:
                    limit[field] *= 1000
        with open(os.path.join(conn_dir, "limited.json"), "w") as f:
            json.dump({"name": "limited", "host": host, "port": int(port), "protocol": "http",
                       "api_key_header": "x-goog-api-key", "limits": limits}, f)
        limited_ini = os.path.join(work, "limited.ini")
        with open(limited_ini, "w") as f:
            f.write("[limited]\n" + "".join(f"key{i} = AIzaSyBENCH{i:08d}xxxxxxxxxxxxxxxxxxxx\n" for i in range(8)))
        commands["jongler (8 keys, Gemini's limits declared)"] = [jongler, "--config", limited_ini, "limited", "POST",
                                                                  ENDPOINT, BODY]
        for label, n in POOLS.items():
            name = f"bench{n}"
            with open(os.path.join(conn_dir, name + ".json"), "w") as f:
                json.dump({"name": name, "host": host, "port": int(port), "protocol": "http",
                           "api_key_header": "x-goog-api-key"}, f)
            ini = os.path.join(work, f"{name}.ini")
            with open(ini, "w") as f:
                f.write(f"[{name}]\n" + "".join(f"key{i} = AIzaSyBENCH{i:08d}xxxxxxxxxxxxxxxxxxxx\n" for i in range(n)))
            if n > 8:
                for i in rng.sample(range(n), n // 2):
                    with open(os.path.join(state, f"{name}_key{i}.lockdown"), "w") as f:
                        f.write(marker)
            commands[f"jongler ({label})"] = [jongler, "--config", ini, name, "POST", ENDPOINT, BODY]
            if n > 8:
                commands[f"jongler ({label}, no memo)"] = [jongler, "--config", ini, name, "POST", ENDPOINT, BODY]

        env = dict(os.environ, JONGLER_STATE_DIR=state, JONGLER_CONNECTORS_DIR=conn_dir,
                   NO_COLOR="1", HOME=work)
        env.pop("APIJONGLER_CONFIG", None)
        no_memo = dict(env, JONGLER_NO_KEYFILE_MEMO="1")
        baseline_env = None
        if args.baseline:
            # The same pools with the other binary, over a copy of the state.
            baseline_state = os.path.join(work, "baseline-state")
            shutil.copytree(state, baseline_state)
            baseline_env = dict(env, JONGLER_STATE_DIR=baseline_state)
            for label in ("8 keys", "10,000 keys, half locked down"):
                commands[f"baseline: jongler ({label})"] = [args.baseline] + commands[f"jongler ({label})"][1:]

        def env_of(name):
            if name.startswith("baseline:"):
                return baseline_env
            return no_memo if "no memo" in name else env
        times = {name: [] for name in commands}
        # Warm up the page cache and the emulator.
        for name, cmd in commands.items():
            for _ in range(3):
                run(cmd, env_of(name))
        names = list(commands)
        for _ in range(args.rounds):
            random.shuffle(names)
            for name in names:
                start = time.perf_counter()
                run(commands[name], env_of(name))
                times[name].append(time.perf_counter() - start)
    finally:
        emulator.kill()
        shutil.rmtree(work, ignore_errors=True)

    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"call-overhead: {args.rounds} rounds, {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs), "
          f"{time.strftime('%Y-%m-%d')}")
    for name, t in times.items():
        print(f"  {name:<54} median {med[name] * 1000:7.2f} ms   p90 {sorted(t)[int(len(t) * 0.9)] * 1000:7.2f} ms")
    base = med["jongler (8 keys)"]
    floor = med["floor (bench/floor.rs)"]
    checks = [("jongler (8 keys) / curl", base / med["curl"], 1.5),
              ("jongler (8 keys) / floor", base / floor, 1.2),
              ("jongler (8 keys, limits declared) / floor", med["jongler (8 keys, Gemini's limits declared)"] / floor,
               1.2)]
    for label, target in (("1,000 keys, half locked down", 1.3), ("10,000 keys, half locked down", 2.5)):
        checks.append((f"{label} / 8 keys", med[f"jongler ({label})"] / base, target))
    for label in ("1,000 keys, half locked down", "10,000 keys, half locked down"):
        checks.append((f"{label}, no memo / 8 keys", med[f"jongler ({label}, no memo)"] / base, None))
    if args.baseline:
        for label in ("8 keys", "10,000 keys, half locked down"):
            checks.append((f"{label}: this build / baseline",
                           med[f"jongler ({label})"] / med[f"baseline: jongler ({label})"], 1.2))
    for what, ratio, target in checks:
        if target is None:
            note = "rust-ini on every call" if "memo" in what else "one flock + one POST"
            print(f"  ratio {what:<54} {ratio:5.2f}x  ({note})")
            continue
        print(f"  ratio {what:<54} {ratio:5.2f}x  (target <= {target}x: {'met' if ratio <= target else 'MISSED'})")


if __name__ == "__main__":
    main()
