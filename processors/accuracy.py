"""Accuracy engines: confusion counts and error sums, merged as outcomes arrive.

Late ground truth only adds counts, never rewrites them (docs/design.md, principle 1).
Exact definitions: README.md ("Metric definitions").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from processors.base import (
    as_float,
    as_labels,
    check_mergeable,
    encode,
    float_list,
    int_list,
    ratio,
)
from processors.labels import canonical_label

DEFAULT_SCORE_BINS = 100
"""Equal-width score bins on [0, 1] for binary ROC AUC and calibration error."""


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise num / den with 0 where den == 0 (sklearn's zero_division=0)."""
    out: np.ndarray = np.divide(num, den, out=np.zeros(num.shape), where=den > 0)
    return out


def roc_auc_binned(neg: np.ndarray, pos: np.ndarray) -> tuple[float | None, float | None]:
    """ROC AUC from score histograms by label, scores within one bin counted as ties.

    Returns (auc, tie_bound): the exact AUC of the raw scores lies within
    ``tie_bound`` = ½ Σ_b neg_b·pos_b / (N·P) of ``auc``.

    >>> roc_auc_binned(np.array([3, 1, 0]), np.array([0, 1, 3]))
    (0.96875, 0.03125)
    """
    n_neg, n_pos = int(neg.sum()), int(pos.sum())
    if n_neg == 0 or n_pos == 0:
        return None, None
    pos_above = np.cumsum(pos[::-1])[::-1] - pos  # positives in strictly higher bins
    ties = float(np.sum(neg * pos.astype(np.float64)))
    wins = float(np.sum(neg * pos_above.astype(np.float64)))
    pairs = float(n_neg) * float(n_pos)
    return (wins + ties / 2) / pairs, ties / 2 / pairs


