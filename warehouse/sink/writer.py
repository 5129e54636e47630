"""The idempotent write path for partial records (no Kafka here).

:class:`PartialWriter` plans each key's delta against what ClickHouse holds
(:mod:`warehouse.sink.ledger`), inserts one table at a time with a deduplication
token (and, with a :class:`~warehouse.sink.fence.Fence`, guarded by the sink fence), and
learns the new versions only after the insert succeeded.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from errors import SinkFenced
from warehouse.backend import Backend, WarehouseError
from warehouse.kinds import columns_to_state, spec_for
from warehouse.sink.arrow import rows_to_arrow
from warehouse.sink.fence import Fence
from warehouse.sink.ledger import Ledger, Stored, dedup_token, plan_deltas
from warehouse.sink.partials import SinkPartial, parse_partial
from warehouse.states import summed_sql

#: keys per ledger lookup query (a server receives the parameter in the URL).
LOOKUP_CHUNK = 1_000
#: partials this close to the TTL horizon are refused too (rows must outlive a replay).
RETENTION_MARGIN_S = 3_600


class PartialWriter:
    """Idempotent write path for partial records (no Kafka here)."""

    def __init__(
        self,
        backend: Backend,
        max_keys: int = 20_000,
        retention_days: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.ledger = Ledger(self._load, max_keys)
        self.retention_days = retention_days
        self.clock = clock
        #: the sink's claim (:func:`warehouse.sink.fence.claim`); None = unfenced inserts
        #: (the Python API without Kafka). run_sink claims at every assignment.
        self.fence: Fence | None = None

    def too_old(self, p: SinkPartial) -> bool:
        """Windows past the minute TTL: their rows would expire at once, so the ledger
        could not see them and a replay would count them again. They go to the DLQ."""
        if not self.retention_days:
            return False
        horizon = self.clock() - self.retention_days * 86_400 + RETENTION_MARGIN_S
        return p.window_start < horizon

    def write(self, records: Iterable[Mapping[str, Any] | SinkPartial]) -> WriteStats:
        """Insert the deltas of ``records``; raises WarehouseError if an insert fails.

        Each kind table is one INSERT; the ledger learns a key's new version only
        after its table's insert succeeded, and forgets the batch's keys when one
        fails (the server may have applied it), so a retry re-reads ClickHouse.
        """
        partials = [r if isinstance(r, SinkPartial) else parse_partial(r) for r in records]
        fence = self.fence
        if fence is not None:
            foreign = sorted({(p.topic, p.partition) for p in partials} - set(fence.partitions))
            if foreign:
                raise SinkFenced(f"{SinkFenced.MARK}: records of unclaimed partitions {foreign}")
        guard = None if fence is None else fence.guard()
        stats = WriteStats()
        stats.too_old = [p for p in partials if self.too_old(p)]
        if stats.too_old:
            partials = [p for p in partials if not self.too_old(p)]
        previous: dict[str, int] = {}
        planned, stats.skipped = plan_deltas(partials, self.ledger, stats.rejected, previous)
        by_table: dict[str, list[tuple[SinkPartial, Mapping[str, Any]]]] = defaultdict(list)
        for p, delta in planned:
            by_table[p.spec.table].append((p, delta))
        for table, rows in by_table.items():
            try:
                for spec, group in _by_spec(rows):
                    token = dedup_token(
                        spec.table + "/" + spec.kind,
                        ((p.key, previous[p.key], p.version) for p, _ in group),
                    )
                    data = rows_to_arrow(spec, group)
                    if guard is None:
                        self.backend.insert_arrow(table, data, token)
                    else:
                        self.backend.insert_arrow(table, data, token, guard=guard)
            except WarehouseError:
                self.ledger.forget(p.key for p, _ in rows)
                raise
            for p, _ in rows:
                self.ledger.record(p.key, p.version, p.state)
            stats.inserted += len(rows)
        return stats

    def _load(self, partials: Sequence[SinkPartial]) -> dict[str, Stored]:
        """What ClickHouse already holds for these keys: max(version) and summed state.

        One query per kind and chunk of keys (the key list travels as a parameter,
        which a server receives in the URL); the batch's window range prunes parts.
        """
        out: dict[str, Stored] = {}
        by_spec: dict[str, list[SinkPartial]] = defaultdict(list)
        for p in partials:
            by_spec[p.kind].append(p)
        for kind, group in by_spec.items():
            spec = spec_for(kind)
            span = [
                "window_start >= toDateTime({lo:Int64}, 'UTC')",
                "window_start <= toDateTime({hi:Int64}, 'UTC')",
                "key IN {keys:Array(String)}",
            ]
            sql = summed_sql(spec, ["key", "max(version) AS version"], group=["key"], where=span)
            group.sort(key=lambda p: p.window_start)
            for i in range(0, len(group), LOOKUP_CHUNK):
                chunk = group[i : i + LOOKUP_CHUNK]
                result = self.backend.query(
                    sql,
                    {
                        "lo": chunk[0].window_start,
                        "hi": chunk[-1].window_start,
                        "keys": sorted({p.key for p in chunk}),
                    },
                )
                for row in result.to_pylist():
                    out[row["key"]] = (int(row["version"]), columns_to_state(spec, row))
        return out


def _by_spec(rows: list[tuple[SinkPartial, Mapping[str, Any]]]):
    """Split one table's rows by kind (drift numeric / categorical share a table)."""
    groups: dict[str, list] = defaultdict(list)
    for p, delta in rows:
        groups[p.kind].append((p, delta))
    return [(spec_for(kind), group) for kind, group in groups.items()]


@dataclass
class WriteStats:
    inserted: int = 0
    skipped: int = 0
    too_old: list[SinkPartial] = field(default_factory=list)
    rejected: list[tuple[SinkPartial, str]] = field(default_factory=list)
