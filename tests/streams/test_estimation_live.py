"""CBPE end to end on the real broker: a model registered with a calibration (through the
registry API), predictions with scores through a worker subprocess, the sink subprocess
into chDB, and ``resonance query estimated --format json``: exact counts, and estimates
equal to the engine run in the test on the same rows."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from processors.accuracy import ClassificationAccuracy
from processors.calibration import fit_calibration
from processors.cbpe import CBPE
from streams.registry import ModelEntry, Target, publish

from .conftest import ROOT, past

pytestmark = pytest.mark.integration

TENANCY = {"consortium": "steel", "member": "baowu", "model": "coil-cbpe", "model_version": "1",
           "site": "s1", "hub": "Guizhou"}  # fmt: skip
CLASSES = ("ok", "defect")


def resonance(*argv: str, env: dict | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "resonance.cli", *argv],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def sink_caught_up(bootstrap: str, group: str) -> bool:
    """The sink's committed offsets reached the end of every ``partials`` partition."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = c.list_topics("partials", timeout=30).topics["partials"].partitions
        tps = [TopicPartition("partials", p) for p in parts]
        committed = {tp.partition: tp.offset for tp in c.committed(tps, timeout=30)}
        ends = {p: c.get_watermark_offsets(TopicPartition("partials", p), timeout=30)[1]
                for p in parts}  # fmt: skip
    finally:
        c.close()
    return all(committed[p] >= e for p, e in ends.items() if e > 0)


def test_estimated_rows_equal_the_engine(stack, tmp_path):
    rng = np.random.default_rng(16)
    ref = rng.random(4000)
    labels = np.where(rng.random(4000) < ref**1.5, "defect", "ok")
    cal = fit_calibration(ref, labels, CLASSES)
    entry = ModelEntry(consortium="steel", model=TENANCY["model"], version="1",
                       target=Target(kind="binary", classes=CLASSES),
                       calibration=cal.to_dict())  # fmt: skip
    publish(stack.settings(), [entry])
    data = tmp_path / "wh"
    resonance("db", "migrate", "--data-dir", str(data), "--minute-ttl-days", "0")
    worker = stack.worker(RESONANCE_IMPORT_REFERENCES="false")
    worker.wait_output("assigned partitions")

    t0 = int(past(20).timestamp() * 1000)
    producer = Producer({"bootstrap.servers": stack.bootstrap})
    sent = []  # (window start ms, score or None, prediction, id)
    for m in range(3):  # three one-minute windows, three batches each
        for b in range(3):
            n = 150
            ts = t0 + m * 60_000 + np.sort(rng.integers(0, 60_000, n))
            score = rng.beta(2, 2, n) if m < 2 else rng.uniform(0.35, 0.65, n)
            pred = np.where(score >= 0.5, "defect", "ok")
            given = [None if i % 25 == 0 else float(s) for i, s in enumerate(score)]
            ids = [f"p{m}-{b}-{i}" for i in range(n)]
            body = {"schema_version": 1, "kind": "prediction", "batch": True, **TENANCY,
                    "ts": ts.tolist(), "prediction_id": ids, "prediction": pred.tolist(),
                    "score": given, "latency_ms": [5.0] * n}  # fmt: skip
            producer.produce("predictions", orjson.dumps(body), b"steel/coil-cbpe")
            sent += list(zip([t0 + m * 60_000] * n, given, pred.tolist(), ids, strict=True))
    # labels for the first window only: its realised values, the others null
    first = [s for s in sent if s[0] == t0]
    actual = [("defect" if rng.random() < 0.5 else "ok") for _ in first]
    body = {"schema_version": 1, "kind": "outcome", "batch": True, **TENANCY,
            "ts": [t0 + 180_000] * len(first), "prediction_id": [s[3] for s in first],
            "actual": actual}  # fmt: skip
    producer.produce("outcomes", orjson.dumps(body), b"steel/coil-cbpe")
    assert producer.flush(30) == 0
    scored = sum(s[1] is not None for s in sent)

    def done(ps) -> bool:
        est = sum(p.count for p in ps.values() if p.kind == "estimation")
        acc = sum(p.count for p in ps.values() if p.kind == "classification")
        return est == scored and acc == len(first)

    stack.partials(done, what="estimation and classification partials")

    group = f"sink-{stack.group}"
    env = {"RESONANCE_WINDOW_S": "60", "RESONANCE_ALLOWED_LATENESS_S": "60"}
    log = (tmp_path / "sink.log").open("wb")
    sink = subprocess.Popen(
        [sys.executable, "-m", "resonance.cli", "sink", "--bootstrap", stack.bootstrap,
         "--group", group, "--data-dir", str(data), "--no-evaluate"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not sink_caught_up(stack.bootstrap, group):
            assert sink.poll() is None, (tmp_path / "sink.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "sink did not store the partials in 300 s"
            time.sleep(1.0)
    finally:
        sink.terminate()
        sink.wait(60)
        log.close()

    lo, hi = t0 // 1000, t0 // 1000 + 180
    out = resonance("query", "estimated", "--consortium", "steel", "--model", TENANCY["model"],
                    "--from", str(lo), "--to", str(hi), "--step", "1m", "--format", "json",
                    "--data-dir", str(data))  # fmt: skip
    rows = json.loads(out)
    assert [r["bucket"] for r in rows] == [
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lo + 60 * m)) for m in range(3)
    ]
    for m, row in enumerate(rows):
        mine = [s for s in sent if s[0] == t0 + m * 60_000 and s[1] is not None]
        want = CBPE(cal).update(np.array([s[2] for s in mine]), np.array([s[1] for s in mine]))
        realised = None
        if m == 0:
            acc = ClassificationAccuracy(list(CLASSES)).update(
                np.array(actual, object), np.array([s[2] for s in first], object),
                np.array([np.nan if s[1] is None else s[1] for s in first]),
            )  # fmt: skip
            realised = acc.result()
        r = want.result(realised_accuracy=realised["accuracy"] if realised else None)
        assert row["model"] == TENANCY["model"] and row["model_version"] == "1"
        assert row["n"] == len(mine) == want.count
        assert math.isclose(row["estimated_accuracy"], r["estimated_accuracy"], rel_tol=1e-9)
        assert math.isclose(row["estimated_roc_auc"], r["estimated_roc_auc"], rel_tol=1e-9)
        assert np.allclose(row["estimated_accuracy_band"], r["estimated_accuracy_band"])
        assert row["reliable"] == r["reliable"] and row["reasons"] == r["reasons"]
        if realised is None:
            assert row["realised_accuracy"] is None and row["realised_roc_auc"] is None
        else:
            assert math.isclose(row["realised_accuracy"], realised["accuracy"], rel_tol=1e-12)
    # window 0's labels are coin flips, not what the scores promise: the guardrail says so
    assert not rows[0]["reliable"] and "outside the band" in rows[0]["reasons"][-1]
    assert rows[1]["reliable"] and rows[1]["reasons"] == []
    # the last window's scores crowd 0.5: its estimate is lower than the first two
    assert rows[2]["estimated_accuracy"] < min(rows[0]["estimated_accuracy"],
                                               rows[1]["estimated_accuracy"]) - 0.1  # fmt: skip
