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
4. Sentinel: the per-call rounds of (1) also run through
   redis+sentinel:// (the same Redis as master, a replica and three
   sentinels watching it). target: <= 1.1x the plain URL. Then, on a
   second master/replica/sentinels set: the master is SIGKILLed, and calls
   are made one after another until one works — the time from the kill to
   that call's answer, and to the replica's promotion (--lease-ttl 1: the
   fence after a failover is the lease TTL + 1 s).

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


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cmd(port, *words):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
        c.sendall(f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words))
        data = b""
        while not data.endswith(b"\r\n") or (data.startswith(b"$") and data.count(b"\r\n") < 2):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace")


def start_sentinels(work, master_port, label, name="mymaster"):
    """A replica of the server on `master_port` and three sentinels watching
    it: (processes, redis+sentinel:// URL, replica port)."""
    procs = []
    replica_port = free_port()
    replica_dir = os.path.join(work, f"replica-{label}")
    os.makedirs(replica_dir)
    procs.append(subprocess.Popen(["redis-server", "--port", str(replica_port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", replica_dir, "--replicaof", "127.0.0.1", str(master_port)],
                                  stdout=subprocess.DEVNULL))
    ports = []
    for i in range(3):
        port = free_port()
        d = os.path.join(work, f"sentinel-{label}-{i}")
        os.makedirs(d)
        conf = os.path.join(d, "sentinel.conf")
        with open(conf, "w") as f:
            f.write(f"port {port}\nbind 127.0.0.1\ndir {d}\nsentinel monitor {name} 127.0.0.1 {master_port} 2\n"
                    f"sentinel down-after-milliseconds {name} 1000\nsentinel failover-timeout {name} 4000\n")
        procs.append(subprocess.Popen(["redis-server", conf, "--sentinel"], stdout=subprocess.DEVNULL))
        ports.append(port)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if "master_link_status:up" in redis_cmd(replica_port, "INFO", "replication") and all(
                    "sentinels=3" in redis_cmd(p, "INFO", "sentinel") for p in ports):
                break
        except OSError:
            pass
        time.sleep(0.1)
    url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in ports) + f"/{name}"
    return procs, url, replica_port


def failover(work, jongler, base, cmd):
    """Kills a master under calls; (seconds to promotion, seconds to the first
    call that worked after the kill)."""
    # A set of its own: its own dirs, its own master name.
    master_dir = os.path.join(work, "failover-master")
    os.makedirs(master_dir)
    master, murl = pacing.start_redis(master_dir)
    port = int(murl.rsplit(":", 1)[1])
    procs, url, replica_port = start_sentinels(work, port, "failover", name="failover")
    procs.append(master)
    env = dict(base, JONGLER_STATE=url)
    try:
        call = [cmd[0], "--lease-ttl", "1", "--wait", "30"] + cmd[1:]
        for _ in range(3):
            subprocess.run(call, env=env, stdout=subprocess.DEVNULL, check=True)
        master.kill()
        master.wait()
        killed = time.perf_counter()
        promoted = None
        while True:
            if promoted is None and "role:master" in redis_cmd(replica_port, "INFO", "replication"):
                promoted = time.perf_counter() - killed
            if subprocess.run(call, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
            if time.perf_counter() - killed > 60:
                return promoted, None
        back = time.perf_counter() - killed
        while promoted is None:
            if "role:master" in redis_cmd(replica_port, "INFO", "replication"):
                promoted = time.perf_counter() - killed
        return promoted, back
    finally:
        for p in procs:
            p.kill()


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
        sentinel_procs, sentinel_url, _ = start_sentinels(work, int(url.rsplit(":", 1)[1]), "bench")
        procs.extend(sentinel_procs)
        envs = {"files": base, "redis": dict(base, JONGLER_STATE=url),
                "sentinel": dict(base, JONGLER_STATE=sentinel_url)}
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
        sratio = med["sentinel"] / med["redis"]
        ok &= sratio <= 1.1
        lines.append(f"  per call, 8 keys: Redis through Sentinel {med['sentinel'] * 1000:.2f} ms = {sratio:.2f}x "
                     f"the plain URL  (target <= 1.1x: {'met' if sratio <= 1.1 else 'MISSED'})")
        promoted, back = failover(work, jongler, base, cmd)
        lines.append(f"  Sentinel failover: master SIGKILLed; replica promoted after {promoted:.1f}s; first call that "
                     f"worked answered {back:.1f}s after the kill" if back else "  Sentinel failover: NO call worked")
        ok &= back is not None

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
                         + (" (the kernel drops the flock)" if name == "files" else " (--lease-ttl 1)"))

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
