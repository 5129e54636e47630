"""The sink's write path (no Kafka): deltas per key make replays and re-emits harmless."""

from __future__ import annotations

import pytest

from warehouse import queries
from warehouse.backend import WarehouseUnavailable
from warehouse.sink import (
    Batcher,
    PartialWriter,
    SinkBatch,
    decode_message,
    flush,
    parse_partial,
    write_with_retry,
)

pytestmark = pytest.mark.integration

CONSORTIUM = "sinktest"


@pytest.fixture(scope="module")
def data(backend, helpers):
    """A small world in its own consortium, loaded once through the write path."""
    world = helpers.build_world(seed=7, per_window=6, consortia=(CONSORTIUM,), members=("a",))
    parts = [p.to_dict() for p in world.partials()]
    helpers.load_world(backend, world)
    return world, parts


def snapshot(backend, helpers) -> dict:
    lo, hi = helpers.T0, helpers.T0 + 32 * helpers.DAY
    out = {}
    for name in ("drift", "accuracy", "latency", "energy"):
        out[name] = queries.METRICS[name](backend, CONSORTIUM, start=lo, end=hi, step="1d").rows
    out["rows"] = backend.query(
        "SELECT count() AS n FROM drift_minute WHERE consortium = {c:String}", {"c": CONSORTIUM}
    ).to_pylist()
    return out


