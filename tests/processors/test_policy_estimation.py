"""The estimated_performance_drop rule: fires on the CBPE estimate alone (no labels), only
while the estimate is reliable."""

from __future__ import annotations

import numpy as np
import pytest

from processors.calibration import fit_calibration
from processors.cbpe import CBPE
from processors.drift import NumericDrift
from processors.policy import Policy, WindowStats
from processors.policy_config import PolicyConfig
from processors.reference import fit_numeric

W = 60_000


@pytest.fixture(scope="module")
def cal():
    rng = np.random.default_rng(0)
    s = rng.random(8000)
    return fit_calibration(s, (rng.random(8000) < s).astype(int))


def window(cal, i, scores, drift=None):
    return WindowStats(i * W, drift=drift or {}, estimation=CBPE(cal).update(None, scores))


def confident(rng, n):
    """Scores near 0 or 1: estimated accuracy ~0.9."""
    return np.clip(np.where(rng.random(n) < 0.5, rng.beta(1, 9, n), rng.beta(9, 1, n)), 0, 1)


def decide(policy, history, state):
    return policy.evaluate("steel", "m", history, state).conditions["estimated_performance_drop"]


def test_learns_its_baseline_then_fires_on_the_estimate_alone(cal):
    rng = np.random.default_rng(1)
    policy = Policy()
    state: dict = {}
    history = [window(cal, i, confident(rng, 400)) for i in range(8)]
    levels = [decide(policy, history[: i + 1], state).level for i in range(8)]
    assert levels[:5] == [None] * 5  # learning the baseline from 5 reliable horizons
    assert levels[5:] == ["ok"] * 3
    # the scores drift towards 0.5: less confident, estimated accuracy ~0.6; no labels
    history += [window(cal, 8 + i, rng.uniform(0.3, 0.7, 400)) for i in range(3)]
    c = decide(policy, history, state)
    assert c.level == "critical" and c.threshold == 0.10 and c.value > 0.2
    assert all(w.accuracy is None for w in history)


def test_a_configured_baseline_and_warn_level(cal):
    rng = np.random.default_rng(2)
    cfg = {"defaults": {"estimated_performance_drop": {"baseline": 0.82, "horizon": 1}}}
    policy = Policy(PolicyConfig.from_mapping(cfg))
    history = [window(cal, 0, rng.random(4000))]  # uniform scores: estimated accuracy 0.75
    c = decide(policy, history, {})
    assert c.level == "warn" and c.threshold == 0.05
    assert c.value == pytest.approx(0.82 - history[0].estimation.result()["estimated_accuracy"])


def test_unreliable_estimates_never_fire(cal):
    rng = np.random.default_rng(3)
    cfg = {"defaults": {"estimated_performance_drop": {"baseline": 0.99, "horizon": 1}}}
    policy = Policy(PolicyConfig.from_mapping(cfg))
    few = [window(cal, 0, rng.uniform(0.3, 0.7, 50))]
    assert decide(policy, few, {}).level is None  # 50 < 200 predictions
    ref = fit_numeric(rng.normal(size=5000), "x")
    shifted = {"x": NumericDrift(ref).update(rng.normal(5, 1, 400))}  # outside the reference
    out = [window(cal, 0, rng.uniform(0.3, 0.7, 400), drift=shifted)]
    assert decide(policy, out, {}).level is None
    inside = {"x": NumericDrift(ref).update(rng.normal(size=400))}
    assert decide(policy, [window(cal, 0, rng.uniform(0.3, 0.7, 400), inside)], {}).level == (
        "critical"
    )


def test_a_model_without_a_calibration_cannot_tell():
    c = decide(Policy(), [WindowStats(0)], {})
    assert c.level is None


def test_the_registered_accuracy_is_the_baseline_from_the_first_window(cal):
    rng = np.random.default_rng(4)
    entry = {"consortium": "steel", "model": "m", "model_version": "1",
             "target_kind": "binary", "baselines": {"accuracy": 0.9}}  # fmt: skip
    policy = Policy(registry=[entry])
    rules, sources = policy.explain("steel", "m")
    assert rules.estimated_performance_drop.baseline == 0.9
    assert sources["estimated_performance_drop.baseline"] == "registry:1"
    c = decide(policy, [window(cal, 0, rng.random(4000))], {})  # estimate ~0.75, no learning
    assert c.level == "critical" and c.value == pytest.approx(0.15, abs=0.02)
