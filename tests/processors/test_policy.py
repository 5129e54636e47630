"""The pure policy: Holm against an independent computation, exact verdicts, sample gates,
lifecycle transitions, configuration overrides and errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from processors.accuracy import ClassificationAccuracy
from processors.alert_lifecycle import advance, alert_id, transition_record
from processors.drift import drift_engine
from processors.policy import Condition, Policy, WindowStats, feature_results, holm
from processors.policy_config import PolicyConfig, PolicyError
from processors.reference import fit_categorical, fit_numeric

RNG = np.random.default_rng(7)
REF_X = fit_numeric(RNG.normal(size=20_000), "x")
REF_Y = fit_numeric(RNG.normal(5, 2, size=20_000), "y")
REF_G = fit_categorical(list(RNG.choice(["a", "b", "c"], 20_000, p=[0.5, 0.3, 0.2])), "g")
RULES = PolicyConfig.from_mapping({}).rules()


def holm_adjusted(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values, the textbook formula: max over j <= k of (m − j + 1)·p_(j)."""
    order = np.argsort(p)
    m = p.size
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


@pytest.mark.parametrize("seed", range(20))
def test_holm_matches_adjusted_pvalues(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=8), rng.uniform(0, 0.01, size=rng.integers(0, 5))])
    for alpha in (0.05, 0.01, 1e-3):
        assert holm(p, alpha).tolist() == (holm_adjusted(p) <= alpha).tolist()


def test_holm_by_hand() -> None:
    # m = 4: thresholds 0.0125, 0.01667, 0.025, 0.05 for the sorted 0.005, 0.01, 0.03, 0.04
    assert holm([0.01, 0.04, 0.03, 0.005], 0.05).tolist() == [True, False, False, True]
    assert holm([0.0124, 0.0166, 0.024, 0.049], 0.05).tolist() == [True] * 4
    # Bonferroni (0.025 each) keeps 0.03; Holm's second step compares it with 0.05
    assert holm([0.03, 0.001], 0.05).tolist() == [True, True]
    assert holm([0.06, 0.001], 0.05).tolist() == [False, True]
    assert holm([], 0.05).tolist() == []


def engine(ref, values):
    return drift_engine(ref).update(values)


def test_two_missing_rows_are_never_flagged() -> None:
    res = feature_results({"x": engine(REF_X, [None, None])}, RULES)
    assert [(r.feature, r.drift, r.n) for r in res] == [("x", None, 2)]


def test_missing_rate_jump_with_enough_rows_is_flagged() -> None:
    values = np.r_[RNG.normal(size=300), np.full(200, np.nan)]
    (res,) = feature_results({"x": engine(REF_X, values)}, RULES)
    assert (res.statistic, res.drift, res.n) == ("missing_rate", True, 500)
    assert res.value == pytest.approx(0.4)
    assert res.p_value == pytest.approx(stats.binom.sf(199, 500, REF_X.missing_rate))


def test_shifted_feature_flagged_others_not() -> None:
    rng = np.random.default_rng(1)
    engines = {
        "x": engine(REF_X, rng.normal(1.0, 1.0, 400)),
        "y": engine(REF_Y, rng.normal(5, 2, 400)),
        "g": engine(REF_G, list(rng.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2]))),
    }
    res = {r.feature: r for r in feature_results(engines, RULES)}
    assert {f: r.drift for f, r in res.items()} == {"g": False, "x": True, "y": False}
    assert res["x"].statistic == "wasserstein" and res["x"].value > 0.8
    assert res["g"].statistic == "js"


def test_controls_stay_quiet_over_many_looks() -> None:
    """500 healthy horizons of 3 features: Holm at 1e-3 plus the effect gate flags none."""
    rng = np.random.default_rng(3)
    flagged = 0
    for _ in range(500):
        engines = {
            "x": engine(REF_X, rng.normal(size=300)),
            "y": engine(REF_Y, rng.normal(5, 2, 300)),
            "g": engine(REF_G, list(rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2]))),
        }
        flagged += any(r.drift for r in feature_results(engines, RULES))
    assert flagged == 0


def window(t: int, x_mean: float, n: int = 100, acc_ok: int | None = None) -> WindowStats:
    rng = np.random.default_rng(t)
    acc = None
    if acc_ok is not None:
        acc = ClassificationAccuracy(("ok", "bad")).update(
            ["ok"] * 100, ["ok"] * acc_ok + ["bad"] * (100 - acc_ok)
        )
    return WindowStats(
        window_start=t * 60_000,
        drift={
            "x": engine(REF_X, rng.normal(x_mean, 1, n)),
            "y": engine(REF_Y, rng.normal(5, 2, n)),
        },
        accuracy=acc,
        volume={"predictions": n, "prediction_errors": 0, "telemetry_samples": n},
    )


