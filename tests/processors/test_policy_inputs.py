"""Registry inputs into the policy: the accuracy baseline, importances, the latency SLO and
the energy baseline fill the rules, with the documented precedence and exact outcomes."""

from __future__ import annotations

import numpy as np
import pytest

from processors.accuracy import ClassificationAccuracy
from processors.drift import drift_engine
from processors.energy import EnergyMeter
from processors.latency import LatencyHistogram
from processors.policy import Condition, Policy, WindowStats
from processors.policy_config import PolicyConfig
from processors.policy_inputs import RegistryInputs, effective_rules
from processors.reference import fit_categorical, fit_numeric

RNG = np.random.default_rng(11)
REFS = {
    "x": fit_numeric(RNG.normal(size=20_000), "x"),
    "y": fit_numeric(RNG.normal(5, 2, size=20_000), "y"),
    "g": fit_categorical(list(RNG.choice(["a", "b"], 20_000, p=[0.7, 0.3])), "g"),
}
STEEL = {"latency_p95": {"slo_ms": 250}, "accuracy_drop": {"baseline": 0.9}}
CFG = PolicyConfig.from_mapping({
    "defaults": {"latency_p95": {"slo_ms": 400}},
    "consortia": {"steel": STEEL | {"models": {"pinned": {"latency_p95": {"slo_ms": 80}}}}},
})  # fmt: skip
ENTRY = {"consortium": "steel", "model": "strip", "model_version": "3", "target_kind": "binary",
         "baselines": {"accuracy": 0.93, "joules_per_inference": 2.0},
         "importances": {"x": 0.7, "y": 0.2, "g": 0.1}, "slo_p95_ms": 50.0}  # fmt: skip


def test_precedence_default_file_registry_model_override() -> None:
    reg = RegistryInputs.of(ENTRY)
    rules, src = effective_rules(CFG, "steel", "strip", reg)
    assert rules.latency_p95.slo_ms == 50.0 and src["latency_p95.slo_ms"] == "registry:3"
    assert rules.accuracy_drop.baseline == 0.93 and src["accuracy_drop.baseline"] == "registry:3"
    assert rules.model_drift.importance == {"x": 0.7, "y": 0.2, "g": 0.1}
    assert rules.energy_per_inference.baseline == 2.0
    assert src["feature_drift.alpha"] == "default"
    # the per-model key of the policy file wins over the registry
    rules, src = effective_rules(CFG, "steel", "pinned", reg)
    assert rules.latency_p95.slo_ms == 80.0
    assert src["latency_p95.slo_ms"] == "policy:consortia.steel.models.pinned"
    assert rules.accuracy_drop.baseline == 0.93  # the consortium's 0.9 is below the registry
    # without a registry entry: the file's layers
    rules, src = effective_rules(CFG, "steel", "strip")
    assert rules.latency_p95.slo_ms == 250.0
    assert src["latency_p95.slo_ms"] == "policy:consortia.steel"
    rules, src = effective_rules(CFG, "auto", "strip")
    assert (rules.latency_p95.slo_ms, src["latency_p95.slo_ms"]) == (400.0, "policy:defaults")


def test_regressor_baseline_and_invalid_registry_value() -> None:
    reg = RegistryInputs(model_version="1", target_kind="regressor", baselines={"mape": 0.08})
    rules, src = effective_rules(CFG, "auto", "m", reg)
    assert rules.accuracy_drop.baseline == pytest.approx(0.92)
    bad = RegistryInputs(model_version="2", target_kind="binary", baselines={"accuracy": 1.3})
    rules, src = effective_rules(CFG, "auto", "m", bad)
    assert rules.accuracy_drop.baseline is None
    assert src["accuracy_drop.baseline"].startswith("default (registry value 1.3 ignored")


def window(t: int, shift: float, *, n: int = 200, correct: int = 80) -> WindowStats:
    rng = np.random.default_rng(t)
    acc = ClassificationAccuracy(("ok", "bad")).update(
        ["ok"] * 100, ["ok"] * correct + ["bad"] * (100 - correct)
    )
    lat = LatencyHistogram().update(np.r_[np.full(90, 20.0), np.full(10, 120.0)])
    return WindowStats(
        window_start=t * 60_000,
        drift={
            "x": drift_engine(REFS["x"]).update(rng.normal(shift, 1, n)),
            "y": drift_engine(REFS["y"]).update(rng.normal(5, 2, n)),
            "g": drift_engine(REFS["g"]).update(list(rng.choice(["a", "b"], n, p=[0.7, 0.3]))),
        },
        accuracy=acc,
        latency=lat,
        energy=EnergyMeter().update([320.0], [100], [60.0]),
        volume={"predictions": 100, "prediction_errors": 0, "telemetry_samples": n},
    )


def test_registry_values_change_the_verdicts() -> None:
    hist = [window(t, 1.5) for t in range(3)]
    plain = Policy(CFG).evaluate("auto", "strip", hist)
    # no registry: one drifting feature of three (share 1/3 < 0.6), no accuracy baseline
    # yet (learned from the first 5 horizons), latency against the default SLO 400 ms,
    # energy without 5 baseline windows
    assert plain.drifting == ["x"] and plain.drift_share == pytest.approx(1 / 3)
    assert plain.conditions["model_drift"] == Condition("ok", pytest.approx(1 / 3), 0.6)
    assert plain.conditions["accuracy_drop"].level is None
    assert plain.conditions["latency_p95"].level == "ok"
    assert plain.conditions["energy_per_inference"].level is None

    reg = dict(ENTRY, consortium="auto")
    got = Policy(CFG, [reg]).evaluate("auto", "strip", hist, version="3")
    # importances: x weighs 0.7 of 1.0, so the model verdict is a warn
    assert got.drift_share == pytest.approx(0.7)
    assert got.conditions["model_drift"] == Condition("warn", pytest.approx(0.7), 0.6)
    # the reference accuracy 0.93 against 0.80 over the horizon: drop 0.13 (warn > 0.05)
    assert got.conditions["accuracy_drop"] == Condition("warn", pytest.approx(0.13), 0.05)
    assert got.model_quality == pytest.approx(0.80 / 0.93)
    # SLO 50 ms: p95 of 90 × 20 ms and 10 × 120 ms is 120 ms (the histogram's estimate)
    lat = got.conditions["latency_p95"]
    assert lat.level == "critical" and lat.threshold == 75.0
    assert lat.value == pytest.approx(120.0, rel=0.05)
    # energy: 3.2 J per inference against the registered 2.0 J: ratio 1.6 (warn > 1.5)
    assert got.conditions["energy_per_inference"] == Condition("warn", 3.2, 3.0)