def test_replaying_the_same_partials_changes_nothing(backend, helpers, data):
    world, parts = data
    before = snapshot(backend, helpers)
    assert before["drift"]
    stats = PartialWriter(backend).write(parts)  # fresh cache: must read ClickHouse back
    assert stats.inserted == 0 and stats.skipped > 0
    writer = PartialWriter(backend)
    writer.write(parts[: len(parts) // 2])
    writer.write(parts)
    assert snapshot(backend, helpers) == before


def test_rollups_equal_minute_sums(backend, helpers, data):
    params = {"c": CONSORTIUM}
    sql = (
        "SELECT feature, arraySum({agg}(counts)) AS n FROM {t} "
        "WHERE consortium = {{c:String}} GROUP BY feature ORDER BY feature"
    )
    minute = backend.query(sql.format(agg="sumForEach", t="drift_minute"), params).to_pylist()
    hour = backend.query(sql.format(agg="sumForEachMerge", t="drift_hour"), params).to_pylist()
    day = backend.query(sql.format(agg="sumForEachMerge", t="drift_day"), params).to_pylist()
    assert minute == hour == day


def _partial(helpers, last_offset, state, **over):
    from streams.partials import Partial

    base = dict(
        helpers.TENANCY,
        consortium="superset",
        feature="",
        kind="energy",
        window_start=helpers.T0 * 1000,
        window_end=(helpers.T0 + 60) * 1000,
        late=False,
        source_topic="energy",
        source_partition=0,
        block_start=0,
        final=False,
    )
    base.update(over)
    return Partial(**base, last_offset=last_offset, state=state).to_dict()


def _energy_total(backend):
    rows = backend.query(
        "SELECT sumMap(sums) AS s, count() AS n FROM energy_minute WHERE consortium = 'superset'"
    ).to_pylist()[0]
    return dict(rows["s"]), rows["n"]


def test_cumulative_superset_replaces_the_earlier_version(backend, helpers):
    v1 = {"joules": 10.0, "inferences": 2, "duration_s": 1.0, "readings": 1}
    v2 = {"joules": 25.5, "inferences": 5, "duration_s": 3.0, "readings": 3}
    writer = PartialWriter(backend)
    writer.write([_partial(helpers, 10, v1)])
    writer.write([_partial(helpers, 20, v2)])
    writer.write([_partial(helpers, 10, v1)])  # late duplicate of the old version: skipped
    PartialWriter(backend).write([_partial(helpers, 20, v2), _partial(helpers, 10, v1)])
    sums, rows = _energy_total(backend)
    assert sums == {k: float(v) for k, v in v2.items()}
    assert rows == 2  # v1, then the delta v2 - v1


class Flaky:
    """Backend wrapper: the first ``fail`` inserts raise; ``apply_then_fail`` ones are
    written and THEN raise (a timeout after the server committed)."""

    def __init__(self, inner, fail=0, apply_then_fail=0):
        self.inner, self.fail, self.apply_then_fail = inner, fail, apply_then_fail
        self.database = inner.database
        self.calls = 0

    def query(self, sql, params=None):
        return self.inner.query(sql, params)

    def command(self, sql, params=None):
        return self.inner.command(sql, params)

    def insert_arrow(self, table, data, dedup_token=None, **guard):
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise WarehouseUnavailable("connection refused")
        n = self.inner.insert_arrow(table, data, dedup_token, **guard)
        if self.apply_then_fail:
            self.apply_then_fail -= 1
            raise WarehouseUnavailable("read timeout")
        return n

    def close(self):
        pass


@pytest.mark.parametrize("mode", ["fail", "apply_then_fail"])
def test_failed_inserts_are_retried_without_loss_or_double_counting(backend, helpers, mode):
    consortium = f"flaky-{mode}".replace("_", "-")
    world = helpers.build_world(seed=3, per_window=4, consortia=(consortium,), members=("a",))
    parts = [p.to_dict() for p in world.partials()]
    flaky = Flaky(backend, **{mode: 2})
    writer = PartialWriter(flaky)
    sleeps = []
    write_with_retry(lambda: writer.write(parts), sleep=sleeps.append, initial=0.1)
    assert sleeps == [0.1, 0.2]
    write_with_retry(lambda: writer.write(parts), sleep=sleeps.append)  # replay
    raw = world.find("energy", "", consortium=consortium)[0]
    lo, hi = helpers.T0, helpers.T0 + 40 * helpers.DAY
    row = queries.energy(backend, consortium, start=lo, end=hi).rows[0]
    expected = raw.engine(lo, hi).result()
    assert row["inferences"] == expected["inferences"]
    assert row["readings"] == expected["readings"]
    assert row["joules"] == pytest.approx(expected["joules"], rel=1e-12)


def test_windows_past_retention_go_to_the_dlq(backend, helpers):
    writer = PartialWriter(backend, retention_days=1)
    old = _partial(
        helpers,
        5,
        {"joules": 1.0, "inferences": 1, "duration_s": 1.0, "readings": 1},
        consortium="too-old",
    )
    batch = SinkBatch(partials=[parse_partial(old)])
    stats = flush(writer, batch)
    assert len(stats.too_old) == 1 and stats.inserted == 0
    flush(writer, batch)  # idempotent in the DLQ too
    rows = backend.query(
        "SELECT reason, field FROM dlq FINAL WHERE field = {k:String}", {"k": old["key"]}
    ).to_pylist()
    assert len(rows) == 1 and "retention" in rows[0]["reason"]


def test_a_poison_partial_goes_to_the_dlq_and_the_rest_is_stored(backend, helpers):
    good = _partial(
        helpers,
        5,
        {"joules": 1.0, "inferences": 1, "duration_s": 1.0, "readings": 1},
        consortium="poison",
    )
    bad = _partial(
        helpers,
        5,
        {"counts": [1, "x"], "sums": [0.0, 1.0], "n_missing": 0},
        consortium="poison",
        kind="drift_numeric",
        feature="f",
    )
    stats = flush(
        PartialWriter(backend), SinkBatch(partials=[parse_partial(bad), parse_partial(good)])
    )
    assert stats.inserted == 1 and len(stats.rejected) == 1
    rows = backend.query(
        "SELECT reason FROM dlq FINAL WHERE field = {k:String}", {"k": bad["key"]}
    ).to_pylist()
    assert rows and rows[0]["reason"].startswith("sink: bad partial state")


def test_dlq_and_alert_records_are_idempotent(backend):
    import base64
    import time

    import orjson

    now_ms = int(time.time() * 1000)

    dlq = orjson.dumps(
        {
            "reason": "invalid JSON",
            "field": None,
            "rows": None,
            "source": {"topic": "telemetry", "partition": 4, "offset": 99},
            "raw": base64.b64encode(b"{oops").decode(),
            "received_at": now_ms,
        }
    )
    alert = orjson.dumps(
        {
            "schema": "resonance.alert/1", "id": "a-1", "transition": "firing",
            "state": "firing", "consortium": "alerting", "model": "m", "model_version": "1",
            "rule": "feature_drift", "severity": "warn", "started_at": "2026-01-01T00:00:00Z",
            "resolved_at": None, "window_start": "2026-01-01T00:01:00Z",
            "emitted_at": "2026-01-01T00:03:00Z", "value": 1.0, "threshold": 1.0,
            "features": [{"feature": "temp", "kind": "numeric", "statistic": "wasserstein",
                          "value": 0.4, "p_value": 1e-9, "n": 300}],
            "policy_version": "1", "seq": 0,
        }
    )  # fmt: skip
    action = orjson.dumps(
        {"schema": "resonance.alert-action/1", "action": "ack", "alert_id": "a-1",
         "consortium": "alerting", "model": "m", "rule": None, "until": None, "by": "ana",
         "note": None, "at": "2026-01-01T00:05:00Z"}
    )  # fmt: skip
    writer = PartialWriter(backend)
    for _ in range(2):
        batch = SinkBatch()
        decode_message("dlq", 0, 1, dlq, batch)
        decode_message("alerts", 0, 1, alert, batch)
        decode_message("alert-actions", 0, 1, action, batch)
        decode_message("alerts", 0, 2, b'{"id": "x"}', batch)  # not an alert/1 record
        decode_message("partials", 0, 7, b"not json", batch)
        flush(writer, batch)
    got = backend.query(
        "SELECT base64Encode(raw) AS raw, reason FROM dlq FINAL "
        "WHERE source_topic = 'telemetry' AND source_offset = 99"
    ).to_pylist()
    assert got == [{"raw": base64.b64encode(b"{oops").decode(), "reason": "invalid JSON"}]
    bad = backend.query(
        "SELECT count() AS n FROM dlq FINAL WHERE source_topic = 'partials' AND source_offset = 7"
    ).to_pylist()
    assert bad[0]["n"] == 1
    alerts = backend.query(
        "SELECT id, seq, rule, features FROM alert_events FINAL WHERE consortium = 'alerting'"
    ).to_pylist()
    assert alerts == [{"id": "a-1", "seq": 0, "rule": "feature_drift", "features": ["temp"]}]
    acks = backend.query(
        "SELECT action, alert_id, by FROM alert_actions FINAL WHERE consortium = 'alerting'"
    ).to_pylist()
    assert acks == [{"action": "ack", "alert_id": "a-1", "by": "ana"}]
    rejected = backend.query(
        "SELECT reason FROM dlq FINAL WHERE source_topic = 'alerts' AND source_offset = 2"
    ).to_pylist()
    assert rejected == [{"reason": "sink: alert field 'transition' is missing"}]


def test_batcher_flushes_by_size_or_time():
    now = [0.0]
    b = Batcher(max_records=3, max_seconds=1.0, clock=lambda: now[0])
    assert not b.due()
    b.add("a", "tp0", 5)
    b.add("b", "tp0", 6)
    assert not b.due()
    now[0] = 1.5
    assert b.due()
    items, offsets = b.take()
    assert items == ["a", "b"] and offsets == {"tp0": 7}
    for i in range(3):
        b.add(i, "tp1", i)
    assert b.due()
