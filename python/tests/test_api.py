"""The Pythonic API: requests, JSON, streams, asyncio, key states, typed
errors, and threads sharing one `Jongler` with the GIL let go."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import sys
import threading
import time
from pathlib import Path

import pytest

import jongler
from conftest import CONN, GENERATE, STREAM, answer_text, prompt, run

README = Path(__file__).resolve().parents[2] / "README.md"


def test_request_json_and_request_go_through_the_pool(make_pool):
    pool = make_pool(2)
    j = jongler.Jongler(CONN, **pool.options)
    assert answer_text(j.request_json(GENERATE, prompt("hello"))) == "echo: hello"
    response = j.request("POST", GENERATE, json.dumps(prompt("raw")))
    assert response.status == 200 and response.ok
    assert response.key_name in {"key1", "key2"}
    assert response.header("Content-Type").startswith("application/json")
    assert answer_text(response.json()) == "echo: raw"
    assert "echo: raw" in response.text and isinstance(response.body, bytes)
    stats = pool.emulator.stats()
    assert stats["requests"] == 2 and stats["key_in_url"] == 0
    assert {k.name: k.state for k in j.key_states()} == {"key1": "vacant", "key2": "vacant"}
    pool.assert_no_secrets(repr(j), repr(response), repr(j.key_states()), repr(j.masked_keys()))


def test_options_mirror_the_cli_flags(make_pool):
    pool = make_pool(1)
    j = jongler.Jongler(CONN, wait="1500ms", timeout=None, fallback_models=["gemini-2.0-flash"], **pool.options)
    assert (j.wait, j.timeout, j.connector) == (1.5, None, CONN)
    assert jongler.Jongler(CONN, wait=2, timeout="2m", **pool.options).timeout == 120.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'wiat'"):
        jongler.Jongler(CONN, wiat=1, **pool.options)
    with pytest.raises(jongler.ConfigError, match="wait"):
        jongler.Jongler(CONN, wait="soon", **pool.options)
    with pytest.raises(jongler.ConfigError, match="not both"):
        jongler.Jongler(CONN, proxy="http://127.0.0.1:9", tor=True, **pool.options)


def test_a_stream_arrives_in_chunks_and_holds_its_key_until_it_ends(make_pool):
    pool = make_pool(1)
    j = jongler.Jongler(CONN, wait=0, **pool.options)
    with j.stream("POST", STREAM, json.dumps(prompt("streamed words"))) as stream:
        assert stream.status == 200 and stream.key_name == "key1"
        first = next(stream)
        assert first.startswith(b"data: ")
        assert [k.state for k in j.key_states()] == ["locked"], "held while the answer arrives"
        with pytest.raises(jongler.NoKeyError):
            j.request("POST", GENERATE, json.dumps(prompt("meanwhile")))
        rest = list(stream)
    assert len(rest) >= 1 and stream.closed
    assert [k.state for k in j.key_states()] == ["vacant"]
    assert answer_text(j.request_json(GENERATE, prompt("after"))) == "echo: after"


def test_a_stream_closed_early_lets_go_of_its_key(make_pool):
    pool = make_pool(1)
    j = jongler.Jongler(CONN, wait=0, **pool.options)
    stream = j.stream("POST", STREAM, json.dumps(prompt("abandoned")))
    next(stream)
    stream.close()
    stream.close()
    assert stream.closed and [k.state for k in j.key_states()] == ["vacant"]
    stream = j.stream("POST", STREAM, json.dumps(prompt("dropped")))
    del stream  # garbage collected: the key goes with it
    assert [k.state for k in j.key_states()] == ["vacant"]


def test_no_key_is_a_runtime_error_with_exit_code_3(make_pool):
    pool = make_pool(1)
    j = jongler.Jongler(CONN, wait=0, **pool.options)
    with j.stream("POST", STREAM, json.dumps(prompt("holding"))):
        with pytest.raises(RuntimeError) as caught:
            j.request_json(GENERATE, prompt("no key"))
    err = caught.value
    assert isinstance(err, jongler.NoKeyError) and isinstance(err, jongler.JonglerError)
    assert err.exit_code == 3 and str(err).startswith("No API keys available")
    pool.assert_no_secrets(str(err))


def test_a_bad_key_is_marked_error_and_the_call_goes_on(make_pool):
    pool = make_pool(keys={"good": "valid", "bad": "invalid"})
    j = jongler.Jongler(CONN, **pool.options)
    for i in range(4):
        assert answer_text(j.request_json(GENERATE, prompt(f"call {i}"))) == f"echo: call {i}"
    states = {k.name: k for k in j.key_states()}
    assert states["bad"].state == "error" and "API_KEY_INVALID" in (states["bad"].reason or "")
    assert states["good"].state == "vacant"
    assert j.clear_marks("bad") == 1
    assert {k.name: k.state for k in j.key_states()}["bad"] == "vacant"


def test_a_rate_limited_key_is_locked_down_until_a_time(make_pool):
    pool = make_pool(keys={"busy": "exhausted", "free": "valid"})
    j = jongler.Jongler(CONN, **pool.options)
    for i in range(3):
        j.request_json(GENERATE, prompt(f"call {i}"))
    busy = {k.name: k for k in j.key_states()}["busy"]
    assert busy.state == "lockdown"
    assert isinstance(busy.until, datetime.datetime) and busy.until > datetime.datetime.now(datetime.timezone.utc)
    assert j.rate_limits_absorbed() >= 1
    report = j.cleanup()
    assert report["lockdowns"] >= 1
    assert {k.name: k.state for k in j.key_states()}["busy"] == "vacant"


def test_http_status_errors_carry_the_answer(make_pool):
    pool = make_pool(1)
    j = jongler.Jongler(CONN, **pool.options)
    response = j.request("POST", "/v1beta/models/no-such-model:unknownAction", "{}")
    assert not response.ok and 400 <= response.status < 500
    with pytest.raises(jongler.HTTPStatusError) as caught:
        response.raise_for_status()
    assert caught.value.status == response.status and caught.value.exit_code == 4
    with pytest.raises(jongler.HTTPStatusError) as caught:
        j.request_json("/v1beta/models/no-such-model:unknownAction", {})
    assert caught.value.response.status == response.status and caught.value.text


def test_configuration_and_network_errors_are_typed(make_pool, tmp_path):
    pool = make_pool(1)
    with pytest.raises(jongler.ConfigError) as caught:
        jongler.Jongler("no-such-connector", **pool.options)
    assert isinstance(caught.value, ValueError) and caught.value.exit_code == 2
    with pytest.raises(jongler.ConfigError, match="does not exist"):
        jongler.Jongler(CONN, **{**pool.options, "config": str(tmp_path / "missing.ini")})
    j = jongler.Jongler(CONN, **pool.options)
    with pytest.raises(jongler.ConfigError, match="not valid JSON"):
        j.request("POST", GENERATE, "{not json")
    with pytest.raises(TypeError, match="str or bytes"):
        j.request("POST", GENERATE, {"a": 1})
    assert pool.emulator.stats()["requests"] == 0, "nothing was sent"
    pool.emulator.stop()
    with pytest.raises(jongler.RequestError) as caught:
        jongler.Jongler(CONN, wait=2, **pool.options).request("POST", GENERATE, json.dumps(prompt("x")))
    assert isinstance(caught.value, RuntimeError) and caught.value.exit_code == 1
    pool.assert_no_secrets(str(caught.value))


def test_threads_overlap_on_one_jongler_with_the_gil_let_go(make_pool):
    pool = make_pool(4, emulator_args=("--latency-ms", "300"))
    j = jongler.Jongler(CONN, **pool.options)
    answers = {}

    def call(i: int) -> None:
        answers[i] = answer_text(j.request_json(GENERATE, prompt(f"thread {i}")))

    ticks = 0
    started = time.monotonic()
    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        ticks += 1  # the main thread runs Python meanwhile
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    assert answers == {i: f"echo: thread {i}" for i in range(4)}
    assert elapsed < 0.9, f"four 300 ms calls on four keys took {elapsed:.2f}s: they did not overlap"
    assert ticks >= 10


def test_a_released_key_goes_to_the_thread_that_waited_longest(make_pool):
    pool = make_pool(1)
    j = jongler.Jongler(CONN, wait=30, **pool.options)
    order = []
    holder = j.stream("POST", STREAM, json.dumps(prompt("holder")))

    def waiter(name: str) -> None:
        j.request_json(GENERATE, prompt(name))
        order.append(name)

    threads = []
    for name in ["first", "second", "third"]:
        threads.append(threading.Thread(target=waiter, args=(name,)))
        threads[-1].start()
        time.sleep(0.3)  # each is waiting before the next starts
    holder.close()
    for t in threads:
        t.join(30)
    assert order == ["first", "second", "third"]


def test_async_calls_run_at_once(make_pool):
    pool = make_pool(8, emulator_args=("--latency-ms", "300"))

    async def main():
        async with jongler.AsyncJongler(CONN, **pool.options) as j:
            started = time.monotonic()
            answers = await asyncio.gather(*(j.request_json(GENERATE, prompt(f"async {i}")) for i in range(8)))
            elapsed = time.monotonic() - started
            chunks = []
            async with await j.stream("POST", STREAM, json.dumps(prompt("async stream"))) as stream:
                async for chunk in stream:
                    chunks.append(chunk)
            states = await j.key_states()
            return answers, elapsed, chunks, states

    answers, elapsed, chunks, states = asyncio.run(main())
    assert [answer_text(a) for a in answers] == [f"echo: async {i}" for i in range(8)]
    assert elapsed < 1.5, f"eight 300 ms calls on eight keys took {elapsed:.2f}s"
    assert len(chunks) >= 2 and all(k.state == "vacant" for k in states)


def test_cleanup_all_clears_every_connectors_marks(make_pool):
    pool = make_pool(keys={"bad": "invalid", "good": "valid"})
    j = jongler.Jongler(CONN, **pool.options)
    j.request_json(GENERATE, prompt("marks the bad key"))
    assert "error" in [k.state for k in j.key_states()]
    report = jongler.cleanup_all(state_dir=str(pool.state))
    assert report["errors"] == 1
    assert all(k.state == "vacant" for k in j.key_states())


FORK = r"""
import json, os, sys
import jongler
connector, options, endpoint = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
j = jongler.Jongler(connector, wait=0, **options)
stream = j.stream("POST", endpoint, json.dumps({"contents": [{"parts": [{"text": "held across a fork"}]}]}))
next(stream)
child = os.fork()
if child == 0:
    for call in (lambda: j.request("GET", "/v1beta/models"), lambda: next(stream)):
        try:
            call()
            sys.exit("the child used the parent's connection")
        except jongler.RequestError as e:
            assert "fork" in str(e), e
    sys.exit(0)  # a normal exit: the child finalizes its copies of both
_, status = os.waitpid(child, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert [k.state for k in j.key_states()] == ["locked"], "the child let go of nothing"
assert list(stream)
assert [k.state for k in j.key_states()] == ["vacant"]
print("ok")
"""


def test_a_forked_child_neither_uses_nor_lets_go_of_the_parents_connection(make_pool):
    pool = make_pool(1)
    out = run([sys.executable, "-c", FORK, CONN, json.dumps(pool.options), STREAM], pool.env, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_readmes_python_examples_run_as_written(gemini_pool):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Python\n"):text.index("\n## Connectors\n")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        script = gemini_pool.root / f"readme_{i}.py"
        script.write_text(block, encoding="utf-8")
        out = run([sys.executable, str(script)], gemini_pool.env)
        assert out.returncode == 0, f"README Python block {i}:\n{block}\n{out.stdout}\n{out.stderr}"
        assert "echo: Hello" in out.stdout, out.stdout
        gemini_pool.assert_no_secrets(out.stdout, out.stderr)
    assert gemini_pool.emulator.stats()["key_in_url"] == 0
