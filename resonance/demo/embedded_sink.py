"""The warehouse sink, run on a thread of the demo process (the chDB owner).

:func:`warehouse.sink.run_sink` is an asyncio loop; it gets its own event loop on a
daemon thread so the demo's main thread stays free for the terminal summary and
Ctrl-C. The thread records flushes (for "is the pipeline drained?") and any crash
(for the supervisor's health check).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from warehouse.backend import Backend
from warehouse.sink import PartialWriter, SinkConfig, WriteStats, run_sink

log = logging.getLogger(__name__)


class SinkThread:
    """``run_sink`` on its own loop and thread; :meth:`stop` ends it after the current flush."""

    def __init__(
        self,
        backend: Backend,
        bootstrap: str,
        group_id: str = "resonance-demo-sink",
        evaluator: Any = None,
        session_timeout_s: float = 10.0,
    ):
        self.writer = PartialWriter(backend)
        self.evaluator = evaluator
        self.config = SinkConfig(
            bootstrap=bootstrap,
            group_id=group_id,
            max_seconds=0.5,
            session_timeout_ms=round(session_timeout_s * 1000),
            heartbeat_interval_ms=min(1_000, round(session_timeout_s * 1000 / 8)),
        )
        self.inserted = 0
        self.records = 0
        self.last_insert_at: float | None = None
        self.on_first_insert: Callable[[], None] | None = None
        """Called once, on the sink thread, after the first flush that stored rows."""
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="resonance-sink", daemon=True)

    def _on_flush(self, stats: WriteStats, records: int) -> None:
        self.records += records
        if stats.inserted:
            first = self.last_insert_at is None
            self.inserted += stats.inserted
            self.last_insert_at = time.monotonic()
            if first and self.on_first_insert is not None:
                self.on_first_insert()

    def _main(self) -> None:
        async def body() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await run_sink(
                self.writer, self.config, self._stop, self._on_flush, evaluator=self.evaluator
            )

        try:
            asyncio.run(body())
        except BaseException as exc:  # reported by alive()/error, never silently lost
            log.exception("sink crashed")
            self.error = exc
        finally:
            self._ready.set()

    def start(self) -> SinkThread:
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def alive(self) -> bool:
        return self._thread.is_alive()

    def quiet_for(self) -> float:
        """Seconds since the last flush that inserted something (inf if none yet)."""
        if self.last_insert_at is None:
            return float("inf")
        return time.monotonic() - self.last_insert_at

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
