#!/usr/bin/env python3
"""Soak: `jongler serve` under well-behaved and hostile clients at once,
bounded in time, all on loopback.

For --seconds (default 300): 64 well-behaved keep-alive clients post
generateContent requests through serve (16 keys, the emulator answering in
50 ms, with a 2 s upstream pause every 30 s), while misbehaving clients run
alongside:
  - a slowloris: opens connections and sends a header a byte a second;
  - a staller: reads 200 bytes of a large streamed answer, then stops reading;
  - quitters: send a request and hang up 0.1 s later;
  - an unauthenticated uploader: announces 60 MB and pushes it without a token.

Reports serve's RSS and open fds at the start, middle and end, the
well-behaved clients' failures (must be 0), and the keys held at the end
(must be 0). serve runs with --header-timeout 5 and --stall-timeout 5.

Usage: bench/soak.py [--seconds N]
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "soak-token-0123456789"
KEYS, CLIENTS = 16, 64
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
BIG_STREAM = "/v1beta/models/gemini-big-stream:streamGenerateContent?alt=sse"
BODY = json.dumps({"contents": [{"parts": [{"text": "soak"}]}]})


def rss_and_fds(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) // 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=ROOT, check=True)
    jongler = os.path.join(ROOT, "target/release/jongler")
    work = tempfile.mkdtemp(prefix="jongler-soak-")
    emulator = subprocess.Popen([os.path.join(ROOT, "target/release/jongler-emulator"), "--accept-any-key",
                                 "--latency-ms", "50"], stdout=subprocess.PIPE, text=True)
    serve = None
    stop = time.monotonic() + args.seconds
    failures, counts, samples = [], {"ok": 0, "misbehaving": 0}, []
    try:
        eurl = emulator.stdout.readline().strip()
        host, port = eurl.removeprefix("http://").rsplit(":", 1)
        os.makedirs(os.path.join(work, "connectors"))
        with open(os.path.join(work, "connectors", "soak.json"), "w") as f:
            json.dump({"name": "soak", "host": host, "port": int(port), "protocol": "http",
                       "api_key_header": "x-goog-api-key"}, f)
        with open(os.path.join(work, "keys.ini"), "w") as f:
            f.write("[soak]\n" + "".join(f"key{i} = AIzaSySOAK{i:04d}xxxxxxxxxxxxxxxxxxxxxxxxx\n" for i in range(KEYS)))
        env = dict(os.environ, APIJONGLER_CONFIG=os.path.join(work, "keys.ini"), HOME=work, NO_COLOR="1",
                   JONGLER_STATE_DIR=os.path.join(work, "state"), JONGLER_CONNECTORS_DIR=os.path.join(work, "connectors"),
                   JONGLER_PROXY_TOKEN=TOKEN)
        serve = subprocess.Popen([jongler, "-q", "serve", "soak", "--listen", "127.0.0.1:0", "--header-timeout", "5",
                                  "--stall-timeout", "5"], env=env, stderr=subprocess.PIPE, text=True)
        line = serve.stderr.readline()
        url = next(w for w in line.split() if w.startswith("http://"))
        shost, sport = url.removeprefix("http://").rsplit(":", 1)
        sport = int(sport)
        threading.Thread(target=lambda: [None for _ in serve.stderr], daemon=True).start()

        def good(n):
            conn = http.client.HTTPConnection(shost, sport, timeout=120)
            while time.monotonic() < stop:
                try:
                    conn.request("POST", GENERATE, BODY, {"content-type": "application/json", "x-goog-api-key": TOKEN})
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        failures.append(r.status)
                    else:
                        counts["ok"] += 1
                except Exception as e:  # a well-behaved client must never see one
                    failures.append(repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection(shost, sport, timeout=120)

        def raw(payload, then):
            s = socket.create_connection((shost, sport), timeout=10)
            try:
                s.sendall(payload)
                then(s)
            except OSError:
                pass
            finally:
                s.close()
            counts["misbehaving"] += 1
            time.sleep(0.2)  # bounded: a few misbehaving connections a second

        def slowloris():
            while time.monotonic() < stop:
                def trickle(s):
                    for b in f"POST {GENERATE} HTTP/1.1\r\nHost: x\r\n".encode():
                        s.sendall(bytes([b]))
                        time.sleep(1)
                raw(b"", trickle)

        def staller():
            while time.monotonic() < stop:
                head = (f"POST {BIG_STREAM} HTTP/1.1\r\nHost: {url[7:]}\r\nx-goog-api-key: {TOKEN}\r\n"
                        f"content-type: application/json\r\ncontent-length: {len(BODY)}\r\n\r\n{BODY}").encode()
                raw(head, lambda s: (s.recv(200), time.sleep(8)))

        def quitter():
            while time.monotonic() < stop:
                head = (f"POST {GENERATE} HTTP/1.1\r\nHost: {url[7:]}\r\nx-goog-api-key: {TOKEN}\r\n"
                        f"content-type: application/json\r\ncontent-length: {len(BODY)}\r\n\r\n{BODY}").encode()
                raw(head, lambda s: time.sleep(0.1))

        def uploader():
            while time.monotonic() < stop:
                head = (f"POST {GENERATE} HTTP/1.1\r\nHost: {url[7:]}\r\nx-goog-api-key: wrong\r\n"
                        f"content-length: {60 * 1024 * 1024}\r\n\r\n").encode()
                raw(head, lambda s: [s.sendall(b" " * 1024 * 1024) for _ in range(60)])

        def pauses():
            while time.monotonic() < stop:
                time.sleep(30)
                urllib.request.urlopen(urllib.request.Request(eurl + "/__emulator/latency?ms=2000", method="POST"))
                time.sleep(2)
                urllib.request.urlopen(urllib.request.Request(eurl + "/__emulator/latency?ms=50", method="POST"))

        threads = [threading.Thread(target=good, args=(n,), daemon=True) for n in range(CLIENTS)]
        threads += [threading.Thread(target=f, daemon=True) for f in (slowloris, staller, quitter, quitter, uploader)]
        threading.Thread(target=pauses, daemon=True).start()
        samples.append(("start", *rss_and_fds(serve.pid)))
        for t in threads:
            t.start()
        time.sleep(args.seconds / 2)
        samples.append(("middle", *rss_and_fds(serve.pid)))
        for t in threads:
            t.join(timeout=max(0, stop - time.monotonic()) + 30)
        time.sleep(6)  # the last staller's stall timeout
        samples.append(("end", *rss_and_fds(serve.pid)))
        status = json.loads(urllib.request.urlopen(urllib.request.Request(
            url + "/status", headers={"x-goog-api-key": TOKEN})).read())
        held = [k["name"] for k in status["keys"] if k["state"] == "locked"]
    finally:
        if serve:
            serve.terminate()
            serve.wait()
        emulator.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"soak: {args.seconds:g} s, {CLIENTS} well-behaved clients over {KEYS} keys plus a slowloris, a staller, "
          f"two quitters and an unauthenticated uploader; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    for label, rss, fds in samples:
        print(f"  {label:<6} RSS {rss:4d} MB, open fds {fds}")
    print(f"  well-behaved requests answered 200: {counts['ok']}; failed: {len(failures)} {sorted(set(map(str, failures)))[:5]}")
    print(f"  misbehaving connections made: {counts['misbehaving']}; keys LOCKED at the end: {len(held)} {held}")
    ok = not failures and not held
    print(f"  {'met' if ok else 'MISSED'}: no failed well-behaved request, no key held at the end")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
