"""One flush: a batch into every table (each idempotent by key), retried while ClickHouse fails."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from warehouse.alert_store import store_actions, store_transitions
from warehouse.backend import WarehouseError
from warehouse.deliveries import delivery_rows
from warehouse.registry import store_entries
from warehouse.sink.batch import SinkBatch
from warehouse.sink.dlq import dlq_rows, sink_reject
from warehouse.sink.writer import PartialWriter, WriteStats

log = logging.getLogger("resonance.sink")


def flush(writer: PartialWriter, batch: SinkBatch) -> WriteStats:
    """Write one batch (partials, then alerts, deliveries and DLQ, each idempotent by key)."""
    stats = writer.write(batch.partials)
    dlq = list(batch.dlq)
    old = f"sink: window older than the minute retention ({writer.retention_days} days)"
    for p, reason in [(p, old) for p in stats.too_old] + stats.rejected:
        raw = orjson.dumps({"key": p.key, "version": p.version, "kind": p.kind, "state": p.state})
        rec = sink_reject(raw, reason, p.source_topic, p.source_partition, p.version, p.key)
        dlq.append((rec, raw))
    store_transitions(writer.backend, batch.alerts)
    store_actions(writer.backend, batch.actions)
    if batch.deliveries:
        writer.backend.insert_arrow("deliveries", delivery_rows(batch.deliveries))
    if dlq:
        writer.backend.insert_arrow("dlq", dlq_rows(dlq))
    if batch.models:
        store_entries(writer.backend, keep_last_entries(batch.models))
    return stats


def keep_last_entries(entries: Iterable[Any]) -> list[Any]:
    """The last entry per model version in a batch (the topic is read in order)."""
    return list({e.key: e for e in entries}.values())


def write_with_retry(
    fn: Callable[[], Any],
    *,
    initial: float = 0.5,
    maximum: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int | None = None,
) -> Any:
    """Call ``fn`` until it succeeds, backing off exponentially on WarehouseError."""
    delay, tries = initial, 0
    while True:
        try:
            return fn()
        except WarehouseError as exc:
            tries += 1
            if attempts is not None and tries >= attempts:
                raise
            log.warning("ClickHouse unavailable, retrying in %.1fs (%s)", delay, exc)
            sleep(delay)
            delay = min(delay * 2, maximum)
