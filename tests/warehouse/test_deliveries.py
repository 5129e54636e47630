"""The delivery log: records from the topic stored once, read back per alert."""

from __future__ import annotations

import orjson
import pytest

from warehouse.deliveries import deliveries_for, recent_deliveries
from warehouse.migrate import migrate
from warehouse.sink import PartialWriter, SinkBatch, decode_message, flush

pytestmark = pytest.mark.integration


def record(alert_id: str, attempt: int, status: str, **extra) -> bytes:
    return orjson.dumps(
        {
            "schema": "resonance.delivery/1",
            "alert_id": alert_id,
            "transition": "firing",
            "channel": "ops",
            "attempt": attempt,
            "status": status,
            "http_status": 500 if status == "retrying" else 200,
            "error": "HTTP 500: boom" if status == "retrying" else None,
            "at": f"2026-03-01T10:00:0{attempt}.250Z",
            "digest_of": [],
            **extra,
        }
    )


def test_sink_stores_each_attempt_once_and_rejects_bad_records(backend):
    migrate(backend)
    writer = PartialWriter(backend)
    messages = [
        record("a1", 1, "retrying"),
        record("a1", 2, "sent"),
        record("b2", 1, "digested", digest_of=["b2", "c3"]),
        b'{"schema": "resonance.delivery/1", "status": "lost"}',
    ]
    for _replay in range(2):  # the same records twice: stored once
        batch = SinkBatch()
        for i, raw in enumerate(messages):
            decode_message("deliveries", 0, i, raw, batch)
        assert len(batch.deliveries) == 3 and len(batch.dlq) == 1
        flush(writer, batch)
    got = deliveries_for(backend, "a1")
    assert [(r["attempt"], r["status"], r["http_status"], r["error"]) for r in got] == [
        (1, "retrying", 500, "HTTP 500: boom"),
        (2, "sent", 200, None),
    ]
    assert got[0]["at"] == "2026-03-01T10:00:01.250Z"
    assert deliveries_for(backend, "b2")[0]["digest_of"] == ["b2", "c3"]
    recent = [(r["alert_id"], r["attempt"]) for r in recent_deliveries(backend, limit=3)]
    assert recent == [("a1", 2), ("a1", 1), ("b2", 1)]
    dlq = backend.query("SELECT reason FROM dlq").to_pylist()
    assert len(dlq) == 2 and all("delivery field 'alert_id'" in r["reason"] for r in dlq)