class ClassificationAccuracy:
    """Confusion matrix (rows = true, columns = predicted) over ``classes``.

    Labels are compared as strings (integral floats as ints, see
    :func:`processors.base.as_labels`); a label outside ``classes`` or a missing
    label raises ValueError. Binary (two classes): positive = ``classes[1]`` and
    ``scores`` are P(positive) in [0, 1]; NaN scores are left out of the score
    histograms only.

    >>> acc = ClassificationAccuracy(["ok", "defect"])
    >>> r = acc.update(["ok", "defect", "defect", "ok"], ["ok", "defect", "ok", "ok"],
    ...                [0.1, 0.9, 0.4, 0.3]).result()
    >>> r["accuracy"], r["recall"], r["roc_auc"]
    (0.75, 0.5, 1.0)
    """

    kind = "classification"

    def __init__(self, classes: Sequence[str], score_bins: int = DEFAULT_SCORE_BINS):
        # one label rule (processors.labels): classes [True, False] match labels "True"/"false"
        self.classes = tuple(canonical_label(c) or str(c) for c in classes)
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be >= 2 distinct labels, got {list(classes)}")
        if score_bins < 1:
            raise ValueError(f"score_bins must be >= 1, got {score_bins}")
        self.score_bins = int(score_bins)
        k = len(self.classes)
        self.confusion = np.zeros((k, k), dtype=np.int64)
        # Score histograms exist only for binary models; multiclass keeps them empty (0 rows).
        rows = 2 if k == 2 else 0
        self.score_counts = np.zeros((rows, score_bins), dtype=np.int64)
        self.score_sums = np.zeros(score_bins if k == 2 else 0, dtype=np.float64)

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def _codes(self, labels: Any, name: str) -> np.ndarray:
        text, missing = as_labels(labels, name)
        codes = encode(text, missing, self.classes)
        bad = codes >= len(self.classes)
        if bad.any():
            first = "missing" if missing[bad][0] else repr(str(text[bad][0]))
            raise ValueError(
                f"{name}: {int(bad.sum())} label(s) not in classes {list(self.classes)} "
                f"(first: {first})"
            )
        return codes

    def update(self, y_true: Any, y_pred: Any, scores: Any = None) -> Self:
        """Add a batch of (true, predicted[, score]) rows."""
        t, p = self._codes(y_true, "y_true"), self._codes(y_pred, "y_pred")
        if t.size != p.size:
            raise ValueError(f"y_true has {t.size} rows, y_pred {p.size}")
        score_update = None if scores is None else self._score_bins(t, as_float(scores, "scores"))
        k = len(self.classes)  # everything validated: now mutate
        self.confusion += np.bincount(t * k + p, minlength=k * k).reshape(k, k)
        if score_update is not None:
            self.score_counts += score_update[0]
            self.score_sums += score_update[1]
        return self

    def _score_bins(self, t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-label score counts and per-bin score sums of one batch (NaN scores skipped)."""
        if not self.binary:
            raise ValueError("scores are only defined for binary classifiers")
        if s.size != t.size:
            raise ValueError(f"scores has {s.size} rows, y_true {t.size}")
        keep = ~np.isnan(s)
        t, s = t[keep], s[keep]
        if ((s < 0) | (s > 1)).any():
            raise ValueError("scores must be probabilities within [0, 1]")
        b = self.score_bins
        idx = np.minimum((s * b).astype(np.int64), b - 1)
        counts = np.bincount(t * b + idx, minlength=2 * b).reshape(2, b)
        return counts, np.bincount(idx, weights=s, minlength=b)

    def merge(self, other: Self) -> Self:
        check_mergeable(self, other, "classes", "score_bins")
        out = type(self)(self.classes, self.score_bins)
        out.confusion = self.confusion + other.confusion
        if self.binary:
            out.score_counts = self.score_counts + other.score_counts
            out.score_sums = self.score_sums + other.score_sums
        return out

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"confusion": [int_list(row) for row in self.confusion]}
        if self.binary:
            d["score_counts"] = [int_list(row) for row in self.score_counts]
            d["score_sums"] = float_list(self.score_sums)
        return d

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], *, classes: Sequence[str], score_bins: int = DEFAULT_SCORE_BINS
    ) -> Self:
        out = cls(classes, score_bins)
        confusion = np.asarray(d["confusion"], dtype=np.int64)
        if confusion.shape != out.confusion.shape:
            raise ValueError(f"confusion is {confusion.shape}, classes need {out.confusion.shape}")
        out.confusion = confusion
        if out.binary and d.get("score_counts"):  # absent or [] = no scores seen
            out.score_counts = np.asarray(d["score_counts"], dtype=np.int64).reshape(2, score_bins)
            out.score_sums = np.asarray(d["score_sums"], dtype=np.float64).reshape(score_bins)
        return out

    def _calibration(self) -> dict[str, float | None]:
        if not self.binary:
            return {"roc_auc": None, "roc_auc_tie_bound": None, "ece": None}
        neg, pos = self.score_counts
        auc, bound = roc_auc_binned(neg, pos)
        per_bin = neg + pos
        total = int(per_bin.sum())
        ece = None
        if total:
            gap = np.abs(self.score_sums - pos) / total  # |mean score − positive rate|·n_b/N
            ece = float(gap.sum())
        return {"roc_auc": auc, "roc_auc_tie_bound": bound, "ece": ece}

    def result(self) -> dict[str, Any]:
        """accuracy, precision, recall, f1, macro_f1, roc_auc, ece, n (None when undefined)."""
        cm = self.confusion.astype(np.float64)
        n = self.count
        if n == 0:
            keys = ("accuracy", "precision", "recall", "f1", "macro_f1")
            return dict.fromkeys(keys) | self._calibration() | {"n": 0}
        tp, pred, true = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
        precision, recall = _safe_div(tp, pred), _safe_div(tp, true)
        f1 = _safe_div(2 * precision * recall, precision + recall)

        def pick(a: np.ndarray) -> float:  # binary: the positive class; else the macro mean
            return float(a[1]) if self.binary else float(a.mean())

        return {
            "accuracy": ratio(tp.sum(), n),
            "precision": pick(precision),
            "recall": pick(recall),
            "f1": pick(f1),
            "macro_f1": float(f1.mean()),
            **self._calibration(),
            "n": n,
        }


class RegressionAccuracy:
    """Error sums: n, Σe, Σ|e|, Σe², Σ|e|/|y| over y ≠ 0 and that count (e = pred − actual).

    >>> r = RegressionAccuracy().update([1.0, 2.0, 4.0], [1.5, 2.0, 3.0]).result()
    >>> r["mae"], r["bias"], round(r["mape"], 4)
    (0.5, -0.1666..., 0.25)
    """

    kind = "regression"
    _fields = ("n", "sum_error", "sum_abs_error", "sum_sq_error", "sum_ape", "n_nonzero")

    def __init__(self) -> None:
        self.n = 0
        self.n_nonzero = 0
        self.sum_error = self.sum_abs_error = self.sum_sq_error = self.sum_ape = 0.0

    def update(self, y_true: Any, y_pred: Any) -> Self:
        """Add a batch; non-finite values raise ValueError."""
        y, p = as_float(y_true, "y_true"), as_float(y_pred, "y_pred")
        if y.size != p.size:
            raise ValueError(f"y_true has {y.size} rows, y_pred {p.size}")
        if not (np.isfinite(y).all() and np.isfinite(p).all()):
            raise ValueError("y_true and y_pred must be finite numbers")
        e = p - y
        nz = y != 0
        self.n += int(y.size)
        self.n_nonzero += int(nz.sum())
        self.sum_error += float(e.sum())
        self.sum_abs_error += float(np.abs(e).sum())
        self.sum_sq_error += float((e * e).sum())
        self.sum_ape += float(np.sum(np.abs(e[nz]) / np.abs(y[nz])))
        return self

    def merge(self, other: Self) -> Self:
        check_mergeable(self, other)
        return type(self).from_dict({k: getattr(self, k) + getattr(other, k) for k in self._fields})

    @property
    def count(self) -> int:
        return self.n

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._fields}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        out = cls()
        for k in cls._fields:
            setattr(out, k, int(d[k]) if k.startswith("n") else float(d[k]))
        return out

    def result(self) -> dict[str, Any]:
        """mae, rmse, mape (a fraction, over y ≠ 0), bias (mean pred − actual), n, mape_n."""
        mse = ratio(self.sum_sq_error, self.n)
        return {
            "mae": ratio(self.sum_abs_error, self.n),
            "rmse": None if mse is None else mse**0.5,
            "mape": ratio(self.sum_ape, self.n_nonzero),
            "bias": ratio(self.sum_error, self.n),
            "n": self.n,
            "mape_n": self.n_nonzero,
        }
