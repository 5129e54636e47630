"""CBPE against realised metrics of labels drawn from the calibrated probabilities (sklearn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from processors.calibration import fit_calibration
from processors.cbpe import CBPE, EstimationThresholds, out_of_range_shares
from processors.drift import NumericDrift
from processors.reference import fit_numeric
from tests.processors.test_contract import assert_partials_equal

BINARY = ("ok", "defect")
MULTI = ("a", "b", "c")


def _binary_model(seed: int = 0, n: int = 20000):
    """Raw scores that overstate confidence (true P = s²); calibrated on a reference."""
    rng = np.random.default_rng(seed)
    s = rng.random(n)
    cal = fit_calibration(s, np.where(rng.random(n) < s**2, "defect", "ok"), BINARY)
    return cal, rng


def test_expected_confusion_is_the_sum_of_calibrated_probabilities() -> None:
    cal, rng = _binary_model()
    s = rng.random(3000)
    pred = np.where(rng.random(3000) < 0.5, "defect", "ok")  # predictions not from the score
    r = CBPE(cal).update(pred, s).result()
    p = cal.calibrate(s)
    is_pos = pred == "defect"
    expected = [
        [np.sum(1 - p[~is_pos]), np.sum(1 - p[is_pos])],
        [np.sum(p[~is_pos]), np.sum(p[is_pos])],
    ]
    np.testing.assert_allclose(r["expected_confusion"], expected, rtol=1e-12)
    tp, fp, fn = np.sum(p[is_pos]), np.sum(1 - p[is_pos]), np.sum(p[~is_pos])
    assert r["estimated_precision"] == pytest.approx(tp / (tp + fp))
    assert r["estimated_recall"] == pytest.approx(tp / (tp + fn))
    assert r["estimated_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_estimates_equal_the_mean_realised_metrics_when_calibration_holds() -> None:
    """Labels ~ Bernoulli(calibrated p): estimate = mean of sklearn's realised metric."""
    cal, rng = _binary_model(1)
    s = rng.random(2000)
    r = CBPE(cal).update(None, s).result()
    p = cal.calibrate(s)
    pred = s >= 0.5
    draws = rng.random((400, s.size)) < p
    acc = np.array([metrics.accuracy_score(y, pred) for y in draws])
    auc = np.array([metrics.roc_auc_score(y, s) for y in draws])
    assert r["estimated_accuracy"] == pytest.approx(acc.mean(), abs=0.002)
    assert r["estimated_roc_auc"] == pytest.approx(auc.mean(), abs=0.003)
    # the bands are z = 1.96 standard errors of the window's sampling error
    lo, hi = r["estimated_accuracy_band"]
    assert (hi - lo) / 2 / 1.96 == pytest.approx(acc.std(), rel=0.15)
    lo, hi = r["estimated_roc_auc_band"]
    assert (hi - lo) / 2 / 1.96 == pytest.approx(auc.std(), rel=0.25)
    inside = np.mean(
        (acc >= r["estimated_accuracy_band"][0]) & (acc <= r["estimated_accuracy_band"][1])
    )
    assert 0.9 <= inside <= 0.99


def test_multiclass_estimates_match_the_mean_realised_accuracy_and_auc() -> None:
    rng = np.random.default_rng(2)
    ref = rng.dirichlet([0.7, 0.7, 0.7], 6000)
    cal = fit_calibration(ref, [rng.choice(MULTI, p=row) for row in ref], MULTI)
    s = rng.dirichlet([0.7, 0.7, 0.7], 2000)
    r = CBPE(cal).update(None, {c: s[:, k] for k, c in enumerate(MULTI)}).result()
    p = cal.calibrate(s)
    pred = s.argmax(axis=1)
    np.testing.assert_allclose(
        np.array(r["expected_confusion"]).sum(axis=1), p.sum(axis=0), rtol=1e-9
    )
    cum = p.cumsum(axis=1)
    draws = [(rng.random((s.shape[0], 1)) > cum).sum(axis=1) for _ in range(200)]
    acc = np.mean([np.mean(y == pred) for y in draws])
    auc = np.mean([metrics.roc_auc_score(y, s, multi_class="ovr") for y in draws])
    assert r["estimated_accuracy"] == pytest.approx(acc, abs=0.003)
    assert r["estimated_roc_auc"] == pytest.approx(auc, abs=0.005)


