"""jongler: send LLM API requests through a pool of API keys shared safely by
every thread and process on the machine (or, with Redis, many machines).

Two ways in:

- ``Jongler`` — the Pythonic API: ``Jongler("generativelanguage.googleapis.com",
  wait=30).request_json(endpoint, data)``, streaming with ``stream()``, typed
  exceptions (``jongler.errors``), ``AsyncJongler`` for asyncio.
- ``APIJongler`` — api-jongler's class, unchanged but for the import.

The engine is the Rust library the ``jongler`` command is built on; calls let
go of the GIL while they wait for a key and while they are on the network.
"""

from ._native import Jongler, KeyState, Response, Stream, __version__, cleanup_all
from .aio import AsyncJongler, AsyncStream
from .compat import APIJongler
from .errors import (
    ConfigError,
    HTTPStatusError,
    JonglerError,
    NoKeyError,
    RequestError,
    StateUnavailableError,
)

__all__ = [
    "APIJongler",
    "AsyncJongler",
    "AsyncStream",
    "ConfigError",
    "HTTPStatusError",
    "Jongler",
    "JonglerError",
    "KeyState",
    "NoKeyError",
    "RequestError",
    "Response",
    "StateUnavailableError",
    "Stream",
    "__version__",
    "cleanup_all",
]
