"""One chDB session shared by the in-process sink and the console reader.

chDB allows one process per data directory, so the demo process owns it: the sink
writes and the console reads through the same :class:`~warehouse.backend.Backend`.
A chDB session is not documented as safe for concurrent use from several threads
(the sink flushes from a worker thread, the refresher reads from another), so every
call goes through one lock. Inserts are small and frequent, console reads are a few
GROUP BYs every couple of seconds: contention stays negligible at demo scale.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from warehouse.backend import Backend, InsertGuard


class SharedBackend:
    """A :class:`~warehouse.backend.Backend` that serialises every call with one lock."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.database = inner.database
        self._lock = threading.RLock()

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        with self._lock:
            return self.inner.query(sql, params)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self.inner.command(sql, params)

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        dedup_token: str | None = None,
        guard: InsertGuard | None = None,
    ) -> int:
        with self._lock:
            return self.inner.insert_arrow(table, data, dedup_token, guard=guard)

    def release_memory(self) -> bool:
        with self._lock:
            return self.inner.release_memory()

    def close(self) -> None:
        with self._lock:
            self.inner.close()
