"""Calibration against sklearn's IsotonicRegression and calibration_curve; registration errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression

from processors.calibration import Calibration, ece, fit_calibration, isotonic_fit


def _overconfident(seed: int, n: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.random(n)
    return s, (rng.random(n) < s**2).astype(int)


@pytest.mark.parametrize("seed", range(3))
def test_isotonic_predictions_equal_sklearn(seed: int) -> None:
    s, y = _overconfident(seed, 3000)
    s = np.round(s, 3)  # repeated scores: pooled before PAV, as sklearn does
    x, v = isotonic_fit(s, y)
    ref = IsotonicRegression(out_of_bounds="clip").fit(s, y)
    grid = np.r_[-0.1, np.linspace(0, 1, 2001), 1.1]
    np.testing.assert_allclose(np.interp(grid, x, v), ref.predict(grid), atol=1e-12)
    cal = fit_calibration(s, y)
    np.testing.assert_allclose(cal.calibrate(grid.clip(0, 1)), ref.predict(grid.clip(0, 1)))


@pytest.mark.parametrize("seed", range(3))
def test_ece_equals_the_calibration_curve_of_sklearn(seed: int) -> None:
    s, y = _overconfident(seed)
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
    counts = np.histogram(s, bins=np.linspace(0, 1, 11))[0]
    counts = counts[counts > 0]
    expected = float(np.sum(counts / s.size * np.abs(prob_true - prob_pred)))
    assert ece(s, y) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("method", ["isotonic", "histogram"])
def test_calibration_fixes_an_overconfident_model(method: str) -> None:
    s, y = _overconfident(0, 20000)
    cal = fit_calibration(s, y, method=method)
    assert cal.ece_raw == pytest.approx(ece(s, y))
    assert cal.ece_raw > 0.15 and cal.ece < 0.015  # cross-fitted on held-out halves
    s2, y2 = _overconfident(1, 20000)  # fresh data from the same model
    assert ece(cal.calibrate(s2), y2) < 0.015
    assert cal.n == 20000 and sum(cal.class_counts) == 20000


def test_histogram_bins_map_to_their_positive_rate() -> None:
    s, y = _overconfident(2, 1000)
    cal = fit_calibration(s, y, method="histogram", bins=4)
    edges = np.quantile(s, [0.25, 0.5, 0.75])
    idx = np.searchsorted(edges, s, side="right")
    rates = [y[idx == b].mean() for b in range(4)]
    np.testing.assert_allclose(cal.calibrate(np.array([0.0, 0.3, 0.6, 1.0])), rates)


def test_round_trips_through_json() -> None:
    s, y = _overconfident(3, 2000)
    for method in ("isotonic", "histogram"):
        cal = fit_calibration(s, np.where(y, "defect", "ok"), ["ok", "defect"], method=method)
        again = Calibration.from_dict(json.loads(json.dumps(cal.to_dict(), allow_nan=False)))
        assert again == cal
        np.testing.assert_array_equal(again.calibrate(s), cal.calibrate(s))


def test_multiclass_calibrates_one_vs_rest_and_renormalises() -> None:
    rng = np.random.default_rng(4)
    n, classes = 6000, ["a", "b", "c"]
    logits = rng.normal(size=(n, 3)) * 2
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    raw = p**2 / (p**2).sum(axis=1, keepdims=True)  # overconfident scores
    cal = fit_calibration(
        {c: raw[:, k] for k, c in enumerate(classes)}, np.take(classes, y), classes
    )
    out = cal.calibrate(raw)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert cal.ece < cal.ece_raw / 2
    assert len(cal.maps) == 3


@pytest.mark.parametrize(
    ("scores", "labels", "classes", "match"),
    [
        ([0.1, 0.9], [None, None], None, "labels: the reference has no labels"),
        ([0.1, 1.2], [0, 1], None, r"scores: values outside \[0, 1\]"),
        ([-0.1, 0.5], [0, 1], None, r"scores: values outside \[0, 1\]"),
        ([0.1, np.nan], [0, 1], None, "scores: missing"),
        ([0.1, 0.2], ["ok", "defect"], None, "classes: give the class list"),
        ([0.1, 0.2], ["ok", "bad"], ["ok", "defect"], "labels: 'bad' is not one of"),
        ([0.1, 0.2], [0, 1], None, "class '0' has 1 reference rows"),
        ([0.1, 0.2, 0.3], [0, 1], None, "scores has 3 rows, labels 2"),
    ],
)
def test_bad_references_raise_one_clear_error(scores, labels, classes, match) -> None:
    with pytest.raises(ValueError, match=match):
        fit_calibration(np.asarray(scores, float), np.asarray(labels, dtype=object), classes)


def test_rows_without_labels_are_left_out() -> None:
    s, y = _overconfident(5, 1000)
    labels = y.astype(object)
    labels[::2] = None
    cal = fit_calibration(s, labels)
    assert cal.n == 500
    assert cal == fit_calibration(s[1::2], y[1::2])
