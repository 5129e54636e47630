"""Scenario injections do what they say, and nothing else changes."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import Simulator, load_scenario, parse_scenario
from simulator.catalogue import MODELS_BY_NAME
from tests.simulator.conftest import START, rows, run

START_MS = int(START.timestamp() * 1000)
DURATION = 3600.0


def block(injection: dict, model: str, rate: float = 5.0, seed: int = 4):
    """All samples of ``model`` for a scenario with one injection, and the injection start."""
    scenario = parse_scenario({"injections": [{"model": model, **injection}]})
    gen = Simulator(seed, scenario, rate).generator(MODELS_BY_NAME[model], START_MS, DURATION)
    return gen.block(0, gen.n_samples)


def split(blk, feature: str, at_s: float):
    x = blk.features[feature]
    return x[blk.t < at_s], x[blk.t >= at_s]


def test_sudden_shift_moves_the_mean_by_magnitude_std():
    blk = block(
        {"feature": "strip_temp_c", "kind": "sudden_shift", "start": "+20m", "magnitude": 3.0},
        "strip-surface-defect",
    )
    before, after = split(blk, "strip_temp_c", 1200)
    assert after.mean() - before.mean() == pytest.approx(3.0 * 12.0, abs=1.5)
    assert after.std() == pytest.approx(before.std(), rel=0.1)


def test_sudden_shift_in_absolute_units():
    blk = block(
        {
            "feature": "friction_coef",
            "kind": "sudden_shift",
            "start": "50%",
            "magnitude": 0.03,
            "units": "abs",
        },
        "bolt-torque",
    )
    before, after = split(blk, "friction_coef", 1800)
    assert after.mean() - before.mean() == pytest.approx(0.03, abs=0.002)


def test_gradual_drift_ramps_then_holds():
    blk = block(
        {
            "feature": "feed_rate_tph",
            "kind": "gradual_drift",
            "start": "25%",
            "ramp": "50%",
            "magnitude": 2.0,
        },
        "cracker-cot",
    )
    x, t = blk.features["feed_rate_tph"], blk.t
    means = [x[(t >= a) & (t < a + 300)].mean() for a in (0, 1200, 1800, 2400, 3000)]
    assert np.all(np.diff(means[:4]) > 0)
    assert means[4] - means[0] == pytest.approx(2.0 * 2.0, abs=0.5)


def test_variance_change_scales_spread():
    blk = block(
        {"feature": "weld_current_ka", "kind": "variance_change", "start": "50%", "magnitude": 2.5},
        "weld-defect",
    )
    before, after = split(blk, "weld_current_ka", 1800)
    assert after.std() / before.std() == pytest.approx(2.5, rel=0.1)
    assert after.mean() == pytest.approx(before.mean(), abs=0.1)


def test_seasonal_cycle_follows_the_period():
    blk = block(
        {"feature": "cot_c", "kind": "seasonal", "period": "30m", "magnitude": 2.0},
        "ethylene-yield",
    )
    phase = np.sin(2 * np.pi * blk.t / 1800.0)
    slope = np.polyfit(phase, blk.features["cot_c"], 1)[0]
    assert slope == pytest.approx(2.0 * 5.0, rel=0.1)


def test_stuck_sensor_is_constant_after_start():
    blk = block(
        {"feature": "bearing_temp_c", "kind": "stuck_sensor", "start": "+10m"}, "compressor-fault"
    )
    before, after = split(blk, "bearing_temp_c", 600)
    assert len(np.unique(after)) == 1
    assert len(np.unique(before)) > 50


def test_stuck_sensor_with_value_and_end():
    blk = block(
        {
            "feature": "coating",
            "kind": "stuck_sensor",
            "start": "+10m",
            "end": "+20m",
            "value": "GA",
        },
        "weld-defect",
    )
    x, t = blk.features["coating"], blk.t
    assert set(x[(t >= 600) & (t < 1200)]) == {"GA"}
    assert len(set(x[t >= 1200])) == 3


def test_missing_sensor_gives_nulls_only_in_its_window():
    blk = block(
        {
            "feature": "particles_per_m3",
            "kind": "missing_sensor",
            "start": "25%",
            "end": "75%",
            "magnitude": 0.8,
        },
        "panel-mura",
    )
    x, t = blk.features["particles_per_m3"], blk.t
    inside = (t >= 900) & (t < 2700)
    assert not np.isnan(x[~inside]).any()
    assert np.isnan(x[inside]).mean() == pytest.approx(0.8, abs=0.03)


def test_new_category_appears_only_after_start():
    blk = block(
        {
            "feature": "paint_supplier",
            "kind": "new_category",
            "start": "50%",
            "category": "kansai",
            "magnitude": 0.4,
        },
        "paint-defect",
    )
    before, after = split(blk, "paint_supplier", 1800)
    assert "kansai" not in set(before)
    assert (after == "kansai").mean() == pytest.approx(0.4, abs=0.03)


def test_drift_degrades_accuracy_of_the_drifted_model():
    blk = block(
        {"feature": "firebox_temp_c", "kind": "sudden_shift", "start": "50%", "magnitude": 3.0},
        "cracker-cot",
    )
    err = np.abs(blk.prediction.astype(float) - blk.actual.astype(float))
    assert err[blk.t >= 1800].mean() > 2 * err[blk.t < 1800].mean()


def test_sensor_faults_do_not_change_the_truth():
    """A stuck sensor changes what the model sees, not what the process does."""
    clean = Simulator(4, None, 5.0).generator(MODELS_BY_NAME["compressor-fault"], START_MS, 600)
    stuck = block({"feature": "bearing_temp_c", "kind": "stuck_sensor"}, "compressor-fault")
    assert (clean.block(0, clean.n_samples).actual == stuck.actual[: clean.n_samples]).all()


def test_controls_and_untouched_models_are_unchanged(default_run):
    sink, summary = default_run
    plain, _ = run(scenario=None)
    injected = {i["model"] for i in summary.ground_truth["injected"]}
    assert injected == {"strip-surface-defect", "cracker-cot"}
    for model in MODELS_BY_NAME:
        same = rows(sink, "telemetry", model) == rows(plain, "telemetry", model)
        assert same == (model not in injected), model


def test_ground_truth_in_summary(default_run):
    _, summary = default_run
    gt = summary.ground_truth
    assert gt["scenario"] == "default"
    assert {c["model"] for c in gt["controls"]} == set(load_scenario("default").controls)
    sudden = next(i for i in gt["injected"] if i["kind"] == "sudden_shift")
    assert sudden["start"] == "2026-11-01T00:12:00Z"  # 40% of 1800 s
    assert sudden["consortium"] == "steel" and sudden["within_run"]
