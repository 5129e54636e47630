"""The console's read path against real chDB, filled through the real sink writer.

No broker: partial records are built from the real engines and written with
:class:`warehouse.sink.PartialWriter`, exactly as the sink stores them; the console's
reader, metrics and snapshot then read them back, with the policy's decisions stored by
the evaluator (the console decides nothing itself).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from processors.accuracy import ClassificationAccuracy
from processors.drift import CategoricalDrift, NumericDrift
from processors.latency import LatencyHistogram
from processors.reference import fit_reference
from resonance.console.snapshot import Snapshot, SnapshotProvider, build_snapshot
from resonance.demo.shared_backend import SharedBackend
from streams.partials import Partial
from warehouse.window_reader import ReferenceStore, WarehouseReader, iso

pytestmark = pytest.mark.integration

T0 = 1_795_950_000  # epoch seconds, a multiple of the 10 s window
WINDOW_MS = 10_000
N = 150  # samples per window
SHIFT_FROM = 4  # windows 4.. are shifted by +3 std
TENANCY = {"consortium": "steel", "member": "baowu", "model": "strip", "model_version": "3",
           "site": "hsm-2", "hub": "yangtze-river-delta"}  # fmt: skip


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedBackend]:
    from warehouse.backend import ChdbBackend
    from warehouse.migrate import migrate
    from warehouse.references import store_reference
    from warehouse.sink import PartialWriter

    rng = np.random.default_rng(3)
    profile = fit_reference(
        {"temp": rng.normal(910, 12, 20_000), "grade": rng.choice(["Q235", "Q345"], 20_000)},
        model="strip",
        version="3",
        categorical=("grade",),
    )
    shared = SharedBackend(ChdbBackend(tmp_path_factory.mktemp("wh")))
    migrate(shared, log=lambda msg: None)
    store_reference(shared, "steel", profile)
    PartialWriter(shared).write([p.to_dict() for p in partials(profile, rng)])
    yield shared
    shared.close()


def partial(kind: str, w: int, state: dict, feature: str = "", topic: str = "telemetry") -> Partial:
    start = T0 * 1000 + w * WINDOW_MS
    return Partial(kind=kind, **TENANCY, feature=feature, window_start=start,
                   window_end=start + WINDOW_MS, late=False, source_topic=topic,
                   source_partition=0, block_start=0, last_offset=100 + w, final=True,
                   state=state)  # fmt: skip


COUNTERS = ("telemetry_samples", "predictions", "prediction_errors", "outcomes_matched",
            "outcomes_unmatched", "energy_readings", "rejected_rows")  # fmt: skip


def volume(**counts: int) -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0) | counts


def partials(profile, rng: np.random.Generator) -> list[Partial]:
    temp_ref, grade_ref = profile.features["temp"], profile.features["grade"]
    classes = ["none", "scale"]
    out = []
    for w in range(8):
        temp = rng.normal(910 + (36 if w >= SHIFT_FROM else 0), 12, N)
        grade = rng.choice(["Q235", "Q345"], N)
        latency = LatencyHistogram().update(rng.lognormal(3, 0.3, N)).to_dict()
        confusion = ClassificationAccuracy(classes).update(["none"] * 90 + ["scale"] * 10,
                                                           ["none"] * 100)  # fmt: skip
        out += [
            partial("drift_numeric", w, NumericDrift(temp_ref).update(temp).to_dict(), "temp"),
            partial("drift_categorical", w, CategoricalDrift(grade_ref).update(grade).to_dict(),
                    "grade"),
            partial("volume", w, volume(telemetry_samples=N)),
            partial("volume", w, volume(predictions=N, prediction_errors=3), topic="predictions"),
            partial("latency", w, latency, topic="predictions"),
            partial("classification", w, confusion.to_dict() | {"classes": classes},
                    topic="outcomes"),
        ]  # fmt: skip
    return out


@pytest.fixture(scope="module")
def snapshot(backend: SharedBackend) -> Snapshot:
    from warehouse.evaluator import Evaluator

    Evaluator(backend, window_s=WINDOW_MS / 1000, lateness_s=0).run(close_all=True)
    reader = WarehouseReader(backend, ReferenceStore(backend), T0)
    return build_snapshot(reader, Snapshot(), 1.0)


def test_model_row_comes_from_the_stored_partials(snapshot: Snapshot) -> None:
    (row,) = snapshot.consortia["steel"]
    assert row["model"] == "strip" and row["samples"] == 8 * N
    assert row["drift_detected"] is True
    assert row["first_drift_at"] == iso(T0 + SHIFT_FROM * WINDOW_MS // 1000)
    assert [(a["rule"], a["state"]) for a in row["alerts"]] == [("feature_drift", "firing")]
    assert row["accuracy"] == pytest.approx(0.9)
    assert row["latency_p95_ms"] > 0
    series = row["series"]
    assert len(series["t"]) == 8 and series["t"] == sorted(series["t"])
    assert series["drift_share"][1] == 0.0 and series["drift_share"][-1] == 0.5
    assert 0 <= min(x for x in series["resonance_index"] if x is not None) <= 100


def test_features_show_reference_next_to_current(snapshot: Snapshot) -> None:
    features = {f["feature"]: f for f in snapshot.features[("steel", "strip")]}
    assert set(features) == {"temp", "grade"}
    temp, grade = features["temp"], features["grade"]
    assert temp["drift"] is True and grade["drift"] is False
    assert temp["kind"] == "numeric" and grade["kind"] == "categorical"
    for f in (temp, grade):
        assert len(f["bins"]) == len(f["reference"]) == len(f["current"])
        assert sum(f["current"]) == pytest.approx(1.0)
        assert len(f["series"]["psi"]) == 8


def test_health_counts_events_and_the_provider_serves_them(snapshot: Snapshot) -> None:
    assert snapshot.events == {"telemetry": 8 * N, "predictions": 8 * N, "outcomes": 0,
                               "energy": 0, "rejected": 0, "unreferenced": 0}  # fmt: skip
    assert snapshot.windows_closed == 7
    provider = SnapshotProvider()
    provider.publish(snapshot)
    assert provider.consortia() == {"consortia": ["steel"], "busiest": "steel"}
    assert provider.model("steel", "strip")["features"]
    with pytest.raises(KeyError):
        provider.consortium("textiles")


def test_earlier_runs_are_left_out(backend: SharedBackend) -> None:
    later = WarehouseReader(backend, ReferenceStore(backend), T0 + 3600)
    assert build_snapshot(later, Snapshot(), 1.0).consortia == {}