def test_evaluate_verdict_and_index() -> None:
    policy = Policy()
    hist = [window(t, 0.0) for t in range(2)] + [window(2, 2.0)]
    v = policy.evaluate("steel", "m", hist)
    # horizon = 3 windows = 300 values; x: 1/3 of them shifted by 2 std
    assert v.drifting == ["x"]
    assert v.drift_share == 0.5
    assert v.data_fit == 0.5
    assert v.model_quality is None  # no labels
    assert v.service_health == 1.0
    # index: weights 0.4 (fit) and 0.2 (health) renormalised: (0.4·0.5 + 0.2·1) / 0.6
    assert v.resonance_index == pytest.approx(100 * 0.4 / 0.6)
    assert v.conditions["feature_drift"] == Condition("critical", 1.0, 1.0)  # 1 of 2 >= 0.5
    assert v.conditions["model_drift"] == Condition("ok", 0.5, 0.6)
    assert v.conditions["accuracy_drop"].level is None
    assert v.conditions["resonance_floor"].level == "ok"


def test_horizon_too_small_is_unknown() -> None:
    v = Policy().evaluate("steel", "m", [window(0, 3.0, n=50)])
    assert v.drift_share is None and v.conditions["feature_drift"].level is None
    assert [f.drift for f in v.features] == [None, None]


def test_accuracy_drop_against_configured_baseline() -> None:
    cfg = PolicyConfig.from_mapping(
        {"consortia": {"steel": {"models": {"m": {"accuracy_drop": {"baseline": 0.97}}}}}}
    )
    policy = Policy(cfg)
    hist = [window(t, 0.0, acc_ok=80) for t in range(3)]
    c = policy.evaluate("steel", "m", hist).conditions["accuracy_drop"]
    assert c.level == "critical" and c.value == pytest.approx(0.17) and c.threshold == 0.15
    # min_labels: one window of 100 labels is below a min of 150
    cfg2 = PolicyConfig.from_mapping(
        {"defaults": {"accuracy_drop": {"baseline": 0.95, "min_labels": 400}}}
    )
    assert Policy(cfg2).evaluate("s", "m", hist).conditions["accuracy_drop"].level is None


def test_lifecycle_for_hysteresis_and_ids() -> None:
    state: dict = {}
    levels = ["ok", "warn", None, "warn", "warn", "ok", "warn", "ok", "ok", "ok", "ok"]
    out = [advance(state, Condition(lv), t * 60_000, 2, 3) for t, lv in enumerate(levels)]
    assert out == [None, None, None, ("firing", "warn"), None, None, None, None, None,
                   ("resolved", "warn"), None]  # fmt: skip
    assert state["last_resolved"]["started_at"] == 60_000  # first window of the run
    assert state["last_resolved"]["resolved_at"] == 7 * 60_000
    rec = transition_record(
        consortium="steel", model="m", model_version="1", rule="feature_drift",
        transition="resolved", episode=state["last_resolved"], window_start=9 * 60_000,
        cond=Condition("ok"), features=[], policy_version="1", emitted_at_ms=0,
    )  # fmt: skip
    assert rec["id"] == alert_id("steel", "m", "1", "feature_drift", "1970-01-01T00:01:00Z")
    assert (rec["state"], rec["seq"], rec["resolved_at"]) == ("resolved", 1, "1970-01-01T00:07:00Z")


def test_config_override_layers_and_errors() -> None:
    assert PolicyConfig.from_mapping({}).rules().feature_drift.for_windows == 1
    cfg = PolicyConfig.from_mapping({
        "version": "v7",
        "defaults": {"feature_drift": {"alpha": 0.01}},
        "consortia": {"steel": {"feature_drift": {"horizon": 5},
                                "models": {"m": {"feature_drift": {"for": 4}}}}},
    })  # fmt: skip
    fd = cfg.rules("steel", "m").feature_drift
    assert (fd.alpha, fd.horizon, fd.for_windows) == (0.01, 5, 4)
    assert cfg.rules("steel", "other").feature_drift.for_windows == 1
    assert cfg.rules("auto", "m").feature_drift.horizon == 3
    assert cfg.show("steel", "m")["version"] == "v7"
    bad = [
        ({"defaults": {"nope": {}}}, "defaults.nope: Extra inputs are not permitted"),
        ({"consortia": {"s": {"models": {"m": {"dlq_rate": {"warn": 2}}}}}},
         "consortia.s.models.m.dlq_rate.warn: Input should be less than or equal to 1"),
        ({"versoin": "1"}, "versoin: Extra inputs are not permitted"),
    ]  # fmt: skip
    for raw, message in bad:
        with pytest.raises(PolicyError) as err:
            PolicyConfig.from_mapping(raw)
        assert str(err.value) == message
