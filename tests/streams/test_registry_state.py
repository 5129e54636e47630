"""The registry as a worker's partition state sees it (pure, no broker): unregistered and
retired models, outcomes that wait for a target, a reference bootstrapped from production."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from processors.reference import fit_reference
from streams.decode import decode
from streams.partition import BlockConfig, PartitionState
from streams.registry import Bootstrap, ModelEntry, ModelRegistry, Target

START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
T0 = int(START.timestamp() * 1000)
NOW_MS = T0 + 3_600_000
TENANCY = {"consortium": "steel", "member": "baowu", "model": "coil", "model_version": "2",
           "site": "s1", "hub": "Guizhou"}  # fmt: skip


def event(kind: str, n: int = 1, **columns) -> bytes:
    body = {"schema_version": 1, "kind": kind, "batch": True, **TENANCY,
            "ts": [T0 + 1000 * i for i in range(n)], **columns}  # fmt: skip
    return orjson.dumps(body)


class Feed:
    def __init__(self, registry: ModelRegistry, **cfg) -> None:
        self.state = PartitionState(0, BlockConfig(**cfg), registry)
        self.offsets: Counter = Counter()
        self.latest: dict = {}

    def __call__(self, topic: str, value: bytes) -> list[str]:
        r = decode(value, now_ms=NOW_MS)
        assert r.rejections == []
        reasons = [x.reason for x in self.state.process(topic, self.offsets[topic], r)]
        self.offsets[topic] += 1
        return reasons

    def emitted(self) -> list:
        """Latest partial per key (an emission only carries the series that changed)."""
        self.latest.update({p.key: p for p in self.state.partials(final=False)})
        return list(self.latest.values())

    def volume(self) -> Counter:
        out: Counter = Counter()
        for p in self.emitted():
            if p.kind == "volume":
                out.update({k: v for k, v in p.state.items() if v})
        return out

    def kinds(self) -> Counter:
        out: Counter = Counter()
        for p in self.emitted():
            out[p.kind] += p.count
        return out


def telemetry(n: int = 5) -> bytes:
    return event("telemetry", n, features={"temp": [800.0 + i for i in range(n)]})


def predictions(labels: list[str], errors: int = 0) -> bytes:
    n = len(labels)
    return event("prediction", n, prediction_id=[f"p{i}" for i in range(n)], prediction=labels,
                 score=[0.5] * n, latency_ms=[10.0 * (i + 1) for i in range(n)],
                 error=[i < errors for i in range(n)])  # fmt: skip


def outcomes(labels: list[str]) -> bytes:
    n = len(labels)
    return event("outcome", n, prediction_id=[f"p{i}" for i in range(n)], actual=labels)


ENERGY = event("energy", 2, joules=[5.0, 7.0], inferences=[10, 20], duration_s=[1.0, 1.0])


def test_unregistered_model_is_monitored_without_a_reference():
    feed = Feed(ModelRegistry())
    assert feed("telemetry", telemetry(5)) == []
    assert feed("predictions", predictions(["ok", "ok", "defect"], errors=1)) == []
    assert feed("energy", ENERGY) == []
    assert feed("outcomes", outcomes(["ok", "ok", "defect"])) == []
    vol = feed.volume()
    assert vol == {"telemetry_samples": 5, "unreferenced": 5, "predictions": 3,
                   "prediction_errors": 1, "energy_readings": 2}  # fmt: skip
    kinds = feed.kinds()
    assert kinds["latency"] == 3 and "energy" in kinds
    assert not any(k.startswith("drift") or k == "classification" for k in kinds)
    assert len(feed.state.awaiting[("steel", "coil", "2")]) == 3  # kept for a target


def test_strict_mode_rejects_unknown_models():
    feed = Feed(ModelRegistry(), unknown_models="reject")
    for topic, value in [("telemetry", telemetry()), ("energy", ENERGY),
                         ("predictions", predictions(["ok"]))]:  # fmt: skip
        assert feed(topic, value) == ["unknown model"]


def test_retired_model_events_go_to_the_dlq():
    registry = ModelRegistry()
    registry.apply(ModelEntry(consortium="steel", model="coil", version="2", retired=True))
    feed = Feed(registry)
    events = [("telemetry", telemetry()), ("energy", ENERGY),
              ("predictions", predictions(["ok"])), ("outcomes", outcomes(["ok"]))]  # fmt: skip
    for topic, value in events:
        assert feed(topic, value) == ["retired model"]


def test_outcomes_before_the_target_are_counted_once_it_arrives():
    registry = ModelRegistry()
    entry = ModelEntry(consortium="steel", model="coil", version="2")
    registry.apply(entry)
    feed = Feed(registry)
    feed("predictions", predictions(["ok", "defect", "ok", "ok"]))
    feed("outcomes", outcomes(["ok", "defect", "defect", "scrap"]))  # "scrap": not a class
    assert feed.kinds()["classification"] == 0 and "outcomes_matched" not in feed.volume()
    registry.apply(entry.replace(target=Target(kind="binary", classes=("ok", "defect"))))
    feed.state.refresh()
    feed.state.refresh()  # a second look changes nothing: counted exactly once
    vol = feed.volume()
    assert vol["outcomes_matched"] == 3 and vol["outcomes_unscorable"] == 1
    assert feed.kinds()["classification"] == 3
    assert feed.state.awaiting == {}
    cls = next(p for p in feed.state.partials(final=True) if p.kind == "classification")
    assert cls.state["confusion"] == [[1, 0], [1, 1]]  # rows: true ok/defect


@pytest.mark.parametrize("spec", [Bootstrap(samples=50), Bootstrap(hours=50 / 3600)])
def test_bootstrap_reference_equals_the_offline_fit_on_the_same_samples(spec):
    rng = np.random.default_rng(3)
    temp = rng.normal(800, 20, 90)
    grade = rng.choice(["A", "B", "C"], 90)
    registry = ModelRegistry()
    registry.apply(ModelEntry(consortium="steel", model="coil", version="2", bootstrap=spec))
    feed = Feed(registry)

    def batch(lo: int, hi: int) -> bytes:
        body = orjson.loads(event("telemetry", 90, features={
            "temp": temp.tolist(), "grade": grade.tolist()}))  # fmt: skip
        body["ts"] = body["ts"][lo:hi]
        body["features"] = {k: v[lo:hi] for k, v in body["features"].items()}
        return orjson.dumps(body)

    feed("telemetry", batch(0, 30))
    assert registry.get("steel", "coil", "2").profile is None
    feed("telemetry", batch(30, 60))  # the 50th sample is in here (ts 49 s: the first 50 s)
    entry = registry.get("steel", "coil", "2")
    offline = fit_reference({"temp": temp[:50], "grade": grade[:50]}, model="coil",
                            version="2", categorical=["grade"])  # fmt: skip
    assert entry.profile == offline
    prov = entry.provenance
    assert (prov["source"], prov["samples"], prov["first_offset"], prov["last_offset"]) == (
        "bootstrap", 50, 0, 1)  # fmt: skip
    assert prov["first_ts"] == T0 and prov["last_ts"] == T0 + 49_000
    assert feed.state.outbox == [entry]
    feed("telemetry", batch(60, 90))  # drift starts after the bootstrap
    assert feed.volume()["unreferenced"] == 60
    assert feed.kinds()["drift_numeric"] == 30 and feed.kinds()["drift_categorical"] == 30


def test_bootstrap_of_unregistered_models_when_switched_on():
    feed = Feed(ModelRegistry(), bootstrap=Bootstrap(samples=10))
    feed("telemetry", telemetry(12))
    entry = feed.state.outbox[0]
    assert entry.key == "steel/coil/2" and entry.profile.features["temp"].n == 10
    assert entry.registered_at > 0 and entry.target is None


def test_pairs_waiting_for_a_retired_model_count_as_unmatched():
    registry = ModelRegistry()
    entry = ModelEntry(consortium="steel", model="coil", version="2")
    registry.apply(entry)
    feed = Feed(registry)
    feed("predictions", predictions(["ok", "ok"]))
    feed("outcomes", outcomes(["ok", "defect"]))
    registry.apply(entry.replace(retired=True))
    feed.state.refresh()
    assert feed.volume()["outcomes_unmatched"] == 2 and feed.state.awaiting == {}
