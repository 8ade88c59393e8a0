"""One pool of 8 keys shared by 32 Python threads (one `Jongler`), 4 `jongler`
command processes and a Python process SIGKILLed mid-request: no key is ever
used by two requests at once, every survivor gets its own answer, and no key
is left held."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import jongler
from conftest import CONN, GENERATE, answer_text, prompt, run, wheel_command

THREADS, CLI_PROCESSES, CALLS = 32, 4, 10

# A Python process hammering the same pool from 8 threads until it is killed.
VICTIM = f"""
import json, sys, threading
import jongler
j = jongler.Jongler({CONN!r}, wait=120, **json.loads(sys.argv[1]))
def loop(t):
    n = 0
    while True:
        j.request_json({GENERATE!r}, {{"contents": [{{"parts": [{{"text": f"victim {{t}}-{{n}}"}}]}}]}})
        n += 1
threads = [threading.Thread(target=loop, args=(t,)) for t in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def calls_in_threads(j: jongler.Jongler, failures: list) -> list:
    def work(t: int) -> None:
        for n in range(CALLS):
            text = f"thread {t}-{n}"
            try:
                got = answer_text(j.request_json(GENERATE, prompt(text)))
                if got != f"echo: {text}":
                    failures.append((text, got))
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failures.append((text, repr(e)))

    return [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]


def calls_in_commands(pool, failures: list) -> list:
    def work(p: int) -> None:
        for n in range(CALLS):
            text = f"command {p}-{n}"
            out = run([wheel_command(), CONN, "POST", GENERATE, json.dumps(prompt(text)), "--wait", "120"], pool.env)
            pool.assert_no_secrets(out.stdout, out.stderr)
            if out.returncode != 0 or answer_text(json.loads(out.stdout)) != f"echo: {text}":
                failures.append((text, out.returncode, out.stderr[-300:]))

    return [threading.Thread(target=work, args=(p,)) for p in range(CLI_PROCESSES)]


def test_threads_commands_and_a_sigkilled_process_share_8_keys_without_double_booking(make_pool):
    pool = make_pool(8, emulator_args=("--latency-ms", "60"))
    emulator = pool.emulator
    j = jongler.Jongler(CONN, wait=120, **pool.options)
    victim = subprocess.Popen([sys.executable, "-c", VICTIM, json.dumps(pool.options)], env=pool.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    failures: list = []
    workers = calls_in_threads(j, failures) + calls_in_commands(pool, failures)
    started = time.monotonic()
    for w in workers:
        w.start()
    # SIGKILL the victim while its threads have requests in flight.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = emulator.stats()
        victims = [p for p in stats["started"] if p.startswith("victim")]
        if len(victims) >= 4 and stats["in_flight"] > 0:
            break
        time.sleep(0.002)
    assert victim.poll() is None, victim.stderr.read()
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = len([p for p in emulator.stats()["started"] if p.startswith("victim")])
    for w in workers:
        w.join(300)
    elapsed = time.monotonic() - started

    assert not failures, failures[:5]
    stats = emulator.stats()
    victim_prompts = {p for p in stats["started"] if p.startswith("victim")}
    assert len(victim_prompts) == killed_at >= 4, "nothing of the victim's ran after the kill"
    double_booked = [pair for pair in stats["overlap_pairs"] if pair[0] not in victim_prompts]
    assert double_booked == [], f"a key was in use twice at once: {double_booked}"
    ours = [p for p in stats["started"] if not p.startswith("victim")]
    assert len(ours) == THREADS * CALLS + CLI_PROCESSES * CALLS
    assert stats["key_in_url"] == 0 and len(stats["by_key"]) == 8
    # No key is left held: not by this process, not by the dead one.
    assert {k.state for k in j.key_states()} == {"vacant"}
    status = run([wheel_command(), "status", CONN, "--json"], pool.env)
    assert status.returncode == 0, status.stderr
    assert {k["state"] for k in json.loads(status.stdout)["keys"]} == {"vacant"}
    print(f"{len(ours)} calls delivered in {elapsed:.1f}s; {stats['overlaps']} overlaps, "
          f"each behind one of the {len(victim_prompts)} SIGKILLed process's requests")


def test_the_overlap_count_sees_double_booking_when_pools_are_not_shared(make_pool):
    """The control for the test above: two objects that don't share a state
    dir do double-book, and the emulator counts it."""
    pool = make_pool(2, emulator_args=("--latency-ms", "50"))
    separate = [jongler.Jongler(CONN, **{**pool.options, "state_dir": str(pool.root / f"state-{i}")}) for i in range(2)]

    def work(i: int) -> None:
        for n in range(10):
            separate[i % 2].request_json(GENERATE, prompt(f"apart {i}-{n}"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pool.emulator.stats()["overlaps"] > 0
