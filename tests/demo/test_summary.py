"""Pure parts of the demo: display histograms and the summary contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from processors.drift import CategoricalDrift, NumericDrift
from processors.reference import fit_categorical, fit_numeric
from resonance.console.metrics import histograms
from resonance.demo.summary import Injected, Truth, summary_json, terminal_lines, write_summary

RNG = np.random.default_rng(42)
REF = fit_numeric(RNG.normal(size=20_000), "x")
WINDOWS = [f"2026-11-29T10:00:{s:02d}Z" for s in range(0, 60, 5)] + [
    f"2026-11-29T10:01:{s:02d}Z" for s in range(0, 60, 5)
]


def test_display_histograms_are_coarse_shares() -> None:
    engine = NumericDrift(REF).update(RNG.normal(size=500))
    h = histograms(engine)
    assert len(h["bins"]) == len(h["reference"]) == len(h["current"]) <= 14
    assert h["bins"][0].startswith("<") and h["bins"][-1].startswith("≥")
    assert sum(h["reference"]) == pytest.approx(1.0) and sum(h["current"]) == pytest.approx(1.0)
    cat = CategoricalDrift(fit_categorical(["a", "b", "b"], "g")).update(["a", "zz", None])
    h = histograms(cat)
    assert h["bins"] == ["b", "a", "other"] or h["bins"] == ["a", "b", "other"]
    assert sum(h["current"]) == pytest.approx(1.0)  # missing values left out


TRUTH = Truth(
    (Injected("steel", "strip", "sudden_shift", "2026-11-29T10:00:36Z"),),
    (("steel", "bof"),),
)
ROWS = {
    "steel": [
        {"model": "strip", "samples": 900, "drift_detected": True,
         "first_drift_at": "2026-11-29T10:00:40Z", "accuracy": 0.8, "energy_kwh": 0.001,
         "resonance_index": 82.5, "series": {}},
        {"model": "bof", "samples": 900, "drift_detected": False, "first_drift_at": None,
         "accuracy": None, "energy_kwh": 0, "resonance_index": None},
    ]
}  # fmt: skip


def test_summary_json_keeps_the_contract(tmp_path) -> None:
    events = {"telemetry": 1800, "predictions": 1800, "outcomes": 10, "energy": 3}
    alert = {"id": "x", "consortium": "steel", "model": "strip", "model_version": "3",
             "rule": "feature_drift", "severity": "warn", "state": "firing",
             "started_at": "2026-11-29T10:00:40Z", "resolved_at": None, "features": ["t"],
             "acked_by": None, "acked_at": None, "silenced": False}  # fmt: skip
    payload = summary_json(events, TRUTH, ROWS, [alert])
    assert payload["alerts"] == [
        {"consortium": "steel", "model": "strip", "rule": "feature_drift", "severity": "warn",
         "state": "firing", "started_at": "2026-11-29T10:00:40Z"}
    ]  # fmt: skip
    assert payload["events"] == events | {"rejected": 0}
    assert payload["scenario"] == {
        "injected": [{"consortium": "steel", "model": "strip", "kind": "sudden_shift",
                      "start": "2026-11-29T10:00:36Z"}],
        "controls": [{"consortium": "steel", "model": "bof"}],
    }  # fmt: skip
    bof = payload["consortia"]["steel"]["models"]["bof"]
    assert bof == {"samples": 900, "drift_detected": False, "first_drift_at": None,
                   "accuracy": None, "energy_kwh": 0.0, "resonance_index": 0.0}  # fmt: skip
    assert isinstance(bof["energy_kwh"], float) and isinstance(bof["resonance_index"], float)
    path = tmp_path / "out" / "s.json"
    write_summary(path, payload)
    assert json.loads(path.read_text()) == payload


def test_terminal_lines_say_where_to_look() -> None:
    text = terminal_lines(
        65, {"telemetry": 1200}, 480.0, 24, [("steel", "strip", "2026-11-29T10:00:40Z")],
        "http://127.0.0.1:8050",
    )  # fmt: skip
    lines = text.splitlines()
    assert lines[0].startswith("[01:05] 480 events/s") and "telemetry 1,200" in lines[0]
    assert "steel/strip since 10:00:40" in lines[1]
    assert "http://127.0.0.1:8050" in lines[2] and "Ctrl-C" in lines[2]
