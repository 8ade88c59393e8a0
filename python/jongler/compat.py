"""api-jongler's ``APIJongler``, unchanged but for the import, on jongler's pool.

Change ``from api_jongler import APIJongler`` to ``from jongler import
APIJongler`` and the same calls go through jongler's engine: a key is held
only while its request is in flight (with an OS lock, so a killed process
never strands one), busy keys are waited for instead of failing, rate limits
end by themselves at the time the API gave, and the pool is shared with
every other thread, process, ``jongler`` command, ``batch`` and ``serve`` on
the machine. README's "Python" section lists what differs on purpose.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from typing import Any, Dict, Optional, Set, Tuple

from ._native import Jongler, cleanup_all
from .errors import NoKeyError

__all__ = ["APIJongler"]

#: api-jongler's request timeout unless APIJONGLER_TIMEOUT says otherwise.
DEFAULT_TIMEOUT = 60.0


def _timeout_from_env() -> float:
    """APIJONGLER_TIMEOUT, read as api-jongler reads it (a bad value: 60 s)."""
    try:
        timeout = float(os.getenv("APIJONGLER_TIMEOUT", "").strip() or DEFAULT_TIMEOUT)
    except ValueError:
        return DEFAULT_TIMEOUT
    return timeout if timeout > 0 else DEFAULT_TIMEOUT


class APIJongler:
    """A connection to one API connector through a pool of keys.

    ``APIJongler(api_connector_name, is_tor_enabled=False)`` reads the keys
    as the ``jongler`` command does (``APIJONGLER_CONFIG``, else
    ``~/.config/jongler/APIJongler.ini``) and the connector from the
    built-ins or your connector files. Requests wait up to ``JONGLER_WAIT``
    (default 60 s) for a free key, and give up after ``APIJONGLER_TIMEOUT``
    seconds (default 60, as api-jongler).
    """

    def __init__(self, api_connector_name: str, is_tor_enabled: Optional[bool] = False) -> None:
        self._api_connector_name = api_connector_name
        self._is_tor_enabled = bool(is_tor_enabled)
        self._timeout = _timeout_from_env()
        self._logger = logging.getLogger("jongler")
        self._jongler = self._connect()

    def _connect(self) -> Jongler:
        jongler = Jongler(self._api_connector_name, tor=self._is_tor_enabled, timeout=self._timeout)
        # api-jongler fails at once when no key can ever serve; a key in
        # ERROR never comes back by itself.
        states = jongler.key_states()
        if states and all(key.state == "error" for key in states):
            name = self._api_connector_name
            raise NoKeyError(
                f"No API keys available for initial connection: every key of `{name}` is marked "
                f"ERROR; fix them, then run `jongler --cleanup {name}`"
            )
        return jongler

    # api-jongler's properties.
    @property
    def ApiConnectorName(self) -> str:
        """The connector's name."""
        return self._api_connector_name

    @property
    def IsTorEnabled(self) -> bool:
        """Whether requests go through Tor (socks5h://127.0.0.1:9050)."""
        return self._is_tor_enabled

    @property
    def Timeout(self) -> float:
        """The request timeout in seconds."""
        return self._timeout

    @property
    def Logger(self) -> logging.Logger:
        """The logger jongler's messages go to (``jongler`` and below)."""
        return self._logger

    @property
    def CurrentApiKey(self) -> None:
        """Always ``None``: no key is held between requests, and jongler never
        hands a key's value out."""
        return None

    @property
    def ApiConnector(self) -> Jongler:
        """The ``jongler.Jongler`` underneath (api-jongler gives its connector)."""
        return self._jongler

    @property
    def Session(self) -> None:
        """Always ``None``: there is no ``requests`` session."""
        return None

    @property
    def LockFilePath(self) -> None:
        """Always ``None``: no key is held between requests."""
        return None

    # Requests.
    def request(self, method: str, endpoint: str, request: Any) -> Tuple[str, int]:
        """Sends ``request`` (a string, sent as is) and returns ``(text,
        status)``; a 4xx or 5xx is returned too, as api-jongler does."""
        body = None if request is None or request == "" else request
        response = self._jongler.request(method.upper(), endpoint, body)
        return response.text, response.status

    def requestJSON(self, endpoint: str, method: Any = "POST", data: Optional[Any] = None) -> Any:
        """Sends ``data`` as JSON and returns the answer parsed (or
        ``{"text", "status_code"}`` when it isn't JSON), whatever its status,
        as api-jongler does. ``requestJSON(endpoint, {...})`` (the data in the
        method's place, as api-jongler's own README writes it) works too."""
        if data is None and not isinstance(method, str):
            method, data = "POST", method
        body = json.dumps(data) if data is not None else ""
        text, status = self.request(method, endpoint, body)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return {"text": text, "status_code": status}

    def run(self, method: str, endpoint: str, request: Any) -> Tuple[str, int]:
        """Deprecated (as in api-jongler): use ``request()``."""
        warnings.warn("run() is deprecated, use request() instead", DeprecationWarning, stacklevel=2)
        return self.request(method, endpoint, request)

    def makeRequest(self, endpoint: str, method: Any = "POST", data: Optional[Any] = None) -> Any:
        """Deprecated (as in api-jongler): use ``requestJSON()``."""
        warnings.warn("makeRequest() is deprecated, use requestJSON() instead", DeprecationWarning, stacklevel=2)
        return self.requestJSON(endpoint, method, data)

    # Key states.
    def getKeyStates(self) -> Dict[str, Set[str]]:
        """The key names by state: ``{"vacant", "locked", "lockdown", "error"}``."""
        states: Dict[str, Set[str]] = {"vacant": set(), "locked": set(), "lockdown": set(), "error": set()}
        for key in self._jongler.key_states():
            states.setdefault(key.state, set()).add(key.name)
        return states

    def getVacantKeys(self) -> Set[str]:
        """The names of the keys free right now."""
        return self.getKeyStates()["vacant"]

    def getLockedKeys(self) -> Set[str]:
        """The names of the keys in use right now (by any process)."""
        return self.getKeyStates()["locked"]

    def getLockdownKeys(self) -> Set[str]:
        """The names of the rate-limited keys."""
        return self.getKeyStates()["lockdown"]

    def getErrorKeys(self) -> Set[str]:
        """The names of the keys marked bad."""
        return self.getKeyStates()["error"]

    def getAvailableKeys(self) -> Dict[str, str]:
        """The VACANT and LOCKDOWN keys, each name with its value masked
        (``…wxyz``): jongler never hands a key's value out."""
        states = self.getKeyStates()
        available = states["vacant"] | states["lockdown"]
        return {name: masked for name, masked in self._jongler.masked_keys() if name in available}

    def clearErrorKey(self, key_name: str) -> bool:
        """Clears the key's ERROR (and LOCKDOWN) mark; whether it had one."""
        return self._jongler.clear_marks(key_name) > 0

    # Connection.
    def disconnect(self) -> None:
        """Nothing to let go of: a key is held only while its request is in
        flight. Kept so api-jongler code runs; the object stays usable."""

    def refreshConnection(self) -> None:
        """Reads the key file and connectors again."""
        self._jongler = self._connect()

    @staticmethod
    def cleanUp(api_connector: Optional[str] = None) -> None:
        """Clears LOCKDOWN and ERROR marks and dead holders' locks: of one
        connector, or of all (``jongler --cleanup`` / ``--cleanup-all``). A
        key a live process is using stays held."""
        if api_connector is None:
            cleanup_all()
        else:
            Jongler(api_connector, wait=0).cleanup()

    def __repr__(self) -> str:
        return f"<APIJongler {self._api_connector_name}>"
