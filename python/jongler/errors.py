"""The exceptions jongler raises, one per exit code of the `jongler` command.

``JonglerError`` is the base of them all. ``NoKeyError`` is also a
``RuntimeError``, as api-jongler's "No API keys available" error is, and its
message starts with those words; ``ConfigError`` is also a ``ValueError``.
No message ever carries a key's value: keys are named by their names.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ._native import Response

__all__ = [
    "JonglerError",
    "ConfigError",
    "NoKeyError",
    "RequestError",
    "StateUnavailableError",
    "HTTPStatusError",
]


class JonglerError(Exception):
    """Something jongler could not do. ``exit_code`` is what the `jongler`
    command exits with for the same failure (1 runtime, 2 usage or
    configuration, 3 no key, 4 HTTP 4xx, 5 HTTP 5xx)."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(JonglerError, ValueError):
    """A bad argument, key file, connector or state dir: nothing was sent and
    nothing changed (exit code 2)."""

    exit_code = 2


class NoKeyError(JonglerError, RuntimeError):
    """No key became free within ``wait`` (exit code 3). ``retry_at`` is when
    the soonest key comes back (a UTC ``datetime``), when that is known."""

    exit_code = 3
    PREFIX = "No API keys available"

    def __init__(self, message: str, retry_at: Optional[datetime.datetime] = None) -> None:
        if not message.startswith(self.PREFIX):
            message = f"{self.PREFIX}: {message}"
        super().__init__(message)
        self.retry_at = retry_at


class RequestError(JonglerError, RuntimeError):
    """The request failed on the way: the API out of reach, a timeout on every
    try, an answer cut off (exit code 1). api-jongler raises ``RuntimeError``
    for these too."""

    exit_code = 1


class StateUnavailableError(RequestError):
    """The shared state store (Redis) is out of reach or refused a step; no
    request went out without a lease (exit code 1)."""


class HTTPStatusError(JonglerError):
    """The API answered, but not with a success. ``response`` is the whole
    answer (``status``, ``headers``, ``body``, ``text``, ``key_name``; ``None``
    once the exception has been pickled); ``exit_code`` is 4 for a 4xx, 5 for
    a 5xx."""

    def __init__(self, message: str, response: Optional["Response"] = None) -> None:
        super().__init__(message)
        self.response = response
        self.status: Optional[int] = response.status if response is not None else None
        self.exit_code = 5 if (self.status or 0) >= 500 else 4

    @property
    def text(self) -> str:
        """The answer's body as text."""
        return self.response.text if self.response is not None else ""
