"""The summary counts exactly what was emitted; delays, labels and energy are consistent."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from simulator.catalogue import MODELS_BY_NAME
from tests.simulator.conftest import START, rows, run

START_MS = int(START.timestamp() * 1000)


@pytest.mark.parametrize("batch_size", [1, 20])
def test_summary_counts_equal_emitted(showcase_run, batch_size):
    sink, summary = showcase_run if batch_size == 20 else run(batch_size=1, duration=600)
    messages = Counter(topic for topic, _, _ in sink.records)
    for topic, counts in summary.topics.items():
        assert counts["messages"] == messages[topic]
        assert counts["samples"] == len(rows(sink, topic))
    by_model = {t: _group(rows(sink, t)) for t in summary.topics}
    for model, entry in summary.models.items():
        tel = by_model["telemetry"][model]
        assert entry["telemetry"] == len(tel) == entry["predictions"]
        assert entry["outcomes"] == len(by_model["outcomes"][model])
        assert entry["energy"] == len(by_model["energy"][model])
        preds = by_model["predictions"][model]
        assert entry["errors"] == sum(p["error"] for p in preds)
        for feature, c in entry["features"].items():
            assert c["samples"] == len(tel)
            assert c["missing"] == sum(r["features"][feature] is None for r in tel)
    assert summary.delivery == {"delivered": len(sink.records), "failed": 0}


def _group(samples: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {m: [] for m in MODELS_BY_NAME}
    for r in samples:
        out[r["model"]].append(r)
    return out


def test_sample_count_is_rate_times_duration(default_run):
    _, summary = default_run
    for entry in summary.models.values():
        assert entry["telemetry"] == 2.0 * 1800


def test_missing_values_counted(showcase_run):
    _, summary = showcase_run
    assert summary.models["panel-mura"]["features"]["particles_per_m3"]["missing"] > 0


def test_energy_covers_every_inference_and_interval(default_run):
    sink, summary = default_run
    for model, entry in summary.models.items():
        readings = rows(sink, "energy", model)
        assert entry["inferences"] == entry["predictions"]
        assert sum(r["inferences"] for r in readings) == entry["predictions"]
        assert sum(r["duration_s"] for r in readings) == pytest.approx(1800.0)
        assert entry["joules"] == pytest.approx(sum(r["joules"] for r in readings), rel=1e-9)
        assert all(r["joules"] > 0 for r in readings)


def test_energy_override(showcase_run):
    sink, _ = showcase_run
    readings = rows(sink, "energy", "slab-discharge-temp")
    assert {r["duration_s"] for r in readings} == {5.0}


def _delays(sink, model):
    pred_ts = {p["prediction_id"]: p["ts"] for p in rows(sink, "predictions", model)}
    return np.array([o["ts"] - pred_ts[o["prediction_id"]] for o in rows(sink, "outcomes", model)])


@pytest.mark.parametrize("model", ["weld-defect", "bolt-torque", "compressor-fault"])
def test_label_delays_within_bounds(model):
    sink, _ = run(models=(model,), duration=4 * 86400.0, rate=0.05, flush_outcomes=True)
    d = _delays(sink, model) / 1000.0
    spec = MODELS_BY_NAME[model].labels
    assert len(d) > 100
    assert d.min() >= spec.min_s - 0.001 and d.max() <= spec.max_s + 0.001
    assert np.median(d) == pytest.approx(spec.median_s, rel=0.25)


def test_label_fraction_and_override(showcase_run):
    sink, summary = showcase_run
    d = _delays(sink, "pcb-solder-defect") / 1000.0
    assert d.min() >= 1800 - 0.001 and d.max() <= 86400 + 0.001
    flushed, s = run(models=("compressor-fault",), duration=3600, rate=1.0, flush_outcomes=True)
    entry = s.models["compressor-fault"]
    assert entry["outcomes"] / entry["predictions"] == pytest.approx(0.8, abs=0.03)


def test_outcomes_after_the_run_are_dropped_unless_flushed():
    end_ms = START_MS + 3600 * 1000
    kept, s1 = run(models=("weld-defect",), duration=3600)
    flushed, s2 = run(models=("weld-defect",), duration=3600, flush_outcomes=True)
    assert all(o["ts"] <= end_ms for o in rows(kept, "outcomes"))
    assert s2.models["weld-defect"]["outcomes"] == s2.models["weld-defect"]["predictions"]
    assert s1.models["weld-defect"]["outcomes"] < s2.models["weld-defect"]["outcomes"]


def test_outcomes_match_predictions_and_arrive_after_them(default_run):
    sink, _ = default_run
    ids = {p["prediction_id"]: p for p in rows(sink, "predictions", "weld-defect")}
    for o in rows(sink, "outcomes", "weld-defect"):
        assert o["ts"] >= ids[o["prediction_id"]]["ts"]
        assert o["actual"] in ("ok", "defect")
    assert next(iter(ids)) == "weld-defect-0"


def test_messages_in_event_time_order(default_run):
    """Each message's newest sample is never far behind what was already sent (linger)."""
    sink, _ = default_run
    import orjson

    newest = -1
    for _, _, value in sink.records:
        ts = orjson.loads(value)["ts"]
        last = ts[-1] if isinstance(ts, list) else ts
        assert last >= newest - 10_000 - 1000
        newest = max(newest, last)


def test_interrupted_run_counts_what_was_sent():
    from simulator import ListSink, Simulator

    class StopAfter(ListSink):
        interrupted = False

        def send(self, topic, key, value):
            if len(self.records) == 25 and not self.interrupted:
                self.interrupted = True
                raise KeyboardInterrupt
            super().send(topic, key, value)

    sink = StopAfter()
    summary = Simulator(1, None, 2.0, 10).run(sink, START, 600, pace=False)
    assert summary.run["interrupted"] is True
    # after the Ctrl-C only each model's energy reading in progress goes out
    assert {t for t, _, _ in sink.records[25:]} == {"energy"}
    assert summary.messages == len(sink.records) == 25 + len(summary.models)
    assert summary.delivery == {"delivered": len(sink.records), "failed": 0}
