"""Accuracy engines against sklearn on random labels and scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from processors.accuracy import DEFAULT_SCORE_BINS, ClassificationAccuracy, RegressionAccuracy

BINARY = ("ok", "defect")


def _binary(seed: int, n: int = 5000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    scores = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    pred = scores >= 0.5
    return np.where(y, "defect", "ok"), np.where(pred, "defect", "ok"), scores


@pytest.mark.parametrize("seed", range(3))
def test_binary_metrics_match_sklearn(seed: int) -> None:
    y, pred, scores = _binary(seed)
    r = ClassificationAccuracy(BINARY).update(y, pred, scores).result()
    kw = {"pos_label": "defect"}
    assert r["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert r["precision"] == pytest.approx(metrics.precision_score(y, pred, **kw))
    assert r["recall"] == pytest.approx(metrics.recall_score(y, pred, **kw))
    assert r["f1"] == pytest.approx(metrics.f1_score(y, pred, **kw))
    assert r["macro_f1"] == pytest.approx(metrics.f1_score(y, pred, average="macro"))
    exact_auc = metrics.roc_auc_score(y == "defect", scores)
    # continuous scores: the binned AUC is within the reported tie bound (½ tied-pair share)
    assert abs(r["roc_auc"] - exact_auc) <= r["roc_auc_tie_bound"] + 1e-12
    assert r["roc_auc_tie_bound"] < 0.01


def test_auc_is_exact_for_scores_at_bin_centres() -> None:
    y, pred, scores = _binary(4)
    b = DEFAULT_SCORE_BINS
    centred = (np.minimum(np.floor(scores * b), b - 1) + 0.5) / b
    r = ClassificationAccuracy(BINARY).update(y, pred, centred).result()
    assert r["roc_auc"] == pytest.approx(metrics.roc_auc_score(y == "defect", centred), abs=1e-12)


def test_ece_matches_a_direct_computation() -> None:
    y, pred, scores = _binary(5)
    r = ClassificationAccuracy(BINARY, score_bins=10).update(y, pred, scores).result()
    idx = np.minimum((scores * 10).astype(int), 9)
    pos = y == "defect"
    ece = sum(
        np.mean(idx == b) * abs(scores[idx == b].mean() - pos[idx == b].mean())
        for b in range(10)
        if np.any(idx == b)
    )
    assert r["ece"] == pytest.approx(ece, rel=1e-9)


def test_multiclass_macro_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    classes = ["scratch", "dent", "ok", "crack"]
    y = rng.choice(classes, 3000, p=[0.2, 0.2, 0.55, 0.05])
    pred = np.where(rng.random(3000) < 0.7, y, rng.choice(classes[:3], 3000))  # never "crack"
    r = ClassificationAccuracy(classes).update(y, pred).result()
    kw = {"labels": classes, "average": "macro", "zero_division": 0}
    assert r["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert r["precision"] == pytest.approx(metrics.precision_score(y, pred, **kw))
    assert r["recall"] == pytest.approx(metrics.recall_score(y, pred, **kw))
    assert r["f1"] == r["macro_f1"] == pytest.approx(metrics.f1_score(y, pred, **kw))
    assert r["roc_auc"] is None and r["ece"] is None


def test_integer_labels_map_through_the_class_names() -> None:
    r = ClassificationAccuracy(["0", "1"]).update(np.array([0, 1, 1]), [0.0, 1.0, 0.0]).result()
    assert r["accuracy"] == pytest.approx(2 / 3)


def test_unknown_labels_and_bad_scores_raise() -> None:
    acc = ClassificationAccuracy(BINARY)
    with pytest.raises(ValueError, match="y_pred: 1 label.*first: 'maybe'"):
        acc.update(["ok"], ["maybe"])
    with pytest.raises(ValueError, match="first: missing"):
        acc.update([None], ["ok"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        acc.update(["ok"], ["ok"], [1.5])
    with pytest.raises(ValueError, match="only defined for binary"):
        ClassificationAccuracy(["a", "b", "c"]).update(["a"], ["a"], [0.5])
    assert acc.count == 0  # failed batches add nothing


def test_nan_scores_are_left_out_of_the_score_histograms() -> None:
    acc = ClassificationAccuracy(BINARY).update(["ok", "defect"], ["ok", "ok"], [np.nan, 0.9])
    r = acc.result()
    assert r["n"] == 2 and r["roc_auc"] is None  # only one scored row, no negative


def test_regression_matches_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.lognormal(3, 0.5, 10_000)
    pred = y * rng.normal(1.02, 0.1, y.size)
    r = RegressionAccuracy().update(y, pred).result()
    assert r["mae"] == pytest.approx(metrics.mean_absolute_error(y, pred), rel=1e-9)
    assert r["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y, pred)), rel=1e-9)
    assert r["mape"] == pytest.approx(metrics.mean_absolute_percentage_error(y, pred), rel=1e-9)
    assert r["bias"] == pytest.approx(np.mean(pred - y), rel=1e-9)
    assert r["n"] == r["mape_n"] == y.size


def test_regression_mape_skips_zero_actuals() -> None:
    r = RegressionAccuracy().update([0.0, 2.0], [1.0, 3.0]).result()
    assert r["mape"] == 0.5 and r["mape_n"] == 1 and r["mae"] == 1.0
    with pytest.raises(ValueError, match="finite"):
        RegressionAccuracy().update([np.nan], [1.0])
