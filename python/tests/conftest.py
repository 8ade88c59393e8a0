"""Fixtures for the Python package's tests (run by tests/python_package.rs
against the wheel installed in a venv): the repository's emulator on a random
loopback port, a key file and connector pointing at it, and the commands.

JONGLER_EMULATOR names the emulator binary and JONGLER_BIN the `jongler`
binary cargo built (to compare the wheel's command with); the wheel's own
`jongler` command is the one beside this Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import pytest

import jongler

# The wheel installed in this venv, never the sources beside these tests.
assert "site-packages" in jongler.__file__, jongler.__file__

CONN = "gemini-test"
GEMINI = "generativelanguage.googleapis.com"
HF = "api-inference.huggingface.co"
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def key_value(name: str) -> str:
    """A key value long enough to look real, unique per name (as tests/common)."""
    return f"AIzaSyTEST-{name}-0123456789abcdefSECRET"


def prompt(text: str) -> dict:
    return {"contents": [{"parts": [{"text": text}]}]}


def answer_text(answer: dict) -> str:
    return answer["candidates"][0]["content"]["parts"][0]["text"]


def wheel_command() -> str:
    """The `jongler` command the wheel installed beside this Python."""
    found = shutil.which("jongler", path=os.path.dirname(sys.executable))
    assert found, "the wheel installs a `jongler` command"
    return found


class Emulator:
    """`jongler-emulator` on a random loopback port; killed at the end."""

    def __init__(self, keys: Iterable[str], *extra: str) -> None:
        binary = os.environ["JONGLER_EMULATOR"]
        args = [binary, *extra]
        for k in keys:
            args += ["--key", k]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://"), "the emulator prints its URL"
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/__emulator/stats") as answer:
            return json.load(answer)

    def set_latency(self, ms: int) -> None:
        request = urllib.request.Request(f"{self.url}/__emulator/latency?ms={ms}", method="POST")
        urllib.request.urlopen(request).close()

    def wait_started(self, text: str, timeout: float = 60) -> bool:
        """Whether the emulator is (or was) answering the request whose prompt is `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stats()["started"]:
                return True
            time.sleep(0.002)
        return False

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Pool:
    """A temp home: a key file, a connector pointing at the emulator, a state
    dir; `options` for `Jongler(...)`, `env` for commands and APIJongler."""

    def __init__(self, root: Path, emulator: Emulator, keys: Dict[str, str], name: str = CONN,
                 connector: Optional[dict] = None) -> None:
        self.root, self.emulator, self.keys, self.name = root, emulator, keys, name
        (root / "connectors").mkdir(parents=True, exist_ok=True)
        (root / "home").mkdir(exist_ok=True)
        self.connector = {
            "name": name, "host": emulator.host, "port": emulator.port, "protocol": "http",
            "format": "json", "requires_api_key": True, "api_key_header": "x-goog-api-key",
            "check_endpoint": "/v1beta/models", **(connector or {}),
        }
        (root / "connectors" / f"{name}.json").write_text(json.dumps(self.connector))
        lines = "".join(f"{n} = {v}\n" for n, v in keys.items())
        self.ini.write_text(f"[{name}]\n{lines}")

    @property
    def ini(self) -> Path:
        return self.root / "keys.ini"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def options(self) -> dict:
        return {"config": str(self.ini), "state_dir": str(self.state),
                "connectors_dir": str(self.root / "connectors")}

    @property
    def env(self) -> Dict[str, str]:
        """A hermetic environment, as tests/common's `Env::cmd`."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root / "home"),
            "NO_COLOR": "1",
            "APIJONGLER_CONFIG": str(self.ini),
            "JONGLER_STATE_DIR": str(self.state),
            "JONGLER_CONNECTORS_DIR": str(self.root / "connectors"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def assert_no_secrets(self, *texts: str) -> None:
        for text in texts:
            for name, value in self.keys.items():
                assert value not in text, f"key `{name}`'s value leaked:\n{text}"


def run(argv: List[str], env: Dict[str, str], timeout: float = 120, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=stdin)


@pytest.fixture
def make_emulator():
    started: List[Emulator] = []

    def make(keys: Iterable[str], *extra: str) -> Emulator:
        emulator = Emulator(keys, *extra)
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def make_pool(tmp_path, make_emulator):
    """`make_pool(n)`: n valid keys `key1`…; or `make_pool(keys={name: behaviour})`."""
    count = [0]

    def make(n: int = 0, *, keys: Optional[Dict[str, str]] = None, emulator_args=(), name: str = CONN,
             connector: Optional[dict] = None) -> Pool:
        behaviours = keys or {f"key{i}": "valid" for i in range(1, n + 1)}
        values = {k: key_value(k) for k in behaviours}
        emulator = make_emulator([f"{values[k]}={b}" for k, b in behaviours.items()], *emulator_args)
        count[0] += 1
        return Pool(tmp_path / f"pool{count[0]}", emulator, values, name, connector)

    return make


@pytest.fixture
def gemini_pool(make_pool, tmp_path):
    """Three Gemini keys and two Hugging Face ones, both built-in connectors
    pointed at one emulator."""
    pool = make_pool(keys={f"key{i}": "valid" for i in range(1, 6)}, name=GEMINI)
    emulator = pool.emulator
    for name in (GEMINI, HF):
        override = {"name": name, "extends": name, "host": emulator.host, "port": emulator.port, "protocol": "http"}
        (pool.root / "connectors" / f"{name}.json").write_text(json.dumps(override))
    pool.ini.write_text(
        f"[{GEMINI}]\nkey1 = {key_value('key1')}\nkey2 = {key_value('key2')}\nkey3 = {key_value('key3')}\n"
        f"[{HF}]\nkey1 = {key_value('key4')}\nkey2 = {key_value('key5')}\n"
    )
    return pool
