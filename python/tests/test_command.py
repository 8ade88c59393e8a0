"""The `jongler` command the wheel installs: the Rust CLI in the Python
process, with the binary's output and exit codes (compared with the binary
cargo built, JONGLER_BIN), the demo, Ctrl-C, and `python -m jongler`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

import jongler
from conftest import CONN, GENERATE, STREAM, prompt, run, wheel_command

BINARY = os.environ.get("JONGLER_BIN", "")


def both(argv, env, stdin=subprocess.DEVNULL):
    """The wheel's command and the binary, run with the same arguments."""
    assert BINARY, "JONGLER_BIN names the binary cargo built"
    return run([wheel_command(), *argv], env, stdin=stdin), run([BINARY, *argv], env, stdin=stdin)


def test_the_command_runs_the_demo():
    out = run([wheel_command(), "demo", "--requests", "24", "--workers", "4", "--keys", "3"],
              {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "NO_COLOR": "1"})
    assert out.returncode == 0, out.stderr
    assert "keys marked ERROR: 1 (demo-key-3)" in out.stdout, out.stdout


@pytest.mark.parametrize("argv, code", [
    (["--version"], 0),
    (["--help"], 0),
    (["status", "--help"], 0),
    (["completions", "bash"], 0),
    (["--bogus"], 2),
    (["no-such-connector", "POST", "/v1/x", "{}"], 2),
    ([CONN, "POST", GENERATE, "{not json"], 2),
    ([CONN, "POST", GENERATE, json.dumps(prompt("same answer"))], 0),
    ([CONN, "POST", GENERATE, json.dumps(prompt("pretty")), "--pretty", "-i"], 0),
    ([CONN, "POST", "/v1beta/models/no-such-model:unknownAction", "{}"], 4),
    (["keys", "list", CONN], 0),
    (["--cleanup", CONN], 0),
])
def test_the_command_prints_and_exits_as_the_binary(make_pool, argv, code):
    pool = make_pool(2)
    ours, binary = both(argv, pool.env)
    assert (ours.returncode, binary.returncode) == (code, code), f"{ours.stderr}\n{binary.stderr}"
    headers = lambda text: "\n".join(line for line in text.splitlines() if not line.lower().startswith("date:"))
    assert headers(ours.stdout) == headers(binary.stdout)
    assert ours.stderr.replace("\r", "") == binary.stderr.replace("\r", "")
    pool.assert_no_secrets(ours.stdout, ours.stderr)


def test_the_command_reads_a_body_from_stdin(make_pool):
    pool = make_pool(1)
    body = pool.root / "body.json"
    body.write_text(json.dumps(prompt("from stdin")))
    with open(body) as stdin:
        out = run([wheel_command(), CONN, "POST", GENERATE, "-"], pool.env, stdin=stdin)
    assert out.returncode == 0 and "echo: from stdin" in out.stdout


def test_no_key_and_server_errors_exit_3_and_5(make_pool):
    pool = make_pool(1)
    j = jongler.Jongler(CONN, **pool.options)
    with j.stream("POST", STREAM, json.dumps(prompt("holding the only key"))):
        ours, binary = both([CONN, "POST", GENERATE, json.dumps(prompt("none free")), "--wait", "0"], pool.env)
    assert (ours.returncode, binary.returncode) == (3, 3), ours.stderr
    overloaded = make_pool(keys={"key1": "overloaded"})
    ours, binary = both([CONN, "POST", GENERATE, json.dumps(prompt("busy")), "--wait", "1"], overloaded.env)
    assert (ours.returncode, binary.returncode) == (5, 5), ours.stderr
    assert ours.stdout == binary.stdout


@pytest.mark.parametrize("command", ["wheel", "binary"])
def test_ctrl_c_during_a_call_exits_130_with_the_key_released(make_pool, command):
    pool = make_pool(1, emulator_args=("--latency-ms", "5000"))
    program = wheel_command() if command == "wheel" else BINARY
    child = subprocess.Popen([program, CONN, "POST", GENERATE, json.dumps(prompt("interrupted"))], env=pool.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert pool.emulator.wait_started("interrupted")
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert "interrupted; the key was released" in err
    assert {k.state for k in jongler.Jongler(CONN, **pool.options).key_states()} == {"vacant"}


def test_python_dash_m_jongler_is_the_command():
    out = run([sys.executable, "-m", "jongler", "--version"], dict(os.environ))
    assert out.returncode == 0 and out.stdout.startswith("jongler ")


def test_the_command_runs_once_in_a_process_that_made_no_jongler(make_pool):
    pool = make_pool(1)
    script = (
        "import json, sys, jongler\n"
        "jongler.Jongler(%r, **json.loads(sys.argv[1]))\n"
        "try:\n"
        "    jongler._native.run_cli(['jongler', '--version'])\n"
        "except RuntimeError as e:\n"
        "    print('refused:', e)\n" % CONN
    )
    out = run([sys.executable, "-c", script, json.dumps(pool.options)], pool.env)
    assert out.returncode == 0 and "refused:" in out.stdout, out.stderr
    twice = run([sys.executable, "-c", "import jongler._native as n; n.run_cli(['jongler', '--version'])\n"
                 "try:\n    n.run_cli(['jongler', '--version'])\nexcept RuntimeError:\n    print('refused')"],
                dict(os.environ))
    assert twice.returncode == 0 and twice.stdout.splitlines()[-1] == "refused", twice.stderr
