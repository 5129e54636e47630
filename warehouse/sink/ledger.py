"""What the sink has stored per key, and the deltas a batch adds to it.

The worker's partials are cumulative, so the sink inserts ``new state − stored state``
for a key whose version grew; :class:`Ledger` caches the stored (version, state) read back
from ClickHouse, :func:`plan_deltas` computes the deltas and :func:`dedup_token` names
an insert so a retry, a zombie flush or a second sink stores nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from streams.partials import keep_latest
from warehouse.kinds import state_to_columns
from warehouse.kinds import subtract as subtract_state
from warehouse.sink.partials import SinkPartial

Stored = tuple[int, Mapping[str, Any]]  # (version, cumulative state)


class Ledger:
    """Bounded LRU cache of (version, cumulative state) per key; misses go to a loader."""

    def __init__(
        self,
        loader: Callable[[Sequence[SinkPartial]], dict[str, Stored]],
        max_keys: int = 20_000,
    ) -> None:
        self._loader = loader
        self._max = max_keys
        self._cache: OrderedDict[str, Stored | None] = OrderedDict()

    def lookup(self, partials: Sequence[SinkPartial]) -> dict[str, Stored | None]:
        """Stored state per key (None = nothing stored yet); one loader call for all misses.

        The answer does not read the cache back after the misses went in: they may have
        evicted this batch's hits (or each other) when the batch holds about as many keys
        as the cache, which raised KeyError and stopped the sink.
        """
        out: dict[str, Stored | None] = {}
        misses = []
        for p in partials:
            if p.key in self._cache:
                self._cache.move_to_end(p.key)  # the batch's hits are evicted last
                out[p.key] = self._cache[p.key]
            else:
                misses.append(p)
        if misses:
            loaded = self._loader(misses)
            for p in misses:
                out[p.key] = loaded.get(p.key)
                self._put(p.key, out[p.key])
        return out

    def record(self, key: str, version: int, state: Mapping[str, Any]) -> None:
        self._put(key, (version, state))

    def forget(self, keys: Iterable[str] | None = None) -> None:
        """Drop keys (all when None) so the next lookup re-reads ClickHouse."""
        if keys is None:
            self._cache.clear()
            return
        for k in keys:
            self._cache.pop(k, None)

    def _put(self, key: str, value: Stored | None) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    def __len__(self) -> int:
        return len(self._cache)


def plan_deltas(
    partials: Iterable[SinkPartial],
    ledger: Ledger,
    rejected: list[tuple[SinkPartial, str]] | None = None,
    previous: dict[str, int] | None = None,
) -> tuple[list[tuple[SinkPartial, Mapping[str, Any]]], int]:
    """(partial, delta state) for every key whose version grew; and how many were skipped.

    A partial whose state does not fit (shape changed, not numbers) is appended to
    ``rejected`` with the reason instead of stopping the batch (a poison record
    would otherwise stop the sink at every restart). ``previous`` receives, per planned
    key, the stored version its delta starts from (-1: nothing stored).
    """
    latest = list(keep_latest(partials).values())
    stored = ledger.lookup(latest)
    planned, skipped = [], 0
    for p in latest:
        prev = stored[p.key]
        if prev is not None and p.version <= prev[0]:
            skipped += 1
            continue
        try:
            delta = subtract_state(p.state, None if prev is None else prev[1])
            state_to_columns(p.spec, delta)  # validate: numbers of the expected shape
        except (ValueError, TypeError) as exc:
            if rejected is None:
                raise
            rejected.append((p, f"sink: bad partial state: {exc}"[:500]))
            continue
        planned.append((p, delta))
        if previous is not None:
            previous[p.key] = -1 if prev is None else prev[0]
    return planned, skipped


def dedup_token(table: str, rows: Iterable[tuple[str, int, int]]) -> str:
    """The insert_deduplication_token of one insert: a hash of its (key, from version,
    to version) triples.

    Two sinks (or a zombie flush and its replacement, or a retry) that planned the same
    deltas from the same stored versions send the same token, and ClickHouse keeps one
    (migration 0003 gives the tables a deduplication window).

    >>> dedup_token("volume_minute", [("k", -1, 3)]) == dedup_token("volume_minute", [("k", -1, 3)])
    True
    """
    h = hashlib.sha256(table.encode())
    for key, prev, version in sorted(rows):
        h.update(f"\x00{key}\x00{prev}\x00{version}".encode())
    return h.hexdigest()
