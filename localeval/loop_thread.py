"""An asyncio event loop in a background thread, for a service that runs beside blocking
code: the key-holding forwarder of a closed-API evaluation, and the test servers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopThread(Generic[T]):
    """Runs ``setup(loop)`` on a new event loop in a daemon thread named ``name``, then the
    loop until :meth:`stop`, which runs ``teardown()`` on the loop before closing it.
    :meth:`start` returns what ``setup`` returned once it is done, and raises what it
    raised (the loop is then closed)."""

    def __init__(
        self,
        name: str,
        setup: Callable[[asyncio.AbstractEventLoop], Awaitable[T]],
        teardown: Callable[[], Awaitable[None]] | None = None,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        self.name = name
        self._setup = setup
        self._teardown = teardown
        self._timeout_s = timeout_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> T:
        """Start the thread; wait (at most ``timeout_s``) for ``setup`` and return its value."""
        ready = threading.Event()
        results: list[T] = []
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            try:
                results.append(loop.run_until_complete(self._setup(loop)))
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                if self._teardown is not None:
                    loop.run_until_complete(self._teardown())
                loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(self._timeout_s)
        if errors:
            raise errors[0]
        if not results:
            raise TimeoutError(f"{self.name} did not start within {self._timeout_s:g} s")
        return results[0]

    def stop(self) -> None:
        """Stop the loop (after its teardown) and wait at most ``timeout_s`` for the thread."""
        if self.loop is not None:
            with contextlib.suppress(RuntimeError):  # already closed
                self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(self._timeout_s)
        self._thread = None
