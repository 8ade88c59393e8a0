"""asyncio: ``AsyncJongler`` runs each call of a ``Jongler`` on a thread of
its own pool (the calls let go of the GIL, so they overlap for real), and
``AsyncStream`` reads a streamed answer chunk by chunk with ``async for``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from typing import TYPE_CHECKING, Any, Callable, List, Optional, TypeVar, Union

from ._native import Jongler, KeyState, Response, Stream

if TYPE_CHECKING:  # pragma: no cover
    from ._native import CleanupReport

__all__ = ["AsyncJongler", "AsyncStream"]

T = TypeVar("T")
Body = Union[str, bytes, None]


class AsyncJongler:
    """``Jongler`` for asyncio: the same constructor options, the same
    methods as coroutines. At most ``max_concurrency`` calls (default 64)
    are in flight at once; more wait their turn."""

    def __init__(self, connector: str, *, max_concurrency: int = 64, **options: Any) -> None:
        self.jongler = Jongler(connector, **options)
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix=f"jongler-{connector}"
        )

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(call, *args))

    async def request(self, method: str, endpoint: str, body: Body = None) -> Response:
        """``Jongler.request``, awaited."""
        return await self._run(self.jongler.request, method, endpoint, body)

    async def request_json(self, endpoint: str, data: Any) -> Any:
        """``Jongler.request_json``, awaited."""
        return await self._run(self.jongler.request_json, endpoint, data)

    async def stream(self, method: str, endpoint: str, body: Body = None) -> "AsyncStream":
        """``Jongler.stream``, awaited: an ``AsyncStream`` to ``async for``."""
        return AsyncStream(await self._run(self.jongler.stream, method, endpoint, body), self)

    async def key_states(self) -> List[KeyState]:
        """``Jongler.key_states``, awaited."""
        return await self._run(self.jongler.key_states)

    async def cleanup(self) -> "CleanupReport":
        """``Jongler.cleanup``, awaited."""
        return await self._run(self.jongler.cleanup)

    def close(self) -> None:
        """Stops the call threads once the calls in flight are done."""
        self._threads.shutdown(wait=False)

    async def __aenter__(self) -> "AsyncJongler":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class AsyncStream:
    """A streamed answer for ``async for chunk in stream``; its key is let go
    at the end, on ``aclose()`` or when the ``async with`` block ends."""

    def __init__(self, stream: Stream, owner: AsyncJongler) -> None:
        self.stream = stream
        self._owner = owner
        self.status: int = stream.status
        self.key_name: Optional[str] = stream.key_name
        self.headers = stream.headers

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._owner._run(_next_chunk, self.stream)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def read(self) -> bytes:
        """The rest of the answer, whole."""
        return await self._owner._run(self.stream.read)

    async def aclose(self) -> None:
        """Stops reading and lets go of the key."""
        await self._owner._run(self.stream.close)

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _next_chunk(stream: Stream) -> Optional[bytes]:
    return next(stream, None)
