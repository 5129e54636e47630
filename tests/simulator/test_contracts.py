"""Every simulated message satisfies the contracts of streams/events.py and decodes cleanly."""

from __future__ import annotations

import orjson
import pytest

from streams import decode, events
from tests.simulator.conftest import START, run

NOW_MS = int(START.timestamp() * 1000) + 30 * 86400 * 1000


@pytest.mark.parametrize("batch_size", [1, 25])
def test_all_messages_validate_and_decode(batch_size):
    sink, summary = run(batch_size=batch_size, rate=1.0, duration=900.0)
    decoded = 0
    for _, key, value in sink.records:
        events.validate_event(orjson.loads(value), now_ms=NOW_MS)
        result = decode.decode(value, now_ms=NOW_MS)
        assert not result.rejections, [str(r) for r in result.rejections]
        assert result.batch == (batch_size > 1)
        assert result.tenancy.model == key.decode()
        decoded += result.n
    assert decoded == sum(t["samples"] for t in summary.topics.values())


def test_showcase_faults_decode(showcase_run):
    """Nulls (missing sensor), unseen categories and stuck values are still valid rows."""
    sink, summary = showcase_run
    total = 0
    for _, _, value in sink.records:
        result = decode.decode(value, now_ms=NOW_MS)
        assert not result.rejections, [str(r) for r in result.rejections]
        total += result.n
    assert total == sum(t["samples"] for t in summary.topics.values())


def test_topics_and_keys(default_run):
    sink, _ = default_run
    kinds = {
        "telemetry": "telemetry",
        "predictions": "prediction",
        "outcomes": "outcome",
        "energy": "energy",
    }
    for topic, key, value in sink.records:
        msg = orjson.loads(value)
        assert msg["kind"] == kinds[topic]
        assert msg["model"].encode() == key
