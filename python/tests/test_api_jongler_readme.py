"""api-jongler's README examples, run with only the import changed.

`api_jongler_readme/` holds the Python blocks of api-jongler's README (the
page of its PyPI release, MIT-licensed, copied verbatim in the README's
order) and its CLI block. Each runs in a process of its own against the emulator, with
`from api_jongler import APIJongler` turned into `from jongler import
APIJongler` and nothing else: the two blocks the README prints without an
import line (the migration note and the production tips) get that line
first, and the "Method Comparison" block, which goes on with the `jongler`
of the block before it, runs after that block. The built-in Gemini and
Hugging Face connectors are pointed at the emulator by connector files that
extend them, as a user would."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from conftest import Pool, run, wheel_command

HERE = Path(__file__).parent / "api_jongler_readme"
THEIRS = "from api_jongler import APIJongler"
OURS = "from jongler import APIJongler"

# (the blocks run as one script, what its output must show)
EXAMPLES = {
    "migration": (["01_migration.py"], []),
    "basic": (["02_basic_gemini.py"], ["Status Code: 200", "echo: Hello, how are you?", "Available keys: 3"]),
    "advanced": (["03_advanced_key_management.py"], ["Vacant keys: {", "Request successful!"]),
    "json": (["04_working_with_json.py"], ["echo: Explain machine learning"]),
    "method comparison": (["04_working_with_json.py", "05_method_comparison.py"], ["echo: Explain machine learning"]),
    "rate limiting": (["06_rate_limiting_and_recovery.py"],
                      [f"Request {i}: Success" for i in range(10)] + ["Final key states:", "Vacant: {"]),
    "monitoring": (["07_monitoring_key_states.py"], ["Vacant (ready): 3", "Error (failed): 0"]),
    "gemma": (["08_gemma.py"], ["{"]),
    "production tips": (["09_production_tips.py"], []),
    "error handling": (["10_error_handling_and_recovery.py"], ["Success!"]),
}


def ported(names):
    """The blocks as one script, with only the import changed (or added)."""
    parts = []
    for name in names:
        source = (HERE / name).read_text(encoding="utf-8")
        if THEIRS not in source and not parts:
            source = f"{THEIRS}\n{source}"
        ours = source.replace(THEIRS, OURS)
        changed = [(a, b) for a, b in zip(source.splitlines(), ours.splitlines()) if a != b]
        assert all(a == THEIRS and b == OURS for a, b in changed), changed
        parts.append(ours)
    return "\n".join(parts)


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_api_jongler_readme_example_runs_with_only_the_import_changed(gemini_pool: Pool, example: str):
    names, expected = EXAMPLES[example]
    script = gemini_pool.root / "example.py"
    script.write_text(ported(names), encoding="utf-8")
    out = run([sys.executable, str(script)], gemini_pool.env)
    assert out.returncode == 0, f"{example}:\n{out.stdout}\n{out.stderr}"
    for text in expected:
        assert text in out.stdout, f"{example}: no {text!r} in\n{out.stdout}\n{out.stderr}"
    assert "All keys exhausted" not in out.stdout
    gemini_pool.assert_no_secrets(out.stdout, out.stderr)
    stats = gemini_pool.emulator.stats()
    if example != "production tips":  # it only defines a function
        assert stats["requests"] >= 1
    assert stats["key_in_url"] == 0 and stats["overlaps"] == 0


def test_api_jongler_readme_cli_examples_run_with_the_command_renamed(gemini_pool: Pool):
    lines = [line for line in (HERE / "11_cli.sh").read_text().splitlines() if line.startswith("apijongler ")]
    assert len(lines) == 6
    codes = []
    for line in lines:
        argv = shlex.split(line)
        out = run([wheel_command(), *argv[1:]], gemini_pool.env)
        codes.append(out.returncode)
        gemini_pool.assert_no_secrets(out.stdout, out.stderr)
        if "--pretty" in argv:
            assert '"text": "echo: ' in out.stdout, out.stdout
    # The last names a config file that isn't there: refused, as a usage error.
    assert codes == [0, 0, 0, 0, 0, 2]
