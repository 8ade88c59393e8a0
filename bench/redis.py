#!/usr/bin/env python3
"""Key state in Redis against key state in files, side by side in one run.

1. Per call: `jongler` with 8 keys, state in the state dir vs in Redis
   (--state), alternated in shuffled order (200 rounds). target: Redis <= 1.3x
2. serve: one `jongler serve` on Redis with 64 keep-alive clients, vs two on
   the same Redis with the 64 clients split between them (as behind a load
   balancer); 64 keys, 100 ms per answer: requests/s and CPU per request
   (both serves' CPU together for the pair).
3. What a SIGKILLed holder costs: a call for the only key, made right after
   the process holding it was SIGKILLed mid-request — how long until it gets
   the key, on files (the kernel drops the flock at once) and on Redis (the
   lease runs out: --lease-ttl, 5 s by default; 1 s here).

Starts its own redis-server and emulator on loopback.
Usage: bench/redis.py [--rounds N] [--seconds N]
"""

import argparse
import importlib.util
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("proxy", os.path.join(ROOT, "bench", "proxy.py"))
proxy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proxy)
spec = importlib.util.spec_from_file_location("pacing", os.path.join(ROOT, "bench", "pacing.py"))
pacing = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pacing)

ENDPOINT = "/v1beta/models/gemini-2.5-flash:generateContent"
BODY = json.dumps({"contents": [{"parts": [{"text": "Hello from the Redis benchmark"}]}]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=5)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    emulator_bin = os.path.join(ROOT, "target/release/jongler-emulator")
    work = tempfile.mkdtemp(prefix="jongler-redis-bench-")
    redis, url = pacing.start_redis(work)
    procs = [redis]
    lines = []
    ok = True
    try:
        # 1. Per call.
        emulator = subprocess.Popen([emulator_bin, "--accept-any-key"], stdout=subprocess.PIPE, text=True)
        procs.append(emulator)
        eurl = emulator.stdout.readline().strip()
        host, port = eurl.removeprefix("http://").rsplit(":", 1)
        conn_dir = os.path.join(work, "connectors")
        os.makedirs(conn_dir)
        with open(os.path.join(conn_dir, "bench.json"), "w") as f:
            json.dump({"name": "bench", "host": host, "port": int(port), "protocol": "http",
                       "api_key_header": "x-goog-api-key"}, f)
        ini = os.path.join(work, "keys.ini")
        with open(ini, "w") as f:
            f.write("[bench]\n" + "".join(f"key{i} = AIzaSyREDISBENCH{i:04d}xxxxxxxxxxxxxxxxxxxx\n" for i in range(8)))
        base = dict(os.environ, APIJONGLER_CONFIG=ini, JONGLER_CONNECTORS_DIR=conn_dir, HOME=work, NO_COLOR="1",
                    JONGLER_STATE_DIR=os.path.join(work, "state"))
        base.pop("JONGLER_STATE", None)
        envs = {"files": base, "redis": dict(base, JONGLER_STATE=url)}
        cmd = [jongler, "bench", "POST", ENDPOINT, BODY]
        for env in envs.values():
            for _ in range(3):
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
        times = {name: [] for name in envs}
        names = list(envs)
        for _ in range(args.rounds):
            random.shuffle(names)
            for name in names:
                start = time.perf_counter()
                subprocess.run(cmd, env=envs[name], stdout=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - start)
        med = {n: statistics.median(t) for n, t in times.items()}
        ratio = med["redis"] / med["files"]
        ok &= ratio <= 1.3
        lines.append(f"  per call, 8 keys: files {med['files'] * 1000:.2f} ms, Redis {med['redis'] * 1000:.2f} ms "
                     f"= {ratio:.2f}x  (target <= 1.3x: {'met' if ratio <= 1.3 else 'MISSED'})")

        # 3. A SIGKILLed holder.
        with open(os.path.join(work, "one.ini"), "w") as f:
            f.write("[bench]\nonly = AIzaSyREDISBENCHONLYxxxxxxxxxxxxxxxxxxxxxx\n")
        slow = subprocess.Popen([emulator_bin, "--accept-any-key", "--latency-ms", "3000"], stdout=subprocess.PIPE,
                                text=True)
        procs.append(slow)
        surl = slow.stdout.readline().strip()
        shost, sport = surl.removeprefix("http://").rsplit(":", 1)
        with open(os.path.join(conn_dir, "slow.json"), "w") as f:
            json.dump({"name": "slow", "host": shost, "port": int(sport), "protocol": "http",
                       "api_key_header": "x-goog-api-key"}, f)
        with open(os.path.join(work, "one.ini"), "w") as f:
            f.write("[slow]\nonly = AIzaSyREDISBENCHONLYxxxxxxxxxxxxxxxxxxxxxx\n")
        for name, env in envs.items():
            env = dict(env, APIJONGLER_CONFIG=os.path.join(work, "one.ini"))
            holder = subprocess.Popen([jongler, "--lease-ttl", "1", "slow", "POST", ENDPOINT, BODY], env=env,
                                      stdout=subprocess.DEVNULL)
            time.sleep(0.5)
            holder.kill()
            holder.wait()
            start = time.perf_counter()
            # The next caller: its own request takes 3 s; what matters is when it got the key.
            out = subprocess.run([jongler, "-v", "--lease-ttl", "1", "status", "slow"], env=env,
                                 capture_output=True, text=True)
            state = "locked" if "locked" in out.stdout else "vacant"
            while state == "locked" and time.perf_counter() - start < 10:
                time.sleep(0.01)
                out = subprocess.run([jongler, "--lease-ttl", "1", "status", "slow"], env=env, capture_output=True,
                                     text=True)
                state = "locked" if "locked" in out.stdout else "vacant"
            lines.append(f"  key free after its holder was SIGKILLed, {name}: "
                         f"{(time.perf_counter() - start) * 1000:.0f} ms"
                         + (" (--lease-ttl 1)" if name == "redis" else " (the kernel drops the flock)"))

        # 2. One serve vs two on one Redis.
        fast = subprocess.Popen([emulator_bin, "--accept-any-key", "--latency-ms", str(proxy.LATENCY_MS)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(fast)
        furl = fast.stdout.readline().strip()
        fhost, fport = furl.removeprefix("http://").rsplit(":", 1)
        redis_env = {"JONGLER_STATE": url}
        one = proxy.Serve(jongler, os.path.join(work, "one"), "s64", fhost, fport, 64, 0, redis_env)
        results = {}
        before = one.cpu()
        rps, lat, err, _ = one.load(args.seconds)
        results["one serve"] = (rps, (one.cpu() - before) / len(lat) * 1000, err)
        one.stop()
        a = proxy.Serve(jongler, os.path.join(work, "a"), "s64", fhost, fport, 64, 0, redis_env)
        b = proxy.Serve(jongler, os.path.join(work, "b"), "s64", fhost, fport, 64, 0, redis_env)
        before = a.cpu() + b.cpu()
        rps, lat, err = proxy.load(None, None, args.seconds, lambda n: {"x-goog-api-key": proxy.TOKEN},
                                   targets=[(a.host, a.port), (b.host, b.port)])
        results["two serves"] = (rps, (a.cpu() + b.cpu() - before) / len(lat) * 1000, err)
        a.stop()
        b.stop()
        for label, (rps, cpu, err) in results.items():
            ok &= not err
            lines.append(f"  {label} on one Redis, 64 clients, 64 keys, {proxy.LATENCY_MS} ms answers: "
                         f"{rps:7.1f} req/s, {cpu:.3f} ms CPU per request" + (f", {len(err)} errors" if err else ""))
        ratio = results["two serves"][0] / results["one serve"][0]
        lines.append(f"  two serves / one serve: {ratio:.3f}x req/s (ideal 64 clients / 0.1 s = 640 req/s either way)")
    finally:
        for p in procs:
            p.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"redis: {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
