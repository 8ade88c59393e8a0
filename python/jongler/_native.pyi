"""Type stubs of ``jongler._native``, the Rust extension module (PyO3).
Everything here is re-exported by ``jongler``."""

import datetime
import os
from types import TracebackType
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Type, TypedDict, Union

__version__: str

Duration = Union[int, float, str]
"""Seconds, or text as the CLI takes it: ``"500ms"``, ``"10s"``, ``"2m"``, ``"1h 30m"``."""

Body = Union[str, bytes, None]
"""A request body: ``str`` is sent as UTF-8."""

PathLike = Union[str, "os.PathLike[str]"]

class CleanupReport(TypedDict):
    lockdowns: int
    errors: int
    stale_locks: int
    held: int

class KeyHealth(TypedDict):
    name: str
    health: str
    detail: str

class Jongler:
    """A connection to one connector's API through its pool of keys, shared by
    every thread of the process and every process on the machine. Each call
    lets go of the GIL while it waits for a key and while it is on the network.

    The options are the CLI's flags:

    - ``wait``: how long a call waits for a free key (default ``$JONGLER_WAIT``,
      else 60 s; ``0`` fails at once with ``NoKeyError``).
    - ``timeout``: give up on a request after this long (default 300 s;
      ``None`` or ``0``: never).
    - ``fallback_models``: models to fall back to, in order, when every key is
      out of its daily quota for the one asked for.
    - ``state``: a ``redis://`` or ``rediss://`` URL to keep key state in
      (default ``$JONGLER_STATE``, else the state dir); ``lease_ttl`` how long
      a dead holder's key stays LOCKED there (default 5 s).
    - ``state_dir``: the marker files (default ``$JONGLER_STATE_DIR``, else
      ``~/.local/state/jongler``).
    - ``config``: the INI key file (default ``$APIJONGLER_CONFIG``, else
      ``~/.config/jongler/APIJongler.ini``).
    - ``connectors_dir``: extra connector files.
    - ``proxy`` (``http://``, ``https://``, ``socks5://``, ``socks5h://``) or
      ``tor=True``.
    - ``env_keys``: also take keys from the connector's environment variables
      (default ``True``).

    Raises ``ConfigError`` for a bad option, key file or connector.
    """

    def __init__(
        self,
        connector: str,
        *,
        wait: Optional[Duration] = None,
        timeout: Optional[Duration] = 300,
        fallback_models: Optional[Sequence[str]] = None,
        state: Optional[str] = None,
        state_dir: Optional[PathLike] = None,
        config: Optional[PathLike] = None,
        connectors_dir: Optional[PathLike] = None,
        proxy: Optional[str] = None,
        tor: bool = False,
        lease_ttl: Optional[Duration] = None,
        env_keys: bool = True,
    ) -> None: ...
    @property
    def connector(self) -> str:
        """The connector's name."""
    @property
    def wait(self) -> float:
        """How long a call waits for a free key, in seconds."""
    @property
    def timeout(self) -> Optional[float]:
        """How long a request may take, in seconds (``None``: no limit)."""
    def request(self, method: str, endpoint: str, body: Body = None) -> "Response":
        """Sends one request through the pool: a free key (waiting up to ``wait``),
        and on a rate limit, a bad key or a network error, again on another key.
        Any answer comes back as a ``Response``, a 4xx or 5xx too.

        Raises ``NoKeyError`` (no key within ``wait``), ``ConfigError`` (a bad
        method, endpoint or JSON body: nothing sent), ``RequestError`` (the API
        out of reach on every try)."""
    def request_json(self, endpoint: str, data: Any) -> Any:
        """POSTs ``data`` as JSON and returns the answer's JSON; any status but
        2xx raises ``HTTPStatusError``."""
    def stream(self, method: str, endpoint: str, body: Body = None) -> "Stream":
        """Like ``request``, but a successful answer comes back as a ``Stream``
        read as it arrives, its key held until it ends or is closed."""
    def key_states(self) -> List["KeyState"]:
        """Every key's state (names only, never values)."""
    def key_names(self) -> List[str]:
        """The keys' names, in the pool's order."""
    def masked_keys(self) -> List[Tuple[str, str]]:
        """Each key's name with its value masked (``…wxyz``)."""
    def cleanup(self) -> CleanupReport:
        """Removes this connector's LOCKDOWN and ERROR marks and dead holders' locks."""
    def clear_marks(self, name: str) -> int:
        """Clears one key's LOCKDOWN and ERROR marks; how many there were."""
    def check(self, concurrency: int = 32) -> List[KeyHealth]:
        """Checks every key with a request that costs no quota (``jongler check``)."""
    def rate_limits_absorbed(self) -> int:
        """Rate-limit answers this object's calls took and retried elsewhere."""
    def __enter__(self) -> "Jongler": ...
    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None: ...

class Response:
    """An HTTP answer read whole; a 4xx or 5xx raises nothing until
    ``raise_for_status()``."""

    @property
    def status(self) -> int: ...
    @property
    def version(self) -> str: ...
    @property
    def key_name(self) -> Optional[str]:
        """The name of the key that got it (``None`` for connectors without keys)."""
    @property
    def headers(self) -> List[Tuple[str, str]]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    @property
    def ok(self) -> bool:
        """Whether the status is 2xx or 3xx."""
    def header(self, name: str) -> Optional[str]:
        """The first header of that name (any case)."""
    def json(self) -> Any:
        """The body parsed as JSON."""
    def raise_for_status(self) -> None:
        """Raises ``HTTPStatusError`` unless the status is 2xx or 3xx."""

class Stream(Iterator[bytes]):
    """An answer read as it arrives, in chunks of ``bytes``. A successful
    answer keeps its key LOCKED until the last chunk is read, ``close()`` is
    called, the ``with`` block ends or it is garbage collected."""

    @property
    def status(self) -> int: ...
    @property
    def key_name(self) -> Optional[str]: ...
    @property
    def headers(self) -> List[Tuple[str, str]]: ...
    @property
    def ok(self) -> bool: ...
    @property
    def closed(self) -> bool:
        """Whether it has ended or was closed (its key let go)."""
    def header(self, name: str) -> Optional[str]: ...
    def __iter__(self) -> "Stream": ...
    def __next__(self) -> bytes: ...
    def read(self) -> bytes:
        """The rest of the answer, whole."""
    def raise_for_status(self) -> None:
        """Raises ``HTTPStatusError`` (with the whole body) unless 2xx or 3xx."""
    def close(self) -> None:
        """Stops reading and lets go of the key."""
    def __enter__(self) -> "Stream": ...
    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None: ...

class KeyState:
    """One key's state: its name, never its value."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str:
        """``"vacant"``, ``"locked"``, ``"lockdown"`` or ``"error"``."""
    @property
    def until(self) -> Optional[datetime.datetime]:
        """When a LOCKDOWN ends (UTC)."""
    @property
    def reason(self) -> Optional[str]: ...
    @property
    def group(self) -> Optional[str]: ...
    @property
    def requests_today(self) -> int: ...
    @property
    def rate_limited_today(self) -> int: ...

def cleanup_all(*, state_dir: Optional[PathLike] = None, state: Optional[str] = None) -> CleanupReport:
    """Removes every connector's LOCKDOWN and ERROR marks and dead holders'
    locks (``jongler --cleanup-all``)."""

def run_cli(argv: Sequence[str]) -> int:
    """Runs the ``jongler`` command in this process (the console script's
    job); once per process, in one that hasn't made a ``Jongler``."""
