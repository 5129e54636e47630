"""10% malformed messages: each reaches the dlq with its reason, every good sample counts."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from confluent_kafka import Producer

from simulator import ListSink, Simulator
from streams.dlq import parse_dlq_record

from .conftest import past
from .counts import diff, expected_totals, totals

pytestmark = pytest.mark.integration

MODELS = ("weld-defect", "cracker-cot", "pcb-solder-defect")
MAX_BYTES = 65_536
TENANCY = ("consortium", "member", "model", "model_version", "site", "hub")


def _single(tenancy: dict, features: dict, ts: int | str) -> dict:
    return {"schema_version": 1, "kind": "telemetry", **tenancy, "ts": ts, "features": features}


def malformed(tenancy: dict, features: dict, now: datetime) -> list[tuple[str, bytes, str]]:
    """(topic, value, expected reason substring): one per way of being wrong."""
    ts = int(now.timestamp() * 1000)
    good = _single(tenancy, features, ts)
    no_site = {k: v for k, v in good.items() if k != "site"}
    ten_years = timedelta(days=3653)
    nan = orjson.dumps(good).replace(b'"__X__"', b"NaN")
    inf = orjson.dumps(good).replace(b'"__X__"', b"-Infinity")
    batch = {**good, "batch": True, "ts": [ts, ts, ts],
             "features": {k: [v, v] for k, v in features.items()}}  # fmt: skip
    prediction = {"schema_version": 1, "kind": "prediction", **tenancy, "ts": ts,
                  "prediction_id": "p", "prediction": "ok", "latency_ms": "fast"}  # fmt: skip
    return [
        ("telemetry", b'{"schema_version": 1, "kind": "telemetry", ', "invalid JSON"),
        ("telemetry", orjson.dumps({**good, "consortium": 42}), "expected a string"),
        ("telemetry", nan, "non-finite"),
        ("telemetry", inf, "non-finite"),
        ("telemetry", orjson.dumps(no_site), "missing field"),
        ("telemetry", orjson.dumps({**good, "schema_version": 2}), "unknown schema_version"),
        ("telemetry", orjson.dumps({**good, "pad": "x" * MAX_BYTES}), "too large"),
        ("telemetry", orjson.dumps({**good, "ts": (now + ten_years).isoformat()}), "out of bounds"),
        ("telemetry", orjson.dumps({**good, "ts": (now - ten_years).isoformat()}), "out of bounds"),
        ("telemetry", orjson.dumps(batch), "unequal array lengths"),
        ("telemetry", orjson.dumps({**good, "model": "no-such-model"}), "unknown model"),
        ("predictions", orjson.dumps(prediction), "expected a number"),
        ("telemetry", orjson.dumps(prediction | {"latency_ms": 3.0}), "does not belong"),
    ]


def test_malformed_messages_go_to_dlq_and_good_samples_are_exact(stack):
    sim = Simulator(seed=11, rate=2.0, batch_size=25, models=MODELS)
    sink = ListSink()
    summary = sim.run(sink, start=past(40), duration=600, pace=False, flush_outcomes=True)
    stack.write_references(sim.models)
    first = orjson.loads(next(v for t, _, v in sink.records if t == "telemetry"))
    tenancy = {k: first[k] for k in TENANCY}
    features = {k: v[0] for k, v in first["features"].items()}
    numeric = next(k for k, v in features.items() if isinstance(v, float))
    features_x = {**features, numeric: "__X__"}
    kinds = malformed(tenancy, features_x, datetime.now(UTC) - timedelta(minutes=35))
    # one batch with a single bad row: the other rows must still count
    row_bad = {**first, "features": {k: list(v) for k, v in first["features"].items()}}
    row_bad["features"][numeric][1] = "not a number"
    n_rows = len(first["ts"])

    good = sink.records
    n_bad = len(good) // 9  # 10% of everything produced
    bad = list(itertools.islice(itertools.cycle(kinds), n_bad))
    stream: list[tuple[str, bytes, bytes, str | None]] = []
    for i, (topic, key, value) in enumerate(good):
        stream.append((topic, key, value, None))
        if i % 9 == 4 and bad:
            topic_b, value_b, reason = bad.pop()
            stream.append((topic_b, tenancy["model"].encode(), value_b, reason))
    stream.append(("telemetry", tenancy["model"].encode(), orjson.dumps(row_bad), "ROW"))
    assert len(kinds) >= 8 and not bad

    delivered: dict[int, tuple[str, int, int]] = {}
    producer = Producer({"bootstrap.servers": stack.bootstrap, "compression.type": "gzip",
                         "message.max.bytes": 4_000_000, "log_level": 0})  # fmt: skip
    for i, (topic, key, value, _) in enumerate(stream):

        def done(err, msg, i=i):
            assert err is None, err
            delivered[i] = (msg.topic(), msg.partition(), msg.offset())

        producer.produce(topic, value, key, on_delivery=done)
        producer.poll(0)
    producer.flush(60)
    expect_dlq = {delivered[i]: reason for i, (*_, reason) in enumerate(stream) if reason}
    assert len(expect_dlq) == n_bad + 1

    # strict mode: an unregistered model is bad input here (default: tests/streams/
    # test_registry_live.py counts it as unreferenced)
    worker = stack.worker(
        RESONANCE_MAX_MESSAGE_BYTES=str(MAX_BYTES), RESONANCE_UNKNOWN_MODELS="reject"
    )
    want = expected_totals(summary)
    model = tenancy["model"]
    for f in features:
        want[(model, f"feature:{f}")] += n_rows - 1
    want[(model, "telemetry_samples")] += n_rows - 1
    got = stack.partials(lambda ps: totals(ps) == want, what="good totals", check=False)
    assert diff(totals(got), want) == {}

    def sources(values):
        return {(r.source["topic"], r.source["partition"], r.source["offset"]): r
                for r in map(parse_dlq_record, values)}  # fmt: skip

    def complete(values: list[bytes]) -> bool:
        return expect_dlq.keys() <= sources(values).keys()

    dlq = sources(stack.read("dlq", complete, what="a dlq record of every bad message"))
    for where, reason in expect_dlq.items():
        record = dlq[where]
        raw = stream[next(i for i, d in delivered.items() if d == where)][2]
        assert record.raw == raw[:65_536] and record.raw_size == len(raw)  # default bound
        assert record.raw_sha256 == hashlib.sha256(raw).hexdigest()
        if record.tenancy is not None:  # the validated envelope of the message itself
            assert record.tenancy == {k: json.loads(raw)[k] for k in TENANCY}
        if reason == "ROW":
            assert record.rows == [1] and record.field == f"features.{numeric}"
        else:
            assert reason in record.reason, (reason, record)
    assert worker.alive
