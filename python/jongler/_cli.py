"""The ``jongler`` command the wheel installs: the Rust CLI, run in this
process, with the binary's arguments, output and exit codes."""

import signal
import sys

from ._native import run_cli


def main() -> None:
    """Runs ``jongler`` with this process's arguments and exits with its code."""
    # Ctrl-C as for the binary: the command catches it where it means to
    # (a call in flight, batch, serve); elsewhere it ends the process.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(run_cli(["jongler", *sys.argv[1:]]))
