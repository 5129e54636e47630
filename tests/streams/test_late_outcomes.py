"""Ground truth arriving after its prediction's window closed counts in that window."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from confluent_kafka import Producer

from simulator.catalogue import MODELS_BY_NAME

from .conftest import past

pytestmark = pytest.mark.integration

MODEL = MODELS_BY_NAME["weld-defect"]  # binary: classes (ok, defect)
MINUTE = 60_000


def prediction(pid: str, ts: int, label: str) -> bytes:
    return orjson.dumps({
        "schema_version": 1, "kind": "prediction", **MODEL.tenancy, "ts": ts,
        "prediction_id": pid, "prediction": label, "score": 0.8 if label == "defect" else 0.1,
        "latency_ms": 12.5,
    })  # fmt: skip


def outcome(pid: str, ts: int, label: str) -> bytes:
    return orjson.dumps({"schema_version": 1, "kind": "outcome", **MODEL.tenancy, "ts": ts,
                         "prediction_id": pid, "actual": label})  # fmt: skip


def test_outcomes_after_window_close_count_in_the_prediction_window(stack):
    stack.write_references([MODEL])
    worker = stack.worker(RESONANCE_JOIN_HORIZON_S="900")
    producer = Producer({"bootstrap.servers": stack.bootstrap, "log_level": 0})
    key = MODEL.name.encode()
    classes = list(MODEL.target.classes)
    t0 = int(past(60).timestamp() * 1000)  # start of window W
    n = 20
    predicted = ["defect" if i % 4 == 0 else "ok" for i in range(n)]
    actual = ["defect" if i % 5 == 0 else "ok" for i in range(n)]

    for i in range(n):
        producer.produce("predictions", prediction(f"late-{i}", t0 + 1000 * i, predicted[i]), key)
    # later predictions move the watermark well past W's end + allowed lateness (60 s)
    closer = t0 + 5 * MINUTE
    producer.produce("predictions", prediction("closer", closer, "ok"), key)
    assert producer.flush(120) == 0, "messages still queued in the producer after 120 s"

    def has_window(start: int):
        return lambda ps: any(p.kind == "latency" and p.window_start == start for p in ps.values())

    stack.partials(has_window(closer), what="partials of the window that closes W")

    # ground truth, observed 10 minutes later, long after W closed in the worker
    for i in range(n):
        producer.produce("outcomes", outcome(f"late-{i}", t0 + 10 * MINUTE, actual[i]), key)
    producer.produce("outcomes", outcome("never-predicted", t0 + 10 * MINUTE, "ok"), key)
    assert producer.flush(120) == 0, "messages still queued in the producer after 120 s"

    want = np.zeros((2, 2), int)
    for a, p in zip(actual, predicted, strict=True):
        want[classes.index(a), classes.index(p)] += 1

    def confusion(ps) -> np.ndarray:
        out = np.zeros((2, 2), int)
        for p in ps.values():
            if p.kind == "classification":
                assert p.window_start == t0, p
                assert p.state["classes"] == classes
                out += np.asarray(p.state["confusion"])
        return out

    def volume(ps, name: str) -> int:
        return sum(p.state[name] for p in ps.values() if p.kind == "volume")

    got = stack.partials(lambda ps: (confusion(ps) == want).all(), check=False)
    assert confusion(got).tolist() == want.tolist()
    assert volume(got, "outcomes_unmatched") == 0  # "never-predicted" still waits

    # a prediction 30 min on moves the join clock past that outcome's horizon (15 min):
    # it is counted as unmatched, not dropped
    producer.produce("predictions", prediction("clock", t0 + 30 * MINUTE, "ok"), key)
    assert producer.flush(120) == 0, "messages still queued in the producer after 120 s"
    got = stack.partials(lambda ps: volume(ps, "outcomes_unmatched") == 1, check=False)
    assert confusion(got).tolist() == want.tolist()
    assert volume(got, "outcomes_matched") == n
    assert volume(got, "outcomes_unmatched") == 1
    matched = [p for p in got.values() if p.kind == "volume" and p.state["outcomes_matched"]]
    assert {p.window_start for p in matched} == {t0}
    assert worker.alive