def test_a_days_minute_windows_merge_to_the_days_state() -> None:
    cal, rng = _binary_model(3, 4000)
    minute = rng.integers(0, 1440, 50_000)
    s, pred = rng.random(minute.size), rng.choice(BINARY, minute.size)
    windows = [CBPE(cal).update(pred[minute == m], s[minute == m]) for m in range(1440)]
    day = windows[0]
    for w in windows[1:]:
        day = day.merge(w)
    whole = CBPE(cal).update(pred, s)
    assert_partials_equal(day.to_dict(), whole.to_dict())
    a, b = day.result(), whole.result()
    np.testing.assert_allclose(a.pop("expected_confusion"), b.pop("expected_confusion"))
    for key in ("estimated_accuracy_band", "estimated_roc_auc_band"):
        np.testing.assert_allclose(a.pop(key), b.pop(key))
    assert a.pop("reasons") == b.pop("reasons") == []
    assert a == pytest.approx(b)


def test_guardrails_say_why_an_estimate_is_unreliable() -> None:
    cal, rng = _binary_model(4)
    small = CBPE(cal).update(None, rng.random(50)).result()
    assert not small["reliable"] and small["reasons"] == ["too few samples: 50 < 200"]
    strict = (
        CBPE(cal)
        .update(None, rng.random(500))
        .result(thresholds=EstimationThresholds(max_ece=cal.ece / 2))
    )
    assert strict["reasons"] == [f"poor reference calibration: ECE {cal.ece:.3f} > {cal.ece / 2:g}"]
    ref = fit_numeric(rng.normal(size=5000), "temp")
    drift = NumericDrift(ref).update(rng.normal(2.5, 1, 1000))  # much of it above the ref max
    shares = out_of_range_shares({"temp": drift})
    assert shares["temp"] == pytest.approx(np.mean(drift.counts[[0, -1]].sum() / 1000))
    shifted = CBPE(cal).update(None, rng.random(500)).result(out_of_range=shares)
    assert shifted["reasons"] == [
        f"feature 'temp' outside the reference range: {shares['temp']:.1%}"
    ]
    ok = CBPE(cal).update(None, rng.random(500))
    assert ok.result()["reliable"]
    band = ok.result()["estimated_accuracy_band"]
    late = ok.result(realised_accuracy=band[0] - 0.05)
    assert not late["reliable"] and "concept drift" in late["reasons"][0]


def test_scores_beyond_the_reference_score_range_are_flagged() -> None:
    rng = np.random.default_rng(5)
    s = rng.uniform(0.2, 0.8, 5000)
    cal = fit_calibration(s, (rng.random(5000) < s).astype(int))
    r = CBPE(cal).update(None, rng.uniform(0, 1, 1000)).result()
    assert not r["reliable"] and r["reasons"][0].startswith("scores outside the reference range")


def test_bad_input_raises_and_leaves_the_state_alone() -> None:
    cal, rng = _binary_model(6, 2000)
    engine = CBPE(cal).update(None, rng.random(10))
    before = engine.to_dict()
    with pytest.raises(ValueError, match=r"scores: values outside \[0, 1\]"):
        engine.update(None, [0.2, 1.5])
    with pytest.raises(ValueError, match="y_pred: 'maybe' is not one of"):
        engine.update(["ok", "maybe"], [0.2, 0.5])
    with pytest.raises(ValueError, match="y_pred has 1 rows, scores 2"):
        engine.update(["ok"], [0.2, 0.5])
    assert engine.to_dict() == before
    with pytest.raises(ValueError, match="different calibration"):
        engine.merge(CBPE(_binary_model(7, 2000)[0]))
